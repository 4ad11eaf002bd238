//! Fault injection: the real `keyless` binary against an emulator that misbehaves — SIGKILL at
//! random points, 5xx and connection resets, a 429 storm, tokens that expire in seconds, and
//! concurrent applies — with `prune: true` and hand-made assignments at the same scopes.
//!
//! After every scenario the same invariants are checked (`assert_converged`):
//! - `keyless plan --detailed-exitcode` exits 0 (Azure matches the manifest);
//! - no (scope, role, principal) is assigned twice anywhere;
//! - every assignment carrying this manifest's marker is named by keyless's deterministic
//!   UUIDv5 of (scope, role, principal), and there are exactly as many as the manifest wants
//!   (minus the one a hand-made duplicate already satisfies);
//! - hand-made assignments at the same scopes (unmarked, another manifest's marker, a marker
//!   that merely starts with this manifest's name, a hand-made duplicate of a desired one) are
//!   untouched, byte for byte; the one stale assignment this manifest owns is pruned.
//!
//! Randomness (kill points) comes from one seed, printed by the test; set
//! `KEYLESS_FAULTS_SEED=<n>` to replay a failure.

mod common;

use common::*;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MANIFEST: &str = "faults";
const RG_F1: &str = "rg-f1";
/// Role GUIDs used by hand-made assignments only.
const VM_CONTRIBUTOR: &str = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c";
const COG_CONTRIBUTOR: &str = "25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68";
const ROLES: [&str; 4] = [
    "Cognitive Services OpenAI User",
    "Cognitive Services OpenAI Contributor",
    "Cognitive Services User",
    "Reader",
];
/// 4 scopes × 4 roles × 5 principals.
const DESIRED: usize = 80;

/// The manifest: two resource groups (one pre-existing with the VMs, one keyless creates), two
/// accounts, two VM identities, and 80 role assignments; prune on; verification off.
fn manifest() -> ManifestBuilder {
    let principals = [
        Principal::User(ALICE_UPN),
        Principal::User(BOB_UPN),
        Principal::Group(GROUP_NAME),
        Principal::Vm(VM1),
        Principal::Vm(VM2),
    ];
    let scopes = [
        Scope::ResourceGroup(RG_CI),
        Scope::ResourceGroup(RG_F1),
        Scope::Account("acc-f1"),
        Scope::Account("acc-f2"),
    ];
    let m = ManifestBuilder::new(MANIFEST)
        .prune(true)
        .verify_off()
        .resource_group(RG_CI)
        .resource_group(RG_F1)
        .with_account(Account::new("acc-f1", RG_F1, "kl-faults-f1"))
        .with_account(Account::new("acc-f2", RG_F1, "kl-faults-f2"))
        .ci_vm_identities(&[VM1, VM2]);
    scopes
        .iter()
        .flat_map(|scope| ROLES.iter().map(move |role| (role, *scope)))
        .fold(m, |m, (role, scope)| m.assign(role, scope, &principals))
}

