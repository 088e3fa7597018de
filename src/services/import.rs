//! Imports of files from facility systems: each item of a file (a CSV row,
//! or a person of a FHIR bundle with their test) becomes a registration
//! and a test, written in one transaction of its own with the audit, the
//! statistics ledger and, for a positive, the outbox event, exactly as
//! `registerPatient` and `recordTest` would write them, under the same
//! rights.
//!
//! An item is first planned, reading only: the facility it is for (the
//! caller's own, or for a health centre one of its district without
//! access), whether the facility already sent its specimen (then it is
//! already there and nothing changes, or its pending result is now known),
//! and whether the person is already in reach (the same name, reading,
//! date of birth and sex: the test is added to that record; only likely
//! the same: refused as a suspected duplicate, never created twice). A dry
//! run stops after the plan; a real run plans inside the item's
//! transaction, then writes.
//!
//! Items run on a few workers at once; the items of one person always go
//! to the same worker, one after another, so that two of them never create
//! the person twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use entity::enums::{CaseType, FacilityKind, RecordStatus, Severity, TestResult};
use entity::{facility, import_job, lab_test, patient};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use tokio::sync::{Mutex, mpsc};

use super::appends::Appends;
use super::patient_write::Locked;
use super::patients::{Appended, EnteredFor, NewPatient};
use super::statistics::ledger::Facts;
use super::tests::{NewTest, Recorded};
use crate::auth::Principal;
use crate::auth::policy::{self, CaseAction};
use crate::domain::import::{Encoding, Header, Place, Records, Row, RowError};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Refusals listed in a report; beyond them only counted, so that a file
/// of any size has a report of bounded size.
pub const MAX_LISTED: usize = 1000;

/// Items in flight per worker before the reader waits.
const QUEUE: usize = 32;

/// The kind of file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Format {
    Csv,
    Fhir,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::Fhir => "FHIR",
        }
    }

    /// How the report names a field the services name (`input.sampledAt`).
    fn field(self, service_field: &str) -> Option<&'static str> {
        let csv = match service_field.trim_start_matches("input.") {
            "sampledAt" => "sampled_at",
            "specimenId" => "specimen_id",
            "admittedAt" => "admitted_at",
            "facilityId" => "facility_code",
            "birthDate" => "birth_date",
            "confirmNewPerson" => "name_kana",
            _ => return None,
        };
        Some(match self {
            Format::Csv => csv,
            Format::Fhir => match csv {
                "sampled_at" => "Specimen.collection.collectedDateTime",
                "specimen_id" => "Specimen.identifier",
                "admitted_at" => "Encounter.period.start",
                "facility_code" => "Organization.identifier",
                "birth_date" => "Patient.birthDate",
                _ => "Patient.name",
            },
        })
    }
}

/// One refusal of a report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReportError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<usize>,
    pub field: Option<&'static str>,
    pub code: &'static str,
    pub message: String,
}

impl From<RowError> for ReportError {
    fn from(error: RowError) -> Self {
        let (line, entry) = match error.place {
            Place::Line(line) => (Some(line), None),
            Place::Entry(entry) => (None, Some(entry)),
        };
        ReportError { line, entry, field: error.field, code: error.code, message: error.message }
    }
}

impl ReportError {
    fn place(&self) -> Place {
        match (self.line, self.entry) {
            (Some(line), _) => Place::Line(line),
            (None, entry) => Place::Entry(entry.unwrap_or_default()),
        }
    }
}

/// The report of an import: what was written, what was already there,
/// what was refused and why.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub job_id: i64,
    pub format: Format,
    pub dry_run: bool,
    /// `DONE`, or `FAILED` when the upload broke off (what was accepted
    /// before stays written).
    pub status: &'static str,
    /// Items read (rows or people), refused ones included.
    pub records: u64,
    /// Written (in a dry run: would be written).
    pub accepted: u64,
    /// Already there, nothing changed.
    pub unchanged: u64,
    pub refused: u64,
    /// New positives among the accepted.
    pub positives: u64,
    /// The first [`MAX_LISTED`] refusals by place; `errorsNotListed` counts
    /// the rest.
    pub errors: Vec<ReportError>,
    pub errors_not_listed: u64,
}

/// The counts of a running import, shared by its workers.
#[derive(Debug, Default)]
pub struct Progress {
    pub records: AtomicU64,
    pub accepted: AtomicU64,
    pub unchanged: AtomicU64,
    pub refused: AtomicU64,
    pub positives: AtomicU64,
}

/// The refusals of a running import: the lowest places kept, the others
/// counted.
#[derive(Debug, Default)]
struct Refusals {
    listed: Vec<ReportError>,
    not_listed: u64,
}

impl Refusals {
    fn add(&mut self, errors: impl IntoIterator<Item = ReportError>) {
        for error in errors {
            self.listed.push(error);
            if self.listed.len() >= MAX_LISTED * 2 {
                self.trim();
            }
        }
    }

