//! ARM state and rules: subscriptions, resource groups, Cognitive Services accounts (and their
//! soft-deleted copies and deployments), virtual machines, user-assigned identities, role
//! definitions and assignments, and long-running operations.
//!
//! Everything here is plain data plus pure functions taking `now`; the HTTP layer
//! (`services::arm`) authenticates, authorises, parses and renders.

pub mod accounts;
pub mod api_versions;
pub mod assignments;
pub mod errors;
pub mod identities;
pub mod ids;
pub mod operations;
pub mod resource_groups;
pub mod roles;
pub mod run_command;
pub mod seed;
pub mod subdomain;
pub mod vms;

use crate::world::World;
use serde::{Deserialize, Serialize};

/// Everything ARM holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmState {
    /// Subscriptions of the tenant.
    pub subscriptions: Vec<Subscription>,
    /// Resource groups.
    pub resource_groups: Vec<resource_groups::ResourceGroup>,
    /// Live Cognitive Services accounts (with their deployments).
    pub accounts: Vec<accounts::Account>,
    /// Soft-deleted accounts (hold their name and subdomain for 48 h).
    pub deleted_accounts: Vec<accounts::DeletedAccount>,
    /// Virtual machines.
    pub vms: Vec<vms::Vm>,
    /// User-assigned managed identities.
    pub identities: Vec<identities::UserAssignedIdentity>,
    /// Custom subdomains held by other tenants.
    pub taken_subdomains: Vec<String>,
    /// Role assignments.
    pub role_assignments: Vec<assignments::RoleAssignment>,
    /// Long-running operations behind status monitors.
    pub operations: Vec<operations::Operation>,
    /// Durations and sizes that are configuration rather than Azure facts.
    #[serde(default)]
    pub settings: Settings,
}

/// A subscription.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Subscription id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Tenant id.
    pub tenant_id: String,
}

/// Emulator knobs for ARM (not part of Azure's contract).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// How long account creates/restores, deployment writes/deletes, VM updates and other LROs
    /// take (seconds). Env `KEYLESS_EMULATOR_PROVISIONING_SECONDS` at start; default 1.
    pub provisioning_seconds: f64,
    /// Run Command time limit (seconds, at most 90 min). Env
    /// `KEYLESS_EMULATOR_RUN_COMMAND_TIMEOUT` at start; default 5400.
    pub run_command_timeout: f64,
    /// Items per page of role-assignment / role-definition lists (then `nextLink`).
    pub page_size: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            provisioning_seconds: 1.0,
            run_command_timeout: run_command::MAX_DURATION,
            page_size: 1000,
        }
    }
}

impl Settings {
    /// Defaults overridden by the environment variables named on the fields.
    pub fn from_env() -> Settings {
        let mut s = Settings::default();
        let num = |k: &str| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        if let Some(v) =
            num("KEYLESS_EMULATOR_PROVISIONING_SECONDS").filter(|v| v.is_finite() && *v >= 0.0)
        {
            s.provisioning_seconds = v;
        }
        if let Some(v) =
            num("KEYLESS_EMULATOR_RUN_COMMAND_TIMEOUT").filter(|v| v.is_finite() && *v > 0.0)
        {
            s.run_command_timeout = v.min(run_command::MAX_DURATION);
        }
        s
    }
}

impl Settings {
    /// The world's `timing` values, else the environment variables, else the defaults.
    pub fn from_world(world: &World) -> Settings {
        let mut s = Settings::from_env();
        if let Some(p) = &world.timing.provisioning_delay {
            s.provisioning_seconds = p.sample().max(0.0);
        }
        if let Some(t) = &world.timing.run_command_timeout {
            s.run_command_timeout = t.sample().clamp(1.0, run_command::MAX_DURATION);
        }
        s
    }
}

impl ArmState {
    /// The subscription with this id (case-insensitive).
    pub fn subscription(&self, id: &str) -> Option<&Subscription> {
        self.subscriptions
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id))
    }

    /// The subscription with this id, or 404 SubscriptionNotFound.
    pub fn require_subscription(&self, id: &str) -> Result<&Subscription, errors::ArmError> {
        self.subscription(id)
            .ok_or_else(|| errors::ArmError::subscription_not_found(id))
    }
}

pub use seed::seed;
