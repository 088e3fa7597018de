//! Live positive results: the outbox dispatcher and the per-health-centre
//! and per-prefecture broadcast.
//!
//! A transaction that makes a test positive writes an `outbox_events` row
//! (and, on PostgreSQL, a `NOTIFY`). Each server runs one dispatcher: it
//! reads the rows after the last one it dispatched, in ID order, loads
//! their test and patient once, and hands each event to the broadcast
//! channels of the event's health centre and prefecture. Subscribers hold a
//! receiver of their channel. The dispatcher wakes on the notification from
//! any replica, and polls as a fallback (and on SQLite, where there are no
//! notifications). Each replica dispatches every event to its own
//! subscribers; nothing is shared between replicas but the database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use entity::{lab_test, outbox_event, patient};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::broadcast;

use crate::error::AppResult;

/// The PostgreSQL notification channel of the outbox.
pub const NOTIFY_CHANNEL: &str = "hersys_outbox";

/// Largest number of outbox rows read at once.
const BATCH: u64 = 500;

/// An outbox event with the rows it is about, as delivered to subscribers.
#[derive(Debug)]
pub struct PositiveEvent {
    pub event: outbox_event::Model,
    pub test: lab_test::Model,
    pub patient: patient::Model,
}

/// Who a subscription listens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    HealthCentre(i64),
    Prefecture(i32),
}

/// The broadcast channels of this server, by audience.
#[derive(Debug)]
pub struct EventHub {
    channels: Mutex<HashMap<Audience, broadcast::Sender<Arc<PositiveEvent>>>>,
    capacity: usize,
    /// The ID of the last outbox row dispatched by this server.
    dispatched: AtomicI64,
    /// Live subscriptions, for the metrics.
    subscribers: AtomicI64,
}

impl EventHub {
    pub fn new(capacity: usize) -> Self {
        EventHub {
            channels: Mutex::default(),
            capacity: capacity.max(1),
            dispatched: AtomicI64::new(0),
            subscribers: AtomicI64::new(0),
        }
    }

    /// A receiver of the audience's future events.
    pub fn subscribe(&self, audience: Audience) -> broadcast::Receiver<Arc<PositiveEvent>> {
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        channels.entry(audience).or_insert_with(|| broadcast::channel(self.capacity).0).subscribe()
    }

    /// Hands an event to its health centre's and prefecture's subscribers.
    fn publish(&self, event: Arc<PositiveEvent>) {
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

    /// The last outbox ID this server dispatched.
    pub fn dispatched(&self) -> i64 {
        self.dispatched.load(Ordering::Acquire)
    }

    /// Counts a subscription for as long as the guard lives.
    pub fn track(self: &Arc<Self>) -> SubscriberGuard {
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        SubscriberGuard(self.clone())
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

/// Loads outbox rows after `after` that `filter` lets through, with their
/// tests and patients, in ID order.
pub async fn load_events(
    db: &DatabaseConnection,
    after: i64,
    audience: Option<Audience>,
    limit: u64,
) -> AppResult<Vec<PositiveEvent>> {
    let mut query = outbox_event::Entity::find().filter(outbox_event::Column::Id.gt(after));
    query = match audience {
        Some(Audience::HealthCentre(id)) => query.filter(outbox_event::Column::HealthCentreId.eq(id)),
        Some(Audience::Prefecture(id)) => query.filter(outbox_event::Column::PrefectureId.eq(id)),
        None => query,
    };
    let events = query.order_by_asc(outbox_event::Column::Id).limit(limit).all(db).await?;
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let test_ids: Vec<i64> = events.iter().map(|e| e.lab_test_id).collect();
    let patient_ids: Vec<i64> = events.iter().map(|e| e.patient_id).collect();
    let tests: HashMap<i64, lab_test::Model> = lab_test::Entity::find()
        .filter(lab_test::Column::Id.is_in(test_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let patients: HashMap<i64, patient::Model> = patient::Entity::find()
        .filter(patient::Column::Id.is_in(patient_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(events
        .into_iter()
        .filter_map(|event| {
            let test = tests.get(&event.lab_test_id)?.clone();
            let patient = patients.get(&event.patient_id)?.clone();
            Some(PositiveEvent { event, test, patient })
        })
        .collect())
}

/// Starts this server's dispatcher. It begins after the newest event that
/// exists now: earlier ones reach clients only through `after`.
pub async fn start_dispatcher(
    db: DatabaseConnection,
    database_url: String,
    hub: Arc<EventHub>,
    poll_interval: std::time::Duration,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let newest = outbox_event::Entity::find().order_by_desc(outbox_event::Column::Id).one(&db).await?;
    hub.dispatched.store(newest.map(|e| e.id).unwrap_or(0), Ordering::Release);
    let notified = Arc::new(tokio::sync::Notify::new());
    if crate::db::is_postgres(&db) {
        spawn_listener(database_url, notified.clone());
    }
    Ok(tokio::spawn(async move {
        loop {
            match dispatch_once(&db, &hub).await {
                Ok(count) if count as u64 == BATCH => continue,
                Ok(_) => {}
                Err(error) => {
                    let error: async_graphql::Error = error.into();
                    tracing::warn!(error = %error.message, "outbox dispatch failed; retrying");
                }
            }
            tokio::select! {
                () = notified.notified() => {}
                () = tokio::time::sleep(poll_interval) => {}
            }
        }
    }))
}

async fn dispatch_once(db: &DatabaseConnection, hub: &EventHub) -> AppResult<usize> {
    let after = hub.dispatched();
    let events = load_events(db, after, None, BATCH).await?;
    let count = events.len();
    for event in events {
        let id = event.event.id;
        hub.publish(Arc::new(event));
        hub.dispatched.store(id, Ordering::Release);
    }
    Ok(count)
}

/// Listens for outbox notifications and wakes the dispatcher; reconnects
/// after a lost connection (the poll covers the gap).
fn spawn_listener(database_url: String, notified: Arc<tokio::sync::Notify>) {
    tokio::spawn(async move {
        loop {
            match sea_orm::sqlx::postgres::PgListener::connect(&database_url).await {
                Ok(mut listener) => {
                    if listener.listen(NOTIFY_CHANNEL).await.is_ok() {
                        while listener.recv().await.is_ok() {
                            notified.notify_one();
                        }
                    }
                }
                Err(_) => tracing::warn!("cannot listen for outbox notifications; polling meanwhile"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
}