    fn trim(&mut self) {
        self.listed.sort_by_key(ReportError::place);
        if self.listed.len() > MAX_LISTED {
            self.not_listed += (self.listed.len() - MAX_LISTED) as u64;
            self.listed.truncate(MAX_LISTED);
        }
    }
}

/// What happened to one item.
#[derive(Debug)]
enum Outcome {
    Accepted { positive: bool },
    Unchanged,
    Refused(Vec<ReportError>),
}

/// What an item will do, decided by reading only.
#[derive(Debug)]
enum Plan {
    /// The facility sent this specimen before, as it stands: nothing to do.
    Unchanged,
    /// The facility sent this specimen before as pending; its result is
    /// now known.
    Result { test_id: i64 },
    /// A new test, for the person already in reach (`Some`) or a new
    /// registration.
    New { facility: facility::Model, patient: Option<i64> },
}

/// An import in progress: its job row, its counts and refusals, and the
/// workers items are sent to.
pub struct Import {
    state: AppState,
    principal: Arc<Principal>,
    format: Format,
    dry_run: bool,
    job_id: i64,
    progress: Arc<Progress>,
    refusals: Arc<Mutex<Refusals>>,
    workers: Vec<mpsc::Sender<Row>>,
    handles: Vec<tokio::task::JoinHandle<()>>,
    ticker: tokio::task::JoinHandle<()>,
}

impl Import {
    /// Starts an import for `principal`: refused as a whole unless the
    /// caller is a staff account that may register patients and record
    /// tests.
    pub async fn start(state: &AppState, principal: &Principal, format: Format, dry_run: bool) -> AppResult<Import> {
        if !policy::may_register_patients(principal) || !policy::may_record_tests(principal) {
            return Err(AppError::forbidden(
                "only testing facilities and health centres import registrations and tests",
            ));
        }
        if principal.account_id.is_none() {
            return Err(AppError::forbidden(
                "an import is made by a staff account (a session token): each record names the account that \
                 entered it",
            ));
        }
        let organisation_id = principal.organisation_id.ok_or_else(|| AppError::forbidden("staff only"))?;
        let now = state.now();
        let job = import_job::ActiveModel {
            account_id: Set(principal.account_id),
            service_account_id: Set(principal.key.as_ref().map(|k| k.service_account_id)),
            organisation_id: Set(organisation_id),
            format: Set(format.as_str().to_owned()),
            dry_run: Set(dry_run),
            status: Set("RUNNING".to_owned()),
            records_read: Set(0),
            accepted: Set(0),
            unchanged: Set(0),
            refused: Set(0),
            started_at: Set(now),
            updated_at: Set(now),
            finished_at: Set(None),
            report: Set(None),
            ..Default::default()
        }
        .insert(&state.db)
        .await?;
        let principal = Arc::new(principal.clone());
        let progress = Arc::new(Progress::default());
        let refusals = Arc::new(Mutex::new(Refusals::default()));
        let facilities = Arc::new(Mutex::new(HashMap::new()));
        let prefectures = Arc::new(Mutex::new(HashMap::new()));
        let ids = Arc::new(Mutex::new(Vec::new()));
        // SQLite has one writer at a time: more workers would only wait.
        let count = match state.db.get_database_backend() {
            sea_orm::DbBackend::Sqlite => 1,
            _ => state.config.import_workers.max(1),
        };
        let mut workers = Vec::with_capacity(count);
        let mut handles = Vec::with_capacity(count);
        for _ in 0..count {
            let (sender, mut receiver) = mpsc::channel::<Row>(QUEUE);
            let worker = Worker {
                state: state.clone(),
                principal: principal.clone(),
                format,
                dry_run,
                facilities: facilities.clone(),
                prefectures: prefectures.clone(),
                ids: ids.clone(),
            };
            let (progress, refusals) = (progress.clone(), refusals.clone());
            handles.push(tokio::spawn(async move {
                while let Some(row) = receiver.recv().await {
                    let outcome = worker.item(&row).await;
                    count_outcome(&progress, &refusals, outcome).await;
                }
            }));
            workers.push(sender);
        }
        let ticker = tokio::spawn(tick(state.clone(), job.id, progress.clone()));
        Ok(Import {
            state: state.clone(),
            principal,
            format,
            dry_run,
            job_id: job.id,
            progress,
            refusals,
            workers,
            handles,
            ticker,
        })
    }

    pub fn job_id(&self) -> i64 {
        self.job_id
    }

    /// The caller the import runs for.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Hands a checked item to its person's worker (waiting while that
    /// worker is busy: the file is read no faster than it is written).
    pub async fn send(&self, row: Row) {
        self.progress.records.fetch_add(1, Ordering::Relaxed);
        let worker = person_shard(&row, self.workers.len());
        if let Err(returned) = self.workers[worker].send(row).await {
            // The worker ended (it cannot, short of a panic): the item is
            // refused rather than lost without a word.
            let error = RowError::at(returned.0.place, None, "INTERNAL", "the item could not be processed");
            self.refuse(vec![error]).await;
        }
    }

