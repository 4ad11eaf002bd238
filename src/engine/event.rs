//! The event stream: one typed enum for everything a run reports. `--output json` writes each
//! event as one JSON line (schema in `docs/events.schema.json`, generated from these types);
//! the human renderer draws the same events as text and spinners, so the two can never drift.

use super::problem::Problem;
use crate::apply::{ApplyEvent, ApplyReport};
use crate::azure::graph::CallerIdentity;
use crate::azure::transport::RequestCounts;
use crate::plan::Plan;
use crate::verify::{VerifyEvent, VerifyReport};
use serde::{Deserialize, Serialize};

/// Version of the event stream's schema, carried by every JSON line as `schemaVersion`. Bumped
/// on an incompatible change; new events and new fields are not incompatible.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// Anything a run reports.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Event {
    /// Connecting, planning, per-manifest results, errors.
    Run(RunEvent),
    /// An action's progress during apply.
    Apply(ApplyEvent),
    /// A probe's progress during verification.
    Verify(VerifyEvent),
}

impl Event {
    /// True for events that only feed progress displays and are left out of the JSON stream.
    pub fn is_progress_only(&self) -> bool {
        match self {
            Event::Run(e) => e.is_progress_only(),
            Event::Apply(e) => e.is_progress_only(),
            Event::Verify(e) => e.is_progress_only(),
        }
    }
}

/// Reads a JSON line back by its `event` tag (serde's untagged buffering cannot read the
/// integer-keyed maps some events carry, so each family is tried on the JSON value itself).
impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        let run = match serde_json::from_value::<RunEvent>(v.clone()) {
            Ok(e) => return Ok(Event::Run(e)),
            Err(e) => e,
        };
        let apply = match serde_json::from_value::<ApplyEvent>(v.clone()) {
            Ok(e) => return Ok(Event::Apply(e)),
            Err(e) => e,
        };
        match serde_json::from_value::<VerifyEvent>(v) {
            Ok(e) => Ok(Event::Verify(e)),
            Err(verify) => Err(D::Error::custom(format!(
                "not a keyless event (as a run event: {run}; as an apply event: {apply}; as a verify event: {verify})"
            ))),
        }
    }
}

impl From<RunEvent> for Event {
    fn from(e: RunEvent) -> Self {
        Event::Run(e)
    }
}
impl From<ApplyEvent> for Event {
    fn from(e: ApplyEvent) -> Self {
        Event::Apply(e)
    }
}
impl From<VerifyEvent> for Event {
    fn from(e: VerifyEvent) -> Self {
        Event::Verify(e)
    }
}

/// What the engine itself reports.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(
    tag = "event",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum RunEvent {
    /// The embedded emulator is up (for people; not part of the JSON stream).
    EmulatorStarted {
        /// Its base URL.
        url: String,
        /// The world file.
        world: String,
        /// Where it keeps its state.
        state: String,
    },
    /// Another run holds the embedded emulator's state; this one waits (not in the JSON stream).
    EmulatorBusy {
        /// The state file.
        state: String,
    },
    /// A manifest warning (allowed, but probably a mistake).
    Warning {
        /// What, where, and what to do.
        problem: Problem,
    },
    /// Signed in for a subscription.
    SignedIn {
        /// Who keyless runs as.
        caller: CallerIdentity,
        /// Which credential won (`service-principal`, `workload-identity`, …).
        method: String,
        /// The cloud.
        cloud: String,
        /// The subscription.
        subscription: String,
    },
    /// Reading Azure for a manifest starts (not in the JSON stream).
    Observing {
        /// The manifest.
        manifest: String,
    },
    /// Reading Azure for a manifest ended (not in the JSON stream).
    Observed {
        /// The manifest.
        manifest: String,
    },
    /// A manifest's plan.
    Plan {
        /// The manifest's name.
        manifest: String,
        /// Its file.
        path: String,
        /// The plan (schema in `docs/plan.schema.json`).
        plan: Plan,
        /// The plan's errors, located in the manifest (file, line, column), in plan order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        problems: Vec<Problem>,
    },
    /// A plan was saved to a file.
    PlanSaved {
        /// The file.
        path: String,
    },
    /// Nothing was changed because a plan has errors.
    NothingChanged {
        /// Why.
        reason: String,
    },
    /// A manifest's apply ended.
    Applied {
        /// The manifest.
        manifest: String,
        /// Per action, and the VM identities known after it.
        report: ApplyReport,
        /// Requests made so far for its subscription.
        requests: RequestCounts,
    },
    /// Verification is off for a manifest (not in the JSON stream).
    VerificationDisabled {
        /// The manifest.
        manifest: String,
    },
    /// A manifest's verification ended.
    Verified {
        /// The manifest.
        manifest: String,
        /// One row per (principal, account).
        report: VerifyReport,
    },
    /// Requests made for a subscription, at the end of a command.
    Requests {
        /// The subscription.
        subscription: String,
        /// Counts by kind.
        counts: RequestCounts,
    },
    /// A fatal error.
    Error {
        /// Stable code (`keyless::plan_file::stale`, Azure's `AuthorizationFailed`, …).
        code: Option<String>,
        /// One line.
        message: String,
        /// The whole diagnostic as text (what a person sees).
        detail: String,
        /// Each problem, located where it can be.
        problems: Vec<Problem>,
    },
    /// Ctrl-C a second time: keyless exits at once.
    InterruptedAgain {
        /// 130.
        exit_code: i32,
    },
}

impl RunEvent {
    /// The error event for a diagnostic: its code, one line, the whole rendering, and each
    /// problem located. Tokens are redacted from every text.
    pub fn error(report: &miette::Report) -> RunEvent {
        use crate::azure::error::redact;
        RunEvent::Error {
            code: report.code().map(|c| c.to_string()),
            message: redact(&report.to_string()),
            detail: redact(&format!("{report:?}")),
            problems: Problem::from_diagnostic(report.as_ref()),
        }
    }

    /// True for events that only feed progress displays and are left out of the JSON stream.
    pub fn is_progress_only(&self) -> bool {
        matches!(
            self,
            RunEvent::EmulatorStarted { .. }
                | RunEvent::EmulatorBusy { .. }
                | RunEvent::Observing { .. }
                | RunEvent::Observed { .. }
                | RunEvent::VerificationDisabled { .. }
                | RunEvent::NothingChanged { .. }
                | RunEvent::PlanSaved { .. }
        )
    }
}
