//! The `hersys` command line (docs/contract.md): `serve`, `migrate`, `seed`,
//! `export-schema`; for operators `account add`, `health-centre add|update`
//! and `facility add|update`. Every flag of the server also reads an
//! environment variable.

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Secret};
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(name = "hersys", version, about = "HER-SYS: the GraphQL gateway of a COVID-19 case information system")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the gateway (applies pending migrations first).
    Serve(Box<ServeArgs>),
    /// Applies pending migrations and exits.
    Migrate(DatabaseArgs),
    /// Loads a data set and exits.
    Seed(SeedArgs),
    /// Prints the federation subgraph SDL (schema/hersys.graphql).
    ExportSchema(ExportSchemaArgs),
    /// Manages accounts from the command line (for the first administrator).
    #[command(subcommand)]
    Account(AccountCommand),
    /// Adds and changes health centres (each with its organisation).
    #[command(subcommand)]
    HealthCentre(HealthCentreCommand),
    /// Adds and changes medical institutions (with their organisation when
    /// they enter their own data).
    #[command(subcommand)]
    Facility(FacilityCommand),
    /// Prints the authorisation matrix (docs/authorisation.md).
    AuthorisationMatrix,
    /// Sends a file of registrations and test results (CSV or a FHIR
    /// bundle) to a running gateway, with a progress bar, and prints its
    /// report: a facility's nightly batch. The session token of the
    /// importing account is read from `HERSYS_TOKEN`, never from a flag. Exits 0 when
    /// every item was accepted or already there, 2 when some were refused.
    Import(crate::import_client::ImportArgs),
}

#[derive(Debug, Args)]
pub struct ExportSchemaArgs {
    /// Print the plain API schema instead, without federation fields, for
    /// frontend code generators (schema/hersys.api.graphql).
    #[arg(long)]
    pub api: bool,
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Creates a system administrator account in the operator's
    /// organisation. The password is read from `HERSYS_ACCOUNT_PASSWORD`,
    /// or else from the first line of standard input; it is never a flag, so
    /// it stays out of shell history and process lists.
    Add(AccountAddArgs),
}

#[derive(Debug, Args)]
pub struct AccountAddArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Username of the new administrator.
    #[arg(long)]
    pub username: String,
}

#[derive(Debug, Subcommand)]
pub enum HealthCentreCommand {
    /// Adds a health centre and its organisation; prints its ID and the
    /// organisation's (for `createAccount`).
    Add(HealthCentreAddArgs),
    /// Changes the names of a health centre (its organisation is renamed
    /// with it).
    Update(HealthCentreUpdateArgs),
}

#[derive(Debug, Args)]
pub struct HealthCentreAddArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Public code, unique among health centres: 1 to 20 ASCII letters,
    /// digits and hyphens.
    #[arg(long)]
    pub code: String,
    /// English name (also the organisation's).
    #[arg(long)]
    pub name: String,
    /// Japanese name.
    #[arg(long)]
    pub name_ja: String,
    /// JIS code of the prefecture it lies in, "01" to "47".
    #[arg(long)]
    pub prefecture_code: String,
}

#[derive(Debug, Args)]
pub struct HealthCentreUpdateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The health centre's ID.
    #[arg(long)]
    pub id: i64,
    /// New English name.
    #[arg(long)]
    pub name: Option<String>,
    /// New Japanese name.
    #[arg(long)]
    pub name_ja: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum FacilityCommand {
    /// Adds a medical institution (and its organisation when it has system
    /// access); prints its ID.
    Add(FacilityAddArgs),
    /// Changes the names of a facility or whether it has system access.
    Update(FacilityUpdateArgs),
}

/// What kind of medical institution a facility is.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FacilityKindArg {
    /// Outpatient clinic that tests.
    TestingClinic,
    /// Local outpatient or testing centre.
    TestingCentre,
    /// Hospital that admits patients.
    Hospital,
}

impl From<FacilityKindArg> for entity::enums::FacilityKind {
    fn from(kind: FacilityKindArg) -> Self {
        match kind {
            FacilityKindArg::TestingClinic => entity::enums::FacilityKind::TestingClinic,
            FacilityKindArg::TestingCentre => entity::enums::FacilityKind::TestingCentre,
            FacilityKindArg::Hospital => entity::enums::FacilityKind::Hospital,
        }
    }
}

#[derive(Debug, Args)]
pub struct FacilityAddArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Public code, unique among facilities: 1 to 20 ASCII letters, digits
    /// and hyphens.
    #[arg(long)]
    pub code: String,
    /// English name (also its organisation's).
    #[arg(long)]
    pub name: String,
    /// Japanese name.
    #[arg(long)]
    pub name_ja: String,
    /// What kind of facility it is.
    #[arg(long, value_enum)]
    pub kind: FacilityKindArg,
    /// The ID of the health centre whose district covers it.
    #[arg(long)]
    pub health_centre_id: i64,
    /// Whether it enters its own data (and gets an organisation for its
    /// staff accounts): `true` or `false`.
    #[arg(long, action = clap::ArgAction::Set)]
    pub has_system_access: bool,
}

