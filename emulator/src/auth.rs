//! Bearer token → [`Caller`], with each Azure surface's own rejection shapes.
//!
//! Why here and not in each service: ARM, the Azure OpenAI data plane and Graph validate the same
//! tokens but answer failures differently (ARM 401 codes + `WWW-Authenticate`, the data plane's
//! `{"statusCode":401}` body, Graph's `InvalidAuthenticationToken`); one validator with three
//! renderers keeps the rules identical and the shapes distinct.

use crate::ctx::Ctx;
use crate::http::{Req, Resp};
use crate::timefmt::{arm_time, iso_time};
use crate::tokens::{Claims, TokenError};
use serde_json::json;

/// The authenticated principal behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Object id (what RBAC checks).
    pub oid: String,
    /// Tenant id.
    pub tid: String,
    /// Client application id (apps and managed identities).
    pub appid: Option<String>,
    /// UPN (users).
    pub upn: Option<String>,
    /// `"app"` or `"user"`.
    pub idtyp: String,
    /// Transitive group object ids as of token issue.
    pub groups: Vec<String>,
    /// What Azure names the client in AuthorizationFailed messages (UPN for users, appId for apps).
    pub display: String,
    /// App roles in the token (Graph application permissions).
    pub roles: Vec<String>,
    /// Managed identity resource id, for MI tokens.
    pub mi_resource_id: Option<String>,
}

impl Caller {
    fn from_claims(c: Claims) -> Caller {
        let display = c
            .upn
            .clone()
            .or_else(|| c.appid.clone())
            .unwrap_or_else(|| c.oid.clone());
        Caller {
            oid: c.oid,
            tid: c.tid,
            appid: c.appid,
            upn: c.upn,
            idtyp: if c.idtyp.is_empty() {
                "app".into()
            } else {
                c.idtyp
            },
            groups: c.groups,
            display,
            roles: c.roles,
            mi_resource_id: c.xms_mirid,
        }
    }
}

pub use crate::tokens::{ARM_AUDIENCES, COGNITIVE_AUDIENCES, GRAPH_AUDIENCES};

/// Why a token was refused, independent of the surface's wire shape.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// Header present but not `Bearer <token>`.
    InvalidHeader,
    /// Not a token signed by this emulator (garbage, tampered, foreign).
    Invalid,
    /// Signed by us but lacks an `oid`.
    NoOid,
    /// Wrong audience (carries the token's `aud`).
    Audience(String),
    /// Another tenant (carries the token's `iss`).
    Tenant(String),
    /// Expired (carries `exp`, unix seconds).
    Expired(i64),
    /// Not yet valid (carries `nbf`).
    NotYetValid(i64),
}

/// Clock skew tolerated on `nbf` (Azure allows ~5 minutes; tokens are minted by the same clock).
const NBF_SKEW: f64 = 300.0;

/// Validates the request's bearer token against `audiences` without rendering anything.
pub fn validate(ctx: &Ctx, req: &Req, audiences: &[&str]) -> Result<Caller, AuthFailure> {
    let header = req.header("authorization").ok_or(AuthFailure::Missing)?;
    let token = req.bearer().ok_or(AuthFailure::InvalidHeader)?;
    if token.is_empty() {
        return Err(AuthFailure::InvalidHeader);
    }
    let _ = header;
    let claims = ctx.keys.verify(token).map_err(|e| match e {
        TokenError::Malformed | TokenError::BadSignature => AuthFailure::Invalid,
    })?;
    if !audiences.iter().any(|a| *a == claims.aud) {
        return Err(AuthFailure::Audience(claims.aud));
    }
    let now = ctx.now();
    if (claims.exp as f64) <= now {
        return Err(AuthFailure::Expired(claims.exp));
    }
    if (claims.nbf as f64) > now + NBF_SKEW {
        return Err(AuthFailure::NotYetValid(claims.nbf));
    }
    if !claims.tid.eq_ignore_ascii_case(&ctx.tenant_id) {
        return Err(AuthFailure::Tenant(claims.iss));
    }
    if claims.oid.is_empty() {
        return Err(AuthFailure::NoOid);
    }
    Ok(Caller::from_claims(claims))
}

