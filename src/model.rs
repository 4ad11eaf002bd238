//! The two sides the planner compares: what the manifest wants (`Desired`, fully resolved: role
//! ids and principal object ids known) and what Azure has (`Observed`, read in bulk).
//!
//! Both are plain data with no I/O, so `plan` stays a pure function that tests can drive with
//! generated values. Keys are lower-cased because ARM names and ids are case-insensitive.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Tag key marking resource groups and accounts that a manifest created or manages.
pub const OWNER_TAG: &str = "keyless-manifest";

/// The marker keyless writes into each role assignment's description: prune deletes only
/// assignments carrying the marker of *this* manifest.
pub fn assignment_marker(manifest: &str) -> String {
    crate::manifest::ownership_marker_for(manifest)
}

/// Whether a description carries *exactly* this manifest's marker (`team` must not claim
/// `team-alpha`'s assignments).
pub fn is_owned_by(description: Option<&str>, manifest: &str) -> bool {
    description.and_then(crate::manifest::parse_ownership_marker) == Some(manifest)
}

/// A resource group as the manifest wants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RgSpec {
    /// Name.
    pub name: String,
    /// Azure region.
    pub location: String,
    /// Tags, including the ownership tag.
    pub tags: BTreeMap<String, String>,
}

/// What to do when an account of the same name is soft-deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnSoftDeleted {
    /// Restore it (its keys, deployments and subdomain come back).
    Restore,
    /// Purge it, then create a new one.
    Purge,
    /// Stop with an error (the default: nothing is decided for the user).
    Fail,
}

/// A Cognitive Services / Azure OpenAI account as the manifest wants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountSpec {
    /// Account name.
    pub name: String,
    /// Resource group.
    pub resource_group: String,
    /// Azure region.
    pub location: String,
    /// Kind (OpenAI, AIServices, CognitiveServices).
    pub kind: String,
    /// SKU name (S0).
    pub sku: String,
    /// Custom subdomain (global, immutable).
    pub custom_subdomain: String,
    /// Whether key auth is disabled.
    pub disable_local_auth: bool,
    /// Enabled or Disabled.
    pub public_network_access: String,
    /// Soft-delete policy.
    pub on_soft_deleted: OnSoftDeleted,
    /// Tags, including the ownership tag.
    pub tags: BTreeMap<String, String>,
    /// Model deployments, applied one at a time.
    pub deployments: Vec<DeploymentSpec>,
}

impl AccountSpec {
    /// The account's ARM id (known before it exists, so assignments can be planned).
    pub fn id(&self, subscription: &str) -> String {
        account_id(subscription, &self.resource_group, &self.name)
    }
}

/// ARM id of an account.
pub fn account_id(subscription: &str, rg: &str, name: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}")
}

/// ARM id of a resource group.
pub fn rg_id(subscription: &str, rg: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{rg}")
}

/// ARM id of a VM.
pub fn vm_id(subscription: &str, rg: &str, name: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}")
}

/// A model deployment as the manifest wants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// Deployment name (what clients put in the URL).
    pub name: String,
    /// Model name.
    pub model_name: String,
    /// Model version.
    pub model_version: String,
    /// Model format (OpenAI).
    pub model_format: String,
    /// SKU (Standard, GlobalStandard, …).
    pub sku_name: String,
    /// Capacity in thousands of tokens per minute.
    pub capacity: i32,
}

/// An existing VM that should get a system-assigned identity.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct VmRef {
    /// Resource group.
    pub resource_group: String,
    /// VM name.
    pub name: String,
}

impl VmRef {
    /// Lower-cased `rg/name` key.
    pub fn key(&self) -> String {
        format!("{}/{}", self.resource_group, self.name).to_ascii_lowercase()
    }
}

/// Kind of directory object, as ARM's `principalType` names it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum PrincipalType {
    /// A user.
    User,
    /// A security group.
    Group,
    /// A service principal (apps and managed identities).
    ServicePrincipal,
}

impl PrincipalType {
    /// The wire value.
    pub fn as_str(&self) -> &'static str {
        match self {
            PrincipalType::User => "User",
            PrincipalType::Group => "Group",
            PrincipalType::ServicePrincipal => "ServicePrincipal",
        }
    }
}

/// Who an assignment is for.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum PrincipalTarget {
    /// A principal whose object id is known.
    Known {
        /// Object id.
        id: String,
        /// User, Group or ServicePrincipal.
        principal_type: PrincipalType,
        /// How the manifest named it (for output).
        display: String,
        /// True for the identity keyless runs as.
        is_self: bool,
    },
    /// The system-assigned identity of a VM that does not have one yet: its object id exists
    /// only after the identity is enabled during apply.
    VmIdentity {
        /// The VM.
        vm: VmRef,
    },
}

impl PrincipalTarget {
    /// Name for humans.
    pub fn display(&self) -> String {
        match self {
            PrincipalTarget::Known { display, .. } => display.clone(),
            PrincipalTarget::VmIdentity { vm } => format!("vm:{}/{}", vm.resource_group, vm.name),
        }
    }
    /// The object id when known.
    pub fn id(&self) -> Option<&str> {
        match self {
            PrincipalTarget::Known { id, .. } => Some(id),
            PrincipalTarget::VmIdentity { .. } => None,
        }
    }
}

