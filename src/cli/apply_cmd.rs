//! `keyless apply`: plan (or load a saved plan and check it is not stale), apply, verify.

use super::connect::{self, report_error, Target};
use super::plan_cmd::{plan_one, show, Planned};
use super::saved::SavedPlan;
use super::{CommonArgs, ExitCode};
use crate::apply::{apply, ActionStatus, ApplyOptions};
use crate::output::{want_color, Reporter};
use crate::plan::{fingerprint, ActionKind};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `keyless apply`.
pub async fn run(
    paths: &[PathBuf],
    no_verify: bool,
    force_verify: bool,
    common: &CommonArgs,
) -> ExitCode {
    let reporter = Arc::new(Reporter::new(common.output, want_color()));
    let cancel = Arc::new(AtomicBool::new(false));
    {
        // First Ctrl-C: start nothing new, let writes in flight finish (apply reports and exits
        // 130). Second: exit now — a wait for a long operation (or for another writer) must not
        // hold the terminal hostage. Either way a re-run converges.
        let cancel = cancel.clone();
        let reporter = reporter.clone();
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                if cancel.swap(true, Ordering::SeqCst) {
                    reporter.event("interruptedAgain", serde_json::json!({"exitCode": 130}));
                    reporter.note("interrupted again: exiting now without waiting for operations in flight (Azure finishes what it accepted); re-run to converge");
                    std::process::exit(130);
                }
            }
        });
    }

    // A saved plan: re-observe and refuse it if Azure changed since.
    let saved = if paths.len() == 1 {
        SavedPlan::try_read(&paths[0])
    } else {
        None
    };
    let mut planned: Vec<Planned> = Vec::new();
    let mut target: Target;
    match saved {
        Some(Err(e)) => {
            report_error(
                &reporter,
                miette::miette!(
                    code = "keyless::plan_file::invalid",
                    "{}: {e}",
                    paths[0].display()
                ),
            );
            return ExitCode::Error;
        }
        Some(Ok(saved)) => {
            let mut common = common.clone();
            let manifest_paths: Vec<PathBuf> = saved
                .manifests
                .iter()
                .map(|m| PathBuf::from(&m.path))
                .collect();
            if let Some(w) = saved
                .manifests
                .iter()
                .find_map(|m| m.emulator_world.clone())
            {
                common.emulator = true;
                common.world.get_or_insert(PathBuf::from(w));
            }
            let Ok(t) = connect::prepare(&manifest_paths, &common, &reporter).await else {
                return ExitCode::Error;
            };
            target = t;
            for m in saved.manifests {
                let Ok(session) = target
                    .session(&m.desired.subscription, &common, &reporter)
                    .await
                else {
                    return ExitCode::Error;
                };
                let observed =
                    match crate::observe::observe(&session.arm, &m.desired, common.parallelism)
                        .await
                    {
                        Ok(o) => o,
                        Err(e) => {
                            report_error(&reporter, miette::Report::new(e));
                            return ExitCode::Error;
                        }
                    };
                if fingerprint(&observed) != m.plan.fingerprint {
                    report_error(
                        &reporter,
                        miette::miette!(
                            code = "keyless::plan_file::stale",
                            help = "Azure changed since the plan was made (someone else applied, or drift). Run `keyless plan --out FILE` again and review the new plan",
                            "refusing to apply a stale plan for manifest `{}`",
                            m.plan.manifest
                        ),
                    );
                    return ExitCode::Error;
                }
                planned.push(Planned {
                    path: PathBuf::from(m.path),
                    session,
                    desired: m.desired,
                    plan: m.plan,
                    verify: m.verify.as_ref().map(Into::into),
                });
            }
        }
        None => {
            let Ok(t) = connect::prepare(paths, common, &reporter).await else {
                return ExitCode::Error;
            };
            target = t;
            let manifests = target.loaded.manifests.clone();
            for lm in &manifests {
                let Ok(p) = plan_one(&mut target, lm, common, &reporter).await else {
                    return ExitCode::Error;
                };
                show(&reporter, Some(lm), &p);
                planned.push(p);
            }
        }
    }

    if planned.iter().any(|p| !p.plan.errors.is_empty()) {
        reporter.note("nothing was changed: fix the plan errors above first");
        return ExitCode::Error;
    }

    // Manifests of different subscriptions run concurrently (each subscription has its own ARM
    // budget); manifests of one subscription run one after the other.
    let mut groups: Vec<Vec<&Planned>> = Vec::new();
    for p in &planned {
        let sub = p.desired.subscription.to_ascii_lowercase();
        match groups
            .iter_mut()
            .find(|g| g[0].desired.subscription.to_ascii_lowercase() == sub)
        {
            Some(g) => g.push(p),
            None => groups.push(vec![p]),
        }
    }
    let ctx = ApplyCtx {
        reporter: reporter.clone(),
        cancel: cancel.clone(),
        parallelism: common.parallelism,
        no_verify,
        force_verify,
    };
    let results = futures::future::join_all(groups.into_iter().map(|g| {
        let ctx = &ctx;
        async move {
            let mut exit = ExitCode::Ok;
            for p in g {
                exit = worst(exit, apply_one(p, ctx).await);
                if exit == ExitCode::Interrupted {
                    break;
                }
            }
            exit
        }
    }))
    .await;
    let exit = results.into_iter().fold(ExitCode::Ok, worst);
    for s in target.sessions() {
        reporter.event(
            "requests",
            serde_json::json!({"subscription": s.arm.subscription, "counts": s.requests()}),
        );
    }
    drop(target);
    exit
}

