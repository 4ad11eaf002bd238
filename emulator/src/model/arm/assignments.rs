//! Role assignments (Microsoft.Authorization 2022-04-01): create rules, get/delete, and the list
//! filters (behaviour notes §4.1–§4.3).

use super::errors::ArmError;
use super::{ids, roles, ArmState};
use crate::model::directory::PrincipalKind;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Role assignments allowed per subscription.
pub const LIMIT_PER_SUBSCRIPTION: usize = 4000;
/// `description` limit (2 KB).
pub const DESCRIPTION_LIMIT: usize = 2048;
/// `condition` limit (8 KB).
pub const CONDITION_LIMIT: usize = 8192;

/// A role assignment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    /// Name (GUID).
    pub name: String,
    /// Normalised scope.
    pub scope: String,
    /// Role definition GUID.
    pub role_definition_id: String,
    /// Principal object id.
    pub principal_id: String,
    /// `User`, `Group`, `ServicePrincipal`, `ForeignGroup`, `Device`.
    pub principal_type: String,
    /// Description.
    pub description: Option<String>,
    /// ABAC condition.
    pub condition: Option<String>,
    /// Condition version.
    pub condition_version: Option<String>,
    /// Unix seconds created.
    pub created_on: f64,
    /// Unix seconds last updated.
    pub updated_on: f64,
    /// Creator object id.
    pub created_by: Option<String>,
    /// Last updater object id.
    pub updated_by: Option<String>,
    /// Unix seconds from which RBAC honours it (propagation delay).
    pub effective_at: f64,
}

#[cfg(test)]
impl RoleAssignment {
    /// A user assignment with only the fields rules look at (unit tests of this module and of
    /// the RBAC engine).
    pub(crate) fn for_test(
        name: &str,
        scope: &str,
        role_definition_id: &str,
        principal_id: &str,
        effective_at: f64,
    ) -> RoleAssignment {
        RoleAssignment {
            name: name.into(),
            scope: scope.into(),
            role_definition_id: role_definition_id.into(),
            principal_id: principal_id.into(),
            principal_type: "User".into(),
            description: None,
            condition: None,
            condition_version: None,
            created_on: 0.0,
            updated_on: 0.0,
            created_by: None,
            updated_by: None,
            effective_at,
        }
    }
}

impl RoleAssignment {
    /// `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}` (no double slash at root).
    pub fn id(&self) -> String {
        let scope = if self.scope == "/" {
            ""
        } else {
            self.scope.as_str()
        };
        format!(
            "{scope}/providers/Microsoft.Authorization/roleAssignments/{}",
            self.name
        )
    }

    /// RoleAssignment JSON (authorization-RoleAssignmentsCalls.json shape).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id(),
            "name": self.name,
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {
                "roleDefinitionId": roles::definition_id(&self.role_definition_id, &self.scope),
                "principalId": self.principal_id,
                "principalType": self.principal_type,
                "scope": self.scope,
                "condition": self.condition,
                "conditionVersion": self.condition_version,
                "createdOn": ts(self.created_on),
                "updatedOn": ts(self.updated_on),
                "createdBy": self.created_by,
                "updatedBy": self.updated_by,
                "delegatedManagedIdentityResourceId": null,
                "description": self.description,
            }
        })
    }
}

/// `2024-01-01T00:00:00.0000000Z`, as Authorization writes times.
pub fn ts(t: f64) -> String {
    let base = crate::timefmt::iso_time(t);
    let frac = ((t.fract() * 1e7) as u64).min(9_999_999);
    format!("{}.{frac:07}Z", base.trim_end_matches('Z'))
}

/// Everything a PUT needs besides the state.
#[derive(Debug, Clone)]
pub struct CreateRequest<'a> {
    /// Scope as addressed.
    pub scope: &'a str,
    /// Assignment name from the URL.
    pub name: &'a str,
    /// Request body.
    pub body: &'a Value,
    /// Caller object id.
    pub caller: &'a str,
    /// Unix seconds now.
    pub now: f64,
    /// Propagation delay sampled for this assignment (seconds).
    pub propagation: f64,
    /// Tenant id (PrincipalNotFound text).
    pub tenant: &'a str,
}

