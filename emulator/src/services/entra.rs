//! Entra ID: OIDC discovery (v2 and v1), JWKS, MSAL instance discovery, and the token endpoints
//! (v2.0 and v1) for the client-credentials grant with a client secret (form body or HTTP
//! Basic), a federated assertion (workload identity federation) or a certificate assertion.
//!
//! Offline limits, on purpose: an external federated assertion's signature cannot be checked
//! (the issuer's keys are on the internet), so any signature is accepted while `iss`/`sub`/`aud`
//! must match a federated credential exactly and `exp`/`nbf` must hold (AADSTS700024). A
//! certificate assertion is accepted when its `x5t` names a thumbprint registered on the app
//! (the emulator holds thumbprints, not public keys).

use crate::ctx::Ctx;
use crate::http::{Req, Resp};
use crate::model::directory::{Directory, SpKind};
use crate::timefmt::{aad_time, iso_time};
use crate::tokens::{v1_issuer, Claims, Issued};
use base64::Engine;
use serde_json::{json, Value};

/// Resources the emulated tenant can issue tokens for (v1 resource URIs, as requested).
const KNOWN_RESOURCES: [&str; 10] = [
    "https://management.azure.com/",
    "https://management.azure.com",
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://cognitiveservices.azure.com",
    "https://cognitiveservices.azure.com/",
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000",
    "https://ai.azure.com",
];

/// True when the emulated tenant knows a resource principal for `resource`.
pub fn known_resource(resource: &str) -> bool {
    KNOWN_RESOURCES.contains(&resource)
}

/// True when a token for `resource` is a Microsoft Graph token.
pub fn is_graph(resource: &str) -> bool {
    crate::auth::GRAPH_AUDIENCES.contains(&resource)
}

