//! The history of a patient's care setting, for as-of figures.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "care_setting_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub patient_id: i64,
    pub care_setting: CareSetting,
    pub decided_by_account_id: i64,
    pub decided_at: DateTimeUtc,
    pub recorded_at: DateTimeUtc,
    /// A home-care decision for a resident cared for in their elderly or
    /// welfare facility.
    pub welfare_facility: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