/// What a PUT did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// New assignment.
    Created,
    /// Same name, same principal/role/scope: description/condition possibly updated.
    Existing,
}

const PRINCIPAL_TYPES: [&str; 5] = [
    "User",
    "Group",
    "ServicePrincipal",
    "ForeignGroup",
    "Device",
];

/// PUT rules, in Azure's order. `lookup` is the directory lookup honouring replication.
pub fn create(
    state: &mut ArmState,
    req: &CreateRequest<'_>,
    lookup: impl Fn(&str) -> Option<PrincipalKind>,
) -> Result<(CreateOutcome, RoleAssignment), ArmError> {
    if !ids::is_guid(req.name) {
        return Err(ArmError::invalid_role_assignment_id(req.name));
    }
    let p = properties(req, lookup)?;
    let scope = ids::normalize_scope(req.scope);
    if let Some(existing) = state
        .role_assignments
        .iter_mut()
        .find(|a| a.name.eq_ignore_ascii_case(req.name))
    {
        if !ids::same_id(&existing.scope, &scope)
            || !existing.principal_id.eq_ignore_ascii_case(&p.principal)
            || !existing.role_definition_id.eq_ignore_ascii_case(&p.role_id)
        {
            return Err(ArmError::role_assignment_update_not_permitted());
        }
        if existing.description != p.description || existing.condition != p.condition {
            existing.description = p.description;
            existing.condition = p.condition;
            existing.condition_version = p.condition_version;
            existing.updated_on = req.now;
            existing.updated_by = Some(req.caller.to_string());
        }
        return Ok((CreateOutcome::Existing, existing.clone()));
    }
    check_new(state, &scope, &p)?;
    let ra = RoleAssignment {
        name: req.name.to_ascii_lowercase(),
        scope,
        role_definition_id: p.role_id,
        principal_id: p.principal,
        principal_type: p.principal_type,
        description: p.description,
        condition: p.condition,
        condition_version: p.condition_version,
        created_on: req.now,
        updated_on: req.now,
        created_by: Some(req.caller.to_string()),
        updated_by: Some(req.caller.to_string()),
        effective_at: req.now + req.propagation.max(0.0),
    };
    state.role_assignments.push(ra.clone());
    Ok((CreateOutcome::Created, ra))
}

/// The validated `properties` of a create.
struct Properties {
    principal: String,
    role_id: String,
    principal_type: String,
    description: Option<String>,
    condition: Option<String>,
    condition_version: Option<String>,
}

/// Validates `properties` in ARM's order: principal id, role, description, condition, then the
/// principal type (given and matching the directory, or looked up).
fn properties(
    req: &CreateRequest<'_>,
    lookup: impl Fn(&str) -> Option<PrincipalKind>,
) -> Result<Properties, ArmError> {
    let props = req
        .body
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| ArmError::invalid_content("The request content was invalid and could not be deserialized: 'properties is required'."))?;
    let text = |k: &str| props.get(k).and_then(Value::as_str).map(str::to_string);
    let principal = text("principalId").unwrap_or_default();
    if principal.is_empty() || !ids::is_guid(&principal) {
        return Err(ArmError::invalid_principal_id(&principal));
    }
    let role_ref = text("roleDefinitionId").unwrap_or_default();
    let role_guid = roles::guid_of(&role_ref).to_string();
    let role = roles::by_id(&role_guid)
        .filter(|_| !role_ref.is_empty())
        .ok_or_else(|| ArmError::role_definition_does_not_exist(&role_guid))?;
    let description = text("description");
    if description
        .as_ref()
        .is_some_and(|d| d.len() > DESCRIPTION_LIMIT)
    {
        return Err(ArmError::new(400, "InvalidRoleAssignmentDescription", format!("The role assignment description exceeds the maximum length of {DESCRIPTION_LIMIT} characters.")));
    }
    let condition = text("condition");
    if condition
        .as_ref()
        .is_some_and(|c| c.len() > CONDITION_LIMIT)
    {
        return Err(ArmError::new(400, "InvalidRoleAssignmentCondition", format!("The role assignment condition exceeds the maximum length of {CONDITION_LIMIT} characters.")));
    }
    let condition_version =
        text("conditionVersion").or_else(|| condition.as_ref().map(|_| "2.0".to_string()));
    let principal_type = principal_type(text("principalType"), &principal, req.tenant, lookup)?;
    Ok(Properties {
        principal,
        role_id: role.id.to_string(),
        principal_type,
        description,
        condition,
        condition_version,
    })
}