#[derive(Debug, Args)]
pub struct FacilityUpdateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The facility's ID.
    #[arg(long)]
    pub id: i64,
    /// New English name.
    #[arg(long)]
    pub name: Option<String>,
    /// New Japanese name.
    #[arg(long)]
    pub name_ja: Option<String>,
    /// Whether it enters its own data: `true` or `false`.
    #[arg(long)]
    pub has_system_access: Option<bool>,
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://hersys.db?mode=rwc", hide_env_values = true)]
    pub database_url: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HERSYS_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Load the demo data set (idempotent) before serving; refused on a
    /// database with accounts of its own (`hersys seed --demo --force`).
    #[arg(long)]
    pub demo: bool,
    /// Largest number of pooled database connections (default: 4 per core).
    #[arg(long, env = "HERSYS_DB_MAX_CONNECTIONS")]
    pub db_max_connections: Option<u32>,
    /// Minutes a session may stay unused before it ends.
    #[arg(long, env = "HERSYS_SESSION_IDLE_MINUTES", default_value_t = 30)]
    pub session_idle_minutes: u64,
    /// Hours a session lasts at most.
    #[arg(long, env = "HERSYS_SESSION_LIFETIME_HOURS", default_value_t = 12)]
    pub session_lifetime_hours: u64,
    /// Milliseconds a resolved session is reused before its token is looked
    /// up again; a session ended through another replica works here for at
    /// most this long (0: look it up on every request)
    #[arg(long, env = "HERSYS_SESSION_CACHE_MS", default_value_t = 1000)]
    pub session_cache_ms: u64,
    /// Do not serve the in-browser IDE on GET /graphql.
    #[arg(long, env = "HERSYS_NO_IDE")]
    pub no_ide: bool,
    /// Do not serve the health-centre console on GET /console.
    #[arg(long, env = "HERSYS_NO_CONSOLE")]
    pub no_console: bool,
    /// Refuse introspection queries.
    #[arg(long, env = "HERSYS_NO_INTROSPECTION")]
    pub no_introspection: bool,
    /// Highest allowed operation complexity (one per field, lists weighted
    /// by their page size).
    #[arg(long, env = "HERSYS_MAX_COMPLEXITY", default_value_t = 1_000_000)]
    pub max_complexity: usize,
    /// Largest answer of one operation (or batch), in bytes of JSON; a
    /// larger one is replaced by an error naming the limit.
    #[arg(long, env = "HERSYS_MAX_RESPONSE_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_response_bytes: usize,
    /// Most cells (before suppression) of one cross-tabulation.
    #[arg(long, env = "HERSYS_MAX_CROSSTAB_CELLS", default_value_t = crate::config::DEFAULT_MAX_CROSSTAB_CELLS)]
    pub max_crosstab_cells: usize,
    /// Most health reports a patient may submit themself in one day
    /// (Japan time).
    #[arg(long, env = "HERSYS_MAX_HEALTH_REPORTS_PER_DAY", default_value_t = 24)]
    pub max_health_reports_per_day: u64,
    /// Deepest allowed operation nesting.
    #[arg(long, env = "HERSYS_MAX_DEPTH", default_value_t = 16)]
    pub max_depth: usize,
    /// Most aliases per operation.
    #[arg(long, env = "HERSYS_MAX_ALIASES", default_value_t = 50)]
    pub max_aliases: usize,
    /// Most root fields per operation.
    #[arg(long, env = "HERSYS_MAX_ROOT_FIELDS", default_value_t = 20)]
    pub max_root_fields: usize,
    /// Most operations in one JSON batch.
    #[arg(long, env = "HERSYS_MAX_BATCH_OPERATIONS", default_value_t = 10)]
    pub max_batch_operations: usize,
    /// Most operations running at once on one WebSocket.
    #[arg(long, env = "HERSYS_MAX_STREAMS_PER_SOCKET", default_value_t = 10)]
    pub max_streams_per_socket: usize,
    /// Most WebSocket connections and Server-Sent Events streams one
    /// account (or patient) may hold open at once.
    #[arg(long, env = "HERSYS_MAX_SOCKETS_PER_ACCOUNT", default_value_t = 32)]
    pub max_sockets_per_account: usize,
    /// Most events a subscription replays after its `after` cursor.
    #[arg(long, env = "HERSYS_REPLAY_WINDOW", default_value_t = 10_000)]
    pub replay_window: u64,
    /// Items of an import written at once (on PostgreSQL; SQLite writes
    /// one at a time).
    #[arg(long, env = "HERSYS_IMPORT_WORKERS", default_value_t = 8)]
    pub import_workers: usize,
    /// Time of day (Japan time, HH:MM) of the daily publication: the
    /// open-data files are as of it.
    #[arg(long, env = "HERSYS_PUBLICATION_TIME", default_value = "00:00", value_parser = parse_time_of_day)]
    pub publication_time: chrono::NaiveTime,
    /// Seconds between an open stream's own lookups of its session (ending
    /// a session ends its streams at once; this is the safety net).
    #[arg(long, env = "HERSYS_SESSION_CHECK_SECONDS", default_value_t = 60)]
    pub session_check_seconds: u64,
    /// Requests per second each client address may sustain (0: no limit).
    #[arg(long, env = "HERSYS_RATE_LIMIT_ADDRESS", default_value_t = 200.0)]
    pub rate_limit_address: f64,
    /// Requests a client address may send at once.
    #[arg(long, env = "HERSYS_RATE_LIMIT_ADDRESS_BURST", default_value_t = 400.0)]
    pub rate_limit_address_burst: f64,
    /// Requests per second each account may sustain (0: no limit).
    #[arg(long, env = "HERSYS_RATE_LIMIT_ACCOUNT", default_value_t = 50.0)]
    pub rate_limit_account: f64,
    /// Requests an account may send at once.
    #[arg(long, env = "HERSYS_RATE_LIMIT_ACCOUNT_BURST", default_value_t = 100.0)]
    pub rate_limit_account_burst: f64,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy
    /// that sets it).
    #[arg(long, env = "HERSYS_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Milliseconds a GraphQL request may run before it is stopped.
    #[arg(long, env = "HERSYS_REQUEST_DEADLINE_MS", default_value_t = 15_000)]
    pub request_deadline_ms: u64,
    /// Browser origins allowed to call the API (CORS), comma-separated.
    #[arg(long, env = "HERSYS_CORS_ALLOW_ORIGINS", value_delimiter = ',')]
    pub cors_allow_origins: Vec<String>,
    /// Refuse automatic persisted queries.
    #[arg(long, env = "HERSYS_NO_PERSISTED_QUERIES")]
    pub no_persisted_queries: bool,
    /// Safelist mode: run only the operations of this persisted-query
    /// manifest (Apollo's JSON format).
    #[arg(long, env = "HERSYS_SAFELIST")]
    pub safelist: Option<std::path::PathBuf>,
    /// Failed sign-ins that lock a staff account, or a patient's smartphone
    /// input ID, when each follows the previous within the window.
    #[arg(long, env = "HERSYS_LOCKOUT_FAILURES", default_value_t = 5)]
    pub lockout_failures: i32,
    /// Failed patient sign-ins from one client address that lock patient
    /// sign-in from it.
    #[arg(long, env = "HERSYS_LOCKOUT_ADDRESS_FAILURES", default_value_t = 20)]
    pub lockout_address_failures: i32,
    /// Minutes within which a failed sign-in continues the count of the
    /// previous one.
    #[arg(long, env = "HERSYS_LOCKOUT_WINDOW_MINUTES", default_value_t = 15)]
    pub lockout_window_minutes: u64,
    /// Minutes a lock lasts (a health centre may lift a patient's sooner).
    #[arg(long, env = "HERSYS_LOCKOUT_MINUTES", default_value_t = 15)]
    pub lockout_minutes: u64,
    /// Most password hashes and verifications (argon2id) running at once
    /// (default: one per core).
    #[arg(long, env = "HERSYS_PASSWORD_CONCURRENCY")]
    pub password_concurrency: Option<usize>,
    /// Milliseconds a sign-in or password change waits for its turn at the
    /// password work before it is refused with RATE_LIMITED.
    #[arg(long, env = "HERSYS_PASSWORD_WAIT_MS", default_value_t = 2000)]
    pub password_wait_ms: u64,
    /// Serve /metrics only on this address (e.g. an internal interface),
    /// not on --addr.
    #[arg(long, env = "HERSYS_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Answer /metrics only to `Authorization: Bearer <token>` (at least 16
    /// characters; set it in the environment, which process lists do not
    /// show).
    #[arg(long, env = "HERSYS_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,
    /// A streaming replica (PostgreSQL standby) of the database, for
    /// figures as of a past moment and analysts' lists; repeat the flag
    /// (or separate URLs with commas in the environment) for several.
    #[arg(long, env = "HERSYS_READ_DATABASE_URL", value_delimiter = ',', hide_env_values = true)]
    pub read_database_url: Vec<String>,
    /// Milliseconds an analyst's list read from a replica may lag the
    /// primary; 0 reads lists from the primary only.
    #[arg(long, env = "HERSYS_REPLICA_LIST_LAG_MS", default_value_t = 2000)]
    pub replica_list_lag_ms: u64,
    /// From this day (YYYY-MM-DD, Japan time) only people aged 65 or over,
    /// needing admission, at risk and needing treatment, or pregnant (and
    /// deaths) are notified individually; facilities report the others as
    /// daily counts by age band (`reportDailyCounts`). Unset: every case is
    /// notified individually.
    #[arg(long, env = "HERSYS_LIMITED_NOTIFICATION_FROM")]
    pub limited_notification_from: Option<chrono::NaiveDate>,
    /// From this time of day (HH:MM, Japan time), a patient in care who
    /// has sent no health report that day is put on their health centre's
    /// queue and announced live (`NOT_REPORTED`).
    #[arg(long, env = "HERSYS_NOT_REPORTED_BY", default_value = "12:00", value_parser = parse_time_of_day)]
    pub not_reported_by: chrono::NaiveTime,
    /// Minutes after a positive result whose care setting is still
    /// undecided it is put on the health centre's queue and announced live
    /// (`UNDECIDED_POSITIVE`).
    #[arg(long, env = "HERSYS_UNDECIDED_AFTER_MINUTES", default_value_t = 360, value_parser = clap::value_parser!(u32).range(1..=10080))]
    pub undecided_after_minutes: u32,
    /// Seconds between two rounds of the watch that looks for both.
    #[arg(long, env = "HERSYS_WATCH_INTERVAL_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub watch_interval_secs: u64,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Load the demo data set of the public contract (refused on a database
    /// with accounts of its own, unless --force).
    #[arg(long)]
    pub demo: bool,
    /// Load the demo data set even into a database with accounts that are
    /// not the demo data set's.
    #[arg(long, requires = "demo")]
    pub force: bool,
    /// Load a deterministic synthetic data set in the shape of a wave. The
    /// generator is the tools binary's (`hersys-tools seed-synthetic`, built
    /// beside this one by `cargo build`): this runs it.
    #[arg(long, conflicts_with = "demo")]
    pub synthetic: bool,
    /// Patients of the synthetic data set.
    #[arg(long, default_value_t = 10_000, requires = "synthetic")]
    pub patients: u64,
    /// Seed of the synthetic data set: the same seed and size give the same data.
    #[arg(long, default_value_t = 2020, requires = "synthetic")]
    pub seed: u64,
}

