//! Microsoft.CognitiveServices: accounts, keys, model deployments, soft-deleted accounts,
//! subdomain availability and the provider's operation monitors.

use super::common::{list, retry_after, Cx, Out};
use super::monitors;
use super::resources::method_not_allowed;
use crate::http::Resp;
use crate::model::arm::accounts::deployments;
use crate::model::arm::accounts::{self, AccountInput, PutOutcome, WriteContext};
use crate::model::arm::errors::ArmError;
use crate::model::arm::operations::{OpKind, Operation};
use crate::model::arm::{ids, resource_groups, subdomain};
use crate::model::State;
use serde_json::{json, Value};

const NS: &str = "Microsoft.CognitiveServices";

fn not_found(name: &str, rg: &str) -> ArmError {
    ArmError::resource_not_found(&format!("{NS}/accounts/{name}"), rg)
}

fn require_rg(st: &State, sub: &str, rg: &str) -> Result<(), ArmError> {
    resource_groups::require(&st.arm, sub, rg).map(|_| ())
}

fn account_index(st: &State, sub: &str, rg: &str, name: &str) -> Result<usize, ArmError> {
    require_rg(st, sub, rg)?;
    accounts::find(&st.arm, sub, rg, name).ok_or_else(|| not_found(name, rg))
}

fn push_op(
    cx: &Cx<'_>,
    st: &mut State,
    kind: OpKind,
    sub: &str,
    location: &str,
    resource: &str,
    done_at: f64,
) -> Operation {
    let op = Operation::new(
        kind,
        sub,
        NS,
        location,
        resource,
        cx.now,
        Some(done_at),
        &cx.api_version,
    );
    st.arm.operations.push(op.clone());
    op
}

fn lro(cx: &Cx<'_>, resp: Resp, op: &Operation, location: bool) -> Resp {
    let mut r = resp
        .with_header("azure-asyncoperation", cx.async_url(op))
        .with_header(
            "retry-after",
            retry_after(op.done_at.unwrap_or(cx.now) - cx.now),
        );
    if location {
        r = r.with_header("location", cx.location_url(op));
    }
    r
}

/// PUT/GET/PATCH/DELETE of an account.
pub fn account(cx: &Cx<'_>, st: &mut State, sub: &str, rg: &str, name: &str) -> Out {
    let method = cx.req.method.as_str();
    let action = match method {
        "PUT" | "PATCH" => "Microsoft.CognitiveServices/accounts/write",
        "DELETE" => "Microsoft.CognitiveServices/accounts/delete",
        "GET" => "Microsoft.CognitiveServices/accounts/read",
        m => return Err(method_not_allowed(m)),
    };
    cx.authorize(st, action, &cx.req.path)?;
    let (base, tenant, now) = (cx.base().to_string(), cx.tenant().to_string(), cx.now);
    match method {
        "GET" => {
            let i = account_index(st, sub, rg, name)?;
            Ok(Resp::json(
                200,
                &st.arm.accounts[i].to_json(now, &base, &tenant),
            ))
        }
        "PUT" => {
            require_rg(st, sub, rg)?;
            if !accounts::valid_name(name) {
                return Err(ArmError::new(400, "InvalidResourceName", format!("Resource name {name} is invalid. The name can be up to 64 characters long. It can contain alphanumeric characters and hyphens, and must start with an alphanumeric character.")));
            }
            let input = AccountInput::from_body(&cx.body()?)?;
            let d = st.arm.settings.provisioning_seconds;
            let w = WriteContext {
                sub,
                rg,
                name,
                now,
                provisioning: d,
                caller: &cx.caller.oid,
            };
            let (outcome, i) = accounts::put(&mut st.arm, &w, &input)?;
            ensure_identity(cx, st, i);
            let a = &st.arm.accounts[i];
            let body = a.to_json(now, &base, &tenant);
            match outcome {
                PutOutcome::Updated => Ok(Resp::json(200, &body)),
                PutOutcome::Created | PutOutcome::Restored => {
                    let (loc, id, ready) = (a.location.clone(), a.id(), a.ready_at);
                    let op = push_op(cx, st, OpKind::AccountCreate, sub, &loc, &id, ready);
                    Ok(lro(cx, Resp::json(201, &body), &op, false))
                }
            }
        }
        "PATCH" => {
            let i = account_index(st, sub, rg, name)?;
            accounts::patch(&mut st.arm, i, &cx.body()?, now)?;
            ensure_identity(cx, st, i);
            let a = &st.arm.accounts[i];
            let body = a.to_json(now, &base, &tenant);
            let (loc, id) = (a.location.clone(), a.id());
            let op = push_op(cx, st, OpKind::AccountUpdate, sub, &loc, &id, now);
            Ok(lro(cx, Resp::json(200, &body), &op, true))
        }
        _ => {
            require_rg(st, sub, rg)?;
            let location =
                accounts::find(&st.arm, sub, rg, name).map(|i| st.arm.accounts[i].location.clone());
            if !accounts::soft_delete(&mut st.arm, sub, rg, name, now)? {
                return Ok(Resp::empty(204));
            }
            let d = st.arm.settings.provisioning_seconds;
            let id = ids::resource_id(sub, rg, NS, "accounts", name);
            let op = push_op(
                cx,
                st,
                OpKind::AccountDelete,
                sub,
                &location.unwrap_or_default(),
                &id,
                now + d,
            );
            Ok(lro(cx, Resp::empty(202), &op, true))
        }
    }
}

