//! Model deployments of an account (2024-10-01): the model catalogue, create/update as a
//! long-running operation, delete, and the one-write-at-a-time rule (behaviour notes §6.4).

use super::{iso, Account};
use crate::model::arm::errors::ArmError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Models the emulator can deploy: (name, version, kind of API it serves).
pub const CATALOGUE: &[(&str, &str, ModelApi)] = &[
    ("gpt-4o-mini", "2024-07-18", ModelApi::Chat),
    ("gpt-4o", "2024-08-06", ModelApi::Chat),
    ("gpt-4o", "2024-11-20", ModelApi::Chat),
    ("gpt-35-turbo", "0125", ModelApi::Chat),
    ("gpt-4", "turbo-2024-04-09", ModelApi::Chat),
    ("gpt-35-turbo-instruct", "0914", ModelApi::Completions),
    ("text-embedding-3-small", "1", ModelApi::Embeddings),
    ("text-embedding-ada-002", "2", ModelApi::Embeddings),
];

/// Which inference API a model serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelApi {
    /// `/chat/completions`.
    Chat,
    /// `/completions`.
    Completions,
    /// `/embeddings`.
    Embeddings,
}

/// Looks a model up; `version` `None` picks the first (default) version of that name.
pub fn catalogue_entry(
    name: &str,
    version: Option<&str>,
) -> Option<(&'static str, &'static str, ModelApi)> {
    CATALOGUE
        .iter()
        .find(|(n, v, _)| {
            n.eq_ignore_ascii_case(name) && version.is_none_or(|x| x.eq_ignore_ascii_case(v))
        })
        .copied()
}

/// A model deployment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Deployment name.
    pub name: String,
    /// SKU name (Standard, GlobalStandard, …).
    pub sku_name: String,
    /// Capacity in thousands of tokens per minute.
    pub capacity: u32,
    /// Model format.
    pub model_format: String,
    /// Model name.
    pub model_name: String,
    /// Model version.
    pub model_version: String,
    /// Other properties echoed back (versionUpgradeOption, raiPolicyName…).
    pub extra: Map<String, Value>,
    /// Unix seconds the write started.
    pub written_at: f64,
    /// Unix seconds the write completes.
    pub ready_at: f64,
    /// Whether the last write was an update (state `Accepted` instead of `Creating`).
    pub updating: bool,
    /// Set while a delete runs: the unix second it is gone.
    pub deleting_until: Option<f64>,
}

impl Deployment {
    /// `provisioningState` at `now`.
    pub fn provisioning_state(&self, now: f64) -> &'static str {
        if self.deleting_until.is_some() {
            "Deleting"
        } else if now < self.ready_at {
            if self.updating {
                "Accepted"
            } else {
                "Creating"
            }
        } else {
            "Succeeded"
        }
    }

    /// True once a create/update finished (and no delete runs).
    pub fn is_terminal(&self, now: f64) -> bool {
        self.deleting_until.is_none() && now >= self.ready_at
    }

    /// Which API its model serves.
    pub fn api(&self) -> ModelApi {
        catalogue_entry(&self.model_name, Some(&self.model_version))
            .map(|(_, _, a)| a)
            .unwrap_or(ModelApi::Chat)
    }

    /// Requests per minute the deployment allows: capacity (thousands of TPM) × 6, as Azure
    /// derives RPM for Standard deployments.
    pub fn requests_per_minute(&self) -> u32 {
        self.capacity.saturating_mul(6).max(1)
    }

    /// Tokens per minute: capacity × 1000.
    pub fn tokens_per_minute(&self) -> u32 {
        self.capacity.saturating_mul(1000)
    }

    /// Deployment JSON (cognitiveservices.json `Deployment`).
    pub fn to_json(&self, account: &Account, now: f64) -> Value {
        let mut props = self.extra.clone();
        props.insert(
            "model".into(),
            json!({"format": self.model_format, "name": self.model_name, "version": self.model_version}),
        );
        props.insert(
            "provisioningState".into(),
            json!(self.provisioning_state(now)),
        );
        let caps = match self.api() {
            ModelApi::Chat => json!({"chatCompletion": "true", "area": "US"}),
            ModelApi::Completions => json!({"completion": "true", "area": "US"}),
            ModelApi::Embeddings => json!({"embeddings": "true", "area": "US"}),
        };
        props.insert("capabilities".into(), caps);
        props.insert(
            "rateLimits".into(),
            json!([
                {"key": "request", "renewalPeriod": 10, "count": self.capacity},
                {"key": "token", "renewalPeriod": 60, "count": self.tokens_per_minute()},
            ]),
        );
        props.insert("currentCapacity".into(), json!(self.capacity));
        json!({
            "id": format!("{}/deployments/{}", account.id(), self.name),
            "name": self.name,
            "type": "Microsoft.CognitiveServices/accounts/deployments",
            "sku": {"name": self.sku_name, "capacity": self.capacity},
            "systemData": {"createdAt": iso(self.written_at), "lastModifiedAt": iso(self.written_at)},
            "etag": format!("\"{:016x}\"", self.written_at.to_bits()),
            "properties": Value::Object(props),
        })
    }
}

