//! The accumulator every planning step writes into: actions get their ids in push order, so the
//! order of the steps in `plan()` is the order of the plan.

use super::types::{Action, ActionKind, FieldChange, PlanError};
use std::collections::BTreeMap;

/// Lower-cased key of a desired item → id of the action that creates or changes it. Later steps
/// look their prerequisites up here to fill in `depends_on`.
pub(super) type ActionsByKey = BTreeMap<String, usize>;

/// Actions, errors and the count of items already in place, gathered step by step.
#[derive(Default)]
pub(super) struct Builder {
    /// Actions so far, each `id` equal to its index.
    pub(super) actions: Vec<Action>,
    /// Problems that stop apply.
    pub(super) errors: Vec<PlanError>,
    /// Desired items found already in place.
    pub(super) unchanged: usize,
}

impl Builder {
    /// Appends an action and returns its id, for the actions that depend on it.
    pub(super) fn push(
        &mut self,
        kind: ActionKind,
        target: String,
        reason: impl Into<String>,
        changes: Vec<FieldChange>,
        depends_on: Vec<usize>,
    ) -> usize {
        let id = self.actions.len();
        self.actions.push(Action {
            id,
            kind,
            target,
            reason: reason.into(),
            changes,
            depends_on,
        });
        id
    }

    /// Records a reason the manifest cannot be applied as written.
    pub(super) fn error(
        &mut self,
        code: &str,
        target: &str,
        message: String,
        help: &str,
        manifest_path: Option<String>,
    ) {
        self.errors.push(PlanError {
            code: code.into(),
            target: target.into(),
            message,
            help: help.into(),
            manifest_path,
        });
    }
}
