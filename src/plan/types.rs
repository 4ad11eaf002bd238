//! The plan's data: what `plan()` produces, `render` shows, a plan file stores and `apply`
//! executes. Kept apart from the planning logic so every step module and the renderer can name
//! these types without naming each other.

use crate::model::{
    AccountSpec, AssignmentSpec, DeploymentSpec, ObservedAssignment, RgSpec, VmRef,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the plan file and JSON plan schema (bump on incompatible change).
pub const PLAN_FORMAT_VERSION: u32 = 2;

/// A field that changes, for humans and for review in pipelines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// Field path, e.g. `properties.disableLocalAuth`.
    pub field: String,
    /// Current value (None when the resource is created).
    pub from: Option<String>,
    /// New value (None when removed).
    pub to: Option<String>,
}

/// What one action does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ActionKind {
    /// Create a resource group.
    CreateResourceGroup {
        /// Desired resource group.
        spec: RgSpec,
    },
    /// Update tags of an existing resource group (merge: keyless never removes others' tags).
    UpdateResourceGroup {
        /// Desired resource group.
        spec: RgSpec,
    },
    /// Create an account (a long-running operation).
    CreateAccount {
        /// Desired account.
        spec: AccountSpec,
    },
    /// Patch properties or tags of an existing account.
    UpdateAccount {
        /// Desired account.
        spec: AccountSpec,
    },
    /// Restore a soft-deleted account (`properties.restore: true`).
    RestoreAccount {
        /// Desired account.
        spec: AccountSpec,
        /// Region the deleted account lives in.
        deleted_location: String,
    },
    /// Purge a soft-deleted account so a new one can be created.
    PurgeAccount {
        /// Resource group.
        resource_group: String,
        /// Account name.
        name: String,
        /// Region the deleted account lives in.
        location: String,
    },
    /// Create or update a model deployment.
    PutDeployment {
        /// Account resource group.
        resource_group: String,
        /// Account name.
        account: String,
        /// Desired deployment.
        spec: DeploymentSpec,
    },
    /// Enable the system-assigned identity on a VM, keeping its user-assigned ones.
    EnableVmIdentity {
        /// The VM.
        vm: VmRef,
        /// User-assigned identities it already has (re-sent, because the PATCH replaces).
        keep_user_assigned: Vec<String>,
    },
    /// Create a role assignment with a deterministic name.
    CreateRoleAssignment {
        /// The assignment.
        spec: AssignmentSpec,
        /// Deterministic name, when the principal id is known at plan time.
        name: Option<String>,
        /// The principal's object id as resolved at plan time (a VM's existing system identity
        /// included). None only for a VM whose identity an `enableVmIdentity` action this
        /// assignment depends on creates: apply takes the id from that action's result.
        principal_id: Option<String>,
    },
    /// Delete an owned assignment that the manifest no longer declares (prune).
    DeleteRoleAssignment {
        /// The assignment as observed.
        assignment: ObservedAssignment,
    },
}

impl ActionKind {
    /// `+` create, `~` update, `-` delete, `-/+` purge-then-create, `<` restore.
    pub fn symbol(&self) -> &'static str {
        match self {
            ActionKind::CreateResourceGroup { .. }
            | ActionKind::CreateAccount { .. }
            | ActionKind::CreateRoleAssignment { .. } => "+",
            ActionKind::PutDeployment { .. } => "+",
            ActionKind::UpdateResourceGroup { .. }
            | ActionKind::UpdateAccount { .. }
            | ActionKind::EnableVmIdentity { .. } => "~",
            ActionKind::RestoreAccount { .. } => "<",
            ActionKind::PurgeAccount { .. } | ActionKind::DeleteRoleAssignment { .. } => "-",
        }
    }

    /// The action in words, as every rendering of a plan names it.
    pub fn describe(&self) -> &'static str {
        match self {
            ActionKind::CreateResourceGroup { .. } => "create resource group",
            ActionKind::UpdateResourceGroup { .. } => "update resource group tags",
            ActionKind::CreateAccount { .. } => "create account",
            ActionKind::UpdateAccount { .. } => "update account",
            ActionKind::RestoreAccount { .. } => "restore soft-deleted account",
            ActionKind::PurgeAccount { .. } => "purge soft-deleted account",
            ActionKind::PutDeployment { .. } => "deploy model",
            ActionKind::EnableVmIdentity { .. } => "enable system-assigned identity",
            ActionKind::CreateRoleAssignment { .. } => "assign role",
            ActionKind::DeleteRoleAssignment { .. } => "delete role assignment",
        }
    }

    /// Whether the action deletes something.
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            ActionKind::PurgeAccount { .. } | ActionKind::DeleteRoleAssignment { .. }
        )
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// Index in the plan.
    pub id: usize,
    /// What to do.
    #[serde(flatten)]
    pub kind: ActionKind,
    /// The resource it acts on (ARM id, or a description for assignments not yet named).
    pub target: String,
    /// Why it is needed.
    pub reason: String,
    /// Field-level diff.
    pub changes: Vec<FieldChange>,
    /// Actions that must finish first.
    pub depends_on: Vec<usize>,
}

/// A reason the manifest cannot be applied as written (shown before anything is changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanError {
    /// Stable code (`immutable-subdomain`, `soft-deleted`, …).
    pub code: String,
    /// The resource.
    pub target: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: String,
    /// Manifest path of the offending item, for source spans (`accounts[0].customSubdomain`).
    pub manifest_path: Option<String>,
}

/// The plan: data you can save, inspect and apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Plan format version.
    pub format_version: u32,
    /// Manifest name.
    pub manifest: String,
    /// Subscription.
    pub subscription: String,
    /// Fingerprint of the observed state the plan was made against (apply refuses a stale plan).
    pub fingerprint: String,
    /// Actions in a valid order.
    pub actions: Vec<Action>,
    /// Problems that stop apply.
    pub errors: Vec<PlanError>,
    /// Number of desired items already in place.
    pub unchanged: usize,
    /// System-assigned identities the manifest's VMs already had when planned (`rg/name` key →
    /// object id), so verification after apply needs no second observation. Identities enabled
    /// by this plan come from apply's results.
    pub vm_principals: BTreeMap<String, String>,
}

impl Plan {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// `(add, change, destroy)` as the plan's summary line counts them: restores add the
    /// account back, purges and deletions destroy.
    pub fn counts(&self) -> (usize, usize, usize) {
        let (mut add, mut change, mut destroy) = (0, 0, 0);
        for a in &self.actions {
            match a.kind.symbol() {
                "+" | "<" => add += 1,
                "~" => change += 1,
                _ => destroy += 1,
            }
        }
        (add, change, destroy)
    }
}
