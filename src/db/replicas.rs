//! Streaming read replicas (PostgreSQL standbys) for the reads that can
//! wait for replication: figures as of a past moment (statistics, the open
//! data) and the analysts' de-identified lists. Writes, sessions, the audit
//! log and everything a caller must see at once stay on the primary.
//!
//! A replica serves a figure as of `asOf` only when it has replayed every
//! write that can hold a row recorded by then: a tracker samples the
//! primary's WAL position with the moment it was read, and each replica's
//! replay position; a replica covers moment `t` once it has replayed the
//! primary's position sampled at `t` or later. A write records its
//! `recorded_at` before it commits, and commits within the request
//! deadline, so a replica serves `asOf` only when it covers
//! `asOf + deadline`. A list is served by a replica that covers a moment at
//! most `max_list_lag` ago. A replica that does not answer (stopped,
//! unreachable) covers nothing until it answers again, and a statement it
//! fails is run again on the primary: the gateway carries on without it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

use super::{QueryCounter, counted};
use crate::clock::Clock;
use crate::error::{AppError, AppResult};

/// How often the primary's and the replicas' positions are read.
pub const TRACK_INTERVAL: Duration = Duration::from_millis(200);

/// Samples of the primary's position kept: a replica further behind than
/// this many intervals (about two minutes) covers nothing new until it
/// catches up.
const SAMPLES: usize = 600;

/// The replicas of one primary, and what each has replayed.
pub struct Replicas {
    replicas: Vec<Replica>,
    next: AtomicUsize,
    /// How long after `asOf` a write recorded by then may still commit.
    margin: chrono::Duration,
    /// The most a list read from a replica may lag.
    max_list_lag: chrono::Duration,
    /// Primary positions sampled: (moment read, WAL position).
    samples: Mutex<VecDeque<(DateTime<Utc>, u64)>>,
}

struct Replica {
    db: DatabaseConnection,
    /// Milliseconds since the epoch of the latest moment the replica
    /// covers (0: none known, or not answering).
    covered_ms: AtomicU64,
    /// Statements it served (`hersys_db_replica_reads_total`).
    reads: AtomicU64,
}

impl std::fmt::Debug for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicas").field("count", &self.replicas.len()).finish_non_exhaustive()
    }
}

impl Replicas {
    /// No replica: every read goes to the primary.
    pub fn none() -> Replicas {
        Replicas::of(Vec::new(), Duration::ZERO, Duration::ZERO)
    }

