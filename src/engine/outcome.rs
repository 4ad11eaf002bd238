//! What a run ended with, as data: the CLI turns it into an exit code, a library caller into
//! whatever it needs.

use crate::apply::ApplyReport;
use crate::azure::error::AzureError;
use crate::verify::VerifyReport;

/// How a manifest (or a whole run) ended, most severe last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Everything succeeded.
    Ok,
    /// Applied, but access could not be proven for every probed principal.
    VerifyFailed,
    /// An action failed, or the plan had errors.
    Failed,
    /// Ctrl-C: what finished is in Azure; a re-run converges.
    Interrupted,
}

impl Status {
    /// True for [`Status::Ok`].
    pub fn is_success(self) -> bool {
        self == Status::Ok
    }
}

/// One manifest's outcome.
#[derive(Debug, Clone)]
pub struct ManifestOutcome {
    /// The manifest's name.
    pub manifest: String,
    /// Its apply, when it ran.
    pub apply: Option<ApplyReport>,
    /// Its verification, when it ran.
    pub verification: Option<Result<VerifyReport, AzureError>>,
    /// True when nothing was applied because a plan had errors.
    pub plan_errors: bool,
}

impl ManifestOutcome {
    /// The manifest's status.
    pub fn status(&self) -> Status {
        if self.plan_errors {
            return Status::Failed;
        }
        if let Some(a) = &self.apply {
            if a.interrupted {
                return Status::Interrupted;
            }
            if !a.succeeded() {
                return Status::Failed;
            }
        }
        match &self.verification {
            Some(Ok(v)) if !v.succeeded() => Status::VerifyFailed,
            Some(Err(_)) => Status::VerifyFailed,
            _ => Status::Ok,
        }
    }
}

/// A run's outcome.
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    /// Per manifest, in the order they ran.
    pub manifests: Vec<ManifestOutcome>,
}

impl RunOutcome {
    /// The most severe manifest status (interrupted > failed > verification failed > ok).
    pub fn status(&self) -> Status {
        self.manifests
            .iter()
            .map(ManifestOutcome::status)
            .max()
            .unwrap_or(Status::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::ActionStatus;
    use crate::verify::{ProbeOutcome, ProbeRow};

    fn applied(status: ActionStatus, interrupted: bool) -> ApplyReport {
        ApplyReport {
            results: [(0, status)].into_iter().collect(),
            vm_principals: Default::default(),
            interrupted,
        }
    }

    fn outcome(apply: Option<ApplyReport>, verified: Option<bool>) -> ManifestOutcome {
        ManifestOutcome {
            manifest: "m".into(),
            apply,
            verification: verified.map(|ok| {
                Ok(VerifyReport {
                    rows: vec![ProbeRow {
                        principal: "self".into(),
                        account: "a".into(),
                        roles: vec![],
                        outcome: if ok {
                            ProbeOutcome::Verified {
                                time_to_access_secs: 1.0,
                            }
                        } else {
                            ProbeOutcome::NotAssigned
                        },
                    }],
                })
            }),
            plan_errors: false,
        }
    }

    #[test]
    fn the_most_severe_status_wins() {
        let done = || applied(ActionStatus::Done { elapsed_ms: 1 }, false);
        let failed = || {
            applied(
                ActionStatus::Failed {
                    error: AzureError::new("x", 403, "AuthorizationFailed", "no"),
                },
                false,
            )
        };
        let run = |v: Vec<ManifestOutcome>| RunOutcome { manifests: v }.status();
        assert_eq!(run(vec![]), Status::Ok);
        assert_eq!(run(vec![outcome(Some(done()), Some(true))]), Status::Ok);
        assert_eq!(
            run(vec![
                outcome(Some(done()), Some(true)),
                outcome(Some(done()), Some(false))
            ]),
            Status::VerifyFailed
        );
        assert_eq!(
            run(vec![
                outcome(Some(failed()), None),
                outcome(Some(done()), Some(false))
            ]),
            Status::Failed
        );
        assert_eq!(
            run(vec![
                outcome(Some(failed()), None),
                outcome(
                    Some(applied(ActionStatus::Done { elapsed_ms: 1 }, true)),
                    None
                )
            ]),
            Status::Interrupted
        );
        let mut errors = outcome(None, None);
        errors.plan_errors = true;
        assert_eq!(run(vec![errors]), Status::Failed);
    }
}
