//! `keyless verify`: probe access without changing anything.

use super::{exit_code, fail, open_engine, CommonArgs, ExitCode};
use crate::engine::Status;
use std::path::PathBuf;

/// `keyless verify`.
pub async fn run(paths: &[PathBuf], common: &CommonArgs) -> ExitCode {
    let (mut engine, reporter) = match open_engine(paths, common).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    match engine.verify_all().await {
        // Every verification problem is a verification failure (exit 3), as it always was.
        Ok(outcome) => match outcome.status() {
            Status::Ok => ExitCode::Ok,
            _ => exit_code(Status::VerifyFailed),
        },
        Err(e) => fail(&reporter, e),
    }
}
