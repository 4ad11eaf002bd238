//! Choosing the credential keyless signs in with: the azure_identity chain, or one forced with
//! `--auth`.
//!
//! Why not azure_identity's `DefaultAzureCredential` as is: it cannot take the extra trusted CA
//! (emulator) for every member, it probes IMDS on machines that have none (slow failure on a
//! laptop), and it doesn't tell us *which* credential won, which users need to see in the plan
//! header ("signed in as … via workload identity").

use crate::cloud::CloudProfile;
use azure_core::auth::TokenCredential;
use azure_core::HttpClient;
use azure_identity::{
    AppServiceManagedIdentityCredential, AzureCliCredential, ClientSecretCredential,
    TokenCredentialOptions, VirtualMachineManagedIdentityCredential, WorkloadIdentityCredential,
};
use std::sync::Arc;

/// How to authenticate (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    /// Try, in order: workload identity federation, environment service principal, managed
    /// identity (when IDENTITY_ENDPOINT is set), Azure CLI.
    Auto,
    /// AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET, or a certificate:
    /// AZURE_CLIENT_CERTIFICATE_PATH (base64 PKCS#12) + AZURE_CLIENT_CERTIFICATE_PASSWORD.
    ServicePrincipal,
    /// AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_FEDERATED_TOKEN_FILE (GitHub Actions OIDC, AKS).
    WorkloadIdentity,
    /// The managed identity of the machine keyless runs on (IMDS or IDENTITY_ENDPOINT).
    ManagedIdentity,
    /// `az account get-access-token` of the signed-in Azure CLI.
    AzureCli,
}

/// A credential and the name of the method that produced it.
#[derive(Clone)]
pub struct SignedCredential {
    /// The credential.
    pub credential: Arc<dyn TokenCredential>,
    /// Which method (for the plan header and JSON report).
    pub method: &'static str,
}

impl std::fmt::Debug for SignedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedCredential")
            .field("method", &self.method)
            .finish()
    }
}

/// No credential could be built.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CredentialError {
    /// The forced or detected method lacks a variable.
    #[error("cannot use {method} authentication: {missing} is not set")]
    #[diagnostic(code(keyless::auth::missing_variable), help("{help}"))]
    Missing {
        /// Method name.
        method: &'static str,
        /// The missing variable(s).
        missing: String,
        /// What to do.
        help: String,
    },
    /// Nothing in the chain applies.
    #[error("no credential found")]
    #[diagnostic(
        code(keyless::auth::none),
        help("set AZURE_TENANT_ID/AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE, run on a machine with a managed identity, sign in with `az login`, or use --emulator")
    )]
    NoneFound,
    /// azure_identity refused the configuration.
    #[error("{method} credential: {message}")]
    #[diagnostic(code(keyless::auth::invalid))]
    Invalid {
        /// Method name.
        method: &'static str,
        /// azure_identity's message.
        message: String,
    },
}

/// Environment lookups, injectable for tests.
pub trait Env {
    /// A variable's value, if set and non-empty.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

fn need(
    env: &dyn Env,
    method: &'static str,
    names: &[&str],
    help: &str,
) -> Result<Vec<String>, CredentialError> {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| env.var(n).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(CredentialError::Missing {
            method,
            missing: missing.join(", "),
            help: help.to_string(),
        });
    }
    Ok(names
        .iter()
        .map(|n| env.var(n).unwrap_or_default())
        .collect())
}

/// Builds the credential for `method` against `cloud`, sending every token request through
/// `http` (the keyless transport).
pub fn build(
    method: AuthMethod,
    cloud: &CloudProfile,
    http: Arc<dyn HttpClient>,
    env: &dyn Env,
) -> Result<SignedCredential, CredentialError> {
    let authority = cloud.authority_host.clone();
    let mut options = TokenCredentialOptions::from(http.clone());
    options.set_authority_host(authority.to_string());
    match method {
        AuthMethod::ServicePrincipal if env.var("AZURE_CLIENT_CERTIFICATE_PATH").is_some() => {
            client_certificate(env, options)
        }
        AuthMethod::ServicePrincipal => client_secret(env, http, authority),
        AuthMethod::WorkloadIdentity => workload_identity(env, http, authority),
        AuthMethod::ManagedIdentity => managed_identity(env, options),
        AuthMethod::AzureCli => Ok(SignedCredential {
            credential: Arc::new(AzureCliCredential::new()),
            method: "azure-cli",
        }),
        AuthMethod::Auto => auto(cloud, http, env),
    }
}

