//! One change of one item of a patient record: the history of corrections
//! and completions, append-only.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "patient_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub patient_id: i64,
    /// The record's version this change made.
    pub version: i32,
    /// The item, by its GraphQL field name.
    pub field: String,
    /// The value before and after, as text (dates ISO 8601, enumerations
    /// by name); none when empty.
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub account_id: i64,
    /// The facility the change was entered for (on behalf of it, or the
    /// caller's own).
    pub facility_id: Option<i64>,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
