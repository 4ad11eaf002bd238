//! Commands that need no Azure: `validate`, `schema`, and `emulator` (foreground emulator).

use super::render::{render_problem, OutputFormat};
use super::ExitCode;
use crate::engine::{Problem, EVENT_SCHEMA_VERSION};
use crate::manifest::{self, ProcessEnv};
use std::path::PathBuf;

/// `keyless validate`. With `--output json`, one `validated` object whose `problems` and
/// `warnings` are `{code, message, file, line, column, help}` each, for editors and pipelines.
pub fn validate(paths: &[PathBuf], output: OutputFormat) -> ExitCode {
    match manifest::load(paths, &ProcessEnv) {
        Ok(l) => {
            let warnings: Vec<Problem> = l
                .warnings
                .iter()
                .flat_map(|w| Problem::from_diagnostic(w))
                .collect();
            if output == OutputFormat::Human {
                for w in &warnings {
                    eprintln!("{}", render_problem(w, miette::Severity::Warning));
                }
            }
            match output {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::json!({"event": "validated", "schemaVersion": EVENT_SCHEMA_VERSION, "valid": true, "manifests": l.manifests.iter().map(|m| serde_json::json!({"path": m.path, "name": m.manifest.name})).collect::<Vec<_>>(), "warnings": warnings, "problems": []})
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
            super::annotate::emit("error", &Problem::from_diagnostic(&e));
            match output {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::json!({"event": "validated", "schemaVersion": EVENT_SCHEMA_VERSION, "valid": false, "message": e.to_string(), "problems": Problem::from_diagnostic(&e), "warnings": []})
                ),
                OutputFormat::Human => eprintln!("{:?}", miette::Report::new(e)),
            }
            ExitCode::Error
        }
    }
}

/// `keyless schema`.
pub fn schema(kind: super::SchemaKind) -> ExitCode {
    use crate::engine::schema;
    let text = match kind {
        super::SchemaKind::Manifest => manifest::json_schema_pretty(),
        super::SchemaKind::Plan => schema::pretty(&schema::plan_file_schema()),
        super::SchemaKind::Events => schema::pretty(&schema::event_schema()),
    };
    print!("{text}");
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

/// `keyless completions <shell>`.
pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    use clap::CommandFactory;
    let mut cmd = super::Cli::command();
    clap_complete::generate(shell, &mut cmd, "keyless", &mut std::io::stdout());
    ExitCode::Ok
}

/// `keyless man`.
pub fn man() -> ExitCode {
    use clap::CommandFactory;
    let page = clap_mangen::Man::new(super::Cli::command());
    match page.render(&mut std::io::stdout()) {
        Ok(()) => ExitCode::Ok,
        Err(e) => {
            eprintln!("keyless man: {e}");
            ExitCode::Error
        }
    }
}
