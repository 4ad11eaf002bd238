//! End-to-end: the real `keyless` binary against the in-process emulator — apply, idempotency,
//! drift, prune, soft-deleted accounts, VM identities, missing permissions, stale plans,
//! interrupted applies, exit codes (issue 3).

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const RG: &str = QS_RG;
const ACCOUNT: &str = QS_ACCOUNT;
const SUBDOMAIN: &str = QS_SUBDOMAIN;

/// The quickstart manifest (one RG, one account with a `chat` deployment, verification off)
/// named `name`, with VM identities for `vms` and `Cognitive Services OpenAI User` on the
/// account for `principals`.
fn manifest(name: &str, vms: &[&str], principals: &[Principal]) -> ManifestBuilder {
    ManifestBuilder::quickstart(name)
        .ci_vm_identities(vms)
        .grant(principals)
}

const ME: Principal = Principal::Me;
const ALICE: Principal = Principal::User(ALICE_UPN);
const BOB: Principal = Principal::User(BOB_UPN);
const GROUP: Principal = Principal::Group(GROUP_NAME);
const VM1_P: Principal = Principal::Vm(VM1);
const VM2_P: Principal = Principal::Vm(VM2);

fn acc_scope() -> String {
    account_id(RG, ACCOUNT)
}

/// The system-assigned principal id of a VM (panics when it has none).
async fn vm_principal(env: &Env, vm: &str) -> String {
    let v = env.get_vm(RG_CI, vm).await;
    v["identity"]["principalId"]
        .as_str()
        .unwrap_or_else(|| panic!("VM {vm} has no system-assigned identity: {v}"))
        .to_string()
}

/// Asserts exactly one `OpenAI User` assignment at the account for `principal`, owned by
/// `manifest`, of `ptype`; returns it.
async fn one_owned(env: &Env, principal: &str, ptype: &str, manifest: &str) -> Value {
    let list = env
        .assignments_for(&acc_scope(), OPENAI_USER, principal)
        .await;
    assert_eq!(
        list.len(),
        1,
        "expected exactly one assignment for {principal}: {list:#?}"
    );
    let a = list.into_iter().next().unwrap();
    assert_eq!(a["properties"]["principalType"], ptype, "{a}");
    let desc = a["properties"]["description"].as_str().unwrap_or("");
    assert!(
        desc.contains(&format!("keyless:manifest={manifest}")),
        "assignment lacks the ownership marker: {a}"
    );
    a
}

/// The names of the assignments defined at `scope`.
async fn assignment_names(env: &Env, scope: &str) -> Vec<String> {
    env.assignments_at(scope)
        .await
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

/// Applies `m`, which must succeed having planned exactly one action, of type `kind`.
async fn apply_one_action(env: &Env, m: &std::path::Path, kind: &str) -> Run {
    let run = env.keyless(&apply_args(m)).await;
    run.expect_code(0);
    let actions = run.plan_actions();
    assert_eq!(actions.len(), 1, "{}", run.dump());
    assert_eq!(actions[0]["type"], kind, "{}", run.dump());
    run
}

fn apply_args(path: &std::path::Path) -> Vec<&str> {
    vec!["apply", s(path)]
}

// ------------------------------------------------------------------------------------ 1

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_apply_creates_everything() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest("e2e", &[VM1], &[ME, ALICE, GROUP, VM1_P]).write(&env.dir, "m.yaml");
    let run = env.keyless(&apply_args(&m)).await;
    run.expect_code(0);

    // Every planned action finished; nothing failed or was skipped.
    let actions = run.plan_actions();
    assert!(!actions.is_empty(), "{}", run.dump());
    assert!(run.events("actionFailed").is_empty(), "{}", run.dump());
    assert!(run.events("actionSkipped").is_empty(), "{}", run.dump());
    assert_eq!(
        run.events("actionFinished").len(),
        actions.len(),
        "{}",
        run.dump()
    );

    // Resource group, tagged as owned.
    let (st, rg) = env.arm_get(&rg_id(RG), "2021-04-01").await;
    assert_eq!(st, 200, "{rg}");
    assert_eq!(rg["location"], "eastus");
    assert_eq!(rg["tags"]["keyless-manifest"], "e2e", "{rg}");

    // Account: custom subdomain, local auth off, OpenAI.
    let acc = env.get_account(RG, ACCOUNT).await.expect("account exists");
    assert_eq!(acc["kind"], "OpenAI");
    assert_eq!(acc["properties"]["customSubDomainName"], SUBDOMAIN, "{acc}");
    assert_eq!(acc["properties"]["disableLocalAuth"], true, "{acc}");
    assert_eq!(acc["properties"]["provisioningState"], "Succeeded", "{acc}");

    // Deployment.
    let (st, d) = env.get_deployment(RG, ACCOUNT, "chat").await;
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["properties"]["model"]["name"], "gpt-4o-mini", "{d}");
    assert_eq!(d["properties"]["model"]["version"], "2024-07-18", "{d}");
    assert_eq!(d["sku"]["name"], "GlobalStandard", "{d}");
    assert_eq!(d["sku"]["capacity"], 10, "{d}");

    // VM identity.
    let vm_p = vm_principal(&env, VM1).await;

    // Role assignments, one each, owned by the manifest, with the right principal types.
    one_owned(&env, CALLER_OID, "ServicePrincipal", "e2e").await;
    one_owned(&env, ALICE_OID, "User", "e2e").await;
    one_owned(&env, GROUP_OID, "Group", "e2e").await;
    one_owned(&env, &vm_p, "ServicePrincipal", "e2e").await;
    assert_eq!(env.assignments_at(&acc_scope()).await.len(), 4);
}

