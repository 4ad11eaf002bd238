//! User-assigned managed identities (Microsoft.ManagedIdentity 2023-01-31): the resources VMs
//! attach, each backed by a service principal in the directory.

use super::{ids, ArmState};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// A user-assigned identity.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserAssignedIdentity {
    /// Subscription id.
    pub subscription_id: String,
    /// Resource group.
    pub resource_group: String,
    /// Name.
    pub name: String,
    /// Location.
    pub location: String,
    /// Tags.
    pub tags: Map<String, Value>,
    /// Service principal object id.
    pub principal_id: String,
    /// Client (application) id.
    pub client_id: String,
    /// Tenant id.
    pub tenant_id: String,
}

impl UserAssignedIdentity {
    /// ARM id.
    pub fn id(&self) -> String {
        ids::resource_id(
            &self.subscription_id,
            &self.resource_group,
            "Microsoft.ManagedIdentity",
            "userAssignedIdentities",
            &self.name,
        )
    }

    /// Identity JSON (ManagedIdentity.json `Identity`).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id(),
            "name": self.name,
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
            "location": self.location,
            "tags": Value::Object(self.tags.clone()),
            "properties": {
                "tenantId": self.tenant_id,
                "principalId": self.principal_id,
                "clientId": self.client_id,
                "isolationScope": "None",
            }
        })
    }
}

/// The identity with this resource id (case-insensitive).
pub fn find<'a>(state: &'a ArmState, id: &str) -> Option<&'a UserAssignedIdentity> {
    state.identities.iter().find(|i| ids::same_id(&i.id(), id))
}

/// The identity by subscription, resource group and name.
pub fn find_by_name<'a>(
    state: &'a ArmState,
    sub: &str,
    rg: &str,
    name: &str,
) -> Option<&'a UserAssignedIdentity> {
    state.identities.iter().find(|i| {
        ids::eq(&i.subscription_id, sub) && ids::eq(&i.resource_group, rg) && ids::eq(&i.name, name)
    })
}
