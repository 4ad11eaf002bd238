//! Entra ID over HTTP: OIDC discovery (v2 and v1), JWKS, MSAL instance discovery, and the token
//! endpoints (v2.0 and v1) for the client-credentials grant with a client secret (form body or
//! HTTP Basic), a federated assertion (workload identity federation) or a certificate assertion.
//!
//! The rules — known tenants and resources, client authentication, token claims — are
//! `model::entra`; this module parses the form and renders Entra's bodies and AADSTS errors.

use crate::ctx::Ctx;
use crate::http::{Req, Resp};
use crate::model::directory::Directory;
use crate::model::entra::{
    self, is_multi_tenant_alias, known_resource, resolve_tenant, ClientAuthError, ClientCredential,
    TokenSubject,
};
use crate::timefmt::iso_time;
use crate::tokens::{v1_issuer, Issued};
use base64::Engine;
use serde_json::json;

/// Handles an Entra ID request.
pub async fn handle(ctx: &Ctx, req: Req) -> Resp {
    let segs = req.lower_segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let tenant = req.segments.first().cloned().unwrap_or_default();
    match (req.method.as_str(), &segs[1..]) {
        ("GET", ["discovery", "instance"]) => instance_discovery(ctx, &req),
        ("GET", ["v2.0", ".well-known", "openid-configuration"]) => openid_configuration(ctx, &req, &tenant, true),
        ("GET", [".well-known", "openid-configuration"]) => openid_configuration(ctx, &req, &tenant, false),
        ("GET", ["discovery", "v2.0", "keys"]) | ("GET", ["discovery", "keys"]) => jwks(ctx, &req, &tenant),
        ("POST", ["oauth2", "v2.0", "token"]) => token(ctx, &req, &tenant, true),
        ("POST", ["oauth2", "token"]) => token(ctx, &req, &tenant, false),
        (_, ["oauth2", ..]) => aad_error(
            ctx,
            &req,
            400,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests. The emulator implements only the client credentials grant.",
        ),
        _ => crate::http::not_found(&req),
    }
}

fn host_of(base: &str) -> String {
    base.trim_start_matches("https://")
        .trim_start_matches("http://")
        .to_string()
}