// ------------------------------------------------------------------------------------ 2

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reapply_is_a_no_op_with_zero_writes() {
    let env = Env::with(&WorldOpts::default()).await;
    // Verification on: the first apply proves access (Run Command on the VM is an ARM write);
    // a no-op re-apply must not re-verify, so it stays write-free.
    let m = manifest("e2e", &[VM1], &[ME, ALICE, GROUP, VM1_P])
        .verify_deployment("chat")
        .verify_timeout("60s")
        .write(&env.dir, "m.yaml");
    let first = env.keyless(&apply_args(&m)).await;
    first.expect_code(0);
    assert_eq!(first.events("verified").len(), 1, "{}", first.dump());

    let before = env.emu.counters();
    let run = env.keyless(&apply_args(&m)).await;
    run.expect_code(0);
    let after = env.emu.counters();

    let plans = run.events("plan");
    assert_eq!(plans.len(), 1, "{}", run.dump());
    assert_eq!(
        plans[0]["plan"]["actions"],
        serde_json::json!([]),
        "{}",
        run.dump()
    );
    assert!(run.events("actionStarted").is_empty(), "{}", run.dump());
    assert!(
        run.events("probe").is_empty(),
        "nothing changed, nothing to verify\n{}",
        run.dump()
    );
    assert_eq!(
        (after.arm_writes, after.arm_deletes),
        (before.arm_writes, before.arm_deletes),
        "a no-op apply wrote to ARM\n{}",
        run.dump()
    );
    // keyless's own report agrees.
    let req = run.events("requests");
    assert_eq!(req.len(), 1, "{}", run.dump());
    assert_eq!(req[0]["counts"]["armWrites"], 0, "{}", run.dump());
    assert_eq!(req[0]["counts"]["armDeletes"], 0, "{}", run.dump());
}

