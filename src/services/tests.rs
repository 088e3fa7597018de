//! Laboratory tests and their results. Negative results are recorded too:
//! the number of tests is a key indicator. A positive result writes an
//! outbox event in the same transaction.

use chrono::{DateTime, Utc};
use entity::enums::{TestKind, TestResult};
use entity::{facility, lab_test, patient};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveEnum, ActiveModelTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, Set, Value};

use super::appends::Appends;
use super::patient_write::{Locked, PatientWrite};
use super::{clinical_moment, versioned_update};
use crate::auth::policy::CaseAction;
use crate::auth::{Principal, policy};
use crate::db::Sql;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A parsed `recordTest`.
#[derive(Debug)]
pub struct NewTest {
    pub patient_id: i64,
    pub kind: TestKind,
    pub result: TestResult,
    pub sampled_at: Option<DateTime<Utc>>,
    /// For a health centre entering on behalf of a facility.
    pub facility_id: Option<i64>,
    /// The facility's own specimen ID: a test sent again with the same ID
    /// is recognised.
    pub specimen_id: Option<String>,
}

/// Records a test, with its result if known. A test whose specimen ID the
/// facility has already recorded, for the same patient, method and result,
/// is the same test: it is returned as it stands and nothing is written;
/// any other use of the ID is refused with `CONFLICT`.
pub async fn record(state: &AppState, principal: &Principal, input: NewTest) -> AppResult<lab_test::Model> {
    // Who may record and whether the moment is plausible are answered
    // before anything is read.
    if !policy::may_record_tests(principal) {
        return Err(AppError::forbidden("only testing facilities and health centres record tests"));
    }
    principal.account_id.and(principal.organisation_id).ok_or_else(|| AppError::forbidden("staff only"))?;
    let now = state.now();
    clinical_moment(input.sampled_at.unwrap_or(now), now, "input.sampledAt")?;
    let locked = Locked::open(state, principal, input.patient_id, "input.patientId", now).await?;
    let facility = testing_facility(locked.txn(), principal, input.facility_id).await?;
    let write = locked.authorise(CaseAction::RecordTest, Some(&facility))?;
    let mut write = write;
    match record_in(&mut write, principal, &facility, &input, now, Specimen::Unchecked).await? {
        // Nothing was written: the transaction ends without a commit.
        Recorded::Known(test) => Ok(test),
        Recorded::New(test) => commit_recorded(write, &test, "RECORD_TEST", &["test"]).await.map(|()| test),
    }
}

/// What [`record_in`] did.
#[derive(Debug)]
pub(crate) enum Recorded {
    /// The facility had already recorded this specimen as this test:
    /// nothing was written.
    Known(lab_test::Model),
    /// A new test, written but not yet committed.
    New(lab_test::Model),
}

/// Whether the caller already found, in the same transaction, that the
/// facility has not recorded the test's specimen ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Specimen {
    Unchecked,
    /// Looked up in this transaction: new (the unique index still guards).
    New,
    /// New as for `New`, and the test's row is appended with the write's
    /// other rows (`Appends::push_record`) under this ID, drawn from the
    /// table's sequence beforehand, instead of inserted now.
    NewAppended(i64),
}

/// Records the test of `input` in `write` (authorised to record a test at
/// `facility`), without committing; `input.patient_id` is not used (the
/// patient is the write's).
pub(crate) async fn record_in(
    write: &mut PatientWrite<'_>,
    principal: &Principal,
    facility: &facility::Model,
    input: &NewTest,
    now: DateTime<Utc>,
    specimen: Specimen,
) -> AppResult<Recorded> {
    if !policy::may_record_tests(principal) {
        return Err(AppError::forbidden("only testing facilities and health centres record tests"));
    }
    let account_id = principal.account_id.ok_or_else(|| AppError::forbidden("staff only"))?;
    let organisation_id = principal.organisation_id.ok_or_else(|| AppError::forbidden("staff only"))?;
    let sampled_at = clinical_moment(input.sampled_at.unwrap_or(now), now, "input.sampledAt")?;
    let patient = write.patient();
    let txn = write.txn();
    if patient.outcome.is_some() {
        return Err(AppError::conflict(
            "the case has ended; a new diagnosis is registered as a new record (reinfection)",
        ));
    }
    if sampled_at.date_naive() < patient.birth_date {
        return Err(AppError::bad_input("input.sampledAt", "must not be before the patient's date of birth"));
    }
    if let Some(specimen_id) = &input.specimen_id
        && specimen == Specimen::Unchecked
        && let Some(known) = by_specimen(txn, facility.id, specimen_id).await?
    {
        if known.patient_id == patient.id && known.kind == input.kind && known.result == input.result {
            return Ok(Recorded::Known(known));
        }
        return Err(AppError::conflict(
            "input.specimenId: the facility already recorded this specimen for another test; a result changes \
             with recordTestResult",
        ));
    }

    let resulted_at = (input.result != TestResult::Pending).then_some(now);
    let record = lab_test::ActiveModel {
        patient_id: Set(patient.id),
        facility_id: Set(facility.id),
        kind: Set(input.kind),
        specimen: Set(None),
        result: Set(input.result),
        sampled_at: Set(sampled_at),
        resulted_at: Set(resulted_at),
        recorded_at: Set(now),
        recorded_by_account_id: Set(account_id),
        entered_by_organisation_id: Set(organisation_id),
        version: Set(1),
        specimen_id: Set(input.specimen_id.clone()),
        ..Default::default()
    };
    let test = match specimen {
        Specimen::NewAppended(id) => write.appends().push_record(lab_test::ActiveModel { id: Set(id), ..record })?,
        Specimen::Unchecked | Specimen::New => record.insert(txn).await?,
    };
    if let Some(resulted_at) = resulted_at {
        append_result(write.appends(), &test, input.result, resulted_at, now, account_id);
    }
    tracing::info!(test_id = test.id, patient_id = test.patient_id, account_id, "test recorded");
    Ok(Recorded::New(test))
}