    /// Counts an item refused before it could be planned (unreadable,
    /// invalid values).
    pub async fn refuse(&self, errors: Vec<RowError>) {
        self.progress.records.fetch_add(1, Ordering::Relaxed);
        count_outcome(&self.progress, &self.refusals, Outcome::Refused(errors.into_iter().map(Into::into).collect()))
            .await;
    }

    /// Lists refusals of the file as a whole (its header, its document):
    /// no item is counted.
    pub async fn refuse_file(&self, errors: Vec<RowError>) {
        self.refusals.lock().await.add(errors.into_iter().map(Into::into));
    }

    /// Waits for every item sent, and records the report: `DONE`, or
    /// `FAILED` when `broken` says why the upload ended early.
    pub async fn finish(self, broken: Option<&str>) -> AppResult<Report> {
        let Import { state, format, dry_run, job_id, progress, refusals, workers, handles, ticker, .. } = self;
        drop(workers);
        for handle in handles {
            if let Err(error) = handle.await {
                tracing::error!(job_id, %error, "an import worker ended abnormally");
            }
        }
        ticker.abort();
        let mut refusals = refusals.lock().await;
        refusals.trim();
        let mut errors = std::mem::take(&mut refusals.listed);
        if let Some(why) = broken {
            errors.push(ReportError {
                line: None,
                entry: None,
                field: None,
                code: "BAD_USER_INPUT",
                message: format!("the upload ended early: {why}; the items before it were imported"),
            });
        }
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let report = Report {
            job_id,
            format,
            dry_run,
            status: if broken.is_some() { "FAILED" } else { "DONE" },
            records: load(&progress.records),
            accepted: load(&progress.accepted),
            unchanged: load(&progress.unchanged),
            refused: load(&progress.refused),
            positives: load(&progress.positives),
            errors,
            errors_not_listed: refusals.not_listed,
        };
        let text = serde_json::to_string(&report).map_err(|e| AppError::Internal(e.into()))?;
        let now = state.now();
        import_job::Entity::update_many()
            .col_expr(import_job::Column::Status, Expr::value(report.status))
            .col_expr(import_job::Column::RecordsRead, Expr::value(report.records as i64))
            .col_expr(import_job::Column::Accepted, Expr::value(report.accepted as i64))
            .col_expr(import_job::Column::Unchanged, Expr::value(report.unchanged as i64))
            .col_expr(import_job::Column::Refused, Expr::value(report.refused as i64))
            .col_expr(import_job::Column::UpdatedAt, Expr::value(now))
            .col_expr(import_job::Column::FinishedAt, Expr::value(now))
            .col_expr(import_job::Column::Report, Expr::value(text))
            .filter(import_job::Column::Id.eq(job_id))
            .exec(&state.db)
            .await?;
        tracing::info!(
            job_id,
            format = format.as_str(),
            dry_run,
            records = report.records,
            accepted = report.accepted,
            unchanged = report.unchanged,
            refused = report.refused,
            "import finished"
        );
        Ok(report)
    }
}

async fn count_outcome(progress: &Progress, refusals: &Mutex<Refusals>, outcome: Outcome) {
    match outcome {
        Outcome::Accepted { positive } => {
            progress.accepted.fetch_add(1, Ordering::Relaxed);
            progress.positives.fetch_add(u64::from(positive), Ordering::Relaxed);
        }
        Outcome::Unchanged => {
            progress.unchanged.fetch_add(1, Ordering::Relaxed);
        }
        Outcome::Refused(errors) => {
            progress.refused.fetch_add(1, Ordering::Relaxed);
            refusals.lock().await.add(errors);
        }
    }
}

/// Writes the counts to the job's row every second, for those who follow
/// the import (`importJob`).
async fn tick(state: AppState, job_id: i64, progress: Arc<Progress>) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(1));
    interval.tick().await;
    loop {
        interval.tick().await;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed) as i64;
        let written = import_job::Entity::update_many()
            .col_expr(import_job::Column::RecordsRead, Expr::value(load(&progress.records)))
            .col_expr(import_job::Column::Accepted, Expr::value(load(&progress.accepted)))
            .col_expr(import_job::Column::Unchanged, Expr::value(load(&progress.unchanged)))
            .col_expr(import_job::Column::Refused, Expr::value(load(&progress.refused)))
            .col_expr(import_job::Column::UpdatedAt, Expr::value(state.now()))
            .filter(import_job::Column::Id.eq(job_id))
            .exec(&state.db)
            .await;
        if let Err(error) = written {
            tracing::warn!(job_id, %error, "the progress of an import could not be written");
        }
    }
}

/// The worker of a person: the same reading and date of birth always go
/// to the same one.
fn person_shard(row: &Row, workers: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    row.name_kana.search_key().hash(&mut hasher);
    row.birth_date.date().hash(&mut hasher);
    (hasher.finish() % workers.max(1) as u64) as usize
}