/// The principal type: a given one must be valid and match the directory's (when the
/// principal has replicated); without one, the principal must be found.
fn principal_type(
    given: Option<String>,
    principal: &str,
    tenant: &str,
    lookup: impl Fn(&str) -> Option<PrincipalKind>,
) -> Result<String, ArmError> {
    let Some(t) = given else {
        return Ok(lookup(principal)
            .ok_or_else(|| ArmError::principal_not_found(principal, tenant))?
            .as_str()
            .to_string());
    };
    let canonical = PRINCIPAL_TYPES
        .iter()
        .find(|p| p.eq_ignore_ascii_case(&t))
        .ok_or_else(|| ArmError::new(400, "InvalidPrincipalType", format!("The principal type '{t}' is not valid. Valid values are 'User', 'Group', 'ServicePrincipal', 'ForeignGroup' and 'Device'.")))?;
    if let Some(actual) = lookup(principal) {
        if !actual.as_str().eq_ignore_ascii_case(canonical) {
            return Err(ArmError::unmatched_principal_type(
                principal,
                actual.as_str(),
                canonical,
            ));
        }
    }
    Ok(canonical.to_string())
}

/// A new assignment must not repeat (scope, principal, role) and must fit the subscription's
/// limit.
fn check_new(state: &ArmState, scope: &str, p: &Properties) -> Result<(), ArmError> {
    if state.role_assignments.iter().any(|a| {
        ids::same_id(&a.scope, scope)
            && a.principal_id.eq_ignore_ascii_case(&p.principal)
            && a.role_definition_id.eq_ignore_ascii_case(&p.role_id)
    }) {
        return Err(ArmError::role_assignment_exists());
    }
    if let Some(sub) = ids::subscription_of(scope) {
        let count = state
            .role_assignments
            .iter()
            .filter(|a| {
                ids::subscription_of(&a.scope).is_some_and(|s| s.eq_ignore_ascii_case(&sub))
            })
            .count();
        if count >= LIMIT_PER_SUBSCRIPTION {
            return Err(ArmError::role_assignment_limit_exceeded());
        }
    }
    Ok(())
}

/// GET by scope and name.
pub fn get<'a>(
    state: &'a ArmState,
    scope: &str,
    name: &str,
) -> Result<&'a RoleAssignment, ArmError> {
    if !ids::is_guid(name) {
        return Err(ArmError::invalid_role_assignment_id(name));
    }
    state
        .role_assignments
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name) && ids::same_id(&a.scope, scope))
        .ok_or_else(|| ArmError::role_assignment_not_found(name))
}

/// DELETE by scope and name: the removed assignment, or `None` (204) when absent.
pub fn delete(
    state: &mut ArmState,
    scope: &str,
    name: &str,
) -> Result<Option<RoleAssignment>, ArmError> {
    if !ids::is_guid(name) {
        return Err(ArmError::invalid_role_assignment_id(name));
    }
    let pos = state
        .role_assignments
        .iter()
        .position(|a| a.name.eq_ignore_ascii_case(name) && ids::same_id(&a.scope, scope));
    Ok(pos.map(|i| state.role_assignments.remove(i)))
}

