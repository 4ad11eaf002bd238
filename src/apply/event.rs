//! What apply tells its caller while it runs, as data: the engine forwards these into the event
//! stream and the renderer draws them, so apply itself prints nothing and needs no terminal.

use crate::azure::error::AzureError;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where apply's (and verification's) events go: a cheap, shareable callback.
pub type Emit<E> = Arc<dyn Fn(E) + Send + Sync>;

/// How an action that ended well ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Finished {
    /// Done as planned.
    Done,
    /// An equivalent object made by someone else existed and was adopted.
    Adopted,
}

/// One step of an apply's progress.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(
    tag = "event",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ApplyEvent {
    /// An action's write is about to be sent.
    ActionStarted {
        /// Action id in the plan.
        id: usize,
        /// Action type (`createAccount`, …).
        #[serde(rename = "type")]
        kind: String,
        /// `+`, `~`, `-`, `<`: how the plan shows it.
        symbol: String,
        /// The resource.
        target: String,
    },
    /// What a running action is doing now (provisioning state, retry); for progress displays,
    /// not part of the JSON stream.
    ActionProgress {
        /// Action id.
        id: usize,
        /// What it is doing.
        detail: String,
    },
    /// The action's write met another writer's operation and waits its turn (once per action).
    ActionWaiting {
        /// Action id.
        id: usize,
        /// The resource.
        target: String,
        /// Azure's 409 code (`AccountProvisioningStateInvalid`, `RequestConflict`, …).
        reason: String,
    },
    /// The action succeeded.
    ActionFinished {
        /// Action id.
        id: usize,
        /// The resource.
        target: String,
        /// Done or adopted.
        outcome: Finished,
        /// How long it took.
        elapsed_ms: u64,
        /// `+`, `~`, …
        #[serde(skip)]
        symbol: String,
    },
    /// Azure refused the action.
    ActionFailed {
        /// Action id.
        id: usize,
        /// The resource.
        target: String,
        /// What Azure said, and what to do.
        error: AzureError,
        /// `+`, `~`, …
        #[serde(skip)]
        symbol: String,
    },
    /// The action was not started.
    ActionSkipped {
        /// Action id.
        id: usize,
        /// The resource.
        target: String,
        /// `a prerequisite failed` or `interrupted`.
        reason: String,
    },
    /// Ctrl-C was seen: in-flight writes finish, nothing new starts.
    Interrupted {},
}

impl ApplyEvent {
    /// True for events that only feed progress displays and are left out of the JSON stream.
    pub fn is_progress_only(&self) -> bool {
        matches!(self, ApplyEvent::ActionProgress { .. })
    }
}
