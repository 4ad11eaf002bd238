//! `keyless apply`: plan (or load a saved plan, which the engine refuses if Azure changed since),
//! apply, verify — all in the engine; this only wires Ctrl-C and picks the exit code.

use super::render::OutputFormat;
use super::{exit_code, fail, reporter, sink, CommonArgs, ExitCode};
use crate::engine::{Engine, EngineError, Planned, RunEvent, SavedPlan, VerifyWhen};
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
    let reporter = reporter(common);
    let (connect, parallelism) = (super::connect_options(common), common.parallelism);
    let (engine, planned) = match saved {
        Some(Err(reason)) => {
            let path = paths[0].clone();
            return fail(&reporter, EngineError::PlanFileInvalid { path, reason });
        }
        Some(Ok(saved)) => {
            match Engine::open_saved(saved, connect, parallelism, sink(&reporter)).await {
                Ok(opened) => opened,
                Err(e) => return fail(&reporter, e),
            }
        }
        None => {
            let mut engine = match Engine::open(paths, connect, parallelism, sink(&reporter)).await
            {
                Ok(engine) => engine,
                Err(e) => return fail(&reporter, e),
            };
            match engine.plan_all().await {
                Ok(planned) => (engine, planned),
                Err(e) => return fail(&reporter, e),
            }
        }
    };
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