/// A parsed `$filter` of a role-assignment list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `atScope()`: at or above the scope only.
    pub at_scope: bool,
    /// `principalId eq '…'`.
    pub principal_id: Option<String>,
    /// `assignedTo('…')`: the principal or any group it transitively belongs to.
    pub assigned_to: Option<String>,
}

/// Parses `atScope()`, `principalId eq '{id}'`, `assignedTo('{id}')` joined by `and`.
pub fn parse_filter(filter: &str) -> Result<Filter, ArmError> {
    let mut f = Filter::default();
    let bad = || {
        ArmError::new(
            400,
            "UnsupportedQuery",
            format!("The filter '{filter}' is not supported. Supported filters are 'atScope()', 'principalId eq '{{value}}'', 'assignedTo('{{value}}')' and their combination with 'and'."),
        )
    };
    for clause in split_and(filter) {
        let c = clause.trim();
        let lc = c.to_ascii_lowercase();
        if lc == "atscope()" {
            f.at_scope = true;
        } else if let Some(rest) = lc.strip_prefix("principalid eq ") {
            let v = unquote(&c[c.len() - rest.len()..]).ok_or_else(bad)?;
            f.principal_id = Some(v);
        } else if lc.starts_with("assignedto(") && lc.ends_with(')') {
            let inner = &c["assignedto(".len()..c.len() - 1];
            f.assigned_to = Some(unquote(inner).ok_or_else(bad)?);
        } else {
            return Err(bad());
        }
    }
    Ok(f)
}

/// Splits on ` and ` (case-insensitive), outside quotes.
pub fn split_and(filter: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut in_quote = false;
    let chars: Vec<char> = filter.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            in_quote = !in_quote;
        }
        if !in_quote && c == ' ' {
            let ahead: String = chars[i..chars.len().min(i + 5)].iter().collect();
            if ahead.eq_ignore_ascii_case(" and ") {
                out.push(std::mem::take(&mut cur));
                i += 5;
                continue;
            }
        }
        cur.push(c);
        i += 1;
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// `'value'` → `value`.
pub fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    (s.len() >= 2 && s.starts_with('\'') && s.ends_with('\''))
        .then(|| s[1..s.len() - 1].to_string())
}

