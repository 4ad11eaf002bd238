//! Microsoft.Resources: subscriptions, provider registration, resource groups and the
//! resource-group delete monitor.

use super::common::{list, retry_after, Cx, Out};
use crate::http::Resp;
use crate::model::arm::errors::ArmError;
use crate::model::arm::operations::{self, OpKind, OpStatus, Operation};
use crate::model::arm::{ids, resource_groups};
use crate::model::rbac;
use crate::model::State;
use serde_json::{json, Value};

/// True when the caller has any effective role assignment at, above or below `scope`
/// (what ARM requires to see a subscription).
fn has_any_access(cx: &Cx<'_>, st: &State, scope: &str) -> bool {
    rbac::holds_any(st, cx.now, &cx.principal(), |s| {
        ids::is_at_or_above(s, scope) || ids::is_at_or_above(scope, s)
    })
}

fn subscription_json(s: &crate::model::arm::Subscription) -> Value {
    json!({
        "id": format!("/subscriptions/{}", s.id),
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": s.id,
        "tenantId": s.tenant_id,
        "displayName": s.display_name,
        "state": "Enabled",
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
    })
}

/// GET /subscriptions: the subscriptions the caller has any access in.
pub fn list_subscriptions(cx: &Cx<'_>, st: &State) -> Out {
    let values: Vec<Value> = st
        .arm
        .subscriptions
        .iter()
        .filter(|s| has_any_access(cx, st, &format!("/subscriptions/{}", s.id)))
        .map(subscription_json)
        .collect();
    let n = values.len();
    Ok(Resp::json(
        200,
        &json!({"value": values, "count": {"type": "Total", "value": n}}),
    ))
}

/// GET /subscriptions/{s}.
pub fn get_subscription(cx: &Cx<'_>, st: &State, sub: &str) -> Out {
    let scope = format!("/subscriptions/{sub}");
    if !has_any_access(cx, st, &scope) {
        return Err(ArmError::authorization_failed(
            &cx.caller.display,
            &cx.caller.oid,
            "Microsoft.Resources/subscriptions/read",
            &scope,
        ));
    }
    let s = st
        .arm
        .subscription(sub)
        .ok_or_else(|| ArmError::subscription_not_found(sub))?;
    Ok(Resp::json(200, &subscription_json(s)))
}

/// GET /subscriptions/{s}/providers/{ns} and POST …/register: every provider is registered.
pub fn provider(cx: &Cx<'_>, st: &State, sub: &str, ns: &str, register: bool) -> Out {
    let action = if register {
        format!("{ns}/register/action")
    } else {
        "Microsoft.Resources/subscriptions/providers/read".into()
    };
    cx.authorize(st, &action, &cx.req.path)?;
    st.arm.require_subscription(sub)?;
    Ok(Resp::json(
        200,
        &json!({
            "id": format!("/subscriptions/{sub}/providers/{ns}"),
            "namespace": ns,
            "registrationState": "Registered",
            "registrationPolicy": "RegistrationRequired",
            "resourceTypes": [],
        }),
    ))
}

/// GET /subscriptions/{s}/resourcegroups: the groups the caller may read.
pub fn list_groups(cx: &Cx<'_>, st: &State, sub: &str) -> Out {
    cx.authorize_any_read(st, sub)?;
    st.arm.require_subscription(sub)?;
    let values = st
        .arm
        .resource_groups
        .iter()
        .filter(|r| ids::eq(&r.subscription_id, sub))
        .filter(|r| {
            cx.allowed(
                st,
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                &r.id(),
            )
        })
        .map(|r| r.to_json())
        .collect();
    Ok(list(values, None))
}

impl Cx<'_> {
    /// Lists need some access in the subscription (else 403 on the list scope).
    fn authorize_any_read(&self, st: &State, sub: &str) -> Result<(), ArmError> {
        let scope = format!("/subscriptions/{sub}");
        if has_any_access(self, st, &scope) {
            Ok(())
        } else {
            Err(ArmError::authorization_failed(
                &self.caller.display,
                &self.caller.oid,
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                &self.req.path,
            ))
        }
    }
}

/// PUT/GET/HEAD/PATCH/DELETE of a resource group.
pub fn group(cx: &Cx<'_>, st: &mut State, sub: &str, rg: &str) -> Out {
    let method = cx.req.method.as_str();
    let action = match method {
        "PUT" | "PATCH" => "Microsoft.Resources/subscriptions/resourceGroups/write",
        "DELETE" => "Microsoft.Resources/subscriptions/resourceGroups/delete",
        _ => "Microsoft.Resources/subscriptions/resourceGroups/read",
    };
    cx.authorize(st, action, &cx.req.path)?;
    st.arm.require_subscription(sub)?;
    match method {
        "PUT" => {
            let body = cx.body()?;
            let (rg, created) = resource_groups::put(&mut st.arm, sub, rg, &body)?;
            Ok(Resp::json(if created { 201 } else { 200 }, &rg.to_json()))
        }
        "PATCH" => {
            let body = cx.body()?;
            Ok(Resp::json(
                200,
                &resource_groups::patch(&mut st.arm, sub, rg, &body)?.to_json(),
            ))
        }
        "HEAD" => Ok(Resp::empty(
            if resource_groups::find(&st.arm, sub, rg).is_some() {
                204
            } else {
                404
            },
        )),
        "GET" => resource_groups::find(&st.arm, sub, rg)
            .map(|r| Resp::json(200, &r.to_json()))
            .ok_or_else(|| ArmError::rg_not_found(rg)),
        "DELETE" => {
            let location = resource_groups::find(&st.arm, sub, rg)
                .map(|r| r.location.clone())
                .ok_or_else(|| ArmError::rg_not_found(rg))?;
            let removed = resource_groups::delete(&mut st.arm, sub, rg, cx.now).unwrap_or_default();
            for p in &removed.principals {
                st.directory.delete_service_principal(p);
            }
            let d = st.arm.settings.provisioning_seconds;
            let op = Operation::new(
                OpKind::ResourceGroupDelete,
                sub,
                "Microsoft.Resources",
                &location,
                &ids::rg_id(sub, rg),
                cx.now,
                Some(cx.now + d),
                &cx.api_version,
            );
            let loc = cx.location_url(&op);
            st.arm.operations.push(op);
            Ok(Resp::empty(202)
                .with_header("location", loc)
                .with_header("retry-after", retry_after(d)))
        }
        _ => Err(method_not_allowed(method)),
    }
}

/// GET /subscriptions/{s}/operationresults/{id}: 202 while the delete runs, then 200.
pub fn operation_result(cx: &Cx<'_>, st: &State, sub: &str, id: &str) -> Out {
    let op = operations::find(&st.arm.operations, sub, id)?;
    Ok(match op.status(cx.now) {
        OpStatus::InProgress => Resp::empty(202)
            .with_header("location", cx.location_url(op))
            .with_header("retry-after", "1"),
        _ => Resp::empty(200),
    })
}

/// 405 for a method a route does not serve.
pub fn method_not_allowed(method: &str) -> ArmError {
    ArmError::new(
        405,
        "MethodNotAllowed",
        format!("The requested resource does not support http method '{method}'."),
    )
}