// ------------------------------------------------------------------------------------ 3

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_deleted_assignment_is_recreated() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest("e2e", &[], &[ME, ALICE, GROUP]).write(&env.dir, "m.yaml");
    env.keyless(&apply_args(&m)).await.expect_code(0);

    let alice = one_owned(&env, ALICE_OID, "User", "e2e").await;
    env.delete_assignment(alice["id"].as_str().unwrap()).await;
    assert!(env
        .assignments_for(&acc_scope(), OPENAI_USER, ALICE_OID)
        .await
        .is_empty());

    let run = env.keyless(&apply_args(&m)).await;
    run.expect_code(0);
    let actions = run.plan_actions();
    assert_eq!(
        actions.len(),
        1,
        "only the deleted assignment is recreated\n{}",
        run.dump()
    );
    assert_eq!(actions[0]["type"], "createRoleAssignment", "{}", run.dump());
    one_owned(&env, ALICE_OID, "User", "e2e").await;
    one_owned(&env, CALLER_OID, "ServicePrincipal", "e2e").await;
    one_owned(&env, GROUP_OID, "Group", "e2e").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_hand_made_duplicate_is_adopted() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest("e2e", &[], &[ME]).write(&env.dir, "m.yaml");
    env.keyless(&apply_args(&m)).await.expect_code(0);

    // Someone grants Bob the same role by hand, under a random name.
    let hand = env
        .create_assignment(
            &acc_scope(),
            OPENAI_USER,
            BOB_OID,
            "User",
            Some("granted by hand"),
        )
        .await;
    // The manifest now declares Bob too.
    let m = manifest("e2e", &[], &[ME, BOB]).write(&env.dir, "m.yaml");
    let run = env.keyless(&apply_args(&m)).await;
    run.expect_code(0);
    assert!(run.events("actionFailed").is_empty(), "{}", run.dump());

    let bob = env
        .assignments_for(&acc_scope(), OPENAI_USER, BOB_OID)
        .await;
    assert_eq!(
        bob.len(),
        1,
        "exactly one assignment for (role, Bob): {bob:#?}\n{}",
        run.dump()
    );
    assert_eq!(
        bob[0]["name"],
        hand.as_str(),
        "the hand-made assignment is the one kept"
    );

    // And the adopted state is stable: the next plan has nothing to do.
    let again = env.keyless(&["plan", s(&m), "--detailed-exitcode"]).await;
    again.expect_code(0);
}

// ------------------------------------------------------------------------------------ 4

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_only_owned_assignments() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest("team", &[], &[ME, ALICE, BOB])
        .prune(true)
        .write(&env.dir, "m.yaml");
    env.keyless(&apply_args(&m)).await.expect_code(0);
    let bob = one_owned(&env, BOB_OID, "User", "team").await;

    // Hand-made, unowned (Reader for the group), and one owned by another manifest whose name
    // starts with this one's (`team-alpha` must not be mistaken for `team`).
    let unowned = env
        .create_assignment(&acc_scope(), READER, GROUP_OID, "Group", None)
        .await;
    let other = env
        .create_assignment(
            &acc_scope(),
            OPENAI_USER,
            GROUP_OID,
            "Group",
            Some("keyless:manifest=team-alpha"),
        )
        .await;

    // Bob leaves the manifest.
    let m = manifest("team", &[], &[ME, ALICE])
        .prune(true)
        .write(&env.dir, "m.yaml");
    apply_one_action(&env, &m, "deleteRoleAssignment").await;

    let names = assignment_names(&env, &acc_scope()).await;
    assert!(
        !names.contains(&bob["name"].as_str().unwrap().to_string()),
        "Bob's assignment was pruned: {names:?}"
    );
    assert!(
        names.contains(&unowned),
        "the unowned assignment survives: {names:?}"
    );
    assert!(
        names.contains(&other),
        "another manifest's assignment survives: {names:?}"
    );
    one_owned(&env, ALICE_OID, "User", "team").await;
    one_owned(&env, CALLER_OID, "ServicePrincipal", "team").await;
    assert_eq!(names.len(), 4, "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_covers_a_scope_whose_last_entry_was_removed() {
    // Two entries: the account for self, the resource group for Alice. Dropping the whole second
    // entry must prune Alice's assignment too, although no remaining entry names that scope.
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest("team", &[], &[ME])
        .assign(OPENAI_USER_ROLE, Scope::ResourceGroup(RG), &[ALICE])
        .prune(true)
        .write(&env.dir, "m.yaml");
    env.keyless(&apply_args(&m)).await.expect_code(0);
    let rg_alice = env
        .assignments_for(&rg_id(RG), OPENAI_USER, ALICE_OID)
        .await;
    assert_eq!(rg_alice.len(), 1, "{rg_alice:#?}");
    let unowned = env
        .create_assignment(&rg_id(RG), READER, BOB_OID, "User", None)
        .await;

    let m = manifest("team", &[], &[ME])
        .prune(true)
        .write(&env.dir, "m.yaml");
    apply_one_action(&env, &m, "deleteRoleAssignment").await;
    assert!(
        env.assignments_for(&rg_id(RG), OPENAI_USER, ALICE_OID)
            .await
            .is_empty(),
        "the owned assignment at the resource group was pruned"
    );
    let names = assignment_names(&env, &rg_id(RG)).await;
    assert_eq!(names, vec![unowned], "the unowned one survives");
    one_owned(&env, CALLER_OID, "ServicePrincipal", "team").await;
    // Converged: nothing left to do.
    env.keyless(&["plan", s(&m), "--detailed-exitcode"])
        .await
        .expect_code(0);
}

