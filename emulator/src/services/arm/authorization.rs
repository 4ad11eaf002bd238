//! Microsoft.Authorization: role definitions (list/get at any scope, by id) and role
//! assignments (create, get, delete, list with filters and paging) at any scope.

use super::common::{list, page, Cx, Out};
use super::resources::method_not_allowed;
use crate::http::Resp;
use crate::model::arm::assignments::{self, CreateOutcome, CreateRequest};
use crate::model::arm::errors::ArmError;
use crate::model::arm::ids::{self, ScopeKind};
use crate::model::arm::{accounts, identities, resource_groups, roles, vms};
use crate::model::rbac;
use crate::model::State;
use serde_json::Value;

/// Role definitions are readable by anyone with any assignment at, above or below the scope
/// (at the root: anywhere in the tenant); elsewhere `roleDefinitions/read` is checked.
fn authorize_definitions(cx: &Cx<'_>, st: &State, scope: &str) -> Result<(), ArmError> {
    let action = "Microsoft.Authorization/roleDefinitions/read";
    if ids::normalize_scope(scope) == "/" {
        let any = rbac::holds_any(st, cx.now, &cx.principal(), |_| true);
        return if any {
            Ok(())
        } else {
            Err(ArmError::authorization_failed(
                &cx.caller.display,
                &cx.caller.oid,
                action,
                &cx.req.path,
            ))
        };
    }
    cx.authorize(st, action, &cx.req.path)
}

/// GET `{scope}/providers/Microsoft.Authorization/roleDefinitions` with `roleName eq` / `type eq`.
pub fn list_definitions(cx: &Cx<'_>, st: &State, scope: &str) -> Out {
    if cx.req.method != "GET" {
        return Err(method_not_allowed(&cx.req.method));
    }
    authorize_definitions(cx, st, scope)?;
    let mut name: Option<String> = None;
    let mut ty: Option<String> = None;
    if let Some(f) = cx.req.query("$filter").filter(|f| !f.trim().is_empty()) {
        for clause in assignments::split_and(f) {
            let c = clause.trim();
            let lc = c.to_ascii_lowercase();
            let value = |prefix: &str| assignments::unquote(&c[prefix.len()..]);
            if lc.starts_with("rolename eq ") {
                name = value("rolename eq ");
            } else if lc.starts_with("type eq ") {
                ty = value("type eq ");
            } else {
                return Err(ArmError::new(400, "UnsupportedQuery", format!("The filter '{f}' is not supported. Supported filters are 'roleName eq '{{value}}'' and 'type eq '{{value}}''.")));
            }
        }
    }
    let values: Vec<Value> = roles::BUILT_IN
        .iter()
        .filter(|r| name.as_ref().is_none_or_ci(r.role_name))
        .filter(|_| ty.as_ref().is_none_or_ci("BuiltInRole"))
        .map(|r| roles::to_json(r, scope))
        .collect();
    let (values, next) = page(cx, values, st.arm.settings.page_size);
    Ok(list(values, next))
}

trait CiEq {
    fn is_none_or_ci(&self, v: &str) -> bool;
}

impl CiEq for Option<&String> {
    fn is_none_or_ci(&self, v: &str) -> bool {
        match self {
            None => true,
            Some(x) => x.eq_ignore_ascii_case(v),
        }
    }
}

/// GET `{scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}` (also by full id).
pub fn get_definition(cx: &Cx<'_>, st: &State, scope: &str, id: &str) -> Out {
    if cx.req.method != "GET" {
        return Err(method_not_allowed(&cx.req.method));
    }
    authorize_definitions(cx, st, scope)?;
    let r = roles::by_id(id).ok_or_else(|| ArmError::role_definition_not_found(id))?;
    Ok(Resp::json(200, &roles::to_json(r, scope)))
}

