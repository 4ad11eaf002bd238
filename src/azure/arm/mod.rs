//! ARM operations keyless needs, on top of the azure_mgmt_* clients.
//!
//! Each function is one Azure call (or one call plus its long-running-operation polling) and
//! returns keyless's own model types, so the generated SDK models stay contained here.
//!
//! Two deliberate departures from "just `.await` the SDK builder", recorded in
//! docs/architecture.md:
//! - Long-running operations are started with `.send()` and polled here. The 0.21 generated
//!   `IntoFuture` for PUT operations polls by *re-sending the PUT* until the body says
//!   Succeeded, which Azure answers with `AccountProvisioningStateInvalid` / `RequestConflict`.
//! - The VM identity PATCH is sent through the same azure_core pipeline with a hand-built body,
//!   because azure_mgmt_compute 0.21 generates `UserAssignedIdentities` as an empty struct: the
//!   typed model would silently drop a VM's user-assigned identities (the PATCH replaces).
//!
//! Layout: this module holds the client and the plumbing every provider shares (raw requests
//! through the SDK pipeline, provisioning polls, waiting out another writer); one submodule per
//! ARM provider adds its `impl Arm` block, as the emulator splits the same API.

mod authorization;
mod cognitive;
mod compute;
mod resources;

pub use authorization::AssignmentOutcome;
pub use compute::{run_command_output, RunCommandOutput};

use super::error::AzureError;
use super::retry;
use azure_core::auth::TokenCredential;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Every ARM call fails with an [`AzureError`] (status, code, operation, help).
type Result<T> = std::result::Result<T, AzureError>;

/// What a long ARM operation reports while it runs: shown on its spinner, and a wait for
/// another writer also becomes an `actionWaiting` event (apply).
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// Where the operation is (`provisioningState`, or what keyless is doing).
    State(&'a str),
    /// The write met another writer's operation (Azure's 409 `code`) and waits its turn.
    WaitingForAnotherWriter {
        /// Azure's error code (`AccountProvisioningStateInvalid`, `RequestConflict`, …).
        code: &'a str,
    },
}

impl std::fmt::Display for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Progress::State(s) => f.write_str(s),
            Progress::WaitingForAnotherWriter { code } => {
                write!(f, "waiting for another operation on it to finish ({code})")
            }
        }
    }
}

/// The ARM clients for one subscription.
#[derive(Clone)]
pub struct Arm {
    /// Subscription id.
    pub subscription: String,
    endpoint: url::Url,
    scope: String,
    credential: Arc<dyn TokenCredential>,
    resources: azure_mgmt_resources::package_resources_2021_04::Client,
    cognitive: azure_mgmt_cognitiveservices::package_2024_10::Client,
    compute: azure_mgmt_compute::package_2024_07_01::Client,
    authorization: azure_mgmt_authorization::package_2022_04_01::Client,
    raw: azure_core::Pipeline,
    /// How often to poll long-running operations when Azure gives no Retry-After.
    pub poll_interval: Duration,
    /// Longest time to wait for one long-running operation.
    pub lro_timeout: Duration,
    /// Set on Ctrl-C: a write still waiting for another writer's operation is not sent.
    pub interrupt: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arm")
            .field("subscription", &self.subscription)
            .field("endpoint", &self.endpoint.as_str())
            .finish()
    }
}

fn options(http: Arc<dyn azure_core::HttpClient>) -> azure_core::ClientOptions {
    azure_core::ClientOptions::new(azure_core::TransportOptions::new(http)).retry(
        azure_core::RetryOptions::custom(Arc::new(retry::JitteredBackoff::default())),
    )
}

macro_rules! build_client {
    ($client:ty, $cred:expr, $endpoint:expr, $scope:expr, $http:expr) => {
        <$client>::builder($cred.clone())
            .endpoint($endpoint.clone())
            .scopes(&[$scope])
            .transport(azure_core::TransportOptions::new($http.clone()))
            .retry(azure_core::RetryOptions::custom(Arc::new(
                retry::JitteredBackoff::default(),
            )))
            .build()
            .map_err(|e| AzureError::from_core("build ARM client", &e))?
    };
}

impl Arm {
    /// Builds the four management clients against `endpoint` with the keyless transport.
    pub fn new(
        subscription: &str,
        endpoint: &url::Url,
        arm_scope: &str,
        credential: Arc<dyn TokenCredential>,
        http: Arc<dyn azure_core::HttpClient>,
    ) -> Result<Arm> {
        let endpoint = endpoint.clone();
        Ok(Arm {
            subscription: subscription.to_string(),
            resources: build_client!(
                azure_mgmt_resources::package_resources_2021_04::Client,
                credential,
                endpoint,
                arm_scope,
                http
            ),
            cognitive: build_client!(
                azure_mgmt_cognitiveservices::package_2024_10::Client,
                credential,
                endpoint,
                arm_scope,
                http
            ),
            compute: build_client!(
                azure_mgmt_compute::package_2024_07_01::Client,
                credential,
                endpoint,
                arm_scope,
                http
            ),
            authorization: build_client!(
                azure_mgmt_authorization::package_2022_04_01::Client,
                credential,
                endpoint,
                arm_scope,
                http
            ),
            raw: azure_core::Pipeline::new(
                Some("keyless"),
                Some(env!("CARGO_PKG_VERSION")),
                options(http),
                vec![],
                vec![],
            ),
            endpoint,
            scope: arm_scope.to_string(),
            credential,
            poll_interval: Duration::from_secs(2),
            lro_timeout: Duration::from_secs(30 * 60),
            interrupt: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        })
    }

