//! The emulator's command line, reusable by other binaries (`keyless emulator …` flattens
//! [`EmulatorArgs`] and calls [`run`]).
//!
//! Why in the library: one definition of the flags and of the foreground behaviour (print the
//! client environment, log one line per request, stop on Ctrl-C/SIGTERM) for both binaries.

use crate::start::{Emulator, EmulatorConfig, StartError};
use crate::world::{World, WorldError};
use std::io::Write;
use std::path::PathBuf;

/// Flags of `keyless-emulator` / `keyless emulator`.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// World file (YAML) describing the tenant, subscriptions and resources to emulate.
    #[arg(long, value_name = "FILE")]
    pub world: PathBuf,
    /// Port to listen on (127.0.0.1); 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Write the CA certificate (PEM) clients must trust to FILE.
    #[arg(long, value_name = "FILE")]
    pub ca_out: Option<PathBuf>,
    /// Also write the CA private key (PEM) to FILE, to reuse the CA later with --ca-key.
    #[arg(long, value_name = "FILE")]
    pub ca_key_out: Option<PathBuf>,
    /// Sign the server certificate with this CA certificate (PEM) instead of a fresh CA.
    #[arg(long, value_name = "PEM", requires = "ca_key")]
    pub ca_cert: Option<PathBuf>,
    /// The private key (PEM) of --ca-cert.
    #[arg(long, value_name = "PEM", requires = "ca_cert")]
    pub ca_key: Option<PathBuf>,
    /// Persist the state to FILE after every acknowledged write; load it at start if present.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Print `export K=V` lines for clients (authority, tenant, caller credentials,
    /// subscription, endpoints, CA bundle variables) on stdout, then keep serving.
    #[arg(long)]
    pub print_env: bool,
    /// Do not log one line per request on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// The standalone binary's parser.
#[derive(Debug, clap::Parser)]
#[command(
    name = "keyless-emulator",
    version,
    about = "A local Azure (Entra ID, ARM, Graph, managed identity, Azure OpenAI) for keyless and the official Azure clients."
)]
pub struct Cli {
    /// Emulator flags.
    #[command(flatten)]
    pub args: EmulatorArgs,
}

/// Why `run` failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The world file is invalid (the message carries file:line:col).
    #[error(transparent)]
    World(#[from] WorldError),
    /// Reading a CA file.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Starting the emulator.
    #[error(transparent)]
    Start(#[from] StartError),
    /// Waiting for signals.
    #[error("signal handling: {0}")]
    Signal(std::io::Error),
}

fn read(p: &PathBuf) -> Result<String, CliError> {
    std::fs::read_to_string(p).map_err(|source| CliError::Read {
        path: p.display().to_string(),
        source,
    })
}

/// Quotes a value for POSIX shells (single quotes).
pub fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// Runs an emulator in the foreground until Ctrl-C or SIGTERM.
pub async fn run(args: EmulatorArgs) -> Result<(), CliError> {
    let world = World::load(&args.world)?;
    let mut cfg = EmulatorConfig::new(world);
    cfg.port = args.port;
    cfg.ca_out = args.ca_out.clone();
    cfg.state_file = args.state.clone();
    cfg.log_requests = !args.quiet;
    cfg.dedicated_key = true;
    if let (Some(c), Some(k)) = (&args.ca_cert, &args.ca_key) {
        cfg.ca = Some((read(c)?, read(k)?));
    }
    let emu = Emulator::start(cfg).await?;
    if let Some(p) = &args.ca_key_out {
        let pem = emu.ctx().ca_key_pem.clone();
        write_private(p, &pem).map_err(|source| CliError::Read {
            path: p.display().to_string(),
            source,
        })?;
    }
    eprintln!(
        "keyless-emulator: serving {} (tenant {}), CA {}{}",
        emu.base_url(),
        emu.ctx().tenant_id,
        emu.ca_pem_path().display(),
        args.state
            .as_ref()
            .map(|s| format!(", state {}", s.display()))
            .unwrap_or_default()
    );
    if args.print_env {
        let mut out = std::io::stdout().lock();
        for (k, v) in emu.client_env() {
            let _ = writeln!(out, "export {k}={}", shell_quote(&v));
        }
        let _ = out.flush();
    }
    wait_for_signal().await.map_err(CliError::Signal)?;
    eprintln!("keyless-emulator: stopping");
    emu.shutdown().await;
    Ok(())
}

fn write_private(p: &std::path::Path, pem: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(p)?.write_all(pem.as_bytes())
}

async fn wait_for_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
