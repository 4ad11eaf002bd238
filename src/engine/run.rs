//! The steps of a run that span manifests: applying plans (grouped by subscription, with
//! cancellation), verifying after apply, and verifying on its own.

use super::event::RunEvent;
use super::outcome::{ManifestOutcome, RunOutcome};
use super::problem::Problem;
use super::{Engine, Planned, VerifyWhen};
use crate::apply::{apply, ApplyEvent, ApplyOptions, ApplyReport, Emit};
use crate::manifest::LoadedManifest;
use crate::plan::{ActionKind, Plan};
use crate::verify::VerifyEvent;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// See [`Engine::apply`].
pub(super) async fn apply_all(
    engine: &Engine,
    planned: &[Planned],
    verify: VerifyWhen,
) -> RunOutcome {
    if planned.iter().any(|p| !p.plan.errors.is_empty()) {
        engine.emit(RunEvent::NothingChanged {
            reason: "fix the plan errors above first".into(),
        });
        return RunOutcome {
            manifests: planned
                .iter()
                .map(|p| ManifestOutcome {
                    manifest: p.plan.manifest.clone(),
                    apply: None,
                    verification: None,
                    plan_errors: !p.plan.errors.is_empty(),
                })
                .collect(),
        };
    }
    let mut groups: Vec<Vec<&Planned>> = Vec::new();
    for p in planned {
        let sub = p.desired.subscription.to_ascii_lowercase();
        match groups
            .iter_mut()
            .find(|g| g[0].desired.subscription.to_ascii_lowercase() == sub)
        {
            Some(g) => g.push(p),
            None => groups.push(vec![p]),
        }
    }
    let per_group = futures::future::join_all(groups.into_iter().map(|g| async move {
        let mut outcomes = Vec::new();
        for p in g {
            let o = apply_one(engine, p, verify).await;
            let stop = o.status() == super::Status::Interrupted;
            outcomes.push(o);
            if stop {
                break;
            }
        }
        outcomes
    }))
    .await;
    RunOutcome {
        manifests: per_group.into_iter().flatten().collect(),
    }
}

/// Applies one manifest's plan, then verifies what changed.
async fn apply_one(engine: &Engine, p: &Planned, verify: VerifyWhen) -> ManifestOutcome {
    let mut outcome = ManifestOutcome {
        manifest: p.plan.manifest.clone(),
        apply: None,
        verification: None,
        plan_errors: false,
    };
    if engine.cancel.is_requested() {
        outcome.apply = Some(ApplyReport {
            results: BTreeMap::new(),
            vm_principals: BTreeMap::new(),
            interrupted: true,
        });
        return outcome;
    }
    let sink = engine.emit.clone();
    let emit: Emit<ApplyEvent> = Arc::new(move |e| sink(e.into()));
    let report = apply(
        &p.session,
        &p.plan,
        emit,
        ApplyOptions {
            parallelism: engine.parallelism,
            cancel: engine.cancel.flag(),
        },
    )
    .await;
    engine.emit(RunEvent::Applied {
        manifest: p.plan.manifest.clone(),
        report: report.clone(),
        requests: p.session.requests(),
    });
    for (id, e) in report.failures() {
        let a = &p.plan.actions[id];
        let r =
            miette::Report::new(e.clone()).wrap_err(format!("{} {}", a.kind.symbol(), a.target));
        engine.emit(RunEvent::error(&r));
    }
    let go_on = report.succeeded();
    let vm_principals = report.vm_principals.clone();
    outcome.apply = Some(report);
    if !go_on {
        return outcome;
    }
    let Some(settings) = &p.verify else {
        return outcome;
    };
    let wanted = match verify {
        VerifyWhen::Never => false,
        VerifyWhen::WhenChanged => !p.plan.is_empty(),
        VerifyWhen::Always => true,
    };
    if !wanted {
        return outcome;
    }
    let fresh = fresh_deployments(&p.plan);
    outcome.verification = Some(
        run_verify(
            engine,
            &p.session,
            settings,
            &vm_principals,
            &fresh,
            &p.desired,
        )
        .await,
    );
    outcome
}

