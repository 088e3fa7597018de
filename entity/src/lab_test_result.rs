//! One entry of a test's result history; corrections append, nothing is overwritten.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "lab_test_results")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub lab_test_id: i64,
    pub result: TestResult,
    pub resulted_at: DateTimeUtc,
    pub recorded_at: DateTimeUtc,
    pub recorded_by_account_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
