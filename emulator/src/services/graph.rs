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
use crate::model::directory::{Directory, Group, ServicePrincipal, SpKind, User};
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
        let ok = caller.idtyp == "user"
            || caller
                .roles
                .iter()
                .any(|r| perms.iter().any(|p| p.eq_ignore_ascii_case(r)));
        (!ok).then(|| {
            graph_error(
                ctx,
                req,
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        })
    };
    const USERS: [&str; 4] = [
        "User.Read.All",
        "User.ReadBasic.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ];
    const GROUPS: [&str; 3] = [
        "Group.Read.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ];
    const SPS: [&str; 4] = [
        "Application.Read.All",
        "Application.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ];
    const DIR: [&str; 2] = ["Directory.Read.All", "Directory.ReadWrite.All"];
    let now = ctx.now();
    match (req.method.as_str(), lower.as_slice()) {
        ("GET", ["me"]) if caller.idtyp == "app" => graph_error(
            ctx,
            req,
            400,
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        ),
        ("GET", ["users"]) => read(&USERS).unwrap_or_else(|| list(ctx, req, Kind::Users, now)),
        ("GET", ["groups"]) => read(&GROUPS).unwrap_or_else(|| list(ctx, req, Kind::Groups, now)),
        ("GET", ["serviceprincipals"]) => {
            read(&SPS).unwrap_or_else(|| list(ctx, req, Kind::Sps, now))
        }
        ("GET", ["users", _]) => {
            read(&USERS).unwrap_or_else(|| one(ctx, req, Kind::Users, &segs[1], now))
        }
        ("GET", ["groups", _]) => {
            read(&GROUPS).unwrap_or_else(|| one(ctx, req, Kind::Groups, &segs[1], now))
        }
        ("GET", ["serviceprincipals", _]) => {
            read(&SPS).unwrap_or_else(|| one(ctx, req, Kind::Sps, &segs[1], now))
        }
        ("GET", ["directoryobjects", _]) => {
            read(&DIR).unwrap_or_else(|| directory_object(ctx, req, &segs[1], now))
        }
        ("POST", ["directoryobjects", "getbyids"]) => {
            read(&DIR).unwrap_or_else(|| get_by_ids(ctx, req, now))
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

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Users,
    Groups,
    Sps,
}

impl Kind {
    fn set(&self) -> &'static str {
        match self {
            Kind::Users => "users",
            Kind::Groups => "groups",
            Kind::Sps => "servicePrincipals",
        }
    }
}

fn user_json(u: &User) -> Value {
    json!({
        "businessPhones": [], "displayName": u.display_name, "givenName": null, "jobTitle": null,
        "mail": null, "mobilePhone": null, "officeLocation": null, "preferredLanguage": null,
        "surname": null, "userPrincipalName": u.user_principal_name, "id": u.id,
    })
}

fn group_json(g: &Group) -> Value {
    json!({
        "id": g.id, "deletedDateTime": null, "classification": null, "createdDateTime": null,
        "description": null, "displayName": g.display_name, "groupTypes": [], "mail": null,
        "mailEnabled": false, "mailNickname": g.display_name.replace(' ', ""),
        "securityEnabled": true, "visibility": null,
    })
}

fn sp_json(sp: &ServicePrincipal, tid: &str) -> Value {
    let mi = sp.kind == SpKind::ManagedIdentity;
    json!({
        "id": sp.id, "deletedDateTime": null, "accountEnabled": true,
        "alternativeNames": if mi { json!(["isExplicit=False", sp.mi_resource_id]) } else { json!([]) },
        "appDisplayName": if mi { Value::Null } else { json!(sp.display_name) },
        "appId": sp.app_id, "appOwnerOrganizationId": if mi { Value::Null } else { json!(tid) },
        "displayName": sp.display_name,
        "servicePrincipalNames": sp.service_principal_names,
        "servicePrincipalType": if mi { "ManagedIdentity" } else { "Application" },
        "signInAudience": if mi { Value::Null } else { json!("AzureADMyOrg") },
        "tags": [],
    })
}

/// One clause of a `$filter`: `prop eq 'v'`, `prop in ('a','b')`, or
/// `servicePrincipalNames/any(c:c eq 'v')`; clauses may be joined with ` or `.
#[derive(Debug, Clone, PartialEq)]
enum Clause {
    Eq(String, Vec<String>),
    AnySpn(String),
}

fn parse_filter(f: &str) -> Result<Vec<Clause>, String> {
    let mut out = vec![];
    for part in split_or(f) {
        let p = part.trim();
        let lower = p.to_ascii_lowercase();
        if lower.starts_with("serviceprincipalnames/any(") {
            let inner = p
                .split_once('(')
                .map(|x| x.1)
                .and_then(|s| s.strip_suffix(')'))
                .ok_or("Invalid filter clause")?;
            let (_, cond) = inner.split_once(':').ok_or("Invalid filter clause")?;
            let (_, v) = split_op(cond, " eq ").ok_or("Invalid filter clause")?;
            out.push(Clause::AnySpn(unquote(v)?));
        } else if let Some((prop, v)) = split_op(p, " eq ") {
            out.push(Clause::Eq(prop.trim().to_string(), vec![unquote(v)?]));
        } else if let Some((prop, v)) = split_op(p, " in ") {
            let v = v.trim();
            let list = v
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or("Invalid filter clause")?;
            let items = split_list(list)
                .into_iter()
                .map(|s| unquote(&s))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(Clause::Eq(prop.trim().to_string(), items));
        } else {
            return Err("Invalid filter clause".into());
        }
    }
    Ok(out)
}

/// Splits on ` or ` outside quotes.
fn split_or(f: &str) -> Vec<String> {
    let mut parts = vec![];
    let mut cur = String::new();
    let mut in_q = false;
    let chars: Vec<char> = f.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            in_q = !in_q;
        }
        if !in_q
            && chars[i..]
                .iter()
                .take(4)
                .collect::<String>()
                .eq_ignore_ascii_case(" or ")
        {
            parts.push(std::mem::take(&mut cur));
            i += 4;
            continue;
        }
        cur.push(c);
        i += 1;
    }
    parts.push(cur);
    parts
}

fn split_op<'a>(s: &'a str, op: &str) -> Option<(&'a str, &'a str)> {
    let lower = s.to_ascii_lowercase();
    let q = lower.find('\'').unwrap_or(lower.len());
    let at = lower[..q].find(op)?;
    Some((&s[..at], &s[at + op.len()..]))
}

