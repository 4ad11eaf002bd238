//! What verification tells its caller while probes wait out propagation, as data (the engine
//! forwards these into the event stream; the renderer draws spinners from them).

use super::ProbeOutcome;
use serde::{Deserialize, Serialize};

/// One step of verification's progress.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(
    tag = "event",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum VerifyEvent {
    /// A probe starts (for progress displays; not part of the JSON stream).
    ProbeStarted {
        /// Principal as the manifest names it.
        principal: String,
        /// Account.
        account: String,
        /// How it is probed: `direct` (as keyless itself) or `runCommand` (inside a VM).
        via: String,
    },
    /// A probe's state changed (`propagating`, `throttled`, …).
    ProbeState {
        /// Principal.
        principal: String,
        /// Account.
        account: String,
        /// State name.
        state: String,
        /// What the service answered.
        detail: String,
        /// Since verification started.
        elapsed_ms: u64,
    },
    /// A probe ended.
    Probe {
        /// Principal.
        principal: String,
        /// Account.
        account: String,
        /// `verified`, `failed`, `assignedNotProbed`, `notAssigned`.
        state: String,
        /// The result.
        outcome: ProbeOutcome,
    },
}

impl VerifyEvent {
    /// True for events that only feed progress displays and are left out of the JSON stream.
    pub fn is_progress_only(&self) -> bool {
        matches!(self, VerifyEvent::ProbeStarted { .. })
    }
}