// ------------------------------------------------------------------------------------ 5

fn soft_deleted_world() -> String {
    world(&WorldOpts {
        extra: &format!(
            "deletedAccounts:\n  - {{ name: {ACCOUNT}, resourceGroup: {RG}, location: eastus, kind: OpenAI, customSubdomain: {SUBDOMAIN} }}\n"
        ),
        ..Default::default()
    })
}

fn deleted_accounts(state: &Value) -> Vec<Value> {
    state["arm"]["deletedAccounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_deleted_fail_stops_before_any_change() {
    let env = Env::start(&soft_deleted_world()).await;
    let m = manifest("e2e", &[], &[ME]).write(&env.dir, "m.yaml");
    let before = env.arm_mutations();
    let run = env.keyless(&apply_args(&m)).await;
    run.expect_code(1);
    let errors = run.plan_errors();
    assert_eq!(errors.len(), 1, "{}", run.dump());
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("soft-deleted")
            || errors[0]["code"].as_str().unwrap_or("").contains("soft"),
        "{}",
        run.dump()
    );
    assert_eq!(
        env.arm_mutations(),
        before,
        "nothing may change\n{}",
        run.dump()
    );
    assert!(env.get_account(RG, ACCOUNT).await.is_none());
    assert_eq!(deleted_accounts(&env.state().await).len(), 1);
}