/// The scope must be well-formed and, for the resource types the emulator knows, exist.
fn check_scope(st: &State, scope: &str) -> Result<(), ArmError> {
    let kind = ids::classify_scope(scope).ok_or_else(|| {
        ArmError::new(
            400,
            "InvalidScope",
            format!("The scope '{scope}' is not valid."),
        )
    })?;
    let sub_exists = |s: &str| {
        st.arm
            .subscription(s)
            .map(|_| ())
            .ok_or_else(|| ArmError::subscription_not_found(s))
    };
    match kind {
        ScopeKind::Root | ScopeKind::ManagementGroup(_) => Ok(()),
        ScopeKind::Subscription(s) => sub_exists(&s),
        ScopeKind::ResourceGroup(s, rg) => {
            sub_exists(&s)?;
            resource_groups::find(&st.arm, &s, &rg)
                .map(|_| ())
                .ok_or_else(|| ArmError::rg_not_found(&rg))
        }
        ScopeKind::Resource(s, rg) => {
            sub_exists(&s)?;
            resource_groups::find(&st.arm, &s, &rg).ok_or_else(|| ArmError::rg_not_found(&rg))?;
            let segs: Vec<&str> = scope.split('/').filter(|x| !x.is_empty()).collect();
            let (ns, ty, name) = (
                segs[5].to_ascii_lowercase(),
                segs[6].to_ascii_lowercase(),
                segs[7],
            );
            let exists = match (ns.as_str(), ty.as_str(), segs.len()) {
                ("microsoft.cognitiveservices", "accounts", 8) => {
                    accounts::find(&st.arm, &s, &rg, name).is_some()
                }
                ("microsoft.compute", "virtualmachines", 8) => {
                    vms::find(&st.arm, &s, &rg, name).is_some()
                }
                ("microsoft.managedidentity", "userassignedidentities", 8) => {
                    identities::find_by_name(&st.arm, &s, &rg, name).is_some()
                }
                _ => true,
            };
            if exists {
                Ok(())
            } else {
                Err(ArmError::resource_not_found(
                    &format!("{}/{}/{}", segs[5], segs[6], name),
                    &rg,
                ))
            }
        }
    }
}

/// PUT/GET/DELETE `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
pub fn assignment(cx: &Cx<'_>, st: &mut State, scope: &str, name: &str) -> Out {
    let method = cx.req.method.as_str();
    let action = match method {
        "PUT" => "Microsoft.Authorization/roleAssignments/write",
        "DELETE" => "Microsoft.Authorization/roleAssignments/delete",
        "GET" => "Microsoft.Authorization/roleAssignments/read",
        m => return Err(method_not_allowed(m)),
    };
    cx.authorize(st, action, &cx.req.path)?;
    match method {
        "GET" => Ok(Resp::json(
            200,
            &assignments::get(&st.arm, scope, name)?.to_json(),
        )),
        "DELETE" => Ok(match assignments::delete(&mut st.arm, scope, name)? {
            Some(ra) => Resp::json(200, &ra.to_json()),
            None => Resp::empty(204),
        }),
        _ => {
            if !ids::is_guid(name) {
                return Err(ArmError::invalid_role_assignment_id(name));
            }
            check_scope(st, scope)?;
            let body = cx.body()?;
            let req = CreateRequest {
                scope,
                name,
                body: &body,
                caller: &cx.caller.oid,
                now: cx.now,
                propagation: cx.ctx.timing().propagation_delay.sample(),
                tenant: cx.tenant(),
            };
            let (arm, dir) = (&mut st.arm, &st.directory);
            let (outcome, ra) =
                assignments::create(arm, &req, |oid| dir.lookup(oid, req.now).map(|p| p.kind))?;
            // Same name + same body is idempotent; Azure answers 201 for it too
            // (Azure/azure-rest-api-specs#5226), so both outcomes are 201.
            let status = match outcome {
                CreateOutcome::Created | CreateOutcome::Existing => 201,
            };
            Ok(Resp::json(status, &ra.to_json()))
        }
    }
}

/// GET `{scope}/providers/Microsoft.Authorization/roleAssignments` with `$filter` and paging.
pub fn list_assignments(cx: &Cx<'_>, st: &State, scope: &str) -> Out {
    if cx.req.method != "GET" {
        return Err(method_not_allowed(&cx.req.method));
    }
    cx.authorize(
        st,
        "Microsoft.Authorization/roleAssignments/read",
        &cx.req.path,
    )?;
    let filter = match cx.req.query("$filter").filter(|f| !f.trim().is_empty()) {
        Some(f) => assignments::parse_filter(f)?,
        None => Default::default(),
    };
    let dir = &st.directory;
    let found: Vec<Value> =
        assignments::list(&st.arm, scope, &filter, |oid| dir.transitive_groups(oid))
            .into_iter()
            .map(|a| a.to_json())
            .collect();
    let (values, next) = page(cx, found, st.arm.settings.page_size);
    Ok(list(values, next))
}
