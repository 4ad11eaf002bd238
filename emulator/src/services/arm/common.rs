//! What every ARM handler shares: the per-request context (caller, clock, base URL), RBAC
//! enforcement with Azure's refusal, error rendering, JSON bodies, and LRO monitor URLs.

use crate::auth::Caller;
use crate::ctx::Ctx;
use crate::http::{Req, Resp};
use crate::model::arm::errors::ArmError;
use crate::model::arm::operations::{OpKind, Operation};
use crate::model::rbac::{self, Decision, Principal};
use crate::model::State;
use serde_json::Value;

/// Per-request context handed to every handler.
pub struct Cx<'a> {
    /// The emulator.
    pub ctx: &'a Ctx,
    /// The request.
    pub req: &'a Req,
    /// Who calls.
    pub caller: Caller,
    /// Unix seconds now (one reading per request).
    pub now: f64,
    /// The api-version sent (already validated).
    pub api_version: String,
}

impl Cx<'_> {
    /// The base URL (`https://127.0.0.1:PORT`).
    pub fn base(&self) -> &str {
        &self.ctx.base_url
    }

    /// The tenant id.
    pub fn tenant(&self) -> &str {
        &self.ctx.tenant_id
    }

    /// Refuses with 403 AuthorizationFailed unless the caller holds `action` at `scope`.
    /// Called before any existence check (ARM authorises first).
    pub fn authorize(&self, st: &State, action: &str, scope: &str) -> Result<(), ArmError> {
        if self.allowed(st, action, scope) {
            Ok(())
        } else {
            Err(ArmError::authorization_failed(
                &self.caller.display,
                &self.caller.oid,
                action,
                scope,
            ))
        }
    }

    /// Whether the caller holds `action` at `scope` (list filtering).
    pub fn allowed(&self, st: &State, action: &str, scope: &str) -> bool {
        rbac::check(st, self.now, &self.principal(), action, scope) == Decision::Allow
    }

    /// The caller as the RBAC engine sees it (object id and token groups).
    pub fn principal(&self) -> Principal<'_> {
        Principal {
            oid: &self.caller.oid,
            groups: &self.caller.groups,
        }
    }

    /// The request body as JSON (empty body → `{}`).
    pub fn body(&self) -> Result<Value, ArmError> {
        if self.req.body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_slice(&self.req.body).map_err(|e| {
            ArmError::invalid_content(format!(
                "The request content was invalid and could not be deserialized: '{e}'."
            ))
        })
    }

    /// `Azure-AsyncOperation` URL of an operation.
    pub fn async_url(&self, op: &Operation) -> String {
        monitor_url(self.base(), op, false)
    }

    /// `Location` URL of an operation.
    pub fn location_url(&self, op: &Operation) -> String {
        monitor_url(self.base(), op, true)
    }
}

/// Monitor URLs, shaped per provider as Azure shapes them.
pub fn monitor_url(base: &str, op: &Operation, location: bool) -> String {
    let v = &op.api_version;
    match op.kind {
        OpKind::ResourceGroupDelete => format!(
            "{base}/subscriptions/{}/operationresults/{}?api-version={v}",
            op.subscription_id, op.id
        ),
        OpKind::VmUpdate | OpKind::RunCommand => format!(
            "{base}/subscriptions/{}/providers/Microsoft.Compute/locations/{}/operations/{}?p={}&api-version={v}{}",
            op.subscription_id,
            op.location,
            op.id,
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, op.id.as_bytes()),
            if location { "&monitor=true" } else { "" }
        ),
        _ => format!(
            "{base}/subscriptions/{}/providers/{}/locations/{}/{}/{}?api-version={v}",
            op.subscription_id,
            op.namespace,
            op.location,
            if location { "operationResults" } else { "operationStatuses" },
            op.id
        ),
    }
}

/// Renders an ARM error.
pub fn error(e: &ArmError) -> Resp {
    match &e.details {
        Some(d) => Resp::arm_error_details(e.status, &e.code, &e.message, d.clone()),
        None => Resp::arm_error(e.status, &e.code, &e.message),
    }
}

/// Handler result: a response, or an error to render.
pub type Out = Result<Resp, ArmError>;

/// `{"value":[…]}` with an optional `nextLink`.
pub fn list(values: Vec<Value>, next_link: Option<String>) -> Resp {
    let mut v = serde_json::json!({"value": values});
    if let Some(n) = next_link {
        v["nextLink"] = Value::String(n);
    }
    Resp::json(200, &v)
}

/// Pages `items` (offset from `$skipToken`), returning the page and the `nextLink`.
pub fn page<T: Clone>(cx: &Cx<'_>, items: Vec<T>, page_size: usize) -> (Vec<T>, Option<String>) {
    let skip: usize = cx
        .req
        .query("$skipToken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let size = page_size.max(1);
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(skip).take(size).collect();
    let next = (skip + size < total).then(|| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &cx.req.query {
            if !k.eq_ignore_ascii_case("$skipToken") {
                q.append_pair(k, v);
            }
        }
        q.append_pair("$skipToken", &(skip + size).to_string());
        format!("{}{}?{}", cx.base(), cx.req.path, q.finish())
    });
    (page, next)
}

/// `Retry-After` seconds to suggest while an operation runs.
pub fn retry_after(provisioning: f64) -> String {
    (provisioning.ceil() as u64).clamp(1, 60).to_string()
}
