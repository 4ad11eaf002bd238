//! Golden files for the two documents keyless hands to other programs: the saved plan file and
//! the `--output json` event stream. A change to either shows up here as a diff to review (and,
//! if incompatible, a version bump). `UPDATE_EXPECT=1 cargo test --test golden` rewrites them.

use keyless::apply::{ActionStatus, ApplyEvent, ApplyReport, Finished};
use keyless::azure::error::AzureError;
use keyless::engine::{Event, Problem, RunEvent, SavedManifestPlan, SavedPlan};
use keyless::model::{Desired, Observed};
use keyless::verify::{ProbeOutcome, ProbeRow, VerifyEvent, VerifyReport};
use serde_json::json;
use std::path::Path;

fn check(name: &str, fresh: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, fresh).expect("write golden");
        return;
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        golden == fresh,
        "tests/golden/{name} differs (review, then UPDATE_EXPECT=1 cargo test --test golden):\n--- golden\n{golden}\n--- now\n{fresh}"
    );
}

const SUB: &str = "00000000-0000-0000-0000-000000000001";

/// The fixed scenario: a resource group to create, an account to create with one deployment, a
/// VM with a user-assigned identity and no system one, a user and that VM to assign, and an
/// owned assignment the manifest no longer declares (prune).
fn scenario() -> (Desired, Observed) {
    let scope = format!("/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.CognitiveServices/accounts/oai-app");
    let role = format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/5e0bd9bd-7b93-4f28-af87-19fc36ad61bd");
    let desired: Desired = serde_json::from_value(json!({
        "manifest": "app", "subscription": SUB, "prune": true,
        "resourceGroups": [{"name": "rg-app", "location": "swedencentral", "tags": {"team": "app"}}],
        "accounts": [{
            "name": "oai-app", "resourceGroup": "rg-app", "location": "swedencentral",
            "kind": "OpenAI", "sku": "S0", "customSubdomain": "app-contoso",
            "disableLocalAuth": true, "publicNetworkAccess": "Enabled", "onSoftDeleted": "fail",
            "tags": {}, "deployments": [{"name": "chat", "modelName": "gpt-4o-mini",
                "modelVersion": "2024-07-18", "modelFormat": "OpenAI", "skuName": "GlobalStandard", "capacity": 10}]
        }],
        "vmIdentities": [{"resourceGroup": "rg-ci", "name": "agent-1"}],
        "assignments": [
            {"scope": scope, "roleDefinitionId": role, "roleName": "Cognitive Services OpenAI User",
             "principal": {"kind": "known", "id": "11111111-1111-1111-1111-111111111111",
                "principalType": "User", "display": "user:alice@contoso.com", "isSelf": false},
             "description": null},
            {"scope": scope, "roleDefinitionId": role, "roleName": "Cognitive Services OpenAI User",
             "principal": {"kind": "vmIdentity", "vm": {"resourceGroup": "rg-ci", "name": "agent-1"}},
             "description": "build agents"}
        ]
    }))
    .expect("desired fixture");
    let observed: Observed = serde_json::from_value(json!({
        "resourceGroups": {"rg-app": null},
        "accounts": {"rg-app/oai-app": {"state": "missing", "subdomainAvailable": true, "reason": null}},
        "vms": {"rg-ci/agent-1": {"os": "Linux", "location": "swedencentral", "systemPrincipalId": null,
            "userAssigned": ["/subscriptions/x/resourceGroups/rg-ci/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ci"]}},
        "assignments": {scope.to_ascii_lowercase(): [{
            "id": format!("{scope}/providers/Microsoft.Authorization/roleAssignments/22222222-2222-2222-2222-222222222222"),
            "name": "22222222-2222-2222-2222-222222222222", "scope": scope, "roleDefinitionId": role,
            "principalId": "33333333-3333-3333-3333-333333333333", "principalType": "User",
            "description": "keyless:manifest=app"}]}
    }))
    .expect("observed fixture");
    (desired, observed)
}

#[test]
fn the_saved_plan_file_of_the_fixed_scenario() {
    let (desired, observed) = scenario();
    let plan = keyless::plan::plan(&desired, &observed);
    let mut saved = SavedPlan::new(vec![SavedManifestPlan {
        path: "manifests/app.yaml".into(),
        desired,
        plan,
        verify: None,
        emulator_world: None,
    }]);
    saved.keyless_version = "(version)".into();
    saved.created_at = "2026-01-01T00:00:00Z".into();
    let text = serde_json::to_string_pretty(&saved).expect("serialises") + "\n";
    check("plan-file.json", &text);
    // What is written reads back as the same plan.
    let back: SavedPlan = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back.manifests[0].plan, saved.manifests[0].plan);
}

