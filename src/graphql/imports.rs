//! Imports of files from facility systems (`POST /import/csv`,
//! `POST /import/fhir`, `hersys import`): each upload is a job whose
//! progress and report the organisation's staff can follow here while it
//! runs and read once it has ended (`services::import`).

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::import_job;

use super::context::{signed_in, state};
use super::pages::{PageInfo, decode_kind_cursor, encode_kind_cursor, page_size};
use crate::services::{self, parse_id};

/// This area's part of the root `Query` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct ImportsQuery;

#[Object]
impl ImportsQuery {
    /// An import of the caller's organisation, while it runs (its counts
    /// move every second) and after: null when there is no such job within
    /// reach.
    async fn import_job(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The job's ID (`jobId` of the report).")] id: ID,
    ) -> Result<Option<ImportJob>> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&id, "id")?;
        Ok(services::import::job(state(ctx), principal, id).await?.map(ImportJob))
    }

    /// The imports of the caller's organisation, newest first.
    async fn import_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size: 1 to 100, 20 by default.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> Result<ImportJobConnection> {
        let principal = signed_in(ctx)?;
        let first = page_size(first, 20, 100)?;
        let after = after.as_deref().map(|c| decode_kind_cursor("import", c, "after")).transpose()?;
        let (jobs, has_next_page, total) = services::import::jobs(state(ctx), principal, first, after).await?;
        let page_info = PageInfo {
            has_next_page,
            has_previous_page: after.is_some(),
            start_cursor: jobs.first().map(|j| encode_kind_cursor("import", j.id)),
            end_cursor: jobs.last().map(|j| encode_kind_cursor("import", j.id)),
        };
        let edges = jobs
            .into_iter()
            .map(|job| ImportJobEdge { cursor: encode_kind_cursor("import", job.id), node: ImportJob(job) })
            .collect();
        Ok(ImportJobConnection { edges, page_info, total_count: total as i64 })
    }
}

/// A page of import jobs.
#[derive(SimpleObject)]
pub struct ImportJobConnection {
    /// The jobs of the page, newest first.
    pub edges: Vec<ImportJobEdge>,
    /// Where the page stands.
    pub page_info: PageInfo,
    /// Jobs of the organisation in all.
    pub total_count: i64,
}

/// An import job and its cursor.
#[derive(SimpleObject)]
pub struct ImportJobEdge {
    /// Pass as `after` for the jobs that follow.
    pub cursor: String,
    /// The job.
    pub node: ImportJob,
}

/// The kind of file imported.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ImportFormat {
    /// The CSV layout (Japanese or English headers; UTF-8 or Shift_JIS).
    Csv,
    /// An HL7 FHIR R4 bundle (JSON).
    Fhir,
}

/// Where an import stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ImportStatus {
    /// Items are being read and written.
    Running,
    /// Every item of the file was read.
    Done,
    /// The upload broke off; the items before it stay written.
    Failed,
}

/// An upload of a file of registrations and test results.
pub struct ImportJob(import_job::Model);

/// An upload of a file of registrations and test results: its progress
/// while it runs, its report once it has ended.
#[Object]
impl ImportJob {
    /// The job's ID (`jobId` of the report).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The kind of file.
    async fn format(&self) -> ImportFormat {
        if self.0.format == "FHIR" { ImportFormat::Fhir } else { ImportFormat::Csv }
    }
    /// Checked only: nothing was written.
    async fn dry_run(&self) -> bool {
        self.0.dry_run
    }
    /// Running, done, or broken off.
    async fn status(&self) -> ImportStatus {
        match self.0.status.as_str() {
            "DONE" => ImportStatus::Done,
            "FAILED" => ImportStatus::Failed,
            _ => ImportStatus::Running,
        }
    }
    /// Items read so far (rows of a CSV file, test observations of a
    /// bundle), refused ones included.
    async fn records_read(&self) -> i64 {
        self.0.records_read
    }
    /// Items written (in a dry run: that would be written).
    async fn accepted(&self) -> i64 {
        self.0.accepted
    }
    /// Items already there: nothing changed.
    async fn unchanged(&self) -> i64 {
        self.0.unchanged
    }
    /// Items refused (see `errors`).
    async fn refused(&self) -> i64 {
        self.0.refused
    }
    /// When the upload began.
    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }
    /// When the counts were last written.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// When the last item was written; null while it runs.
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    /// The refusals of a finished job, by line or entry (at most 1,000;
    /// `errorsNotListed` counts the rest). Empty while it runs.
    async fn errors(&self) -> Vec<ImportError> {
        services::import::listed_errors(&self.0).0.into_iter().map(ImportError::from).collect()
    }
    /// Refusals beyond those listed.
    async fn errors_not_listed(&self) -> i64 {
        services::import::listed_errors(&self.0).1 as i64
    }
}

/// One refusal of an import.
#[derive(SimpleObject)]
pub struct ImportError {
    /// The line of a CSV file the item starts on.
    pub line: Option<i32>,
    /// The entry of a FHIR bundle (from 1).
    pub entry: Option<i32>,
    /// The column or FHIR element; null for the item as a whole.
    pub field: Option<String>,
    /// What kind of refusal (`BAD_USER_INPUT`, `FORBIDDEN`, `NOT_FOUND`,
    /// `CONFLICT`, `DUPLICATE_SUSPECTED`, …).
    pub code: String,
    /// The rule the item broke (never the value sent).
    pub message: String,
}

impl From<services::import::JobError> for ImportError {
    fn from(e: services::import::JobError) -> Self {
        let number = |n: Option<usize>| n.and_then(|n| i32::try_from(n).ok());
        ImportError { line: number(e.line), entry: number(e.entry), field: e.field, code: e.code, message: e.message }
    }
}
