//! A signed-in session: the cloud profile, the transport, the credential, the ARM and Graph
//! clients, and who the caller is. Built once per command and shared by observe/apply/verify.

use super::arm::Arm;
use super::credential::{self, AuthMethod, SignedCredential};
use super::error::AzureError;
use super::graph::{caller_from_token, CallerIdentity, Graph};
use super::pacer::Pacer;
use super::transport::{Endpoints, RequestCounts, Transport};
use crate::cloud::CloudProfile;
use std::sync::Arc;

/// Everything needed to talk to one subscription as one identity.
#[derive(Clone)]
pub struct Session {
    /// The cloud.
    pub cloud: CloudProfile,
    /// The transport (shared by all clients; holds the request counters).
    pub transport: Transport,
    /// The credential and how it was chosen.
    pub credential: SignedCredential,
    /// ARM clients.
    pub arm: Arm,
    /// Graph client.
    pub graph: Graph,
    /// Who keyless runs as.
    pub caller: CallerIdentity,
}

/// How to sign in.
#[derive(Clone)]
pub enum CredentialSource {
    /// A method of the azure_identity chain.
    Method(AuthMethod),
    /// An explicit service principal secret (the embedded emulator's pipeline identity).
    Secret {
        /// Tenant.
        tenant: String,
        /// Client (app) id.
        client_id: String,
        /// Secret (never printed).
        secret: String,
    },
}

/// Failure to set up a session.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SessionError {
    /// No credential.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Credential(#[from] credential::CredentialError),
    /// Signing in or reading the token failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Azure(#[from] AzureError),
    /// The cloud profile is unsafe.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Cloud(#[from] crate::cloud::CloudError),
    /// The transport could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

impl Session {
    /// Signs in and learns the caller's object id (one token request, no ARM call).
    pub async fn connect(
        cloud: CloudProfile,
        subscription: &str,
        source: CredentialSource,
        extra_ca_pem: Option<&[u8]>,
        pacer: Pacer,
    ) -> Result<Session, SessionError> {
        cloud.check_secure()?;
        let transport = Transport::new(
            Endpoints {
                arm: cloud.arm_endpoint.clone(),
                graph: cloud.graph_endpoint.clone(),
                authority: cloud.authority_host.clone(),
            },
            extra_ca_pem,
            pacer,
        )
        .map_err(|e| SessionError::Http(e.to_string()))?;
        let http: Arc<dyn azure_core::HttpClient> = Arc::new(transport.clone());
        let credential = match source {
            CredentialSource::Method(m) => {
                credential::build(m, &cloud, http.clone(), &credential::ProcessEnv)?
            }
            CredentialSource::Secret {
                tenant,
                client_id,
                secret,
            } => SignedCredential {
                credential: Arc::new(azure_identity::ClientSecretCredential::new(
                    http.clone(),
                    cloud.authority_host.clone(),
                    tenant,
                    client_id,
                    secret,
                )),
                method: "service-principal",
            },
        };
        let credential = SignedCredential {
            credential: Arc::new(credential::Explained::new(
                credential.credential,
                transport.clone(),
            )),
            method: credential.method,
        };
        let arm = Arm::new(
            subscription,
            &cloud.arm_endpoint,
            &cloud.arm_scope,
            credential.credential.clone(),
            http,
        )?;
        let token = arm.token().await?;
        let caller = caller_from_token(token.secret()).ok_or_else(|| {
            AzureError::new(
                "read caller identity",
                0,
                "UnexpectedToken",
                "the ARM token carries no `oid` claim",
            )
        })?;
        let graph = Graph::new(
            &cloud.graph_endpoint,
            &cloud.graph_scope,
            credential.credential.clone(),
            transport.clone(),
        );
        Ok(Session {
            cloud,
            transport,
            credential,
            arm,
            graph,
            caller,
        })
    }

    /// Requests made so far, by kind.
    pub fn requests(&self) -> RequestCounts {
        self.transport.counters().snapshot()
    }
}
