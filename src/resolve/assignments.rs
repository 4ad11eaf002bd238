//! Role assignments: one `AssignmentSpec` per (role assignment, principal) of the manifest, with
//! its scope as a full ARM id and its role and principal resolved.

use super::principals::{self, Found};
use super::roles::Roles;
use super::ResolveProblem;
use crate::azure::graph::CallerIdentity;
use crate::manifest::{LoadedManifest, ScopeRef};
use crate::model::{account_id, rg_id, AssignmentSpec};

/// The desired assignments, in manifest order. A principal that did not resolve adds a problem
/// at `roleAssignments[i].principals[j]`; an assignment whose role did not resolve is left out
/// (its role's problem is already reported).
pub(super) fn assignment_specs(
    loaded: &LoadedManifest,
    caller: &CallerIdentity,
    roles: &Roles,
    found: &Found,
    problems: &mut Vec<ResolveProblem>,
) -> Vec<AssignmentSpec> {
    let m = &loaded.manifest;
    let sub = &m.subscription;
    let mut assignments = Vec::new();
    for (i, ra) in m.role_assignments.iter().enumerate() {
        let scope = match &ra.scope {
            ScopeRef::Account(a) => {
                let acc = m.account(a).expect("validated reference");
                account_id(sub, &acc.resource_group, &acc.name)
            }
            ScopeRef::ResourceGroup(rg) => rg_id(sub, rg),
        };
        for (j, p) in ra.principals.iter().enumerate() {
            let path = format!("roleAssignments[{i}].principals[{j}]");
            match (principals::target(p, caller, found), roles.get(&i)) {
                (Ok(principal), Some((role_definition_id, role_name))) => {
                    assignments.push(AssignmentSpec {
                        scope: scope.clone(),
                        role_definition_id: role_definition_id.clone(),
                        role_name: role_name.clone(),
                        principal,
                        description: ra.description.clone(),
                    })
                }
                (Err((message, help)), _) => {
                    problems.push(ResolveProblem::at(loaded, &path, message, help))
                }
                (Ok(_), None) => {}
            }
        }
    }
    assignments
}