impl ServeArgs {
    /// The configuration these settings give. A value the gateway cannot
    /// use (zero where zero means nothing, a negative rate, an origin that
    /// is not one) is an error naming the setting, never silently replaced.
    pub fn config(&self) -> anyhow::Result<Config> {
        use std::time::Duration;
        let mut config = Config::new(self.addr, Secret::new(self.database.database_url.clone()));
        if let Some(max) = self.db_max_connections {
            config.db_max_connections = at_least("db_max_connections", max, 1)?;
        }
        config.session_idle_timeout =
            Duration::from_secs(at_least("session_idle_minutes", self.session_idle_minutes, 1)? * 60);
        config.session_absolute_lifetime =
            Duration::from_secs(at_least("session_lifetime_hours", self.session_lifetime_hours, 1)? * 3600);
        config.session_cache = Duration::from_millis(self.session_cache_ms);
        config.ide = !self.no_ide;
        config.console = !self.no_console;
        config.introspection = !self.no_introspection;
        config.max_complexity = at_least("max_complexity", self.max_complexity, 1)?;
        config.max_depth = at_least("max_depth", self.max_depth, 1)?;
        config.max_health_reports_per_day = at_least("max_health_reports_per_day", self.max_health_reports_per_day, 1)?;
        config.max_crosstab_cells = at_least("max_crosstab_cells", self.max_crosstab_cells, 1)?;
        config.max_response_bytes = at_least("max_response_bytes", self.max_response_bytes, 1024)?;
        config.max_aliases = self.max_aliases;
        config.max_root_fields = at_least("max_root_fields", self.max_root_fields, 1)?;
        config.max_batch_operations = at_least("max_batch_operations", self.max_batch_operations, 1)?;
        config.max_streams_per_socket = at_least("max_streams_per_socket", self.max_streams_per_socket, 1)?;
        config.max_sockets_per_account = at_least("max_sockets_per_account", self.max_sockets_per_account, 1)?;
        config.replay_window = self.replay_window;
        config.import_workers = at_least("import_workers", self.import_workers, 1)?;
        config.publication_time = self.publication_time;
        config.session_check_interval =
            Duration::from_secs(at_least("session_check_seconds", self.session_check_seconds, 1)?);
        let rate = |id: &str, per_second: f64, burst_id: &str, burst: f64| -> anyhow::Result<_> {
            let per_second = at_least(id, finite(id, per_second)?, 0.0)?;
            let burst = at_least(burst_id, finite(burst_id, burst)?, 1.0)?;
            Ok((per_second > 0.0).then_some(crate::pipeline::ratelimit::Rate { per_second, burst }))
        };
        config.rate_limit_per_address = rate(
            "rate_limit_address",
            self.rate_limit_address,
            "rate_limit_address_burst",
            self.rate_limit_address_burst,
        )?;
        config.rate_limit_per_account = rate(
            "rate_limit_account",
            self.rate_limit_account,
            "rate_limit_account_burst",
            self.rate_limit_account_burst,
        )?;
        config.trust_forwarded_for = self.trust_forwarded_for;
        config.request_deadline = Duration::from_millis(at_least("request_deadline_ms", self.request_deadline_ms, 1)?);
        config.cors_allowed_origins = self
            .cors_allow_origins
            .iter()
            .filter(|origin| !origin.trim().is_empty())
            .map(|origin| crate::config::parse_origin(origin))
            .collect::<Result<_, _>>()
            .map_err(|why| anyhow::anyhow!("{}: {why}", setting("cors_allow_origins")))?;
        config.persisted_queries = !self.no_persisted_queries;
        config.lockout_threshold = at_least("lockout_failures", self.lockout_failures, 1)?;
        config.lockout_address_threshold = at_least("lockout_address_failures", self.lockout_address_failures, 1)?;
        config.lockout_window =
            Duration::from_secs(at_least("lockout_window_minutes", self.lockout_window_minutes, 1)? * 60);
        config.lockout_duration = Duration::from_secs(at_least("lockout_minutes", self.lockout_minutes, 1)? * 60);
        if let Some(concurrency) = self.password_concurrency {
            config.password_concurrency = at_least("password_concurrency", concurrency, 1)?;
        }
        config.password_wait = Duration::from_millis(self.password_wait_ms);
        if let Some(path) = &self.safelist {
            let manifest = std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read {}", setting("safelist"), path.display()))?;
            config.safelist = Some(std::sync::Arc::new(
                crate::pipeline::persisted::read_manifest(&manifest)
                    .with_context(|| format!("{}: {}", setting("safelist"), path.display()))?,
            ));
        }
        if let Some(metrics_addr) = self.metrics_addr {
            if metrics_addr == self.addr && metrics_addr.port() != 0 {
                anyhow::bail!("{} is the address of --addr: give /metrics another one", setting("metrics_addr"));
            }
            config.metrics_addr = Some(metrics_addr);
        }
        for url in &self.read_database_url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                anyhow::bail!(
                    "{} must be a postgres:// URL: a read replica is a PostgreSQL standby",
                    setting("read_database_url")
                );
            }
        }
        config.read_database_urls = self.read_database_url.iter().cloned().map(Secret::new).collect();
        config.replica_list_lag = Duration::from_millis(self.replica_list_lag_ms);
        config.limited_notification_from = self.limited_notification_from;
        config.not_reported_by = self.not_reported_by;
        config.undecided_after = Duration::from_secs(u64::from(self.undecided_after_minutes) * 60);
        config.watch_interval = Duration::from_secs(self.watch_interval_secs);
        if let Some(token) = &self.metrics_token {
            let length = token.expose().chars().count();
            if length < 16 || token.expose().chars().any(|c| !c.is_ascii_graphic()) {
                anyhow::bail!(
                    "{} must be at least 16 visible ASCII characters without spaces (it has {length} characters)",
                    setting("metrics_token")
                );
            }
            config.metrics_token = Some(token.clone());
        }
        Ok(config)
    }
}