/// Applies the manifest (self only) with `onSoftDeleted: what` where Azure holds a soft-deleted
/// account of its name; it must succeed. Returns the run and its planned account actions.
async fn apply_over_soft_deleted(what: &str) -> (Env, Run, Vec<String>) {
    let env = Env::start(&soft_deleted_world()).await;
    let m = manifest("e2e", &[], &[ME])
        .account(|a| a.on_soft_deleted(what))
        .write(&env.dir, "m.yaml");
    let run = env.keyless(&apply_args(&m)).await;
    run.expect_code(0);
    let types = run
        .action_types()
        .into_iter()
        .filter(|t| t.ends_with("Account"))
        .collect();
    (env, run, types)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_deleted_restore_brings_the_account_back() {
    let (env, run, types) = apply_over_soft_deleted("restore").await;
    assert_eq!(types, vec!["restoreAccount"], "{}", run.dump());

    let acc = env.get_account(RG, ACCOUNT).await.expect("restored");
    assert_eq!(acc["properties"]["customSubDomainName"], SUBDOMAIN, "{acc}");
    assert_eq!(acc["properties"]["provisioningState"], "Succeeded", "{acc}");
    assert!(
        deleted_accounts(&env.state().await).is_empty(),
        "no longer soft-deleted"
    );
    one_owned(&env, CALLER_OID, "ServicePrincipal", "e2e").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_deleted_purge_then_create() {
    let (env, run, types) = apply_over_soft_deleted("purge").await;
    assert_eq!(
        types,
        vec!["purgeAccount", "createAccount"],
        "{}",
        run.dump()
    );

    // The purge went through ARM before the create.
    let reqs = env.emu.requests();
    let purge = reqs.iter().position(|r| {
        r.method == "DELETE" && r.path.to_ascii_lowercase().contains("/deletedaccounts/")
    });
    let create = reqs.iter().position(|r| {
        r.method == "PUT"
            && r.path
                .to_ascii_lowercase()
                .ends_with(&format!("/accounts/{ACCOUNT}"))
    });
    assert!(
        matches!((purge, create), (Some(p), Some(c)) if p < c),
        "purge then create: {purge:?} {create:?}"
    );

    let acc = env.get_account(RG, ACCOUNT).await.expect("created");
    assert_eq!(acc["properties"]["customSubDomainName"], SUBDOMAIN, "{acc}");
    assert!(deleted_accounts(&env.state().await).is_empty(), "purged");
}

// ------------------------------------------------------------------------------------ 6

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_keeps_its_user_assigned_identity() {
    let env = Env::with(&WorldOpts::default()).await;
    let before = env.get_vm(RG_CI, VM1).await;
    let uami = before["identity"]["userAssignedIdentities"]
        .as_object()
        .and_then(|m| m.keys().next().cloned())
        .expect("the world gives build-agent-01 a user-assigned identity");
    let m = manifest("e2e", &[VM1], &[VM1_P]).write(&env.dir, "m.yaml");
    env.keyless(&apply_args(&m)).await.expect_code(0);

    let vm = env.get_vm(RG_CI, VM1).await;
    assert_eq!(
        vm["identity"]["type"], "SystemAssigned, UserAssigned",
        "{vm}"
    );
    assert!(vm["identity"]["principalId"].as_str().is_some(), "{vm}");
    let ua = vm["identity"]["userAssignedIdentities"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(
        ua.keys().any(|k| k.eq_ignore_ascii_case(&uami)),
        "{uami} was dropped: {vm}"
    );
    assert!(uami
        .to_ascii_lowercase()
        .ends_with("/userassignedidentities/uami-ci"));
}

// ------------------------------------------------------------------------------------ 7

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_role_assignment_permission_is_explained() {
    let env = Env::with(&WorldOpts {
        caller_role: "Contributor",
        ..Default::default()
    })
    .await;
    let m = manifest("e2e", &[], &[ME, ALICE]).write(&env.dir, "m.yaml");
    let run = env.keyless(&apply_args(&m)).await;
    run.expect_code(1);
    let out = run.all_output();
    assert!(out.contains("AuthorizationFailed"), "{}", run.dump());
    assert!(
        out.contains("Microsoft.Authorization/roleAssignments/write"),
        "{}",
        run.dump()
    );
    assert!(
        out.contains("Role Based Access Control Administrator")
            || out.contains("User Access Administrator"),
        "the help names a role that grants the permission\n{}",
        run.dump()
    );
    let failed = run.events("actionFailed");
    assert!(!failed.is_empty(), "{}", run.dump());
    for f in &failed {
        assert_eq!(f["error"]["code"], "AuthorizationFailed", "{}", run.dump());
        assert_eq!(f["error"]["status"], 403, "{}", run.dump());
    }
    assert!(env.assignments_at(&acc_scope()).await.is_empty());
}

// ------------------------------------------------------------------------------------ 8

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_plan_file_is_refused() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest("e2e", &[], &[ME, ALICE]).write(&env.dir, "m.yaml");
    env.keyless(&apply_args(&m)).await.expect_code(0);
    let alice = one_owned(&env, ALICE_OID, "User", "e2e").await;
    env.delete_assignment(alice["id"].as_str().unwrap()).await;

    // A plan (recreate Alice's assignment), then a hand-made change at a managed scope.
    let plan1 = env.dir.path().join("plan1.json");
    env.keyless(&["plan", s(&m), "--out", s(&plan1)])
        .await
        .expect_code(0);
    env.create_assignment(&acc_scope(), READER, BOB_OID, "User", None)
        .await;
    let before = env.arm_mutations();
    let run = env.keyless(&["apply", s(&plan1)]).await;
    run.expect_code(1);
    assert!(
        run.all_output().to_ascii_lowercase().contains("stale"),
        "{}",
        run.dump()
    );
    assert_eq!(
        env.arm_mutations(),
        before,
        "a stale plan changes nothing\n{}",
        run.dump()
    );
    assert!(env
        .assignments_for(&acc_scope(), OPENAI_USER, ALICE_OID)
        .await
        .is_empty());

    // A fresh plan with no change in between applies.
    let plan2 = env.dir.path().join("plan2.json");
    env.keyless(&["plan", s(&m), "--out", s(&plan2)])
        .await
        .expect_code(0);
    let run = env.keyless(&["apply", s(&plan2)]).await;
    run.expect_code(0);
    one_owned(&env, ALICE_OID, "User", "e2e").await;
}

// ------------------------------------------------------------------------------------ 9

/// How an apply is stopped mid-way.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    /// SIGKILL: no chance to finish anything.
    Kill,
    /// SIGINT (Ctrl-C): in-flight writes finish, nothing new starts, exit 130.
    Interrupt,
}

/// Starts `apply` one action at a time and stops it right after the first role assignment
/// finished. ARM gets 400 ms of latency from the first assignment on, so the stop always lands
/// with assignments still to do. Returns the stopped run.
async fn apply_and_stop(env: &Env, m: &std::path::Path, how: Stop) -> Run {
    let t0 = std::time::Instant::now();
    let (mut child, mut events) = env.spawn_events(&["apply", s(m), "--parallelism", "1"]);
    let pid = child.id().expect("pid");
    let mut assignment_ids = std::collections::BTreeSet::new();
    let stopped = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(e) = events.next().await {
            match e["event"].as_str() {
                Some("actionStarted") if e["type"] == "createRoleAssignment" => {
                    if assignment_ids.is_empty() {
                        env.put_faults(serde_json::json!({"latencyMs": "400"}))
                            .await;
                    }
                    assignment_ids.insert(e["id"].as_u64());
                }
                Some("actionFinished") if assignment_ids.contains(&e["id"].as_u64()) => {
                    match how {
                        Stop::Kill => child.start_kill().expect("SIGKILL"),
                        Stop::Interrupt => sigint(pid),
                    }
                    return true;
                }
                _ => {}
            }
        }
        false
    })
    .await
    .expect("an assignment finished within 60 s");
    assert!(
        stopped,
        "apply ended before any role assignment finished:\n{}",
        events.raw
    );
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the stopped child exits")
        .expect("wait");
    let _ = tokio::time::timeout(Duration::from_secs(10), events.drain()).await;
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut err).await;
    }
    env.put_faults(serde_json::json!({})).await;
    env.finish(
        status.code(),
        events.raw.clone(),
        err,
        env.emu.ctx().now(),
        t0.elapsed(),
    )
}