/// A refusal of an item: the service's error, and the field it concerns
/// when the error itself names none (`input.facilityId` for a facility the
/// caller may not import for, `input.specimenId` for a reused specimen).
#[derive(Debug)]
struct ItemError {
    error: AppError,
    field: Option<&'static str>,
}

impl ItemError {
    fn at(field: &'static str) -> impl FnOnce(AppError) -> ItemError {
        move |error| ItemError { error, field: Some(field) }
    }
}

impl From<AppError> for ItemError {
    fn from(error: AppError) -> Self {
        ItemError { error, field: None }
    }
}

impl From<sea_orm::DbErr> for ItemError {
    fn from(error: sea_orm::DbErr) -> Self {
        ItemError { error: error.into(), field: None }
    }
}

/// What a worker needs to plan and write items.
struct Worker {
    state: AppState,
    principal: Arc<Principal>,
    format: Format,
    dry_run: bool,
    /// The facilities met, by code (`None`: the caller's own).
    facilities: Arc<Mutex<HashMap<Option<String>, Option<facility::Model>>>>,
    /// The prefecture of each health centre met.
    prefectures: Arc<Mutex<HashMap<i64, i32>>>,
    /// IDs drawn for new people and their tests (PostgreSQL).
    ids: Arc<Mutex<Vec<NewIds>>>,
}

/// The IDs of a new person's record and test, drawn from their tables'
/// sequences before the rows are written, so that both go with the rest
/// of the item's rows in one statement.
#[derive(Debug, Clone, Copy)]
struct NewIds {
    patient: i64,
    test: i64,
}

/// How many pairs of IDs are drawn at a time: one statement per this many
/// new people. IDs drawn and not used (a refused row, the end of the file)
/// leave a gap, as a rolled-back insert does.
const IDS_AT_A_TIME: i64 = 64;

/// How often an item is written again when a unique index refused it for a
/// reason that drawing again removes (a smartphone input ID taken).
const WRITES_PER_ITEM: usize = 4;

impl Worker {
    async fn item(&self, row: &Row) -> Outcome {
        let refused = |refusal: ItemError| {
            if let AppError::Internal(cause) = &refusal.error {
                tracing::error!(error = %cause, "an import item failed");
            }
            Outcome::Refused(vec![self.refusal(row.place, &refusal)])
        };
        if self.dry_run {
            return match self.plan(&self.state.db, row).await {
                Ok(Plan::Unchanged) => Outcome::Unchanged,
                Ok(_) => Outcome::Accepted { positive: row.result == TestResult::Positive },
                Err(error) => refused(error),
            };
        }
        // A real run plans inside the item's transaction (`write`).
        let mut written = self.write(row).await;
        for _ in 1..WRITES_PER_ITEM {
            match &written {
                // A new person's smartphone input ID was found taken as
                // the rows were written (their specimen was not): drawn
                // again with the next write.
                Err(ItemError { error: AppError::Internal(cause), .. })
                    if crate::db::DbFailure::is_unique_violation(cause) && !self.specimen_taken(row).await =>
                {
                    written = self.write(row).await;
                }
                _ => break,
            }
        }
        match written {
            Ok(outcome) => outcome,
            // Another worker wrote the same specimen meanwhile (the unique
            // index refused this one): the item is planned again, and is
            // then unchanged or refused as any reuse is.
            Err(ItemError { error: AppError::Internal(_), .. }) if self.specimen_taken(row).await => {
                match self.plan(&self.state.db, row).await {
                    Ok(Plan::Unchanged) => Outcome::Unchanged,
                    Ok(_) => refused(ItemError::from(AppError::conflict(
                        "the same specimen was being written for another row of the file",
                    ))),
                    Err(error) => refused(error),
                }
            }
            Err(error) => refused(error),
        }
    }

    /// Whether the row's facility already holds its specimen.
    async fn specimen_taken(&self, row: &Row) -> bool {
        let Ok(facility) = self.facility(&self.state.db, row).await else { return false };
        super::tests::by_specimen(&self.state.db, facility.id, &row.specimen_id).await.is_ok_and(|t| t.is_some())
    }

    /// A refusal of the service, named in the file's terms.
    fn refusal(&self, place: Place, refusal: &ItemError) -> ReportError {
        let error = &refusal.error;
        let field = error.field().or(refusal.field).and_then(|f| self.format.field(f));
        let message = match error {
            AppError::DuplicateSuspected { candidates } => format!(
                "likely the same person as the record(s) {} within your reach, with other details: correct the \
                 row, or register the person with registerPatient (confirmNewPerson)",
                candidates.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
            ),
            other => other.message(),
        };
        let code = match error {
            AppError::DuplicateSuspected { .. } => "DUPLICATE_SUSPECTED",
            other => other.code(),
        };
        ReportError::from(RowError::at(place, field, code, message))
    }

