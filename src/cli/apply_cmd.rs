//! `keyless apply`: plan (or load a saved plan, which the engine refuses if Azure changed since),
//! apply, verify — all in the engine; this only wires Ctrl-C and picks the exit code.

use super::{exit_code, fail, open_engine, reporter, CommonArgs, ExitCode};
use crate::engine::{Engine, RunEvent, SavedPlan, VerifyWhen};
use std::path::PathBuf;

/// `keyless apply`.
pub async fn run(
    paths: &[PathBuf],
    no_verify: bool,
    force_verify: bool,
    common: &CommonArgs,
) -> ExitCode {
    let verify = if no_verify {
        VerifyWhen::Never
    } else if force_verify {
        VerifyWhen::Always
    } else {
        VerifyWhen::WhenChanged
    };
    // A saved plan, or manifests to plan now.
    let saved = match paths {
        [one] => SavedPlan::try_read(one),
        _ => None,
    };
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
