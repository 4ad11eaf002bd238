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
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.store(true, Ordering::SeqCst);
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
                    observed,
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

    let mut exit = ExitCode::Ok;
    for p in &planned {
        if cancel.load(Ordering::SeqCst) {
            return ExitCode::Interrupted;
        }
        let report = apply(
            &p.session,
            &p.desired,
            &p.observed,
            &p.plan,
            reporter.clone(),
            ApplyOptions {
                parallelism: common.parallelism,
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
                &reporter,
                miette::Report::new((*e).clone()).wrap_err(format!(
                    "{} {}",
                    a.kind.symbol(),
                    a.target
                )),
            );
        }
        reporter.event("applied", serde_json::json!({"manifest": p.plan.manifest, "report": report, "requests": p.session.requests()}));
        if report.interrupted {
            reporter
                .note("interrupted: what finished is in Azure; re-run `keyless apply` to converge");
            return ExitCode::Interrupted;
        }
        if !report.succeeded() {
            exit = ExitCode::Error;
            continue;
        }
        // Verify what changed (Run Command is an ARM write: a no-op apply stays write-free).
        let Some(settings) = &p.verify else { continue };
        if no_verify || (p.plan.is_empty() && !force_verify) {
            continue;
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
                super::verify_cmd::print_table(&reporter, &v);
                reporter.event(
                    "verified",
                    serde_json::json!({"manifest": p.plan.manifest, "report": v}),
                );
                if !v.succeeded() && exit == ExitCode::Ok {
                    exit = ExitCode::VerifyFailed;
                }
            }
            Err(e) => {
                report_error(&reporter, miette::Report::new(e));
                exit = ExitCode::VerifyFailed;
            }
        }
    }
    for s in target.sessions() {
        reporter.event(
            "requests",
            serde_json::json!({"subscription": s.arm.subscription, "counts": s.requests()}),
        );
    }
    drop(target);
    exit
}