/// A setting of `serve` as an operator writes it: its flag and its
/// environment variable, e.g. `--max-depth (HERSYS_MAX_DEPTH)`.
fn setting(id: &str) -> String {
    let command = ServeArgs::augment_args(clap::Command::new("serve"));
    let Some(arg) = command.get_arguments().find(|arg| arg.get_id() == id) else { return id.to_owned() };
    match (arg.get_long(), arg.get_env()) {
        (Some(long), Some(env)) => format!("--{long} ({})", env.to_string_lossy()),
        (Some(long), None) => format!("--{long}"),
        _ => id.to_owned(),
    }
}

/// `value` when it is at least `least`; otherwise an error naming the
/// setting.
fn at_least<T: PartialOrd + std::fmt::Display>(id: &str, value: T, least: T) -> anyhow::Result<T> {
    if value >= least { Ok(value) } else { anyhow::bail!("{} must be at least {least}, not {value}", setting(id)) }
}

/// `value` when it is a finite number; otherwise an error naming the
/// setting.
fn finite(id: &str, value: f64) -> anyhow::Result<f64> {
    if value.is_finite() { Ok(value) } else { anyhow::bail!("{} must be a number, not {value}", setting(id)) }
}

/// Environment variables the binary reads that are not settings of a
/// command: the log format, the password of `account add`, and the commit
/// recorded at build time (harmless when also set at run time).
const OTHER_VARIABLES: [&str; 4] =
    ["HERSYS_LOG_FORMAT", "HERSYS_ACCOUNT_PASSWORD", "HERSYS_BUILD_COMMIT", "HERSYS_TOOLS_BIN"];

