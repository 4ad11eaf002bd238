//! Assembling `Desired`: the manifest's resource groups, accounts, deployments and VM
//! identities, with defaults and tags applied, in the planner's terms. No lookups happen here.

use crate::manifest::{self, Manifest};
use crate::model::{
    AccountSpec, AssignmentSpec, DeploymentSpec, Desired, OnSoftDeleted, RgSpec, VmRef,
};

/// Everything the manifest wants, given its resolved role assignments.
pub(super) fn desired(m: &Manifest, assignments: Vec<AssignmentSpec>) -> Desired {
    Desired {
        manifest: m.name.clone(),
        subscription: m.subscription.clone(),
        resource_groups: m
            .resource_groups
            .iter()
            .map(|rg| RgSpec {
                name: rg.name.clone(),
                location: rg.location.clone(),
                tags: m.desired_tags(&rg.tags),
            })
            .collect(),
        accounts: m.accounts.iter().map(|a| account(m, a)).collect(),
        vm_identities: m
            .managed_identities
            .iter()
            .map(|v| VmRef {
                resource_group: v.resource_group.clone(),
                name: v.vm.clone(),
            })
            .collect(),
        assignments,
        prune: m.prune,
    }
}

/// One account as the planner wants it.
fn account(m: &Manifest, a: &manifest::AccountSpec) -> AccountSpec {
    AccountSpec {
        name: a.name.clone(),
        resource_group: a.resource_group.clone(),
        location: a.location.clone(),
        kind: a.kind.as_str().to_string(),
        sku: a.sku.clone(),
        custom_subdomain: a.custom_subdomain.clone(),
        disable_local_auth: a.disable_local_auth,
        public_network_access: serde_json::to_value(a.public_network_access)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "Enabled".into()),
        on_soft_deleted: match a.on_soft_deleted {
            manifest::OnSoftDeleted::Restore => OnSoftDeleted::Restore,
            manifest::OnSoftDeleted::Purge => OnSoftDeleted::Purge,
            manifest::OnSoftDeleted::Fail => OnSoftDeleted::Fail,
        },
        tags: m.desired_tags(&a.tags),
        deployments: a.deployments.iter().map(deployment).collect(),
    }
}

/// One model deployment as the planner wants it.
fn deployment(d: &manifest::DeploymentSpec) -> DeploymentSpec {
    DeploymentSpec {
        name: d.name.clone(),
        model_name: d.model.name.clone(),
        model_version: d.model.version.clone(),
        model_format: d.model.format.clone(),
        sku_name: d.sku.name.as_str().to_string(),
        capacity: d.sku.capacity as i32,
    }
}
