//! Apply: execute a plan's actions in dependency order with bounded concurrency.
//!
//! Safety properties (each covered by an end-to-end test):
//! - Idempotent writes: role assignments use deterministic names; a 409 RoleAssignmentExists is
//!   adopted. A re-run after any interruption converges without duplicates.
//! - Deployments of one account are chained in the plan, so Azure's "one operation at a time on
//!   the parent" rule is never hit.
//! - Ctrl-C stops *starting* actions; in-flight writes finish and are reported; exit 130.
//! - A failed action skips its dependents only; independent work still completes.

mod actions;
pub mod event;
mod schedule;
mod task;

pub use event::{ApplyEvent, Emit, Finished};

use crate::azure::error::AzureError;
use crate::azure::session::Session;
use crate::plan::{Action, Plan};
use schedule::Readiness;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore};

/// How one action ended.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(
    tag = "status",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ActionStatus {
    /// Done as planned.
    Done {
        /// Milliseconds it took.
        elapsed_ms: u64,
    },
    /// An equivalent hand-made object existed and was adopted.
    Adopted {
        /// Milliseconds it took.
        elapsed_ms: u64,
    },
    /// Azure refused.
    Failed {
        /// The error.
        error: AzureError,
    },
    /// Not run because a dependency failed or the run was interrupted.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// Result of an apply.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    /// Per action id.
    #[serde(deserialize_with = "action_id_keys")]
    pub results: BTreeMap<usize, ActionStatus>,
    /// Principal ids of VM identities enabled during this run.
    pub vm_principals: BTreeMap<String, String>,
    /// Whether Ctrl-C interrupted the run.
    pub interrupted: bool,
}

/// Reads `results` back from JSON, whose object keys are strings: serde's buffering of the
/// tagged event enums cannot turn `"0"` into a `usize` by itself.
fn action_id_keys<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<usize, ActionStatus>, D::Error> {
    use serde::de::Error;
    BTreeMap::<String, ActionStatus>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| Ok((k.parse().map_err(D::Error::custom)?, v)))
        .collect()
}

impl ApplyReport {
    /// True when every action is done or adopted.
    pub fn succeeded(&self) -> bool {
        !self.interrupted
            && self
                .results
                .values()
                .all(|s| matches!(s, ActionStatus::Done { .. } | ActionStatus::Adopted { .. }))
    }
    /// Failed actions.
    pub fn failures(&self) -> Vec<(usize, &AzureError)> {
        self.results
            .iter()
            .filter_map(|(id, s)| match s {
                ActionStatus::Failed { error } => Some((*id, error)),
                _ => None,
            })
            .collect()
    }
}

/// Options for [`apply`].
#[derive(Clone)]
pub struct ApplyOptions {
    /// Actions in flight at once.
    pub parallelism: usize,
    /// Set to stop starting new actions (Ctrl-C).
    pub cancel: Arc<AtomicBool>,
}

/// Executes `plan`: the plan is the whole contract (principals were resolved when it was made),
/// so a saved plan applies exactly as reviewed. Never panics on Azure errors: they are reported
/// per action.
pub async fn apply(
    session: &Session,
    plan: &Plan,
    emit: Emit<ApplyEvent>,
    opts: ApplyOptions,
) -> ApplyReport {
    // Writes waiting for another writer's operation watch the same Ctrl-C flag.
    let mut session = session.clone();
    session.arm.interrupt = opts.cancel.clone();
    let shared = Arc::new(task::Shared {
        session,
        slots: Arc::new(Semaphore::new(opts.parallelism.max(1))),
        results: Mutex::new(BTreeMap::new()),
        vm_principals: Mutex::new(plan.vm_principals.clone()),
        emit: emit.clone(),
        manifest: plan.manifest.clone(),
        cancel: opts.cancel.clone(),
    });
    let mut pending: Vec<&Action> = plan.actions.iter().collect();
    let mut running = tokio::task::JoinSet::new();
    let mut interrupted = false;
    loop {
        if opts.cancel.load(Ordering::SeqCst) && !interrupted {
            interrupted = true;
            emit(ApplyEvent::Interrupted {});
        }
        if !interrupted {
            pending = start_ready(&shared, pending, &mut running).await;
        }
        if running.is_empty() {
            break;
        }
        // Wait for one task or a short tick (to notice Ctrl-C promptly).
        tokio::select! {
            _ = running.join_next() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    let mut results = shared.results.lock().await.clone();
    for a in pending {
        results.entry(a.id).or_insert(ActionStatus::Skipped {
            reason: if interrupted {
                "interrupted".into()
            } else {
                "a prerequisite failed".into()
            },
        });
    }
    let vm_principals = shared.vm_principals.lock().await.clone();
    ApplyReport {
        results,
        vm_principals,
        interrupted,
    }
}

/// Starts every pending action whose prerequisites are all done, skips those with a failed
/// prerequisite, and returns the ones still waiting.
async fn start_ready<'p>(
    shared: &Arc<task::Shared>,
    pending: Vec<&'p Action>,
    running: &mut tokio::task::JoinSet<()>,
) -> Vec<&'p Action> {
    let done = shared.results.lock().await.clone();
    let mut still = Vec::new();
    for a in pending {
        match schedule::readiness(a, &done) {
            Readiness::Blocked => {
                (shared.emit)(ApplyEvent::ActionSkipped {
                    id: a.id,
                    target: a.target.clone(),
                    reason: "a prerequisite failed".into(),
                });
                shared.results.lock().await.insert(
                    a.id,
                    ActionStatus::Skipped {
                        reason: "a prerequisite failed".into(),
                    },
                );
            }
            Readiness::Ready => {
                running.spawn(task::run(shared.clone(), a.clone()));
            }
            Readiness::Waiting => still.push(a),
        }
    }
    still
}