    fn of(replicas: Vec<Replica>, margin: Duration, max_list_lag: Duration) -> Replicas {
        let duration = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero());
        Replicas {
            replicas,
            next: AtomicUsize::new(0),
            margin: duration(margin),
            max_list_lag: duration(max_list_lag),
            samples: Mutex::new(VecDeque::new()),
        }
    }

    /// Pools for `urls` (PostgreSQL only), opened lazily: a replica that is
    /// down at start is simply not used until it answers. `margin` is the
    /// request deadline (see the module's header).
    pub async fn connect(
        urls: &[String],
        max_connections: u32,
        margin: Duration,
        max_list_lag: Duration,
        counter: Arc<QueryCounter>,
    ) -> anyhow::Result<Replicas> {
        let mut replicas = Vec::new();
        for (n, url) in urls.iter().enumerate() {
            anyhow::ensure!(
                url.starts_with("postgres://") || url.starts_with("postgresql://"),
                "read replica {} is not a PostgreSQL URL: replicas are PostgreSQL standbys",
                n + 1
            );
            let mut options = ConnectOptions::new(url.to_owned());
            options
                .max_connections(max_connections)
                .min_connections(0)
                // A standby that stopped must cost a request little before
                // the primary takes the read over.
                .acquire_timeout(Duration::from_millis(500))
                .connect_timeout(Duration::from_millis(500))
                .sqlx_logging(false)
                .connect_lazy(true);
            let db = Database::connect(options)
                .await
                .map_err(|_| anyhow::anyhow!("read replica {}: the URL cannot be used", n + 1))?;
            replicas.push(Replica {
                db: counted(&db, counter.clone()),
                covered_ms: AtomicU64::new(0),
                reads: 0.into(),
            });
        }
        Ok(Replicas::of(replicas, margin, max_list_lag))
    }

    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// Statements each replica has served, in the order they were given.
    pub fn reads(&self) -> Vec<u64> {
        self.replicas.iter().map(|r| r.reads.load(Ordering::Relaxed)).collect()
    }

    /// Reads the positions every `TRACK_INTERVAL`, for as long as the
    /// process runs.
    pub fn start_tracking(self: &Arc<Self>, primary: DatabaseConnection, clock: Arc<dyn Clock>) {
        if self.replicas.is_empty() {
            return;
        }
        let replicas = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(TRACK_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                replicas.track(&primary, clock.as_ref()).await;
            }
        });
    }

    /// One reading of the primary's position and each replica's.
    async fn track(&self, primary: &DatabaseConnection, clock: &dyn Clock) {
        // The moment is taken before the position is read: every write
        // committed by then is at or before the position.
        let at = clock.now();
        if let Some(lsn) = position(primary, "SELECT pg_current_wal_lsn()::text AS lsn").await
            && let Ok(mut samples) = self.samples.lock()
        {
            samples.push_back((at, lsn));
            while samples.len() > SAMPLES {
                samples.pop_front();
            }
        }
        for replica in &self.replicas {
            let replayed = tokio::time::timeout(
                Duration::from_secs(1),
                position(&replica.db, "SELECT pg_last_wal_replay_lsn()::text AS lsn"),
            )
            .await
            .ok()
            .flatten();
            let covered = match replayed {
                None => 0,
                Some(replayed) => self
                    .samples
                    .lock()
                    .ok()
                    .and_then(|samples| samples.iter().rev().find(|(_, lsn)| *lsn <= replayed).map(|(at, _)| *at))
                    .map(|at| u64::try_from(at.timestamp_millis()).unwrap_or(0))
                    .unwrap_or_else(|| replica.covered_ms.load(Ordering::Relaxed)),
            };
            replica.covered_ms.store(covered, Ordering::Relaxed);
        }
    }

    /// A replica that holds every row recorded by `as_of`, taking turns.
    fn covering(&self, moment: DateTime<Utc>) -> Option<&Replica> {
        let needed = u64::try_from(moment.timestamp_millis()).unwrap_or(u64::MAX);
        let count = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..count).map(|n| &self.replicas[(start + n) % count]).find(|r| r.covered_ms.load(Ordering::Relaxed) >= needed)
    }

    /// Runs `read` on a replica that covers `as_of` (see the module's
    /// header), or on the primary; a replica that fails it hands it to the
    /// primary.
    pub async fn as_of<T, F, Fut>(&self, primary: &DatabaseConnection, as_of: DateTime<Utc>, read: F) -> AppResult<T>
    where
        F: Fn(DatabaseConnection) -> Fut,
        Fut: Future<Output = AppResult<T>>,
    {
        self.on_replica(primary, self.covering(as_of + self.margin), read).await
    }

    /// Runs `read` on a replica no more than the list lag behind `now`, or
    /// on the primary.
    pub async fn recent<T, F, Fut>(&self, primary: &DatabaseConnection, now: DateTime<Utc>, read: F) -> AppResult<T>
    where
        F: Fn(DatabaseConnection) -> Fut,
        Fut: Future<Output = AppResult<T>>,
    {
        let replica =
            if self.max_list_lag > chrono::Duration::zero() { self.covering(now - self.max_list_lag) } else { None };
        self.on_replica(primary, replica, read).await
    }

    async fn on_replica<T, F, Fut>(
        &self,
        primary: &DatabaseConnection,
        replica: Option<&Replica>,
        read: F,
    ) -> AppResult<T>
    where
        F: Fn(DatabaseConnection) -> Fut,
        Fut: Future<Output = AppResult<T>>,
    {
        let Some(replica) = replica else { return read(primary.clone()).await };
        match read(replica.db.clone()).await {
            Ok(answer) => {
                replica.reads.fetch_add(1, Ordering::Relaxed);
                Ok(answer)
            }
            Err(AppError::Unavailable) | Err(AppError::Internal(_)) => {
                // Not answering: it covers nothing until the tracker reads
                // it again.
                replica.covered_ms.store(0, Ordering::Relaxed);
                tracing::warn!("a read replica failed a read; the primary serves it");
                read(primary.clone()).await
            }
            Err(refused) => Err(refused),
        }
    }
}

/// A WAL position (`X/Y` in hexadecimal) as a number; `None` when the
/// statement fails or answers none (a replica's replay position is null
/// on a primary).
async fn position(db: &DatabaseConnection, sql: &str) -> Option<u64> {
    let row = db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await.ok()??;
    let text: String = row.try_get("", "lsn").ok()?;
    parse_lsn(&text)
}

fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    Some((u64::from_str_radix(high, 16).ok()? << 32) | u64::from_str_radix(low, 16).ok()?)
}

#[cfg(test)]
mod tests {
    use super::parse_lsn;

    #[test]
    fn wal_positions_compare_as_numbers() {
        assert_eq!(parse_lsn("0/16B3748"), Some(0x16B_3748));
        assert!(parse_lsn("1/0") > parse_lsn("0/FFFFFFFF"));
        assert_eq!(parse_lsn("nonsense"), None);
    }
}
