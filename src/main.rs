//! The `hersys` binary: parse the command line and hand over.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    hersys::telemetry::init();
    let cli = hersys::cli::Cli::parse();
    match hersys::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
