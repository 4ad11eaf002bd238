//! User-assigned managed identities (Microsoft.ManagedIdentity 2023-01-31): the resources VMs
//! attach, each backed by a service principal in the directory. Creating one creates its service
//! principal (visible after the replication delay); deleting one deletes it.

use super::errors::ArmError;
use super::{ids, resource_groups, ArmState};
use crate::model::directory::Directory;
use crate::model::State;
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

/// Where a new identity goes and what it is called.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIdentity<'a> {
    /// Subscription id.
    pub subscription_id: &'a str,
    /// Resource group.
    pub resource_group: &'a str,
    /// Name.
    pub name: &'a str,
    /// Normalised location.
    pub location: String,
    /// Tags.
    pub tags: Map<String, Value>,
    /// Tenant id.
    pub tenant_id: &'a str,
}

/// Creates an identity and its service principal, which lookups find `replication_delay`
/// seconds after `now`. Used by the world seed and by PUT.
pub fn create(
    dir: &mut Directory,
    identities: &mut Vec<UserAssignedIdentity>,
    new: NewIdentity<'_>,
    now: f64,
    replication_delay: f64,
) -> UserAssignedIdentity {
    let id = ids::resource_id(
        new.subscription_id,
        new.resource_group,
        "Microsoft.ManagedIdentity",
        "userAssignedIdentities",
        new.name,
    );
    let (principal_id, client_id) =
        dir.create_managed_identity(new.name, &id, now, replication_delay);
    let u = UserAssignedIdentity {
        subscription_id: new.subscription_id.to_string(),
        resource_group: new.resource_group.to_string(),
        name: new.name.to_string(),
        location: new.location,
        tags: new.tags,
        principal_id,
        client_id,
        tenant_id: new.tenant_id.to_string(),
    };
    identities.push(u.clone());
    u
}

/// What a PUT or PATCH of an identity asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityWrite<'a> {
    /// Subscription id.
    pub subscription_id: &'a str,
    /// Resource group.
    pub resource_group: &'a str,
    /// Name.
    pub name: &'a str,
    /// `location` of the body, if any.
    pub location: Option<&'a str>,
    /// `tags` of the body (replace the existing ones).
    pub tags: Map<String, Value>,
    /// PATCH: update only, never create.
    pub patch: bool,
}

/// How a write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// An existing identity's tags were replaced (200).
    Updated,
    /// A new identity and service principal were created (201).
    Created,
}

/// 404 ResourceNotFound of identity `name` in `rg`.
pub fn not_found(name: &str, rg: &str) -> ArmError {
    ArmError::resource_not_found(
        &format!("Microsoft.ManagedIdentity/userAssignedIdentities/{name}"),
        rg,
    )
}

/// PUT/PATCH: updates the tags of an existing identity, or (PUT only) creates it, which needs a
/// `location`. The resource group must exist.
pub fn write(
    st: &mut State,
    w: IdentityWrite<'_>,
    tenant_id: &str,
    now: f64,
    replication_delay: f64,
) -> Result<(UserAssignedIdentity, Written), ArmError> {
    let (sub, rg, name) = (w.subscription_id, w.resource_group, w.name);
    resource_groups::require(&st.arm, sub, rg)?;
    if let Some(u) = st.arm.identities.iter_mut().find(|u| {
        ids::eq(&u.subscription_id, sub) && ids::eq(&u.resource_group, rg) && ids::eq(&u.name, name)
    }) {
        u.tags = w.tags;
        return Ok((u.clone(), Written::Updated));
    }
    if w.patch {
        return Err(not_found(name, rg));
    }
    let location = w
        .location
        .map(ids::normalize_location)
        .ok_or_else(ArmError::location_required)?;
    let new = NewIdentity {
        subscription_id: sub,
        resource_group: rg,
        name,
        location,
        tags: w.tags,
        tenant_id,
    };
    let State { directory, arm, .. } = st;
    let u = create(directory, &mut arm.identities, new, now, replication_delay);
    Ok((u, Written::Created))
}

/// DELETE: removes the identity and its service principal. `Ok(false)` when it did not exist.
pub fn delete(st: &mut State, sub: &str, rg: &str, name: &str) -> Result<bool, ArmError> {
    resource_groups::require(&st.arm, sub, rg)?;
    let pos = st.arm.identities.iter().position(|u| {
        ids::eq(&u.subscription_id, sub) && ids::eq(&u.resource_group, rg) && ids::eq(&u.name, name)
    });
    let Some(p) = pos else {
        return Ok(false);
    };
    let u = st.arm.identities.remove(p);
    st.directory.delete_service_principal(&u.principal_id);
    Ok(true)
}
