//! Configuration of the gateway: flags and environment, with defaults that
//! run on a bare machine. Secrets are held in `Secret`, which never prints.

use std::net::SocketAddr;
use std::time::Duration;

/// A value that must never reach a log or a `Debug` print.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Cells of one cross-tabulation before suppression, unless configured.
pub const DEFAULT_MAX_CROSSTAB_CELLS: usize = 50_000;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free one (tests).
    pub addr: SocketAddr,
    /// sea-orm connection URL (`sqlite://…` or `postgres://…`). It may carry
    /// a password, so it is a secret.
    pub database_url: Secret,
    /// Largest number of pooled database connections.
    pub db_max_connections: u32,
    /// A session ends after this long without use.
    pub session_idle_timeout: Duration,
    /// A session ends this long after sign-in, used or not.
    pub session_absolute_lifetime: Duration,
    /// How long a resolved session is reused without looking its token up
    /// again (zero: every request looks it up). A session ended through
    /// another replica keeps working here for at most this long.
    pub session_cache: Duration,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest answer of one operation, in bytes (as JSON); a larger one
    /// is not sent: a `QUERY_TOO_COMPLEX` error naming the limit takes its
    /// place.
    pub max_response_bytes: usize,
    /// Most cells (before suppression) of one `crossTab`; a larger table
    /// is refused with `QUERY_TOO_COMPLEX`.
    pub max_crosstab_cells: usize,
    /// Most health reports a patient may submit themself in one day
    /// (Japan time); staff entries are not counted.
    pub max_health_reports_per_day: u64,
    /// Largest `first` of a connection.
    pub max_page_size: u64,
    /// Serve the in-browser IDE on `GET /graphql`.
    pub ide: bool,
    /// Serve the health-centre console on `GET /console`.
    pub console: bool,
    /// Answer introspection queries (switch off in production if clients
    /// use the committed schema files).
    pub introspection: bool,
    /// Deepest allowed nesting of an operation.
    pub max_depth: usize,
    /// Highest allowed complexity: one per field, lists weighted by their
    /// page size.
    pub max_complexity: usize,
    /// Most aliases one operation may use.
    pub max_aliases: usize,
    /// Most root fields one operation may select.
    pub max_root_fields: usize,
    /// Most operations in one JSON batch.
    pub max_batch_operations: usize,
    /// Most operations running at once on one WebSocket.
    pub max_streams_per_socket: usize,
    /// Most streams (WebSocket connections and Server-Sent Events
    /// responses) one account or patient may hold open at once.
    pub max_sockets_per_account: usize,
    /// Most events a subscription replays after its `after` cursor; a
    /// client further behind pages through `positiveResultHistory` first.
    pub replay_window: u64,
    /// The time of day (Japan time) of the daily publication: the open-data
    /// files (and cross-tabulations for publication) are as of it.
    pub publication_time: chrono::NaiveTime,
    /// How often expired idempotency keys and stale sign-in failure counts
    /// are forgotten.
    pub housekeeping_interval: std::time::Duration,
    /// Failed sign-ins within `lockout_window` that lock an account, or a
    /// patient's smartphone input ID.
    pub lockout_threshold: i32,
    /// Failed patient sign-ins from one client address within
    /// `lockout_window` that lock patient sign-in from that address.
    pub lockout_address_threshold: i32,
    /// The window in which failed sign-ins count towards a lock: a failure
    /// within it of the previous one continues the count.
    pub lockout_window: Duration,
    /// How long a locked account, smartphone input ID or address stays
    /// locked.
    pub lockout_duration: Duration,
    /// Most password hashes and verifications running at once.
    pub password_concurrency: usize,
    /// Longest a sign-in (or password change) waits for its turn at the
    /// password work before it is refused with `RATE_LIMITED`.
    pub password_wait: Duration,
    /// Events a live subscriber may fall behind before it is told and
    /// disconnected (it resumes with its cursor).
    pub subscriber_buffer: usize,
    /// How often the outbox is read when no notification arrives (the only
    /// trigger on SQLite).
    pub outbox_poll_interval: Duration,
    /// How often committed statistics deltas are folded into the daily
    /// sums that long-range figures read.
    pub statistics_fold_interval: Duration,
    /// How often an open stream looks its session up again. Ending a
    /// session ends its streams at once (on every replica); this is the
    /// safety net for sessions ended by other means (e.g. by hand in the
    /// database), and refreshes the idle timer of a session kept open by a
    /// stream.
    pub session_check_interval: Duration,
    /// Requests per client address (token bucket); `None`: no limit.
    pub rate_limit_per_address: Option<Rate>,
    /// Requests per signed-in account (token bucket); `None`: no limit.
    pub rate_limit_per_account: Option<Rate>,
    /// Take the client address from the last `X-Forwarded-For` entry (only
    /// behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Longest a GraphQL request may run; past it, it is stopped (a
    /// mutation rolls back) and answered `QUERY_TOO_COMPLEX`.
    pub request_deadline: Duration,
    /// Browser origins allowed to call the API cross-site (CORS); empty:
    /// none.
    pub cors_allowed_origins: Vec<String>,
    /// Accept automatic persisted queries (a query sent once by its text,
    /// then by its SHA-256).
    pub persisted_queries: bool,
    /// Safelist mode: only these operations (SHA-256 of the document →
    /// document) run; `None`: any operation within the limits.
    pub safelist: Option<std::sync::Arc<std::collections::HashMap<String, String>>>,
    /// Trace spans per execution and root field (on when spans are exported
    /// over OTLP, i.e. `OTEL_EXPORTER_OTLP_ENDPOINT` is set).
    pub resolver_spans: bool,
    /// Where `/metrics` is served: `None`, on `addr` with everything else;
    /// otherwise only on this address (port 0 picks a free one).
    pub metrics_addr: Option<SocketAddr>,
    /// The bearer token `/metrics` asks for (`Authorization: Bearer …`);
    /// `None`: it asks for none.
    pub metrics_token: Option<Secret>,
    /// Read replicas (PostgreSQL standbys of the primary): URLs, which may
    /// carry passwords.
    pub read_database_urls: Vec<Secret>,
    /// The most an analyst's list read from a replica may lag the primary.
    pub replica_list_lag: Duration,
    /// From this day (Japan time) only the four groups are notified
    /// individually and facilities report the other positives as daily
    /// counts by age band; none: every case is notified individually.
    pub limited_notification_from: Option<chrono::NaiveDate>,
    /// A latest health report with SpO2 at or below this (%) is a warning sign.
    pub warning_spo2_at_most: i32,
    /// A latest health report with a body temperature at or above this (°C)
    /// is a warning sign.
    pub warning_temperature_at_least: f64,
    /// Items of an import written at once (PostgreSQL).
    pub import_workers: usize,
    /// How often the watch looks for patients not reported and positives
    /// still undecided.
    pub watch_interval: std::time::Duration,
    /// From this time of day (Japan time), a patient in care without a
    /// health report that day is an item of their centre's queue.
    pub not_reported_by: chrono::NaiveTime,
    /// A positive whose care setting is still undecided this long after
    /// the result is an item of its centre's queue.
    pub undecided_after: Duration,
}