/// A service principal with a certificate (AZURE_CLIENT_CERTIFICATE_PATH).
fn client_certificate(
    env: &dyn Env,
    options: TokenCredentialOptions,
) -> Result<SignedCredential, CredentialError> {
    let v = need(
        env,
        "service-principal (certificate)",
        &["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_CERTIFICATE_PATH"],
        "export the tenant id, the client (app) id and the path of the certificate: base64 of a PKCS#12 (.pfx) file with its private key; AZURE_CLIENT_CERTIFICATE_PASSWORD if it has a password",
    )?;
    // Built from parts rather than with azure_identity's `create`, which insists on
    // AZURE_CLIENT_CERTIFICATE_PASSWORD being set even for a password-less PKCS#12.
    let invalid = |message: String| CredentialError::Invalid {
        method: "service-principal (certificate)",
        message,
    };
    let contents = std::fs::read_to_string(&v[2]).map_err(|e| {
        invalid(format!(
            "cannot read AZURE_CLIENT_CERTIFICATE_PATH {}: {e}",
            v[2]
        ))
    })?;
    let password = env
        .var("AZURE_CLIENT_CERTIFICATE_PASSWORD")
        .unwrap_or_default();
    let c = azure_identity::ClientCertificateCredential::new(
        v[0].clone(),
        v[1].clone(),
        contents.trim().to_string(),
        password,
        options,
    )
    .map_err(|e| invalid(e.to_string()))?;
    Ok(SignedCredential {
        credential: Arc::new(c),
        method: "service-principal-certificate",
    })
}

/// A service principal with a client secret.
fn client_secret(
    env: &dyn Env,
    http: Arc<dyn HttpClient>,
    authority: url::Url,
) -> Result<SignedCredential, CredentialError> {
    let v = need(
        env,
        "service-principal",
        &["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"],
        "export the service principal's tenant id, client (app) id and secret",
    )?;
    Ok(SignedCredential {
        credential: Arc::new(ClientSecretCredential::new(
            http,
            authority,
            v[0].clone(),
            v[1].clone(),
            v[2].clone(),
        )),
        method: "service-principal",
    })
}

/// Workload identity federation: a federated token file (GitHub Actions OIDC, AKS).
fn workload_identity(
    env: &dyn Env,
    http: Arc<dyn HttpClient>,
    authority: url::Url,
) -> Result<SignedCredential, CredentialError> {
    let v = need(
        env,
        "workload-identity",
        &["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"],
        "in GitHub Actions use azure/login with OIDC or set the variables from the federated credential; on AKS enable workload identity on the pod",
    )?;
    let token = std::fs::read_to_string(&v[2]).map_err(|e| CredentialError::Invalid {
        method: "workload-identity",
        message: format!("cannot read AZURE_FEDERATED_TOKEN_FILE {}: {e}", v[2]),
    })?;
    Ok(SignedCredential {
        credential: Arc::new(WorkloadIdentityCredential::new(
            http,
            authority,
            v[0].clone(),
            v[1].clone(),
            token.trim().to_string(),
        )),
        method: "workload-identity",
    })
}

/// The machine's managed identity: App Service / Container Apps style when IDENTITY_ENDPOINT
/// is set, IMDS otherwise.
fn managed_identity(
    env: &dyn Env,
    options: TokenCredentialOptions,
) -> Result<SignedCredential, CredentialError> {
    if env.var("IDENTITY_ENDPOINT").is_some() {
        let c = AppServiceManagedIdentityCredential::create(options).map_err(|e| {
            CredentialError::Invalid {
                method: "managed-identity",
                message: e.to_string(),
            }
        })?;
        Ok(SignedCredential {
            credential: Arc::new(c),
            method: "managed-identity",
        })
    } else {
        Ok(SignedCredential {
            credential: Arc::new(VirtualMachineManagedIdentityCredential::new(options)),
            method: "managed-identity",
        })
    }
}

