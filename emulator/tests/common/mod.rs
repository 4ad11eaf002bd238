//! Shared helpers for the emulator's integration tests: start an emulator on port 0 and talk to
//! it over real HTTPS with reqwest, trusting only the emulator's CA.
#![allow(dead_code)]

use keyless_emulator::world::World;
use keyless_emulator::{Emulator, EmulatorConfig, RunningEmulator};

/// The test world: one tenant, one subscription, the caller app (Owner), a reader app without
/// Graph permissions, a federated app, a user, nested groups.
pub const WORLD: &str = r#"
tenant: { id: 72f988bf-86f1-41af-91ab-2d7cd011db47, domain: contoso.onmicrosoft.com }
subscriptions: [ { id: 00000000-0000-0000-0000-000000000001, name: Dev } ]
caller: keyless-pipeline
users:
  - { upn: alice@contoso.com, id: aaaaaaaa-0000-0000-0000-000000000001, displayName: Alice }
  - { upn: bob@contoso.com, id: aaaaaaaa-0000-0000-0000-000000000002, displayName: Bob }
groups:
  - { name: team-alpha-devs, id: 99999999-0000-0000-0000-000000000001, members: [ "user:alice@contoso.com", "app:keyless-pipeline" ] }
  - { name: all-devs, id: 99999999-0000-0000-0000-000000000002, members: [ "group:team-alpha-devs" ] }
applications:
  - name: keyless-pipeline
    appId: 11111111-1111-1111-1111-111111111111
    objectId: 22222222-2222-2222-2222-222222222222
    secrets: [ "s3cret" ]
    federatedCredentials:
      - { issuer: "https://token.actions.githubusercontent.com", subject: "repo:org/r:ref:refs/heads/main", audience: "api://AzureADTokenExchange" }
  - name: no-graph-app
    appId: 33333333-3333-3333-3333-333333333333
    objectId: 44444444-4444-4444-4444-444444444444
    secrets: [ "other" ]
    graphRoles: []
resourceGroups: [ { name: rg-ci, location: eastus } ]
"#;

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const SUB: &str = "00000000-0000-0000-0000-000000000001";
pub const APP: &str = "11111111-1111-1111-1111-111111111111";
pub const APP_OID: &str = "22222222-2222-2222-2222-222222222222";
pub const SECRET: &str = "s3cret";

pub fn world() -> World {
    World::parse(WORLD, "test-world.yaml").expect("test world parses")
}

pub fn world_with(extra: &str) -> World {
    World::parse(&format!("{WORLD}{extra}"), "test-world.yaml").expect("test world parses")
}

pub async fn start() -> RunningEmulator {
    start_cfg(EmulatorConfig::new(world())).await
}

pub async fn start_cfg(cfg: EmulatorConfig) -> RunningEmulator {
    Emulator::start(cfg).await.expect("emulator starts")
}

pub fn client(emu: &RunningEmulator) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).expect("CA PEM");
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Client-credentials token for `scope` with the caller app's secret.
pub async fn token(emu: &RunningEmulator, scope: &str) -> String {
    token_for(emu, APP, SECRET, scope).await
}

pub async fn token_for(emu: &RunningEmulator, app: &str, secret: &str, scope: &str) -> String {
    let r = client(emu)
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app),
            ("client_secret", secret),
            ("scope", scope),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status(), 200, "token request failed");
    let v: serde_json::Value = r.json().await.expect("json");
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// `GET /_emulator/health` (no auth; never faulted or throttled).
pub async fn health(emu: &RunningEmulator) -> reqwest::Response {
    client(emu)
        .get(format!("{}/_emulator/health", emu.base_url()))
        .send()
        .await
        .expect("health")
}

/// GETs `url` without auth and parses the JSON body (admin views).
pub async fn get_json(c: &reqwest::Client, url: impl reqwest::IntoUrl) -> serde_json::Value {
    c.get(url)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json body")
}

/// Whether the emulator's directory holds service principal `oid` (replicated or not).
pub fn has_service_principal(emu: &RunningEmulator, oid: &str) -> bool {
    emu.ctx()
        .state
        .lock()
        .directory
        .service_principal(oid)
        .is_some()
}
