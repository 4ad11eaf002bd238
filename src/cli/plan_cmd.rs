//! `keyless plan`: resolve, observe, plan; print (human or JSON); optionally save.

use super::connect::{self, report_error, Failed, Target};
use super::saved::{SavedManifestPlan, SavedPlan};
use super::{CommonArgs, ExitCode};
use crate::azure::session::Session;
use crate::manifest::LoadedManifest;
use crate::model::Desired;
use crate::output::{want_color, OutputFormat, Reporter};
use crate::plan::{self, render_human, Plan, RenderOptions};
use miette::Report;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A planned manifest, with everything apply and verify need.
pub struct Planned {
    /// The manifest.
    pub path: PathBuf,
    /// Session for its subscription.
    pub session: Session,
    /// Resolved desired state.
    pub desired: Desired,
    /// The plan.
    pub plan: Plan,
    /// Verification settings (None when disabled).
    pub verify: Option<crate::verify::VerifySettings>,
}

/// Resolves, observes and plans one manifest.
pub async fn plan_one(
    target: &mut Target,
    lm: &LoadedManifest,
    common: &CommonArgs,
    reporter: &Reporter,
) -> Result<Planned, Failed> {
    let m = &lm.manifest;
    let session = target.session(&m.subscription, common, reporter).await?;
    reporter.start(
        "observe",
        &format!("reading Azure for manifest `{}`", m.name),
    );
    let desired =
        match crate::resolve::resolve(lm, &session.caller, &session.arm, &session.graph).await {
            Ok(d) => d,
            Err(e) => {
                reporter.finish("observe", "");
                report_error(reporter, Report::new(e));
                return Err(Failed);
            }
        };
    let observed = match crate::observe::observe(&session.arm, &desired, common.parallelism).await {
        Ok(o) => o,
        Err(e) => {
            reporter.finish("observe", "");
            report_error(reporter, Report::new(e));
            return Err(Failed);
        }
    };
    reporter.finish("observe", "");
    let plan = plan::plan(&desired, &observed);
    let verify = m.verify.enabled.then(|| crate::resolve::verify_settings(m));
    Ok(Planned {
        path: lm.path.clone(),
        session,
        desired,
        plan,
        verify,
    })
}

/// Prints a plan (human) or emits it (JSON), including plan errors with manifest spans.
pub fn show(reporter: &Reporter, lm: Option<&LoadedManifest>, p: &Planned) {
    match reporter.format() {
        OutputFormat::Json => reporter.event(
            "plan",
            serde_json::json!({"manifest": p.plan.manifest, "path": p.path, "plan": p.plan}),
        ),
        OutputFormat::Human => {
            reporter.say(&format!("── {} ({})", p.plan.manifest, p.path.display()));
            reporter.say(
                render_human(
                    &p.plan,
                    RenderOptions {
                        color: reporter.color(),
                    },
                )
                .trim_end(),
            );
            if let Some(lm) = lm {
                for e in &p.plan.errors {
                    if let Some(path) = &e.manifest_path {
                        if let Some(span) = span_for(lm, path) {
                            let r = miette::miette!(
                                labels = vec![miette::LabeledSpan::at(span, e.code.clone())],
                                help = e.help.clone(),
                                "{}",
                                e.message
                            )
                            .with_source_code(
                                miette::NamedSource::new(
                                    lm.path.display().to_string(),
                                    lm.source.as_ref().clone(),
                                ),
                            );
                            eprintln!("{r:?}");
                        }
                    }
                }
            }
        }
    }
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

/// `keyless plan`.
pub async fn run(
    paths: &[PathBuf],
    out: Option<&Path>,
    detailed: bool,
    common: &CommonArgs,
) -> ExitCode {
    let reporter = Arc::new(Reporter::new(common.output, want_color()));
    let Ok(mut target) = connect::prepare(paths, common, &reporter).await else {
        return ExitCode::Error;
    };
    let manifests = target.loaded.manifests.clone();
    let mut saved = Vec::new();
    let mut changes = false;
    let mut errors = false;
    for lm in &manifests {
        let Ok(p) = plan_one(&mut target, lm, common, &reporter).await else {
            return ExitCode::Error;
        };
        show(&reporter, Some(lm), &p);
        changes |= !p.plan.is_empty();
        errors |= !p.plan.errors.is_empty();
        saved.push(SavedManifestPlan {
            path: lm.path.display().to_string(),
            desired: p.desired.clone(),
            plan: p.plan.clone(),
            verify: p.verify.as_ref().map(Into::into),
            emulator_world: target.world.as_ref().map(|w| w.display().to_string()),
        });
    }
    for s in target.sessions() {
        reporter.event(
            "requests",
            serde_json::json!({"subscription": s.arm.subscription, "counts": s.requests()}),
        );
    }
    if let Some(out) = out {
        let text = serde_json::to_string_pretty(&SavedPlan::new(saved)).expect("plan serialises");
        if let Err(e) = std::fs::write(out, text) {
            report_error(
                &reporter,
                miette::miette!("cannot write plan file {}: {e}", out.display()),
            );
            return ExitCode::Error;
        }
        reporter.note(&format!(
            "plan saved to {}; apply it with `keyless apply {}`",
            out.display(),
            out.display()
        ));
    }
    if errors {
        ExitCode::Error
    } else if detailed && changes {
        ExitCode::Changes
    } else {
        ExitCode::Ok
    }
}