/// Creates the service principal of a requested system-assigned account identity.
fn ensure_identity(cx: &Cx<'_>, st: &mut State, i: usize) {
    let a = &st.arm.accounts[i];
    let wants = a
        .identity_type
        .as_deref()
        .is_some_and(|t| t.to_ascii_lowercase().contains("systemassigned"));
    if wants && a.identity_principal_id.is_none() {
        let (name, id) = (a.name.clone(), a.id());
        let delay = cx.ctx.timing().replication_delay.sample();
        let (pid, _) = st
            .directory
            .create_managed_identity(&name, &id, cx.now, delay);
        st.arm.accounts[i].identity_principal_id = Some(pid);
    }
}

/// GET accounts of a resource group.
pub fn list_by_group(cx: &Cx<'_>, st: &State, sub: &str, rg: &str) -> Out {
    cx.authorize(
        st,
        "Microsoft.CognitiveServices/accounts/read",
        &cx.req.path,
    )?;
    require_rg(st, sub, rg)?;
    let values = st
        .arm
        .accounts
        .iter()
        .filter(|a| ids::eq(&a.subscription_id, sub) && ids::eq(&a.resource_group, rg))
        .map(|a| a.to_json(cx.now, cx.base(), cx.tenant()))
        .collect();
    Ok(list(values, None))
}

/// GET accounts of a subscription (those the caller may read).
pub fn list_by_subscription(cx: &Cx<'_>, st: &State, sub: &str) -> Out {
    st.arm.require_subscription(sub)?;
    let values: Vec<Value> = st
        .arm
        .accounts
        .iter()
        .filter(|a| ids::eq(&a.subscription_id, sub))
        .filter(|a| cx.allowed(st, "Microsoft.CognitiveServices/accounts/read", &a.id()))
        .map(|a| a.to_json(cx.now, cx.base(), cx.tenant()))
        .collect();
    if values.is_empty()
        && !cx.allowed(
            st,
            "Microsoft.CognitiveServices/accounts/read",
            &cx.req.path,
        )
    {
        cx.authorize(
            st,
            "Microsoft.CognitiveServices/accounts/read",
            &cx.req.path,
        )?;
    }
    Ok(list(values, None))
}

