//! `keyless plan`: the engine plans every manifest (each plan is drawn as it arrives); optionally
//! saved to a file.

use super::{fail, open_engine, CommonArgs, ExitCode};
use std::path::{Path, PathBuf};

/// `keyless plan`.
pub async fn run(
    paths: &[PathBuf],
    out: Option<&Path>,
    detailed: bool,
    common: &CommonArgs,
) -> ExitCode {
    let (mut engine, reporter) = match open_engine(paths, common).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let planned = match engine.plan_all().await {
        Ok(p) => p,
        Err(e) => return fail(&reporter, e),
    };
    engine.emit_request_counts();
    if let Some(out) = out {
        if let Err(e) = engine.save(&planned, out) {
            return fail(&reporter, e);
        }
    }
    if planned.iter().any(|p| !p.plan.errors.is_empty()) {
        ExitCode::Error
    } else if detailed && planned.iter().any(|p| !p.plan.is_empty()) {
        ExitCode::Changes
    } else {
        ExitCode::Ok
    }
}
