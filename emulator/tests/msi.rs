//! Managed identity endpoints (App Service and IMDS styles) as a VM child process sees them.

mod common;

use base64::Engine;
use common::*;
use keyless_emulator::services::msi::vm_child_env;
use serde_json::Value;
use std::collections::HashMap;

const VM: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ci/providers/Microsoft.Compute/virtualMachines/vm1";
const VM2: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ci/providers/Microsoft.Compute/virtualMachines/vm2";
const UAMI1: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ci/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-1";
const UAMI2: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ci/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-2";

fn claims_of(token: &str) -> Value {
    let p = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .expect("b64"),
    )
    .expect("json")
}

struct Ids {
    system: (String, String),
    u1: (String, String),
    u2: (String, String),
}

fn make_identities(emu: &keyless_emulator::RunningEmulator) -> Ids {
    let now = emu.ctx().now();
    let mut st = emu.ctx().state.lock();
    let d = &mut st.directory;
    Ids {
        system: d.create_managed_identity("vm1", VM, now, 0.0),
        u1: d.create_managed_identity("uami-1", UAMI1, now, 0.0),
        u2: d.create_managed_identity("uami-2", UAMI2, now, 0.0),
    }
}

async fn get(
    emu: &keyless_emulator::RunningEmulator,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut rb = client(emu).get(url);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.expect("send");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn imds_style_token_and_errors() {
    let emu = start().await;
    let ids = make_identities(&emu);
    let env: HashMap<String, String> = vm_child_env(emu.ctx(), VM, std::slice::from_ref(&ids.u1.0))
        .into_iter()
        .collect();
    for k in [
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "IMDS_ENDPOINT",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        "SSL_CERT_FILE",
        "CURL_CA_BUNDLE",
        "REQUESTS_CA_BUNDLE",
        "PATH",
        "HOME",
    ] {
        assert!(env.contains_key(k), "missing {k}");
    }
    assert!(env["IDENTITY_HEADER"].len() >= 32);
    let url = format!(
        "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/",
        env["IMDS_ENDPOINT"]
    );
    // Missing Metadata header → 400 bad_request_102 (what SDK probes rely on).
    let (s, b) = get(&emu, &url, &[]).await;
    assert_eq!(s, 400);
    assert_eq!(b["error"], "bad_request_102");
    assert_eq!(
        b["error_description"],
        "Required metadata header not specified"
    );
    // System-assigned by default when present.
    let (s, b) = get(&emu, &url, &[("Metadata", "true")]).await;
    assert_eq!(s, 200, "{b}");
    assert!(b["expires_in"].is_string(), "{b}");
    assert!(b["expires_on"].is_string(), "{b}");
    assert_eq!(b["resource"], "https://management.azure.com/");
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["client_id"], ids.system.1);
    let c = claims_of(b["access_token"].as_str().unwrap());
    assert_eq!(c["oid"], ids.system.0);
    assert_eq!(c["appid"], ids.system.1);
    assert_eq!(c["aud"], "https://management.azure.com/");
    assert_eq!(c["xms_mirid"], VM);
    assert_eq!(c["idtyp"], "app");
    // Selectors pick the user-assigned one.
    for sel in [
        format!("client_id={}", ids.u1.1),
        format!("object_id={}", ids.u1.0),
        format!("principal_id={}", ids.u1.0),
        format!("msi_res_id={UAMI1}"),
        format!("mi_res_id={UAMI1}"),
    ] {
        let (s, b) = get(&emu, &format!("{url}&{sel}"), &[("Metadata", "true")]).await;
        assert_eq!(s, 200, "{sel}: {b}");
        assert_eq!(b["client_id"], ids.u1.1, "{sel}");
    }
    // An identity not attached to this VM → Identity not found.
    let (s, b) = get(
        &emu,
        &format!("{url}&client_id={}", ids.u2.1),
        &[("Metadata", "true")],
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(b["error"], "invalid_request");
    assert_eq!(b["error_description"], "Identity not found");
    // Unknown resource.
    let (s, b) = get(
        &emu,
        &url.replace("https://management.azure.com/", "https://vault.example"),
        &[("Metadata", "true")],
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(b["error"], "invalid_resource");
    // A wrong secret is not a VM.
    let (s, _) = get(
        &emu,
        &url.replace(&env["IDENTITY_HEADER"], "not-a-secret"),
        &[("Metadata", "true")],
    )
    .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn app_service_style_and_selection_rules() {
    let emu = start().await;
    let ids = make_identities(&emu);
    // vm2 has two user-assigned identities and no system-assigned one.
    let env: HashMap<String, String> =
        vm_child_env(emu.ctx(), VM2, &[ids.u1.0.clone(), ids.u2.0.clone()])
            .into_iter()
            .collect();
    let url = format!(
        "{}?api-version=2019-08-01&resource=https://cognitiveservices.azure.com",
        env["IDENTITY_ENDPOINT"]
    );
    let secret = env["IDENTITY_HEADER"].clone();
    let (s, b) = get(&emu, &url, &[("X-IDENTITY-HEADER", &secret)]).await;
    assert_eq!(s, 400, "several identities and no selector: {b}");
    assert_eq!(b["error"], "invalid_request");
    let (s, b) = get(
        &emu,
        &format!("{url}&client_id={}", ids.u2.1),
        &[("X-IDENTITY-HEADER", &secret)],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["expires_on"].is_string());
    assert_eq!(b["resource"], "https://cognitiveservices.azure.com");
    let c = claims_of(b["access_token"].as_str().unwrap());
    assert_eq!(c["oid"], ids.u2.0);
    assert_eq!(c["aud"], "https://cognitiveservices.azure.com");
    // Missing header → 401.
    let (s, _) = get(&emu, &url, &[]).await;
    assert_eq!(s, 401);
    // Two selectors at once → 400.
    let (s, _) = get(
        &emu,
        &format!("{url}&client_id={}&object_id={}", ids.u2.1, ids.u2.0),
        &[("X-IDENTITY-HEADER", &secret)],
    )
    .await;
    assert_eq!(s, 400);
    // The same VM keeps its secret; detaching identities leaves none → Identity not found.
    let env2: HashMap<String, String> = vm_child_env(emu.ctx(), VM2, &[]).into_iter().collect();
    assert_eq!(env2["IDENTITY_HEADER"], secret);
    let (s, b) = get(&emu, &url, &[("X-IDENTITY-HEADER", &secret)]).await;
    assert_eq!(s, 400);
    assert_eq!(b["error_description"], "Identity not found");
}

#[tokio::test]
async fn deleted_identity_is_not_found_and_secrets_differ_per_vm() {
    let emu = start().await;
    let ids = make_identities(&emu);
    let e1: HashMap<String, String> = vm_child_env(emu.ctx(), VM, &[]).into_iter().collect();
    let e2: HashMap<String, String> = vm_child_env(emu.ctx(), VM2, &[]).into_iter().collect();
    assert_ne!(e1["IDENTITY_HEADER"], e2["IDENTITY_HEADER"]);
    let url = format!(
        "{}?api-version=2019-08-01&resource=https://management.azure.com/",
        e1["IDENTITY_ENDPOINT"]
    );
    let (s, _) = get(&emu, &url, &[("X-IDENTITY-HEADER", &e1["IDENTITY_HEADER"])]).await;
    assert_eq!(s, 200);
    emu.ctx()
        .state
        .lock()
        .directory
        .delete_service_principal(&ids.system.0);
    let (s, b) = get(&emu, &url, &[("X-IDENTITY-HEADER", &e1["IDENTITY_HEADER"])]).await;
    assert_eq!(s, 400);
    assert_eq!(b["error_description"], "Identity not found");
}