    /// The prefecture of the health centre `id`.
    async fn prefecture_of(&self, db: &impl ConnectionTrait, id: i64) -> AppResult<i32> {
        let mut known = self.prefectures.lock().await;
        if let Some(prefecture) = known.get(&id) {
            return Ok(*prefecture);
        }
        let centre = entity::health_centre::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a record names a health centre that does not exist")))?;
        known.insert(id, centre.prefecture_id);
        Ok(centre.prefecture_id)
    }

    /// A facility the import has met, read once: by its code (`Some`), or
    /// the caller's own (`None`), as `query` finds it.
    async fn known_facility(
        &self,
        db: &impl ConnectionTrait,
        code: Option<&String>,
        query: sea_orm::Select<facility::Entity>,
    ) -> AppResult<Option<facility::Model>> {
        let mut known = self.facilities.lock().await;
        if let Some(found) = known.get(&code.cloned()) {
            return Ok(found.clone());
        }
        let found = query.one(db).await?;
        known.insert(code.cloned(), found.clone());
        Ok(found)
    }

    /// The facility a row is for, as the caller's rights decide it.
    async fn facility(&self, db: &impl ConnectionTrait, row: &Row) -> AppResult<facility::Model> {
        let named = match &row.facility_code {
            Some(code) => {
                let query = facility::Entity::find().filter(facility::Column::Code.eq(code));
                let found = self.known_facility(db, Some(code), query).await?;
                Some(found.ok_or_else(|| AppError::not_found("input.facilityId", "no facility has this code"))?)
            }
            None => None,
        };
        let requested = named.as_ref().map(|f| f.id);
        match policy::entry_facility(&self.principal, requested, "import") {
            Ok(policy::EntryFacility::Own(own)) => match named {
                Some(named) => Ok(named),
                None => self
                    .known_facility(db, None, facility::Entity::find_by_id(own))
                    .await?
                    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("account's facility is missing"))),
            },
            Ok(policy::EntryFacility::Named(_)) => {
                let named = named.ok_or_else(|| {
                    AppError::bad_input("input.facilityId", "a health centre names the facility it enters for")
                })?;
                if !policy::may_enter_on_behalf(&self.principal, &named) {
                    return Err(AppError::Forbidden(
                        "a health centre enters data on behalf of facilities of its own district without system \
                         access"
                            .to_owned(),
                    ));
                }
                Ok(named)
            }
            // Medical staff naming another facility.
            Err(_) => Err(AppError::Forbidden(
                "a facility imports its own tests only: the row names another facility".to_owned(),
            )),
        }
    }

    /// What the row will do, by reading only.
    async fn plan(&self, db: &impl ConnectionTrait, row: &Row) -> Result<Plan, ItemError> {
        let facility = self.facility(db, row).await.map_err(ItemError::at("input.facilityId"))?;
        if row.admitted_at.is_some() && facility.kind != FacilityKind::Hospital {
            return Err(AppError::bad_input("input.admittedAt", "only a hospital's items record an admission").into());
        }
        let (sent_before, found) = self.look_up(db, &facility, row).await?;
        if sent_before && let Some(known) = super::tests::by_specimen(db, facility.id, &row.specimen_id).await? {
            let person = patient::Entity::find_by_id(known.patient_id).one(db).await?;
            let same_person = person.as_ref().is_some_and(|p| same_person(p, row));
            if same_person && known.kind == row.test_kind && known.result == row.result {
                return Ok(Plan::Unchanged);
            }
            if same_person && known.kind == row.test_kind && known.result == TestResult::Pending {
                return Ok(Plan::Result { test_id: known.id });
            }
            return Err(ItemError::at("input.specimenId")(AppError::conflict(
                "the facility already sent this specimen for another person, method or result; a result changes \
                 with recordTestResult",
            )));
        }
        if found.is_empty() {
            return Ok(Plan::New { facility, patient: None });
        }
        let candidates = patient::Entity::find().filter(patient::Column::Id.is_in(found.clone())).all(db).await?;
        let same: Vec<&patient::Model> = candidates.iter().filter(|p| same_person(p, row)).collect();
        match same.as_slice() {
            [one] if one.outcome.is_none() && one.record_status == RecordStatus::Active => {
                Ok(Plan::New { facility, patient: Some(one.id) })
            }
            [one] if one.outcome.is_some() => Err(ItemError::at("input.confirmNewPerson")(AppError::conflict(
                "the person's earlier case has ended: a reinfection is registered with registerPatient \
                 (previousPatientId)",
            ))),
            _ => Err(AppError::DuplicateSuspected { candidates: found }.into()),
        }
    }

    /// In one statement: whether the row's facility has sent its specimen
    /// before, and the people in the caller's reach likely the row's
    /// person (as `patients::likely_duplicates` finds them: the newest ten).
    async fn look_up(
        &self,
        db: &impl ConnectionTrait,
        facility: &facility::Model,
        row: &Row,
    ) -> AppResult<(bool, Vec<i64>)> {
        use sea_orm::sea_query::{Query, UnionType};
        let mut sent = Query::select()
            .expr_as(Expr::val(1i64), "part")
            .expr_as(Expr::col((lab_test::Entity, lab_test::Column::Id)), "id")
            .from(lab_test::Entity)
            .cond_where(super::tests::specimen_of(facility.id, &row.specimen_id))
            .to_owned();
        let phone = row.phone.as_ref().map(crate::domain::ContactPhone::digits).filter(|d| !d.is_empty());
        let people = Query::select()
            .expr_as(Expr::val(2i64), "part")
            .expr_as(Expr::col((patient::Entity, patient::Column::Id)), "id")
            .from(patient::Entity)
            .cond_where(super::patients::likely_the_same(
                &self.principal,
                &row.name_kana.search_key(),
                row.birth_date.date(),
                phone.as_deref(),
            ))
            .to_owned();
        sent.union(UnionType::All, people);
        let rows = db.query_all_raw(db.get_database_backend().build(&sent)).await?;
        let mut sent_before = false;
        let mut found = Vec::new();
        for row in rows {
            let id: i64 = row.try_get("", "id")?;
            match row.try_get::<i64>("", "part")? {
                1 => sent_before = true,
                _ => found.push(id),
            }
        }
        found.sort_unstable_by(|a, b| b.cmp(a));
        found.truncate(super::patients::MOST_CANDIDATES);
        Ok((sent_before, found))
    }

    /// The next IDs for a new person and their test, drawn in blocks.
    async fn new_ids(&self, db: &impl ConnectionTrait) -> AppResult<NewIds> {
        let mut drawn = self.ids.lock().await;
        if drawn.is_empty() {
            let mut sql = crate::db::Sql::new(DbBackend::Postgres);
            sql.push(
                "SELECT nextval(pg_get_serial_sequence('patients', 'id')) AS patient, \
                 nextval(pg_get_serial_sequence('lab_tests', 'id')) AS test FROM generate_series(1, ",
            )
            .bind(IDS_AT_A_TIME)
            .push(")");
            let rows = db.query_all_raw(sql.build()).await?;
            for row in rows.iter().rev() {
                drawn.push(NewIds { patient: row.try_get("", "patient")?, test: row.try_get("", "test")? });
            }
        }
        drawn.pop().ok_or_else(|| AppError::Internal(anyhow::anyhow!("no IDs drawn for a new person")))
    }

    /// The pending result of a specimen sent before, now known.
    async fn result(&self, row: &Row, test_id: i64) -> Result<Outcome, ItemError> {
        let test = super::tests::record_result(&self.state, &self.principal, test_id, row.result, None).await?;
        Ok(Outcome::Accepted { positive: test.result == TestResult::Positive })
    }

    /// The row's registration (when the person is new), test, notification
    /// items and admission, in one transaction.
    async fn write(&self, row: &Row) -> Result<Outcome, ItemError> {
        let state = &self.state;
        let principal: &Principal = &self.principal;
        let now = state.now();
        let txn = crate::db::begin_write(&state.db).await?;
        // Planned inside the transaction, so that what the plan read is
        // what the write builds on.
        let (facility, existing) = match self.plan(&txn, row).await? {
            Plan::New { facility, patient } => (facility, patient),
            Plan::Unchanged => return Ok(Outcome::Unchanged),
            Plan::Result { test_id } => {
                drop(txn);
                return self.result(row, test_id).await;
            }
        };
        // A new person without an admission, on PostgreSQL: the record and
        // the test are appended with the other rows, all in one statement.
        let appended = match (existing, row.admitted_at) {
            (None, None) if crate::db::is_postgres(&txn) => Some(self.new_ids(&txn).await?),
            _ => None,
        };
        let locked = match existing {
            Some(id) => Locked::adopt(txn, principal, id, "input.patientId", now).await?,
            None => {
                let registration = NewPatient {
                    case_type: if row.result == TestResult::Positive {
                        CaseType::Confirmed
                    } else {
                        CaseType::Suspected
                    },
                    name_kanji: row.name_kanji.clone(),
                    name_kana: row.name_kana.clone(),
                    sex: row.sex,
                    birth_date: row.birth_date,
                    address: row.address.clone(),
                    phone: row.phone.clone(),
                    email: None,
                    health_centre_id: None,
                    previous_patient_id: None,
                    facility_id: Some(facility.id),
                    // The plan found nobody likely the same.
                    confirm_new_person: true,
                    notification_group: None,
                    prior_infection_note: None,
                };
                let mut appends = Appends::default();
                let entry = (registration, EnteredFor::Checked(facility.clone()));
                let created = match appended {
                    Some(ids) => {
                        let appended = Appended { id: ids.patient, onset_date: row.onset_date };
                        super::patients::create_appended(&txn, state, principal, (entry, appended), now, &mut appends)
                            .await?
                    }
                    None => super::patients::create_in(&txn, state, principal, entry, now, &mut appends).await?,
                };
                Locked::created(txn, principal, created, appends, now)
            }
        };
        let patient_id = locked.patient().id;
        let mut write = locked.authorise(CaseAction::RecordTest, Some(&facility))?;
        let test = NewTest {
            patient_id,
            kind: row.test_kind,
            result: row.result,
            sampled_at: Some(row.sampled_at),
            facility_id: Some(facility.id),
            specimen_id: Some(row.specimen_id.clone()),
        };
        // The plan looked the specimen up in this transaction.
        let checked = match appended {
            Some(ids) => super::tests::Specimen::NewAppended(ids.test),
            None => super::tests::Specimen::New,
        };
        let test = match super::tests::record_in(&mut write, principal, &facility, &test, now, checked).await? {
            Recorded::Known(_) => return Ok(Outcome::Unchanged),
            Recorded::New(test) => test,
        };
        if write.created_here() && row.admitted_at.is_none() {
            // The record and this test are all its rows.
            let patient = write.patient();
            let prefecture_id = self.prefecture_of(write.txn(), patient.responsible_health_centre_id).await?;
            let facts = Facts::of_new_record(patient, prefecture_id, vec![(test.sampled_at, test.result)]);
            write.facts_known(facts);
        }
        let mut fields = vec!["test"];
        if appended.is_some() && row.onset_date.is_some() {
            // Registered with it.
            fields.push("onsetDate");
        } else if let Some(onset) = row.onset_date
            && write.patient().onset_date.is_none()
        {
            write.update_patient(None, vec![(patient::Column::OnsetDate, Expr::value(onset))]).await?;
            fields.push("onsetDate");
        }
        if let Some(admitted_at) = row.admitted_at {
            admit(&mut write, &facility, admitted_at, principal, now).await?;
            fields.push("hospitalisation");
        }
        super::tests::commit_recorded(write, &test, "IMPORT_ITEM", &fields).await?;
        Ok(Outcome::Accepted { positive: test.result == TestResult::Positive })
    }
}