/// What every manifest's apply shares.
struct ApplyCtx {
    reporter: Arc<Reporter>,
    cancel: Arc<AtomicBool>,
    parallelism: usize,
    no_verify: bool,
    force_verify: bool,
}

/// The more severe of two exit codes (interrupted > error > verification failed > ok).
fn worst(a: ExitCode, b: ExitCode) -> ExitCode {
    let rank = |c: ExitCode| match c {
        ExitCode::Interrupted => 4,
        ExitCode::Error => 3,
        ExitCode::VerifyFailed => 2,
        ExitCode::Changes => 1,
        ExitCode::Ok => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Applies one manifest's plan, then verifies what changed.
async fn apply_one(p: &Planned, ctx: &ApplyCtx) -> ExitCode {
    let reporter = &ctx.reporter;
    let (no_verify, force_verify) = (ctx.no_verify, ctx.force_verify);
    let cancel = &ctx.cancel;
    let mut exit = ExitCode::Ok;
    if cancel.load(Ordering::SeqCst) {
        return ExitCode::Interrupted;
    }
    let report = apply(
        &p.session,
        &p.plan,
        reporter.clone(),
        ApplyOptions {
            parallelism: ctx.parallelism,
            cancel: cancel.clone(),
        },
    )
    .await;
    let done = report
        .results
        .values()
        .filter(|s| matches!(s, ActionStatus::Done { .. }))
        .count();
    let adopted = report
        .results
        .values()
        .filter(|s| matches!(s, ActionStatus::Adopted { .. }))
        .count();
    let failed = report.failures();
    let skipped = report
        .results
        .values()
        .filter(|s| matches!(s, ActionStatus::Skipped { .. }))
        .count();
    if !p.plan.is_empty() {
        reporter.say(&format!(
            "Applied `{}`: {done} done, {adopted} adopted, {} failed, {skipped} skipped.",
            p.plan.manifest,
            failed.len()
        ));
    }
    for (id, e) in &failed {
        let a = &p.plan.actions[*id];
        report_error(
            reporter,
            miette::Report::new((*e).clone()).wrap_err(format!("{} {}", a.kind.symbol(), a.target)),
        );
    }
    reporter.event("applied", serde_json::json!({"manifest": p.plan.manifest, "report": report, "requests": p.session.requests()}));
    if report.interrupted {
        reporter.note("interrupted: what finished is in Azure; re-run `keyless apply` to converge");
        return ExitCode::Interrupted;
    }
    if !report.succeeded() {
        return ExitCode::Error;
    }
    // Verify what changed (Run Command is an ARM write: a no-op apply stays write-free).
    let Some(settings) = &p.verify else {
        return exit;
    };
    if no_verify || (p.plan.is_empty() && !force_verify) {
        return exit;
    }
    let fresh: BTreeSet<String> = p
        .plan
        .actions
        .iter()
        .filter_map(|a| match &a.kind {
            ActionKind::PutDeployment {
                resource_group,
                account,
                spec,
            } => Some(format!(
                "{}/{}",
                crate::model::key(resource_group, account),
                spec.name.to_ascii_lowercase()
            )),
            _ => None,
        })
        .collect();
    match crate::verify::verify(
        &p.session,
        &p.desired,
        settings,
        &report.vm_principals,
        &fresh,
        reporter.clone(),
    )
    .await
    {
        Ok(v) => {
            super::verify_cmd::print_table(reporter, &v);
            reporter.event(
                "verified",
                serde_json::json!({"manifest": p.plan.manifest, "report": v}),
            );
            if !v.succeeded() && exit == ExitCode::Ok {
                exit = ExitCode::VerifyFailed;
            }
        }
        Err(e) => {
            report_error(reporter, miette::Report::new(e));
            exit = ExitCode::VerifyFailed;
        }
    }
    exit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_severe_exit_code_wins() {
        use ExitCode::*;
        assert_eq!(
            [Ok, VerifyFailed, Ok].into_iter().fold(Ok, worst),
            VerifyFailed
        );
        assert_eq!([VerifyFailed, Error].into_iter().fold(Ok, worst), Error);
        assert_eq!(
            [Error, Interrupted, Ok].into_iter().fold(Ok, worst),
            Interrupted
        );
        assert_eq!([Ok, Ok].into_iter().fold(Ok, worst), Ok);
    }
}
