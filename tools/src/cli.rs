//! The `hersys-tools` command line: `bench subscriptions|statistics|load|import`
//! and `seed-synthetic`.

use clap::{Args, Parser, Subcommand};
use hersys::config::{Config, Secret};

#[derive(Debug, Parser)]
#[command(name = "hersys-tools", version, about = "Load benchmarks and a synthetic data set for the HER-SYS gateway")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load benchmarks against a gateway this command starts (the `hersys`
    /// binary next to this one, or the one named in `HERSYS_BIN`).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Loads a deterministic synthetic data set in the shape of a wave and
    /// exits.
    SeedSynthetic(SeedSyntheticArgs),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Live positive results: N subscriptions, positives at a rate.
    Subscriptions(crate::bench::subscriptions::Options),
    /// Statistics on a synthetic data set (seeded first if missing).
    Statistics(crate::bench::statistics::Options),
    /// Throughput, latency and CPU per request of the real workloads over
    /// HTTP, and the dashboard's SQL timed alone.
    Load(crate::bench::load::Options),
    /// A testing centre's file of N rows imported through `POST
    /// /import/csv`, several times: seconds, rows per second, memory.
    Import(crate::bench::import::Options),
}

#[derive(Debug, Args)]
pub struct SeedSyntheticArgs {
    #[command(flatten)]
    pub database: hersys::cli::DatabaseArgs,
    /// Patients of the synthetic data set.
    #[arg(long, default_value_t = 10_000)]
    pub patients: u64,
    /// Seed of the synthetic data set: the same seed and size give the same data.
    #[arg(long, default_value_t = 2020)]
    pub seed: u64,
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Bench(BenchCommand::Subscriptions(options)) => crate::bench::subscriptions::run(options).await,
        Command::Bench(BenchCommand::Statistics(options)) => crate::bench::statistics::run(options).await,
        Command::Bench(BenchCommand::Load(options)) => crate::bench::load::run(options).await,
        Command::Bench(BenchCommand::Import(options)) => crate::bench::import::run(options).await,
        Command::SeedSynthetic(args) => {
            let config = Config::new(([127, 0, 0, 1], 0).into(), Secret::new(args.database.database_url));
            let db = hersys::db::connect(&config, Default::default()).await?;
            hersys::db::migrate(&db).await?;
            crate::synthetic::seed(&db, args.patients, args.seed).await
        }
    }
}
