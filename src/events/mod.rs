//! Live case events: the outbox dispatcher and the per-health-centre and
//! per-prefecture broadcast.
//!
//! A transaction that makes a test positive, or that opens a break-glass
//! access to a patient, writes an `outbox_events` row of that kind (and, on
//! PostgreSQL, a `NOTIFY`). Each server runs one dispatcher: it
//! reads the rows after the last one it dispatched, in [`Cursor`] order
//! (the writing transaction, then the ID), loads their test and patient
//! once, and hands each event to the broadcast channels of the event's
//! health centre and prefecture.
//!
//! Readers take only *settled* rows: on PostgreSQL, rows whose transaction
//! is older than every transaction still running (`txid_snapshot_xmin` of
//! the statement's snapshot). All of those have committed or rolled back,
//! so no row can appear later before a settled one, and a cursor never
//! skips an event, although positive results commit concurrently and take
//! their IDs in a different order than they commit. A row that is visible
//! but not settled yet (an older transaction is still running) is read
//! again a few milliseconds later. SQLite has one writer: its rows commit
//! in ID order and are settled once visible. Subscribers hold a
//! receiver of their channel. The dispatcher wakes on the notification from
//! any replica, and polls as a fallback (and on SQLite, where there are no
//! notifications). Each replica dispatches every event to its own
//! subscribers; nothing is shared between replicas but the database.

pub mod stages;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use entity::{break_glass_access, health_centre, health_report, lab_test, outbox_event, patient, work_item};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult, QueryFilter};
use tokio::sync::broadcast;

use crate::db::Sql;
use crate::error::AppResult;

/// A position in the outbox: events are read in the order of the
/// transaction that wrote them, then of their ID. As text (the
/// subscription's `cursor`): `tx:id`, or the ID alone for transaction 0
/// (SQLite, and events written before transactions were recorded, whose
/// cursors clients may still hold).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub tx_id: i64,
    pub id: i64,
}

impl Cursor {
    /// The position of `event`.
    pub fn of(event: &outbox_event::Model) -> Self {
        Cursor { tx_id: event.tx_id, id: event.id }
    }

    /// Reads a cursor as [`Display`](std::fmt::Display) writes it.
    pub fn parse(text: &str) -> Option<Self> {
        let number = |part: &str| part.parse::<i64>().ok().filter(|n| *n >= 0);
        match text.trim().split_once(':') {
            None => Some(Cursor { tx_id: 0, id: number(text.trim())? }),
            Some((tx_id, id)) => Some(Cursor { tx_id: number(tx_id)?, id: number(id)? }),
        }
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.tx_id == 0 { write!(f, "{}", self.id) } else { write!(f, "{}:{}", self.tx_id, self.id) }
    }
}

/// The PostgreSQL notification channel of the outbox.
pub const NOTIFY_CHANNEL: &str = "hersys_outbox";

/// Largest number of outbox rows read at once.
const BATCH: u64 = 500;

/// The kind of an outbox event of a new positive result.
pub const POSITIVE_RESULT: &str = "POSITIVE_RESULT";
/// The kind of an outbox event of a break-glass access.
pub const BREAK_GLASS: &str = "BREAK_GLASS";
/// The kind of an outbox event of a close contact handed to another
/// health centre.
pub const CONTACT_HANDED_OVER: &str = "CONTACT_HANDED_OVER";
/// The kind of an outbox event of a case transferred to another health
/// centre, addressed to the one it moved to.
pub const TRANSFER_IN: &str = "TRANSFER_IN";
/// The kind of an outbox event of a health report with one of the
/// national emergency signs.
pub const EMERGENCY_SIGNS: &str = "EMERGENCY_SIGNS";
/// The kind of an outbox event of a health report past a warning
/// threshold, or markedly worse than the patient's previous one.
pub const WARNING_SIGNS: &str = "WARNING_SIGNS";
/// The kind of an outbox event of a patient in care who has not reported
/// by the configured time of day (written by the watch).
pub const NOT_REPORTED: &str = "NOT_REPORTED";
/// The kind of an outbox event of a positive whose care setting is still
/// undecided after the configured time (written by the watch).
pub const UNDECIDED_POSITIVE: &str = "UNDECIDED_POSITIVE";
/// The kind of an outbox event of a facility's notification waiting for
/// the health centre's acceptance (written by the watch).
pub const NOTIFICATION_RECEIVED: &str = "NOTIFICATION_RECEIVED";
/// The kind of an outbox event of a case whose release from care is due
/// (written by the watch).
pub const RELEASE_DUE: &str = "RELEASE_DUE";
/// The kind of an outbox event of a change to a work item (acknowledged,
/// assigned, done), so that the centre's other staff see it live.
pub const WORK_ITEM_UPDATED: &str = "WORK_ITEM_UPDATED";