/// The admission a hospital's row records, unless the patient is already
/// in its care.
async fn admit(
    write: &mut super::patient_write::PatientWrite<'_>,
    hospital: &facility::Model,
    admitted_at: DateTime<Utc>,
    principal: &Principal,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if hospital.kind != FacilityKind::Hospital {
        return Err(AppError::bad_input("input.admittedAt", "only a hospital's items record an admission"));
    }
    write.authorise_also(CaseAction::Admit, Some(hospital))?;
    let account_id = principal.account_id.ok_or_else(|| AppError::forbidden("staff only"))?;
    let organisation_id = principal.organisation_id.ok_or_else(|| AppError::forbidden("staff only"))?;
    let admitted_at = super::clinical_moment(admitted_at, now, "input.admittedAt")?;
    super::care::admit_in(write, hospital, Severity::Mild, admitted_at, (account_id, organisation_id), now)
        .await
        .map(|_| ())
}

/// Whether a record is the row's person: the same name, reading, date of
/// birth and sex.
fn same_person(record: &patient::Model, row: &Row) -> bool {
    record.name_kana_key == row.name_kana.search_key()
        && record.birth_date == row.birth_date.date()
        && record.sex == row.sex
        && squeeze(&record.name_kanji) == squeeze(row.name_kanji.as_str())
}

