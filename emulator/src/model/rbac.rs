//! The one RBAC engine, for the management plane (actions) and the data plane (dataActions).
//!
//! Effective permission = the union over the principal's role assignments (direct or through a
//! group in the caller's token) at or above the target scope, counted only once the assignment
//! has propagated (`effective_at <= now`). Within one role, `notActions` / `notDataActions`
//! subtract from what that role grants; they are not denies (behaviour notes §4.2, §4.4, §5.1).

use crate::model::arm::assignments::RoleAssignment;
use crate::model::arm::{ids, roles};
use crate::model::State;

/// Who is asking: the token's object id and the transitive groups it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal<'a> {
    /// Object id.
    pub oid: &'a str,
    /// Group object ids (as of token issue).
    pub groups: &'a [String],
}

/// Which permission list is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// `actions` / `notActions`.
    Control,
    /// `dataActions` / `notDataActions`.
    Data,
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Some effective role grants the action.
    Allow,
    /// None does.
    Deny,
}

/// Checks a management-plane action at `scope`.
pub fn check(state: &State, now: f64, who: &Principal<'_>, action: &str, scope: &str) -> Decision {
    check_plane(
        &state.arm.role_assignments,
        now,
        who,
        Plane::Control,
        action,
        scope,
    )
}

/// True when `who` (or one of its groups) holds an effective role assignment whose scope passes
/// `scope_ok`, whatever the role: what ARM requires to see a subscription or to read role
/// definitions at the root.
pub fn holds_any(
    state: &State,
    now: f64,
    who: &Principal<'_>,
    scope_ok: impl Fn(&str) -> bool,
) -> bool {
    state.arm.role_assignments.iter().any(|a| {
        a.effective_at <= now
            && (a.principal_id.eq_ignore_ascii_case(who.oid)
                || who
                    .groups
                    .iter()
                    .any(|g| g.eq_ignore_ascii_case(&a.principal_id)))
            && scope_ok(&a.scope)
    })
}

/// Checks a data-plane action at `scope`.
pub fn check_data(
    state: &State,
    now: f64,
    who: &Principal<'_>,
    action: &str,
    scope: &str,
) -> Decision {
    check_plane(
        &state.arm.role_assignments,
        now,
        who,
        Plane::Data,
        action,
        scope,
    )
}

/// The engine over a list of assignments (pure; what `check`/`check_data` call).
pub fn check_plane(
    assignments: &[RoleAssignment],
    now: f64,
    who: &Principal<'_>,
    plane: Plane,
    action: &str,
    scope: &str,
) -> Decision {
    let allowed = assignments.iter().any(|a| {
        a.effective_at <= now
            && applies_to(a, who)
            && ids::is_at_or_above(&a.scope, scope)
            && roles::by_id(&a.role_definition_id).is_some_and(|r| role_grants(r, plane, action))
    });
    if allowed {
        Decision::Allow
    } else {
        Decision::Deny
    }
}

fn applies_to(a: &RoleAssignment, who: &Principal<'_>) -> bool {
    a.principal_id.eq_ignore_ascii_case(who.oid)
        || who
            .groups
            .iter()
            .any(|g| g.eq_ignore_ascii_case(&a.principal_id))
}

/// True when `role` grants `action` on `plane` (some grant matches, no subtraction matches).
pub fn role_grants(role: &roles::RoleDefinition, plane: Plane, action: &str) -> bool {
    let (grants, subtracts) = match plane {
        Plane::Control => (role.actions, role.not_actions),
        Plane::Data => (role.data_actions, role.not_data_actions),
    };
    grants.iter().any(|p| action_matches(p, action))
        && !subtracts.iter().any(|p| action_matches(p, action))
}

