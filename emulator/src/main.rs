//! `keyless-emulator`: run the local Azure in the foreground (see `keyless_emulator::cli`).

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = keyless_emulator::cli::Cli::parse();
    if let Err(e) = keyless_emulator::cli::run(cli.args).await {
        eprintln!("keyless-emulator: {e}");
        std::process::exit(2);
    }
}
