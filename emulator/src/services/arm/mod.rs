//! ARM HTTP handling: authentication, api-version checks, RBAC on every call (inside each
//! handler, before existence checks), and the resource handlers.
//!
//! Order per request: authenticate (401) → route → api-version (400) → settle finished Run
//! Commands → handler (403 AuthorizationFailed, then 404/409/400 rules, then the result).

mod authorization;
mod cognitive;
pub mod common;
mod compute;
mod identity;
mod monitors;
mod resources;
pub mod routes;
pub mod runner;

use crate::auth;
use crate::ctx::Ctx;
use crate::http::{Req, Resp};
use crate::model::arm::{api_versions, operations, run_command};
use common::{error, Cx, Out};
use routes::Route;

/// Handles an ARM request.
pub async fn handle(ctx: &Ctx, req: Req) -> Resp {
    let caller = match auth::authenticate_arm(ctx, &req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let route = routes::parse(&req.segments);
    let (provider, ty) = route.provider();
    let location = serde_json::from_slice::<serde_json::Value>(&req.body)
        .ok()
        .and_then(|b| {
            b.get("location")
                .and_then(|l| l.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "eastus".into());
    if let Err(e) = api_versions::check(provider, ty, &location, req.query("api-version")) {
        return error(&e);
    }
    let now = ctx.now();
    let cx = Cx {
        ctx,
        req: &req,
        caller,
        now,
        api_version: req.query("api-version").unwrap_or_default().to_string(),
    };
    let mut st = ctx.state.lock();
    run_command::settle(&mut st.arm, &ctx.runs, now);
    operations::prune(&mut st.arm.operations, now);
    let out: Out = match &route {
        Route::Subscriptions => resources::list_subscriptions(&cx, &st),
        Route::Subscription(s) => resources::get_subscription(&cx, &st, s),
        Route::ProviderRegistration(s, ns, register) => {
            resources::provider(&cx, &st, s, ns, *register)
        }
        Route::ResourceGroups(s) => resources::list_groups(&cx, &st, s),
        Route::ResourceGroup(s, rg) => resources::group(&cx, &mut st, s, rg),
        Route::ResourcesOperation(s, id) => resources::operation_result(&cx, &st, s, id),
        Route::AccountsBySubscription(s) => cognitive::list_by_subscription(&cx, &st, s),
        Route::AccountsByResourceGroup(s, rg) => cognitive::list_by_group(&cx, &st, s, rg),
        Route::Account(s, rg, a) => cognitive::account(&cx, &mut st, s, rg, a),
        Route::AccountAction(s, rg, a, action) => {
            cognitive::account_action(&cx, &mut st, s, rg, a, action)
        }
        Route::Deployments(s, rg, a) => cognitive::list_deployments(&cx, &mut st, s, rg, a),
        Route::Deployment(s, rg, a, d) => cognitive::deployment(&cx, &mut st, s, rg, a, d),
        Route::DeletedAccounts(s) => cognitive::list_deleted(&cx, &mut st, s),
        Route::DeletedAccount(s, loc, rg, a) => cognitive::deleted(&cx, &mut st, s, loc, rg, a),
        Route::CheckDomainAvailability(s) => cognitive::check_domain(&cx, &mut st, s),
        Route::CognitiveOperation(s, _, id, is_location) => {
            cognitive::operation(&cx, &st, s, id, *is_location)
        }
        Route::VmsBySubscription(s) => compute::list_vms(&cx, &st, s, None),
        Route::VmsByResourceGroup(s, rg) => compute::list_vms(&cx, &st, s, Some(rg)),
        Route::Vm(s, rg, v) => compute::vm(&cx, &mut st, s, rg, v),
        Route::RunCommand(s, rg, v) => compute::run(&cx, &mut st, s, rg, v),
        Route::ComputeOperation(s, _, id) => compute::operation(&cx, &st, s, id),
        Route::Identities(s, rg) => identity::list_identities(&cx, &st, s, rg),
        Route::Identity(s, rg, n) => identity::identity(&cx, &mut st, s, rg, n),
        Route::RoleDefinitions(scope) => authorization::list_definitions(&cx, &st, scope),
        Route::RoleDefinition(scope, id) => authorization::get_definition(&cx, &st, scope, id),
        Route::RoleAssignments(scope) => authorization::list_assignments(&cx, &st, scope),
        Route::RoleAssignment(scope, name) => authorization::assignment(&cx, &mut st, scope, name),
        Route::Unknown => Err(unknown(&req, &cx.api_version)),
    };
    drop(st);
    out.unwrap_or_else(|e| error(&e))
}

fn unknown(req: &Req, api_version: &str) -> crate::model::arm::errors::ArmError {
    let lc: Vec<String> = req
        .segments
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    if let Some(i) = lc.iter().rposition(|s| s == "providers") {
        if let (Some(ns), Some(ty)) = (req.segments.get(i + 1), req.segments.get(i + 2)) {
            return crate::model::arm::errors::ArmError::new(
                404,
                "InvalidResourceType",
                format!("The resource type '{ty}' could not be found in the namespace '{ns}' for api version '{api_version}'."),
            );
        }
    }
    crate::model::arm::errors::ArmError::new(
        404,
        "InvalidRequestUri",
        format!("The request URI '{}' is not valid.", req.path),
    )
}
