//! End-to-end: verification (issue 4) — probes as keyless itself and as VMs through Run Command
//! (which the emulator really executes with bash and curl), propagation, deployment errors,
//! timeouts, 429 storms, and never leaking a token.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const RG: &str = "rg-e2e";
const ACCOUNT: &str = "oai-e2e";

/// RG + account + `chat` deployment, VM identities for `vms` and `OpenAI User` on the account
/// for `principals`; the caller sets `verify`.
fn manifest(vms: &[&str], principals: &[Principal]) -> ManifestBuilder {
    ManifestBuilder::new("e2e")
        .resource_group(RG)
        .with_account(
            Account::new(ACCOUNT, RG, "keyless-e2e-verify").deployment(Deployment::chat()),
        )
        .ci_vm_identities(vms)
        .grant(principals)
}

/// [`manifest`] verifying with the `chat` deployment within `timeout`.
fn verify_chat(vms: &[&str], principals: &[Principal], timeout: &str) -> ManifestBuilder {
    manifest(vms, principals)
        .verify_deployment("chat")
        .verify_timeout(timeout)
}

/// A default world where `manifest` was applied with `--no-verify` (successfully), so that a
/// test can change something before `keyless verify`; the emulator and the manifest's path.
async fn applied_without_verifying(manifest: ManifestBuilder) -> (Env, PathBuf) {
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest.write(&env.dir, "m.yaml");
    env.keyless(&["apply", s(&m), "--no-verify"])
        .await
        .expect_code(0);
    (env, m)
}

