//! Entra ID rules: which tenants and resources the emulated tenant knows, how a confidential
//! client proves who it is (client secret, certificate assertion, federated assertion), and the
//! claims of the app-only access tokens it issues.
//!
//! Offline limits, on purpose: an external federated assertion's signature cannot be checked
//! (the issuer's keys are on the internet), so any signature is accepted while `iss`/`sub`/`aud`
//! must match a federated credential exactly and `exp`/`nbf` must hold (AADSTS700024). A
//! certificate assertion is accepted when its `x5t` names a thumbprint registered on the app
//! (the emulator holds thumbprints, not public keys).
//!
//! Plain rules: `services::entra` parses the form and renders [`ClientAuthError`] as Entra's
//! AADSTS error body.

use super::directory::{Application, Directory, SpKind};
use crate::timefmt::aad_time;
use crate::tokens::{v1_issuer, Claims, Issued, SigningKey, GRAPH_AUDIENCES};
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
    GRAPH_AUDIENCES.contains(&resource)
}

/// The tenant id an authority path segment names (id or domain), `None` for an unknown tenant.
pub fn resolve_tenant(dir: &Directory, tenant: &str) -> Option<String> {
    dir.is_tenant(tenant).then(|| dir.tenant_id.clone())
}

/// `common`, `organizations` and `consumers`: accepted for discovery, not for tokens.
pub fn is_multi_tenant_alias(t: &str) -> bool {
    ["common", "organizations", "consumers"]
        .iter()
        .any(|a| a.eq_ignore_ascii_case(t))
}

/// The `client_assertion_type` of a JWT client assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How a client proves who it is (from the token request form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCredential<'a> {
    /// `client_secret` (form body or HTTP Basic).
    Secret(&'a str),
    /// `client_assertion` with its `client_assertion_type`, if any.
    Assertion {
        /// `client_assertion_type`.
        assertion_type: Option<&'a str>,
        /// The JWT.
        assertion: &'a str,
    },
    /// Neither.
    Missing,
}

/// What a successful client authentication established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// The application's service principal (the token's `oid`).
    pub sp_oid: String,
    /// The application (client) id.
    pub app_id: String,
    /// `appidacr`: "1" for a secret, "2" for an assertion.
    pub appidacr: &'static str,
}

/// Why a client was refused, with Entra's AADSTS code and message.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientAuthError {
    /// No application with that client id.
    UnknownApplication {
        /// The client id sent.
        client_id: String,
        /// The tenant's primary domain.
        domain: String,
    },
    /// The application has no service principal in the tenant.
    NoServicePrincipal {
        /// The application id.
        app_id: String,
        /// The tenant id.
        tenant_id: String,
    },
    /// A secret the application does not hold.
    InvalidSecret {
        /// The application id.
        app_id: String,
    },
    /// Neither a secret nor an assertion.
    MissingCredential,
    /// An assertion without the JWT-bearer assertion type.
    MissingAssertionType,
    /// An assertion that is not a JWT.
    MalformedAssertion,
    /// An assertion without `exp`.
    AssertionWithoutExp,
    /// An assertion outside its `nbf`..`exp` window.
    AssertionOutOfRange {
        /// Now (unix seconds).
        now: f64,
        /// `nbf`, if present.
        nbf: Option<f64>,
        /// `exp`.
        exp: f64,
    },
    /// A certificate assertion whose `x5t` is not registered on the application.
    UnknownCertificate {
        /// The `x5t` header as sent.
        thumbprint: String,
        /// The application id.
        app_id: String,
    },
    /// A federated assertion that matches no federated credential.
    NoFederatedMatch {
        /// `iss`.
        iss: String,
        /// `sub`.
        sub: String,
        /// `aud` values.
        auds: Vec<String>,
    },
}

