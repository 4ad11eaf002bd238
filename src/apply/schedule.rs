//! When an action may start: the plan's `dependsOn` edges read against what has finished. Pure,
//! so the scheduling rule is tested without Azure.

use super::ActionStatus;
use crate::plan::Action;
use std::collections::BTreeMap;

/// Whether an action can start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Readiness {
    /// Every prerequisite is done or adopted.
    Ready,
    /// A prerequisite failed or was skipped: this action is skipped too.
    Blocked,
    /// A prerequisite has not finished yet.
    Waiting,
}

/// The readiness of `action` given the statuses of finished actions.
pub(super) fn readiness(action: &Action, finished: &BTreeMap<usize, ActionStatus>) -> Readiness {
    let mut waiting = false;
    for dep in &action.depends_on {
        match finished.get(dep) {
            Some(ActionStatus::Failed { .. } | ActionStatus::Skipped { .. }) => {
                return Readiness::Blocked
            }
            Some(ActionStatus::Done { .. } | ActionStatus::Adopted { .. }) => {}
            None => waiting = true,
        }
    }
    if waiting {
        Readiness::Waiting
    } else {
        Readiness::Ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RgSpec;
    use crate::plan::ActionKind;

    fn action(depends_on: Vec<usize>) -> Action {
        Action {
            id: 9,
            kind: ActionKind::CreateResourceGroup {
                spec: RgSpec {
                    name: "rg".into(),
                    location: "eastus".into(),
                    tags: Default::default(),
                },
            },
            target: "rg".into(),
            reason: String::new(),
            changes: vec![],
            depends_on,
        }
    }

    #[test]
    fn an_action_starts_only_when_every_prerequisite_succeeded() {
        let done = ActionStatus::Done { elapsed_ms: 1 };
        let adopted = ActionStatus::Adopted { elapsed_ms: 1 };
        let failed = ActionStatus::Failed {
            error: crate::azure::error::AzureError::new("x", 500, "InternalError", "boom"),
        };
        let skipped = ActionStatus::Skipped {
            reason: "interrupted".into(),
        };
        let finished: BTreeMap<usize, ActionStatus> =
            [(0, done), (1, adopted), (2, failed), (3, skipped)]
                .into_iter()
                .collect();
        assert_eq!(readiness(&action(vec![]), &finished), Readiness::Ready);
        assert_eq!(readiness(&action(vec![0, 1]), &finished), Readiness::Ready);
        assert_eq!(
            readiness(&action(vec![0, 4]), &finished),
            Readiness::Waiting
        );
        // a failed or skipped prerequisite blocks, even while another is still running
        assert_eq!(
            readiness(&action(vec![4, 2]), &finished),
            Readiness::Blocked
        );
        assert_eq!(
            readiness(&action(vec![0, 3]), &finished),
            Readiness::Blocked
        );
    }
}
