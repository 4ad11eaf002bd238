//! Commands that need no Azure: `validate`, `schema`, and `emulator` (foreground emulator).

use super::ExitCode;
use crate::manifest::{self, ProcessEnv};
use crate::output::OutputFormat;
use std::path::PathBuf;

/// `keyless validate`.
pub fn validate(paths: &[PathBuf], output: OutputFormat) -> ExitCode {
    match manifest::load(paths, &ProcessEnv) {
        Ok(l) => {
            for w in &l.warnings {
                eprintln!("{:?}", miette::Report::new(w.clone()));
            }
            match output {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::json!({"event": "validated", "valid": true, "manifests": l.manifests.iter().map(|m| serde_json::json!({"path": m.path, "name": m.manifest.name})).collect::<Vec<_>>(), "warnings": l.warnings.len()})
                ),
                OutputFormat::Human => {
                    for m in &l.manifests {
                        println!("✓ {} ({}): valid", m.path.display(), m.manifest.name);
                    }
                }
            }
            ExitCode::Ok
        }
        Err(e) => {
            match output {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::json!({"event": "validated", "valid": false, "error": format!("{:?}", miette::Report::new(e))})
                ),
                OutputFormat::Human => eprintln!("{:?}", miette::Report::new(e)),
            }
            ExitCode::Error
        }
    }
}

/// `keyless schema`.
pub fn schema() -> ExitCode {
    println!("{}", manifest::json_schema_pretty());
    ExitCode::Ok
}

/// `keyless emulator`.
pub async fn emulator(args: keyless_emulator::cli::EmulatorArgs) -> ExitCode {
    match keyless_emulator::cli::run(args).await {
        Ok(()) => ExitCode::Ok,
        Err(e) => {
            eprintln!("keyless emulator: {e}");
            ExitCode::Error
        }
    }
}
