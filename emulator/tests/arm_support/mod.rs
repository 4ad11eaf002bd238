//! Shared helpers of the ARM and data-plane HTTP tests: a richer world and a small ARM client.
#![allow(dead_code)]

use crate::common::*;
use keyless_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::Value;

pub const OAI_SCOPE: &str = "https://cognitiveservices.azure.com/.default";
pub const READER_APP: &str = "66666666-6666-6666-6666-666666666661";
pub const READER_OID: &str = "66666666-6666-6666-6666-666666666662";
pub const VMC_APP: &str = "77777777-7777-7777-7777-777777777771";
pub const VMC_OID: &str = "77777777-7777-7777-7777-777777777772";
pub const ALICE: &str = "aaaaaaaa-0000-0000-0000-000000000001";
pub const BOB: &str = "aaaaaaaa-0000-0000-0000-000000000002";
pub const TEAM: &str = "99999999-0000-0000-0000-000000000001";
pub const READER_ROLE: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
pub const OPENAI_USER: &str = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd";

pub const ARM_WORLD: &str = r#"
tenant: { id: 72f988bf-86f1-41af-91ab-2d7cd011db47, domain: contoso.onmicrosoft.com }
subscriptions: [ { id: 00000000-0000-0000-0000-000000000001, name: Dev } ]
caller: keyless-pipeline
users:
  - { upn: alice@contoso.com, id: aaaaaaaa-0000-0000-0000-000000000001 }
  - { upn: bob@contoso.com, id: aaaaaaaa-0000-0000-0000-000000000002 }
groups:
  - { name: team, id: 99999999-0000-0000-0000-000000000001, members: [ "user:alice@contoso.com", "app:keyless-pipeline" ] }
applications:
  - { name: keyless-pipeline, appId: 11111111-1111-1111-1111-111111111111, objectId: 22222222-2222-2222-2222-222222222222, secrets: [ "s3cret" ] }
  - { name: reader-app, appId: 66666666-6666-6666-6666-666666666661, objectId: 66666666-6666-6666-6666-666666666662, secrets: [ "r" ] }
  - { name: vm-contrib, appId: 77777777-7777-7777-7777-777777777771, objectId: 77777777-7777-7777-7777-777777777772, secrets: [ "v" ] }
resourceGroups: [ { name: rg-ci, location: eastus }, { name: rg-conf, location: eastus } ]
vms:
  - { name: build-agent-01, resourceGroup: rg-ci, location: eastus, userAssignedIdentities: [ { name: uami-ci, resourceGroup: rg-ci } ] }
  - { name: build-agent-02, resourceGroup: rg-ci, location: eastus, userAssignedIdentities: [ { name: uami-2, resourceGroup: rg-ci } ] }
  - { name: runner-01, resourceGroup: rg-ci, location: eastus, systemAssigned: true }
  - { name: fresh-01, resourceGroup: rg-ci, location: eastus }
  - { name: win-01, resourceGroup: rg-ci, location: eastus, os: Windows }
accounts:
  - name: oai-conf
    resourceGroup: rg-conf
    location: eastus
    customSubdomain: keyless-conf
    disableLocalAuth: true
    deployments:
      - { name: chat, model: { name: gpt-4o-mini, version: "2024-07-18" }, sku: { name: GlobalStandard, capacity: 10 } }
      - { name: instruct, model: { name: gpt-35-turbo-instruct, version: "0914" }, sku: { name: Standard, capacity: 10 } }
  - name: oai-keys
    resourceGroup: rg-conf
    location: eastus
    customSubdomain: keyless-keys
    disableLocalAuth: false
    deployments:
      - { name: small, model: { name: gpt-4o-mini, version: "2024-07-18" }, sku: { name: Standard, capacity: 1 } }
deletedAccounts: [ { name: oai-gone, resourceGroup: rg-conf, location: eastus, customSubdomain: keyless-gone } ]
takenSubdomains: [ contoso-prod ]
roleAssignments:
  - { scope: "/subscriptions/00000000-0000-0000-0000-000000000001", role: Owner, principal: "app:keyless-pipeline", principalType: ServicePrincipal }
  - { scope: "/subscriptions/00000000-0000-0000-0000-000000000001", role: Reader, principal: "app:reader-app" }
  - { scope: "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ci", role: "Virtual Machine Contributor", principal: "app:vm-contrib" }
  - { scope: "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-conf/providers/Microsoft.CognitiveServices/accounts/oai-conf", role: "Cognitive Services OpenAI User", principal: "app:keyless-pipeline" }
  - { scope: "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ci", role: Reader, principal: "group:team", description: "team read" }