/// Commits a write that recorded `test` (audited as `action`, naming
/// `fields`): with the event of a positive result in the outbox when it is
/// one.
pub(crate) async fn commit_recorded(
    write: PatientWrite<'_>,
    test: &lab_test::Model,
    action: &str,
    fields: &[&str],
) -> AppResult<()> {
    if test.result == TestResult::Positive {
        let event = positive_event(test, write.patient(), test.recorded_at, write.txn().get_database_backend());
        write.commit_with_event(action, fields, event).await
    } else {
        write.commit(action, fields).await
    }
}

/// The test a facility recorded with a specimen ID, if any.
pub async fn by_specimen(
    db: &impl ConnectionTrait,
    facility_id: i64,
    specimen_id: &str,
) -> AppResult<Option<lab_test::Model>> {
    use sea_orm::QueryFilter;
    Ok(lab_test::Entity::find().filter(specimen_of(facility_id, specimen_id)).one(db).await?)
}

/// A test's natural key: the facility and its specimen ID.
pub(crate) fn specimen_of(facility_id: i64, specimen_id: &str) -> sea_orm::Condition {
    use sea_orm::ColumnTrait;
    sea_orm::Condition::all()
        .add(lab_test::Column::FacilityId.eq(facility_id))
        .add(lab_test::Column::SpecimenId.eq(specimen_id))
}

/// Sets the result of a test. A change appends to the result history;
/// a result equal to the current one changes nothing.
pub async fn record_result(
    state: &AppState,
    principal: &Principal,
    test_id: i64,
    result: TestResult,
    resulted_at: Option<DateTime<Utc>>,
) -> AppResult<lab_test::Model> {
    if !policy::may_record_tests(principal) {
        return Err(AppError::forbidden("only testing facilities and health centres record results"));
    }
    if result == TestResult::Pending {
        return Err(AppError::bad_input("result", "a result cannot be set back to PENDING"));
    }
    let account_id = principal.account_id.ok_or_else(|| AppError::forbidden("staff only"))?;
    let now = state.now();
    let (locked, test, facility) = Locked::open_test(state, principal, test_id, now).await?;
    let mut write = locked.authorise(CaseAction::RecordTest, Some(&facility))?;
    let patient = write.patient().clone();
    let txn = write.txn();
    if patient.outcome.is_some() {
        return Err(AppError::conflict("the case has ended; its tests can no longer change"));
    }
    let resulted_at = clinical_moment(resulted_at.unwrap_or(now), now, "resultedAt")?;
    if resulted_at < test.sampled_at {
        return Err(AppError::bad_input("resultedAt", "must not be before the sample was taken"));
    }
    if test.result == result {
        return Ok(test);
    }
    versioned_update::<lab_test::Entity>(
        txn,
        (lab_test::Column::Id, test.id),
        (lab_test::Column::Version, test.version),
        vec![(lab_test::Column::Result, Expr::value(result)), (lab_test::Column::ResultedAt, Expr::value(resulted_at))],
        "test",
    )
    .await?;
    append_result(write.appends(), &test, result, resulted_at, now, account_id);
    let txn = write.txn();
    let stored = lab_test::Entity::find_by_id(test.id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("test vanished inside its transaction")))?;
    let newly_positive = result == TestResult::Positive && test.result != TestResult::Positive;
    if newly_positive {
        let event = positive_event(&test, &patient, now, txn.get_database_backend());
        write.commit_with_event("RECORD_TEST_RESULT", &["testResult"], event).await?;
    } else {
        write.commit("RECORD_TEST_RESULT", &["testResult"]).await?;
    }
    tracing::info!(test_id = test.id, account_id, "test result recorded");
    Ok(stored)
}