fn instance_discovery(ctx: &Ctx, req: &Req) -> Resp {
    // The tenant comes from the authorization endpoint MSAL sends; default to ours.
    let tenant = req
        .query("authorization_endpoint")
        .and_then(|a| url::Url::parse(a).ok())
        .and_then(|u| {
            u.path_segments()?
                .find(|s| !s.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| ctx.tenant_id.clone());
    let host = host_of(&ctx.base_url);
    Resp::json(
        200,
        &json!({
            "tenant_discovery_endpoint": format!("{}/{tenant}/v2.0/.well-known/openid-configuration", ctx.base_url),
            "api-version": "1.1",
            "metadata": [
                {"preferred_network": host, "preferred_cache": host, "aliases": [host]}
            ]
        }),
    )
}

fn openid_configuration(ctx: &Ctx, req: &Req, tenant: &str, v2: bool) -> Resp {
    let tid = {
        let st = ctx.state.lock();
        resolve_tenant(&st.directory, tenant)
    };
    let (path_tenant, issuer_tenant) = match (tid, is_multi_tenant_alias(tenant)) {
        (Some(t), _) => (t.clone(), t),
        (None, true) => (tenant.to_ascii_lowercase(), "{tenantid}".to_string()),
        (None, false) => return unknown_tenant(ctx, req, tenant),
    };
    let b = &ctx.base_url;
    let t = &path_tenant;
    let doc = if v2 {
        json!({
            "token_endpoint": format!("{b}/{t}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{b}/{t}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": format!("https://login.microsoftonline.com/{issuer_tenant}/v2.0"),
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": format!("{b}/oidc/userinfo"),
            "authorization_endpoint": format!("{b}/{t}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{b}/{t}/oauth2/v2.0/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{b}/{t}/oauth2/v2.0/logout"),
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": format!("{b}/{t}/kerberos"),
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net"
        })
    } else {
        json!({
            "token_endpoint": format!("{b}/{t}/oauth2/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{b}/common/discovery/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "scopes_supported": ["openid"],
            "issuer": if issuer_tenant.starts_with('{') { "https://sts.windows.net/{tenantid}/".to_string() } else { v1_issuer(&issuer_tenant) },
            "microsoft_multi_refresh_token": true,
            "authorization_endpoint": format!("{b}/{t}/oauth2/authorize"),
            "device_authorization_endpoint": format!("{b}/{t}/oauth2/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{b}/{t}/oauth2/logout"),
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "given_name", "family_name", "nickname"],
            "check_session_iframe": format!("{b}/{t}/oauth2/checksession"),
            "userinfo_endpoint": format!("{b}/{t}/openid/userinfo"),
            "kerberos_endpoint": format!("{b}/{t}/kerberos"),
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net"
        })
    };
    Resp::json(200, &doc)
}

fn jwks(ctx: &Ctx, req: &Req, tenant: &str) -> Resp {
    let known = {
        let st = ctx.state.lock();
        resolve_tenant(&st.directory, tenant).is_some()
    };
    if !known && !is_multi_tenant_alias(tenant) {
        return unknown_tenant(ctx, req, tenant);
    }
    let issuer = format!("https://login.microsoftonline.com/{}/v2.0", ctx.tenant_id);
    Resp::json(200, &json!({"keys": [ctx.keys.jwk(&issuer)]}))
}

fn unknown_tenant(ctx: &Ctx, req: &Req, tenant: &str) -> Resp {
    aad_error(
        ctx,
        req,
        400,
        "invalid_tenant",
        90002,
        &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."),
    )
}

/// Entra ID's error body (behaviour notes §1.3): `error`, `error_description` with the AADSTS
/// prefix and trace/correlation/timestamp trailer, `error_codes`, `timestamp`, `trace_id`,
/// `correlation_id`, `error_uri`. The correlation id echoes the client's `client-request-id`.
pub fn aad_error(ctx: &Ctx, req: &Req, status: u16, error: &str, code: u32, message: &str) -> Resp {
    let trace = uuid::Uuid::new_v4().to_string();
    let correlation = req
        .header("client-request-id")
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let ts = iso_time(ctx.now()).replace('T', " ");
    Resp::json(
        status,
        &json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {message}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {ts}"),
            "error_codes": [code],
            "timestamp": ts,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
    .with_header("x-ms-request-id", trace)
    .with_header("client-request-id", correlation)
    .with_header("cache-control", "no-store, no-cache")
}

/// `AADSTS900144`: a required form parameter is missing.
fn missing(ctx: &Ctx, req: &Req, param: &str) -> Resp {
    aad_error(
        ctx,
        req,
        400,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{param}'."),
    )
}

fn token(ctx: &Ctx, req: &Req, tenant: &str, v2: bool) -> Resp {
    match issue_for_form(ctx, req, tenant, v2) {
        Ok(r) | Err(r) => r,
    }
}

/// The token endpoint: tenant, form (with HTTP Basic), grant, resource, client authentication,
/// then the token.
fn issue_for_form(ctx: &Ctx, req: &Req, tenant: &str, v2: bool) -> Result<Resp, Resp> {
    if is_multi_tenant_alias(tenant) {
        return Err(aad_error(ctx, req, 400, "invalid_request", 50059, "No tenant-identifying information found in either the request or implied by any provided credentials."));
    }
    if resolve_tenant(&ctx.state.lock().directory, tenant).is_none() {
        return Err(unknown_tenant(ctx, req, tenant));
    }
    let form = client_form(req).ok_or_else(|| {
        aad_error(ctx, req, 401, "invalid_client", 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
    })?;
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let grant = get("grant_type").ok_or_else(|| missing(ctx, req, "grant_type"))?;
    if grant != "client_credentials" {
        return Err(aad_error(ctx, req, 400, "unsupported_grant_type", 70003, &format!("The app requested an unsupported grant type '{grant}'. The emulator implements only 'client_credentials'.")));
    }
    let client_id = get("client_id").ok_or_else(|| missing(ctx, req, "client_id"))?;
    let resource = requested_resource(ctx, req, &get, v2)?;
    if !known_resource(&resource) {
        return Err(aad_error(ctx, req, 400, "invalid_resource", 500011, &format!("The resource principal named {resource} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", ctx.tenant_id)));
    }
    let cred = match (get("client_secret"), get("client_assertion")) {
        (Some(secret), _) => ClientCredential::Secret(secret),
        (None, Some(assertion)) => ClientCredential::Assertion {
            assertion_type: get("client_assertion_type"),
            assertion,
        },
        (None, None) => ClientCredential::Missing,
    };
    let st = ctx.state.lock();
    let who = entra::authenticate_client(&st.directory, client_id, cred, ctx.now())
        .map_err(|e| client_auth_error(ctx, req, &e))?;
    let subject = TokenSubject {
        oid: &who.sp_oid,
        app_id: &who.app_id,
        appidacr: who.appidacr,
    };
    let issued = issue_app_token(ctx, &st.directory, &resource, subject)?;
    drop(st);
    Ok(render_token(&issued, &resource, v2))
}

/// The form, with HTTP Basic client authentication (client_secret_basic: form-urlencoded id and
/// secret) added as `client_id`/`client_secret`. `None` for a Basic header without `id:secret`.
fn client_form(req: &Req) -> Option<Vec<(String, String)>> {
    let mut form = req.form();
    let basic = req.header("authorization").and_then(|h| {
        h.strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
    });
    if let Some(basic) = basic {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let (id, secret) = decoded.as_deref().and_then(|d| d.split_once(':'))?;
        let dec = |s: &str| {
            url::form_urlencoded::parse(format!("v={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        form.push(("client_id".into(), dec(id)));
        form.push(("client_secret".into(), dec(secret)));
    }
    Some(form)
}

/// The resource a token is asked for: v2 `scope` (exactly one `{resource}/.default` besides the
/// OIDC scopes), v1 `resource`.
fn requested_resource<'a>(
    ctx: &Ctx,
    req: &Req,
    get: &dyn Fn(&str) -> Option<&'a str>,
    v2: bool,
) -> Result<String, Resp> {
    if !v2 {
        return get("resource")
            .map(str::to_string)
            .ok_or_else(|| missing(ctx, req, "resource"));
    }
    let scope = get("scope").ok_or_else(|| missing(ctx, req, "scope"))?;
    let scopes: Vec<&str> = scope
        .split(' ')
        .filter(|s| !s.is_empty() && !["openid", "profile", "offline_access"].contains(s))
        .collect();
    match scopes.as_slice() {
        [one] if one.ends_with("/.default") => Ok(one.trim_end_matches("/.default").to_string()),
        _ => Err(aad_error(ctx, req, 400, "invalid_scope", 1002012, &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."))),
    }
}

/// A refused client, as Entra answers it (401 for a bad or missing secret, else 400).
fn client_auth_error(ctx: &Ctx, req: &Req, e: &ClientAuthError) -> Resp {
    let status = if e.is_unauthorized() { 401 } else { 400 };
    aad_error(ctx, req, status, e.error(), e.aadsts(), &e.to_string())
}

/// The token response: v2 numbers, v1 strings plus `expires_on`, `not_before` and `resource`.
fn render_token(issued: &Issued, resource: &str, v2: bool) -> Resp {
    let body = if v2 {
        json!({"token_type": "Bearer", "expires_in": issued.expires_in, "ext_expires_in": issued.expires_in, "access_token": issued.token})
    } else {
        json!({
            "token_type": "Bearer",
            "expires_in": issued.expires_in.to_string(),
            "ext_expires_in": issued.expires_in.to_string(),
            "expires_on": issued.exp.to_string(),
            "not_before": issued.nbf.to_string(),
            "resource": resource,
            "access_token": issued.token,
        })
    };
    Resp::json(200, &body)
        .with_header("cache-control", "no-store, no-cache")
        .with_header("pragma", "no-cache")
}

/// Mints an app-only token for `who` with the emulator's key, clock and token lifetime
/// (`model::entra::issue_app_token`); a signing failure is Entra's 500 `server_error`.
pub fn issue_app_token(
    ctx: &Ctx,
    dir: &Directory,
    resource: &str,
    who: TokenSubject<'_>,
) -> Result<Issued, Resp> {
    let now = ctx.now().floor() as i64;
    let lifetime = ctx.timing().token_lifetime.sample().round().max(1.0) as i64;
    entra::issue_app_token(&ctx.keys, dir, &ctx.tenant_id, resource, who, now, lifetime).map_err(
        |e| {
            Resp::json(500, &json!({"error": "server_error", "error_description": format!("AADSTS50000: There was an error issuing a token: {e}")}))
        },
    )
}