"#;

/// An emulator on the ARM world with fast long-running operations.
pub async fn start_arm() -> RunningEmulator {
    let world = keyless_emulator::world::World::parse(ARM_WORLD, "arm-world.yaml").expect("world");
    let emu = start_cfg(EmulatorConfig::new(world)).await;
    emu.ctx().state.lock().arm.settings.provisioning_seconds = 0.3;
    emu
}

/// A response: status, JSON body (Null when empty), headers.
pub struct R {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl R {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
    pub fn header(&self, n: &str) -> String {
        self.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
}

/// Sends a request with a bearer token; `path` may carry its own query.
pub async fn send(
    emu: &RunningEmulator,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> R {
    let url = if path.starts_with("https://") {
        path.to_string()
    } else {
        format!("{}{}", emu.base_url(), path)
    };
    let mut rb = client(emu).request(method.parse().expect("method"), url);
    if !token.is_empty() {
        rb = rb.bearer_auth(token);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.expect("send");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    R {
        status,
        body,
        headers,
    }
}

pub async fn owner(emu: &RunningEmulator) -> String {
    token(emu, ARM_SCOPE).await
}

pub fn rg_path(rg: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}")
}

pub fn account_path(rg: &str, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.CognitiveServices/accounts/{name}",
        rg_path(rg)
    )
}

pub fn vm_path(name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Compute/virtualMachines/{name}",
        rg_path("rg-ci")
    )
}

pub fn uami_id(name: &str) -> String {
    format!(
        "{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
        rg_path("rg-ci")
    )
}

/// Polls an Azure-AsyncOperation URL until a terminal status (bounded).
pub async fn wait_async(emu: &RunningEmulator, token: &str, url: &str) -> Value {
    for _ in 0..100 {
        let r = send(emu, token, "GET", url, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let s = r.body["status"].as_str().unwrap_or("").to_string();
        if s != "InProgress" {
            return r.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("operation did not finish");
}

/// The data plane's api-version the tests use.
pub const DATA_API: &str = "api-version=2024-10-21";

/// The chat-completions URL of deployment `dep` on custom subdomain `sub`.
pub fn chat_url(emu: &RunningEmulator, sub: &str, dep: &str) -> String {
    format!(
        "{}/aoai/{sub}/openai/deployments/{dep}/chat/completions?{DATA_API}",
        emu.base_url()
    )
}

/// A one-message chat body capped at `max` tokens.
pub fn ping(max: u64) -> Value {
    serde_json::json!({"messages": [{"role": "user", "content": "ping"}], "max_tokens": max})
}

/// POSTs `body` to a data-plane `url` with one authentication header (`auth` = name, value).
pub async fn post(emu: &RunningEmulator, url: &str, auth: (&str, &str), body: Value) -> R {
    let r = client(emu)
        .post(url)
        .header(auth.0, auth.1)
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(Value::Null);
    R {
        status,
        body,
        headers,
    }
}

/// `ping(1)` to the chat deployment `dep` of subdomain `sub`.
pub async fn chat(emu: &RunningEmulator, sub: &str, dep: &str, auth: (&str, &str)) -> R {
    post(emu, &chat_url(emu, sub, dep), auth, ping(1)).await
}

/// `(key1, key2)` of an account in rg-conf, listed as the caller app (Owner).
pub async fn list_keys(emu: &RunningEmulator, account: &str) -> (String, String) {
    let r = send(
        emu,
        &owner(emu).await,
        "POST",
        &format!(
            "{}/listKeys?api-version=2024-10-01",
            account_path("rg-conf", account)
        ),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "listKeys {account}: {}", r.body);
    let key = |k: &str| r.body[k].as_str().expect("key").to_string();
    (key("key1"), key("key2"))
}

/// A GET with a bearer token (`path` may carry its own query).
pub async fn get(emu: &RunningEmulator, token: &str, path: &str) -> R {
    send(emu, token, "GET", path, None).await
}

/// A PUT of `{"location": "eastus"}` (a resource group or identity) with a bearer token.
pub async fn put_location(emu: &RunningEmulator, token: &str, path: &str) -> R {
    send(
        emu,
        token,
        "PUT",
        path,
        Some(serde_json::json!({"location": "eastus"})),
    )
    .await
}