/// POST `listKeys` / `regenerateKey`.
pub fn account_action(
    cx: &Cx<'_>,
    st: &mut State,
    sub: &str,
    rg: &str,
    name: &str,
    action: &str,
) -> Out {
    if cx.req.method != "POST" {
        return Err(method_not_allowed(&cx.req.method));
    }
    match action {
        "listkeys" => {
            cx.authorize(st, "Microsoft.CognitiveServices/accounts/listKeys/action", &cx.req.path)?;
            let i = account_index(st, sub, rg, name)?;
            let a = &st.arm.accounts[i];
            Ok(Resp::json(200, &json!({"key1": a.key1, "key2": a.key2})))
        }
        "regeneratekey" => {
            cx.authorize(st, "Microsoft.CognitiveServices/accounts/regenerateKey/action", &cx.req.path)?;
            let i = account_index(st, sub, rg, name)?;
            let body = cx.body()?;
            let which = body.get("keyName").and_then(Value::as_str).unwrap_or("");
            let a = &mut st.arm.accounts[i];
            match which.to_ascii_lowercase().as_str() {
                "key1" => a.key1 = accounts::new_key(),
                "key2" => a.key2 = accounts::new_key(),
                _ => return Err(ArmError::invalid_parameter("The keyName must be 'Key1' or 'Key2'.")),
            }
            Ok(Resp::json(200, &json!({"key1": a.key1, "key2": a.key2})))
        }
        other => Err(ArmError::new(404, "InvalidResourceType", format!("The resource type '{other}' could not be found in the namespace '{NS}' for api version '{}'.", cx.api_version))),
    }
}

/// GET deployments of an account.
pub fn list_deployments(cx: &Cx<'_>, st: &mut State, sub: &str, rg: &str, name: &str) -> Out {
    cx.authorize(
        st,
        "Microsoft.CognitiveServices/accounts/deployments/read",
        &cx.req.path,
    )?;
    let i = account_index(st, sub, rg, name)?;
    deployments::settle(&mut st.arm.accounts[i], cx.now);
    let a = &st.arm.accounts[i];
    let values = a.deployments.iter().map(|d| d.to_json(a, cx.now)).collect();
    Ok(list(values, None))
}

/// PUT/GET/DELETE of a deployment.
pub fn deployment(cx: &Cx<'_>, st: &mut State, sub: &str, rg: &str, name: &str, dep: &str) -> Out {
    let method = cx.req.method.as_str();
    let action = match method {
        "PUT" => "Microsoft.CognitiveServices/accounts/deployments/write",
        "DELETE" => "Microsoft.CognitiveServices/accounts/deployments/delete",
        "GET" => "Microsoft.CognitiveServices/accounts/deployments/read",
        m => return Err(method_not_allowed(m)),
    };
    cx.authorize(st, action, &cx.req.path)?;
    let i = account_index(st, sub, rg, name)?;
    let now = cx.now;
    let d = st.arm.settings.provisioning_seconds;
    deployments::settle(&mut st.arm.accounts[i], now);
    let missing =
        || ArmError::resource_not_found(&format!("{NS}/accounts/{name}/deployments/{dep}"), rg);
    match method {
        "GET" => {
            let a = &st.arm.accounts[i];
            let found = deployments::find(a, dep).ok_or_else(missing)?;
            Ok(Resp::json(200, &found.to_json(a, now)))
        }
        "PUT" => {
            let created = deployments::put(&mut st.arm.accounts[i], dep, &cx.body()?, now, d)?;
            let a = &st.arm.accounts[i];
            let found = deployments::find(a, dep).ok_or_else(missing)?;
            let body = found.to_json(a, now);
            let (loc, id) = (
                a.location.clone(),
                format!("{}/deployments/{}", a.id(), found.name),
            );
            let op = push_op(cx, st, OpKind::DeploymentWrite, sub, &loc, &id, now + d);
            Ok(lro(
                cx,
                Resp::json(if created { 201 } else { 200 }, &body),
                &op,
                false,
            ))
        }
        _ => {
            if !deployments::delete(&mut st.arm.accounts[i], dep, now, d)? {
                return Ok(Resp::empty(204));
            }
            let a = &st.arm.accounts[i];
            let (loc, id) = (a.location.clone(), format!("{}/deployments/{dep}", a.id()));
            let op = push_op(cx, st, OpKind::DeploymentDelete, sub, &loc, &id, now + d);
            Ok(lro(cx, Resp::empty(202), &op, true))
        }
    }
}

