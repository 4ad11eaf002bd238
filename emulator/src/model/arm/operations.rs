//! Long-running operation records behind the `Azure-AsyncOperation` / `Location` monitors.
//!
//! Why records with a completion time instead of background timers: status is a pure function of
//! `now`, so a GET of the resource and a poll of its monitor always agree, state persists as
//! plain data, and tests can move the clock.

use super::errors::ArmError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an operation does (decides the monitor URL shape and the Location result).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpKind {
    /// Cognitive Services account create/restore.
    AccountCreate,
    /// Cognitive Services account update.
    AccountUpdate,
    /// Cognitive Services account (soft) delete.
    AccountDelete,
    /// Purge of a soft-deleted account.
    AccountPurge,
    /// Model deployment create/update.
    DeploymentWrite,
    /// Model deployment delete.
    DeploymentDelete,
    /// VM update (identity PATCH).
    VmUpdate,
    /// VM Run Command.
    RunCommand,
    /// Resource group delete.
    ResourceGroupDelete,
}

/// One long-running operation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// Operation id (GUID).
    pub id: String,
    /// Kind.
    pub kind: OpKind,
    /// Subscription the monitor URL lives under.
    pub subscription_id: String,
    /// Resource provider namespace of the monitor (e.g. `Microsoft.CognitiveServices`).
    pub namespace: String,
    /// Location segment of the monitor URL.
    pub location: String,
    /// The resource it works on.
    pub resource_id: String,
    /// Unix seconds it started.
    pub started_at: f64,
    /// Unix seconds it completes; `None` while a Run Command child is still executing.
    pub done_at: Option<f64>,
    /// Error when it failed (`code`, `message`).
    pub error: Option<(String, String)>,
    /// Result returned by the Location monitor (Run Command: `{"value":[…]}`).
    pub result: Option<Value>,
    /// The api-version the client used (echoed in monitor URLs).
    pub api_version: String,
}

/// Terminal or not, as ARM's status monitor names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpStatus {
    /// Still running.
    InProgress,
    /// Done.
    Succeeded,
    /// Done with an error.
    Failed,
}

impl OpStatus {
    /// The `status` string.
    pub fn as_str(&self) -> &'static str {
        match self {
            OpStatus::InProgress => "InProgress",
            OpStatus::Succeeded => "Succeeded",
            OpStatus::Failed => "Failed",
        }
    }
}

impl Operation {
    /// A new operation that completes at `done_at`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: OpKind,
        subscription_id: &str,
        namespace: &str,
        location: &str,
        resource_id: &str,
        now: f64,
        done_at: Option<f64>,
        api_version: &str,
    ) -> Operation {
        Operation {
            id: uuid::Uuid::new_v4().to_string(),
            kind,
            subscription_id: subscription_id.to_string(),
            namespace: namespace.to_string(),
            location: location.to_string(),
            resource_id: resource_id.to_string(),
            started_at: now,
            done_at,
            error: None,
            result: None,
            api_version: api_version.to_string(),
        }
    }

    /// Status at `now`.
    pub fn status(&self, now: f64) -> OpStatus {
        match self.done_at {
            Some(t) if now >= t => {
                if self.error.is_some() {
                    OpStatus::Failed
                } else {
                    OpStatus::Succeeded
                }
            }
            _ => OpStatus::InProgress,
        }
    }
}

/// The operation `id` of subscription `sub`, or 404 NotFound (what every monitor answers).
pub fn find<'a>(ops: &'a [Operation], sub: &str, id: &str) -> Result<&'a Operation, ArmError> {
    ops.iter()
        .find(|o| o.id.eq_ignore_ascii_case(id) && super::ids::eq(&o.subscription_id, sub))
        .ok_or_else(|| {
            ArmError::new(
                404,
                "NotFound",
                format!("The operation '{id}' could not be found."),
            )
        })
}

/// Drops operations that finished more than an hour ago (monitors are short-lived in Azure too).
pub fn prune(ops: &mut Vec<Operation>, now: f64) {
    ops.retain(|o| o.done_at.is_none_or_recent(now));
}

trait Recent {
    fn is_none_or_recent(&self, now: f64) -> bool;
}

impl Recent for Option<f64> {
    fn is_none_or_recent(&self, now: f64) -> bool {
        match self {
            None => true,
            Some(t) => now - t < 3600.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_clock() {
        let mut o = Operation::new(
            OpKind::AccountCreate,
            "s",
            "ns",
            "eastus",
            "/r",
            10.0,
            Some(12.0),
            "v",
        );
        assert_eq!(o.status(11.0), OpStatus::InProgress);
        assert_eq!(o.status(12.0), OpStatus::Succeeded);
        o.error = Some(("X".into(), "y".into()));
        assert_eq!(o.status(13.0), OpStatus::Failed);
        o.done_at = None;
        assert_eq!(o.status(1e12), OpStatus::InProgress);
        let mut v = vec![
            o.clone(),
            Operation::new(OpKind::VmUpdate, "s", "n", "l", "/r", 0.0, Some(1.0), "v"),
        ];
        prune(&mut v, 5000.0);
        assert_eq!(v.len(), 1);
    }
}
