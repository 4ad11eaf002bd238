//! Role assignments: create the declared ones Azure lacks (after the account, group or VM
//! identity they need), and prune the ones this manifest owns but no longer declares.

use super::builder::{ActionsByKey, Builder};
use super::types::{ActionKind, FieldChange};
use crate::model::{
    assignment_name, is_owned_by, role_guid, AssignmentSpec, Desired, Observed, PrincipalTarget,
};
use std::collections::BTreeSet;

/// The actions of earlier steps an assignment may have to wait for.
pub(super) struct Upstream<'a> {
    /// Resource group actions, by lower-cased group name.
    pub(super) resource_groups: &'a ActionsByKey,
    /// Account-ready actions, by lower-cased account id.
    pub(super) accounts: &'a ActionsByKey,
    /// VM identity actions, by `rg/name` key.
    pub(super) vms: &'a ActionsByKey,
}

/// Declared assignments whose principal is known, as (lower-cased scope, role GUID, lower-cased
/// principal id): what prune must keep.
pub(super) type Wanted = BTreeSet<(String, String, String)>;

/// Plans every declared assignment; returns those prune must keep.
pub(super) fn plan_assignments(
    b: &mut Builder,
    desired: &Desired,
    observed: &Observed,
    upstream: &Upstream,
) -> Wanted {
    let mut wanted = Wanted::new();
    for spec in &desired.assignments {
        plan_assignment(
            b,
            spec,
            &desired.subscription,
            observed,
            upstream,
            &mut wanted,
        );
    }
    wanted
}

/// One assignment: nothing when it exists (or its VM does not), otherwise a create that waits
/// for its scope and, for a VM identity being enabled, for that VM.
fn plan_assignment(
    b: &mut Builder,
    spec: &AssignmentSpec,
    sub: &str,
    observed: &Observed,
    upstream: &Upstream,
    wanted: &mut Wanted,
) {
    let scope_key = spec.scope.trim_end_matches('/').to_ascii_lowercase();
    let mut deps: Vec<usize> = scope_dependency(&scope_key, sub, upstream)
        .into_iter()
        .collect();
    let resolved_principal: Option<String> = match &spec.principal {
        PrincipalTarget::Known { id, .. } => Some(id.clone()),
        PrincipalTarget::VmIdentity { vm } => match observed.vms.get(&vm.key()) {
            Some(Some(o)) => o.system_principal_id.clone(),
            _ => None,
        },
    };
    let principal_id = resolved_principal.as_deref().map(str::to_ascii_lowercase);
    if let PrincipalTarget::VmIdentity { vm } = &spec.principal {
        if let Some(a) = upstream.vms.get(&vm.key()) {
            deps.push(*a);
        } else if principal_id.is_none() {
            // VM missing: already reported as an error by the VM step.
            return;
        }
    }
    let role = role_guid(&spec.role_definition_id);
    if let Some(pid) = &principal_id {
        wanted.insert((scope_key.clone(), role.clone(), pid.clone()));
        if is_assigned(observed, &scope_key, &role, pid) {
            b.unchanged += 1;
            return;
        }
    }
    let name = principal_id
        .as_deref()
        .map(|p| assignment_name(&spec.scope, &spec.role_definition_id, p));
    let target = format!(
        "{} → {} @ {}",
        spec.role_name,
        spec.principal.display(),
        spec.scope
    );
    let changes = assignment_changes(spec, principal_id.as_deref());
    b.push(
        ActionKind::CreateRoleAssignment {
            spec: spec.clone(),
            name,
            principal_id: resolved_principal,
        },
        target,
        "not assigned",
        changes,
        deps,
    );
}

/// The action that makes the scope exist: the account's when the scope is an account this plan
/// changes, else the resource group's when the scope lies in a group this plan changes.
fn scope_dependency(scope_key: &str, sub: &str, upstream: &Upstream) -> Option<usize> {
    if let Some(a) = upstream.accounts.get(scope_key) {
        return Some(*a);
    }
    let prefix = format!(
        "/subscriptions/{}/resourcegroups/",
        sub.to_ascii_lowercase()
    );
    let rest = scope_key.strip_prefix(&prefix)?;
    let rg = rest.split('/').next()?;
    upstream.resource_groups.get(rg).copied()
}

/// Whether Azure already has this role for this principal at exactly this scope (under any
/// name: a hand-made duplicate is adopted, not recreated).
fn is_assigned(observed: &Observed, scope_key: &str, role: &str, principal_id: &str) -> bool {
    observed.assignments.get(scope_key).is_some_and(|list| {
        list.iter().any(|o| {
            role_guid(&o.role_definition_id) == role
                && o.principal_id.eq_ignore_ascii_case(principal_id)
        })
    })
}

/// The diff of a new assignment; the principal reads as pending when a VM identity this plan
/// enables is not known yet.
fn assignment_changes(spec: &AssignmentSpec, principal_id: Option<&str>) -> Vec<FieldChange> {
    vec![
        FieldChange {
            field: "roleDefinitionId".into(),
            from: None,
            to: Some(spec.role_definition_id.clone()),
        },
        FieldChange {
            field: "principalId".into(),
            from: None,
            to: Some(
                principal_id
                    .map(str::to_string)
                    .unwrap_or_else(|| "(known after the VM identity is enabled)".into()),
            ),
        },
    ]
}

/// Prune: deletes assignments carrying this manifest's marker that it no longer declares. Only
/// scopes keyless observed for this manifest are looked at, so nothing else is ever touched.
pub(super) fn prune(b: &mut Builder, manifest: &str, observed: &Observed, wanted: &Wanted) {
    for (scope, list) in &observed.assignments {
        for o in list {
            let owned = is_owned_by(o.description.as_deref(), manifest);
            let key = (
                scope.clone(),
                role_guid(&o.role_definition_id),
                o.principal_id.to_ascii_lowercase(),
            );
            if owned && !wanted.contains(&key) {
                b.push(
                    ActionKind::DeleteRoleAssignment {
                        assignment: o.clone(),
                    },
                    o.id.clone(),
                    "owned by this manifest and no longer declared (prune: true)",
                    vec![],
                    vec![],
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "00000000-0000-0000-0000-000000000001";

    /// An assignment waits for the account when the plan changes it, else for the group its
    /// scope lies in, and only within the manifest's subscription.
    #[test]
    fn scope_dependency_prefers_the_account_then_the_group() {
        let account = format!("/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/oai");
        let rgs = ActionsByKey::from([("rg".to_string(), 0)]);
        let accounts = ActionsByKey::from([(account.clone(), 1)]);
        let vms = ActionsByKey::new();
        let up = Upstream {
            resource_groups: &rgs,
            accounts: &accounts,
            vms: &vms,
        };
        assert_eq!(scope_dependency(&account, SUB, &up), Some(1));
        let other_account = account.replace("/oai", "/other");
        assert_eq!(scope_dependency(&other_account, SUB, &up), Some(0));
        let rg_scope = format!("/subscriptions/{SUB}/resourcegroups/rg");
        assert_eq!(scope_dependency(&rg_scope, SUB, &up), Some(0));
        let elsewhere = "/subscriptions/other/resourcegroups/rg";
        assert_eq!(scope_dependency(elsewhere, SUB, &up), None);
        let unchanged_rg = format!("/subscriptions/{SUB}/resourcegroups/rg2");
        assert_eq!(scope_dependency(&unchanged_rg, SUB, &up), None);
    }
}