/// Verifies one manifest without changing anything (`keyless verify`).
pub(super) async fn verify_one(
    engine: &mut Engine,
    lm: &LoadedManifest,
) -> Result<ManifestOutcome, super::EngineError> {
    let m = &lm.manifest;
    let mut outcome = ManifestOutcome {
        manifest: m.name.clone(),
        apply: None,
        verification: None,
        plan_errors: false,
    };
    if !m.verify.enabled {
        engine.emit(RunEvent::VerificationDisabled {
            manifest: m.name.clone(),
        });
        return Ok(outcome);
    }
    let session = engine.session(&m.subscription).await?;
    let desired =
        crate::resolve::resolve(lm, &session.caller, &session.arm, &session.graph).await?;
    let mut vm_principals = BTreeMap::new();
    for vm in &desired.vm_identities {
        if let Ok(Some(o)) = session.arm.get_vm(&vm.resource_group, &vm.name).await {
            if let Some(p) = o.system_principal_id {
                vm_principals.insert(vm.key(), p);
            }
        }
    }
    let settings = crate::resolve::verify_settings(m);
    outcome.verification = Some(
        run_verify(
            engine,
            &session,
            &settings,
            &vm_principals,
            &BTreeSet::new(),
            &desired,
        )
        .await,
    );
    Ok(outcome)
}

async fn run_verify(
    engine: &Engine,
    session: &crate::azure::session::Session,
    settings: &crate::verify::VerifySettings,
    vm_principals: &BTreeMap<String, String>,
    fresh: &BTreeSet<String>,
    desired: &crate::model::Desired,
) -> Result<crate::verify::VerifyReport, crate::azure::error::AzureError> {
    let sink = engine.emit.clone();
    let emit: Emit<VerifyEvent> = Arc::new(move |e| sink(e.into()));
    let result =
        crate::verify::verify(session, desired, settings, vm_principals, fresh, emit).await;
    match &result {
        Ok(report) => engine.emit(RunEvent::Verified {
            manifest: desired.manifest.clone(),
            report: report.clone(),
        }),
        Err(e) => engine.emit(RunEvent::error(&miette::Report::new(e.clone()))),
    }
    result
}

/// Deployments this plan writes (`rg/account/deployment`, lower-cased): a probe of one may meet
/// `DeploymentNotFound` while it is still being created, and waits for it.
fn fresh_deployments(plan: &Plan) -> BTreeSet<String> {
    plan.actions
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
        .collect()
}

/// The plan's errors as problems located in the manifest (`accounts[name=x].field` → the span
/// of that field, or of the account when the field was not written).
pub(super) fn locate_plan_errors(lm: &LoadedManifest, plan: &Plan) -> Vec<Problem> {
    plan.errors
        .iter()
        .map(|e| {
            let mut p = Problem::new(
                Some(e.code.clone()),
                e.message.clone(),
                Some(e.help.clone()),
            );
            if let Some(span) = e.manifest_path.as_deref().and_then(|m| span_for(lm, m)) {
                let file = lm.path.display().to_string();
                p.place(Some(&file), &*lm.source, span.into());
            }
            p
        })
        .collect()
}

/// `accounts[name=x].field` → the span of that field in the manifest.
fn span_for(lm: &LoadedManifest, path: &str) -> Option<std::ops::Range<usize>> {
    let (head, field) = path.split_once("].")?;
    let name = head.strip_prefix("accounts[name=")?;
    let i = lm.manifest.accounts.iter().position(|a| a.name == name)?;
    let s = lm
        .spans
        .label(&format!("accounts[{i}].{field}"))
        .or_else(|| lm.spans.label(&format!("accounts[{i}]")))?;
    Some(s.start..s.end)
}
