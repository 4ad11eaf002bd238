//! Persistence across restarts (state + signing key), reset, and the admin API views.

mod common;

use common::*;
use keyless_emulator::auth;
use keyless_emulator::http::Req;
use keyless_emulator::EmulatorConfig;
use serde_json::{json, Value};

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "keyless-emu-test-{name}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn cfg_with_state(path: &std::path::Path) -> EmulatorConfig {
    let mut cfg = EmulatorConfig::new(world());
    cfg.state_file = Some(path.to_path_buf());
    cfg.dedicated_key = true;
    cfg
}

#[tokio::test]
async fn state_and_tokens_survive_a_restart_and_reset_wipes() {
    let dir = tmpdir("persist");
    let file = dir.join("state.json");
    let emu = start_cfg(cfg_with_state(&file)).await;
    assert!(
        file.exists(),
        "the initial snapshot is written at start (it carries the key)"
    );
    let tok = token(&emu, ARM_SCOPE).await;
    // Change the state, then acknowledge an ARM write: the snapshot is on disk before the answer.
    let now = emu.ctx().now();
    let (pid, _) = emu.ctx().state.lock().directory.create_managed_identity(
        "vm-p",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-p",
        now,
        0.0,
    );
    let r = client(&emu)
        .put(format!(
            "{}/subscriptions/{SUB}/resourcegroups/rg-p?api-version=2021-04-01",
            emu.base_url()
        ))
        .bearer_auth(&tok)
        .json(&json!({"location": "eastus"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().as_u16() < 500);
    let on_disk = std::fs::read_to_string(&file).unwrap();
    assert!(
        on_disk.contains(&pid),
        "acknowledged write must be persisted"
    );
    emu.shutdown().await;

    // Restart with a *different* world: the state file wins (the world seeds only without one).
    let mut cfg = cfg_with_state(&file);
    cfg.world = keyless_emulator::world::World::minimal();
    let emu2 = start_cfg(cfg).await;
    assert!(has_service_principal(&emu2, &pid));
    assert!(emu2
        .ctx()
        .state
        .lock()
        .directory
        .user_by_upn("alice@contoso.com")
        .is_some());
    // A token minted before the restart still validates (the key was persisted).
    let req = Req::new(
        "GET",
        "/subscriptions/x",
        vec![("authorization".into(), format!("Bearer {tok}"))],
        bytes::Bytes::new(),
    );
    assert!(auth::authenticate_arm(emu2.ctx(), &req).is_ok());
    // Reset: back to the (new) world and the file is gone.
    let r = client(&emu2)
        .post(format!("{}/_emulator/reset", emu2.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!file.exists());
    assert!(!has_service_principal(&emu2, &pid));
    assert!(emu2
        .ctx()
        .state
        .lock()
        .directory
        .user_by_upn("alice@contoso.com")
        .is_none());
    emu2.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn corrupt_state_file_is_an_error_not_a_silent_reset() {
    let dir = tmpdir("corrupt");
    let file = dir.join("state.json");
    std::fs::write(&file, "{ not json").unwrap();
    let e = keyless_emulator::Emulator::start(cfg_with_state(&file)).await;
    assert!(e.is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn admin_views_counters_state_timing() {
    let emu = start().await;
    let c = client(&emu);
    let b = emu.base_url().to_string();
    let t = token(&emu, GRAPH_SCOPE).await;
    let _ = c
        .get(format!("{b}/v1.0/users"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let counters: Value = get_json(&c, format!("{b}/_emulator/counters")).await;
    assert_eq!(counters["tokenRequests"], 1);
    assert_eq!(counters["graphRequests"], 1);
    assert_eq!(counters["byRoute"]["entra"], 1);
    let log: Value = get_json(&c, format!("{b}/_emulator/requests?route=graph")).await;
    let entries = log["requests"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["method"], "GET");
    assert_eq!(entries[0]["path"], "/v1.0/users");
    assert_eq!(entries[0]["status"], 200);
    assert_eq!(entries[0]["callerOid"], APP_OID);
    let _: Value = c
        .post(format!("{b}/_emulator/counters/reset"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(emu.counters().graph_requests, 0);
    // The state dump redacts secrets.
    let state = c
        .get(format!("{b}/_emulator/state"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(state.contains("keyless-pipeline"));
    assert!(!state.contains(SECRET), "secrets must be redacted");
    assert!(state.contains("<redacted>"));
    // Timing at run time: a short token lifetime applies to the next token.
    let r = c
        .put(format!("{b}/_emulator/timing"))
        .json(&json!({"tokenLifetime": "5s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tv: Value = r.json().await.unwrap();
    assert_eq!(tv["tokenLifetime"], "5s");
    assert_eq!(tv["propagationDelay"], "0s", "other fields are kept");
    let r: Value = c
        .post(format!("{b}/{TENANT}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", SECRET),
            ("scope", ARM_SCOPE),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["expires_in"], 5);
    let r = c
        .put(format!("{b}/_emulator/timing"))
        .json(&json!({"tokenLifetime": "soon"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Throttling at run time.
    let r = c
        .put(format!("{b}/_emulator/throttling"))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Clock.
    let before = emu.ctx().now();
    let _ = c
        .post(format!("{b}/_emulator/clock"))
        .json(&json!({"advanceSeconds": 100}))
        .send()
        .await
        .unwrap();
    assert!(emu.ctx().now() >= before + 100.0);
}

#[test]
fn conformance_world_parses() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/world.yaml");
    if path.exists() {
        keyless_emulator::world::World::load(&path).expect("the conformance world is valid");
    }
}

#[tokio::test]
async fn one_state_file_serves_one_emulator_at_a_time() {
    // Two emulators on one file would each overwrite the other's snapshots and lose
    // acknowledged writes: the second is refused while the first runs, and starts once it ends.
    let dir = tmpdir("inuse");
    let file = dir.join("state.json");
    let first = start_cfg(cfg_with_state(&file)).await;
    match keyless_emulator::Emulator::start(cfg_with_state(&file)).await {
        Err(keyless_emulator::StartError::Persist(
            keyless_emulator::persist::PersistError::InUse { path },
        )) => assert!(path.ends_with("state.json"), "{path}"),
        Err(e) => panic!("expected InUse, got {e}"),
        Ok(_) => panic!("a second emulator started on a state file in use"),
    }
    first.shutdown().await;
    let second = keyless_emulator::Emulator::start(cfg_with_state(&file))
        .await
        .expect("the state file is free once the first emulator has stopped");
    second.shutdown().await;
    // Another file is another lock.
    let a = start_cfg(cfg_with_state(&dir.join("a.json"))).await;
    let b = start_cfg(cfg_with_state(&dir.join("b.json"))).await;
    a.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
