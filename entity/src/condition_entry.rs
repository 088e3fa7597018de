//! The condition of an admitted patient at a moment, entered by the hospital.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "condition_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub hospitalisation_id: i64,
    pub severity: Severity,
    pub icu: bool,
    pub ventilator: bool,
    pub ecmo: bool,
    pub note: Option<String>,
    pub observed_at: DateTimeUtc,
    pub recorded_at: DateTimeUtc,
    pub recorded_by_account_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
