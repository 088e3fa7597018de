//! A hospital stay; condition entries keep its history.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "hospitalisations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub patient_id: i64,
    /// The admitting hospital.
    pub facility_id: i64,
    pub admitted_at: DateTimeUtc,
    pub recorded_at: DateTimeUtc,
    pub discharged_at: Option<DateTimeUtc>,
    pub discharge_recorded_at: Option<DateTimeUtc>,
    /// The latest condition entry's severity.
    pub severity: Severity,
    pub icu: bool,
    pub ventilator: bool,
    pub ecmo: bool,
    pub recorded_by_account_id: i64,
    pub entered_by_organisation_id: i64,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
