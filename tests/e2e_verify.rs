//! End-to-end: verification (issue 4) — probes as keyless itself and as VMs through Run Command
//! (which the emulator really executes with bash and curl), propagation, deployment errors,
//! timeouts, 429 storms, and never leaking a token.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const RG: &str = "rg-e2e";
const ACCOUNT: &str = "oai-e2e";

/// RG + account + `chat` deployment, VM identities for `vms`, `OpenAI User` on the account for
/// `principals`, and the given `verify:` block.
fn manifest(vms: &[&str], principals: &[&str], verify: &str) -> String {
    let mut m = manifest_header("e2e");
    m.push_str(&format!(
        r#"resourceGroups:
  - name: {RG}
accounts:
  - name: {ACCOUNT}
    resourceGroup: {RG}
    customSubdomain: keyless-e2e-verify
    deployments:
      - name: chat
        model: {{ name: gpt-4o-mini, version: "2024-07-18" }}
        sku: {{ name: GlobalStandard, capacity: 10 }}
"#
    ));
    if !vms.is_empty() {
        m.push_str("managedIdentities:\n");
        for vm in vms {
            m.push_str(&format!("  - {{ vm: {vm}, resourceGroup: {RG_CI} }}\n"));
        }
    }
    m.push_str(&format!(
        "roleAssignments:\n  - role: Cognitive Services OpenAI User\n    scope: {{ account: {ACCOUNT} }}\n    principals:\n"
    ));
    for p in principals {
        m.push_str(&format!("      - {p}\n"));
    }
    m.push_str(&format!("verify: {verify}\n"));
    m
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

fn probe_states(run: &Run) -> Vec<(String, String)> {
    run.events("probe")
        .iter()
        .map(|p| {
            (
                p["principal"].as_str().unwrap_or("").to_string(),
                p["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
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
    let m = env.write(
        "m.yaml",
        &manifest(
            &[VM1, VM2],
            &["self", "vm: build-agent-01", "vm: build-agent-02"],
            "{ deployment: chat, timeout: 90s }",
        ),
    );
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
    let env = Env::with(&WorldOpts::default()).await;
    let m = env.write(
        "m.yaml",
        &manifest(&[], &["self"], "{ deployment: chat, timeout: 60s }"),
    );
    env.keyless(&["apply", s(&m), "--no-verify"])
        .await
        .expect_code(0);

    // Delete the deployment by hand and wait until ARM no longer has it.
    let dep = format!(
        "{}/deployments/chat?api-version=2024-10-01",
        account_id(RG, ACCOUNT)
    );
    let (st, v) = env.arm("DELETE", &dep, None).await;
    assert!(matches!(st, 200 | 202 | 204), "delete deployment: {st} {v}");
    let gone = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if env.arm("GET", &dep, None).await.0 == 404 {
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
    assert!(
        run.elapsed < Duration::from_secs(20),
        "a missing deployment must fail fast, not wait out the 60 s timeout ({:?})",
        run.elapsed
    );
    let probes = probe_states(&run);
    assert_eq!(probes.len(), 1, "{}", run.dump());
    assert_eq!(probes[0].1, "failed", "{}", run.dump());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_verify_deployment_probes_only_accounts_that_have_it() {
    // docs: "Set: every account having a deployment of this name is probed with it."
    let env = Env::with(&WorldOpts::default()).await;
    let mut m = manifest_header("e2e");
    m.push_str(&format!(
        r#"resourceGroups:
  - name: {RG}
accounts:
  - name: oai-a
    resourceGroup: {RG}
    customSubdomain: keyless-e2e-a
    deployments:
      - {{ name: chat, model: {{ name: gpt-4o-mini, version: "2024-07-18" }}, sku: {{ name: GlobalStandard, capacity: 1 }} }}
  - name: oai-b
    resourceGroup: {RG}
    customSubdomain: keyless-e2e-b
    deployments:
      - {{ name: other, model: {{ name: gpt-4o-mini, version: "2024-07-18" }}, sku: {{ name: GlobalStandard, capacity: 1 }} }}
roleAssignments:
  - role: Cognitive Services OpenAI User
    scope: {{ account: oai-a }}
    principals: [ self ]
  - role: Cognitive Services OpenAI User
    scope: {{ account: oai-b }}
    principals: [ self ]
verify: {{ deployment: chat, timeout: 60s }}
"#
    ));
    let m = env.write("m.yaml", &m);
    let run = env.keyless(&["apply", s(&m)]).await;
    run.expect_code(0);
    let probes: Vec<(String, String)> = run
        .events("probe")
        .iter()
        .map(|p| {
            (
                p["account"].as_str().unwrap_or("").to_string(),
                p["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        probes,
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
    let m = env.write("m.yaml", &manifest(&[], &["self"], "{ timeout: 5s }"));
    let run = env.keyless(&["apply", s(&m)]).await;
    run.expect_code(3);
    let out = run.all_output();
    assert!(out.contains("VerificationTimeout"), "{}", run.dump());
    assert!(
        out.contains("did not start working within"),
        "a clear timeout message\n{}",
        run.dump()
    );
    assert!(
        run.elapsed < Duration::from_secs(40),
        "bounded by the 5 s timeout ({:?})",
        run.elapsed
    );
    let probes = probe_states(&run);
    assert_eq!(probes.len(), 1, "{}", run.dump());
    assert_eq!(probes[0].1, "failed", "{}", run.dump());
}

// ----------------------------------------------------------------------------------- 14

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_storm_during_probing_is_waited_out() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = env.write(
        "m.yaml",
        &manifest(&[], &["self"], "{ deployment: chat, timeout: 60s }"),
    );
    env.keyless(&["apply", s(&m), "--no-verify"])
        .await
        .expect_code(0);

    // The next 6 data-plane calls get 429 with Retry-After: 1.
    env.put_faults(json!({
        "dataPlane": true,
        "rules": [ { "path": "^/aoai/", "status": 429, "count": 6, "retryAfter": 1 } ]
    }))
    .await;
    let run = env.keyless(&["verify", s(&m)]).await;
    run.expect_code(0);
    let probes = probe_states(&run);
    assert_eq!(probes.len(), 1, "{}", run.dump());
    assert_eq!(probes[0].1, "verified", "{}", run.dump());
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
    let m = env.write(
        "m.yaml",
        &manifest(
            &[VM2],
            &["vm: build-agent-02"],
            "{ deployment: chat, timeout: 60s }",
        ),
    );
    let run = env.keyless(&["apply", s(&m)]).await;
    run.expect_code(0);
    let probes = probe_states(&run);
    assert_eq!(probes.len(), 1, "{}", run.dump());
    assert_eq!(probes[0].1, "verified", "{}", run.dump());

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

/// VM2's identity is set up with `verify` as given; then someone starts a `sleep {seconds}`
/// Run Command on VM2 and `keyless verify` runs while it holds the VM (Azure allows one at a
/// time, answering 409 Conflict). Returns the emulator and the verify run.
async fn verify_behind_someones_run_command(verify: &str, seconds: u32) -> (Env, Run) {
    let env = Env::with(&WorldOpts::default()).await;
    let m = env.write("m.yaml", &manifest(&[VM2], &["vm: build-agent-02"], verify));
    env.keyless(&["apply", s(&m), "--no-verify"])
        .await
        .expect_code(0);
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
    let (_env, run) =
        verify_behind_someones_run_command("{ deployment: chat, timeout: 5s }", 40).await;
    run.expect_code(3);
    assert!(
        run.all_output()
            .contains("Run command extension execution is in progress"),
        "Azure's 409 reason is shown\n{}",
        run.dump()
    );
    assert!(
        run.elapsed < Duration::from_secs(30),
        "bounded by the 5 s timeout, not the other script ({:?})",
        run.elapsed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_probe_waits_for_someone_elses_run_command() {
    // Azure runs one Run Command per VM and answers a second with 409 Conflict. Someone's
    // 10-second script is running on the VM when keyless probes it: keyless must wait its turn
    // and verify, not report the VM's access as failed.
    let (env, run) =
        verify_behind_someones_run_command("{ deployment: chat, timeout: 90s }", 10).await;
    run.expect_code(0);
    let probes = probe_states(&run);
    assert_eq!(
        probes,
        vec![(probes[0].0.clone(), "verified".to_string())],
        "{}",
        run.dump()
    );
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