/// A name without its spaces (full or half width), as names are compared.
fn squeeze(name: &str) -> String {
    name.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Reads a CSV file as it arrives, chunk by chunk, into `import`: the
/// header, then each row checked and handed to its worker. Only one
/// record is held at a time (at most [`crate::domain::import::MAX_RECORD_BYTES`]),
/// whatever the size of the file. A stream that breaks off ends the
/// import as `FAILED`, with what came before written.
pub async fn read_csv<S, B, E>(import: Import, body: S) -> AppResult<Report>
where
    S: futures_util::Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    use futures_util::StreamExt;
    let mut body = std::pin::pin!(body);
    let mut records = Records::default();
    let mut csv = CsvRows { header: None, encoding: None, stopped: false };
    let mut broken = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => {
                for record in records.push(chunk.as_ref()) {
                    csv.record(&import, record).await;
                }
            }
            Err(error) => {
                broken = Some(error.to_string());
                break;
            }
        }
        if csv.stopped {
            break;
        }
    }
    if broken.is_none() && !csv.stopped {
        for record in records.finish_stream() {
            csv.record(&import, record).await;
        }
        if csv.header.is_none() && !csv.stopped {
            let why = format!("the file is empty: its first line is the header ({})", Header::layout());
            import.refuse_file(vec![RowError::at(Place::Line(1), None, "BAD_USER_INPUT", why)]).await;
        }
    }
    import.finish(broken.as_deref()).await
}

/// The state of reading a CSV file: its header once read, and its
/// encoding once a record that is not plain ASCII has shown it.
struct CsvRows {
    header: Option<Header>,
    encoding: Option<Encoding>,
    /// The header was refused: the rows cannot be read.
    stopped: bool,
}

