//! keyless command-line entry point.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = keyless::cli::Cli::parse();
    keyless::cli::run(cli).await.into()
}
