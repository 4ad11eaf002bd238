//! Foundation: the emulator starts on a free port, serves HTTPS with its own CA, routes, and stops.

mod common;

use common::*;

#[tokio::test]
async fn serves_https_with_its_ca_and_stops() {
    let emu = start().await;
    assert!(emu.base_url().starts_with("https://127.0.0.1:"));
    assert!(emu.ca_pem_path().exists());
    let r = client(&emu)
        .get(format!("{}/_emulator/health", emu.base_url()))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), 200);
    // A client that does not trust the CA must fail the handshake.
    let untrusting = reqwest::Client::builder().build().expect("client");
    assert!(untrusting
        .get(format!("{}/_emulator/health", emu.base_url()))
        .send()
        .await
        .is_err());
    let url = emu.base_url().to_string();
    let c = client(&emu);
    emu.shutdown().await;
    assert!(c
        .get(format!("{url}/_emulator/health"))
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn unknown_route_is_plain_404() {
    let emu = start().await;
    let r = client(&emu)
        .get(format!("{}/nothing/here", emu.base_url()))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn client_env_names_everything() {
    let emu = start().await;
    let env: std::collections::HashMap<_, _> = emu.client_env().into_iter().collect();
    assert_eq!(env["AZURE_AUTHORITY_HOST"], emu.base_url());
    assert_eq!(env["AZURE_TENANT_ID"], TENANT);
    assert_eq!(env["AZURE_CLIENT_ID"], APP);
    assert_eq!(env["AZURE_CLIENT_SECRET"], SECRET);
    assert_eq!(env["AZURE_SUBSCRIPTION_ID"], SUB);
    assert_eq!(
        env["SSL_CERT_FILE"],
        emu.ca_pem_path().display().to_string()
    );
}