/// Every `HERSYS_…` environment variable the binary knows: those of every
/// command's settings, and `OTHER_VARIABLES`.
pub fn known_variables() -> std::collections::BTreeSet<String> {
    fn collect(command: &clap::Command, known: &mut std::collections::BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                known.insert(env.to_string_lossy().into_owned());
            }
        }
        for subcommand in command.get_subcommands() {
            collect(subcommand, known);
        }
    }
    let mut known: std::collections::BTreeSet<String> = OTHER_VARIABLES.iter().map(|v| (*v).to_owned()).collect();
    collect(&<Cli as clap::CommandFactory>::command(), &mut known);
    known.retain(|name| name.starts_with("HERSYS_"));
    known
}

/// Refuses `HERSYS_…` variables no setting has (a misspelt setting would
/// otherwise be silently ignored), naming each, with the nearest known
/// name when one is close.
pub fn refuse_unknown_variables(
    environment: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> anyhow::Result<()> {
    let known = known_variables();
    let unknown: Vec<String> = environment
        .into_iter()
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .filter(|name| name.starts_with("HERSYS_") && !known.contains(name))
        .map(|name| match known.iter().min_by_key(|k| distance(k, &name)).filter(|k| distance(k, &name) <= 3) {
            Some(near) => format!("{name} (did you mean {near}?)"),
            None => name,
        })
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "unknown setting{} in the environment: {}; hersys has no setting of that name (`hersys serve --help` \
         lists every setting with its variable)",
        if unknown.len() == 1 { "" } else { "s" },
        unknown.join(", ")
    )
}

