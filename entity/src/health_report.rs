//! A daily health report (My HER-SYS) by the patient or by staff after a call.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "health_reports")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub patient_id: i64,
    pub reporter: ReporterKind,
    /// The staff account that entered it, for staff reports.
    pub reported_by_account_id: Option<i64>,
    pub body_temperature: f64,
    pub spo2: Option<i32>,
    /// Symptom names, comma-separated, in the order of the Symptom enumeration.
    pub symptoms: String,
    pub note: Option<String>,
    /// Emergency signs (the national list of thirteen) ticked, by name,
    /// comma-separated; empty when none.
    pub emergency_signs: String,
    pub reported_at: DateTimeUtc,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
