//! One entry of a case's behaviour history before onset (行動歴): the day,
//! the kind of place, the place and a note. Personal data.
use sea_orm::entity::prelude::*;

use crate::enums::ExposureSetting;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "behaviour_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub patient_id: i64,
    pub day: Date,
    pub place_kind: ExposureSetting,
    pub place: String,
    pub note: Option<String>,
    pub recorded_by_account_id: i64,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
