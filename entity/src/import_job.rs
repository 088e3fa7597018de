//! An import of a file from a facility system: who sent it, how far it
//! has come, and its report once it has ended.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "import_jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The account that sent the file (or the service account of an API
    /// key).
    pub account_id: Option<i64>,
    pub service_account_id: Option<i64>,
    pub organisation_id: i64,
    /// `CSV` or `FHIR`.
    pub format: String,
    /// Checked only, nothing written.
    pub dry_run: bool,
    /// `RUNNING`, `DONE` or `FAILED` (the upload broke off).
    pub status: String,
    pub records_read: i64,
    pub accepted: i64,
    pub unchanged: i64,
    pub refused: i64,
    pub started_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// The report (JSON) once the import has ended.
    pub report: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