impl Config {
    /// Defaults for everything but the address and database.
    pub fn new(addr: SocketAddr, database_url: Secret) -> Self {
        Config {
            addr,
            database_url,
            db_max_connections: default_pool_size(),
            session_idle_timeout: Duration::from_secs(30 * 60),
            session_absolute_lifetime: Duration::from_secs(12 * 60 * 60),
            session_cache: Duration::from_secs(1),
            max_body_bytes: 256 * 1024,
            max_response_bytes: 8 * 1024 * 1024,
            max_crosstab_cells: DEFAULT_MAX_CROSSTAB_CELLS,
            max_health_reports_per_day: 24,
            max_page_size: 500,
            ide: true,
            console: true,
            introspection: true,
            max_depth: 16,
            max_complexity: 1_000_000,
            max_aliases: 50,
            max_root_fields: 20,
            max_batch_operations: 10,
            max_streams_per_socket: 10,
            max_sockets_per_account: 32,
            replay_window: 10_000,
            publication_time: chrono::NaiveTime::MIN,
            housekeeping_interval: std::time::Duration::from_secs(600),
            lockout_threshold: 5,
            lockout_address_threshold: 20,
            lockout_window: Duration::from_secs(15 * 60),
            lockout_duration: Duration::from_secs(15 * 60),
            password_concurrency: cores(),
            password_wait: Duration::from_secs(2),
            subscriber_buffer: 256,
            outbox_poll_interval: Duration::from_millis(500),
            session_check_interval: Duration::from_secs(60),
            statistics_fold_interval: Duration::from_secs(5),
            rate_limit_per_address: None,
            rate_limit_per_account: None,
            trust_forwarded_for: false,
            request_deadline: Duration::from_secs(15),
            cors_allowed_origins: Vec::new(),
            persisted_queries: true,
            safelist: None,
            resolver_spans: std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some(),
            metrics_addr: None,
            metrics_token: None,
            read_database_urls: Vec::new(),
            replica_list_lag: Duration::from_secs(2),
            limited_notification_from: None,
            warning_spo2_at_most: 93,
            warning_temperature_at_least: 38.5,
            watch_interval: std::time::Duration::from_secs(60),
            not_reported_by: chrono::NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default(),
            undecided_after: Duration::from_secs(6 * 3600),
            import_workers: 8,
        }
    }
}