/// GET /subscriptions/{s}/providers/Microsoft.CognitiveServices/deletedAccounts.
pub fn list_deleted(cx: &Cx<'_>, st: &mut State, sub: &str) -> Out {
    cx.authorize(
        st,
        "Microsoft.CognitiveServices/deletedAccounts/read",
        &cx.req.path,
    )?;
    st.arm.require_subscription(sub)?;
    accounts::expire_deleted(&mut st.arm, cx.now);
    let values = st
        .arm
        .deleted_accounts
        .iter()
        .filter(|d| ids::eq(&d.account.subscription_id, sub))
        .map(|d| d.to_json(cx.now, cx.base(), cx.tenant()))
        .collect();
    Ok(list(values, None))
}

/// GET / DELETE (purge) of a soft-deleted account.
pub fn deleted(cx: &Cx<'_>, st: &mut State, sub: &str, loc: &str, rg: &str, name: &str) -> Out {
    let method = cx.req.method.as_str();
    let action = match method {
        "GET" => "Microsoft.CognitiveServices/locations/resourceGroups/deletedAccounts/read",
        "DELETE" => "Microsoft.CognitiveServices/locations/resourceGroups/deletedAccounts/delete",
        m => return Err(method_not_allowed(m)),
    };
    cx.authorize(st, action, &cx.req.path)?;
    st.arm.require_subscription(sub)?;
    accounts::expire_deleted(&mut st.arm, cx.now);
    if method == "GET" {
        let i = accounts::find_deleted(&st.arm, sub, Some(loc), rg, name)
            .ok_or_else(|| not_found(name, rg))?;
        return Ok(Resp::json(
            200,
            &st.arm.deleted_accounts[i].to_json(cx.now, cx.base(), cx.tenant()),
        ));
    }
    if !accounts::purge(&mut st.arm, sub, loc, rg, name, cx.now) {
        return Ok(Resp::empty(204));
    }
    let d = st.arm.settings.provisioning_seconds;
    let id = format!("/subscriptions/{sub}/providers/{NS}/locations/{loc}/resourceGroups/{rg}/deletedAccounts/{name}");
    let op = push_op(
        cx,
        st,
        OpKind::AccountPurge,
        sub,
        &ids::normalize_location(loc),
        &id,
        cx.now + d,
    );
    Ok(lro(cx, Resp::empty(202), &op, true))
}

/// POST checkDomainAvailability.
pub fn check_domain(cx: &Cx<'_>, st: &mut State, sub: &str) -> Out {
    if cx.req.method != "POST" {
        return Err(method_not_allowed(&cx.req.method));
    }
    cx.authorize(
        st,
        "Microsoft.CognitiveServices/checkDomainAvailability/action",
        &cx.req.path,
    )?;
    st.arm.require_subscription(sub)?;
    accounts::expire_deleted(&mut st.arm, cx.now);
    let body = cx.body()?;
    let name = body
        .get("subdomainName")
        .and_then(Value::as_str)
        .ok_or_else(|| ArmError::invalid_parameter("The subdomainName is required."))?;
    let ty = body
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("Microsoft.CognitiveServices/accounts");
    let result = subdomain::check(&st.arm, name, None);
    let mut v = json!({
        "isSubdomainAvailable": result.is_ok(),
        "reason": subdomain::reason(name, &result),
        "subdomainName": name,
        "type": ty,
    });
    if let Some(k) = body.get("kind").and_then(Value::as_str) {
        v["kind"] = json!(k);
    }
    Ok(Resp::json(200, &v))
}

/// GET of a Cognitive Services monitor (`operationStatuses` or `operationResults`).
pub fn operation(cx: &Cx<'_>, st: &State, sub: &str, id: &str, is_location: bool) -> Out {
    let op = monitors::find(st, sub, id)?;
    if is_location {
        monitors::location(cx, op)
    } else {
        Ok(monitors::status(cx, op))
    }
}
