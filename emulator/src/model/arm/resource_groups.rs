//! Resource groups (Microsoft.Resources 2021-04-01): create/update, patch, delete (which
//! soft-deletes its Cognitive Services accounts and removes everything else in it).

use super::errors::ArmError;
use super::{ids, ArmState};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// A resource group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroup {
    /// Subscription id.
    pub subscription_id: String,
    /// Name as created.
    pub name: String,
    /// Normalised location.
    pub location: String,
    /// Tags.
    pub tags: Map<String, Value>,
    /// `managedBy`.
    pub managed_by: Option<String>,
}

impl ResourceGroup {
    /// `/subscriptions/{s}/resourceGroups/{name}`.
    pub fn id(&self) -> String {
        ids::rg_id(&self.subscription_id, &self.name)
    }

    /// ResourceGroup JSON (resources.json shape).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id(),
            "name": self.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": self.location,
            "properties": {"provisioningState": "Succeeded"},
        });
        if !self.tags.is_empty() {
            v["tags"] = Value::Object(self.tags.clone());
        }
        if let Some(m) = &self.managed_by {
            v["managedBy"] = json!(m);
        }
        v
    }
}

/// Finds a resource group (case-insensitive name).
pub fn find<'a>(state: &'a ArmState, sub: &str, name: &str) -> Option<&'a ResourceGroup> {
    state
        .resource_groups
        .iter()
        .find(|r| ids::eq(&r.subscription_id, sub) && ids::eq(&r.name, name))
}

/// The group, or 404 SubscriptionNotFound / ResourceGroupNotFound (checked in that order).
pub fn require<'a>(
    state: &'a ArmState,
    sub: &str,
    name: &str,
) -> Result<&'a ResourceGroup, ArmError> {
    state.require_subscription(sub)?;
    find(state, sub, name).ok_or_else(|| ArmError::rg_not_found(name))
}

/// Validates a resource-group name (1–90 chars of letters, digits, `._-()`, not ending in `.`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 90
        && !name.ends_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '(' | ')'))
}

/// PUT: creates (true) or updates (false) a resource group. The location cannot change.
pub fn put(
    state: &mut ArmState,
    sub: &str,
    name: &str,
    body: &Value,
) -> Result<(ResourceGroup, bool), ArmError> {
    if !valid_name(name) {
        return Err(ArmError::new(
            400,
            "InvalidResourceGroup",
            "The provided resource group name has these invalid characters: ''. The name can only be a letter, digit, '-', '.', '(', ')' or '_'. (Code: InvalidResourceGroup)",
        ));
    }
    let location = ids::required_location(body.get("location").and_then(Value::as_str))?;
    let tags = tags_of(body)?;
    let managed_by = body
        .get("managedBy")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(rg) = state
        .resource_groups
        .iter_mut()
        .find(|r| ids::eq(&r.subscription_id, sub) && ids::eq(&r.name, name))
    {
        if rg.location != location {
            return Err(ArmError::new(
                409,
                "InvalidResourceGroupLocation",
                format!(
                    "Invalid resource group location '{location}'. The Resource group already exists in location '{}'.",
                    rg.location
                ),
            ));
        }
        rg.tags = tags;
        rg.managed_by = managed_by;
        return Ok((rg.clone(), false));
    }
    let rg = ResourceGroup {
        subscription_id: sub.to_string(),
        name: name.to_string(),
        location,
        tags,
        managed_by,
    };
    state.resource_groups.push(rg.clone());
    Ok((rg, true))
}

/// PATCH: only tags and managedBy change.
pub fn patch(
    state: &mut ArmState,
    sub: &str,
    name: &str,
    body: &Value,
) -> Result<ResourceGroup, ArmError> {
    let rg = state
        .resource_groups
        .iter_mut()
        .find(|r| ids::eq(&r.subscription_id, sub) && ids::eq(&r.name, name))
        .ok_or_else(|| ArmError::rg_not_found(name))?;
    if body.get("tags").is_some() {
        rg.tags = tags_of(body)?;
    }
    if let Some(m) = body.get("managedBy").and_then(Value::as_str) {
        rg.managed_by = Some(m.to_string());
    }
    Ok(rg.clone())
}

fn tags_of(body: &Value) -> Result<Map<String, Value>, ArmError> {
    match body.get("tags") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(ArmError::invalid_content(
            "The request content was invalid and could not be deserialized: 'tags must be an object'.",
        )),
    }
}

/// What a resource-group delete removed (so the caller can clean the directory up).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Removed {
    /// Principal ids of system-assigned identities of removed VMs and accounts and of removed
    /// user-assigned identities.
    pub principals: Vec<String>,
}

/// DELETE: removes the group; its accounts are soft-deleted, VMs, identities and role
/// assignments at or below it are removed. `None` when it does not exist.
pub fn delete(state: &mut ArmState, sub: &str, name: &str, now: f64) -> Option<Removed> {
    let idx = state
        .resource_groups
        .iter()
        .position(|r| ids::eq(&r.subscription_id, sub) && ids::eq(&r.name, name))?;
    let rg = state.resource_groups.remove(idx);
    let in_rg = |s: &str, r: &str| ids::eq(s, sub) && ids::eq(r, &rg.name);
    let mut removed = Removed::default();
    let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut state.accounts)
        .into_iter()
        .partition(|a| in_rg(&a.subscription_id, &a.resource_group));
    state.accounts = kept;
    for a in gone {
        state
            .deleted_accounts
            .push(super::accounts::DeletedAccount {
                account: a,
                deleted_at: now,
            });
    }
    state.vms.retain(|v| {
        let keep = !in_rg(&v.subscription_id, &v.resource_group);
        if !keep {
            if let Some(p) = &v.identity.system_principal_id {
                removed.principals.push(p.clone());
            }
        }
        keep
    });
    state.identities.retain(|i| {
        let keep = !in_rg(&i.subscription_id, &i.resource_group);
        if !keep {
            removed.principals.push(i.principal_id.clone());
        }
        keep
    });
    let rg_id = rg.id();
    state
        .role_assignments
        .retain(|a| !ids::is_at_or_above(&rg_id, &a.scope));
    Some(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_update_and_location_conflict() {
        let mut s = ArmState::default();
        let (rg, created) = put(
            &mut s,
            "sub",
            "rg-a",
            &json!({"location": "West Europe", "tags": {"a": "b"}}),
        )
        .unwrap();
        assert!(created);
        assert_eq!(rg.location, "westeurope");
        let (rg, created) = put(&mut s, "sub", "RG-A", &json!({"location": "westeurope"})).unwrap();
        assert!(!created);
        assert!(rg.tags.is_empty());
        assert_eq!(rg.name, "rg-a");
        let e = put(&mut s, "sub", "rg-a", &json!({"location": "eastus"})).unwrap_err();
        assert_eq!(e.code, "InvalidResourceGroupLocation");
        let e = put(&mut s, "sub", "rg-b", &json!({})).unwrap_err();
        assert_eq!(e.code, "LocationRequired");
        let p = patch(&mut s, "sub", "rg-a", &json!({"tags": {"x": "y"}})).unwrap();
        assert_eq!(p.tags.get("x"), Some(&json!("y")));
        assert_eq!(
            patch(&mut s, "sub", "nope", &json!({})).unwrap_err().code,
            "ResourceGroupNotFound"
        );
    }

    #[test]
    fn names() {
        assert!(valid_name("rg-ci_(1).x"));
        assert!(!valid_name("rg."));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(""));
    }
}
