//! The database: connecting (pool settings, SQLite pragmas, migrations),
//! the statement counter behind `hersys_db_queries_total`, write
//! transactions, errors described without their values, the one SQL
//! builder for statements written by hand (`sql`), and rows read by
//! position (`rows`), and the read replicas (`replicas`).

pub mod replicas;
pub mod rows;
mod sql;

pub use sql::Sql;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

use crate::config::Config;
use crate::error::AppError;

/// Counts SQL statements.
#[derive(Debug, Default)]
pub struct QueryCounter(AtomicU64);

impl QueryCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A handle on the same pool whose statements are counted by `counter`
/// (the pool is shared; only the counting differs). The outbox dispatcher
/// uses one so that its polling is told apart from the requests' work.
pub fn counted(db: &DatabaseConnection, counter: Arc<QueryCounter>) -> DatabaseConnection {
    let mut handle = db.clone();
    handle.set_metric_callback(move |info| {
        counter.0.fetch_add(1, Ordering::Relaxed);
        // A span per statement for the trace exporter (enabled only when
        // spans are exported): its text has placeholders, never values.
        if tracing::span_enabled!(tracing::Level::DEBUG) {
            let text: String = info.statement.sql.split_whitespace().collect::<Vec<_>>().join(" ");
            let statement: String = text.chars().take(160).collect();
            let _span = tracing::debug_span!(
                "sql",
                db.statement = %statement,
                db.elapsed_ms = info.elapsed.as_secs_f64() * 1000.0,
                db.failed = info.failed
            );
        }
    });
    handle
}

/// Longest a statement waits for a pooled connection to a database server.
/// While the server is down, taking a connection means connecting, which the
/// pool retries until this deadline: so it is also how long a request takes
/// to fail during an outage. Short, so that clients get an answer
/// (`INTERNAL`) in about two seconds rather than hang, and long enough for a
/// busy pool (transactions hold a connection for milliseconds) to hand one
/// over. (A constant: the configuration has no knob for it.)
pub const SERVER_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// The same on SQLite, where the database cannot be "down" but a writer
/// holds its connection while it queues for the write lock (up to the busy
/// timeout), so a waiting reader is given longer.
pub const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled connection idle for longer than this is checked before use.
const CHECK_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// For how long after the database was last found unavailable every pooled
/// connection is checked before use.
const CHECK_AFTER_OUTAGE: Duration = Duration::from_secs(10);

/// When a statement or ping last found the database unavailable, in
/// milliseconds since `EPOCH` (0: never). Process-wide: it only decides
/// whether connections are checked, so sharing it between pools (as tests
/// do) at worst checks more often.
static LAST_UNAVAILABLE_MS: AtomicU64 = AtomicU64::new(0);
static EPOCH: std::sync::LazyLock<std::time::Instant> = std::sync::LazyLock::new(std::time::Instant::now);

/// Notes that the database could not be reached.
pub fn note_unavailable() {
    let now = EPOCH.elapsed().as_millis() as u64;
    LAST_UNAVAILABLE_MS.store(now.max(1), Ordering::Relaxed);
}

fn recently_unavailable() -> bool {
    let last = LAST_UNAVAILABLE_MS.load(Ordering::Relaxed);
    // Saturating: the first outage is stamped 1 ms even when it happened in
    // the epoch's first millisecond, and another thread may stamp a moment
    // later than the one read here.
    last != 0 && (EPOCH.elapsed().as_millis() as u64).saturating_sub(last) < CHECK_AFTER_OUTAGE.as_millis() as u64
}

/// Longest `/readyz` waits for the database to answer.
pub const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Opens the pool. On SQLite, turns on foreign keys and write-ahead logging
/// so readers do not wait for the writer.
pub async fn connect(config: &Config, counter: Arc<QueryCounter>) -> anyhow::Result<DatabaseConnection> {
    let url = config.database_url.expose();
    let is_sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(if is_sqlite { config.db_max_connections.min(8) } else { config.db_max_connections })
        .min_connections(1)
        .acquire_timeout(if is_sqlite { SQLITE_ACQUIRE_TIMEOUT } else { SERVER_ACQUIRE_TIMEOUT })
        .sqlx_logging(false);
    if !is_sqlite {
        // The pool would otherwise send a round trip before every statement
        // to check its connection. A connection in steady use is known to
        // work (a broken one fails its statement and is dropped); one that
        // has idled, or any while the database has just been failing, is
        // still checked, so a restarted server costs no request.
        options.test_before_acquire(false).map_sqlx_postgres_before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_IF_IDLE_FOR || recently_unavailable() {
                    use sea_orm::sqlx::Connection;
                    connection.ping().await?;
                }
                Ok(true)
            })
        });
    }
    if is_sqlite {
        options.map_sqlx_sqlite_opts(|opts| {
            opts.foreign_keys(true)
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
        });
    }
    let db = Database::connect(options).await.context("cannot connect to the database")?;
    Ok(counted(&db, counter))
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("migrations failed")
}

