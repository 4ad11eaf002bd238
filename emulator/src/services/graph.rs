//! Microsoft Graph (v1.0), the directory reads provisioning tools make: users by UPN, groups by
//! display name, service principals by appId / servicePrincipalNames, `directoryObjects/getByIds`
//! and `$batch` (behaviour notes §8).
//!
//! Why a subset: these are exactly the lookups `az role assignment create` and keyless perform.
//! Objects that have not replicated yet (`visible_from > now`) are not found, as in Azure. App
//! tokens need a Graph application permission (`roles` claim) or get 403
//! `Authorization_RequestDenied`.

use crate::auth::{self, graph_error, Caller};
use crate::ctx::Ctx;
use crate::http::{Req, Resp};
use crate::model::graph::{
    self, may_read, parse_filter, prop, typed, visible, Kind, READ_DIRECTORY, READ_GROUPS,
    READ_SPS, READ_USERS,
};
use serde_json::{json, Map, Value};

/// Most ids `getByIds` accepts.
pub const MAX_IDS: usize = 1000;
/// Most requests one `$batch` carries.
pub const MAX_BATCH: usize = 20;
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 999;
const CONTEXT: &str = "https://graph.microsoft.com/v1.0/$metadata";

/// Handles `/v1.0/…`.
pub async fn handle(ctx: &Ctx, req: Req) -> Resp {
    let caller = match auth::authenticate_graph(ctx, &req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    route(ctx, &req, &caller)
}

fn route(ctx: &Ctx, req: &Req, caller: &Caller) -> Resp {
    let segs: Vec<String> = req.segments.iter().skip(1).cloned().collect();
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let read = |perms: &[&str]| -> Option<Resp> {
        (!may_read(&caller.idtyp, &caller.roles, perms)).then(|| {
            graph_error(
                ctx,
                req,
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        })
    };
    let now = ctx.now();
    match (req.method.as_str(), lower.as_slice()) {
        ("GET", ["me"]) if caller.idtyp == "app" => graph_error(
            ctx,
            req,
            400,
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        ),
        ("GET", ["users"]) => read(&READ_USERS).unwrap_or_else(|| list(ctx, req, Kind::Users, now)),
        ("GET", ["groups"]) => {
            read(&READ_GROUPS).unwrap_or_else(|| list(ctx, req, Kind::Groups, now))
        }
        ("GET", ["serviceprincipals"]) => {
            read(&READ_SPS).unwrap_or_else(|| list(ctx, req, Kind::Sps, now))
        }
        ("GET", ["users", _]) => {
            read(&READ_USERS).unwrap_or_else(|| one(ctx, req, Kind::Users, &segs[1], now))
        }
        ("GET", ["groups", _]) => {
            read(&READ_GROUPS).unwrap_or_else(|| one(ctx, req, Kind::Groups, &segs[1], now))
        }
        ("GET", ["serviceprincipals", _]) => {
            read(&READ_SPS).unwrap_or_else(|| one(ctx, req, Kind::Sps, &segs[1], now))
        }
        ("GET", ["directoryobjects", _]) => {
            read(&READ_DIRECTORY).unwrap_or_else(|| directory_object(ctx, req, &segs[1], now))
        }
        ("POST", ["directoryobjects", "getbyids"]) => {
            read(&READ_DIRECTORY).unwrap_or_else(|| get_by_ids(ctx, req, now))
        }
        ("POST", ["$batch"]) => batch(ctx, req, caller),
        _ => graph_error(
            ctx,
            req,
            400,
            "BadRequest",
            &format!(
                "Resource not found for the segment '{}'.",
                segs.last().map(String::as_str).unwrap_or("")
            ),
        ),
    }
}

fn context(set: &str, req: &Req) -> String {
    match req.query("$select").filter(|s| !s.is_empty()) {
        Some(sel) => format!("{CONTEXT}#{set}({sel})"),
        None => format!("{CONTEXT}#{set}"),
    }
}

fn list(ctx: &Ctx, req: &Req, kind: Kind, now: f64) -> Resp {
    let clauses = match req.query("$filter").filter(|f| !f.trim().is_empty()) {
        Some(f) => match parse_filter(f) {
            Ok(c) => Some(c),
            Err(m) => return graph_error(ctx, req, 400, "BadRequest", &m),
        },
        None => None,
    };
    let top = match req.query("$top") {
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => return graph_error(ctx, req, 400, "Request_BadRequest", &format!("Invalid page size specified: '{t}'. Must be between 1 and {MAX_PAGE} inclusive.")),
        },
        None => DEFAULT_PAGE,
    };
    let skip: usize = req
        .query("$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let all: Vec<Value> = {
        let st = ctx.state.lock();
        visible(&st.directory, kind, now)
    };
    let filtered: Vec<Value> = all
        .into_iter()
        .filter(|o| clauses.as_ref().is_none_or(|c| graph::matches(o, c)))
        .collect();
    let page: Vec<Value> = filtered
        .iter()
        .skip(skip)
        .take(top)
        .cloned()
        .map(|o| graph::select(o, req.query("$select")))
        .collect();
    let mut body = json!({"@odata.context": context(kind.set(), req), "value": page});
    if skip + top < filtered.len() {
        let mut q: Vec<(String, String)> = req
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .cloned()
            .collect();
        q.push(("$skiptoken".into(), (skip + top).to_string()));
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q)
            .finish();
        body["@odata.nextLink"] = json!(format!("{}{}?{qs}", ctx.base_url, req.path));
    }
    Resp::json(200, &body)
}