/// After a stop: a re-run converges (exit 0), the next plan is empty, no duplicates.
async fn assert_rerun_converges(env: &Env, m: &std::path::Path, total: usize) {
    let partial = env.assignments_at(&acc_scope()).await.len();
    assert!(
        (1..total).contains(&partial),
        "the stop must leave the assignments half done (found {partial} of {total})"
    );
    let run = env.keyless(&apply_args(m)).await;
    run.expect_code(0);
    assert!(!run.plan_actions().is_empty(), "{}", run.dump());
    let plan = env.keyless(&["plan", s(m), "--detailed-exitcode"]).await;
    plan.expect_code(0);
    assert_eq!(
        env.duplicate_assignments().await,
        vec![],
        "no duplicates after converging"
    );
    assert_eq!(env.assignments_at(&acc_scope()).await.len(), total);
}

fn six_principals(env: &Env) -> std::path::PathBuf {
    manifest("e2e", &[VM1, VM2], &[ME, ALICE, BOB, GROUP, VM1_P, VM2_P]).write(&env.dir, "m.yaml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_apply_converges_on_rerun() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = six_principals(&env);
    let run = apply_and_stop(&env, &m, Stop::Kill).await;
    assert_eq!(run.code, None, "killed by a signal\n{}", run.dump());
    assert!(run.events("applied").is_empty(), "{}", run.dump());
    assert_rerun_converges(&env, &m, 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_apply_exits_130_and_converges_on_rerun() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = six_principals(&env);
    let run = apply_and_stop(&env, &m, Stop::Interrupt).await;
    run.expect_code(130);
    let applied = run.events("applied");
    assert_eq!(applied.len(), 1, "{}", run.dump());
    assert_eq!(applied[0]["report"]["interrupted"], true, "{}", run.dump());
    // Everything started was reported as finished: in-flight writes completed.
    let started = run.events("actionStarted").len();
    let ended = run.events("actionFinished").len() + run.events("actionFailed").len();
    assert_eq!(started, ended, "in-flight actions finish\n{}", run.dump());
    // What had not started yet is reported skipped, not run.
    let skipped = run.events("actionSkipped");
    assert!(!skipped.is_empty(), "{}", run.dump());
    assert!(
        skipped.iter().all(|e| e["reason"] == "interrupted"),
        "{}",
        run.dump()
    );
    assert_rerun_converges(&env, &m, 6).await;
}

// ------------------------------------------------------------------------------------ 10

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detailed_exitcode_and_validate() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest("e2e", &[], &[ME]).write(&env.dir, "m.yaml");
    let run = env.keyless(&["plan", s(&m), "--detailed-exitcode"]).await;
    run.expect_code(2);
    assert!(!run.plan_actions().is_empty());
    // Without --detailed-exitcode a plan with changes is still a success.
    env.keyless(&["plan", s(&m)]).await.expect_code(0);
    env.keyless(&apply_args(&m)).await.expect_code(0);
    let run = env.keyless(&["plan", s(&m), "--detailed-exitcode"]).await;
    run.expect_code(0);
    assert!(run.plan_actions().is_empty());

    // validate: fine manifest → 0; a misspelt key → 1 with file:line:col.
    env.keyless(&["validate", s(&m)]).await.expect_code(0);
    let bad_text = manifest("e2e", &[], &[ME])
        .account(|a| a.misspell("resourceGroup", "resourcegroup"))
        .build();
    let bad = env.write("bad.yaml", &bad_text);
    let run = env.keyless(&["validate", s(&bad)]).await;
    run.expect_code(1);
    // Where the misspelt key stands in the file (line and column, 1-based).
    let (line, column) = bad_text
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find("resourcegroup: rg-e2e").map(|c| (i + 1, c + 1)))
        .unwrap();
    let want = format!("bad.yaml:{line}:{column}");
    assert!(
        run.stderr.contains(&want),
        "stderr names {want}\n{}",
        run.dump()
    );
    assert!(run.stderr.contains("resourcegroup"), "{}", run.dump());
}

