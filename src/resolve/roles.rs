//! Roles: each role assignment's `role` to a full role definition id. Built-in names, GUIDs and
//! full ids resolve offline; any other name costs one ARM lookup.

use super::ResolveProblem;
use crate::azure::arm::Arm;
use crate::azure::error::AzureError;
use crate::manifest::{LoadedManifest, RoleRef};
use std::collections::BTreeMap;

/// Index in `roleAssignments` → (full role definition id, name for output). An index is absent
/// when its role did not resolve (a problem says why).
pub(super) type Roles = BTreeMap<usize, (String, String)>;

/// Resolves the role of every role assignment, in manifest order; a role that does not resolve
/// adds a problem at `roleAssignments[i].role`.
pub(super) async fn resolve_roles(
    loaded: &LoadedManifest,
    arm: &Arm,
    problems: &mut Vec<ResolveProblem>,
) -> Result<Roles, AzureError> {
    let m = &loaded.manifest;
    let sub = &m.subscription;
    let mut roles = Roles::new();
    for (i, ra) in m.role_assignments.iter().enumerate() {
        let path = format!("roleAssignments[{i}].role");
        let def = |guid: &str| {
            format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}")
        };
        match ra.role_ref() {
            Ok(RoleRef::Builtin(b)) => {
                roles.insert(i, (def(b.id), b.name.to_string()));
            }
            Ok(RoleRef::DefinitionGuid(g)) => {
                roles.insert(i, (def(&g), g.clone()));
            }
            Ok(RoleRef::DefinitionId { id, guid }) => {
                roles.insert(i, (id.clone(), guid));
            }
            Ok(RoleRef::Name(n)) => match arm.role_definition_by_name(&n).await? {
                Some(id) => {
                    roles.insert(i, (id, n));
                }
                None => problems.push(ResolveProblem::at(
                    loaded,
                    &path,
                    format!("role `{n}` does not exist in subscription {sub}"),
                    "check the name with `az role definition list --name '<role>'`, or use a role definition GUID".into(),
                )),
            },
            Err(e) => problems.push(ResolveProblem::at(
                loaded,
                &path,
                format!("invalid role: {e:?}"),
                "use a built-in role name, a role definition GUID or a full role definition id"
                    .into(),
            )),
        }
    }
    Ok(roles)
}