/// Azure's permission pattern match: `*` matches any substring (including `/`), case-insensitive.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let a = action.to_ascii_lowercase();
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == a;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !a.starts_with(first) || a.len() < first.len() + last.len() || !a.ends_with(last) {
        return false;
    }
    let mut rest = &a[first.len()..a.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ra(scope: &str, role: &str, principal: &str, effective_at: f64) -> RoleAssignment {
        RoleAssignment::for_test(
            &uuid::Uuid::new_v4().to_string(),
            scope,
            roles::by_name(role).unwrap().id,
            principal,
            effective_at,
        )
    }

    const ACCT: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a";
    const CHAT: &str =
        "Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action";

    fn who<'a>(oid: &'a str, groups: &'a [String]) -> Principal<'a> {
        Principal { oid, groups }
    }

    #[test]
    fn wildcards() {
        assert!(action_matches("*", "Microsoft.X/y/write"));
        assert!(action_matches(
            "*/read",
            "Microsoft.CognitiveServices/accounts/read"
        ));
        assert!(!action_matches(
            "*/read",
            "Microsoft.CognitiveServices/accounts/write"
        ));
        assert!(action_matches(
            "Microsoft.CognitiveServices/*/read",
            "microsoft.cognitiveservices/accounts/deployments/READ"
        ));
        assert!(action_matches(
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/roleAssignments/write"
        ));
        assert!(action_matches(
            "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
            "Microsoft.ManagedIdentity/userAssignedIdentities/x/assign/action"
        ));
        assert!(!action_matches(
            "Microsoft.Compute/virtualMachines/*",
            "Microsoft.Compute/disks/read"
        ));
        assert!(action_matches("a*b*c", "aXXbYYc"));
        assert!(!action_matches("a*b*c", "aXXcYYb"));
        assert!(!action_matches("ab*ba", "aba"));
    }

    #[test]
    fn not_actions_subtract_within_their_role_only() {
        let contributor = roles::by_name("Contributor").unwrap();
        assert!(role_grants(
            contributor,
            Plane::Control,
            "Microsoft.Compute/virtualMachines/write"
        ));
        assert!(!role_grants(
            contributor,
            Plane::Control,
            "Microsoft.Authorization/roleAssignments/write"
        ));
        // Contributor + User Access Administrator: the union grants it
        let set = vec![
            ra("/subscriptions/s", "Contributor", "u", 0.0),
            ra("/subscriptions/s", "User Access Administrator", "u", 0.0),
        ];
        assert_eq!(
            check_plane(
                &set,
                1.0,
                &who("u", &[]),
                Plane::Control,
                "Microsoft.Authorization/roleAssignments/write",
                "/subscriptions/s/resourceGroups/rg"
            ),
            Decision::Allow
        );
        let only = vec![set[0].clone()];
        assert_eq!(
            check_plane(
                &only,
                1.0,
                &who("u", &[]),
                Plane::Control,
                "Microsoft.Authorization/roleAssignments/write",
                "/subscriptions/s"
            ),
            Decision::Deny
        );
    }

    #[test]
    fn inheritance_groups_and_propagation() {
        let set = vec![
            ra("/subscriptions/s/resourceGroups/rg", "Reader", "g1", 0.0),
            ra(ACCT, "Cognitive Services OpenAI User", "u", 100.0),
        ];
        let groups = vec!["G1".to_string()];
        assert_eq!(
            check_plane(
                &set,
                1.0,
                &who("u", &groups),
                Plane::Control,
                "Microsoft.CognitiveServices/accounts/read",
                ACCT
            ),
            Decision::Allow
        );
        assert_eq!(
            check_plane(
                &set,
                1.0,
                &who("u", &[]),
                Plane::Control,
                "Microsoft.CognitiveServices/accounts/read",
                ACCT
            ),
            Decision::Deny
        );
        assert_eq!(
            check_plane(
                &set,
                1.0,
                &who("u", &groups),
                Plane::Control,
                "Microsoft.Resources/subscriptions/read",
                "/subscriptions/s"
            ),
            Decision::Deny
        );
        // not yet propagated, then effective
        assert_eq!(
            check_plane(&set, 99.0, &who("u", &[]), Plane::Data, CHAT, ACCT),
            Decision::Deny
        );
        assert_eq!(
            check_plane(&set, 100.0, &who("u", &[]), Plane::Data, CHAT, ACCT),
            Decision::Allow
        );
        // not at a sibling scope
        assert_eq!(
            check_plane(
                &set,
                100.0,
                &who("u", &[]),
                Plane::Data,
                CHAT,
                &format!("{ACCT}2")
            ),
            Decision::Deny
        );
    }

    #[test]
    fn owner_has_no_data_actions_and_not_data_actions_subtract() {
        let set = vec![ra("/subscriptions/s", "Owner", "u", 0.0)];
        assert_eq!(
            check_plane(&set, 1.0, &who("u", &[]), Plane::Data, CHAT, ACCT),
            Decision::Deny
        );
        let set = vec![ra(ACCT, "Cognitive Services OpenAI User", "u", 0.0)];
        assert_eq!(
            check_plane(
                &set,
                1.0,
                &who("u", &[]),
                Plane::Data,
                "Microsoft.CognitiveServices/accounts/OpenAI/stored-completions/read",
                ACCT
            ),
            Decision::Deny
        );
        assert_eq!(
            check_plane(
                &set,
                1.0,
                &who("u", &[]),
                Plane::Data,
                "Microsoft.CognitiveServices/accounts/OpenAI/deployments/read",
                ACCT
            ),
            Decision::Allow
        );
    }
}