impl ClientAuthError {
    /// The OAuth `error` value.
    pub fn error(&self) -> &'static str {
        match self {
            ClientAuthError::UnknownApplication { .. }
            | ClientAuthError::NoServicePrincipal { .. } => "unauthorized_client",
            ClientAuthError::MissingAssertionType | ClientAuthError::NoFederatedMatch { .. } => {
                "invalid_request"
            }
            _ => "invalid_client",
        }
    }

    /// The AADSTS code.
    pub fn aadsts(&self) -> u32 {
        match self {
            ClientAuthError::UnknownApplication { .. } => 700016,
            ClientAuthError::NoServicePrincipal { .. } => 7000229,
            ClientAuthError::InvalidSecret { .. } => 7000215,
            ClientAuthError::MissingCredential => 7000218,
            ClientAuthError::MissingAssertionType => 900144,
            ClientAuthError::MalformedAssertion | ClientAuthError::AssertionWithoutExp => 50027,
            ClientAuthError::AssertionOutOfRange { .. } => 700024,
            ClientAuthError::UnknownCertificate { .. } => 700027,
            ClientAuthError::NoFederatedMatch { .. } => 70021,
        }
    }

    /// True for the refusals Entra answers with 401 rather than 400 (a bad or missing secret).
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            ClientAuthError::InvalidSecret { .. } | ClientAuthError::MissingCredential
        )
    }
}

impl std::fmt::Display for ClientAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuthError::UnknownApplication { client_id, domain } => write!(f, "Application with identifier '{client_id}' was not found in the directory '{domain}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
            ClientAuthError::NoServicePrincipal { app_id, tenant_id } => write!(f, "The client application {app_id} is missing service principal in the tenant {tenant_id}."),
            ClientAuthError::InvalidSecret { app_id } => write!(f, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{app_id}'."),
            ClientAuthError::MissingCredential => write!(f, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
            ClientAuthError::MissingAssertionType => write!(f, "The request body must contain the following parameter: 'client_assertion_type'."),
            ClientAuthError::MalformedAssertion => write!(f, "JWT token is invalid or malformed."),
            ClientAuthError::AssertionWithoutExp => write!(f, "JWT token is invalid or malformed. The 'exp' claim is missing."),
            ClientAuthError::AssertionOutOfRange { now, nbf, exp } => write!(f,
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}.",
                aad_time(*now), nbf.map(aad_time).unwrap_or_else(|| "(none)".into()), aad_time(*exp)),
            ClientAuthError::UnknownCertificate { thumbprint, app_id } => write!(f, "Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}'. Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{app_id}'.]"),
            ClientAuthError::NoFederatedMatch { iss, sub, auds } => write!(f,
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
                auds.join(",")),
        }
    }
}

impl std::error::Error for ClientAuthError {}

/// Authenticates confidential client `client_id` with `cred` at `now` (unix seconds).
pub fn authenticate_client(
    dir: &Directory,
    client_id: &str,
    cred: ClientCredential<'_>,
    now: f64,
) -> Result<ClientAuth, ClientAuthError> {
    let Some(app) = dir.application(client_id) else {
        return Err(ClientAuthError::UnknownApplication {
            client_id: client_id.to_string(),
            domain: dir.domain.clone(),
        });
    };
    let sp = dir
        .service_principal_by_app_id(&app.app_id)
        .filter(|s| s.kind == SpKind::Application);
    let Some(sp) = sp else {
        return Err(ClientAuthError::NoServicePrincipal {
            app_id: app.app_id.clone(),
            tenant_id: dir.tenant_id.clone(),
        });
    };
    let ok = |appidacr| ClientAuth {
        sp_oid: sp.id.clone(),
        app_id: app.app_id.clone(),
        appidacr,
    };
    match cred {
        ClientCredential::Secret(secret) if app.secrets.iter().any(|s| s == secret) => Ok(ok("1")),
        ClientCredential::Secret(_) => Err(ClientAuthError::InvalidSecret {
            app_id: app.app_id.clone(),
        }),
        ClientCredential::Missing => Err(ClientAuthError::MissingCredential),
        ClientCredential::Assertion {
            assertion_type,
            assertion,
        } => {
            if assertion_type != Some(JWT_BEARER) {
                return Err(ClientAuthError::MissingAssertionType);
            }
            check_assertion(app, assertion, now).map(|()| ok("2"))
        }
    }
}