/// The edit distance between two names (insertions, deletions and
/// substitutions of one character).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Parses the command line; a refused value of a setting that came from
/// its environment variable says so (clap names only the flag).
pub fn parse() -> Cli {
    let error = match Cli::try_parse() {
        Ok(cli) => return cli,
        Err(error) => error,
    };
    let _ = error.print();
    if matches!(error.kind(), clap::error::ErrorKind::InvalidValue | clap::error::ErrorKind::ValueValidation)
        && let Some(clap::error::ContextValue::String(invalid)) = error.get(clap::error::ContextKind::InvalidArg)
        && let Some(variable) = variable_of(invalid)
    {
        eprintln!("The value comes from the environment variable {variable}.");
    }
    std::process::exit(error.exit_code())
}

/// The environment variable of the `serve` flag clap names as `invalid`
/// (`--max-depth <MAX_DEPTH>`) when that variable is set and the flag was
/// not given.
fn variable_of(invalid: &str) -> Option<String> {
    let long = invalid.split_whitespace().next()?.strip_prefix("--")?;
    let command = ServeArgs::augment_args(clap::Command::new("serve"));
    let arg = command.get_arguments().find(|arg| arg.get_long() == Some(long))?;
    let variable = arg.get_env()?.to_string_lossy().into_owned();
    let flag = format!("--{long}");
    let given = std::env::args().any(|a| a == flag || a.starts_with(&format!("{flag}=")));
    (!given && std::env::var_os(&variable).is_some()).then_some(variable)
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            refuse_unknown_variables(std::env::vars_os())?;
            let app = Application::build(args.config()?).await?;
            if args.demo {
                crate::services::demo::seed_demo(&app.state.db).await.context("loading the demo data set")?;
                eprintln!("{}", crate::services::demo::WARNING);
            }
            let addr = app.addr();
            tracing::info!(%addr, "HER-SYS gateway listening");
            if let Some(metrics) = app.metrics_addr() {
                tracing::info!(addr = %metrics, "metrics served on their own address");
            }
            eprintln!("HER-SYS gateway on http://{addr}/graphql (IDE in the browser; POST for queries)");
            if args.demo {
                eprintln!(
                    "Demo data loaded. Sign in with the mutation login(username: \"hc1\", password: \"{}\") \
                     and send the token as `Authorization: Bearer <token>`.",
                    crate::services::demo::DEMO_PASSWORD
                );
                eprintln!("{}", crate::services::demo::WARNING);
            }
            app.run().await
        }
        Command::Migrate(args) => {
            let config = Config::new(([127, 0, 0, 1], 0).into(), Secret::new(args.database_url));
            let db = crate::db::connect(&config, Default::default()).await?;
            crate::db::migrate(&db).await?;
            crate::services::demo::ensure_prefectures(&db).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Seed(args) => {
            if args.synthetic {
                return seed_synthetic(&args);
            }
            if !args.demo {
                anyhow::bail!("say which data set to load: --demo or --synthetic");
            }
            let config = Config::new(([127, 0, 0, 1], 0).into(), Secret::new(args.database.database_url));
            let db = crate::db::connect(&config, Default::default()).await?;
            crate::db::migrate(&db).await?;
            crate::services::demo::seed_demo_with(&db, args.force).await?;
            eprintln!("demo data set loaded");
            eprintln!("{}", crate::services::demo::WARNING);
            Ok(())
        }
        Command::Account(AccountCommand::Add(args)) => {
            let password = match std::env::var("HERSYS_ACCOUNT_PASSWORD") {
                Ok(password) => password,
                Err(_) => {
                    eprintln!("password for {} (one line on standard input):", args.username);
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let state = command_line_state(args.database.database_url).await?;
            let operator = crate::services::accounts::operator_organisation(&state).await.map_err(describe)?;
            let created = crate::services::accounts::create_account(
                &state,
                crate::services::Actor::CommandLine("hersys account add"),
                &args.username,
                &password,
                operator,
            )
            .await
            .map_err(describe)?;
            eprintln!("created system administrator {} (account {})", created.username, created.id);
            Ok(())
        }
        Command::HealthCentre(command) => health_centre(command).await,
        Command::Facility(command) => facility(command).await,
        Command::AuthorisationMatrix => {
            print!("{}", crate::auth::matrix::markdown());
            Ok(())
        }
        Command::Import(args) => crate::import_client::run(args).await,
        Command::ExportSchema(args) => {
            if args.api {
                print!("{}", crate::graphql::api_sdl());
            } else {
                print!("{}", crate::graphql::subgraph_sdl());
            }
            Ok(())
        }
    }
}

fn describe(error: crate::error::AppError) -> anyhow::Error {
    anyhow::anyhow!("{}", error.message())
}

/// The state a command works on, without serving: the database at `url`,
/// migrated, with its prefectures.
async fn command_line_state(url: String) -> anyhow::Result<crate::state::AppState> {
    let config = Config::new(([127, 0, 0, 1], 0).into(), Secret::new(url));
    let queries = std::sync::Arc::new(crate::db::QueryCounter::default());
    let db = crate::db::connect(&config, queries.clone()).await?;
    crate::db::migrate(&db).await?;
    crate::services::demo::ensure_prefectures(&db).await?;
    let passwords =
        std::sync::Arc::new(crate::auth::password::Gate::new(config.password_concurrency, config.password_wait));
    Ok(crate::state::AppState {
        db,
        passwords,
        config: std::sync::Arc::new(config),
        queries,
        background_queries: Default::default(),
        clock: std::sync::Arc::new(crate::clock::SystemClock),
        hub: std::sync::Arc::new(crate::events::EventHub::new(1)),
        sessions: std::sync::Arc::new(crate::auth::recent::RecentSessions::new(std::time::Duration::ZERO)),
        revocations: Default::default(),
        replicas: std::sync::Arc::new(crate::db::replicas::Replicas::none()),
        lists: Default::default(),
    })
}

/// A refusal of a command's values, naming the flag at fault (`--name-ja`
/// for the API's `input.nameJa`).
fn describe_flags(error: crate::error::AppError) -> anyhow::Error {
    use crate::error::AppError;
    match &error {
        AppError::BadInput { field, message } | AppError::NotFound { field, message } => {
            let name = field.strip_prefix("input.").unwrap_or(field);
            if name == "input" {
                return anyhow::anyhow!("say what changes: {message}");
            }
            let mut flag = String::from("--");
            for c in name.chars() {
                if c.is_ascii_uppercase() {
                    flag.push('-');
                }
                flag.push(c.to_ascii_lowercase());
            }
            anyhow::anyhow!("{flag}: {message}")
        }
        _ => describe(error),
    }
}

/// A command-line value parsed into a domain type, or refused naming its
/// flag.
fn flag<T>(value: Result<T, &'static str>, flag: &str) -> anyhow::Result<T> {
    value.map_err(|why| anyhow::anyhow!("{flag}: {why}"))
}

fn optional_name(raw: Option<&str>, name: &str) -> anyhow::Result<Option<crate::domain::InstitutionName>> {
    raw.map(|raw| flag(crate::domain::InstitutionName::parse(raw), name)).transpose()
}

async fn health_centre(command: HealthCentreCommand) -> anyhow::Result<()> {
    use crate::domain::{InstitutionCode, InstitutionName, PrefectureCode};
    use crate::services::organisations::{self, Actor};
    match command {
        HealthCentreCommand::Add(args) => {
            let new = organisations::NewHealthCentre {
                code: flag(InstitutionCode::parse(&args.code), "--code")?,
                name: flag(InstitutionName::parse(&args.name), "--name")?,
                name_ja: flag(InstitutionName::parse(&args.name_ja), "--name-ja")?,
                prefecture: flag(PrefectureCode::parse(&args.prefecture_code), "--prefecture-code")?,
            };
            let state = command_line_state(args.database.database_url).await?;
            let actor = Actor::CommandLine("hersys health-centre add");
            let (centre, organisation) =
                organisations::create_health_centre(&state, actor, new).await.map_err(describe_flags)?;
            eprintln!(
                "created health centre {} (code {}) with its organisation {}",
                centre.id, centre.code, organisation.id
            );
        }
        HealthCentreCommand::Update(args) => {
            let changes = organisations::HealthCentreChanges {
                name: optional_name(args.name.as_deref(), "--name")?,
                name_ja: optional_name(args.name_ja.as_deref(), "--name-ja")?,
            };
            let state = command_line_state(args.database.database_url).await?;
            let actor = Actor::CommandLine("hersys health-centre update");
            let centre =
                organisations::update_health_centre(&state, actor, args.id, changes).await.map_err(describe_flags)?;
            eprintln!("changed health centre {} (code {})", centre.id, centre.code);
        }
    }
    Ok(())
}

async fn facility(command: FacilityCommand) -> anyhow::Result<()> {
    use crate::domain::{InstitutionCode, InstitutionName};
    use crate::services::organisations::{self, Actor};
    match command {
        FacilityCommand::Add(args) => {
            let new = organisations::NewFacility {
                code: flag(InstitutionCode::parse(&args.code), "--code")?,
                name: flag(InstitutionName::parse(&args.name), "--name")?,
                name_ja: flag(InstitutionName::parse(&args.name_ja), "--name-ja")?,
                kind: args.kind.into(),
                health_centre_id: args.health_centre_id,
                has_system_access: args.has_system_access,
            };
            let state = command_line_state(args.database.database_url).await?;
            let actor = Actor::CommandLine("hersys facility add");
            let (facility, organisation) =
                organisations::create_facility(&state, actor, new).await.map_err(describe_flags)?;
            match organisation {
                Some(organisation) => eprintln!(
                    "created facility {} (code {}) with its organisation {}",
                    facility.id, facility.code, organisation.id
                ),
                None => eprintln!(
                    "created facility {} (code {}), without system access: its health centre enters its data",
                    facility.id, facility.code
                ),
            }
        }
        FacilityCommand::Update(args) => {
            let changes = organisations::FacilityChanges {
                name: optional_name(args.name.as_deref(), "--name")?,
                name_ja: optional_name(args.name_ja.as_deref(), "--name-ja")?,
                has_system_access: args.has_system_access,
            };
            let state = command_line_state(args.database.database_url).await?;
            let actor = Actor::CommandLine("hersys facility update");
            let facility =
                organisations::update_facility(&state, actor, args.id, changes).await.map_err(describe_flags)?;
            eprintln!("changed facility {} (code {})", facility.id, facility.code);
        }
    }
    Ok(())
}

/// `HH:MM`, a time of day.
fn parse_time_of_day(text: &str) -> Result<chrono::NaiveTime, String> {
    chrono::NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| format!("{text:?} is not a time of day as HH:MM"))
}