/// Microsoft Graph throttles too: a 429 (with Retry-After) and a 503 on the principal lookups are
/// retried, and the plan still resolves every principal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_throttling_and_5xx_are_retried() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest("e2e", &[], &[ALICE, GROUP]).write(&env.dir, "m.yaml");
    env.put_faults(json!({
        "graph": true,
        "rules": [
            {"path": "^/v1.0/", "status": 429, "count": 1, "retryAfter": 1},
            {"path": "^/v1.0/", "status": 503, "count": 1}
        ]
    }))
    .await;
    let run = env.keyless(&["plan", s(&m), "--detailed-exitcode"]).await;
    run.expect_code(2);
    let graph: Vec<u16> = env
        .emu
        .requests()
        .iter()
        .filter(|r| r.route == "graph")
        .map(|r| r.status)
        .collect();
    assert_eq!(
        graph,
        vec![429, 503, 200],
        "graph statuses: {graph:?}\n{}",
        run.dump()
    );
    let assignments = run
        .plan_actions()
        .iter()
        .filter(|a| a["type"] == "createRoleAssignment" && a["spec"]["principal"]["id"].is_string())
        .count();
    assert_eq!(assignments, 2, "both principals resolved\n{}", run.dump());
}

/// Drift in an account's properties is patched back, and tags someone else added by hand are
/// kept (the PATCH replaces the tag map, so keyless merges with what is there at write time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_drift_is_patched_and_foreign_tags_survive() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest("e2e", &[], &[]).write(&env.dir, "m.yaml");
    env.keyless(&apply_args(&m)).await.expect_code(0);
    let path = format!("{}?api-version=2024-10-01", acc_scope());
    let (st, _) = env
        .arm(
            "PATCH",
            &path,
            Some(json!({"tags": {"keyless-manifest": "e2e", "owner": "finance"}, "properties": {"disableLocalAuth": false}})),
        )
        .await;
    assert!(st == 200 || st == 202, "hand PATCH: {st}");
    // wait until the hand-made update settled
    for _ in 0..50 {
        let a = env.get_account(RG, ACCOUNT).await.expect("account");
        if a["properties"]["provisioningState"] == "Succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = env.keyless(&apply_args(&m)).await;
    run.expect_code(0);
    assert_eq!(run.action_types(), vec!["updateAccount"], "{}", run.dump());
    let a = env.get_account(RG, ACCOUNT).await.expect("account");
    assert_eq!(a["properties"]["disableLocalAuth"], true, "{a}");
    assert_eq!(a["tags"]["owner"], "finance", "foreign tag kept: {a}");
    assert_eq!(a["tags"]["keyless-manifest"], "e2e", "{a}");
    env.keyless(&["plan", s(&m), "--detailed-exitcode"])
        .await
        .expect_code(0);
}

