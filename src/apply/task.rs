//! One action's life once it is ready: wait for a parallelism slot, start nothing after Ctrl-C,
//! run it, record and report how it ended.

use super::actions::{run_action, Outcome};
use super::event::{ApplyEvent, Emit, Finished};
use super::ActionStatus;
use crate::azure::session::Session;
use crate::plan::{Action, ActionKind};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Mutex, Semaphore};

/// What every action of one apply shares.
pub(super) struct Shared {
    /// The session (its ARM client watches the cancel flag).
    pub session: Session,
    /// Parallelism slots.
    pub slots: Arc<Semaphore>,
    /// How finished actions ended, by id.
    pub results: Mutex<BTreeMap<usize, ActionStatus>>,
    /// VM identities known so far (from the plan, then enabled by this apply).
    pub vm_principals: Mutex<BTreeMap<String, String>>,
    /// Where events go.
    pub emit: Emit<ApplyEvent>,
    /// The manifest (ownership marker).
    pub manifest: String,
    /// Ctrl-C.
    pub cancel: Arc<AtomicBool>,
}

/// Runs one ready action to its end.
pub(super) async fn run(shared: Arc<Shared>, a: Action) {
    let emit = &shared.emit;
    let permit = std::sync::Mutex::new(Some(
        shared
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore open"),
    ));
    // Waiting for a long-running operation needs no parallelism slot: an action calls this once
    // its write went out (200 VM identities would otherwise hold every slot for their whole
    // provisioning wait).
    let release_slot = || drop(permit.lock().map(|mut p| p.take()));
    // Spawned tasks queue on the semaphore: after Ctrl-C, one still waiting for its turn must
    // not start its write.
    if shared.cancel.load(Ordering::SeqCst) {
        emit(ApplyEvent::ActionSkipped {
            id: a.id,
            target: a.target.clone(),
            reason: "interrupted".into(),
        });
        let skipped = ActionStatus::Skipped {
            reason: "interrupted".into(),
        };
        shared.results.lock().await.insert(a.id, skipped);
        return;
    }
    let symbol = a.kind.symbol().to_string();
    emit(ApplyEvent::ActionStarted {
        id: a.id,
        kind: kind_name(&a.kind),
        symbol: symbol.clone(),
        target: a.target.clone(),
    });
    let t0 = Instant::now();
    let r = run_action(
        &shared.session,
        &a,
        &shared.manifest,
        &shared.vm_principals,
        emit,
        &release_slot,
    )
    .await;
    let elapsed_ms = t0.elapsed().as_millis() as u64;
    let status = match r {
        Ok(Outcome::Done) => ActionStatus::Done { elapsed_ms },
        Ok(Outcome::Adopted) => ActionStatus::Adopted { elapsed_ms },
        Err(error) => ActionStatus::Failed { error },
    };
    let target = a.target.clone();
    emit(match &status {
        ActionStatus::Failed { error } => ApplyEvent::ActionFailed {
            id: a.id,
            target,
            error: error.clone(),
            symbol,
        },
        ActionStatus::Adopted { .. } => ApplyEvent::ActionFinished {
            id: a.id,
            target,
            outcome: Finished::Adopted,
            elapsed_ms,
            symbol,
        },
        _ => ApplyEvent::ActionFinished {
            id: a.id,
            target,
            outcome: Finished::Done,
            elapsed_ms,
            symbol,
        },
    });
    shared.results.lock().await.insert(a.id, status);
}

/// The action's `type` as the plan's JSON names it (`createAccount`, …).
fn kind_name(k: &ActionKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_string))
        .unwrap_or_default()
}