/// A browser origin as `Origin` headers carry it: `http` or `https`, a
/// host and perhaps a port, nothing else (no path, not even `/`; no
/// wildcard), in lower case. Anything else is refused with the reason:
/// such an origin would never match, or would not mean what it seems to.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let origin = text.trim().to_ascii_lowercase();
    let refuse = |why: &str| Err(format!("{text:?} is not an origin: {why}"));
    let Some((scheme, authority)) = origin.split_once("://") else {
        return refuse("write it as https://host or https://host:port");
    };
    if scheme != "http" && scheme != "https" {
        return refuse("the scheme is http or https");
    }
    if authority.contains(['/', '?', '#']) {
        return refuse("an origin has no path, query or fragment (not even a final /)");
    }
    if authority.contains('*') {
        return refuse("no wildcards: list each origin");
    }
    if authority.contains('@') {
        return refuse("an origin has no user name or password");
    }
    let Ok(parsed) = authority.parse::<axum::http::uri::Authority>() else {
        return refuse("the host (and port) do not parse");
    };
    // The text after the last colon, unless that colon is inside an IPv6
    // address's brackets.
    let port = authority.rsplit_once(':').map(|(_, port)| port).filter(|port| !port.contains(']'));
    if parsed.host().is_empty() || port.is_some_and(|port| port.parse::<u16>().is_err()) {
        return refuse("the host (and port) do not parse");
    }
    match (scheme, parsed.port_u16()) {
        ("http", Some(80)) | ("https", Some(443)) => {
            return refuse("browsers leave the default port out of the origin: leave it out too");
        }
        _ => {}
    }
    if axum::http::HeaderValue::from_str(&origin).is_err() {
        return refuse("it holds characters a header cannot");
    }
    Ok(origin)
}

/// A pool a few times the core count keeps the cores busy while some
/// connections wait on the disk, without queueing work inside the database.
fn default_pool_size() -> u32 {
    (cores() as u32 * 4).clamp(4, 32)
}

/// The cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// A rate limit: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

#[cfg(test)]
mod tests {
    use super::parse_origin;

    #[test]
    fn origins_are_exactly_scheme_host_and_port() {
        assert_eq!(parse_origin("https://dashboard.example.jp"), Ok("https://dashboard.example.jp".to_owned()));
        assert_eq!(parse_origin(" HTTP://LocalHost:3000 "), Ok("http://localhost:3000".to_owned()));
        assert_eq!(parse_origin("http://[::1]:8080"), Ok("http://[::1]:8080".to_owned()));
        for refused in [
            "*",
            "null",
            "dashboard.example.jp",
            "https://dashboard.example.jp/",
            "https://dashboard.example.jp/app",
            "https://*.example.jp",
            "ftp://example.jp",
            "https://user:pw@example.jp",
            "https://example.jp:443",
            "https://example.jp:99999",
            "https://example.jp:",
            "https://",
            "https://exa mple.jp",
        ] {
            assert!(parse_origin(refused).is_err(), "{refused} was accepted");
        }
    }
}
