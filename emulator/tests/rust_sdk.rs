//! The official Rust SDK (`azure_identity` 0.21, as keyless uses it) against the emulator,
//! configured (authority host, an HTTP client trusting the emulator's CA) but not modified.

mod common;

use azure_core::auth::TokenCredential;
use azure_core::HttpClient;
use azure_identity::{
    AppServiceManagedIdentityCredential, ClientSecretCredential, WorkloadIdentityCredential,
};
use base64::Engine;
use common::*;
use keyless_emulator::services::msi::vm_child_env;
use std::sync::Arc;

fn http(emu: &keyless_emulator::RunningEmulator) -> Arc<dyn HttpClient> {
    Arc::new(client(emu))
}

fn oid_of(token: &str) -> String {
    let p = token.split('.').nth(1).expect("payload");
    let v: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .expect("b64"),
    )
    .expect("json");
    v["oid"].as_str().expect("oid").to_string()
}

#[tokio::test]
async fn client_secret_credential() {
    let emu = start().await;
    let authority = azure_core::Url::parse(emu.base_url()).unwrap();
    let cred = ClientSecretCredential::new(
        http(&emu),
        authority.clone(),
        TENANT.into(),
        APP.into(),
        SECRET.into(),
    );
    let t = cred.get_token(&[ARM_SCOPE]).await.expect("token");
    assert_eq!(oid_of(t.token.secret()), APP_OID);
    let wrong = ClientSecretCredential::new(
        http(&emu),
        authority,
        TENANT.into(),
        APP.into(),
        "nope".into(),
    );
    let e = wrong
        .get_token(&[ARM_SCOPE])
        .await
        .expect_err("wrong secret");
    assert!(
        format!("{e:?}").contains("7000215") || format!("{e:?}").contains("invalid_client"),
        "{e:?}"
    );
}

#[tokio::test]
async fn workload_identity_credential() {
    let emu = start().await;
    let now = keyless_emulator::ctx::now_wall() as i64;
    let e = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
    };
    let assertion = format!(
        "{}.{}.c2ln",
        e(serde_json::json!({"alg": "RS256", "typ": "JWT"})),
        e(
            serde_json::json!({"iss": "https://token.actions.githubusercontent.com", "sub": "repo:org/r:ref:refs/heads/main", "aud": "api://AzureADTokenExchange", "nbf": now - 5, "exp": now + 600})
        )
    );
    let cred = WorkloadIdentityCredential::new(
        http(&emu),
        azure_core::Url::parse(emu.base_url()).unwrap(),
        TENANT.into(),
        APP.into(),
        assertion,
    );
    let t = cred
        .get_token(&["https://cognitiveservices.azure.com/.default"])
        .await
        .expect("token");
    assert_eq!(oid_of(t.token.secret()), APP_OID);
}

#[tokio::test]
async fn app_service_style_managed_identity() {
    let emu = start().await;
    let vm = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ci/providers/Microsoft.Compute/virtualMachines/sdk-vm";
    let now = emu.ctx().now();
    let (pid, _) = emu
        .ctx()
        .state
        .lock()
        .directory
        .create_managed_identity("sdk-vm", vm, now, 0.0);
    let env: std::collections::HashMap<String, String> =
        vm_child_env(emu.ctx(), vm, &[]).into_iter().collect();
    // As in a Run Command child: the SDK reads IDENTITY_ENDPOINT/IDENTITY_HEADER from the
    // process environment (only this test in this binary touches them).
    std::env::set_var("IDENTITY_ENDPOINT", &env["IDENTITY_ENDPOINT"]);
    std::env::set_var("IDENTITY_HEADER", &env["IDENTITY_HEADER"]);
    let cred = AppServiceManagedIdentityCredential::create(http(&emu)).expect("credential");
    let t = cred.get_token(&[ARM_SCOPE]).await.expect("token");
    assert_eq!(oid_of(t.token.secret()), pid);
    assert!(t.expires_on > time::OffsetDateTime::now_utc());
}