/// A principal the directory does not know stops the plan before anything is written, naming the
/// principal and pointing at its manifest line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_principal_is_a_located_error_and_nothing_is_written() {
    let env = Env::with(&WorldOpts::default()).await;
    let text = manifest(
        "e2e",
        &[],
        &[ALICE, Principal::User("ghost@contoso.onmicrosoft.com")],
    )
    .build();
    let m = env.write("m.yaml", &text);
    let before = env.emu.counters();
    let run = env.keyless(&apply_args(&m)).await;
    run.expect_code(1);
    let after = env.emu.counters();
    assert_eq!(
        (after.arm_writes, after.arm_deletes),
        (before.arm_writes, before.arm_deletes),
        "nothing may be written\n{}",
        run.dump()
    );
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("ghost@contoso.onmicrosoft.com")
            && all.contains("was not found in the directory"),
        "{}",
        run.dump()
    );
    let line = text.lines().position(|l| l.contains("ghost@")).unwrap() + 1;
    assert!(
        all.contains(&format!("m.yaml:{line}:")),
        "no file:line for the principal\n{}",
        run.dump()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_failures_say_what_entra_said_and_what_to_do() {
    // azure_identity reduces every refused token request to "request token error"; keyless must
    // show Entra's code and text, the fix for that code, and never the secret it sent.
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest("signin", &[], &[ALICE]).write(&env.dir, "m.yaml");
    let wrong = "not-the-secret-value-Xy9";
    /// (variables changed, Entra's code, a word of the fix).
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 2] = [
        (
            &[("AZURE_CLIENT_SECRET", wrong)],
            "AADSTS7000215",
            "*value*",
        ),
        (
            &[("AZURE_CLIENT_ID", "0a0a0a0a-0000-4000-8000-0000000000ff")],
            "AADSTS700016",
            "AZURE_CLIENT_ID",
        ),
    ];
    for (vars, code, fix) in cases {
        let args = ["plan", s(&m)];
        let run = env.collect(env.spawn_with(&args, vars, &[]), &args).await;
        let out = run.all_output();
        assert_eq!(run.code, Some(1), "{code}\n{}", run.dump());
        assert!(
            out.contains(code),
            "Entra's code {code} is shown\n{}",
            run.dump()
        );
        assert!(
            out.contains(fix),
            "the fix for {code} is shown\n{}",
            run.dump()
        );
        assert!(
            !out.contains(wrong),
            "the secret sent is never shown\n{}",
            run.dump()
        );
    }
    assert_eq!(env.arm_mutations(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_exits_at_once_and_a_rerun_converges() {
    // The account takes a minute to provision. The first Ctrl-C lets that operation finish (so
    // keyless keeps waiting); the second must end keyless at once with 130, and a re-run must
    // converge once the account is ready.
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest("e2e", &[], &[ALICE]).write(&env.dir, "m.yaml");
    env.set_provisioning(60.0);
    let (mut child, mut events) = env.spawn_events(&apply_args(&m));
    let pid = child.id().expect("pid");
    events
        .wait_for(
            Duration::from_secs(60),
            "the account creation started",
            |e| e["event"] == "actionStarted" && e["type"] == "createAccount",
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    sigint(pid);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "after one Ctrl-C keyless waits for the account it is creating"
    );
    let t = std::time::Instant::now();
    sigint(pid);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("a second Ctrl-C ends keyless promptly")
        .expect("wait");
    assert_eq!(status.code(), Some(130), "exit 130 after {:?}", t.elapsed());
    let _ = tokio::time::timeout(Duration::from_secs(5), events.drain()).await;
    assert!(
        events.raw.contains("\"interruptedAgain\""),
        "a JSON event says so\n{}",
        events.raw
    );

    // Azure finishes what it accepted; then a re-run converges.
    {
        let mut st = env.emu.ctx().state.lock();
        st.arm.settings.provisioning_seconds = 0.2;
        for a in st.arm.accounts.iter_mut() {
            a.ready_at = 0.0;
        }
    }
    env.keyless(&apply_args(&m)).await.expect_code(0);
    let plan = env.keyless(&["plan", s(&m), "--detailed-exitcode"]).await;
    assert_eq!(plan.code, Some(0), "{}", plan.dump());
    one_owned(&env, ALICE_OID, "User", "e2e").await;
}