/// Handles an Entra ID request.
pub async fn handle(ctx: &Ctx, req: Req) -> Resp {
    let segs: Vec<String> = req
        .segments
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
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

/// The tenant id an authority path segment names, `None` for an unknown tenant. `common` and
/// `organizations` are accepted for discovery.
fn resolve_tenant(dir: &Directory, tenant: &str) -> Option<String> {
    if dir.is_tenant(tenant) {
        Some(dir.tenant_id.clone())
    } else {
        None
    }
}

fn is_multi_tenant_alias(t: &str) -> bool {
    ["common", "organizations", "consumers"]
        .iter()
        .any(|a| a.eq_ignore_ascii_case(t))
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

/// What a successful credential check established.
struct Authenticated {
    sp_oid: String,
    app_id: String,
    appidacr: &'static str,
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn token(ctx: &Ctx, req: &Req, tenant: &str, v2: bool) -> Resp {
    let err = |status, error, code, msg: &str| aad_error(ctx, req, status, error, code, msg);
    if is_multi_tenant_alias(tenant) {
        return err(400, "invalid_request", 50059, "No tenant-identifying information found in either the request or implied by any provided credentials.");
    }
    {
        let st = ctx.state.lock();
        if resolve_tenant(&st.directory, tenant).is_none() {
            drop(st);
            return unknown_tenant(ctx, req, tenant);
        }
    }
    let mut form = req.form();
    // HTTP Basic client authentication (client_secret_basic): form-urlencoded id and secret.
    if let Some(basic) = req.header("authorization").and_then(|h| {
        h.strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
    }) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((id, secret)) => {
                let dec = |s: &str| {
                    url::form_urlencoded::parse(format!("v={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                form.push(("client_id".into(), dec(id)));
                form.push(("client_secret".into(), dec(secret)));
            }
            None => {
                return err(401, "invalid_client", 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
            }
        }
    }
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let Some(grant) = get("grant_type") else {
        return err(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    };
    if grant != "client_credentials" {
        return err(400, "unsupported_grant_type", 70003, &format!("The app requested an unsupported grant type '{grant}'. The emulator implements only 'client_credentials'."));
    }
    let Some(client_id) = get("client_id") else {
        return err(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let resource = if v2 {
        let Some(scope) = get("scope") else {
            return err(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            );
        };
        let scopes: Vec<&str> = scope
            .split(' ')
            .filter(|s| !s.is_empty() && !["openid", "profile", "offline_access"].contains(s))
            .collect();
        match scopes.as_slice() {
            [one] if one.ends_with("/.default") => one.trim_end_matches("/.default").to_string(),
            _ => {
                return err(400, "invalid_scope", 1002012, &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."))
            }
        }
    } else {
        let Some(r) = get("resource") else {
            return err(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'resource'.",
            );
        };
        r.to_string()
    };
    if !known_resource(&resource) {
        return err(400, "invalid_resource", 500011, &format!("The resource principal named {resource} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", ctx.tenant_id));
    }
    let who = match authenticate_client(ctx, req, client_id, &get) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let issued = {
        let st = ctx.state.lock();
        issue_app_token(
            ctx,
            &st.directory,
            &resource,
            &who.sp_oid,
            &who.app_id,
            who.appidacr,
        )
    };
    let issued = match issued {
        Ok(t) => t,
        Err(r) => return r,
    };
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

fn authenticate_client<'a>(
    ctx: &Ctx,
    req: &Req,
    client_id: &str,
    get: &dyn Fn(&str) -> Option<&'a str>,
) -> Result<Authenticated, Resp> {
    let err = |status, error, code, msg: &str| aad_error(ctx, req, status, error, code, msg);
    let st = ctx.state.lock();
    let dir = &st.directory;
    let Some(app) = dir.application(client_id) else {
        return Err(err(400, "unauthorized_client", 700016, &format!("Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", dir.domain)));
    };
    let sp = dir
        .service_principal_by_app_id(&app.app_id)
        .filter(|s| s.kind == SpKind::Application)
        .map(|s| s.id.clone());
    let Some(sp_oid) = sp else {
        return Err(err(
            400,
            "unauthorized_client",
            7000229,
            &format!(
                "The client application {} is missing service principal in the tenant {}.",
                app.app_id, dir.tenant_id
            ),
        ));
    };
    let ok = |appidacr| Authenticated {
        sp_oid: sp_oid.clone(),
        app_id: app.app_id.clone(),
        appidacr,
    };
    if let Some(secret) = get("client_secret") {
        if app.secrets.iter().any(|s| s == secret) {
            return Ok(ok("1"));
        }
        return Err(err(401, "invalid_client", 7000215, &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", app.app_id)));
    }
    let Some(assertion) = get("client_assertion") else {
        return Err(err(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."));
    };
    if get("client_assertion_type") != Some(JWT_BEARER) {
        return Err(err(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_assertion_type'.",
        ));
    }
    let Some((header, claims)) = crate::tokens::decode_unverified(assertion) else {
        return Err(err(
            400,
            "invalid_client",
            50027,
            "JWT token is invalid or malformed.",
        ));
    };
    let now = ctx.now();
    let num = |k: &str| claims.get(k).and_then(Value::as_f64);
    let (nbf, exp) = (num("nbf"), num("exp"));
    let Some(exp) = exp else {
        return Err(err(
            400,
            "invalid_client",
            50027,
            "JWT token is invalid or malformed. The 'exp' claim is missing.",
        ));
    };
    // Entra allows a few minutes of clock skew on nbf.
    if exp <= now || nbf.is_some_and(|n| n > now + 300.0) {
        return Err(err(400, "invalid_client", 700024, &format!(
            "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}.",
            aad_time(now), nbf.map(aad_time).unwrap_or_else(|| "(none)".into()), aad_time(exp))));
    }
    let s = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (iss, sub) = (s("iss"), s("sub"));
    let auds: Vec<String> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    };
    if iss.eq_ignore_ascii_case(&app.app_id) && sub.eq_ignore_ascii_case(&app.app_id) {
        // A certificate assertion signed by the app itself.
        let x5t = header
            .get("x5t")
            .and_then(Value::as_str)
            .and_then(|t| {
                // base64url per RFC 7515, but standard base64 is accepted too: azure_identity
                // for Rust 0.21 sends it (`+`, `/`, `=`), and Entra's .NET base64url decoder
                // (Microsoft.IdentityModel's Base64UrlEncoder) reads both alphabets. Inferred,
                // not observed: docs/emulator.md.
                let url_safe = t.trim_end_matches('=').replace('+', "-").replace('/', "_");
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(url_safe)
                    .ok()
            })
            .map(|b| b.iter().map(|x| format!("{x:02X}")).collect::<String>());
        return match x5t {
            Some(t) if app.certificates.contains(&t) => Ok(ok("2")),
            _ => Err(err(400, "invalid_client", 700027, &format!("Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '{}'. Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]", header.get("x5t").and_then(Value::as_str).unwrap_or(""), app.app_id))),
        };
    }
    let matched = app
        .federated_credentials
        .iter()
        .any(|f| f.issuer == iss && f.subject == sub && auds.contains(&f.audience));
    if matched {
        return Ok(ok("2"));
    }
    Err(err(400, "invalid_request", 70021, &format!(
        "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
        auds.join(",")
    )))
}

/// Mints a v1 app-only access token for service principal `oid` (an application's or a managed
/// identity's) and `resource`. `groups` are the transitive memberships *now*; Graph tokens carry
/// the principal's Graph app roles; managed identities carry `xms_mirid`.
pub fn issue_app_token(
    ctx: &Ctx,
    dir: &Directory,
    resource: &str,
    oid: &str,
    app_id: &str,
    appidacr: &str,
) -> Result<Issued, Resp> {
    let now = ctx.now().floor() as i64;
    let lifetime = ctx.timing().token_lifetime.sample().round().max(1.0) as i64;
    let sp = dir.service_principal(oid);
    let iss = v1_issuer(&ctx.tenant_id);
    let claims = Claims {
        aud: resource.to_string(),
        iss: iss.clone(),
        iat: now,
        nbf: now,
        exp: now + lifetime,
        appid: Some(app_id.to_string()),
        appidacr: Some(appidacr.to_string()),
        idp: Some(iss),
        idtyp: "app".into(),
        oid: oid.to_string(),
        sub: oid.to_string(),
        tid: ctx.tenant_id.clone(),
        uti: base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(uuid::Uuid::new_v4().as_bytes()),
        ver: "1.0".into(),
        groups: dir.transitive_groups(oid),
        roles: if is_graph(resource) {
            sp.map(|s| s.graph_roles.clone()).unwrap_or_default()
        } else {
            vec![]
        },
        xms_mirid: sp.and_then(|s| s.mi_resource_id.clone()),
        upn: None,
        name: None,
    };
    let mut v = serde_json::to_value(&claims).unwrap_or_else(|_| json!({}));
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "aio".into(),
            json!(uuid::Uuid::new_v4().simple().to_string()),
        );
        o.insert(
            "rh".into(),
            json!(format!("0.emulator.{}", uuid::Uuid::new_v4().simple())),
        );
    }
    let token = ctx.keys.sign(&v).map_err(|e| {
        Resp::json(500, &json!({"error": "server_error", "error_description": format!("AADSTS50000: There was an error issuing a token: {e}")}))
    })?;
    Ok(Issued {
        token,
        exp: now + lifetime,
        nbf: now,
        expires_in: lifetime,
    })
}
