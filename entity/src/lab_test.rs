//! A laboratory test of a patient; its result history is in lab_test_results.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "lab_tests")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub patient_id: i64,
    /// The facility that took the sample.
    pub facility_id: i64,
    pub kind: TestKind,
    pub specimen: Option<String>,
    /// The current result (the latest entry of its history).
    pub result: TestResult,
    pub sampled_at: DateTimeUtc,
    pub resulted_at: Option<DateTimeUtc>,
    pub recorded_at: DateTimeUtc,
    pub recorded_by_account_id: i64,
    /// The organisation that entered the test: the facility's own, or a
    /// health centre entering on behalf of a facility without system access.
    pub entered_by_organisation_id: i64,
    pub version: i32,
    /// The facility's own specimen ID: with the facility, the test's
    /// natural key.
    pub specimen_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