/// Lists assignments visible from `scope` under `filter`. Without `atScope()` the list covers
/// assignments at, above and below the scope. `groups_of` gives the transitive groups of an
/// object id (for `assignedTo`).
pub fn list<'a>(
    state: &'a ArmState,
    scope: &str,
    filter: &Filter,
    groups_of: impl Fn(&str) -> Vec<String>,
) -> Vec<&'a RoleAssignment> {
    let assigned: Option<Vec<String>> = filter.assigned_to.as_ref().map(|p| {
        let mut v = groups_of(p);
        v.push(p.clone());
        v
    });
    state
        .role_assignments
        .iter()
        .filter(|a| {
            let above = ids::is_at_or_above(&a.scope, scope);
            let below = ids::is_at_or_above(scope, &a.scope);
            let in_range = if filter.at_scope {
                above
            } else {
                above || below
            };
            in_range
                && filter
                    .principal_id
                    .as_ref()
                    .is_none_or(|p| p.eq_ignore_ascii_case(&a.principal_id))
                && assigned
                    .as_ref()
                    .is_none_or(|ids| ids.iter().any(|i| i.eq_ignore_ascii_case(&a.principal_id)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "/subscriptions/s";
    const RG: &str = "/subscriptions/s/resourceGroups/rg";
    const ACCT: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a";
    const BOB: &str = "aaaaaaaa-0000-0000-0000-000000000002";
    const GROUP: &str = "99999999-0000-0000-0000-000000000001";
    const READER: &str = "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7";

    fn name(n: u32) -> String {
        format!("00000000-0000-0000-0000-{n:012}")
    }

    fn body(principal: &str, ty: Option<&str>) -> Value {
        let mut b = json!({"properties": {"roleDefinitionId": READER, "principalId": principal}});
        if let Some(t) = ty {
            b["properties"]["principalType"] = json!(t);
        }
        b
    }

    fn dir(oid: &str) -> Option<PrincipalKind> {
        match oid {
            BOB => Some(PrincipalKind::User),
            GROUP => Some(PrincipalKind::Group),
            _ => None,
        }
    }

    fn put(
        s: &mut ArmState,
        scope: &str,
        n: &str,
        b: &Value,
    ) -> Result<(CreateOutcome, RoleAssignment), ArmError> {
        create(
            s,
            &CreateRequest {
                scope,
                name: n,
                body: b,
                caller: "me",
                now: 10.0,
                propagation: 5.0,
                tenant: "t",
            },
            dir,
        )
    }

    #[test]
    fn create_idempotency_and_conflicts() {
        let mut s = ArmState::default();
        let (o, ra) = put(&mut s, RG, &name(1), &body(BOB, None)).unwrap();
        assert_eq!(o, CreateOutcome::Created);
        assert_eq!(ra.principal_type, "User");
        assert_eq!(ra.effective_at, 15.0);
        assert_eq!(ra.to_json()["properties"]["roleDefinitionId"], READER);
        assert_eq!(
            ra.to_json()["id"],
            format!(
                "{RG}/providers/Microsoft.Authorization/roleAssignments/{}",
                name(1)
            )
        );
        let (o, _) = put(&mut s, RG, &name(1), &body(BOB, Some("User"))).unwrap();
        assert_eq!(o, CreateOutcome::Existing);
        let e = put(&mut s, RG, &name(2), &body(BOB, None)).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (409, "RoleAssignmentExists"));
        let e = put(&mut s, SUB, &name(1), &body(BOB, None)).unwrap_err();
        assert_eq!(e.code, "RoleAssignmentUpdateNotPermitted");
        let e = put(&mut s, RG, &name(1), &body(GROUP, None)).unwrap_err();
        assert_eq!(e.code, "RoleAssignmentUpdateNotPermitted");
        // description update under the same name
        let mut b = body(BOB, None);
        b["properties"]["description"] = json!("why");
        let (_, ra) = put(&mut s, RG, &name(1), &b).unwrap();
        assert_eq!(ra.description.as_deref(), Some("why"));
        assert_eq!(s.role_assignments.len(), 1);
    }

    #[test]
    fn validation_errors() {
        let mut s = ArmState::default();
        assert_eq!(
            put(&mut s, RG, "not-a-guid", &body(BOB, None))
                .unwrap_err()
                .code,
            "InvalidRoleAssignmentId"
        );
        let e = put(&mut s, RG, &name(1), &body("xyz", None)).unwrap_err();
        assert_eq!(
            e.message,
            "The Principal ID 'xyz' is not valid. Principal ID must be a GUID."
        );
        let mut b = body(BOB, None);
        b["properties"]["roleDefinitionId"] = json!("/providers/Microsoft.Authorization/roleDefinitions/11111111-1111-1111-1111-111111111111");
        assert_eq!(
            put(&mut s, RG, &name(1), &b).unwrap_err().code,
            "RoleDefinitionDoesNotExist"
        );
        let mut b = body(BOB, None);
        b["properties"]["description"] = json!("x".repeat(DESCRIPTION_LIMIT + 1));
        assert_eq!(put(&mut s, RG, &name(1), &b).unwrap_err().status, 400);
        assert_eq!(
            put(&mut s, RG, &name(1), &body(BOB, Some("Robot")))
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn principal_lookup_rules() {
        let mut s = ArmState::default();
        let ghost = "12345678-1234-1234-1234-123456789012";
        let e = put(&mut s, RG, &name(1), &body(ghost, None)).unwrap_err();
        assert_eq!(e.code, "PrincipalNotFound");
        assert!(e.message.starts_with(
            "Principal 12345678123412341234123456789012 does not exist in the directory t."
        ));
        // with principalType the lookup is skipped (the replication window)
        let (_, ra) = put(&mut s, RG, &name(1), &body(ghost, Some("serviceprincipal"))).unwrap();
        assert_eq!(ra.principal_type, "ServicePrincipal");
        // a resolvable principal with the wrong type
        let e = put(&mut s, RG, &name(2), &body(BOB, Some("ServicePrincipal"))).unwrap_err();
        assert_eq!(e.code, "UnmatchedPrincipalType");
        assert_eq!(e.message, format!("The PrincipalId '{BOB}' has type 'User' , which is different from specified PrinciaplType 'ServicePrincipal'."));
    }

    #[test]
    fn limit_per_subscription() {
        let mut s = ArmState::default();
        for i in 0..LIMIT_PER_SUBSCRIPTION {
            s.role_assignments.push(RoleAssignment::for_test(
                &name(10_000 + i as u32),
                &format!("{RG}{i}"),
                "acdd72a7-3385-48ef-bd42-f606fba81ae7",
                BOB,
                0.0,
            ));
        }
        assert_eq!(
            put(&mut s, SUB, &name(1), &body(BOB, None))
                .unwrap_err()
                .code,
            "RoleAssignmentLimitExceeded"
        );
    }

    #[test]
    fn get_delete() {
        let mut s = ArmState::default();
        put(&mut s, RG, &name(1), &body(BOB, None)).unwrap();
        assert!(get(&s, "/subscriptions/s/resourcegroups/RG", &name(1)).is_ok());
        assert_eq!(get(&s, SUB, &name(1)).unwrap_err().status, 404);
        assert_eq!(
            get(&s, SUB, "x").unwrap_err().code,
            "InvalidRoleAssignmentId"
        );
        assert!(delete(&mut s, RG, &name(1)).unwrap().is_some());
        assert!(delete(&mut s, RG, &name(1)).unwrap().is_none());
        assert_eq!(delete(&mut s, RG, "x").unwrap_err().status, 400);
    }

    #[test]
    fn filters() {
        let mut s = ArmState::default();
        put(&mut s, SUB, &name(1), &body(BOB, None)).unwrap();
        put(&mut s, RG, &name(2), &body(GROUP, None)).unwrap();
        put(&mut s, ACCT, &name(3), &body(BOB, None)).unwrap();
        let groups = |oid: &str| {
            if oid == BOB {
                vec![GROUP.to_string()]
            } else {
                vec![]
            }
        };
        let names = |v: Vec<&RoleAssignment>| v.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
        let all = list(&s, RG, &Filter::default(), groups);
        assert_eq!(names(all), vec![name(1), name(2), name(3)]);
        let at = list(&s, RG, &parse_filter("atScope()").unwrap(), groups);
        assert_eq!(names(at), vec![name(1), name(2)]);
        let p = list(
            &s,
            RG,
            &parse_filter(&format!("principalId eq '{BOB}'")).unwrap(),
            groups,
        );
        assert_eq!(names(p), vec![name(1), name(3)]);
        let a = list(
            &s,
            RG,
            &parse_filter(&format!("assignedTo('{BOB}')")).unwrap(),
            groups,
        );
        assert_eq!(names(a), vec![name(1), name(2), name(3)]);
        let both = list(
            &s,
            RG,
            &parse_filter(&format!("atScope() and assignedTo('{BOB}')")).unwrap(),
            groups,
        );
        assert_eq!(names(both), vec![name(1), name(2)]);
        let sub_only = list(&s, SUB, &parse_filter("atScope()").unwrap(), groups);
        assert_eq!(names(sub_only), vec![name(1)]);
        assert_eq!(
            parse_filter("roleName eq 'x'").unwrap_err().code,
            "UnsupportedQuery"
        );
        assert_eq!(split_and("atScope() AND principalId eq 'a and b'").len(), 2);
    }
}