fn split_list(s: &str) -> Vec<String> {
    let mut items = vec![];
    let mut cur = String::new();
    let mut in_q = false;
    for c in s.chars() {
        if c == '\'' {
            in_q = !in_q;
        }
        if c == ',' && !in_q {
            items.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if !cur.trim().is_empty() {
        items.push(cur);
    }
    items
}

fn unquote(v: &str) -> Result<String, String> {
    let v = v.trim();
    let inner = v
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .ok_or("Invalid filter clause")?;
    Ok(inner.replace("''", "'"))
}

fn prop<'a>(obj: &'a Value, name: &str) -> Option<&'a str> {
    obj.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

fn matches(obj: &Value, clauses: &[Clause]) -> bool {
    clauses.iter().any(|c| match c {
        Clause::Eq(p, vals) => {
            prop(obj, p).is_some_and(|x| vals.iter().any(|v| v.eq_ignore_ascii_case(x)))
        }
        Clause::AnySpn(v) => obj["servicePrincipalNames"].as_array().is_some_and(|a| {
            a.iter()
                .any(|n| n.as_str().is_some_and(|n| n.eq_ignore_ascii_case(v)))
        }),
    })
}

fn visible(dir: &Directory, kind: Kind, now: f64) -> Vec<Value> {
    match kind {
        Kind::Users => dir
            .users
            .iter()
            .filter(|u| u.visible_from <= now)
            .map(user_json)
            .collect(),
        Kind::Groups => dir
            .groups
            .iter()
            .filter(|g| g.visible_from <= now)
            .map(group_json)
            .collect(),
        Kind::Sps => dir
            .service_principals
            .iter()
            .filter(|s| s.visible_from <= now)
            .map(|s| sp_json(s, &dir.tenant_id))
            .collect(),
    }
}

fn select(obj: Value, req: &Req) -> Value {
    let Some(sel) = req.query("$select").filter(|s| !s.is_empty()) else {
        return obj;
    };
    let wanted: Vec<&str> = sel.split(',').map(str::trim).collect();
    let mut out = Map::new();
    if let Value::Object(m) = obj {
        for (k, v) in m {
            if k.starts_with("@odata") || wanted.iter().any(|w| w.eq_ignore_ascii_case(&k)) {
                out.insert(k, v);
            }
        }
    }
    Value::Object(out)
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
        .filter(|o| clauses.as_ref().is_none_or_match(o))
        .collect();
    let page: Vec<Value> = filtered
        .iter()
        .skip(skip)
        .take(top)
        .cloned()
        .map(|o| select(o, req))
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

trait FilterOpt {
    fn is_none_or_match(&self, o: &Value) -> bool;
}

impl FilterOpt for Option<&Vec<Clause>> {
    fn is_none_or_match(&self, o: &Value) -> bool {
        match self {
            Some(c) => matches(o, c),
            None => true,
        }
    }
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
            let mut o = select(o, req);
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

fn typed(dir: &Directory, id: &str, now: f64) -> Option<(&'static str, Value)> {
    let find = |kind: Kind| {
        visible(dir, kind, now)
            .into_iter()
            .find(|o| prop(o, "id").is_some_and(|x| x.eq_ignore_ascii_case(id)))
    };
    for (kind, t, short) in [
        (Kind::Users, "#microsoft.graph.user", "user"),
        (Kind::Groups, "#microsoft.graph.group", "group"),
        (
            Kind::Sps,
            "#microsoft.graph.servicePrincipal",
            "serviceprincipal",
        ),
    ] {
        if let Some(mut o) = find(kind) {
            if let Some(m) = o.as_object_mut() {
                let mut with_type = Map::new();
                with_type.insert("@odata.type".into(), json!(t));
                with_type.extend(std::mem::take(m));
                *m = with_type;
            }
            return Some((short, o));
        }
    }
    None
}

fn directory_object(ctx: &Ctx, req: &Req, id: &str, now: f64) -> Resp {
    let found = {
        let st = ctx.state.lock();
        typed(&st.directory, id, now)
    };
    match found {
        Some((_, o)) => Resp::json(200, &select(o, req)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse() {
        assert_eq!(
            parse_filter("userPrincipalName eq 'a@b.c'").unwrap(),
            vec![Clause::Eq("userPrincipalName".into(), vec!["a@b.c".into()])]
        );
        assert_eq!(
            parse_filter("userPrincipalName in ('a@b', 'o''neil@x')").unwrap(),
            vec![Clause::Eq(
                "userPrincipalName".into(),
                vec!["a@b".into(), "o'neil@x".into()]
            )]
        );
        assert_eq!(
            parse_filter("servicePrincipalNames/any(c:c eq 'abc')").unwrap(),
            vec![Clause::AnySpn("abc".into())]
        );
        assert_eq!(
            parse_filter("displayName eq 'a or b' or id eq 'x'")
                .unwrap()
                .len(),
            2
        );
        assert!(parse_filter("startswith(displayName,'x')").is_err());
    }
}