/// One desired role assignment (scope × role × principal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentSpec {
    /// Full ARM scope id.
    pub scope: String,
    /// Full role definition id (`/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{guid}`).
    pub role_definition_id: String,
    /// Role name, for output.
    pub role_name: String,
    /// The principal.
    pub principal: PrincipalTarget,
    /// The user's description (keyless appends its marker).
    pub description: Option<String>,
}

/// Everything the manifest wants, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Desired {
    /// Manifest name (ownership marker).
    pub manifest: String,
    /// Subscription id.
    pub subscription: String,
    /// Resource groups.
    pub resource_groups: Vec<RgSpec>,
    /// Accounts.
    pub accounts: Vec<AccountSpec>,
    /// VMs that need a system-assigned identity.
    pub vm_identities: Vec<VmRef>,
    /// Role assignments.
    pub assignments: Vec<AssignmentSpec>,
    /// Whether owned assignments no longer declared are deleted.
    pub prune: bool,
}

/// A resource group as Azure has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedRg {
    /// Region.
    pub location: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// An account as Azure has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveAccount {
    /// Kind.
    pub kind: String,
    /// SKU name.
    pub sku: String,
    /// Region.
    pub location: String,
    /// Custom subdomain, if any.
    pub custom_subdomain: Option<String>,
    /// Whether key auth is disabled.
    pub disable_local_auth: bool,
    /// Enabled/Disabled.
    pub public_network_access: Option<String>,
    /// Data-plane endpoint from `properties.endpoint`.
    pub endpoint: Option<String>,
    /// provisioningState.
    pub provisioning_state: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Deployments by lower-cased name.
    pub deployments: BTreeMap<String, DeploymentSpec>,
}

/// The state of one account name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ObservedAccount {
    /// No account and no soft-deleted one.
    Missing {
        /// Whether the custom subdomain is free (checkDomainAvailability), with Azure's reason.
        subdomain_available: bool,
        /// Azure's reason when not available.
        reason: Option<String>,
    },
    /// A live account.
    Live(LiveAccount),
    /// Soft-deleted (name and subdomain reserved for 48 h).
    SoftDeleted {
        /// Region (needed for restore/purge).
        location: String,
    },
}

/// A VM as Azure has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedVm {
    /// Linux or Windows.
    pub os: String,
    /// Region.
    pub location: String,
    /// The system-assigned identity's object id, when enabled.
    pub system_principal_id: Option<String>,
    /// Resource ids of user-assigned identities (kept when the system one is enabled).
    pub user_assigned: Vec<String>,
}

/// A role assignment as Azure has it.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct ObservedAssignment {
    /// Full id.
    pub id: String,
    /// Name (GUID).
    pub name: String,
    /// Scope it is defined at.
    pub scope: String,
    /// Full role definition id.
    pub role_definition_id: String,
    /// Principal object id.
    pub principal_id: String,
    /// principalType.
    pub principal_type: Option<String>,
    /// Description (carries the ownership marker when keyless made it).
    pub description: Option<String>,
}

/// Everything keyless read from Azure for one manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// By lower-cased name; None = absent.
    pub resource_groups: BTreeMap<String, Option<ObservedRg>>,
    /// By lower-cased `rg/name`.
    pub accounts: BTreeMap<String, ObservedAccount>,
    /// By lower-cased `rg/name`; None = the VM does not exist.
    pub vms: BTreeMap<String, Option<ObservedVm>>,
    /// Assignments defined exactly at each scope, by lower-cased scope.
    pub assignments: BTreeMap<String, Vec<ObservedAssignment>>,
}

/// Lower-cased `rg/name` key for accounts.
pub fn key(rg: &str, name: &str) -> String {
    format!("{rg}/{name}").to_ascii_lowercase()
}

/// The GUID at the end of a role definition id (or the id itself when it is a bare GUID).
pub fn role_guid(role_definition_id: &str) -> String {
    role_definition_id
        .rsplit('/')
        .next()
        .unwrap_or(role_definition_id)
        .to_ascii_lowercase()
}

/// The deterministic name of an assignment: UUIDv5 of (scope, role GUID, principal), so every PUT
/// is idempotent and two concurrent applies converge on one assignment.
pub fn assignment_name(scope: &str, role_definition_id: &str, principal_id: &str) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6b65_796c_6573_7300_8000_726f_6c65_6173);
    let key = format!(
        "{}|{}|{}",
        scope.trim_end_matches('/').to_ascii_lowercase(),
        role_guid(role_definition_id),
        principal_id.to_ascii_lowercase()
    );
    uuid::Uuid::new_v5(&NAMESPACE, key.as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_names_are_deterministic_and_case_insensitive() {
        let a = assignment_name("/subscriptions/S/resourceGroups/RG", "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/5E0BD9BD-7b93-4f28-af87-19fc36ad61bd", "ABC");
        let b = assignment_name(
            "/subscriptions/s/resourcegroups/rg/",
            "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
            "abc",
        );
        assert_eq!(a, b);
        let c = assignment_name(
            "/subscriptions/s/resourcegroups/rg",
            "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
            "abd",
        );
        assert_ne!(a, c);
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 5);
    }
}
