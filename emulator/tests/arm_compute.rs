//! Compute over HTTPS: VM get, identity PATCH semantics, linked authorization, Run Command.

mod arm_support;
mod common;

use arm_support::*;
use common::*;
use serde_json::json;

const V: &str = "api-version=2024-07-01";

fn uamis(body: &serde_json::Value) -> Vec<String> {
    body["identity"]["userAssignedIdentities"]
        .as_object()
        .map(|m| m.keys().map(|k| k.to_ascii_lowercase()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn identity_patch_semantics() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    let p1 = format!("{}?{V}", vm_path("build-agent-01"));
    let r = get(&emu, &tok, &p1).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["identity"]["type"], "UserAssigned");
    assert_eq!(
        uamis(&r.body),
        vec![uami_id("uami-ci").to_ascii_lowercase()]
    );
    let v = r.body["identity"]["userAssignedIdentities"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert!(v["principalId"].is_string() && v["clientId"].is_string());
    // GET-modify-PATCH keeps them
    let mut ident = r.body["identity"].clone();
    ident["type"] = json!("SystemAssigned, UserAssigned");
    let r = send(&emu, &tok, "PATCH", &p1, Some(json!({"identity": ident}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["properties"]["provisioningState"], "Updating");
    assert_eq!(r.body["identity"]["type"], "SystemAssigned, UserAssigned");
    let pid = r.body["identity"]["principalId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(r.body["identity"]["tenantId"], TENANT);
    assert_eq!(uamis(&r.body).len(), 1);
    let done = wait_async(&emu, &tok, &r.header("azure-asyncoperation")).await;
    assert_eq!(done["status"], "Succeeded");
    assert_eq!(
        get(&emu, &tok, &p1).await.body["properties"]["provisioningState"],
        "Succeeded"
    );
    assert!(emu
        .ctx()
        .state
        .lock()
        .directory
        .lookup(&pid, emu.ctx().now())
        .is_some());
    // the trap: plain SystemAssigned drops the user-assigned identity
    let p2 = format!("{}?{V}", vm_path("build-agent-02"));
    let r = send(
        &emu,
        &tok,
        "PATCH",
        &p2,
        Some(json!({"identity": {"type": "SystemAssigned"}})),
    )
    .await;
    assert_eq!(r.body["identity"]["type"], "SystemAssigned");
    assert!(uamis(&r.body).is_empty());
    // null drops one; None drops all and deletes the service principal
    let r = send(&emu, &tok, "PATCH", &p1, Some(json!({"identity": {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {uami_id("uami-ci"): null, uami_id("uami-2"): {}}}}))).await;
    assert_eq!(uamis(&r.body), vec![uami_id("uami-2").to_ascii_lowercase()]);
    let r = send(
        &emu,
        &tok,
        "PATCH",
        &p1,
        Some(json!({"identity": {"type": "None"}})),
    )
    .await;
    assert!(r.body.get("identity").is_none(), "{}", r.body);
    assert!(!has_service_principal(&emu, &pid));
    let r = send(
        &emu,
        &tok,
        "PATCH",
        &p1,
        Some(json!({"identity": {"type": "Bogus"}})),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = get(&emu, &tok, &format!("{}?{V}", vm_path("nope"))).await;
    assert_eq!((r.status, r.code()), (404, "ResourceNotFound"));
}

#[tokio::test]
async fn attaching_a_user_assigned_identity_needs_assign_action() {
    let emu = start_arm().await;
    let vmc = token_for(&emu, VMC_APP, "v", ARM_SCOPE).await;
    let p = format!("{}?{V}", vm_path("fresh-01"));
    // enabling the system identity only needs virtualMachines/write
    let r = send(
        &emu,
        &vmc,
        "PATCH",
        &p,
        Some(json!({"identity": {"type": "SystemAssigned"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(&emu, &vmc, "PATCH", &p, Some(json!({"identity": {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {uami_id("uami-ci"): {}}}}))).await;
    assert_eq!((r.status, r.code()), (403, "LinkedAuthorizationFailed"));
    assert!(
        r.message()
            .contains(&format!("on the linked scope(s) '{}'", uami_id("uami-ci"))),
        "{}",
        r.message()
    );
}

async fn run(
    emu: &keyless_emulator::RunningEmulator,
    tok: &str,
    vm: &str,
    body: serde_json::Value,
) -> R {
    send(
        emu,
        tok,
        "POST",
        &format!("{}/runCommand?{V}", vm_path(vm)),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn run_command_really_runs_one_at_a_time() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    std::env::set_var("KEYLESS_ARM_TEST_SECRET", "must-not-leak");
    let r = run(&emu, &tok, "runner-01", json!({"commandId": "RunShellScript", "script": [
        "echo \"marker-$((6*7)) $GREETING\"", "echo to-stderr >&2", "echo \"leak=${KEYLESS_ARM_TEST_SECRET:-none}\"", "sleep 0.5", "exit 3"],
        "parameters": [{"name": "GREETING", "value": "hello"}]})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let aso = r.header("azure-asyncoperation");
    let loc = r.header("location");
    assert!(
        loc.contains("monitor=true")
            && aso.contains("/providers/Microsoft.Compute/locations/eastus/operations/"),
        "{loc} {aso}"
    );
    let again = run(
        &emu,
        &tok,
        "runner-01",
        json!({"commandId": "RunShellScript", "script": ["true"]}),
    )
    .await;
    assert_eq!((again.status, again.code()), (409, "Conflict"));
    assert_eq!(again.message(), "Run command extension execution is in progress. Please wait for completion before invoking a run command.");
    assert_eq!(get(&emu, &tok, &loc).await.status, 202);
    let done = wait_async(&emu, &tok, &aso).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    let status = &done["properties"]["output"]["value"][0];
    assert_eq!(status["code"], "ProvisioningState/succeeded");
    let msg = status["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Enable succeeded: \n[stdout]\nmarker-42 hello\n"),
        "{msg}"
    );
    assert!(msg.contains("leak=none"), "{msg}");
    assert!(msg.ends_with("\n[stderr]\nto-stderr\n"), "{msg}");
    let r = get(&emu, &tok, &loc).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["value"][0]["message"], msg);
    // free again
    let r = run(&emu, &tok, "runner-01", json!({"commandId": "RunShellScript", "script": ["head -c 5000 /dev/zero | tr '\\0' a; echo END"]})).await;
    assert_eq!(r.status, 202);
    let done = wait_async(&emu, &tok, &r.header("azure-asyncoperation")).await;
    let msg = done["properties"]["output"]["value"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    let stdout = msg
        .split("\n[stdout]\n")
        .nth(1)
        .unwrap()
        .split("\n[stderr]\n")
        .next()
        .unwrap();
    assert_eq!(stdout.len(), 4096);
    assert!(stdout.ends_with("END\n"));
}

#[tokio::test]
async fn run_command_errors() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    let r = run(
        &emu,
        &tok,
        "runner-01",
        json!({"commandId": "RunPowerShellScript", "script": ["Write-Output hi"]}),
    )
    .await;
    assert_eq!(
        r.message(),
        "The entity was not found in this Azure location."
    );
    let reader = token_for(&emu, READER_APP, "r", ARM_SCOPE).await;
    let r = run(
        &emu,
        &reader,
        "runner-01",
        json!({"commandId": "RunShellScript", "script": ["true"]}),
    )
    .await;
    assert_eq!((r.status, r.code()), (403, "AuthorizationFailed"));
    assert!(r
        .message()
        .contains("'Microsoft.Compute/virtualMachines/runCommand/action'"));
    // Windows VMs answer with two component statuses
    let r = run(
        &emu,
        &tok,
        "win-01",
        json!({"commandId": "RunPowerShellScript", "script": ["Write-Output hi"]}),
    )
    .await;
    assert_eq!(r.status, 202);
    let done = wait_async(&emu, &tok, &r.header("azure-asyncoperation")).await;
    assert_eq!(
        done["properties"]["output"]["value"][1]["code"],
        "ComponentStatus/StdErr/succeeded"
    );
}

#[tokio::test]
async fn run_command_time_limit() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    emu.ctx().state.lock().arm.settings.run_command_timeout = 0.3;
    let r = run(
        &emu,
        &tok,
        "runner-01",
        json!({"commandId": "RunShellScript", "script": ["sleep 10"]}),
    )
    .await;
    let done = wait_async(&emu, &tok, &r.header("azure-asyncoperation")).await;
    assert_eq!(done["status"], "Failed", "{done}");
    assert!(done["error"]["code"].is_string());
}
