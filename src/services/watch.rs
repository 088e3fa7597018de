//! The watch: what becomes work because time passed, not because someone
//! wrote. Every `watch_interval` it puts on the health centres' queues, as
//! outbox events (so they are announced live like any other):
//!
//! - `NOT_REPORTED`: from `not_reported_by` (Japan time), each patient
//!   followed up today (accommodation or home care, a close contact under
//!   observation) who has sent no health report today, once per day;
//! - `UNDECIDED_POSITIVE`: each positive result whose patient's care
//!   setting is still undecided `undecided_after` after it, once per test;
//! - `NOTIFICATION_RECEIVED`: each facility's notification waiting for the
//!   centre's acceptance, once for each time it is sent (again after a
//!   return);
//! - `RELEASE_DUE`: each case in home or accommodation care whose release
//!   is due today or earlier under the rule of its onset date, once per
//!   case; looked for every `RELEASE_ROUNDS` rounds, since it reads the
//!   candidates' tests.
//!
//! Each event carries a `dedup_key` under a unique index, so a round that
//! runs on several servers at once, or again after a restart, writes each
//! one once.
//!
//! The same round closes the items whose cause has ended since
//! ([`close_ended`]): an undecided positive whose care setting is decided,
//! a patient not reported who has reported, a notification accepted or
//! returned, and any of these (and a release due) once the case has ended.
//! It marks them done with the reason (`work_items.closed_because`) and no
//! staff account, announced like a staff action; an item someone reopened
//! is theirs, and the watch leaves it.

use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::{CareSetting, NotificationStatus, RecordStatus};
use entity::{health_centre, outbox_event, patient, work_item};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::work_queue::{Closure, ItemState};
use crate::domain::calendar::local_offset;
use crate::error::AppResult;
use crate::events::{
    NOT_REPORTED, NOTIFICATION_RECEIVED, NOTIFY_CHANNEL, POSITIVE_RESULT, RELEASE_DUE, UNDECIDED_POSITIVE,
};
use crate::state::AppState;

/// How far back a round looks for undecided positives: older ones were
/// put on the queue by an earlier round, or were decided.
const UNDECIDED_LOOKBACK: chrono::Duration = chrono::Duration::days(7);

/// Releases due are looked for every this many rounds (every 15 minutes
/// at the default interval).
const RELEASE_ROUNDS: u64 = 15;

/// Most releases due put on the queues in one round.
const RELEASES_PER_ROUND: u64 = 5_000;

/// Runs [`round`] every `config.watch_interval`.
pub fn start(state: AppState) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(state.config.watch_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for count in 0u64.. {
            ticks.tick().await;
            if let Err(error) = round(&state, count % RELEASE_ROUNDS == 0).await {
                tracing::warn!(code = error.code(), "the watch's round failed; retrying at the next");
            }
        }
    });
}

/// One round: writes the events that are due and not written yet (the
/// releases due only `with_releases`). Answers how many it wrote.
pub async fn round(state: &AppState, with_releases: bool) -> AppResult<u64> {
    let now = state.now();
    let local = now.with_timezone(&local_offset());
    let mut written = 0;
    if local.time() >= state.config.not_reported_by {
        written += not_reported(&state.db, local.date_naive(), now).await?;
    }
    let undecided_after =
        chrono::Duration::from_std(state.config.undecided_after).unwrap_or(chrono::Duration::hours(6));
    written += undecided(&state.db, now - undecided_after, now).await?;
    written += notifications(&state.db, now).await?;
    if with_releases {
        written += releases(&state.db, local.date_naive(), now).await?;
    }
    written += close_ended(&state.db, now).await?;
    if written > 0 {
        tracing::info!(written, "the watch put items on the queues");
        if crate::db::is_postgres(&state.db) {
            state.db.execute_unprepared(&format!("SELECT pg_notify('{NOTIFY_CHANNEL}', '')")).await?;
        }
    }
    Ok(written)
}

/// The outbox row of each patient followed up on `day` without a health
/// report that day.
async fn not_reported(db: &DatabaseConnection, day: NaiveDate, now: DateTime<Utc>) -> AppResult<u64> {
    let mut select =
        events_of(NOT_REPORTED, Expr::val(None::<i64>), key(&format!("{NOT_REPORTED}:{day}:"), &["patients.id"]));
    select.expr(Expr::val(day.to_string())).expr(Expr::val(now)).from(patient::Entity);
    at_centre(&mut select)
        .cond_where(super::follow_up::followed_on(day))
        .and_where(patient::Column::Id.not_in_subquery(super::follow_up::reported_on(day)));
    insert(db, select).await
}

