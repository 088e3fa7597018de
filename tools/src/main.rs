//! The `hersys-tools` binary: parse the command line and hand over.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    hersys::telemetry::init();
    let cli = hersys_tools::cli::Cli::parse();
    let result = hersys_tools::cli::run(cli).await;
    hersys::telemetry::shutdown();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", hersys::redact::redact(&format!("{error:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}
