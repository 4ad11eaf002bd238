//! Another writer on the same resource: Azure runs one operation at a time on an account, one
//! deployment write per account and one Run Command per VM, and answers a write that meets
//! another one with a 409 (`AccountProvisioningStateInvalid`, `RequestConflict`, `Conflict`).
//! That other writer may be a second keyless applying the same manifest (the failure that made
//! `two_concurrent_applies_converge` flaky in CI), a pipeline or a person; keyless must wait
//! its turn, never overwrite what the other writer did, and fail clearly only when what it
//! finds cannot be what the manifest wants.
//!
//! Each scenario is made deterministic by holding the resource busy on purpose (provisioning
//! takes seconds) and asserting the emulator really answered keyless a 409, so the test fails
//! if keyless stops meeting the conflict as well as if it stops handling it.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const ACCOUNT: &str = "oai-busy";
/// How long the other writer's operation holds the resource. keyless must reach it within this
/// window (sign-in and observe, or a 3 s Retry-After): generous, for a loaded 2-core CI machine.
const BUSY_SECONDS: f64 = 8.0;
const SUBDOMAIN: &str = "keyless-busy-contoso";

/// One account in `rg-ci` (which the world has), optionally with a `chat` deployment, and
/// `OpenAI User` for Alice on it; no verification.
fn manifest(with_deployment: bool) -> ManifestBuilder {
    let account = Account::new(ACCOUNT, RG_CI, SUBDOMAIN);
    let account = match with_deployment {
        true => account.deployment(Deployment::chat()),
        false => account,
    };
    ManifestBuilder::new("busy")
        .resource_group(RG_CI)
        .with_account(account)
        .grant(&[Principal::User(ALICE_UPN)])
        .verify_off()
}

fn acc_path() -> String {
    account_id(RG_CI, ACCOUNT)
}

/// Someone else's account create (PUT) under the manifest's name, tagged `team: blue`.
async fn create_by_hand(env: &Env, subdomain: &str) {
    let (status, v) = env
        .arm(
            "PUT",
            &format!("{}?api-version=2024-10-01", acc_path()),
            Some(json!({
                "location": "eastus", "kind": "OpenAI", "sku": {"name": "S0"},
                "tags": {"team": "blue"},
                "properties": {"customSubDomainName": subdomain, "disableLocalAuth": true}
            })),
        )
        .await;
    assert!(
        status == 201 || status == 200,
        "hand-made create: {status} {v}"
    );
}

