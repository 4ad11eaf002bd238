//! `keyless plan`: the engine plans every manifest (each plan is drawn as it arrives); optionally
//! saved to a file and written as Markdown.

use super::markdown::{plan_markdown, PlannedManifest};
use super::{fail, open_engine, CommonArgs, ExitCode};
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;

/// Files `plan` writes besides its output.
pub struct Files<'a> {
    /// The saved plan (`--out`).
    pub out: Option<&'a Path>,
    /// The Markdown plan (`--markdown`; `-` is stdout).
    pub markdown: Option<&'a Path>,
}

/// `keyless plan`.
pub async fn run(
    paths: &[PathBuf],
    files: Files<'_>,
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
    if let Some(out) = files.out {
        if let Err(e) = engine.save(&planned, out) {
            return fail(&reporter, e);
        }
    }
    if let Some(md_path) = files.markdown {
        let paths: Vec<String> = planned
            .iter()
            .map(|p| p.path.display().to_string())
            .collect();
        let parts: Vec<PlannedManifest<'_>> = planned
            .iter()
            .zip(&paths)
            .map(|(p, path)| PlannedManifest {
                manifest: &p.plan.manifest,
                path,
                plan: &p.plan,
                problems: &p.problems,
            })
            .collect();
        if let Err(e) = write_markdown(md_path, &plan_markdown(&parts)) {
            return fail(
                &reporter,
                crate::engine::EngineError::PlanFileWrite {
                    path: md_path.to_path_buf(),
                    source: e,
                },
            );
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

/// Writes the Markdown plan: `-` is stdout; GitHub's step summary file is appended to (other
/// steps write there too); any other file is replaced.
fn write_markdown(path: &Path, md: &str) -> std::io::Result<()> {
    if path == Path::new("-") {
        return std::io::stdout().lock().write_all(md.as_bytes());
    }
    let summary = std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from);
    let append = summary.as_deref() == Some(path);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)?;
    f.write_all(md.as_bytes())
}
