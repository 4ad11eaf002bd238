//! Apply: execute a plan's actions in dependency order with bounded concurrency.
//!
//! Safety properties (each covered by an end-to-end test):
//! - Idempotent writes: role assignments use deterministic names; a 409 RoleAssignmentExists is
//!   adopted. A re-run after any interruption converges without duplicates.
//! - Deployments of one account are chained in the plan, so Azure's "one operation at a time on
//!   the parent" rule is never hit.
//! - Ctrl-C stops *starting* actions; in-flight writes finish and are reported; exit 130.
//! - A failed action skips its dependents only; independent work still completes.

pub mod event;

pub use event::{ApplyEvent, Emit, Finished};

use crate::azure::arm::{AssignmentOutcome, Progress};
use crate::azure::error::AzureError;
use crate::azure::retry::RetryOnCode;
use crate::azure::session::Session;
use crate::model::*;
use crate::plan::{Action, ActionKind, Plan};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
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
    let session = &{
        let mut s = session.clone();
        s.arm.interrupt = opts.cancel.clone();
        s
    };
    let sem = Arc::new(Semaphore::new(opts.parallelism.max(1)));
    let results: Arc<Mutex<BTreeMap<usize, ActionStatus>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let vm_principals: Arc<Mutex<BTreeMap<String, String>>> =
        Arc::new(Mutex::new(plan.vm_principals.clone()));
    let manifest = plan.manifest.clone();
    let mut pending: Vec<&Action> = plan.actions.iter().collect();
    let mut running = tokio::task::JoinSet::new();
    let mut started: HashSet<usize> = HashSet::new();
    let mut interrupted = false;

    loop {
        if opts.cancel.load(Ordering::SeqCst) && !interrupted {
            interrupted = true;
            emit(ApplyEvent::Interrupted {});
        }
        // Start every action whose dependencies are all done.
        if !interrupted {
            let done = results.lock().await.clone();
            let mut still = Vec::new();
            for a in pending.drain(..) {
                let dep_states: Vec<Option<&ActionStatus>> =
                    a.depends_on.iter().map(|d| done.get(d)).collect();
                if dep_states.iter().any(|s| {
                    matches!(
                        s,
                        Some(ActionStatus::Failed { .. }) | Some(ActionStatus::Skipped { .. })
                    )
                }) {
                    let status = ActionStatus::Skipped {
                        reason: "a prerequisite failed".into(),
                    };
                    emit(ApplyEvent::ActionSkipped {
                        id: a.id,
                        target: a.target.clone(),
                        reason: "a prerequisite failed".into(),
                    });
                    results.lock().await.insert(a.id, status);
                    continue;
                }
                if dep_states.iter().all(|s| {
                    matches!(
                        s,
                        Some(ActionStatus::Done { .. }) | Some(ActionStatus::Adopted { .. })
                    )
                }) {
                    started.insert(a.id);
                    let a = a.clone();
                    let session = session.clone();
                    let sem = sem.clone();
                    let results = results.clone();
                    let vm_principals = vm_principals.clone();
                    let emit = emit.clone();
                    let manifest = manifest.clone();
                    let cancel = opts.cancel.clone();
                    running.spawn(async move {
                        let permit = std::sync::Mutex::new(Some(
                            sem.acquire_owned().await.expect("semaphore open"),
                        ));
                        // Waiting for a long-running operation needs no parallelism slot: an
                        // action calls this once its write went out (200 VM identities would
                        // otherwise hold every slot for their whole provisioning wait).
                        let release_slot = || drop(permit.lock().map(|mut p| p.take()));
                        // Spawned tasks queue on the semaphore: after Ctrl-C, one still waiting
                        // for its turn must not start its write.
                        if cancel.load(Ordering::SeqCst) {
                            emit(ApplyEvent::ActionSkipped {
                                id: a.id,
                                target: a.target.clone(),
                                reason: "interrupted".into(),
                            });
                            results.lock().await.insert(
                                a.id,
                                ActionStatus::Skipped {
                                    reason: "interrupted".into(),
                                },
                            );
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
                            &session,
                            &a,
                            &manifest,
                            &vm_principals,
                            &emit,
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
                        results.lock().await.insert(a.id, status);
                    });
                } else {
                    still.push(a);
                }
            }
            pending = still;
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
    let mut results = results.lock().await.clone();
    for a in pending {
        results.entry(a.id).or_insert(ActionStatus::Skipped {
            reason: if interrupted {
                "interrupted".into()
            } else {
                "a prerequisite failed".into()
            },
        });
    }
    let vm_principals = vm_principals.lock().await.clone();
    ApplyReport {
        results,
        vm_principals,
        interrupted,
    }
}

enum Outcome {
    Done,
    Adopted,
}

fn kind_name(k: &ActionKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn run_action(
    session: &Session,
    a: &Action,
    manifest: &str,
    vm_principals: &Mutex<BTreeMap<String, String>>,
    emit: &Emit<ApplyEvent>,
    release_slot: &(dyn Fn() + Sync),
) -> Result<Outcome, AzureError> {
    let arm = &session.arm;
    let waited = AtomicBool::new(false);
    let progress = |p: Progress<'_>| {
        if let Progress::WaitingForAnotherWriter { code } = p {
            if !waited.swap(true, Ordering::SeqCst) {
                emit(ApplyEvent::ActionWaiting {
                    id: a.id,
                    target: a.target.clone(),
                    reason: code.to_string(),
                });
            }
        }
        emit(ApplyEvent::ActionProgress {
            id: a.id,
            detail: p.to_string(),
        })
    };
    match &a.kind {
        ActionKind::CreateResourceGroup { spec } | ActionKind::UpdateResourceGroup { spec } => {
            arm.put_resource_group(spec).await.map(|_| Outcome::Done)
        }
        ActionKind::CreateAccount { spec } => arm
            .create_account(spec, false, &progress)
            .await
            .map(|_| Outcome::Done),
        ActionKind::RestoreAccount { spec, .. } => arm
            .create_account(spec, true, &progress)
            .await
            .map(|_| Outcome::Done),
        ActionKind::UpdateAccount { spec } => arm
            .update_account(spec, &progress)
            .await
            .map(|_| Outcome::Done),
        ActionKind::PurgeAccount {
            resource_group,
            name,
            location,
        } => arm
            .purge_account(location, resource_group, name)
            .await
            .map(|_| Outcome::Done),
        ActionKind::PutDeployment {
            resource_group,
            account,
            spec,
        } => arm
            .put_deployment(resource_group, account, spec, &progress)
            .await
            .map(|_| Outcome::Done),
        ActionKind::EnableVmIdentity { vm, .. } => {
            let p = arm.enable_vm_identity(vm, &progress, release_slot).await?;
            vm_principals.lock().await.insert(vm.key(), p);
            Ok(Outcome::Done)
        }
        ActionKind::CreateRoleAssignment {
            spec,
            name,
            principal_id,
        } => {
            let (principal_id, principal_type) = match (&spec.principal, principal_id) {
                (
                    PrincipalTarget::Known {
                        id, principal_type, ..
                    },
                    resolved,
                ) => (
                    resolved.clone().unwrap_or_else(|| id.clone()),
                    *principal_type,
                ),
                (PrincipalTarget::VmIdentity { .. }, Some(resolved)) => {
                    (resolved.clone(), PrincipalType::ServicePrincipal)
                }
                (PrincipalTarget::VmIdentity { vm }, None) => {
                    let p = vm_principals
                        .lock()
                        .await
                        .get(&vm.key())
                        .cloned()
                        .ok_or_else(|| {
                            AzureError::new(
                                "create role assignment",
                                0,
                                "PrincipalUnknown",
                                &format!("VM {} has no system-assigned identity", vm.name),
                            )
                        })?;
                    (p, PrincipalType::ServicePrincipal)
                }
            };
            let name = name.clone().unwrap_or_else(|| {
                assignment_name(&spec.scope, &spec.role_definition_id, &principal_id)
            });
            let description = match &spec.description {
                Some(d) if !d.is_empty() => format!("{d} {}", assignment_marker(manifest)),
                _ => assignment_marker(manifest),
            };
            // A principal created moments ago may not have replicated yet; principalType avoids
            // the lookup, but retry a few times on PrincipalNotFound anyway.
            let policy = RetryOnCode::PRINCIPAL_NOT_FOUND;
            let created = policy
                .run(
                    || {
                        arm.create_assignment(
                            &spec.scope,
                            &name,
                            &spec.role_definition_id,
                            &principal_id,
                            principal_type,
                            &description,
                        )
                    },
                    |n, max| {
                        progress(Progress::State(&format!(
                            "principal not replicated yet, retry {n}/{max}"
                        )))
                    },
                )
                .await;
            match created {
                Ok(AssignmentOutcome::Created) => Ok(Outcome::Done),
                Ok(AssignmentOutcome::AdoptedExisting) => Ok(Outcome::Adopted),
                Err(mut e) => {
                    if e.code == policy.code {
                        e.help = Some(format!(
                            "principal {} ({}) was still not found after {} retries; check the object id, or re-run later if it was created minutes ago",
                            principal_id,
                            spec.principal.display(),
                            policy.max_retries
                        ));
                    }
                    Err(e)
                }
            }
        }
        ActionKind::DeleteRoleAssignment { assignment } => {
            // Never delete what this manifest does not own, even if the plan file was edited.
            if !is_owned_by(assignment.description.as_deref(), manifest) {
                return Err(AzureError::new(
                    "delete role assignment",
                    0,
                    "NotOwned",
                    &format!("assignment {} does not carry this manifest's marker; refusing to delete it", assignment.id),
                ));
            }
            arm.delete_assignment(&assignment.scope, &assignment.name)
                .await
                .map(|_| Outcome::Done)
        }
    }
}