impl CsvRows {
    /// Refuses a record: an item, or the header (then the file).
    async fn refuse(&mut self, import: &Import, errors: Vec<RowError>) {
        if self.header.is_some() {
            import.refuse(errors).await;
        } else {
            self.stopped = true;
            import.refuse_file(errors).await;
        }
    }

    async fn record(&mut self, import: &Import, (line, record): crate::domain::import::Record) {
        if self.stopped {
            return;
        }
        let refuse = |why: &str| vec![RowError::at(Place::Line(line), None, "BAD_USER_INPUT", why)];
        let record = match record {
            Ok(record) => record,
            Err(why) => return self.refuse(import, refuse(why)).await,
        };
        if !record.is_ascii() && self.encoding.is_none() {
            self.encoding = Some(Encoding::detect(&record));
        }
        let encoding = self.encoding.unwrap_or(Encoding::Utf8);
        let Some(text) = encoding.decode(&record) else {
            let why = match encoding {
                Encoding::Utf8 => "is not valid UTF-8 text (the file's encoding, as its first lines show)",
                Encoding::ShiftJis => "is not valid Shift_JIS text (the file's encoding, as its first lines show)",
            };
            return self.refuse(import, refuse(why)).await;
        };
        let fields = match crate::domain::import::fields(&text) {
            Ok(fields) => fields,
            Err(why) => return self.refuse(import, refuse(why)).await,
        };
        let Some(header) = &self.header else {
            match Header::parse(line, &fields) {
                Ok(header) => self.header = Some(header),
                Err(errors) => {
                    self.stopped = true;
                    import.refuse_file(errors).await;
                }
            }
            return;
        };
        match Row::parse(header, line, &fields, import.state.now()) {
            Ok(row) => import.send(row).await,
            Err(errors) => import.refuse(errors).await,
        }
    }
}

/// Reads a FHIR R4 bundle (JSON) into `import`: each SARS-CoV-2 test
/// observation with its person, specimen, facility, onset and admission
/// (`domain::fhir`), refusals named by entry.
pub async fn read_fhir(import: Import, body: &[u8]) -> AppResult<Report> {
    let refuse_all = |why: String| vec![RowError::at(Place::Entry(0), None, "BAD_USER_INPUT", why)];
    let document: serde_json::Value = match serde_json::from_slice(body) {
        Ok(document) => document,
        Err(error) => {
            // The position only: the error's text could quote the body.
            let why = format!("the body is not JSON (line {}, column {})", error.line(), error.column());
            import.refuse_file(refuse_all(why)).await;
            return import.finish(None).await;
        }
    };
    match crate::domain::fhir::items(&document, import.state.now()) {
        Ok(items) => {
            drop(document);
            for item in items {
                match item {
                    Ok(row) => import.send(row).await,
                    Err(errors) => import.refuse(errors).await,
                }
            }
        }
        Err(why) => import.refuse_file(refuse_all(why)).await,
    }
    import.finish(None).await
}

/// An import job of the caller's organisation (its staff follow one
/// another's imports; nobody else sees them).
pub async fn job(state: &AppState, principal: &Principal, id: i64) -> AppResult<Option<import_job::Model>> {
    let Some(organisation_id) = principal.organisation_id else { return Ok(None) };
    Ok(import_job::Entity::find_by_id(id)
        .filter(import_job::Column::OrganisationId.eq(organisation_id))
        .one(&state.db)
        .await?)
}

/// The import jobs of the caller's organisation, newest first: a page of
/// `first` after the job `after`, whether more follow, and how many there
/// are in all.
pub async fn jobs(
    state: &AppState,
    principal: &Principal,
    first: u64,
    after: Option<i64>,
) -> AppResult<(Vec<import_job::Model>, bool, u64)> {
    use sea_orm::{PaginatorTrait, QueryOrder, QuerySelect};
    let Some(organisation_id) = principal.organisation_id else { return Ok((Vec::new(), false, 0)) };
    let all = import_job::Entity::find().filter(import_job::Column::OrganisationId.eq(organisation_id));
    let total = all.clone().count(&state.db).await?;
    let mut page = all.order_by_desc(import_job::Column::Id).limit(first + 1);
    if let Some(after) = after {
        page = page.filter(import_job::Column::Id.lt(after));
    }
    let mut rows = page.all(&state.db).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more, total))
}

/// A refusal as a finished job's report keeps it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct JobError {
    pub line: Option<usize>,
    pub entry: Option<usize>,
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

/// The refusals a finished job's report lists, and how many more it
/// counted.
pub fn listed_errors(job: &import_job::Model) -> (Vec<JobError>, u64) {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Stored {
        errors: Vec<JobError>,
        errors_not_listed: u64,
    }
    match job.report.as_deref().and_then(|text| serde_json::from_str::<Stored>(text).ok()) {
        Some(stored) => (stored.errors, stored.errors_not_listed),
        None => (Vec::new(), 0),
    }
}
