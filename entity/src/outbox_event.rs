//! The transactional outbox of live case events: positive results and
//! break-glass accesses. Read in `(tx_id, id)` order, which is also its
//! cursor.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `POSITIVE_RESULT` or `BREAK_GLASS`.
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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
