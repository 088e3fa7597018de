//! The `hersys` binary: parse the command line and hand over.

/// mimalloc over the system allocator: measured with
/// `hersys-tools bench subscriptions`, it keeps an idle subscription's memory
/// lower (the system allocator's per-thread arenas hold on to freed memory).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    hersys::telemetry::init();
    let cli = hersys::cli::parse();
    let result = hersys::cli::run(cli).await;
    hersys::telemetry::shutdown();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", hersys::redact::redact(&format!("{error:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}
