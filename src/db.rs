//! Connecting to the database: pool settings, SQLite pragmas, migrations,
//! and the statement counter behind `hersys_db_queries_total`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

use crate::config::Config;

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
    handle.set_metric_callback(move |_info| {
        counter.0.fetch_add(1, Ordering::Relaxed);
    });
    handle
}

/// Opens the pool. On SQLite, turns on foreign keys and write-ahead logging
/// so readers do not wait for the writer.
pub async fn connect(config: &Config, counter: Arc<QueryCounter>) -> anyhow::Result<DatabaseConnection> {
    let url = config.database_url.expose();
    let is_sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(if is_sqlite { config.db_max_connections.min(8) } else { config.db_max_connections })
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
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

/// Whether the database answers a trivial statement.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.execute_unprepared("SELECT 1").await.is_ok()
}

/// Whether the connection is PostgreSQL (else SQLite).
pub fn is_postgres(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// A description of a database error that is safe to log: its kind and the
/// database's error code, never the message (which may quote values).
pub fn describe_db_error(error: &DbErr) -> anyhow::Error {
    let code = match error {
        DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e)) => {
            e.as_database_error().and_then(|d| d.code().map(|c| c.into_owned()))
        }
        _ => None,
    };
    let kind = match error {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => "connection",
        DbErr::Query(_) => "query",
        DbErr::Exec(_) => "exec",
        DbErr::RecordNotFound(_) | DbErr::RecordNotInserted | DbErr::RecordNotUpdated => "record",
        DbErr::Type(_) | DbErr::Json(_) | DbErr::TryIntoErr { .. } => "type",
        _ => "other",
    };
    anyhow::anyhow!("database error: kind={kind} code={}", code.as_deref().unwrap_or("-"))
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