/// One of each event the JSON stream carries, in the order a run emits them.
fn catalog() -> Vec<Event> {
    let error = AzureError::new("create role assignment", 403, "AuthorizationFailed", "no");
    let report = ApplyReport {
        results: [
            (0, ActionStatus::Done { elapsed_ms: 1200 }),
            (1, ActionStatus::Adopted { elapsed_ms: 80 }),
            (
                2,
                ActionStatus::Failed {
                    error: error.clone(),
                },
            ),
            (
                3,
                ActionStatus::Skipped {
                    reason: "a prerequisite failed".into(),
                },
            ),
        ]
        .into_iter()
        .collect(),
        vm_principals: [(
            "rg-ci/agent-1".to_string(),
            "44444444-4444-4444-4444-444444444444".to_string(),
        )]
        .into_iter()
        .collect(),
        interrupted: false,
    };
    let outcome = ProbeOutcome::Verified {
        time_to_access_secs: 3.5,
    };
    let (desired, observed) = scenario();
    let plan = keyless::plan::plan(&desired, &observed);
    let problem = Problem {
        code: Some("immutable-subdomain".into()),
        message: "custom subdomain is `a` in Azure, `b` in the manifest; it cannot be changed"
            .into(),
        file: Some("manifests/app.yaml".into()),
        line: Some(9),
        column: Some(22),
        length: Some(1),
        help: Some("put the existing subdomain back".into()),
    };
    vec![
        RunEvent::Warning { problem: problem.clone() }.into(),
        RunEvent::SignedIn {
            caller: serde_json::from_value(json!({"objectId": "55555555-5555-5555-5555-555555555555",
                "tenantId": "66666666-6666-6666-6666-666666666666", "display": "app-id", "principalType": "ServicePrincipal"})).unwrap(),
            method: "workload-identity".into(),
            cloud: "AzureCloud".into(),
            subscription: SUB.into(),
        }
        .into(),
        RunEvent::Plan { manifest: "app".into(), path: "manifests/app.yaml".into(), plan, problems: vec![problem.clone()] }.into(),
        ApplyEvent::ActionStarted { id: 0, kind: "createResourceGroup".into(), symbol: "+".into(), target: "rg".into() }.into(),
        ApplyEvent::ActionProgress { id: 0, detail: "Creating".into() }.into(),
        ApplyEvent::ActionWaiting { id: 1, target: "acc".into(), reason: "AccountProvisioningStateInvalid".into() }.into(),
        ApplyEvent::ActionFinished { id: 0, target: "rg".into(), outcome: Finished::Done, elapsed_ms: 1200, symbol: "+".into() }.into(),
        ApplyEvent::ActionFailed { id: 2, target: "assignment".into(), error: error.clone(), symbol: "+".into() }.into(),
        ApplyEvent::ActionSkipped { id: 3, target: "deployment".into(), reason: "a prerequisite failed".into() }.into(),
        ApplyEvent::Interrupted {}.into(),
        RunEvent::Applied { manifest: "app".into(), report, requests: Default::default() }.into(),
        RunEvent::error(&miette::Report::new(error)).into(),
        VerifyEvent::ProbeStarted { principal: "self".into(), account: "oai-app".into(), via: "direct".into() }.into(),
        VerifyEvent::ProbeState { principal: "self".into(), account: "oai-app".into(), state: "propagating".into(), detail: "401 PermissionDenied".into(), elapsed_ms: 500 }.into(),
        VerifyEvent::Probe { principal: "self".into(), account: "oai-app".into(), state: "verified".into(), outcome: outcome.clone() }.into(),
        RunEvent::Verified { manifest: "app".into(), report: VerifyReport { rows: vec![ProbeRow { principal: "self".into(), account: "oai-app".into(), roles: vec!["Cognitive Services OpenAI User".into()], outcome }] } }.into(),
        RunEvent::Requests { subscription: SUB.into(), counts: Default::default() }.into(),
        RunEvent::InterruptedAgain { exit_code: 130 }.into(),
    ]
}