/// Removes deployments whose delete finished.
pub fn settle(account: &mut Account, now: f64) {
    account
        .deployments
        .retain(|d| !matches!(d.deleting_until, Some(t) if now >= t));
}

/// The deployment named `name` (case-insensitive), after settling.
pub fn find<'a>(account: &'a Account, name: &str) -> Option<&'a Deployment> {
    account
        .deployments
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

fn guard_writes(account: &Account, now: f64) -> Result<(), ArmError> {
    if !account.is_terminal(now) {
        return Err(ArmError::account_state_invalid(
            &account.id(),
            account.provisioning_state(now),
        ));
    }
    if account.deployments.iter().any(|d| !d.is_terminal(now)) {
        return Err(ArmError::request_conflict(&account.id()));
    }
    Ok(())
}

/// The deployment's `sku`: name (default Standard) and capacity (default 1, never 0).
fn sku(body: &Value) -> Result<(String, u32), ArmError> {
    let sku = body.get("sku").filter(|s| s.is_object()).ok_or_else(|| {
        ArmError::new(
            400,
            "InvalidResourceProperties",
            "The sku of model deployment is not provided.",
        )
    })?;
    let sku_name = sku
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("Standard")
        .to_string();
    let capacity = sku
        .get("capacity")
        .and_then(Value::as_u64)
        .map(|c| c.min(u32::MAX as u64) as u32)
        .unwrap_or(1);
    if capacity == 0 {
        return Err(ArmError::new(
            400,
            "InvalidCapacity",
            "The capacity should be greater than 0.",
        ));
    }
    Ok((sku_name, capacity))
}

/// The catalogue model a deployment names: `(format, name, version)`, or 400
/// DeploymentModelNotSupported.
fn model(props: &Map<String, Value>) -> Result<(String, &'static str, &'static str), ArmError> {
    let model = props.get("model").cloned().unwrap_or(Value::Null);
    let format = model
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or("OpenAI")
        .to_string();
    let mname = model
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mversion = model
        .get("version")
        .and_then(Value::as_str)
        .map(str::to_string);
    let entry = catalogue_entry(&mname, mversion.as_deref())
        .filter(|_| format.eq_ignore_ascii_case("OpenAI"));
    let Some((cname, cversion, _)) = entry else {
        return Err(ArmError::model_not_supported(
            &format,
            &mname,
            mversion.as_deref().unwrap_or(""),
        ));
    };
    Ok((format, cname, cversion))
}

/// PUT a deployment: `Ok(true)` created, `Ok(false)` updated. It provisions for `duration`.
pub fn put(
    account: &mut Account,
    name: &str,
    body: &Value,
    now: f64,
    duration: f64,
) -> Result<bool, ArmError> {
    settle(account, now);
    guard_writes(account, now)?;
    let (sku_name, capacity) = sku(body)?;
    let props = body
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let (format, cname, cversion) = model(&props)?;
    let mut extra = props.clone();
    for k in [
        "model",
        "provisioningState",
        "capabilities",
        "rateLimits",
        "currentCapacity",
        "callRateLimit",
    ] {
        extra.remove(k);
    }
    let new = |updating: bool| Deployment {
        name: name.to_string(),
        sku_name: sku_name.clone(),
        capacity,
        model_format: format.clone(),
        model_name: cname.to_string(),
        model_version: cversion.to_string(),
        extra: extra.clone(),
        written_at: now,
        ready_at: now + duration,
        updating,
        deleting_until: None,
    };
    match account
        .deployments
        .iter_mut()
        .find(|d| d.name.eq_ignore_ascii_case(name))
    {
        Some(d) => {
            let keep = d.name.clone();
            *d = new(true);
            d.name = keep;
            Ok(false)
        }
        None => {
            account.deployments.push(new(false));
            Ok(true)
        }
    }
}