/// Requests keyless (not the admin app the test acts as) was answered 409 with, per method.
fn conflicts_met_by_keyless(env: &Env, path_suffix: &str) -> Vec<String> {
    env.emu
        .requests()
        .iter()
        .filter(|e| e.status == 409 && e.caller_oid.as_deref() == Some(CALLER_OID))
        .filter(|e| {
            e.path
                .to_ascii_lowercase()
                .ends_with(&path_suffix.to_ascii_lowercase())
        })
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

/// keyless applies the manifest (no deployment); its account PUT is answered 503 with a 3 s
/// Retry-After, and in that window someone else creates the account with `subdomain`
/// (taking [`BUSY_SECONDS`]), so keyless's retried PUT meets that creation.
async fn apply_while_someone_creates_the_account(
    subdomain: &str,
) -> (Env, std::path::PathBuf, Run) {
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest(false).write(&env.dir, "busy.yaml");
    env.set_provisioning(BUSY_SECONDS);
    env.put_faults(json!({"rules": [
        {"path": format!("accounts/{ACCOUNT}$"), "method": "PUT", "status": 503, "count": 1, "retryAfter": 3}
    ]}))
    .await;
    let args = ["apply", s(&m)];
    let child = env.spawn(&args);
    env.until_fault_hit("PUT", &format!("accounts/{ACCOUNT}"))
        .await;
    create_by_hand(&env, subdomain).await;
    let run = env.collect(child, &args).await;
    (env, m, run)
}

/// Asserts keyless's `method` on the account met the other writer's creation (a 409: else the
/// scenario tested nothing) and that the other writer's `team` tag survived; returns the account.
async fn met_the_creation_and_kept_its_tag(env: &Env, method: &str, run: &Run) -> Value {
    let met = conflicts_met_by_keyless(env, &format!("accounts/{ACCOUNT}"));
    assert!(
        met.iter().any(|r| r.starts_with(method)),
        "keyless's {method} must have met the running creation (409s met: {met:?})\n{}",
        run.dump()
    );
    let acc = env.get_account(RG_CI, ACCOUNT).await.expect("account");
    assert_eq!(
        tags(&acc)["team"],
        "blue",
        "the other writer's tag is kept: {acc}"
    );
    acc
}

/// Pipelines see the wait: one `actionWaiting` event naming Azure's code.
fn assert_waiting_reported(run: &Run, code: &str) {
    let waits = run.events("actionWaiting");
    assert!(
        waits.iter().any(|e| e["reason"] == code),
        "an actionWaiting event with reason {code}\n{}",
        run.dump()
    );
}

async fn assert_no_changes_left(env: &Env, m: &std::path::Path) {
    let plan = env.keyless(&["plan", s(m), "--detailed-exitcode"]).await;
    assert_eq!(
        plan.code,
        Some(0),
        "Azure must match the manifest afterwards\n{}",
        plan.dump()
    );
}

fn tags(account: &Value) -> Value {
    account["tags"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_waits_until_another_writers_create_finishes() {
    // The account is being created by someone else (BUSY_SECONDS) when keyless plans: it is there, so
    // keyless plans an update (its ownership tag is missing) whose PATCH meets the creation.
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest(true).write(&env.dir, "busy.yaml");
    env.set_provisioning(BUSY_SECONDS);
    create_by_hand(&env, SUBDOMAIN).await;
    let run = env.keyless(&["apply", s(&m)]).await;
    run.expect_code(0);
    let acc = met_the_creation_and_kept_its_tag(&env, "PATCH", &run).await;
    assert_waiting_reported(&run, "AccountProvisioningStateInvalid");
    assert_eq!(acc["properties"]["provisioningState"], "Succeeded", "{acc}");
    env.set_provisioning(0.2);
    assert_no_changes_left(&env, &m).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_that_meets_another_writers_create_becomes_an_update() {
    // keyless's PUT is answered 503 (Retry-After 3 s) once; in that window someone else creates
    // the account (BUSY_SECONDS). keyless's retried PUT meets the creation: keyless must wait for it and
    // update the account it finds — merging tags, never replacing them.
    let (env, m, run) = apply_while_someone_creates_the_account(SUBDOMAIN).await;
    run.expect_code(0);
    let acc = met_the_creation_and_kept_its_tag(&env, "PUT", &run).await;
    assert_eq!(
        tags(&acc)["keyless-manifest"],
        "busy",
        "keyless's ownership tag is added: {acc}"
    );
    env.set_provisioning(0.2);
    assert_no_changes_left(&env, &m).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_created_meanwhile_with_another_subdomain_is_refused_untouched() {
    // As above, but the other writer picked another subdomain. A subdomain cannot be changed:
    // keyless must fail with a clear error and leave that account exactly as it was made.
    let (env, _, run) = apply_while_someone_creates_the_account("someone-elses-subdomain").await;
    run.expect_code(1);
    let out = run.all_output();
    assert!(
        out.contains("AccountCreatedMeanwhile") && out.contains("someone-elses-subdomain"),
        "the error names the code and the subdomain found\n{}",
        run.dump()
    );
    let acc = env.get_account(RG_CI, ACCOUNT).await.expect("account");
    assert_eq!(
        tags(&acc),
        json!({"team": "blue"}),
        "the other writer's account is untouched: {acc}"
    );
    assert_eq!(
        acc["properties"]["customSubDomainName"],
        "someone-elses-subdomain"
    );
    let mine = env
        .assignments_at(&acc_path())
        .await
        .into_iter()
        .filter(|a| {
            a["properties"]["description"]
                .as_str()
                .unwrap_or("")
                .contains("keyless:manifest=busy")
        })
        .count();
    assert_eq!(
        mine, 0,
        "nothing is granted on an account that is not the manifest's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_waits_for_another_deployment_write_on_the_account() {
    // The account exists (made by keyless). Someone deploys another model (BUSY_SECONDS); keyless's
    // deployment PUT meets it (RequestConflict) and must wait, then succeed.
    let env = Env::with(&WorldOpts::default()).await;
    let without = manifest(false).write(&env.dir, "busy.yaml");
    env.keyless(&["apply", s(&without)]).await.expect_code(0);
    env.set_provisioning(BUSY_SECONDS);
    let (status, v) = env
        .arm(
            "PUT",
            &format!("{}/deployments/other?api-version=2024-10-01", acc_path()),
            Some(json!({
                "sku": {"name": "Standard", "capacity": 1},
                "properties": {"model": {"format": "OpenAI", "name": "gpt-4o-mini", "version": "2024-07-18"}}
            })),
        )
        .await;
    assert!(
        status == 201 || status == 200,
        "hand-made deployment: {status} {v}"
    );
    let with = manifest(true).write(&env.dir, "busy.yaml");
    let run = env.keyless(&["apply", s(&with)]).await;
    run.expect_code(0);
    let met = conflicts_met_by_keyless(&env, "/deployments/chat");
    assert!(
        !met.is_empty(),
        "keyless's deployment PUT must have met the other deployment\n{}",
        run.dump()
    );
    assert_waiting_reported(&run, "RequestConflict");
    for d in ["chat", "other"] {
        let (status, v) = env.get_deployment(RG_CI, ACCOUNT, d).await;
        assert_eq!(status, 200, "{d}: {v}");
        assert_eq!(
            v["properties"]["provisioningState"], "Succeeded",
            "{d}: {v}"
        );
    }
    env.set_provisioning(0.2);
    assert_no_changes_left(&env, &with).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_that_appears_while_keyless_reads_is_not_called_taken() {
    // keyless reads the account (absent), then asks whether its subdomain is free; that answer
    // is delayed (503, Retry-After 3 s) and meanwhile the account is created with exactly that
    // subdomain (a concurrent apply). "Taken" then means "taken by the account itself": keyless
    // must re-read it and carry on, not report the subdomain as unavailable.
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest(false).write(&env.dir, "busy.yaml");
    env.put_faults(json!({"rules": [
        {"path": "checkDomainAvailability$", "method": "POST", "status": 503, "count": 1, "retryAfter": 3}
    ]}))
    .await;
    let args = ["apply", s(&m)];
    let child = env.spawn(&args);
    env.until_fault_hit("POST", "checkDomainAvailability").await;
    create_by_hand(&env, SUBDOMAIN).await;
    let run = env.collect(child, &args).await;
    run.expect_code(0);
    let acc = env.get_account(RG_CI, ACCOUNT).await.expect("account");
    assert_eq!(
        tags(&acc)["team"],
        "blue",
        "the other writer's tag is kept: {acc}"
    );
    assert_eq!(tags(&acc)["keyless-manifest"], "busy", "{acc}");
    assert_no_changes_left(&env, &m).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_waiting_for_another_writer_sends_nothing_more() {
    // Someone's account creation holds the account for a minute; keyless's update waits for it.
    // Ctrl-C means "start nothing new": the waiting write is dropped, keyless exits 130 soon,
    // and no write of keyless's reaches the account after the interrupt.
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest(false).write(&env.dir, "busy.yaml");
    env.set_provisioning(60.0);
    create_by_hand(&env, SUBDOMAIN).await;
    let (mut child, mut events) = env.spawn_events(&["apply", s(&m)]);
    let pid = child.id().expect("pid");
    events
        .wait_for(
            Duration::from_secs(60),
            "keyless started waiting for the other writer",
            |e| e["event"] == "actionWaiting",
        )
        .await;
    let interrupted_at = env.emu.ctx().now();
    sigint(pid);
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("keyless stops waiting after Ctrl-C")
        .expect("wait");
    let _ = tokio::time::timeout(Duration::from_secs(5), events.drain()).await;
    assert_eq!(status.code(), Some(130), "{}", events.raw);
    let late_writes: Vec<String> = env
        .emu
        .requests()
        .iter()
        .filter(|e| {
            e.caller_oid.as_deref() == Some(CALLER_OID)
                && e.unix > interrupted_at + 0.5
                && !matches!(e.method.as_str(), "GET" | "HEAD")
                && e.route == "arm"
        })
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    assert!(
        late_writes.is_empty(),
        "no write after Ctrl-C: {late_writes:?}"
    );
    assert!(
        events.raw.contains("\"Interrupted\""),
        "the dropped action says why\n{}",
        events.raw
    );
}