/// A client assertion: a certificate assertion (signed by the app itself: `iss` = `sub` =
/// app id) must name a registered thumbprint; any other is a federated assertion and must match
/// a federated credential. Both must be within their validity window.
fn check_assertion(app: &Application, assertion: &str, now: f64) -> Result<(), ClientAuthError> {
    let Some((header, claims)) = crate::tokens::decode_unverified(assertion) else {
        return Err(ClientAuthError::MalformedAssertion);
    };
    let num = |k: &str| claims.get(k).and_then(Value::as_f64);
    let (nbf, exp) = (num("nbf"), num("exp"));
    let Some(exp) = exp else {
        return Err(ClientAuthError::AssertionWithoutExp);
    };
    // Entra allows a few minutes of clock skew on nbf.
    if exp <= now || nbf.is_some_and(|n| n > now + 300.0) {
        return Err(ClientAuthError::AssertionOutOfRange { now, nbf, exp });
    }
    let s = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (iss, sub) = (s("iss"), s("sub"));
    if iss.eq_ignore_ascii_case(&app.app_id) && sub.eq_ignore_ascii_case(&app.app_id) {
        return match certificate_thumbprint(&header) {
            Some(t) if app.certificates.contains(&t) => Ok(()),
            _ => Err(ClientAuthError::UnknownCertificate {
                thumbprint: header
                    .get("x5t")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                app_id: app.app_id.clone(),
            }),
        };
    }
    let auds: Vec<String> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    };
    let matched = app
        .federated_credentials
        .iter()
        .any(|f| f.issuer == iss && f.subject == sub && auds.contains(&f.audience));
    if matched {
        Ok(())
    } else {
        Err(ClientAuthError::NoFederatedMatch { iss, sub, auds })
    }
}

/// The upper-case hex SHA-1 thumbprint a JWT header's `x5t` names.
fn certificate_thumbprint(header: &Value) -> Option<String> {
    header
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
        .map(|b| b.iter().map(|x| format!("{x:02X}")).collect::<String>())
}

/// Who an app-only token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSubject<'a> {
    /// Service principal object id (an application's or a managed identity's).
    pub oid: &'a str,
    /// Its application (client) id.
    pub app_id: &'a str,
    /// `appidacr`.
    pub appidacr: &'a str,
}

/// Mints a v1 app-only access token of tenant `tenant_id` for `who` and `resource`, valid
/// `lifetime` seconds from `now`. `groups` are the transitive memberships *now*; Graph tokens carry the principal's
/// Graph app roles; managed identities carry `xms_mirid`.
pub fn issue_app_token(
    keys: &SigningKey,
    dir: &Directory,
    tenant_id: &str,
    resource: &str,
    who: TokenSubject<'_>,
    now: i64,
    lifetime: i64,
) -> Result<Issued, jsonwebtoken::errors::Error> {
    let sp = dir.service_principal(who.oid);
    let iss = v1_issuer(tenant_id);
    let claims = Claims {
        aud: resource.to_string(),
        iss: iss.clone(),
        iat: now,
        nbf: now,
        exp: now + lifetime,
        appid: Some(who.app_id.to_string()),
        appidacr: Some(who.appidacr.to_string()),
        idp: Some(iss),
        idtyp: "app".into(),
        oid: who.oid.to_string(),
        sub: who.oid.to_string(),
        tid: tenant_id.to_string(),
        uti: base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(uuid::Uuid::new_v4().as_bytes()),
        ver: "1.0".into(),
        groups: dir.transitive_groups(who.oid),
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
    let token = keys.sign(&v)?;
    Ok(Issued {
        token,
        exp: now + lifetime,
        nbf: now,
        expires_in: lifetime,
    })
}