/// The facility a test is recorded for: medical staff's own, or for a
/// health centre the facility of its district it enters for.
pub(crate) async fn testing_facility(
    txn: &DatabaseTransaction,
    principal: &Principal,
    requested: Option<i64>,
) -> AppResult<facility::Model> {
    match policy::entry_facility(principal, requested, "record tests")? {
        policy::EntryFacility::Own(own) => facility::Entity::find_by_id(own)
            .one(txn)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("account's facility is missing"))),
        policy::EntryFacility::Named(requested) => {
            let id = requested.ok_or_else(|| {
                AppError::bad_input("input.facilityId", "a health centre names the facility it enters the test for")
            })?;
            facility::Entity::find_by_id(id)
                .one(txn)
                .await?
                .ok_or_else(|| AppError::not_found("input.facilityId", "no facility has this ID"))
        }
    }
}

/// Adds the entry of the test's result history, written with the write's
/// other appended rows.
fn append_result(
    appends: &mut Appends,
    test: &lab_test::Model,
    result: TestResult,
    resulted_at: DateTime<Utc>,
    now: DateTime<Utc>,
    account_id: i64,
) {
    const COLUMNS: [&str; 5] = ["lab_test_id", "result", "resulted_at", "recorded_at", "recorded_by_account_id"];
    let row = vec![
        Value::from(test.id),
        Value::from(result.to_value()),
        Value::from(resulted_at),
        Value::from(now),
        Value::from(account_id),
    ];
    appends.push("lab_test_results", &COLUMNS, vec![row]);
}

/// The outbox row behind the `positiveResults` subscription, addressed to
/// the patient's responsible health centre (and its prefecture) at this
/// moment.
fn positive_event(
    test: &lab_test::Model,
    patient: &patient::Model,
    now: DateTime<Utc>,
    backend: sea_orm::DbBackend,
) -> impl FnOnce(&mut Sql) + use<> {
    let centre = patient.responsible_health_centre_id;
    crate::events::outbox_row(crate::events::POSITIVE_RESULT, Some(test.id), patient.id, centre, now, backend)
}

/// Which tests a root list shows.
#[derive(Debug, Clone, Default)]
pub struct TestFilter {
    pub result: Option<TestResult>,
    pub kind: Option<TestKind>,
    /// Sampled at or after.
    pub sampled_from: Option<DateTime<Utc>>,
    /// Sampled before.
    pub sampled_to: Option<DateTime<Utc>>,
    /// Tested at this facility.
    pub facility_id: Option<i64>,
}

/// The tests of the patients within the caller's reach under `filter`,
/// as a query (the row scope is a condition on the patient, never a
/// filter after loading).
fn tests_in_reach(principal: &Principal, filter: &TestFilter) -> sea_orm::Select<lab_test::Entity> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let reached = crate::auth::policy::patient_id_scope(principal, lab_test::Column::PatientId);
    let mut select = lab_test::Entity::find().filter(reached);
    if let Some(result) = filter.result {
        select = select.filter(lab_test::Column::Result.eq(result));
    }
    if let Some(kind) = filter.kind {
        select = select.filter(lab_test::Column::Kind.eq(kind));
    }
    if let Some(from) = filter.sampled_from {
        select = select.filter(lab_test::Column::SampledAt.gte(from));
    }
    if let Some(to) = filter.sampled_to {
        select = select.filter(lab_test::Column::SampledAt.lt(to));
    }
    if let Some(facility) = filter.facility_id {
        select = select.filter(lab_test::Column::FacilityId.eq(facility));
    }
    select
}

/// A page of the tests within reach, newest recorded first: up to `first`
/// after the test `after`, and whether more follow.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    filter: &TestFilter,
    after: Option<i64>,
    first: u64,
) -> AppResult<(Vec<lab_test::Model>, bool)> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    let mut select = tests_in_reach(principal, filter);
    if let Some(after) = after {
        select = select.filter(lab_test::Column::Id.lt(after));
    }
    let mut rows = select.order_by_desc(lab_test::Column::Id).limit(first + 1).all(&state.db).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

/// How many tests within reach match `filter`.
pub async fn count(state: &AppState, principal: &Principal, filter: &TestFilter) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(tests_in_reach(principal, filter).count(&state.db).await?)
}
