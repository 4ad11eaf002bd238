//! Managed identity token endpoints, as seen from inside a VM (a Run Command child process):
//! App Service style (`IDENTITY_ENDPOINT` + `X-IDENTITY-HEADER`) and IMDS style
//! (`{IMDS_ENDPOINT}/metadata/identity/oauth2/token` + `Metadata: true`).
//!
//! Why a per-VM secret: Azure knows which VM calls IMDS from the network path; a loopback
//! emulator cannot, so each VM gets an unguessable secret (random per emulator run) that both
//! styles carry (header, or path segment for IMDS). Responses follow behaviour notes §2:
//! `expires_in`/`expires_on` are *strings*, errors are 400 `bad_request_102` / `invalid_request`
//! "Identity not found" / `invalid_resource`. Tokens are cached per identity and resource, as the
//! platform does, so group changes reach an MI token only once the cached one is near expiry.

use crate::ctx::{Ctx, MsiHost};
use crate::http::{Req, Resp};
use crate::model::directory::{ServicePrincipal, SpKind};
use crate::services::entra;
use serde_json::json;

/// Handles `/msi/token` and `/imds/{secret}/metadata/identity/oauth2/token`.
pub async fn handle(ctx: &Ctx, req: Req) -> Resp {
    let segs: Vec<String> = req
        .segments
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
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
    if secret.is_empty() {
        return None;
    }
    ctx.msi_hosts.lock().get(secret).cloned()
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
    if req.query("api-version").is_none_or_empty() {
        return msi_error(
            400,
            "invalid_request",
            "Required query variable 'api-version' is missing",
        );
    }
    let Some(resource) = req.query("resource").filter(|r| !r.is_empty()) else {
        return msi_error(
            400,
            "invalid_request",
            "Required query variable 'resource' is missing",
        );
    };
    let selectors: Vec<(&str, &str)> = [
        "client_id",
        "object_id",
        "principal_id",
        "msi_res_id",
        "mi_res_id",
    ]
    .iter()
    .filter_map(|k| req.query(k).filter(|v| !v.is_empty()).map(|v| (*k, v)))
    .collect();
    if selectors.len() > 1 {
        return msi_error(
            400,
            "invalid_request",
            "Only one of client_id, object_id (principal_id) or msi_res_id (mi_res_id) may be specified.",
        );
    }
    if !entra::known_resource(resource) {
        return msi_error(
            400,
            "invalid_resource",
            &format!(
                "AADSTS50001: The application named {resource} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
                ctx.tenant_id
            ),
        );
    }
    let st = ctx.state.lock();
    let dir = &st.directory;
    // The VM's identities now: its system-assigned identity (an MI whose resource id is the
    // VM) plus the user-assigned ones attached when the secret was issued, if they still exist.
    let identities: Vec<&ServicePrincipal> = dir
        .service_principals
        .iter()
        .filter(|sp| {
            sp.kind == SpKind::ManagedIdentity
                && (sp
                    .mi_resource_id
                    .as_deref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(&host.vm_resource_id))
                    || host
                        .principal_ids
                        .iter()
                        .any(|p| p.eq_ignore_ascii_case(&sp.id)))
        })
        .collect();
    let system = |sp: &&&ServicePrincipal| {
        sp.mi_resource_id
            .as_deref()
            .is_some_and(|id| id.eq_ignore_ascii_case(&host.vm_resource_id))
    };
    let chosen = match selectors.first() {
        Some((k, v)) => identities.iter().find(|sp| match *k {
            "client_id" => sp.app_id.eq_ignore_ascii_case(v),
            "object_id" | "principal_id" => sp.id.eq_ignore_ascii_case(v),
            _ => sp
                .mi_resource_id
                .as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(v)),
        }),
        None => match identities.iter().find(system) {
            Some(s) => Some(s),
            None if identities.len() > 1 => {
                return msi_error(
                    400,
                    "invalid_request",
                    "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
                )
            }
            None => identities.first(),
        },
    };
    let Some(sp) = chosen else {
        return msi_error(400, "invalid_request", "Identity not found");
    };
    let now = ctx.now();
    let key = format!("{}|{}", sp.id.to_ascii_lowercase(), resource);
    let cached = ctx
        .msi_cache
        .lock()
        .get(&key)
        .filter(|t| (t.exp as f64) - now > 300.0)
        .cloned();
    let issued = match cached {
        Some(t) => t,
        None => match entra::issue_app_token(ctx, dir, resource, &sp.id, &sp.app_id, "2") {
            Ok(t) => {
                ctx.msi_cache.lock().insert(key, t.clone());
                t
            }
            Err(r) => return r,
        },
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
    Resp::json(200, &body)
}

trait EmptyOpt {
    fn is_none_or_empty(&self) -> bool;
}

impl EmptyOpt for Option<&str> {
    fn is_none_or_empty(&self) -> bool {
        match self {
            Some(s) => s.is_empty(),
            None => true,
        }
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
    let secret = {
        let mut hosts = ctx.msi_hosts.lock();
        let existing = hosts
            .iter()
            .find(|(_, h)| h.vm_resource_id.eq_ignore_ascii_case(vm_resource_id))
            .map(|(s, _)| s.clone());
        let secret = existing.unwrap_or_else(new_secret);
        hosts.insert(
            secret.clone(),
            MsiHost {
                vm_resource_id: vm_resource_id.to_string(),
                principal_ids: principal_ids.to_vec(),
            },
        );
        secret
    };
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
