//! Logging. Human-readable by default, JSON with `HERSYS_LOG_FORMAT=json`;
//! the level comes from `RUST_LOG` (default `info`). Spans and events
//! record IDs, never personal data or tokens.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let json = std::env::var("HERSYS_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if json { builder.json().try_init() } else { builder.try_init() };
    // A second initialisation (tests) keeps the first subscriber.
    let _ = result;
}
