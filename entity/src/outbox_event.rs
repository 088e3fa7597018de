//! The transactional outbox of live case events: positive results,
//! break-glass accesses, transfers in, contacts handed over, health
//! alerts, patients not reported, undecided positives and changes to work
//! items. Read in `(tx_id, id)` order, which is also its cursor.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The event's kind (`POSITIVE_RESULT`, `BREAK_GLASS`, …).
    pub kind: String,
    /// The positive test (`POSITIVE_RESULT`).
    pub lab_test_id: Option<i64>,
    pub patient_id: i64,
    /// The responsible health centre when the event happened.
    pub health_centre_id: i64,
    pub prefecture_id: i32,
    pub occurred_at: DateTimeUtc,
    /// The writing transaction on PostgreSQL (`txid_current()`); 0 on SQLite
    /// and for events written before transactions were recorded.
    pub tx_id: i64,
    /// The access (`BREAK_GLASS`).
    pub break_glass_access_id: Option<i64>,
    /// The health report an alert is about (`EMERGENCY_SIGNS`, `WARNING_SIGNS`).
    pub health_report_id: Option<i64>,
    /// The queue item a change is about (`WORK_ITEM_UPDATED`): its event's ID.
    pub item_event_id: Option<i64>,
    /// What the event says beyond its rows: the signs or reasons of an
    /// alert, the day of a missing report. Names, never personal values.
    pub detail: Option<String>,
    /// Makes an event written on a timer unique (the kind, the patient or
    /// test, the day); empty for events written by a case's own write.
    pub dedup_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