fn seed() -> u64 {
    let s = std::env::var("KEYLESS_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("fault-injection RNG seed: {s} (replay with KEYLESS_FAULTS_SEED={s})");
    s
}

/// An emulator for the fault scenarios (`extra` world keys, e.g. throttling) plus the manifest.
async fn setup(extra: &str) -> (Env, PathBuf) {
    let env = Env::with(&WorldOpts {
        extra,
        ..Default::default()
    })
    .await;
    let path = manifest().write(&env.dir, "faults.yaml");
    (env, path)
}

/// Hand-made assignments at the manifest's scopes.
struct Seeded {
    /// Must survive unchanged: (name, full state entry).
    keep: Vec<(String, Value)>,
    /// Carries this manifest's marker but is not declared: prune must delete it.
    stale_owned: String,
    /// Desired assignments satisfied by hand-made duplicates (adopted, so not owned).
    adopted: usize,
}

/// The emulator's stored role assignment named `name` (as JSON), if any.
fn stored(env: &Env, name: &str) -> Option<Value> {
    let st = env.emu.ctx().state.lock();
    st.arm
        .role_assignments
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .map(|a| serde_json::to_value(a).expect("assignment serialises"))
}

/// Back to the world (fast LROs), `rg-f1` created by hand, hand-made assignments seeded.
async fn reset_and_seed(env: &Env) -> Seeded {
    env.reset().await;
    env.set_provisioning(0.2);
    let (s, v) = env
        .arm(
            "PUT",
            &format!("{}?api-version=2021-04-01", rg_id(RG_F1)),
            Some(json!({"location": "eastus"})),
        )
        .await;
    assert!(s == 201 || s == 200, "creating {RG_F1}: {s} {v}");
    let rg_ci = rg_id(RG_CI);
    let rg_f1 = rg_id(RG_F1);
    let mut keep = Vec::new();
    // Unmarked, a role the manifest does not use.
    keep.push(
        env.create_assignment(
            &rg_ci,
            VM_CONTRIBUTOR,
            ALICE_OID,
            "User",
            Some("made by hand"),
        )
        .await,
    );
    // A hand-made duplicate of a desired assignment (adopted through 409, never modified).
    keep.push(
        env.create_assignment(&rg_f1, OPENAI_USER, ALICE_OID, "User", None)
            .await,
    );
    // Another manifest's marker, and a marker that only starts with this manifest's name.
    keep.push(
        env.create_assignment(
            &rg_f1,
            COG_CONTRIBUTOR,
            BOB_OID,
            "User",
            Some("keyless:manifest=faults-other"),
        )
        .await,
    );
    keep.push(
        env.create_assignment(
            &rg_ci,
            COG_CONTRIBUTOR,
            GROUP_OID,
            "Group",
            Some("team access keyless:manifest=other"),
        )
        .await,
    );
    let stale_owned = env
        .create_assignment(
            &rg_f1,
            VM_CONTRIBUTOR,
            GROUP_OID,
            "Group",
            Some("keyless:manifest=faults"),
        )
        .await;
    let keep = keep
        .into_iter()
        .map(|n| {
            let v = stored(env, &n).expect("seeded assignment stored");
            (n, v)
        })
        .collect();
    env.emu.ctx().obs.reset_counters();
    env.emu.ctx().obs.clear_log();
    Seeded {
        keep,
        stale_owned,
        adopted: 1,
    }
}

/// The invariants every fault scenario must end in (see the module docs).
async fn assert_converged(env: &Env, manifest: &Path, seeded: &Seeded, what: &str) {
    env.put_faults(json!({})).await;
    let plan = env
        .keyless(&["plan", s(manifest), "--detailed-exitcode"])
        .await;
    assert_eq!(
        plan.code,
        Some(0),
        "{what}: plan --detailed-exitcode after the scenario: still changes\n{:#?}\n{}",
        plan.plan_actions(),
        plan.dump()
    );
    let dups = env.duplicate_assignments().await;
    assert!(dups.is_empty(), "{what}: duplicate assignments {dups:?}");
    let all: Vec<keyless_emulator::model::arm::assignments::RoleAssignment> =
        env.emu.ctx().state.lock().arm.role_assignments.clone();
    let owned: Vec<_> = all
        .iter()
        .filter(|a| keyless::model::is_owned_by(a.description.as_deref(), MANIFEST))
        .collect();
    for a in &owned {
        let want =
            keyless::model::assignment_name(&a.scope, &a.role_definition_id, &a.principal_id);
        assert_eq!(
            a.name, want,
            "{what}: owned assignment {} at {} is not named by the deterministic UUIDv5",
            a.name, a.scope
        );
    }
    assert_eq!(
        owned.len(),
        DESIRED - seeded.adopted,
        "{what}: owned assignments ({DESIRED} desired, {} satisfied by adopted hand-made duplicates)",
        seeded.adopted
    );
    for (name, before) in &seeded.keep {
        let now = stored(env, name);
        assert_eq!(
            now.as_ref(),
            Some(before),
            "{what}: hand-made assignment {name} was touched"
        );
    }
    assert!(
        stored(env, &seeded.stale_owned).is_none(),
        "{what}: the stale owned assignment was not pruned"
    );
}

/// Where to kill an apply.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// After this long.
    Delay(Duration),
    /// After this fraction (0, 1] of the planned actions reported `actionFinished`.
    Fraction(f64),
}

