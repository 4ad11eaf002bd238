//! Emulator state that is not the world's resources — data-plane rate windows and Run Command
//! slots — belongs to one emulator: two emulators in one process (as the keyless test suites
//! run them) never share it, and an admin reset clears it with the rest of the state.

mod arm_support;
mod common;

use arm_support::*;
use common::*;
use serde_json::json;

/// Spends the 6-requests-per-minute budget of `small` (capacity 1) on the keys account.
async fn spend_small_budget(emu: &keyless_emulator::RunningEmulator, key: &str) {
    for i in 0..6 {
        let r = chat(emu, "keyless-keys", "small", ("api-key", key)).await;
        assert_eq!(r.status, 200, "request {i}: {}", r.body);
    }
    let r = chat(emu, "keyless-keys", "small", ("api-key", key)).await;
    assert_eq!((r.status, r.code()), (429, "429"), "{}", r.body);
}

#[tokio::test]
async fn rate_windows_and_run_slots_are_per_emulator_and_reset_clears_them() {
    let a = start_arm().await;
    let b = start_arm().await;
    let (key_a, _) = list_keys(&a, "oai-keys").await;
    spend_small_budget(&a, &key_a).await;
    assert!(!a.ctx().state.lock().data_plane.is_empty());
    // The other emulator's deployment of the same name has its own window.
    let (key_b, _) = list_keys(&b, "oai-keys").await;
    let r = chat(&b, "keyless-keys", "small", ("api-key", &key_b)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-ratelimit-remaining-requests"), "5");

    // A Run Command that outlives the reset holds a slot in its own emulator only.
    let r = send(
        &a,
        &owner(&a).await,
        "POST",
        &format!("{}/runCommand?api-version=2024-07-01", vm_path("runner-01")),
        Some(json!({"commandId": "RunShellScript", "script": ["sleep 30"]})),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!((a.ctx().runs.len(), b.ctx().runs.len()), (1, 0));

    let r = client(&a)
        .post(format!("{}/_emulator/reset", a.base_url()))
        .send()
        .await
        .expect("reset");
    assert_eq!(r.status(), 200);
    assert!(a.ctx().state.lock().data_plane.is_empty());
    assert!(a.ctx().runs.is_empty());
    // The budget starts over: the reset account's new key gets a full window.
    let (key_a, _) = list_keys(&a, "oai-keys").await;
    let r = chat(&a, "keyless-keys", "small", ("api-key", &key_a)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-ratelimit-remaining-requests"), "5");
}