/// Authenticates an ARM request; failures are ARM's 401s with `WWW-Authenticate`.
pub fn authenticate_arm(ctx: &Ctx, req: &Req) -> Result<Caller, Resp> {
    validate(ctx, req, &ARM_AUDIENCES).map_err(|f| arm_401(ctx, &f))
}

/// Renders an ARM authentication failure (behaviour notes §3.2).
pub fn arm_401(ctx: &Ctx, f: &AuthFailure) -> Resp {
    let (code, message) = match f {
        AuthFailure::Missing => (
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".to_string(),
        ),
        AuthFailure::InvalidHeader => (
            "AuthenticationFailedInvalidHeader",
            "Authentication failed. The 'Authorization' header is provided in an invalid format."
                .to_string(),
        ),
        AuthFailure::Invalid => ("InvalidAuthenticationToken", "The access token is invalid.".to_string()),
        AuthFailure::NoOid => (
            "InvalidAuthenticationToken",
            "The access token is invalid. at least one of the claims 'puid' or 'altsecid' or 'oid' should be present. If you are accessing as application please make sure service principal is properly created in the tenant.".to_string(),
        ),
        AuthFailure::Audience(aud) => (
            "InvalidAuthenticationTokenAudience",
            format!(
                "The access token has been obtained for wrong audience or resource '{aud}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'."
            ),
        ),
        AuthFailure::Tenant(iss) => (
            "InvalidAuthenticationTokenTenant",
            format!(
                "The access token is from the wrong issuer '{iss}'. It must match the tenant 'https://sts.windows.net/{}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.",
                ctx.tenant_id, ctx.tenant_id
            ),
        ),
        AuthFailure::Expired(exp) => (
            "ExpiredAuthenticationToken",
            format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                arm_time(*exp as f64),
                arm_time(ctx.now())
            ),
        ),
        AuthFailure::NotYetValid(_) => ("InvalidAuthenticationToken", "The access token is invalid.".to_string()),
    };
    let description = match f {
        AuthFailure::Missing => {
            "The authentication failed because of missing 'Authorization' header."
        }
        AuthFailure::InvalidHeader => {
            "The authentication failed because of invalid 'Authorization' header."
        }
        AuthFailure::Expired(_) => {
            "The access token expiry UTC time is earlier than current UTC time."
        }
        _ => "The access token is invalid.",
    };
    Resp::arm_error(401, code, &message).with_header(
        "www-authenticate",
        format!(
            "Bearer authorization_uri=\"{}/{}\", error=\"invalid_token\", error_description=\"{description}\"",
            ctx.base_url, ctx.tenant_id
        ),
    )
}

/// Authenticates a data-plane request (audience `https://cognitiveservices.azure.com`); failures
/// are the data plane's 401 `{"statusCode":401,"message":…}` shape.
pub fn authenticate_dataplane(ctx: &Ctx, req: &Req) -> Result<Caller, Resp> {
    validate(ctx, req, &COGNITIVE_AUDIENCES).map_err(|_| {
        Resp::json(
            401,
            &json!({"statusCode": 401, "message": "Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired."}),
        )
    })
}

/// Authenticates a Microsoft Graph request; failures are Graph's 401 `InvalidAuthenticationToken`.
pub fn authenticate_graph(ctx: &Ctx, req: &Req) -> Result<Caller, Resp> {
    validate(ctx, req, &GRAPH_AUDIENCES).map_err(|f| {
        let message = match f {
            AuthFailure::Missing | AuthFailure::InvalidHeader => "Access token is empty.",
            AuthFailure::Audience(_) => "Access token validation failure. Invalid audience.",
            AuthFailure::Expired(_) => "Lifetime validation failed, the token is expired.",
            _ => "Access token validation failure.",
        };
        graph_error(ctx, req, 401, "InvalidAuthenticationToken", message)
    })
}

/// Graph's error envelope with `innerError` (date, request-id, client-request-id).
pub fn graph_error(ctx: &Ctx, req: &Req, status: u16, code: &str, message: &str) -> Resp {
    let client = req
        .header("client-request-id")
        .map(str::to_string)
        .unwrap_or_else(|| req.request_id.clone());
    Resp::json(
        status,
        &json!({"error": {"code": code, "message": message, "innerError": {
            "date": iso_time(ctx.now()), "request-id": req.request_id, "client-request-id": client}}}),
    )
    .with_header("request-id", req.request_id.clone())
    .with_header("client-request-id", client)
}