/// `--auth auto`: the first method whose variables (or `az`) are present, in the documented
/// order.
fn auto(
    cloud: &CloudProfile,
    http: Arc<dyn HttpClient>,
    env: &dyn Env,
) -> Result<SignedCredential, CredentialError> {
    let has = |n: &str| env.var(n).is_some();
    if has("AZURE_FEDERATED_TOKEN_FILE") {
        build(AuthMethod::WorkloadIdentity, cloud, http, env)
    } else if has("AZURE_CLIENT_SECRET") || has("AZURE_CLIENT_CERTIFICATE_PATH") {
        build(AuthMethod::ServicePrincipal, cloud, http, env)
    } else if has("IDENTITY_ENDPOINT") {
        build(AuthMethod::ManagedIdentity, cloud, http, env)
    } else if which("az") {
        build(AuthMethod::AzureCli, cloud, http, env)
    } else {
        Err(CredentialError::NoneFound)
    }
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<&'static str, String>);
    impl Env for MapEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    fn http() -> Arc<dyn HttpClient> {
        Arc::new(reqwest::Client::new())
    }

    #[test]
    fn forced_service_principal_names_missing_variables() {
        let env = MapEnv(HashMap::from([("AZURE_TENANT_ID", "t".to_string())]));
        let cloud = CloudProfile::named("AzureCloud").unwrap();
        let err = build(AuthMethod::ServicePrincipal, &cloud, http(), &env).unwrap_err();
        assert!(
            err.to_string()
                .contains("AZURE_CLIENT_ID, AZURE_CLIENT_SECRET"),
            "{err}"
        );
    }

    #[test]
    fn certificate_needs_no_password_variable_but_a_readable_file() {
        // A password-less PKCS#12 is common: no AZURE_CLIENT_CERTIFICATE_PASSWORD is fine; an
        // unreadable file is an error naming the variable and the path.
        let env = MapEnv(HashMap::from([
            ("AZURE_TENANT_ID", "t".to_string()),
            ("AZURE_CLIENT_ID", "c".to_string()),
            (
                "AZURE_CLIENT_CERTIFICATE_PATH",
                "/nonexistent.pfx".to_string(),
            ),
        ]));
        let cloud = CloudProfile::named("AzureCloud").unwrap();
        let err = build(AuthMethod::Auto, &cloud, http(), &env).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("AZURE_CLIENT_CERTIFICATE_PATH /nonexistent.pfx"),
            "{text}"
        );
        assert!(
            !text.contains("AZURE_CLIENT_CERTIFICATE_PASSWORD"),
            "{text}"
        );
    }

    #[test]
    fn auto_prefers_workload_identity_then_secret() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "header.payload.sig").unwrap();
        let cloud = CloudProfile::named("AzureCloud").unwrap();
        let mut vars = HashMap::from([
            ("AZURE_TENANT_ID", "t".to_string()),
            ("AZURE_CLIENT_ID", "c".to_string()),
            ("AZURE_CLIENT_SECRET", "s".to_string()),
        ]);
        let c = build(AuthMethod::Auto, &cloud, http(), &MapEnv(vars.clone())).unwrap();
        assert_eq!(c.method, "service-principal");
        vars.insert("AZURE_FEDERATED_TOKEN_FILE", f.display().to_string());
        let c = build(AuthMethod::Auto, &cloud, http(), &MapEnv(vars)).unwrap();
        assert_eq!(c.method, "workload-identity");
    }
}

/// A credential whose errors carry what Entra ID answered.
///
/// azure_identity 0.21 turns every refused token request into "request token error: Server
/// returned error response"; the keyless transport keeps Entra's answer
/// ([`super::transport::Transport::take_authority_error`]) and this wrapper puts it into the
/// error, so a wrong secret reads `invalid_client: AADSTS7000215: Invalid client secret
/// provided` and an outage `temporarily_unavailable: AADSTS90033`.
#[derive(Debug)]
pub struct Explained {
    inner: Arc<dyn TokenCredential>,
    transport: super::transport::Transport,
}

impl Explained {
    /// Wraps `inner`, whose token requests go through `transport`.
    pub fn new(inner: Arc<dyn TokenCredential>, transport: super::transport::Transport) -> Self {
        Explained { inner, transport }
    }
}

#[async_trait::async_trait]
impl TokenCredential for Explained {
    async fn get_token(
        &self,
        scopes: &[&str],
    ) -> azure_core::Result<azure_core::auth::AccessToken> {
        // The transport records only a token request's *final* answer (a retried, recovered
        // failure leaves nothing), so what is there belongs to this failure.
        self.inner.get_token(scopes).await.map_err(|e| {
            match self.transport.take_authority_error() {
                Some(answer) => {
                    let kind = e.kind().clone();
                    azure_core::Error::full(kind, e, answer)
                }
                None => e,
            }
        })
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        self.inner.clear_cache().await
    }
}
