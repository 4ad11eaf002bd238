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

use super::error::AzureError;
use crate::model::*;
use azure_core::auth::TokenCredential;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        azure_core::RetryOptions::custom(Arc::new(super::retry::JitteredBackoff::default())),
    )
}

macro_rules! build_client {
    ($client:ty, $cred:expr, $endpoint:expr, $scope:expr, $http:expr) => {
        <$client>::builder($cred.clone())
            .endpoint($endpoint.clone())
            .scopes(&[$scope])
            .transport(azure_core::TransportOptions::new($http.clone()))
            .retry(azure_core::RetryOptions::custom(Arc::new(
                super::retry::JitteredBackoff::default(),
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

    // ---------------------------------------------------------------- raw requests

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

    // ---------------------------------------------------------------- resource groups

    /// Reads a resource group (None when absent).
    pub async fn get_resource_group(&self, name: &str) -> Result<Option<ObservedRg>> {
        let op = format!("read resource group {name}");
        let r = self
            .resources
            .resource_groups_client()
            .get(name, &self.subscription)
            .send()
            .await;
        Ok(Self::json_of(&op, r).await?.map(|v| ObservedRg {
            location: v["location"].as_str().unwrap_or_default().to_string(),
            tags: tags_of(&v["tags"]),
        }))
    }

    /// Creates a resource group, or merges tags into an existing one (others' tags are kept).
    pub async fn put_resource_group(&self, spec: &RgSpec) -> Result<()> {
        let op = format!("create resource group {}", spec.name);
        let mut tags = self
            .get_resource_group(&spec.name)
            .await?
            .map(|o| o.tags)
            .unwrap_or_default();
        tags.extend(spec.tags.clone());
        let mut rg = azure_mgmt_resources::package_resources_2021_04::models::ResourceGroup::new(
            spec.location.clone(),
        );
        rg.tags = Some(json!(tags));
        self.resources
            .resource_groups_client()
            .create_or_update(&spec.name, rg, &self.subscription)
            .send()
            .await
            .map_err(|e| AzureError::from_core(op, &e))?;
        Ok(())
    }

    // ---------------------------------------------------------------- accounts

    /// Reads an account and its deployments (None when absent).
    pub async fn get_account(&self, rg: &str, name: &str) -> Result<Option<LiveAccount>> {
        let op = format!("read account {rg}/{name}");
        let Some(v) = self.account_json(rg, name, &op).await? else {
            return Ok(None);
        };
        let p = &v["properties"];
        let mut acc = LiveAccount {
            kind: v["kind"].as_str().unwrap_or_default().to_string(),
            sku: v["sku"]["name"].as_str().unwrap_or_default().to_string(),
            location: v["location"].as_str().unwrap_or_default().to_string(),
            custom_subdomain: p["customSubDomainName"].as_str().map(str::to_string),
            disable_local_auth: p["disableLocalAuth"].as_bool().unwrap_or(false),
            public_network_access: p["publicNetworkAccess"].as_str().map(str::to_string),
            endpoint: p["endpoint"].as_str().map(str::to_string),
            provisioning_state: p["provisioningState"]
                .as_str()
                .unwrap_or("Succeeded")
                .to_string(),
            tags: tags_of(&v["tags"]),
            deployments: BTreeMap::new(),
        };
        acc.deployments = self.list_deployments(rg, name).await?;
        Ok(Some(acc))
    }

    /// One GET of an account, raw (None when absent).
    async fn account_json(&self, rg: &str, name: &str, op: &str) -> Result<Option<Value>> {
        let r = self
            .cognitive
            .accounts_client()
            .get(rg, name, &self.subscription)
            .send()
            .await;
        Self::json_of(op, r).await
    }

    /// Lists an account's deployments (one request per page).
    pub async fn list_deployments(
        &self,
        rg: &str,
        account: &str,
    ) -> Result<BTreeMap<String, DeploymentSpec>> {
        use futures::StreamExt;
        let op = format!("list deployments of {rg}/{account}");
        let mut out = BTreeMap::new();
        let mut pages = self
            .cognitive
            .deployments_client()
            .list(rg, account, &self.subscription)
            .into_stream();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AzureError::from_core(&op, &e))?;
            for d in page.value {
                let v = serde_json::to_value(&d).unwrap_or(Value::Null);
                if let Some(spec) = deployment_of(&v) {
                    out.insert(spec.name.to_ascii_lowercase(), spec);
                }
            }
        }
        Ok(out)
    }

    /// Soft-deleted accounts of the subscription, by lower-cased `rg/name` → location.
    pub async fn list_deleted_accounts(&self) -> Result<BTreeMap<String, String>> {
        use futures::StreamExt;
        let op = "list soft-deleted accounts";
        let mut out = BTreeMap::new();
        let mut pages = self
            .cognitive
            .deleted_accounts_client()
            .list(&self.subscription)
            .into_stream();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AzureError::from_core(op, &e))?;
            for a in page.value {
                let v = serde_json::to_value(&a).unwrap_or(Value::Null);
                let id = v["id"].as_str().unwrap_or_default();
                let rg = segment_after(id, "resourceGroups").unwrap_or_default();
                let name = v["name"].as_str().unwrap_or_default();
                out.insert(
                    key(&rg, name),
                    v["location"].as_str().unwrap_or_default().to_string(),
                );
            }
        }
        Ok(out)
    }

    /// checkDomainAvailability: whether a custom subdomain is free, with Azure's reason if not.
    pub async fn check_subdomain(
        &self,
        subdomain: &str,
        kind: &str,
    ) -> Result<(bool, Option<String>)> {
        use azure_mgmt_cognitiveservices::package_2024_10::models::CheckDomainAvailabilityParameter;
        let op = format!("check subdomain {subdomain}");
        let mut p = CheckDomainAvailabilityParameter::new(
            subdomain.to_string(),
            "Microsoft.CognitiveServices/accounts".to_string(),
        );
        p.kind = Some(kind.to_string());
        let r = self
            .cognitive
            .check_domain_availability(&self.subscription, p)
            .send()
            .await;
        let v = Self::json_of(&op, r).await?.unwrap_or(Value::Null);
        Ok((
            v["isSubdomainAvailable"].as_bool().unwrap_or(false),
            v["reason"].as_str().map(str::to_string),
        ))
    }

    /// Creates (or restores) an account and waits until it is provisioned.
    ///
    /// When the PUT meets another writer's operation on the same name (a concurrent apply, a
    /// person), the account exists by then: keyless waits for that operation and *updates* what
    /// it finds (tags merged, never replaced), refusing if it was made with another subdomain or
    /// kind, which cannot be changed.
    pub async fn create_account(
        &self,
        spec: &AccountSpec,
        restore: bool,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<()> {
        use azure_mgmt_cognitiveservices::package_2024_10::models::{
            Account, AccountProperties, Sku,
        };
        let op = format!(
            "{} account {}/{}",
            if restore { "restore" } else { "create" },
            spec.resource_group,
            spec.name
        );
        let mut a = Account::new();
        a.kind = Some(spec.kind.clone());
        a.location = Some(spec.location.clone());
        a.sku = Some(Sku::new(spec.sku.clone()));
        a.tags = Some(json!(spec.tags));
        let mut p = AccountProperties::new();
        p.custom_sub_domain_name = Some(spec.custom_subdomain.clone());
        p.disable_local_auth = Some(spec.disable_local_auth);
        p.public_network_access = serde_json::from_value(json!(spec.public_network_access)).ok();
        if restore {
            p.restore = Some(true);
        }
        a.properties = Some(p);
        let sent = self
            .cognitive
            .accounts_client()
            .create(&spec.resource_group, &spec.name, a, &self.subscription)
            .send()
            .await
            .map_err(|e| AzureError::from_core(&op, &e));
        match sent {
            Ok(_) => {
                self.wait_account(&spec.resource_group, &spec.name, &op, progress)
                    .await
            }
            Err(e) if e.is_busy() => {
                progress(Progress::State(
                    "created meanwhile by another writer; updating it instead",
                ));
                let Some(found) = self
                    .account_json(&spec.resource_group, &spec.name, &op)
                    .await?
                else {
                    // Gone again (the other operation was a delete): nothing to update.
                    return Err(e);
                };
                if let Some(conflict) = created_differently(spec, &found) {
                    return Err(AzureError::new(
                        &op,
                        409,
                        "AccountCreatedMeanwhile",
                        &conflict,
                    ));
                }
                self.update_account(spec, progress).await
            }
            Err(e) => Err(e),
        }
    }

    /// Patches an account's mutable properties and tags (tags are merged).
    pub async fn update_account(
        &self,
        spec: &AccountSpec,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<()> {
        let op = format!("update account {}/{}", spec.resource_group, spec.name);
        let path = format!(
            "{}?api-version=2024-10-01",
            account_id(&self.subscription, &spec.resource_group, &spec.name)
        );
        self.write_when_idle(self.lro_timeout, progress, || async {
            // Tags are merged with what is there *now* (a PATCH replaces the tag map): read
            // right before each attempt, so tags others added since the plan are kept.
            let current = self
                .account_json(&spec.resource_group, &spec.name, &op)
                .await?
                .unwrap_or(Value::Null);
            let mut tags = tags_of(&current["tags"]);
            tags.extend(spec.tags.clone());
            let body = json!({
                "sku": {"name": spec.sku},
                "tags": tags,
                "properties": {"disableLocalAuth": spec.disable_local_auth, "publicNetworkAccess": spec.public_network_access}
            });
            self.raw(azure_core::Method::Patch, &path, Some(body), &op)
                .await
        })
        .await?;
        self.wait_account(&spec.resource_group, &spec.name, &op, progress)
            .await
    }

    async fn wait_account(
        &self,
        rg: &str,
        name: &str,
        op: &str,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<()> {
        self.poll_provisioning(op, progress, |_| true, || self.account_json(rg, name, op))
            .await
            .map(|_| ())
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
                    let until = Instant::now() + busy_pause(self.poll_interval, attempt);
                    while Instant::now() < until {
                        if self.interrupt.load(std::sync::atomic::Ordering::SeqCst) {
                            return Err(AzureError::new(
                                e.operation.as_str(),
                                0,
                                "Interrupted",
                                "interrupted while waiting for another operation on the resource; this write was not sent",
                            ));
                        }
                        tokio::time::sleep(
                            until
                                .saturating_duration_since(Instant::now())
                                .min(Duration::from_millis(200)),
                        )
                        .await;
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Purges a soft-deleted account and waits until it is gone.
    pub async fn purge_account(&self, location: &str, rg: &str, name: &str) -> Result<()> {
        let op = format!("purge deleted account {rg}/{name}");
        self.cognitive
            .deleted_accounts_client()
            .purge(location, rg, name, &self.subscription)
            .send()
            .await
            .map_err(|e| AzureError::from_core(&op, &e))?;
        let start = Instant::now();
        loop {
            let r = self
                .cognitive
                .deleted_accounts_client()
                .get(location, rg, name, &self.subscription)
                .send()
                .await;
            if Self::json_of(&op, r).await?.is_none() {
                return Ok(());
            }
            if start.elapsed() > self.lro_timeout {
                return Err(AzureError::new(
                    &op,
                    0,
                    "Timeout",
                    "the deleted account is still there",
                ));
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }

    /// Creates or updates a model deployment and waits for it.
    pub async fn put_deployment(
        &self,
        rg: &str,
        account: &str,
        spec: &DeploymentSpec,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<()> {
        use azure_mgmt_cognitiveservices::package_2024_10::models::{
            Deployment, DeploymentModel, DeploymentProperties, Sku,
        };
        let op = format!("deploy {} to {rg}/{account}", spec.name);
        let mut d = Deployment::new();
        let mut sku = Sku::new(spec.sku_name.clone());
        sku.capacity = Some(spec.capacity);
        d.sku = Some(sku);
        let mut m = DeploymentModel::new();
        m.name = Some(spec.model_name.clone());
        m.version = Some(spec.model_version.clone());
        m.format = Some(spec.model_format.clone());
        let mut p = DeploymentProperties::new();
        p.model = Some(m);
        d.properties = Some(p);
        self.write_when_idle(self.lro_timeout, progress, || async {
            self.cognitive
                .deployments_client()
                .create_or_update(rg, account, &self.subscription, &spec.name, d.clone())
                .send()
                .await
                .map_err(|e| AzureError::from_core(&op, &e))
        })
        .await?;
        self.poll_provisioning(
            &op,
            progress,
            |_| true,
            || async {
                let r = self
                    .cognitive
                    .deployments_client()
                    .get(rg, account, &self.subscription, &spec.name)
                    .send()
                    .await;
                Self::json_of(&op, r).await
            },
        )
        .await
        .map(|_| ())
    }

    // ---------------------------------------------------------------- virtual machines

    /// Reads a VM's identity (None when the VM does not exist). Parsed from the raw body because
    /// the generated model drops user-assigned identity ids.
    pub async fn get_vm(&self, rg: &str, name: &str) -> Result<Option<ObservedVm>> {
        let op = format!("read VM {rg}/{name}");
        let r = self
            .compute
            .virtual_machines_client()
            .get(rg, name, &self.subscription)
            .send()
            .await;
        Ok(Self::json_of(&op, r).await?.map(|v| vm_of(&v)))
    }

    /// Enables the system-assigned identity, re-sending the user-assigned ones (the PATCH
    /// replaces the identity block), and waits for the principal id.
    /// `written` is called once the PATCH was accepted, before waiting for the VM to finish
    /// updating (apply releases the action's parallelism slot there).
    pub async fn enable_vm_identity(
        &self,
        vm: &VmRef,
        progress: &(dyn Fn(Progress<'_>) + Sync),
        written: &(dyn Fn() + Sync),
    ) -> Result<String> {
        let op = format!("enable identity on VM {}/{}", vm.resource_group, vm.name);
        // Re-read right before the write: another tool may have attached an identity since plan.
        let current = self
            .get_vm(&vm.resource_group, &vm.name)
            .await?
            .ok_or_else(|| {
                AzureError::new(&op, 404, "ResourceNotFound", "the VM no longer exists")
            })?;
        if let Some(p) = current.system_principal_id {
            return Ok(p);
        }
        let identity = if current.user_assigned.is_empty() {
            json!({"type": "SystemAssigned"})
        } else {
            let map: serde_json::Map<String, Value> = current
                .user_assigned
                .iter()
                .map(|id| (id.clone(), json!({})))
                .collect();
            json!({"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": map})
        };
        let path = format!(
            "{}?api-version=2024-07-01",
            vm_id(&self.subscription, &vm.resource_group, &vm.name)
        );
        let body = json!({"identity": identity});
        self.write_when_idle(self.lro_timeout, progress, || {
            self.raw(azure_core::Method::Patch, &path, Some(body.clone()), &op)
        })
        .await?;
        written();
        let v = self
            .poll_provisioning(
                &op,
                progress,
                |v| vm_of(v).system_principal_id.is_some(),
                || async {
                    let r = self
                        .compute
                        .virtual_machines_client()
                        .get(&vm.resource_group, &vm.name, &self.subscription)
                        .send()
                        .await;
                    Self::json_of(&op, r).await
                },
            )
            .await?;
        Ok(vm_of(&v).system_principal_id.unwrap_or_default())
    }

    /// Runs a shell script on a VM (Run Command) and returns its stdout and stderr as Azure
    /// reports them (the last 4096 bytes of each). Waits at most `wait_for_vm` for another
    /// Run Command holding the VM (a wait that proves nothing, so it gets the caller's deadline,
    /// not the extension's start-up allowance), and `timeout` in all.
    pub async fn run_command(
        &self,
        vm: &VmRef,
        command_id: &str,
        script: Vec<String>,
        wait_for_vm: Duration,
        timeout: Duration,
    ) -> Result<RunCommandOutput> {
        use azure_mgmt_compute::package_2024_07_01::models::RunCommandInput;
        let op = format!("run command on VM {}/{}", vm.resource_group, vm.name);
        let mut input = RunCommandInput::new(command_id.to_string());
        input.script = script;
        // One Run Command at a time per VM: another one (someone's, or a concurrent verify's)
        // is waited out, not reported as a failed probe — within `wait_for_vm`.
        let start = Instant::now();
        let rsp = self
            .write_when_idle(wait_for_vm.min(timeout), &|_| {}, || async {
                self.compute
                    .virtual_machines_client()
                    .run_command(
                        &vm.resource_group,
                        &vm.name,
                        input.clone(),
                        &self.subscription,
                    )
                    .send()
                    .await
                    .map_err(|e| AzureError::from_core(&op, &e))
            })
            .await?;
        let raw: azure_core::Response = rsp.into();
        let (status, headers, body) = raw.deconstruct();
        let bytes = body
            .collect()
            .await
            .map_err(|e| AzureError::from_core(&op, &e))?;
        if u16::from(status) == 200 && !bytes.is_empty() {
            return Ok(run_command_output(
                &serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            ));
        }
        let monitor = headers
            .get_optional_str(&azure_core::headers::HeaderName::from_static(
                "azure-asyncoperation",
            ))
            .or_else(|| headers.get_optional_str(&azure_core::headers::LOCATION))
            .map(str::to_string)
            .ok_or_else(|| {
                AzureError::new(
                    &op,
                    u16::from(status),
                    "NoOperationUrl",
                    "Run Command answered without an operation URL",
                )
            })?;
        loop {
            let wait = azure_core::lro::get_retry_after(&headers)
                .min(Duration::from_secs(5))
                .max(Duration::from_millis(200));
            tokio::time::sleep(wait).await;
            let (code, _, v) = self
                .raw(azure_core::Method::Get, &monitor, None, &op)
                .await?;
            if code == 200 {
                if v.get("value").is_some() {
                    return Ok(run_command_output(&v));
                }
                match v["status"].as_str() {
                    Some("Succeeded") => return Ok(run_command_output(&v["properties"]["output"])),
                    Some("Failed") | Some("Canceled") => {
                        return Err(AzureError::new(
                            &op,
                            0,
                            v["error"]["code"].as_str().unwrap_or("RunCommandFailed"),
                            v["error"]["message"].as_str().unwrap_or(""),
                        ))
                    }
                    _ => {}
                }
            }
            if start.elapsed() > timeout {
                return Err(AzureError::new(
                    &op,
                    0,
                    "Timeout",
                    "Run Command did not finish in time",
                ));
            }
        }
    }

    // ---------------------------------------------------------------- authorization

    /// Assignments defined exactly at `scope` (one list request per page; `atScope()` also returns
    /// inherited ones, which are filtered out here).
    pub async fn list_assignments_at(&self, scope: &str) -> Result<Vec<ObservedAssignment>> {
        use futures::StreamExt;
        let op = format!("list role assignments at {scope}");
        let scope_trim = scope.trim_start_matches('/');
        let mut out = Vec::new();
        let mut pages = self
            .authorization
            .role_assignments_client()
            .list_for_scope(scope_trim)
            .filter("atScope()")
            .into_stream();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    let err = AzureError::from_core(&op, &e);
                    if err.is_not_found() {
                        return Ok(vec![]);
                    }
                    return Err(err);
                }
            };
            for a in page.value {
                let Some(p) = a.properties else { continue };
                let at = p.scope.clone().unwrap_or_default();
                if !at
                    .trim_end_matches('/')
                    .eq_ignore_ascii_case(scope.trim_end_matches('/'))
                {
                    continue;
                }
                out.push(ObservedAssignment {
                    id: a.id.unwrap_or_default(),
                    name: a.name.unwrap_or_default(),
                    scope: at,
                    role_definition_id: p.role_definition_id,
                    principal_id: p.principal_id,
                    principal_type: p
                        .principal_type
                        .and_then(|t| serde_json::to_value(t).ok())
                        .and_then(|v| v.as_str().map(str::to_string)),
                    description: p.description,
                });
            }
        }
        Ok(out)
    }

    /// Creates an assignment under a deterministic name. A `RoleAssignmentExists` (the same
    /// scope, role and principal under another name, made by hand) is adopted, not an error.
    pub async fn create_assignment(
        &self,
        scope: &str,
        name: &str,
        role_definition_id: &str,
        principal_id: &str,
        principal_type: PrincipalType,
        description: &str,
    ) -> Result<AssignmentOutcome> {
        use azure_mgmt_authorization::package_2022_04_01::models::{
            RoleAssignmentCreateParameters, RoleAssignmentProperties,
        };
        let op = format!("create role assignment {name} at {scope}");
        let mut p =
            RoleAssignmentProperties::new(role_definition_id.to_string(), principal_id.to_string());
        p.principal_type = serde_json::from_value(json!(principal_type.as_str())).ok();
        p.description = Some(description.to_string());
        let r = self
            .authorization
            .role_assignments_client()
            .create(
                scope.trim_start_matches('/'),
                name,
                RoleAssignmentCreateParameters::new(p),
            )
            .send()
            .await;
        match r {
            Ok(_) => Ok(AssignmentOutcome::Created),
            Err(e) => {
                let err = AzureError::from_core(&op, &e);
                if err.status == 409 && err.code == "RoleAssignmentExists" {
                    Ok(AssignmentOutcome::AdoptedExisting)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Deletes an assignment (204 when it is already gone counts as success).
    pub async fn delete_assignment(&self, scope: &str, name: &str) -> Result<()> {
        let op = format!("delete role assignment {name} at {scope}");
        self.authorization
            .role_assignments_client()
            .delete(scope.trim_start_matches('/'), name)
            .send()
            .await
            .map_err(|e| AzureError::from_core(op, &e))?;
        Ok(())
    }

    /// Looks a role up by name at the subscription (for custom roles; built-ins are known offline).
    pub async fn role_definition_by_name(&self, role_name: &str) -> Result<Option<String>> {
        use futures::StreamExt;
        let op = format!("look up role '{role_name}'");
        let scope = format!("subscriptions/{}", self.subscription);
        let mut pages = self
            .authorization
            .role_definitions_client()
            .list(&scope)
            .filter(format!("roleName eq '{}'", role_name.replace('\'', "''")))
            .into_stream();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AzureError::from_core(&op, &e))?;
            if let Some(d) = page.value.into_iter().next() {
                return Ok(d.id);
            }
        }
        Ok(None)
    }
}

/// Whether a create made a new assignment or adopted a hand-made one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AssignmentOutcome {
    /// A new assignment (or the same deterministic one again).
    Created,
    /// The same scope/role/principal already existed under another name.
    AdoptedExisting,
}

/// What a Run Command printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCommandOutput {
    /// stdout (last 4096 bytes).
    pub stdout: String,
    /// stderr (last 4096 bytes).
    pub stderr: String,
}

/// Parses a RunCommandResult (`{"value":[{code,message}…]}`): Linux puts both streams in one
/// message (`[stdout]\n…\n[stderr]\n…`); Windows uses two entries.
pub fn run_command_output(v: &Value) -> RunCommandOutput {
    let mut out = RunCommandOutput::default();
    for s in v["value"].as_array().into_iter().flatten() {
        let code = s["code"].as_str().unwrap_or_default();
        let msg = s["message"].as_str().unwrap_or_default();
        if code.contains("StdOut") {
            out.stdout.push_str(msg);
        } else if code.contains("StdErr") {
            out.stderr.push_str(msg);
        } else if let Some(i) = msg.find("[stdout]") {
            let rest = &msg[i + "[stdout]".len()..];
            let (o, e) = match rest.find("[stderr]") {
                Some(j) => (&rest[..j], &rest[j + "[stderr]".len()..]),
                None => (rest, ""),
            };
            out.stdout.push_str(o.trim_matches('\n'));
            out.stderr.push_str(e.trim_matches('\n'));
        }
    }
    out
}

/// The pause before re-sending a write that met another operation: grows ×1.5 from the poll
/// interval to 15 s, with ±25 % jitter so concurrent writers don't retry in lockstep.
fn busy_pause(poll_interval: Duration, attempt: i32) -> Duration {
    use rand::Rng;
    let ceiling = poll_interval
        .mul_f64(1.5f64.powi(attempt.min(16)))
        .min(Duration::from_secs(15));
    ceiling.mul_f64(rand::thread_rng().gen_range(0.75..=1.25))
}

/// Why an account someone else created under this name is not the one the manifest wants, if
/// it differs in what cannot be changed (custom subdomain, kind).
fn created_differently(spec: &AccountSpec, found: &Value) -> Option<String> {
    let subdomain = found["properties"]["customSubDomainName"]
        .as_str()
        .unwrap_or("");
    let kind = found["kind"].as_str().unwrap_or("");
    if !subdomain.eq_ignore_ascii_case(&spec.custom_subdomain) {
        return Some(format!(
            "another writer created the account meanwhile with custom subdomain `{subdomain}`, the manifest says `{}`; a subdomain cannot be changed",
            spec.custom_subdomain
        ));
    }
    if !kind.eq_ignore_ascii_case(&spec.kind) {
        return Some(format!(
            "another writer created the account meanwhile as kind `{kind}`, the manifest says `{}`; a kind cannot be changed",
            spec.kind
        ));
    }
    None
}

fn tags_of(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn deployment_of(v: &Value) -> Option<DeploymentSpec> {
    let m = &v["properties"]["model"];
    Some(DeploymentSpec {
        name: v["name"].as_str()?.to_string(),
        model_name: m["name"].as_str().unwrap_or_default().to_string(),
        model_version: m["version"].as_str().unwrap_or_default().to_string(),
        model_format: m["format"].as_str().unwrap_or("OpenAI").to_string(),
        sku_name: v["sku"]["name"].as_str().unwrap_or_default().to_string(),
        capacity: v["sku"]["capacity"].as_i64().unwrap_or(0) as i32,
    })
}

fn vm_of(v: &Value) -> ObservedVm {
    let id = &v["identity"];
    let ty = id["type"].as_str().unwrap_or("None");
    ObservedVm {
        os: v["properties"]["storageProfile"]["osDisk"]["osType"]
            .as_str()
            .unwrap_or("Linux")
            .to_string(),
        location: v["location"].as_str().unwrap_or_default().to_string(),
        system_principal_id: if ty.contains("SystemAssigned") {
            id["principalId"].as_str().map(str::to_string)
        } else {
            None
        },
        user_assigned: id["userAssignedIdentities"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
    }
}

fn segment_after(id: &str, name: &str) -> Option<String> {
    let mut it = id.split('/');
    while let Some(s) = it.next() {
        if s.eq_ignore_ascii_case(name) {
            return it.next().map(str::to_string);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_command_output_linux_and_windows_shapes() {
        let linux = json!({"value":[{"code":"ProvisioningState/succeeded","message":"Enable succeeded: \n[stdout]\nhello\n\n[stderr]\noops\n"}]});
        assert_eq!(
            run_command_output(&linux),
            RunCommandOutput {
                stdout: "hello".into(),
                stderr: "oops".into()
            }
        );
        let win = json!({"value":[{"code":"ComponentStatus/StdOut/succeeded","message":"a"},{"code":"ComponentStatus/StdErr/succeeded","message":"b"}]});
        assert_eq!(
            run_command_output(&win),
            RunCommandOutput {
                stdout: "a".into(),
                stderr: "b".into()
            }
        );
    }

    #[test]
    fn vm_identity_parsing_keeps_user_assigned_ids() {
        let v = json!({"location":"eastus","identity":{"type":"SystemAssigned, UserAssigned","principalId":"p","userAssignedIdentities":{"/x/uami":{"principalId":"q"}}}});
        let o = vm_of(&v);
        assert_eq!(o.system_principal_id.as_deref(), Some("p"));
        assert_eq!(o.user_assigned, vec!["/x/uami".to_string()]);
        let none =
            vm_of(&json!({"identity":{"type":"UserAssigned","userAssignedIdentities":{"/y":{}}}}));
        assert_eq!(none.system_principal_id, None);
    }
}