fn not_found(ctx: &Ctx, req: &Req, id: &str) -> Resp {
    graph_error(
        ctx,
        req,
        404,
        "Request_ResourceNotFound",
        &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
    )
}

fn one(ctx: &Ctx, req: &Req, kind: Kind, id: &str, now: f64) -> Resp {
    let found = {
        let st = ctx.state.lock();
        visible(&st.directory, kind, now).into_iter().find(|o| {
            prop(o, "id").is_some_and(|x| x.eq_ignore_ascii_case(id))
                || (kind == Kind::Users
                    && prop(o, "userPrincipalName").is_some_and(|x| x.eq_ignore_ascii_case(id)))
        })
    };
    match found {
        Some(o) => {
            let mut o = graph::select(o, req.query("$select"));
            if let Some(m) = o.as_object_mut() {
                m.insert(
                    "@odata.context".into(),
                    json!(format!("{}/$entity", context(kind.set(), req))),
                );
            }
            Resp::json(200, &o)
        }
        None => not_found(ctx, req, id),
    }
}

fn directory_object(ctx: &Ctx, req: &Req, id: &str, now: f64) -> Resp {
    let found = {
        let st = ctx.state.lock();
        typed(&st.directory, id, now)
    };
    match found {
        Some((_, o)) => Resp::json(200, &graph::select(o, req.query("$select"))),
        None => not_found(ctx, req, id),
    }
}

fn get_by_ids(ctx: &Ctx, req: &Req, now: f64) -> Resp {
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(_) => return graph_error(ctx, req, 400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."),
    };
    let Some(ids) = body.get("ids").and_then(Value::as_array) else {
        return graph_error(
            ctx,
            req,
            400,
            "Request_BadRequest",
            "Invalid request: the 'ids' parameter is required.",
        );
    };
    if ids.len() > MAX_IDS {
        return graph_error(
            ctx,
            req,
            400,
            "Request_BadRequest",
            &format!("Too many ids: {} (the maximum is {MAX_IDS}).", ids.len()),
        );
    }
    let types: Vec<String> = body
        .get("types")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(|s| s.to_ascii_lowercase()))
                .collect()
        })
        .unwrap_or_default();
    let st = ctx.state.lock();
    let value: Vec<Value> = ids
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|id| typed(&st.directory, id, now))
        .filter(|(short, _)| types.is_empty() || types.iter().any(|t| t == short))
        .map(|(_, o)| o)
        .collect();
    Resp::json(
        200,
        &json!({"@odata.context": format!("{CONTEXT}#directoryObjects"), "value": value}),
    )
}

fn batch(ctx: &Ctx, req: &Req, caller: &Caller) -> Resp {
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(_) => return graph_error(ctx, req, 400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."),
    };
    let Some(requests) = body.get("requests").and_then(Value::as_array) else {
        return graph_error(ctx, req, 400, "BadRequest", "Invalid batch payload format.");
    };
    if requests.len() > MAX_BATCH {
        return graph_error(
            ctx,
            req,
            400,
            "BadRequest",
            &format!(
                "Too many requests in the batch: {} (the limit is {MAX_BATCH}).",
                requests.len()
            ),
        );
    }
    let mut seen = std::collections::HashSet::new();
    let mut responses = vec![];
    for r in requests {
        let id = r.get("id").map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let Some(id) = id else {
            return graph_error(
                ctx,
                req,
                400,
                "BadRequest",
                "Every batch request needs an 'id'.",
            );
        };
        if !seen.insert(id.clone()) {
            return graph_error(
                ctx,
                req,
                400,
                "BadRequest",
                &format!("Batch request ids must be unique; '{id}' repeats."),
            );
        }
        let method = r.get("method").and_then(Value::as_str).unwrap_or("GET");
        let url = r.get("url").and_then(Value::as_str).unwrap_or("");
        let path = if url.starts_with('/') {
            format!("/v1.0{url}")
        } else {
            format!("/v1.0/{url}")
        };
        let inner_body = r
            .get("body")
            .map(|b| bytes::Bytes::from(serde_json::to_vec(b).unwrap_or_default()))
            .unwrap_or_default();
        let inner = Req::new(method, &path, req.headers.clone(), inner_body);
        let resp = if inner.segments.get(1).is_some_and(|s| s == "$batch") {
            graph_error(
                ctx,
                &inner,
                400,
                "BadRequest",
                "Nested batch requests are not supported.",
            )
        } else {
            route(ctx, &inner, caller)
        };
        let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        let mut headers = Map::new();
        headers.insert("Content-Type".into(), json!("application/json"));
        responses.push(json!({"id": id, "status": resp.status, "headers": headers, "body": body}));
    }
    Resp::json(200, &json!({"responses": responses}))
}
