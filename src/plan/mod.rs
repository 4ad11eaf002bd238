//! The planner: a pure function from (desired, observed) to typed actions with reasons and
//! field-level diffs. No I/O happens here, so every decision keyless makes is unit-testable.
//!
//! Ordering is expressed as explicit dependencies between actions (`depends_on`), which `apply`
//! turns into a schedule: resource group → account → deployments; VM identity → its assignments.
//!
//! One module per resource kind plans that kind and returns the ids of the actions later kinds
//! wait for; `plan()` runs them in order and threads those maps between them. The kind modules
//! never name each other: they share only `types` (the plan's data), `builder` (the
//! accumulator) and `changes` (diff helpers).

mod accounts;
mod assignments;
mod builder;
mod changes;
mod render;
mod resource_groups;
mod types;
mod vms;

pub use render::{render_human, RenderOptions};
pub use types::{Action, ActionKind, FieldChange, Plan, PlanError, PLAN_FORMAT_VERSION};

use crate::model::{Desired, Observed};
use builder::Builder;

/// Fingerprint of an observed state: SHA-256 of its canonical JSON.
pub fn fingerprint(observed: &Observed) -> String {
    use sha2::Digest;
    let json = serde_json::to_vec(observed).expect("observed state serialises");
    hex::encode(sha2::Sha256::digest(json))
}

/// Computes the plan. Pure: same inputs, same plan.
///
/// The steps run in this order because it is the order of the plan's actions: resource groups,
/// accounts with their deployments, VM identities, role assignments, then prune.
pub fn plan(desired: &Desired, observed: &Observed) -> Plan {
    let mut b = Builder::default();
    let sub = &desired.subscription;
    let rg_actions =
        resource_groups::plan_resource_groups(&mut b, sub, &desired.resource_groups, observed);
    let account_ready =
        accounts::plan_accounts(&mut b, sub, &desired.accounts, observed, &rg_actions);
    let vm_actions = vms::plan_vm_identities(&mut b, sub, &desired.vm_identities, observed);
    let upstream = assignments::Upstream {
        resource_groups: &rg_actions,
        accounts: &account_ready,
        vms: &vm_actions,
    };
    let wanted = assignments::plan_assignments(&mut b, desired, observed, &upstream);
    if desired.prune {
        assignments::prune(&mut b, &desired.manifest, observed, &wanted);
    }
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        manifest: desired.manifest.clone(),
        subscription: desired.subscription.clone(),
        fingerprint: fingerprint(observed),
        actions: b.actions,
        errors: b.errors,
        unchanged: b.unchanged,
        vm_principals: vms::existing_principals(&desired.vm_identities, observed),
    }
}

#[cfg(test)]
mod tests;