/// What an outbox event names beyond its patient and health centre.
#[derive(Debug, Default, Clone)]
pub struct EventRefs {
    pub lab_test_id: Option<i64>,
    pub health_report_id: Option<i64>,
    pub item_event_id: Option<i64>,
    /// Names (signs, reasons, a day), never a personal value.
    pub detail: Option<String>,
}

/// The outbox row of an event of `kind` about `patient_id` (and its test,
/// if any), addressed to the health centre `centre_id` and its prefecture
/// at this moment: the last part of the statement a write appends its rows
/// with (`PatientWrite::commit_with_event`). On PostgreSQL it also wakes
/// the dispatchers of every replica, on commit; the row's transaction
/// (`tx_id`, by default) orders it for them.
pub fn outbox_row(
    kind: &'static str,
    lab_test_id: Option<i64>,
    patient_id: i64,
    centre_id: i64,
    now: chrono::DateTime<chrono::Utc>,
    backend: sea_orm::DbBackend,
) -> impl FnOnce(&mut crate::db::Sql) + use<> {
    outbox_row_with(kind, EventRefs { lab_test_id, ..EventRefs::default() }, patient_id, centre_id, now, backend)
}

/// [`outbox_row`] with every reference an event may carry.
pub fn outbox_row_with(
    kind: &'static str,
    refs: EventRefs,
    patient_id: i64,
    centre_id: i64,
    now: chrono::DateTime<chrono::Utc>,
    backend: sea_orm::DbBackend,
) -> impl FnOnce(&mut crate::db::Sql) + use<> {
    let postgres = backend == sea_orm::DbBackend::Postgres;
    move |sql: &mut crate::db::Sql| {
        sql.push(
            "INSERT INTO outbox_events (kind, lab_test_id, health_report_id, item_event_id, detail, patient_id, \
             occurred_at, health_centre_id, prefecture_id) SELECT ",
        );
        sql.bind(kind).push(", ").bind(refs.lab_test_id).push(", ").bind(refs.health_report_id);
        sql.push(", ").bind(refs.item_event_id).push(", ").bind(refs.detail).push(", ").bind(patient_id);
        sql.push(", ").bind(now).push(", hc.id, hc.prefecture_id FROM health_centres hc");
        if postgres {
            sql.push(&format!(", (SELECT pg_notify('{NOTIFY_CHANNEL}', '')) AS notified"));
        }
        sql.push(" WHERE hc.id = ").bind(centre_id);
    }
}

/// An outbox event with the rows it is about, as delivered to subscribers.
#[derive(Debug)]
pub struct CaseEvent {
    pub event: outbox_event::Model,
    /// The positive test (`POSITIVE_RESULT`).
    pub test: Option<lab_test::Model>,
    /// The access (`BREAK_GLASS`).
    pub access: Option<break_glass_access::Model>,
    /// The health report (`EMERGENCY_SIGNS`, `WARNING_SIGNS`).
    pub report: Option<health_report::Model>,
    /// The work item the event is (or, for `WORK_ITEM_UPDATED`, the one it
    /// changed) as it stood when the event was loaded; none while open.
    pub item: Option<work_item::Model>,
    /// The patient as loaded for this delivery (now, not when the result
    /// was recorded): its current responsible health centre decides who may
    /// still receive the event.
    pub patient: patient::Model,
    /// The prefecture of the patient's current responsible health centre.
    pub patient_prefecture_id: i32,
    /// When this server loaded it (for the fan-out stage's timing).
    pub loaded_at: std::time::Instant,
}