/// Whether the database answers a trivial statement within `PING_TIMEOUT`
/// (during an outage a statement would otherwise wait for the pool's
/// acquire deadline).
pub async fn ping(db: &DatabaseConnection) -> bool {
    let answered = matches!(tokio::time::timeout(PING_TIMEOUT, db.execute_unprepared("SELECT 1")).await, Ok(Ok(_)));
    if !answered {
        note_unavailable();
    }
    answered
}

/// Whether the connection is PostgreSQL (else SQLite).
pub fn is_postgres(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// A description of a database error that is safe to log: its kind and the
/// database's error code, never the message (which may quote values).
/// A database that cannot be reached reads as `kind=unavailable`, whatever
/// step noticed it.
pub fn describe_db_error(error: &DbErr) -> anyhow::Error {
    anyhow::Error::new(DbFailure::of(error))
}

/// A database error as the gateway keeps it: its kind and the database's
/// error code, never the message (which may quote values).
#[derive(Debug)]
pub struct DbFailure {
    kind: &'static str,
    code: Option<String>,
}

impl DbFailure {
    fn of(error: &DbErr) -> DbFailure {
        let code = match error {
            DbErr::Query(sea_orm::RuntimeErr::SqlxError(e))
            | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
            | DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e)) => {
                e.as_database_error().and_then(|d| d.code().map(|c| c.into_owned()))
            }
            _ => None,
        };
        if is_unavailable(error) {
            return DbFailure { kind: "unavailable", code };
        }
        let kind = match error {
            DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => "connection",
            DbErr::Query(_) => "query",
            DbErr::Exec(_) => "exec",
            DbErr::RecordNotFound(_) | DbErr::RecordNotInserted | DbErr::RecordNotUpdated => "record",
            DbErr::Type(_) | DbErr::Json(_) | DbErr::TryIntoErr { .. } => "type",
            _ => "other",
        };
        DbFailure { kind, code }
    }

    /// Whether `cause` (an internal error's) is a unique-constraint
    /// violation: PostgreSQL's 23505, SQLite's 2067 (or 1555 for a
    /// primary key).
    pub fn is_unique_violation(cause: &anyhow::Error) -> bool {
        cause
            .downcast_ref::<DbFailure>()
            .is_some_and(|failure| matches!(failure.code.as_deref(), Some("23505" | "2067" | "1555")))
    }
}

impl std::fmt::Display for DbFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = self.code.as_deref().unwrap_or("-");
        match self.kind {
            "unavailable" => write!(f, "database error: kind=unavailable code={code}: the database is unavailable"),
            kind => write!(f, "database error: kind={kind} code={code}"),
        }
    }
}

impl std::error::Error for DbFailure {}

/// Whether a database error means the database cannot be reached: no
/// connection could be taken from the pool (the server refuses connections
/// or is shutting down), or the connection broke under a statement.
pub fn is_unavailable(error: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match error {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e)) => match &**e {
            Sqlx::Io(_) | Sqlx::Tls(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed => true,
            // PostgreSQL: connection exceptions (class 08), and the server
            // shutting down or starting up (57P01, 57P02, 57P03).
            Sqlx::Database(d) => {
                d.code().is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03"))
            }
            _ => false,
        },
        DbErr::Conn(_) => true,
        _ => false,
    }
}

/// Whether a database error is a unique-constraint violation.
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// Begins a transaction that will write. On SQLite it takes the write lock
/// at once (`BEGIN IMMEDIATE`), so that two writers queue on the busy
/// timeout instead of one failing when it upgrades a read lock; other
/// databases ignore the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    use sea_orm::TransactionTrait;
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

impl From<sea_orm::DbErr> for AppError {
    fn from(error: sea_orm::DbErr) -> Self {
        let described = describe_db_error(&error);
        if is_unavailable(&error) {
            note_unavailable();
            tracing::warn!(error = %format!("{described:#}"), "database unavailable");
            return AppError::Unavailable;
        }
        AppError::Internal(described)
    }
}

impl From<sea_orm::TransactionError<AppError>> for AppError {
    fn from(error: sea_orm::TransactionError<AppError>) -> Self {
        match error {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(app) => app,
        }
    }
}