/// The outbox row of each positive result recorded between a week before
/// `due` and `due` whose patient's care setting is still undecided.
async fn undecided(db: &DatabaseConnection, due: DateTime<Utc>, now: DateTime<Utc>) -> AppResult<u64> {
    let mut select = events_of(
        UNDECIDED_POSITIVE,
        Expr::col((outbox_event::Entity, outbox_event::Column::LabTestId)),
        key(&format!("{UNDECIDED_POSITIVE}:"), &["outbox_events.lab_test_id"]),
    );
    select.expr(Expr::val(None::<String>)).expr(Expr::val(now)).from(outbox_event::Entity).inner_join(
        patient::Entity,
        Expr::col((patient::Entity, patient::Column::Id))
            .equals((outbox_event::Entity, outbox_event::Column::PatientId)),
    );
    at_centre(&mut select)
        .and_where(outbox_event::Column::Kind.eq(POSITIVE_RESULT))
        .and_where(outbox_event::Column::OccurredAt.lte(due))
        .and_where(outbox_event::Column::OccurredAt.gt(due - UNDECIDED_LOOKBACK))
        .and_where(patient::Column::CareSetting.eq(CareSetting::Undecided))
        .and_where(patient::Column::Outcome.is_null())
        .and_where(patient::Column::RecordStatus.eq(RecordStatus::Active));
    insert(db, select).await
}

/// The outbox row of each facility's notification waiting for acceptance:
/// once per sending (the key carries the moment of the last return).
async fn notifications(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<u64> {
    let returned = if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        "COALESCE(CAST(EXTRACT(EPOCH FROM patients.notification_decided_at) AS BIGINT), 0)"
    } else {
        "COALESCE(CAST(strftime('%s', patients.notification_decided_at) AS INTEGER), 0)"
    };
    let mut select = events_of(
        NOTIFICATION_RECEIVED,
        Expr::val(None::<i64>),
        key(&format!("{NOTIFICATION_RECEIVED}:"), &["patients.id", returned]),
    );
    select.expr(Expr::val(None::<String>)).expr(Expr::val(now)).from(patient::Entity);
    at_centre(&mut select)
        .and_where(patient::Column::NotificationStatus.eq(NotificationStatus::Received))
        .and_where(patient::Column::RecordStatus.eq(RecordStatus::Active));
    insert(db, select).await
}

/// The outbox row of each case whose release is due on `today` or before,
/// with the day it is due.
async fn releases(db: &DatabaseConnection, today: NaiveDate, now: DateTime<Utc>) -> AppResult<u64> {
    let due = super::patient_record::releases_due(db, sea_orm::Condition::all(), today, RELEASES_PER_ROUND).await?;
    let mut written = 0;
    for chunk in due.chunks(500) {
        let ids: Vec<i64> = chunk.iter().map(|(_, id)| *id).collect();
        let mut select =
            events_of(RELEASE_DUE, Expr::val(None::<i64>), key(&format!("{RELEASE_DUE}:"), &["patients.id"]));
        select.expr(Expr::val(None::<String>)).expr(Expr::val(now)).from(patient::Entity);
        at_centre(&mut select).and_where(patient::Column::Id.is_in(ids));
        written += insert(db, select).await?;
    }
    Ok(written)
}

/// How far back the watch looks for items to close: older ones are left to
/// staff.
const CLOSE_LOOKBACK: chrono::Duration = chrono::Duration::days(30);

/// Most items of one kind and cause closed in one round (the next round
/// goes on).
const CLOSED_PER_ROUND: u64 = 500;

/// The causes that end an item, by kind: the stored reason and the
/// condition on the event (its patient, a later report) that says so.
fn endings() -> Vec<(&'static str, Closure, Condition)> {
    let ended = Condition::any()
        .add(patient::Column::Outcome.is_not_null())
        .add(patient::Column::RecordStatus.ne(RecordStatus::Active));
    let patients = |condition: Condition| {
        Condition::all().add(outbox_event::Column::PatientId.in_subquery(
            Query::select().column(patient::Column::Id).from(patient::Entity).cond_where(condition).to_owned(),
        ))
    };
    let reported = Expr::cust(
        "EXISTS (SELECT 1 FROM health_reports r WHERE r.patient_id = outbox_events.patient_id \
         AND r.recorded_at >= outbox_events.occurred_at)",
    );
    vec![
        (UNDECIDED_POSITIVE, Closure::CaseEnded, patients(ended.clone())),
        (
            UNDECIDED_POSITIVE,
            Closure::CareSettingDecided,
            patients(Condition::all().add(patient::Column::CareSetting.ne(CareSetting::Undecided))),
        ),
        (NOT_REPORTED, Closure::CaseEnded, patients(ended.clone())),
        (NOT_REPORTED, Closure::Reported, Condition::all().add(reported)),
        (NOTIFICATION_RECEIVED, Closure::CaseEnded, patients(ended.clone())),
        (
            NOTIFICATION_RECEIVED,
            Closure::NotificationDecided,
            patients(Condition::all().add(patient::Column::NotificationStatus.ne(NotificationStatus::Received))),
        ),
        (RELEASE_DUE, Closure::CaseEnded, patients(ended)),
    ]
}