/// Who a subscription listens for (decided by `policy::live_audience`).
pub use crate::auth::policy::Audience;

/// The broadcast channels of this server, by audience.
#[derive(Debug)]
pub struct EventHub {
    channels: Mutex<HashMap<Audience, broadcast::Sender<Arc<CaseEvent>>>>,
    capacity: usize,
    /// The last outbox row dispatched by this server.
    dispatched: Mutex<Cursor>,
    /// Live subscriptions, for the metrics.
    subscribers: AtomicI64,
    /// How long events spend in each stage, for the metrics.
    pub stages: stages::Stages,
}

impl EventHub {
    pub fn new(capacity: usize) -> Self {
        EventHub {
            channels: Mutex::default(),
            capacity: capacity.max(1),
            dispatched: Mutex::default(),
            subscribers: AtomicI64::new(0),
            stages: stages::Stages::default(),
        }
    }

    /// A receiver of the audience's future events.
    pub fn subscribe(&self, audience: Audience) -> broadcast::Receiver<Arc<CaseEvent>> {
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        channels.entry(audience).or_insert_with(|| broadcast::channel(self.capacity).0).subscribe()
    }

    /// Hands an event to its health centre's and prefecture's subscribers.
    fn publish(&self, event: Arc<CaseEvent>) {
        let waited = (chrono::Utc::now() - event.event.occurred_at).to_std().unwrap_or_default();
        self.stages.dispatch.observe(waited);
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for audience in
            [Audience::HealthCentre(event.event.health_centre_id), Audience::Prefecture(event.event.prefecture_id)]
        {
            if let Some(sender) = channels.get(&audience)
                && sender.send(event.clone()).is_err()
            {
                // Nobody listens any more: drop the channel.
                channels.remove(&audience);
            }
        }
    }

    /// The last outbox row this server dispatched.
    pub fn dispatched(&self) -> Cursor {
        *self.dispatched.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn dispatched_up_to(&self, cursor: Cursor) {
        *self.dispatched.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = cursor;
    }

    /// Counts a subscription for as long as the guard lives.
    pub fn track(self: &Arc<Self>) -> SubscriberGuard {
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        SubscriberGuard(self.clone())
    }

    /// Notes that a subscriber's stream took `event` from its channel.
    pub fn taken(&self, event: &CaseEvent) {
        self.stages.fanout.observe(event.loaded_at.elapsed());
    }

    /// Open subscriptions.
    pub fn subscribers(&self) -> i64 {
        self.subscribers.load(Ordering::Relaxed)
    }
}

/// Keeps a subscription counted.
#[derive(Debug)]
pub struct SubscriberGuard(Arc<EventHub>);

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An outbox row as read, with whether it is settled.
#[derive(Debug, FromQueryResult)]
struct OutboxRow {
    #[sea_orm(nested)]
    event: outbox_event::Model,
    settled: bool,
}

/// Whether an outbox row is settled, as SQL: on PostgreSQL its transaction
/// is older than every one still running in the statement's snapshot; on
/// SQLite every visible row is.
fn settled(backend: DbBackend) -> &'static str {
    if backend == DbBackend::Postgres { "tx_id < txid_snapshot_xmin(txid_current_snapshot())" } else { "TRUE" }
}

/// What [`load_events`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The settled events after the cursor, in order.
    pub events: Vec<CaseEvent>,
    /// Whether a later row was visible but not settled yet.
    pub pending: bool,
}

