//! `keyless apply`: plan (or load a saved plan, which the engine refuses if Azure changed since),
//! apply, verify — all in the engine; this only wires Ctrl-C and picks the exit code.

use super::render::OutputFormat;
use super::{exit_code, fail, open_engine, reporter, CommonArgs, ExitCode};
use crate::engine::{Engine, Planned, RunEvent, SavedPlan, VerifyWhen};
use std::io::IsTerminal;
use std::path::PathBuf;

/// What the user chose on the command line.
pub struct Choices {
    /// `--no-verify`.
    pub no_verify: bool,
    /// `--verify`.
    pub force_verify: bool,
    /// `--auto-approve`.
    pub auto_approve: bool,
}

/// `keyless apply`.
pub async fn run(paths: &[PathBuf], choices: Choices, common: &CommonArgs) -> ExitCode {
    let verify = if choices.no_verify {
        VerifyWhen::Never
    } else if choices.force_verify {
        VerifyWhen::Always
    } else {
        VerifyWhen::WhenChanged
    };
    // A saved plan, or manifests to plan now.
    let saved = match paths {
        [one] => SavedPlan::try_read(one),
        _ => None,
    };
    let from_saved_plan = matches!(saved, Some(Ok(_)));
    let (engine, planned) = match saved {
        Some(Err(reason)) => {
            let reporter = reporter(common);
            return fail(
                &reporter,
                crate::engine::EngineError::PlanFileInvalid {
                    path: paths[0].clone(),
                    reason,
                },
            );
        }
        Some(Ok(saved)) => {
            let reporter = reporter(common);
            let sink = reporter.clone();
            let opened = Engine::open_saved(
                saved,
                super::connect_options(common),
                common.parallelism,
                std::sync::Arc::new(move |e| sink.emit(e)),
            )
            .await;
            match opened {
                Ok((engine, planned)) => ((engine, reporter), planned),
                Err(e) => return fail(&reporter, e),
            }
        }
        None => {
            let (mut engine, reporter) = match open_engine(paths, common).await {
                Ok(x) => x,
                Err(code) => return code,
            };
            match engine.plan_all().await {
                Ok(planned) => ((engine, reporter), planned),
                Err(e) => return fail(&reporter, e),
            }
        }
    };
    let (engine, reporter) = engine;
    let asks = !choices.auto_approve
        && !from_saved_plan
        && !common.emulator
        && common.output == OutputFormat::Human
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal();
    if asks && !approved(&planned) {
        eprintln!("Apply cancelled; nothing was changed.");
        return ExitCode::Error;
    }
    // First Ctrl-C: the engine starts nothing new and lets writes in flight finish (exit 130).
    // Second: exit now — a wait for a long operation must not hold the terminal hostage.
    let again = reporter.clone();
    engine.cancel().on_ctrl_c(move || {
        again.emit(RunEvent::InterruptedAgain { exit_code: 130 }.into());
        std::process::exit(ExitCode::Interrupted as i32);
    });
    let outcome = engine.apply(&planned, verify).await;
    engine.emit_request_counts();
    exit_code(outcome.status())
}

/// Asks a person at a terminal to approve the plan shown above (Terraform's rule: only `yes`
/// approves). Nothing to change, or plan errors (apply changes nothing then), needs no answer.
fn approved(planned: &[Planned]) -> bool {
    if planned.iter().all(|p| p.plan.is_empty())
        || planned.iter().any(|p| !p.plan.errors.is_empty())
    {
        return true;
    }
    eprint!("\nDo you want to make these changes in Azure? Only `yes` will be accepted (--auto-approve skips this).\n  Enter a value: ");
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    answer.trim() == "yes"
}
