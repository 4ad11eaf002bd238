//! Managed identity token endpoints, as seen from inside a VM (a Run Command child process):
//! App Service style (`IDENTITY_ENDPOINT` + `X-IDENTITY-HEADER`) and IMDS style
//! (`{IMDS_ENDPOINT}/metadata/identity/oauth2/token` + `Metadata: true`).
//!
//! Why a per-VM secret: Azure knows which VM calls IMDS from the network path; a loopback
//! emulator cannot, so each VM gets an unguessable secret (random per emulator run) that both
//! styles carry (header, or path segment for IMDS). Responses follow behaviour notes §2:
//! `expires_in`/`expires_on` are *strings*, errors are 400 `bad_request_102` / `invalid_request`
//! "Identity not found" / `invalid_resource`. The rules (identity selection, the token cache) are
//! `model::msi`; this module parses both styles and renders.

use crate::ctx::Ctx;
use crate::http::{Req, Resp};
use crate::model::entra::{known_resource, TokenSubject};
use crate::model::msi::{self, MsiHost, Selector};
use crate::services::entra;
use serde_json::json;

/// Handles `/msi/token` and `/imds/{secret}/metadata/identity/oauth2/token`.
pub async fn handle(ctx: &Ctx, req: Req) -> Resp {
    let segs = req.lower_segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["msi", "token"]) => {
            let secret = req.header("x-identity-header").unwrap_or_default();
            match host_for(ctx, secret) {
                Some(h) => token(ctx, &req, &h, Style::AppService),
                None => unknown_source(),
            }
        }
        ("GET", ["imds", _, "metadata", "identity", "oauth2", "token"]) => {
            let secret = req.segments.get(1).cloned().unwrap_or_default();
            let Some(h) = host_for(ctx, &secret) else {
                return unknown_source();
            };
            if !req
                .header("metadata")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            {
                return msi_error(
                    400,
                    "bad_request_102",
                    "Required metadata header not specified",
                );
            }
            token(ctx, &req, &h, Style::Imds)
        }
        _ => crate::http::not_found(&req),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    AppService,
    Imds,
}

fn host_for(ctx: &Ctx, secret: &str) -> Option<MsiHost> {
    ctx.msi_hosts.lock().get(secret)
}

fn msi_error(status: u16, error: &str, description: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

fn unknown_source() -> Resp {
    msi_error(
        401,
        "unknown_source",
        "Unable to load the proper Managed Identity. The request did not come from a VM known to this emulator (missing or wrong identity secret).",
    )
}

fn token(ctx: &Ctx, req: &Req, host: &MsiHost, style: Style) -> Resp {
    match token_result(ctx, req, host, style) {
        Ok(r) | Err(r) => r,
    }
}

/// The token request: api-version, resource and at most one selector, then the identity, then
/// a cached or new token.
fn token_result(ctx: &Ctx, req: &Req, host: &MsiHost, style: Style) -> Result<Resp, Resp> {
    if req.query("api-version").is_none_or(str::is_empty) {
        return Err(msi_error(
            400,
            "invalid_request",
            "Required query variable 'api-version' is missing",
        ));
    }
    let Some(resource) = req.query("resource").filter(|r| !r.is_empty()) else {
        return Err(msi_error(
            400,
            "invalid_request",
            "Required query variable 'resource' is missing",
        ));
    };
    let selector = selector(req)?;
    if !known_resource(resource) {
        return Err(msi_error(
            400,
            "invalid_resource",
            &format!(
                "AADSTS50001: The application named {resource} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
                ctx.tenant_id
            ),
        ));
    }
    let st = ctx.state.lock();
    let sp = msi::select(&st.directory, host, selector)
        .map_err(|e| msi_error(400, "invalid_request", &e.to_string()))?;
    let now = ctx.now();
    let cached = ctx.msi_cache.lock().fresh(&sp.id, resource, now);
    let issued = match cached {
        Some(t) => t,
        None => {
            let who = TokenSubject {
                oid: &sp.id,
                app_id: &sp.app_id,
                appidacr: "2",
            };
            let t = entra::issue_app_token(ctx, &st.directory, resource, who)?;
            ctx.msi_cache.lock().insert(&sp.id, resource, t.clone());
            t
        }
    };
    let expires_in = ((issued.exp as f64) - now).floor().max(0.0) as i64;
    let body = match style {
        Style::Imds => json!({
            "access_token": issued.token,
            "refresh_token": "",
            "expires_in": expires_in.to_string(),
            "expires_on": issued.exp.to_string(),
            "ext_expires_in": expires_in.to_string(),
            "not_before": issued.nbf.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": sp.app_id,
        }),
        Style::AppService => json!({
            "access_token": issued.token,
            "expires_on": issued.exp.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": sp.app_id,
        }),
    };
    Ok(Resp::json(200, &body))
}

/// The identity selector of the query (at most one may be given).
fn selector(req: &Req) -> Result<Selector<'_>, Resp> {
    let given: Vec<(&str, &str)> = [
        "client_id",
        "object_id",
        "principal_id",
        "msi_res_id",
        "mi_res_id",
    ]
    .iter()
    .filter_map(|k| req.query(k).filter(|v| !v.is_empty()).map(|v| (*k, v)))
    .collect();
    match given.as_slice() {
        [] => Ok(Selector::Default),
        [("client_id", v)] => Ok(Selector::ClientId(v)),
        [("object_id" | "principal_id", v)] => Ok(Selector::ObjectId(v)),
        [(_, v)] => Ok(Selector::ResourceId(v)),
        _ => Err(msi_error(
            400,
            "invalid_request",
            "Only one of client_id, object_id (principal_id) or msi_res_id (mi_res_id) may be specified.",
        )),
    }
}

/// The environment a Run Command child process gets on VM `vm_resource_id` whose attached
/// identities are `principal_ids`: both managed-identity endpoint styles (one secret per VM,
/// reused across calls and updated with the current identities), the CA bundle variables so
/// curl/Python/Rust clients trust the emulator, a `PATH` and a per-VM `HOME`.
pub fn vm_child_env(
    ctx: &Ctx,
    vm_resource_id: &str,
    principal_ids: &[String],
) -> Vec<(String, String)> {
    let secret = ctx
        .msi_hosts
        .lock()
        .register(vm_resource_id, principal_ids, new_secret);
    let base = &ctx.base_url;
    let ca = ctx.ca_pem_path.display().to_string();
    let vm_name = vm_resource_id.rsplit('/').next().unwrap_or("vm");
    let home = std::env::temp_dir().join(format!(
        "keyless-emulator-vm-{}-{}",
        std::process::id(),
        vm_name.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
    ));
    let _ = std::fs::create_dir_all(&home);
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    vec![
        ("IDENTITY_ENDPOINT".into(), format!("{base}/msi/token")),
        ("IDENTITY_HEADER".into(), secret.clone()),
        ("IMDS_ENDPOINT".into(), format!("{base}/imds/{secret}")),
        (
            "AZURE_POD_IDENTITY_AUTHORITY_HOST".into(),
            format!("{base}/imds/{secret}"),
        ),
        ("SSL_CERT_FILE".into(), ca.clone()),
        ("CURL_CA_BUNDLE".into(), ca.clone()),
        ("REQUESTS_CA_BUNDLE".into(), ca),
        ("PATH".into(), path),
        ("HOME".into(), home.display().to_string()),
    ]
}

/// 32 random bytes, hex: unguessable per-VM secret.
fn new_secret() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}