/// `hersys seed --synthetic`: runs the generator of the tools binary
/// (`hersys-tools seed-synthetic`, or the one `HERSYS_TOOLS_BIN` names),
/// which the server does not carry.
fn seed_synthetic(args: &SeedArgs) -> anyhow::Result<()> {
    let tools = match std::env::var_os("HERSYS_TOOLS_BIN") {
        Some(path) => std::path::PathBuf::from(path),
        None => std::env::current_exe()?.with_file_name(format!("hersys-tools{}", std::env::consts::EXE_SUFFIX)),
    };
    if !tools.is_file() {
        anyhow::bail!(
            "the synthetic data set is made by the tools binary, not found at {}: build it with \
             `cargo build --workspace` (or name it with HERSYS_TOOLS_BIN)",
            tools.display()
        );
    }
    let status = std::process::Command::new(&tools)
        .arg("seed-synthetic")
        .arg("--patients")
        .arg(args.patients.to_string())
        .arg("--seed")
        .arg(args.seed.to_string())
        .env("DATABASE_URL", &args.database.database_url)
        .status()?;
    anyhow::ensure!(status.success(), "the synthetic data set was not loaded ({status})");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(names: &[&str]) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
        names.iter().map(|name| ((*name).into(), "1".into())).collect()
    }

    #[test]
    fn every_setting_variable_is_known_and_others_are_refused_by_name() {
        let known = known_variables();
        for name in ["HERSYS_ADDR", "HERSYS_MAX_DEPTH", "HERSYS_METRICS_TOKEN", "HERSYS_LOG_FORMAT"] {
            assert!(known.contains(name), "{name} in {known:?}");
        }
        assert!(!known.contains("DATABASE_URL"), "only HERSYS_ variables are checked");
        assert!(refuse_unknown_variables(environment(&["HERSYS_ADDR", "PATH", "HERSYSX"])).is_ok());
        let refused = refuse_unknown_variables(environment(&["HERSYS_MAX_DEPHT", "HERSYS_NOT_A_SETTING"]))
            .expect_err("unknown variables")
            .to_string();
        assert!(refused.contains("HERSYS_MAX_DEPHT (did you mean HERSYS_MAX_DEPTH?)"), "{refused}");
        assert!(refused.contains("HERSYS_NOT_A_SETTING"), "{refused}");
    }

    fn serve(args: &[&str]) -> anyhow::Result<Config> {
        let mut argv = vec!["hersys", "serve"];
        argv.extend_from_slice(args);
        let Command::Serve(serve) = Cli::try_parse_from(argv)?.command else { unreachable!("serve") };
        serve.config()
    }

    #[test]
    fn values_the_gateway_cannot_use_are_refused_naming_the_setting() {
        let config = serve(&[]).expect("the defaults");
        assert!(config.rate_limit_per_address.is_some() && config.cors_allowed_origins.is_empty());
        assert!(serve(&["--rate-limit-address", "0"]).expect("0 turns it off").rate_limit_per_address.is_none());
        for (args, named) in [
            (&["--max-batch-operations", "0"][..], "--max-batch-operations (HERSYS_MAX_BATCH_OPERATIONS)"),
            (&["--session-idle-minutes", "0"], "HERSYS_SESSION_IDLE_MINUTES"),
            (&["--max-response-bytes", "100"], "HERSYS_MAX_RESPONSE_BYTES"),
            (&["--rate-limit-account=-1"], "HERSYS_RATE_LIMIT_ACCOUNT"),
            (&["--rate-limit-address", "NaN"], "HERSYS_RATE_LIMIT_ADDRESS"),
            (&["--lockout-failures=-3"], "HERSYS_LOCKOUT_FAILURES"),
            (&["--cors-allow-origins", "https://ok.example,https://bad.example/"], "HERSYS_CORS_ALLOW_ORIGINS"),
            (&["--cors-allow-origins", "*"], "HERSYS_CORS_ALLOW_ORIGINS"),
            (&["--metrics-token", "short"], "HERSYS_METRICS_TOKEN"),
            (&["--addr", "127.0.0.1:9000", "--metrics-addr", "127.0.0.1:9000"], "HERSYS_METRICS_ADDR"),
        ] {
            let refused = serve(args).expect_err(&format!("{args:?} accepted")).to_string();
            assert!(refused.contains(named), "{args:?}: {refused}");
        }
        let origins = serve(&["--cors-allow-origins", "https://a.example, http://localhost:3000"]).expect("origins");
        assert_eq!(origins.cors_allowed_origins, ["https://a.example", "http://localhost:3000"]);
        let refused = serve(&["--metrics-token", "short"]).expect_err("a short token").to_string();
        assert!(!refused.contains("short"), "the token is not printed: {refused}");
    }

    #[test]
    fn edit_distance() {
        assert_eq!(distance("HERSYS_ADDR", "HERSYS_ADDR"), 0);
        assert_eq!(distance("HERSYS_ADDR", "HERSYS_ADR"), 1);
        assert_eq!(distance("abc", ""), 3);
    }
}