#[test]
fn the_json_line_of_every_event() {
    std::env::set_var("NO_COLOR", "1");
    let mut text = String::new();
    for e in catalog() {
        if let Some(line) = keyless::cli::render::json_line(&e) {
            // the human rendering inside `error.detail` depends on the terminal: pin the rest
            let mut v = serde_json::Value::Object(line);
            if v["event"] == "error" {
                v["detail"] = json!("(rendered diagnostic)");
            }
            text.push_str(&serde_json::to_string(&v).unwrap());
            text.push('\n');
        }
    }
    check("events.jsonl", &text);
    // Progress-only events never reach the stream.
    assert!(!text.contains("actionProgress") && !text.contains("probeStarted"));
    // Every line reads back as a typed event.
    for line in text.lines() {
        let e: Event = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(!e.is_progress_only());
    }
}

/// A real run's stream: every line is a typed event with a time and the schema version.
#[test]
fn a_real_plan_streams_typed_events() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/quickstart.yaml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyless"))
        .args(["plan", "--emulator", "--output", "json"])
        .arg(&manifest)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run keyless");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut names = Vec::new();
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["schemaVersion"], 1, "{line}");
        assert!(v["time"].is_string(), "{line}");
        let e: Event = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(!e.is_progress_only());
        names.push(v["event"].as_str().unwrap().to_string());
    }
    assert_eq!(names, ["signedIn", "plan", "requests"]);
}

/// The Markdown plan (PR comment, step summary) of the fixed scenario, and of a plan with errors.
#[test]
fn the_markdown_plan_of_the_fixed_scenario() {
    use keyless::cli::markdown::{plan_markdown, PlannedManifest};
    let (desired, observed) = scenario();
    let plan = keyless::plan::plan(&desired, &observed);
    let mut broken = plan.clone();
    broken.errors.push(keyless::plan::PlanError {
        code: "immutable-subdomain".into(),
        target: "oai-app".into(),
        message: "custom subdomain is `a` in Azure, `b` in the manifest; it cannot be changed"
            .into(),
        help: "put the existing subdomain back".into(),
        manifest_path: Some("accounts[name=oai-app].customSubdomain".into()),
    });
    let problem = Problem {
        code: Some("immutable-subdomain".into()),
        message: broken.errors[0].message.clone(),
        file: Some("manifests/b.yaml".into()),
        line: Some(9),
        column: Some(22),
        length: Some(1),
        help: Some("put the existing subdomain back".into()),
    };
    let empty = keyless::plan::plan(&desired, &observed_after(&desired, &observed));
    assert!(
        empty.is_empty(),
        "the third manifest is in place: {:?}",
        empty.actions
    );
    let md = plan_markdown(&[
        PlannedManifest {
            manifest: "app",
            path: "manifests/app.yaml",
            plan: &plan,
            problems: &[],
        },
        PlannedManifest {
            manifest: "b",
            path: "manifests/b.yaml",
            plan: &broken,
            problems: std::slice::from_ref(&problem),
        },
        PlannedManifest {
            manifest: "c",
            path: "manifests/c.yaml",
            plan: &empty,
            problems: &[],
        },
    ]);
    check("plan.md", &md);
}

/// The scenario once everything is in place and the owned stale assignment is gone (pruned).
fn observed_after(desired: &Desired, observed: &Observed) -> Observed {
    let scope = desired.accounts[0].id(SUB).to_ascii_lowercase();
    let mut v = serde_json::to_value(observed).unwrap();
    v["assignments"][&scope] = json!([]);
    v["resourceGroups"]["rg-app"] = json!({"location": "swedencentral", "tags": {"team": "app"}});
    v["accounts"]["rg-app/oai-app"] = json!({"state": "live", "kind": "OpenAI", "sku": "S0", "location": "swedencentral",
        "customSubdomain": "app-contoso", "disableLocalAuth": true, "publicNetworkAccess": "Enabled", "endpoint": "https://app-contoso.openai.azure.com/",
        "provisioningState": "Succeeded", "tags": {},
        "deployments": {"chat": {"name": "chat", "modelName": "gpt-4o-mini", "modelVersion": "2024-07-18", "modelFormat": "OpenAI", "skuName": "GlobalStandard", "capacity": 10}}});
    v["vms"]["rg-ci/agent-1"]["systemPrincipalId"] = json!("44444444-4444-4444-4444-444444444444");
    let mut o: Observed = serde_json::from_value(v).unwrap();
    let role = desired.assignments[0].role_definition_id.clone();
    let list = o.assignments.get_mut(&scope).unwrap();
    for pid in [
        "11111111-1111-1111-1111-111111111111",
        "44444444-4444-4444-4444-444444444444",
    ] {
        list.push(serde_json::from_value(json!({"id": format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{pid}"),
            "name": pid, "scope": scope, "roleDefinitionId": role, "principalId": pid, "principalType": null, "description": null})).unwrap());
    }
    o
}