/// The outputs of every Run Command the emulator executed (their `result` documents).
fn run_command_outputs(state: &Value) -> Vec<String> {
    state["arm"]["operations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|o| o["kind"] == "RunCommand")
        .map(|o| o["result"].to_string())
        .collect()
}

/// (`key`, state) of every `probe` event: `key` is `principal` or `account`.
fn probes_by(run: &Run, key: &str) -> Vec<(String, String)> {
    run.events("probe")
        .iter()
        .map(|p| {
            (
                p[key].as_str().unwrap_or("").to_string(),
                p["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// (principal, state) of every `probe` event.
fn probe_states(run: &Run) -> Vec<(String, String)> {
    probes_by(run, "principal")
}

/// Exactly one principal was probed, and it ended `state`.
fn assert_one_probe(run: &Run, state: &str) {
    let probes = probe_states(run);
    assert_eq!(probes.len(), 1, "{}", run.dump());
    assert_eq!(probes[0].1, state, "{}", run.dump());
}

// ----------------------------------------------------------------------------------- 11

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_verifies_self_and_two_vms_promptly() {
    assert!(
        std::process::Command::new("sh")
            .args(["-c", "command -v curl && command -v bash"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false),
        "VM probes need bash and curl on this machine (apt-get install -y curl)"
    );
    let env = Env::with(&WorldOpts {
        propagation: "3s..6s",
        replication: "1s",
        ..Default::default()
    })
    .await;
    let m = verify_chat(
        &[VM1, VM2],
        &[Principal::Me, Principal::Vm(VM1), Principal::Vm(VM2)],
        "90s",
    )
    .write(&env.dir, "m.yaml");
    let run = env.keyless(&["apply", s(&m)]).await;
    run.expect_code(0);

    let probes = probe_states(&run);
    assert_eq!(probes.len(), 3, "one probe per principal\n{}", run.dump());
    for (p, st) in &probes {
        assert_eq!(st, "verified", "{p} ended {st}\n{}", run.dump());
    }
    let verified = run.events("verified");
    assert_eq!(verified.len(), 1, "{}", run.dump());
    let rows = verified[0]["report"]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rows.len(), 3, "{}", run.dump());
    assert!(
        rows.iter().all(|r| r["result"] == "verified"),
        "{}",
        run.dump()
    );

    // The run ends soon after the last principal's access became effective.
    let state = env.state().await;
    let effective: Vec<f64> = state["arm"]["roleAssignments"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|a| {
            a["description"]
                .as_str()
                .unwrap_or("")
                .contains("keyless:manifest=e2e")
        })
        .filter_map(|a| a["effectiveAt"].as_f64())
        .collect();
    assert_eq!(effective.len(), 3, "{state}");
    let last = effective.iter().cloned().fold(f64::MIN, f64::max);
    let lag = run.exited_at - last;
    eprintln!("exit lag after the last assignment became effective: {lag:.2}s");
    assert!(
        lag >= 0.0,
        "keyless claimed access before it was effective ({lag:.1}s)"
    );
    // A behaviour bound, not a performance figure (that is measured by `cargo bench --bench
    // scale -- verify-50`, docs/performance.md): keyless stops as soon as access works instead
    // of sleeping out a fixed propagation wait or its 90 s timeout. Generous, because this runs
    // beside other test binaries on a 2-core CI machine.
    assert!(
        lag <= 15.0,
        "keyless exited {lag:.1}s after the last assignment became effective (limit 15 s)\n{}",
        run.dump()
    );

    // Two Run Commands ran, printed results, and no token.
    let outs = run_command_outputs(&state);
    assert_eq!(outs.len(), 2, "{outs:#?}");
    for o in &outs {
        assert!(o.contains("KEYLESS_RESULT verified"), "{o}");
        assert!(!o.contains("eyJ"), "a Run Command printed a token: {o}");
    }
}

// ----------------------------------------------------------------------------------- 12

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_deployment_fails_fast() {
    let (env, m) = applied_without_verifying(verify_chat(&[], &[Principal::Me], "60s")).await;

    // Delete the deployment by hand and wait until ARM no longer has it.
    let dep = format!(
        "{}?api-version=2024-10-01",
        deployment_id(RG, ACCOUNT, "chat")
    );
    let (st, v) = env.arm("DELETE", &dep, None).await;
    assert!(matches!(st, 200 | 202 | 204), "delete deployment: {st} {v}");
    let gone = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if env.get_deployment(RG, ACCOUNT, "chat").await.0 == 404 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "the deployment never went away");

    let run = env.keyless(&["verify", s(&m)]).await;
    run.expect_code(3);
    assert!(
        run.all_output().contains("DeploymentNotFound"),
        "{}",
        run.dump()
    );
    run.expect_faster_than(
        Duration::from_secs(20),
        "a missing deployment must fail fast, not wait out the 60 s timeout",
    );
    assert_one_probe(&run, "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_verify_deployment_probes_only_accounts_that_have_it() {
    // docs: "Set: every account having a deployment of this name is probed with it."
    let env = Env::with(&WorldOpts::default()).await;
    let chat = Deployment::chat().capacity(1);
    let m = ManifestBuilder::new("e2e")
        .resource_group(RG)
        .with_account(Account::new("oai-a", RG, "keyless-e2e-a").deployment(chat.clone()))
        .with_account(Account::new("oai-b", RG, "keyless-e2e-b").deployment(chat.named("other")))
        .assign(OPENAI_USER_ROLE, Scope::Account("oai-a"), &[Principal::Me])
        .assign(OPENAI_USER_ROLE, Scope::Account("oai-b"), &[Principal::Me])
        .verify_deployment("chat")
        .verify_timeout("60s")
        .write(&env.dir, "m.yaml");
    let run = env.keyless(&["apply", s(&m)]).await;
    run.expect_code(0);
    assert_eq!(
        probes_by(&run, "account"),
        vec![("oai-a".to_string(), "verified".to_string())],
        "only oai-a has `chat`\n{}",
        run.dump()
    );
}

// ----------------------------------------------------------------------------------- 13

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_effective_assignment_times_out_clearly() {
    let env = Env::with(&WorldOpts {
        propagation: "3600s",
        ..Default::default()
    })
    .await;
    let m = manifest(&[], &[Principal::Me])
        .verify_timeout("5s")
        .write(&env.dir, "m.yaml");
    let run = env.keyless(&["apply", s(&m)]).await;
    run.expect_code(3);
    let out = run.all_output();
    assert!(out.contains("VerificationTimeout"), "{}", run.dump());
    assert!(
        out.contains("did not start working within"),
        "a clear timeout message\n{}",
        run.dump()
    );
    run.expect_faster_than(Duration::from_secs(40), "bounded by the 5 s timeout");
    assert_one_probe(&run, "failed");
}

// ----------------------------------------------------------------------------------- 14

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_storm_during_probing_is_waited_out() {
    let (env, m) = applied_without_verifying(verify_chat(&[], &[Principal::Me], "60s")).await;

    // The next 6 data-plane calls get 429 with Retry-After: 1.
    env.put_faults(json!({
        "dataPlane": true,
        "rules": [ { "path": "^/aoai/", "status": 429, "count": 6, "retryAfter": 1 } ]
    }))
    .await;
    let run = env.keyless(&["verify", s(&m)]).await;
    run.expect_code(0);
    assert_one_probe(&run, "verified");
    assert!(
        run.events("probeState")
            .iter()
            .any(|e| e["state"] == "throttled"),
        "the probe saw the 429s\n{}",
        run.dump()
    );
    let c = env.emu.counters();
    let throttled: u64 = c
        .by_route_method_status
        .iter()
        .filter(|(k, _)| k.starts_with("dataplane ") && k.ends_with(" 429"))
        .map(|(_, n)| *n)
        .sum();
    assert_eq!(throttled, 6, "{c:?}");
}

// ----------------------------------------------------------------------------------- 15

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_probe_output_never_contains_a_token() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = verify_chat(&[VM2], &[Principal::Vm(VM2)], "60s").write(&env.dir, "m.yaml");
    let run = env.keyless(&["apply", s(&m)]).await;
    run.expect_code(0);
    assert_one_probe(&run, "verified");

    let state = env.state().await;
    let outs = run_command_outputs(&state);
    assert_eq!(outs.len(), 1, "{state}");
    assert!(outs[0].contains("KEYLESS_RESULT verified"), "{}", outs[0]);
    assert!(
        !outs[0].contains("eyJ"),
        "Run Command output holds a token: {}",
        outs[0]
    );
    assert!(!outs[0].contains("access_token"), "{}", outs[0]);
}

/// VM2's identity is set up, verifying with `chat` within `timeout`; then someone starts a `sleep {seconds}`
/// Run Command on VM2 and `keyless verify` runs while it holds the VM (Azure allows one at a
/// time, answering 409 Conflict). Returns the emulator and the verify run.
async fn verify_behind_someones_run_command(timeout: &str, seconds: u32) -> (Env, Run) {
    let (env, m) =
        applied_without_verifying(verify_chat(&[VM2], &[Principal::Vm(VM2)], timeout)).await;
    let (status, v) = env
        .arm(
            "POST",
            &format!("{}/runCommand?api-version=2024-07-01", vm_id(RG_CI, VM2)),
            Some(json!({"commandId": "RunShellScript", "script": [format!("sleep {seconds}")]})),
        )
        .await;
    assert!(
        status == 202 || status == 200,
        "someone's Run Command: {status} {v}"
    );
    let run = env.keyless(&["verify", s(&m)]).await;
    (env, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_probe_gives_up_behind_a_run_command_longer_than_its_timeout() {
    // Someone's script holds the VM for 40 s; the probe may wait only its 5 s timeout, then
    // reports the VM unverified with Azure's reason instead of hanging.
    let (_env, run) = verify_behind_someones_run_command("5s", 40).await;
    run.expect_code(3);
    assert!(
        run.all_output()
            .contains("Run command extension execution is in progress"),
        "Azure's 409 reason is shown\n{}",
        run.dump()
    );
    run.expect_faster_than(
        Duration::from_secs(30),
        "bounded by the 5 s timeout, not the other script",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_probe_waits_for_someone_elses_run_command() {
    // Azure runs one Run Command per VM and answers a second with 409 Conflict. Someone's
    // 10-second script is running on the VM when keyless probes it: keyless must wait its turn
    // and verify, not report the VM's access as failed.
    let (env, run) = verify_behind_someones_run_command("90s", 10).await;
    run.expect_code(0);
    assert_one_probe(&run, "verified");
    let met: Vec<_> = env
        .emu
        .requests()
        .into_iter()
        .filter(|e| {
            e.status == 409
                && e.caller_oid.as_deref() == Some(CALLER_OID)
                && e.path.ends_with("/runCommand")
        })
        .collect();
    assert!(
        !met.is_empty(),
        "keyless's Run Command must have met the running one (else this tests nothing)\n{}",
        run.dump()
    );
}