/// DELETE a deployment: `Ok(false)` when it does not exist; else it is `Deleting` for `duration`.
pub fn delete(
    account: &mut Account,
    name: &str,
    now: f64,
    duration: f64,
) -> Result<bool, ArmError> {
    settle(account, now);
    if find(account, name).is_none() {
        return Ok(false);
    }
    guard_writes(account, now)?;
    if let Some(d) = account
        .deployments
        .iter_mut()
        .find(|d| d.name.eq_ignore_ascii_case(name))
    {
        d.deleting_until = Some(now + duration);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::super::{put as put_account, AccountInput, WriteContext};
    use super::*;
    use crate::model::arm::ArmState;

    fn account() -> Account {
        let mut s = ArmState::default();
        let w = WriteContext {
            sub: "s",
            rg: "rg",
            name: "a",
            now: 0.0,
            provisioning: 1.0,
            caller: "me",
        };
        let input = AccountInput::from_body(&json!({"location": "eastus", "kind": "OpenAI", "properties": {"customSubDomainName": "abc"}})).unwrap();
        put_account(&mut s, &w, &input).unwrap();
        s.accounts.remove(0)
    }

    fn body(name: &str, version: &str) -> Value {
        json!({"sku": {"name": "Standard", "capacity": 10}, "properties": {"model": {"format": "OpenAI", "name": name, "version": version}, "raiPolicyName": "Microsoft.DefaultV2"}})
    }

    #[test]
    fn catalogue_and_unsupported_models() {
        let mut a = account();
        let e = put(&mut a, "d", &body("gpt-4o-mini", "2024-07-18"), 0.5, 1.0).unwrap_err();
        assert_eq!(e.code, "AccountProvisioningStateInvalid");
        let e = put(&mut a, "d", &body("ada", "1"), 2.0, 1.0).unwrap_err();
        assert_eq!(e.code, "DeploymentModelNotSupported");
        assert_eq!(e.message, "The model 'Format: OpenAI, Name: ada, Version: 1, Source: ' of account deployment is not supported.");
        let e = put(
            &mut a,
            "d",
            &json!({"properties": {"model": {"name": "gpt-4o"}}}),
            2.0,
            1.0,
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidResourceProperties");
        assert!(put(&mut a, "d", &body("gpt-4o-mini", "2024-07-18"), 2.0, 1.0).unwrap());
        assert_eq!(
            a.deployments[0].extra.get("raiPolicyName"),
            Some(&json!("Microsoft.DefaultV2"))
        );
        assert_eq!(a.deployments[0].requests_per_minute(), 60);
    }

    #[test]
    fn one_write_at_a_time() {
        let mut a = account();
        assert!(put(&mut a, "d1", &body("gpt-4o-mini", "2024-07-18"), 2.0, 1.0).unwrap());
        assert_eq!(a.deployments[0].provisioning_state(2.5), "Creating");
        let e = put(&mut a, "d2", &body("gpt-4o", "2024-08-06"), 2.5, 1.0).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (409, "RequestConflict"));
        assert_eq!(e.message, format!("Another operation is being performed on the parent resource '{}'. Please try again later.", a.id()));
        assert!(put(&mut a, "d2", &body("gpt-4o", "2024-08-06"), 3.0, 1.0).unwrap());
        assert!(!put(&mut a, "D2", &body("gpt-4o", "2024-11-20"), 4.0, 1.0).unwrap());
        assert_eq!(a.deployments[1].provisioning_state(4.5), "Accepted");
        assert!(delete(&mut a, "d1", 5.0, 1.0).unwrap());
        assert_eq!(find(&a, "d1").unwrap().provisioning_state(5.5), "Deleting");
        assert_eq!(
            delete(&mut a, "d2", 5.5, 1.0).unwrap_err().code,
            "RequestConflict"
        );
        settle(&mut a, 6.0);
        assert!(find(&a, "d1").is_none());
        assert!(!delete(&mut a, "d1", 6.0, 1.0).unwrap());
    }
}