    /// An ARM access token (for the caller's identity); never printed.
    pub async fn token(&self) -> Result<azure_core::auth::Secret> {
        self.credential
            .get_token(&[&self.scope])
            .await
            .map(|t| t.token)
            .map_err(|e| AzureError::from_core("get ARM token", &e))
    }

    /// Sends a request through the same pipeline as the SDK clients (retry, pacing, transport).
    async fn raw(
        &self,
        method: azure_core::Method,
        path_and_query: &str,
        body: Option<Value>,
        op: &str,
    ) -> Result<(u16, azure_core::headers::Headers, Value)> {
        let url = if path_and_query.starts_with("https://") || path_and_query.starts_with("http://")
        {
            url::Url::parse(path_and_query)
                .map_err(|e| AzureError::new(op, 0, "InvalidUrl", &e.to_string()))?
        } else {
            self.endpoint
                .join(path_and_query.trim_start_matches('/'))
                .map_err(|e| AzureError::new(op, 0, "InvalidUrl", &e.to_string()))?
        };
        let mut req = azure_core::Request::new(url, method);
        let token = self.token().await?;
        req.insert_header(
            azure_core::headers::AUTHORIZATION,
            format!("Bearer {}", token.secret()),
        );
        if let Some(b) = body {
            req.insert_header("content-type", "application/json");
            req.set_body(serde_json::to_vec(&b).expect("json"));
        }
        let ctx = azure_core::Context::new();
        let rsp = self
            .raw
            .send(&ctx, &mut req)
            .await
            .map_err(|e| AzureError::from_core(op, &e))?;
        let (status, headers, body) = rsp.deconstruct();
        let bytes = body
            .collect()
            .await
            .map_err(|e| AzureError::from_core(op, &e))?;
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok((u16::from(status), headers, v))
    }

    /// The body of an SDK answer as JSON; None for a 404 (absent), the error otherwise.
    async fn json_of<R: Into<azure_core::Response>>(
        op: &str,
        r: std::result::Result<R, azure_core::Error>,
    ) -> Result<Option<Value>> {
        match r {
            Ok(rsp) => {
                let rsp: azure_core::Response = rsp.into();
                let bytes = rsp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| AzureError::from_core(op, &e))?;
                Ok(Some(serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
            }
            Err(e) => {
                let err = AzureError::from_core(op, &e);
                if err.is_not_found() {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Polls a resource's GET until `properties.provisioningState` is terminal (and `ready`
    /// holds), reporting each state. Fails on Failed/Canceled or after `lro_timeout`.
    async fn poll_provisioning<F, Fut>(
        &self,
        op: &str,
        progress: &(dyn Fn(Progress<'_>) + Sync),
        ready: impl Fn(&Value) -> bool,
        mut fetch: F,
    ) -> Result<Value>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<Value>>>,
    {
        let start = Instant::now();
        loop {
            let v = fetch().await?.unwrap_or(Value::Null);
            let state = v["properties"]["provisioningState"]
                .as_str()
                .unwrap_or("Succeeded")
                .to_string();
            progress(Progress::State(&state));
            match state.as_str() {
                "Succeeded" if ready(&v) => return Ok(v),
                "Failed" | "Canceled" => {
                    return Err(AzureError::new(
                        op,
                        0,
                        "ProvisioningFailed",
                        &format!("provisioningState is {state}"),
                    ))
                }
                _ => {}
            }
            if start.elapsed() > self.lro_timeout {
                return Err(AzureError::new(
                    op,
                    0,
                    "Timeout",
                    &format!("still {state} after {:?}", self.lro_timeout),
                ));
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }

    /// Sends a write, waiting its turn when another operation holds the resource.
    ///
    /// Azure runs one operation at a time on an account (and one deployment write per account,
    /// one Run Command per VM) and answers a write that meets another one with a 409
    /// ([`AzureError::is_busy`]). That other writer may be a second keyless applying the same
    /// manifest, a pipeline or a person; none of those is a reason to fail. The write is sent
    /// again after a jittered, growing pause until it is accepted, fails otherwise, or
    /// `patience` passes (then the 409 is returned, with its explanation).
    async fn write_when_idle<T, W, Fut>(
        &self,
        patience: Duration,
        progress: &(dyn Fn(Progress<'_>) + Sync),
        mut write: W,
    ) -> Result<T>
    where
        W: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let start = Instant::now();
        let mut attempt: i32 = 0;
        loop {
            match write().await {
                Err(e) if e.is_busy() && start.elapsed() < patience => {
                    progress(Progress::WaitingForAnotherWriter { code: &e.code });
                    // Ctrl-C means "start nothing new": a write still waiting was never sent.
                    let pause = retry::busy_pause(self.poll_interval, attempt);
                    if !retry::sleep_unless_interrupted(pause, &self.interrupt).await {
                        return Err(AzureError::new(
                            e.operation.as_str(),
                            0,
                            "Interrupted",
                            "interrupted while waiting for another operation on the resource; this write was not sent",
                        ));
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// A resource's tags as a map (`tags` of an ARM body; absent → empty).
fn tags_of(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}