/// Loads up to `limit` settled outbox rows after `after` for `audience`
/// (every audience without one) of `kinds` (every kind without them), with
/// the tests, accesses, reports, items and patients they are about, in
/// cursor order.
pub async fn load_events(
    db: &DatabaseConnection,
    after: Cursor,
    audience: Option<Audience>,
    kinds: Option<&[&str]>,
    limit: u64,
) -> AppResult<Loaded> {
    let backend = db.get_database_backend();
    let settled = settled(backend);
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT id, kind, lab_test_id, patient_id, health_centre_id, prefecture_id, occurred_at, tx_id, \
         break_glass_access_id, health_report_id, item_event_id, detail, dedup_key, {settled} AS settled \
         FROM outbox_events WHERE (tx_id, id) > ("
    ));
    sql.bind(after.tx_id).push(", ").bind(after.id).push(")");
    restrict(&mut sql, audience, kinds);
    // Settled rows sort before the others: their transactions are older.
    sql.push(&format!(" ORDER BY tx_id, id LIMIT {limit}"));
    let rows = OutboxRow::find_by_statement(sql.build()).all(db).await?;
    let pending = rows.iter().any(|row| !row.settled);
    let events: Vec<outbox_event::Model> =
        rows.into_iter().take_while(|row| row.settled).map(|row| row.event).collect();
    Ok(Loaded { events: with_rows(db, events).await?, pending })
}

