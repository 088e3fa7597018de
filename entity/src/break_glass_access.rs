//! Break-glass accesses: a staff account opened a patient record outside
//! its reach, stating why, until `expires_at`. Read by the row scope while
//! open, and kept for administrators' review.
use crate::enums::{BreakGlassFinding, BreakGlassReason};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "break_glass_accesses")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    /// The session that opened it (it ends with the access's time, not the
    /// session: every session of the account reaches the record meanwhile).
    pub session_id: i64,
    pub patient_id: i64,
    /// The patient's responsible health centre when it was opened: the
    /// centre that was told.
    pub health_centre_id: i64,
    pub reason: BreakGlassReason,
    /// The staff member's own words: why the record had to be opened.
    pub explanation: String,
    pub granted_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub reviewed_by: Option<i64>,
    pub reviewed_at: Option<DateTimeUtc>,
    pub finding: Option<BreakGlassFinding>,
    pub review_note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
