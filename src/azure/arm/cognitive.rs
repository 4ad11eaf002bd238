//! Azure OpenAI accounts and deployments (Microsoft.CognitiveServices): reads, create/update
//! (adopting an account another writer created meanwhile), soft-deleted accounts and purge,
//! custom-subdomain availability, model deployments.

use super::{tags_of, Arm, Progress, Result};
use crate::azure::error::AzureError;
use crate::model::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Instant;

impl Arm {
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

fn segment_after(id: &str, name: &str) -> Option<String> {
    let mut it = id.split('/');
    while let Some(s) = it.next() {
        if s.eq_ignore_ascii_case(name) {
            return it.next().map(str::to_string);
        }
    }
    None
}
