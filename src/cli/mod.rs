//! The command line: argument definitions, exit codes, and one module per subcommand.

mod annotate;
mod apply_cmd;
mod exit;
pub mod log;
pub mod markdown;
mod plan_cmd;
pub mod render;
mod simple;
mod verify_cmd;

pub use exit::ExitCode;

use crate::azure::credential::AuthMethod;
use crate::engine::{Connect, Embedded, Engine, RunEvent, Status};
use clap::{Args, Parser, Subcommand};
use render::{want_color, OutputFormat, Reporter};
use std::path::PathBuf;
use std::sync::Arc;

const EXIT_CODES: &str = "Exit codes:
  0    success (plan: no changes, with --detailed-exitcode)
  1    error: invalid manifest, Azure refused, plan errors, stale plan file
  2    plan has changes (only with --detailed-exitcode)
  3    verification failed: access could not be proven for every probed principal
  130  interrupted (Ctrl-C); in-flight writes finished (a second Ctrl-C exits at once),
       a re-run converges";

/// keyless: declarative, keyless (Entra ID) access to Azure OpenAI.
#[derive(Debug, Parser)]
#[command(name = "keyless", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
    /// Log requests, answers and retry decisions on stderr (-v debug, -vv trace); KEYLESS_LOG
    /// or RUST_LOG (`keyless=debug`, `keyless::http=trace`) choose the filter instead. Tokens
    /// and secrets are redacted from every line.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests offline: schema, references, subdomains, roles, ${VAR}s.
    Validate {
        /// Manifest files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
        output: OutputFormat,
    },
    /// Print a JSON Schema: the manifest's (docs/manifest.schema.json), the saved plan file's
    /// (docs/plan.schema.json) or the --output json event stream's (docs/events.schema.json).
    Schema {
        /// Which document.
        #[arg(value_enum, default_value_t = SchemaKind::Manifest)]
        kind: SchemaKind,
    },
    /// Show what apply would change, without changing anything.
    #[command(after_help = EXIT_CODES)]
    Plan {
        /// Manifest files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Save the plan to apply later with `keyless apply FILE`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Exit 2 when there are changes, 0 when there are none.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Also write the plan as Markdown (for a pull-request comment or $GITHUB_STEP_SUMMARY,
        /// which is appended to); `-` for stdout.
        #[arg(long, value_name = "FILE")]
        markdown: Option<PathBuf>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Make Azure match the manifests (or a saved plan), then prove access.
    #[command(after_help = EXIT_CODES)]
    Apply {
        /// Manifest files or directories, or one saved plan file (from `plan --out`).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Skip the access verification after applying.
        #[arg(long)]
        no_verify: bool,
        /// Verify even when nothing changed.
        #[arg(long, conflicts_with = "no_verify")]
        verify: bool,
        /// Apply without asking. On a terminal against real Azure, apply shows the plan and asks
        /// first; without a terminal (pipelines), with a saved plan or with --emulator it never asks.
        #[arg(long)]
        auto_approve: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Probe access without changing anything (a pipeline gate or periodic check).
    #[command(after_help = EXIT_CODES)]
    Verify {
        /// Manifest files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Run the local Azure emulator in the foreground.
    Emulator(keyless_emulator::cli::EmulatorArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

/// The documents `keyless schema` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaKind {
    /// The manifest.
    Manifest,
    /// The saved plan file (`plan --out`).
    Plan,
    /// One line of `--output json`.
    Events,
}

/// Options shared by the commands that talk to Azure.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Output format: human, or json (one event per line).
    #[arg(long, value_enum, default_value_t = OutputFormat::Human, global = true)]
    pub output: OutputFormat,
    /// Run against the embedded local emulator (world from the manifest's `emulator.world` or --world).
    #[arg(long)]
    pub emulator: bool,
    /// Emulator world file (with --emulator).
    #[arg(long, value_name = "FILE", requires = "emulator")]
    pub world: Option<PathBuf>,
    /// Forget the embedded emulator's saved state (.keyless/) before starting it.
    #[arg(long, requires = "emulator")]
    pub reset_emulator: bool,
    /// Azure cloud: AzureCloud, AzureUSGovernment, AzureChinaCloud.
    #[arg(long, env = "KEYLESS_CLOUD", default_value = "AzureCloud")]
    pub cloud: String,
    /// Force a credential instead of the automatic chain.
    #[arg(long, value_enum, env = "KEYLESS_AUTH", default_value_t = AuthMethod::Auto)]
    pub auth: AuthMethod,
    /// Azure requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub parallelism: usize,
    /// Turn off the client-side ARM request pacer (not recommended for large manifests).
    #[arg(long)]
    pub no_pacing: bool,
}

/// Runs the CLI and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    log::init(cli.verbose);
    match cli.command {
        Command::Validate { paths, output } => simple::validate(&paths, output),
        Command::Schema { kind } => simple::schema(kind),
        Command::Plan {
            paths,
            out,
            detailed_exitcode,
            markdown,
            common,
        } => {
            let files = plan_cmd::Files {
                out: out.as_deref(),
                markdown: markdown.as_deref(),
            };
            plan_cmd::run(&paths, files, detailed_exitcode, &common).await
        }
        Command::Apply {
            paths,
            no_verify,
            verify,
            auto_approve,
            common,
        } => {
            let choice = apply_cmd::Choices {
                no_verify,
                force_verify: verify,
                auto_approve,
            };
            apply_cmd::run(&paths, choice, &common).await
        }
        Command::Verify { paths, common } => verify_cmd::run(&paths, &common).await,
        Command::Emulator(args) => simple::emulator(args).await,
        Command::Completions { shell } => simple::completions(shell),
        Command::Man => simple::man(),
    }
}

/// The renderer for a command's options.
fn reporter(common: &CommonArgs) -> Arc<Reporter> {
    Arc::new(Reporter::new(common.output, want_color()))
}

/// The engine's event sink: the renderer.
fn sink(reporter: &Arc<Reporter>) -> crate::engine::EmitEvent {
    let reporter = reporter.clone();
    Arc::new(move |e| reporter.emit(e))
}

/// How the engine connects, from the command line.
fn connect_options(common: &CommonArgs) -> Connect {
    Connect {
        cloud: common.cloud.clone(),
        auth: common.auth,
        pacing: !common.no_pacing,
        emulator: common.emulator.then(|| Embedded {
            world: common.world.clone(),
            reset: common.reset_emulator,
            state_file: None,
        }),
    }
}

/// Opens the engine on `paths` with events drawn by a renderer for `common.output`; on failure
/// the error is already shown.
async fn open_engine(
    paths: &[PathBuf],
    common: &CommonArgs,
) -> Result<(Engine, Arc<Reporter>), ExitCode> {
    let reporter = reporter(common);
    match Engine::open(
        paths,
        connect_options(common),
        common.parallelism,
        sink(&reporter),
    )
    .await
    {
        Ok(engine) => Ok((engine, reporter)),
        Err(e) => Err(fail(&reporter, e)),
    }
}

/// Shows a run-stopping error (a diagnostic for people, an `error` event for JSON) and returns
/// exit code 1.
fn fail(reporter: &Reporter, err: impl miette::Diagnostic + Send + Sync + 'static) -> ExitCode {
    reporter.emit(RunEvent::error(&miette::Report::new(err)).into());
    ExitCode::Error
}

/// The exit code of a run's status (documented in `--help` and the README).
fn exit_code(status: Status) -> ExitCode {
    match status {
        Status::Ok => ExitCode::Ok,
        Status::VerifyFailed => ExitCode::VerifyFailed,
        Status::Failed => ExitCode::Error,
        Status::Interrupted => ExitCode::Interrupted,
    }
}