/// Runs `apply` and SIGKILLs it at `at`. Returns how many actions had finished, or `None` when
/// the run ended by itself before the kill point (not counted as a kill).
async fn apply_and_kill(env: &Env, manifest: &Path, at: KillAt) -> Option<usize> {
    let (mut child, mut events) = env.spawn_events(&["apply", s(manifest), "--no-verify"]);
    let mut finished = 0;
    let delay = match at {
        KillAt::Delay(d) => d,
        KillAt::Fraction(_) => Duration::from_secs(60),
    };
    let _ = tokio::time::timeout(delay, async {
        let mut k = usize::MAX;
        while let Some(e) = events.next().await {
            if let (KillAt::Fraction(f), "plan") = (at, e["event"].as_str().unwrap_or("")) {
                let n = e["plan"]["actions"].as_array().map_or(0, Vec::len);
                k = ((n as f64 * f).ceil() as usize).max(1);
            }
            if e["event"] == "actionFinished" {
                finished += 1;
                if finished >= k {
                    break;
                }
            }
        }
    })
    .await;
    let exited_already = child.try_wait().expect("try_wait").is_some();
    child.start_kill().ok();
    let _ = child.wait().await;
    (!exited_already).then_some(finished)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_then_rerun_converges() {
    let t0 = Instant::now();
    let seed = seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (env, path) = setup("throttling: { enabled: false }").await;
    // How long a full apply takes here, to spread the kill points over it.
    let seeded = reset_and_seed(&env).await;
    let full = env.keyless(&["apply", s(&path), "--no-verify"]).await;
    full.expect_code(0);
    assert_converged(&env, &path, &seeded, "baseline").await;
    let span = full.elapsed.as_millis().max(500) as u64;
    println!("a full apply takes {:?}", full.elapsed);

    let mut kills = 0;
    let mut round = 0;
    while kills < 26 {
        round += 1;
        let seeded = reset_and_seed(&env).await;
        // Two or three kills per round at growing points, then a run to completion.
        let per_round = rng.gen_range(2..=3);
        for _ in 0..per_round {
            let at = if rng.gen_bool(0.5) {
                KillAt::Delay(Duration::from_millis(rng.gen_range(0..span)))
            } else {
                KillAt::Fraction(rng.gen_range(0.01..1.0))
            };
            match apply_and_kill(&env, &path, at).await {
                Some(done) => {
                    kills += 1;
                    println!("round {round}: kill #{kills} at {at:?}, {done} actions had finished");
                }
                None => println!("round {round}: at {at:?} the apply had already finished"),
            }
        }
        let run = env.keyless(&["apply", s(&path), "--no-verify"]).await;
        assert_eq!(
            run.code,
            Some(0),
            "seed {seed}, round {round}: re-run after kills did not converge\n{}",
            run.dump()
        );
        assert_converged(&env, &path, &seeded, &format!("seed {seed}, round {round}")).await;
    }
    println!("{kills} kills in {round} rounds, {:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundreds_and_resets_converge_in_one_apply() {
    let (env, path) = setup("").await;
    let seeded = reset_and_seed(&env).await;
    env.put_faults(json!({"errorRate": 0.10, "resetRate": 0.02}))
        .await;
    let run = env.keyless(&["apply", s(&path), "--no-verify"]).await;
    let c = env.emu.counters();
    println!(
        "faults injected: {} of {} ARM requests",
        c.faults_injected,
        c.arm_reads + c.arm_writes + c.arm_deletes
    );
    assert_eq!(
        run.code,
        Some(0),
        "one apply under 10 % 5xx + 2 % resets must converge with no manual step\n{}",
        run.dump()
    );
    assert!(c.faults_injected > 0, "no fault was injected");
    assert_converged(&env, &path, &seeded, "5xx + resets").await;
}

/// Azure's worst case for a client: the write is committed, the response is lost. keyless
/// retries; deterministic assignment names make the retried PUT the same resource, so nothing
/// is duplicated and the apply still converges in one run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_lost_after_commit_converge_without_duplicates() {
    let (env, path) = setup("").await;
    let seeded = reset_and_seed(&env).await;
    env.put_faults(json!({
        "resetAfterRate": 0.05,
        "rules": [{"path": "roleAssignments/", "method": "PUT", "status": 0, "after": true, "count": 3}]
    }))
    .await;
    let run = env.keyless(&["apply", s(&path), "--no-verify"]).await;
    let lost = env
        .emu
        .requests()
        .iter()
        .filter(|e| e.injected.as_deref() == Some("reset-after-commit"))
        .count();
    assert!(
        lost >= 3,
        "the rule must have dropped 3 committed responses, saw {lost}"
    );
    assert_eq!(
        run.code,
        Some(0),
        "one apply with lost responses must converge\n{}",
        run.dump()
    );
    assert_converged(&env, &path, &seeded, "responses lost after commit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_of_429_is_waited_out_within_retry_after() {
    const STORM: f64 = 4.0;
    const RETRY_AFTER: f64 = 2.0;
    const PARALLELISM: usize = 8;
    let (env, path) = setup("").await;
    let seeded = reset_and_seed(&env).await;
    let start = env.emu.ctx().now();
    env.put_faults(json!({"storm": {"seconds": STORM, "retryAfter": RETRY_AFTER as u64}}))
        .await;
    let run = env
        .keyless(&[
            "apply",
            s(&path),
            "--no-verify",
            "--parallelism",
            &PARALLELISM.to_string(),
        ])
        .await;
    run.expect_code(0);
    let log: Vec<_> = env
        .emu
        .requests()
        .into_iter()
        .filter(|e| e.route == "arm" && e.unix >= start)
        .collect();
    let throttled = log
        .iter()
        .filter(|e| e.injected.as_deref() == Some("throttled"))
        .count();
    // Each in-flight request may be refused at most once per Retry-After window.
    let bound = PARALLELISM * ((STORM / RETRY_AFTER) as usize + 1);
    println!("{throttled} requests answered 429 during the {STORM} s storm (bound {bound})");
    assert!(throttled > 0, "the storm refused nothing");
    assert!(
        throttled <= bound,
        "{throttled} requests were refused with 429 during a {STORM} s storm with Retry-After {RETRY_AFTER} s at parallelism {PARALLELISM}: keyless retried faster than Retry-After allows (bound {bound})"
    );
    // Per resource: after a 429, the next request for the same (method, path) waits Retry-After.
    let mut last_429: BTreeMap<(String, String), f64> = BTreeMap::new();
    for e in &log {
        let key = (e.method.clone(), e.path.clone());
        if let Some(t) = last_429.get(&key) {
            assert!(
                e.unix - t >= RETRY_AFTER - 0.05,
                "{} {} was retried {:.2} s after a 429 with Retry-After {RETRY_AFTER}",
                e.method,
                e.path,
                e.unix - t
            );
        }
        if e.injected.as_deref() == Some("throttled") {
            last_429.insert(key, e.unix);
        } else {
            last_429.remove(&key);
        }
    }
    assert_converged(&env, &path, &seeded, "429 storm").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expiring_in_seconds_are_refreshed_mid_apply() {
    let (env, path) = setup("").await;
    let seeded = reset_and_seed(&env).await;
    env.set_token_lifetime("3s").await;
    // ~0.15 s per ARM request at parallelism 2: the apply outlives several tokens.
    env.put_faults(json!({"latencyMs": "150"})).await;
    let run = env
        .keyless(&["apply", s(&path), "--no-verify", "--parallelism", "2"])
        .await;
    let c = env.emu.counters();
    let unauthorized = env
        .emu
        .requests()
        .iter()
        .filter(|e| e.status == 401)
        .count();
    println!(
        "apply took {:?}; {} token requests; {unauthorized} requests answered 401",
        run.elapsed, c.token_requests
    );
    run.expect_code(0);
    assert!(
        run.elapsed > Duration::from_secs(7),
        "the apply must outlive two token lifetimes to test refresh ({:?})",
        run.elapsed
    );
    assert!(
        c.token_requests >= 3,
        "3 s tokens over {:?} need refreshing; only {} token requests",
        run.elapsed,
        c.token_requests
    );
    assert_eq!(unauthorized, 0, "an expired token reached Azure");
    env.set_token_lifetime("3600s").await;
    assert_converged(&env, &path, &seeded, "short-lived tokens").await;
}

async fn concurrent_applies(n: usize) {
    let (env, path) = setup("").await;
    let seeded = reset_and_seed(&env).await;
    // Account creations take 1.5 s, so the applies' account writes overlap on every run (not
    // only on an unlucky one): each must wait out the others' operations (tests/another_writer.rs
    // pins each such conflict down on its own).
    env.set_provisioning(1.5);
    let children: Vec<_> = (0..n)
        .map(|_| env.spawn(&["apply", s(&path), "--no-verify"]))
        .collect();
    // Drain every child's pipes at once: read one after the other, a child whose output (the
    // plan event alone is > 64 KiB here) fills its pipe blocks until the ones before it exit,
    // and the applies silently run one after the other instead of concurrently.
    let outputs = futures::future::join_all(
        children
            .into_iter()
            .map(|c| tokio::time::timeout(RUN_TIMEOUT, c.wait_with_output())),
    )
    .await;
    let mut codes = Vec::new();
    let mut dumps = Vec::new();
    for out in outputs {
        let out = out
            .expect("concurrent apply finished in time")
            .expect("wait");
        codes.push(out.status.code());
        // The failures only: the plan event alone is ~100 KiB per apply.
        let stdout = String::from_utf8_lossy(&out.stdout);
        let failures: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains("\"event\":\"actionFailed\"") || l.contains("\"errors\":[{"))
            .collect();
        dumps.push(format!(
            "--- exit {:?}\n{}\n{}",
            out.status.code(),
            failures.join("\n"),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let c = env.emu.counters();
    println!(
        "{n} concurrent applies exited {codes:?}; {} ARM writes, {} answered 429",
        c.arm_writes, c.throttled
    );
    assert!(
        codes.iter().all(|c| *c == Some(0)),
        "{n} concurrent applies of one manifest must each succeed: {codes:?}\n{}",
        dumps.join("\n")
    );
    assert_converged(&env, &path, &seeded, &format!("{n} concurrent applies")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_applies_converge() {
    concurrent_applies(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_concurrent_applies_converge() {
    concurrent_applies(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_made_by_hand_mid_apply_is_adopted_not_duplicated() {
    // keyless's PUT of (rg-f1, Reader, Bob) fails once with 503 + Retry-After 3; in that window
    // someone creates the same assignment by hand under another name. keyless's retry then meets
    // 409 RoleAssignmentExists and must adopt it: exit 0, no duplicate, the hand-made one intact.
    let (env, path) = setup("").await;
    let mut seeded = reset_and_seed(&env).await;
    let scope = rg_id(RG_F1);
    let name = keyless::model::assignment_name(&scope, READER, BOB_OID);
    env.put_faults(json!({"rules": [
        {"path": format!("{name}$"), "method": "PUT", "status": 503, "count": 1, "retryAfter": 3}
    ]}))
    .await;
    let (mut child, mut events) = env.spawn_events(&["apply", s(&path), "--no-verify"]);
    let reader = tokio::spawn(async move {
        let mut evs = Vec::new();
        while let Some(e) = events.next().await {
            evs.push(e);
        }
        evs
    });
    env.until_fault_hit("PUT", &name).await;
    let by_hand = env
        .create_assignment(
            &scope,
            READER,
            BOB_OID,
            "User",
            Some("made by hand mid-apply"),
        )
        .await;
    let status = tokio::time::timeout(RUN_TIMEOUT, child.wait())
        .await
        .expect("apply finished")
        .expect("wait");
    let evs = reader.await.expect("events");
    assert_eq!(
        status.code(),
        Some(0),
        "apply must adopt the hand-made duplicate: {evs:#?}"
    );
    assert!(
        evs.iter()
            .any(|e| e["event"] == "actionFinished" && e["outcome"] == "adopted"),
        "no action reported `adopted`"
    );
    seeded.keep.push((
        by_hand.clone(),
        stored(&env, &by_hand).expect("hand-made stored"),
    ));
    seeded.adopted += 1;
    assert_converged(&env, &path, &seeded, "hand-made duplicate mid-apply").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_outages_are_retried() {
    // Entra answers keyless's token requests 503 (AADSTS90033) twice, drops one connection and
    // throttles one (429): azure_identity sends token requests outside any retry policy, so
    // keyless's transport must retry them, or the whole apply fails on a transient blip.
    let (env, path) = setup("").await;
    let seeded = reset_and_seed(&env).await;
    let token = "oauth2/v2.0/token$";
    env.put_faults(json!({"entra": true, "rules": [
        {"path": token, "method": "POST", "status": 503, "count": 2, "retryAfter": 1},
        {"path": token, "method": "POST", "status": 0, "count": 1},
        {"path": token, "method": "POST", "status": 429, "count": 1, "retryAfter": 1},
    ]}))
    .await;
    let run = env.keyless(&["apply", s(&path), "--no-verify"]).await;
    let injected = env
        .emu
        .requests()
        .iter()
        .filter(|e| e.path.ends_with("/oauth2/v2.0/token") && e.injected.is_some())
        .count();
    run.expect_code(0);
    assert_eq!(
        injected, 4,
        "every token fault must have reached keyless (else this tests nothing)"
    );
    assert_converged(&env, &path, &seeded, "token endpoint outages").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_down_fails_clearly_and_soon() {
    // Entra is down for good: keyless gives up after its retries, with Entra's error, and
    // changes nothing.
    let (env, path) = setup("").await;
    reset_and_seed(&env).await;
    env.put_faults(json!({"entra": true, "rules": [
        {"path": "oauth2/v2.0/token$", "method": "POST", "status": 503, "count": 1000, "retryAfter": 1},
    ]}))
    .await;
    let run = env.keyless(&["apply", s(&path), "--no-verify"]).await;
    run.expect_code(1);
    let out = run.all_output();
    assert!(
        out.contains("AADSTS90033") || out.contains("temporarily_unavailable"),
        "Entra's error is shown\n{}",
        run.dump()
    );
    run.expect_faster_than(Duration::from_secs(60), "bounded retries, not a hang");
    assert_eq!(env.arm_mutations(), 0, "nothing was written");
}