/// The events with the tests, accesses, reports, items and patients they
/// are about; an event whose row is missing is left out.
pub async fn with_rows(db: &impl ConnectionTrait, events: Vec<outbox_event::Model>) -> AppResult<Vec<CaseEvent>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let test_ids: Vec<i64> = events.iter().filter_map(|e| e.lab_test_id).collect();
    let access_ids: Vec<i64> = events.iter().filter_map(|e| e.break_glass_access_id).collect();
    let patient_ids: Vec<i64> = events.iter().map(|e| e.patient_id).collect();
    let tests: HashMap<i64, lab_test::Model> = if test_ids.is_empty() {
        HashMap::new()
    } else {
        let found = lab_test::Entity::find().filter(lab_test::Column::Id.is_in(test_ids)).all(db).await?;
        found.into_iter().map(|t| (t.id, t)).collect()
    };
    let accesses: HashMap<i64, break_glass_access::Model> = if access_ids.is_empty() {
        HashMap::new()
    } else {
        let found =
            break_glass_access::Entity::find().filter(break_glass_access::Column::Id.is_in(access_ids)).all(db).await?;
        found.into_iter().map(|a| (a.id, a)).collect()
    };
    let report_ids: Vec<i64> = events.iter().filter_map(|e| e.health_report_id).collect();
    let reports: HashMap<i64, health_report::Model> = if report_ids.is_empty() {
        HashMap::new()
    } else {
        let found = health_report::Entity::find().filter(health_report::Column::Id.is_in(report_ids)).all(db).await?;
        found.into_iter().map(|r| (r.id, r)).collect()
    };
    // The item an event is (or, for a change, the one it changed), as it
    // stands now.
    let item_ids: Vec<i64> = events.iter().map(|e| e.item_event_id.unwrap_or(e.id)).collect();
    let items: HashMap<i64, work_item::Model> = if item_ids.is_empty() {
        HashMap::new()
    } else {
        let found = work_item::Entity::find().filter(work_item::Column::EventId.is_in(item_ids)).all(db).await?;
        found.into_iter().map(|i| (i.event_id, i)).collect()
    };
    let patients: HashMap<i64, patient::Model> = patient::Entity::find()
        .filter(patient::Column::Id.is_in(patient_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let centre_ids: Vec<i64> = patients.values().map(|p| p.responsible_health_centre_id).collect();
    let prefectures: HashMap<i64, i32> = health_centre::Entity::find()
        .filter(health_centre::Column::Id.is_in(centre_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|centre| (centre.id, centre.prefecture_id))
        .collect();
    let events = events
        .into_iter()
        .filter_map(|event| {
            // An event whose test or access is missing is not delivered.
            let test = match event.lab_test_id {
                Some(id) => Some(tests.get(&id)?.clone()),
                None => None,
            };
            let access = match event.break_glass_access_id {
                Some(id) => Some(accesses.get(&id)?.clone()),
                None => None,
            };
            let report = match event.health_report_id {
                Some(id) => Some(reports.get(&id)?.clone()),
                None => None,
            };
            let item = items.get(&event.item_event_id.unwrap_or(event.id)).cloned();
            let patient = patients.get(&event.patient_id)?.clone();
            let patient_prefecture_id = *prefectures.get(&patient.responsible_health_centre_id)?;
            Some(CaseEvent {
                event,
                test,
                access,
                report,
                item,
                patient,
                patient_prefecture_id,
                loaded_at: std::time::Instant::now(),
            })
        })
        .collect();
    Ok(events)
}

/// Narrows an outbox read to `audience` and `kinds`, where given.
fn restrict(sql: &mut Sql, audience: Option<Audience>, kinds: Option<&[&str]>) {
    match audience {
        Some(Audience::HealthCentre(id)) => sql.push(" AND health_centre_id = ").bind(id),
        Some(Audience::Prefecture(id)) => sql.push(" AND prefecture_id = ").bind(id),
        None => sql,
    };
    if let Some(kinds) = kinds {
        sql.push(" AND kind IN (").bind_list(kinds.iter().copied()).push(")");
    }
}

/// Whether more than `window` events of `audience` and `kinds` follow
/// `after`.
pub async fn more_than(
    db: &DatabaseConnection,
    after: Cursor,
    audience: Audience,
    kinds: &[&str],
    window: u64,
) -> AppResult<bool> {
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push("SELECT id FROM outbox_events WHERE (tx_id, id) > (");
    sql.bind(after.tx_id).push(", ").bind(after.id).push(")");
    restrict(&mut sql, Some(audience), Some(kinds));
    sql.push(&format!(" ORDER BY tx_id, id LIMIT 1 OFFSET {window}"));
    Ok(db.query_one_raw(sql.build()).await?.is_some())
}

/// The newest settled outbox row now (the start when there is none).
async fn newest_settled(db: &DatabaseConnection) -> Result<Cursor, sea_orm::DbErr> {
    #[derive(Debug, FromQueryResult)]
    struct Newest {
        tx_id: i64,
        id: i64,
    }
    let backend = db.get_database_backend();
    let sql =
        format!("SELECT tx_id, id FROM outbox_events WHERE {} ORDER BY tx_id DESC, id DESC LIMIT 1", settled(backend));
    let newest = Newest::find_by_statement(sea_orm::Statement::from_string(backend, sql)).one(db).await?;
    Ok(newest.map(|n| Cursor { tx_id: n.tx_id, id: n.id }).unwrap_or_default())
}

/// How soon the dispatcher first reads again when a row was not settled
/// yet.
const UNSETTLED_RETRY: std::time::Duration = std::time::Duration::from_millis(5);
/// How seldom at most, while a row stays unsettled (a long transaction
/// holds it back): a read of an index range every 20 ms costs little, and
/// the event goes out soon after the transaction ends.
const UNSETTLED_RETRY_MAX: std::time::Duration = std::time::Duration::from_millis(20);

/// What to do when another replica ends sessions (their IDs); also called
/// with no IDs after the notification connection was lost and regained,
/// when any session may have ended meanwhile.
pub type SessionsEnded = Arc<dyn Fn(Vec<i64>) + Send + Sync>;

/// Starts this server's dispatcher. It begins after the newest event that
/// exists now: earlier ones reach clients only through `after`. On
/// PostgreSQL it listens for the outbox's notifications, and for ended
/// sessions, which it hands to `sessions_ended`.
pub async fn start_dispatcher(
    db: DatabaseConnection,
    database_url: String,
    hub: Arc<EventHub>,
    poll_interval: std::time::Duration,
    sessions_ended: SessionsEnded,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    hub.dispatched_up_to(newest_settled(&db).await?);
    let notified = Arc::new(tokio::sync::Notify::new());
    if crate::db::is_postgres(&db) {
        spawn_listener(database_url, notified.clone(), sessions_ended);
    }
    Ok(tokio::spawn(async move {
        let mut retry = UNSETTLED_RETRY;
        loop {
            let wait = match dispatch_once(&db, &hub).await {
                Ok((count, _)) if count as u64 == BATCH => continue,
                Ok((_, true)) => {
                    // Soon, then less often: an old transaction that holds
                    // rows back may be a long one.
                    let wait = retry.min(poll_interval);
                    retry = retry.saturating_mul(2).min(UNSETTLED_RETRY_MAX);
                    wait
                }
                Ok((_, false)) => {
                    retry = UNSETTLED_RETRY;
                    poll_interval
                }
                Err(error) => {
                    tracing::warn!(code = error.code(), "outbox dispatch failed; retrying");
                    poll_interval
                }
            };
            tokio::select! {
                () = notified.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }))
}

/// Dispatches the settled events after this server's cursor. Answers how
/// many, and whether a later row was not settled yet.
async fn dispatch_once(db: &DatabaseConnection, hub: &EventHub) -> AppResult<(usize, bool)> {
    let Loaded { events, pending } = load_events(db, hub.dispatched(), None, None, BATCH).await?;
    let count = events.len();
    for event in events {
        let cursor = Cursor::of(&event.event);
        hub.publish(Arc::new(event));
        hub.dispatched_up_to(cursor);
    }
    Ok((count, pending))
}

/// Listens for outbox notifications, which wake the dispatcher, and for
/// ended sessions; reconnects after a lost connection (the poll covers the
/// outbox's gap; open streams look their sessions up again).
fn spawn_listener(database_url: String, notified: Arc<tokio::sync::Notify>, sessions_ended: SessionsEnded) {
    let channels = [NOTIFY_CHANNEL, crate::auth::revocation::CHANNEL];
    tokio::spawn(async move {
        let mut first = true;
        loop {
            match sea_orm::sqlx::postgres::PgListener::connect(&database_url).await {
                Ok(mut listener) => {
                    if listener.listen_all(channels).await.is_ok() {
                        if !first {
                            // Sessions may have ended while nobody listened.
                            sessions_ended(Vec::new());
                        }
                        first = false;
                        while let Ok(notification) = listener.recv().await {
                            if notification.channel() == crate::auth::revocation::CHANNEL {
                                sessions_ended(crate::auth::revocation::parse_payload(notification.payload()));
                            } else {
                                notified.notify_one();
                            }
                        }
                    }
                }
                Err(_) => tracing::warn!("cannot listen for notifications; polling meanwhile"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn cursors_read_back_what_they_write_and_refuse_anything_else() {
        let old = Cursor { tx_id: 0, id: 41 };
        let new = Cursor { tx_id: 3872, id: 41 };
        assert_eq!(old.to_string(), "41");
        assert_eq!(new.to_string(), "3872:41");
        for cursor in [old, new, Cursor::default()] {
            assert_eq!(Cursor::parse(&cursor.to_string()), Some(cursor));
        }
        assert_eq!(Cursor::parse(" 7 "), Some(Cursor { tx_id: 0, id: 7 }));
        for bad in ["", "-1", "1:-2", "a", "1:b", "1:2:3", ":5", "5:", "99999999999999999999"] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
        assert!(old < new, "events written before transactions were recorded come first");
        assert!(Cursor { tx_id: 5, id: 9 } < Cursor { tx_id: 6, id: 1 }, "the transaction orders first");
    }
}
