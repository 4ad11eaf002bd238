//! What each kind of action does in Azure: one call per action, plus the role-assignment
//! details (principal from the plan or from the VM identity enabled before it, the ownership
//! marker, the PrincipalNotFound replication retry, refusing to delete what is not owned).

use super::event::{ApplyEvent, Emit};
use crate::azure::arm::{AssignmentOutcome, Progress};
use crate::azure::error::AzureError;
use crate::azure::retry::RetryOnCode;
use crate::azure::session::Session;
use crate::model::*;
use crate::plan::{Action, ActionKind};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Mutex;

/// How an action that succeeded ended.
pub(super) enum Outcome {
    /// Done as planned.
    Done,
    /// An equivalent object existed and was adopted.
    Adopted,
}

/// Runs one action's Azure calls, reporting its progress.
pub(super) async fn run_action(
    session: &Session,
    a: &Action,
    manifest: &str,
    vm_principals: &Mutex<BTreeMap<String, String>>,
    emit: &Emit<ApplyEvent>,
    release_slot: &(dyn Fn() + Sync),
) -> Result<Outcome, AzureError> {
    let arm = &session.arm;
    let waited = AtomicBool::new(false);
    let progress = |p: Progress<'_>| report_progress(a, emit, &waited, p);
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
            let target = AssignmentTarget {
                spec,
                name: name.as_deref(),
                principal_id: principal_id.as_deref(),
            };
            create_role_assignment(arm, &target, manifest, vm_principals, &progress).await
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

/// Reports an action's progress; the first time it waits behind another writer, also says so
/// as `actionWaiting` with Azure's 409 code.
fn report_progress(a: &Action, emit: &Emit<ApplyEvent>, waited: &AtomicBool, p: Progress<'_>) {
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
}

/// A planned role assignment, as apply reads it.
struct AssignmentTarget<'a> {
    spec: &'a AssignmentSpec,
    name: Option<&'a str>,
    principal_id: Option<&'a str>,
}

/// Creates a role assignment under its deterministic name with this manifest's marker; a
/// `RoleAssignmentExists` answer means an equivalent one exists and is adopted.
async fn create_role_assignment(
    arm: &crate::azure::arm::Arm,
    target: &AssignmentTarget<'_>,
    manifest: &str,
    vm_principals: &Mutex<BTreeMap<String, String>>,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<Outcome, AzureError> {
    let AssignmentTarget {
        spec,
        name,
        principal_id,
    } = *target;
    let (principal_id, principal_type) = principal_for(spec, principal_id, vm_principals).await?;
    let name = name.map_or_else(
        || assignment_name(&spec.scope, &spec.role_definition_id, &principal_id),
        str::to_string,
    );
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

/// The principal to assign: the id the plan resolved, or — for a VM whose identity this apply
/// enabled — the id that action returned.
async fn principal_for(
    spec: &AssignmentSpec,
    principal_id: Option<&str>,
    vm_principals: &Mutex<BTreeMap<String, String>>,
) -> Result<(String, PrincipalType), AzureError> {
    Ok(match (&spec.principal, principal_id) {
        (
            PrincipalTarget::Known {
                id, principal_type, ..
            },
            resolved,
        ) => (
            resolved.map_or_else(|| id.clone(), str::to_string),
            *principal_type,
        ),
        (PrincipalTarget::VmIdentity { .. }, Some(resolved)) => {
            (resolved.to_string(), PrincipalType::ServicePrincipal)
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
    })
}