/// Closes the items of the last [`CLOSE_LOOKBACK`] whose cause has ended
/// and that nobody has marked done or reopened (see the module's
/// comment). Answers how many it closed.
async fn close_ended(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<u64> {
    // Never acted on, or only acknowledged: asked of each candidate's own
    // row, so that a round reads no more of `work_items` than its
    // candidates' however long the history grows.
    let settled = Expr::cust(format!(
        "NOT EXISTS (SELECT 1 FROM work_items w WHERE w.event_id = outbox_events.id AND w.state <> '{}')",
        ItemState::Acknowledged.name()
    ));
    let mut closed = 0;
    for (kind, because, condition) in endings() {
        let events = outbox_event::Entity::find()
            .filter(outbox_event::Column::Kind.eq(kind))
            .filter(outbox_event::Column::OccurredAt.gt(now - CLOSE_LOOKBACK))
            .filter(settled.clone())
            .filter(condition)
            .order_by_asc(outbox_event::Column::Id)
            .limit(CLOSED_PER_ROUND)
            .all(db)
            .await?;
        if events.is_empty() {
            continue;
        }
        let ids: Vec<i64> = events.iter().map(|event| event.id).collect();
        let items: std::collections::HashMap<i64, work_item::Model> = work_item::Entity::find()
            .filter(work_item::Column::EventId.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|item| (item.event_id, item))
            .collect();
        for event in &events {
            if super::work_queue::close_ended(db, event, items.get(&event.id), because, now).await? {
                closed += 1;
            }
        }
    }
    if closed > 0 {
        tracing::info!(closed, "the watch closed items whose cause ended");
    }
    Ok(closed)
}

/// The first columns of a watch event's row: kind, test, patient,
/// centre, prefecture (of the patient's responsible centre now, joined by
/// [`at_centre`]) and the key (see [`key`]); the caller adds the detail
/// and the moment, then the rows it reads.
fn events_of(kind: &str, test: Expr, key: String) -> SelectStatement {
    let mut select = Query::select();
    select
        .expr(Expr::val(kind))
        .expr(test)
        .column((patient::Entity, patient::Column::Id))
        .column((health_centre::Entity, health_centre::Column::Id))
        .column((health_centre::Entity, health_centre::Column::PrefectureId))
        .expr(Expr::cust(key));
    select
}

/// An event's key as SQL: `prefix` followed by `parts` (expressions of
/// the rows read) as text, separated by colons.
fn key(prefix: &str, parts: &[&str]) -> String {
    let parts: Vec<String> = parts.iter().map(|part| format!("CAST({part} AS TEXT)")).collect();
    format!("'{}' || {}", plain(prefix), parts.join(" || ':' || "))
}

/// A key's prefix as written into the statement: the kind, a day and
/// colons, never anything a client sent; any other character is dropped.
fn plain(prefix: &str) -> String {
    prefix.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-')).collect()
}

/// Joins the patient's responsible health centre (after `patients` is in
/// the statement).
fn at_centre(select: &mut SelectStatement) -> &mut SelectStatement {
    select.inner_join(
        health_centre::Entity,
        Expr::col((health_centre::Entity, health_centre::Column::Id))
            .equals((patient::Entity, patient::Column::ResponsibleHealthCentreId)),
    )
}

/// Inserts the rows `select` reads into the outbox, skipping those whose
/// key is taken.
async fn insert(db: &DatabaseConnection, select: SelectStatement) -> AppResult<u64> {
    let mut insert = Query::insert();
    insert
        .into_table(outbox_event::Entity)
        .columns([
            outbox_event::Column::Kind,
            outbox_event::Column::LabTestId,
            outbox_event::Column::PatientId,
            outbox_event::Column::HealthCentreId,
            outbox_event::Column::PrefectureId,
            outbox_event::Column::DedupKey,
            outbox_event::Column::Detail,
            outbox_event::Column::OccurredAt,
        ])
        .select_from(select)
        .map_err(|error| crate::error::AppError::Internal(anyhow::anyhow!("the watch's statement: {error}")))?
        .on_conflict(OnConflict::column(outbox_event::Column::DedupKey).do_nothing().to_owned());
    let backend = db.get_database_backend();
    Ok(db.execute_raw(backend.build(&insert)).await?.rows_affected())
}
