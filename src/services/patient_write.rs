//! The unit of work for a change to one patient's case: the only way a
//! service writes rows of a patient (its record, tests, stays, reports,
//! calls, sign-in lock).
//!
//! A write goes through three steps, each a type, so that none can be
//! skipped:
//!
//! 1. [`Locked::open`] begins the transaction and locks the patient's row,
//!    found through the care scope (`policy::care_scope`): a patient out of
//!    reach is `NOT_FOUND`, like one that does not exist.
//! 2. [`Locked::authorise`] asks `policy::may_act` whether the caller may
//!    do this to this patient (with the facility concerned, if any).
//! 3. [`PatientWrite::commit`] refreshes the statistics ledger from the
//!    patient's rows as they now stand, appends the audit entry (and an
//!    outbox event, when given), and commits, all in one transaction.
//!
//! Dropping a unit without committing rolls everything back.

use chrono::{DateTime, Utc};
use entity::{facility, hospitalisation, lab_test, patient};
use sea_orm::sea_query::{Expr, LockType, SimpleExpr};
use sea_orm::{DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect};

use super::appends::Appends;
use super::{audit, reachable_patient, statistics, versioned_update};
use crate::auth::Principal;
use crate::auth::policy::{self, CaseAction, Target};
use crate::db::Sql;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A patient whose row this transaction holds for writing. On PostgreSQL
/// the row is locked `FOR NO KEY UPDATE` until the commit, so the writes of
/// one patient run one after another: each reads the patient, and later the
/// rows the ledger is refreshed from, only after the one before committed.
/// `NO KEY`: the share locks that inserts referencing the patient take do
/// not conflict with it, so two such writes cannot deadlock. SQLite has one
/// writer at a time anyway. Only [`Locked::open`] makes one, and the ledger
/// refresh takes one, so no write can refresh a patient it has not locked.
#[derive(Debug)]
pub struct PatientLock {
    id: i64,
    /// The patient was created by this transaction: nothing of it was
    /// committed before (the ledger holds nothing of it yet).
    created: bool,
}

impl PatientLock {
    pub fn patient_id(&self) -> i64 {
        self.id
    }

    /// Whether this transaction created the patient.
    pub fn created_here(&self) -> bool {
        self.created
    }
}

/// Step one: the transaction, with the patient's row locked, not yet
/// authorised. Reads needed to decide (the facility concerned) go through
/// [`Locked::txn`].
#[derive(Debug)]
pub(crate) struct Locked<'a> {
    txn: DatabaseTransaction,
    principal: &'a Principal,
    patient: patient::Model,
    lock: PatientLock,
    now: DateTime<Utc>,
    /// Rows for the append-only tables, written with the ledger's and the
    /// audit's just before the commit.
    appends: Appends,
    /// The patient's facts for the ledger, when the write that created it
    /// knows them all ([`PatientWrite::facts_known`]).
    facts: Option<statistics::ledger::Facts>,
}

impl<'a> Locked<'a> {
    /// Begins the write of the patient `id` (given in the input `field`)
    /// at the moment `now`.
    pub(crate) async fn open(
        state: &AppState,
        principal: &'a Principal,
        id: i64,
        field: &str,
        now: DateTime<Utc>,
    ) -> AppResult<Self> {
        let txn = crate::db::begin_write(&state.db).await?;
        let (patient, lock) = lock_reachable(&txn, principal, id, field).await?;
        Ok(Locked::new(txn, principal, patient, lock, now))
    }

    /// Goes on in `txn`, begun by the caller (which wrote in it what comes
    /// before, such as the patient's registration), with the patient `id`.
    pub(crate) async fn adopt(
        txn: DatabaseTransaction,
        principal: &'a Principal,
        id: i64,
        field: &str,
        now: DateTime<Utc>,
    ) -> AppResult<Self> {
        let (patient, lock) = lock_reachable(&txn, principal, id, field).await?;
        Ok(Locked::new(txn, principal, patient, lock, now))
    }

    /// Goes on in `txn`, which created `patient` (`patients::create_in`,
    /// whose appended rows come along in `appends`). Nothing is read: a
    /// row this transaction inserted is seen by no other until the commit,
    /// so none can have changed or locked it, and it is the caller's own
    /// registration, within its reach by the rule that let it register.
    pub(crate) fn created(
        txn: DatabaseTransaction,
        principal: &'a Principal,
        patient: patient::Model,
        appends: Appends,
        now: DateTime<Utc>,
    ) -> Self {
        let lock = PatientLock { id: patient.id, created: true };
        Locked { appends, ..Locked::new(txn, principal, patient, lock, now) }
    }

    /// The unit with nothing appended yet.
    fn new(
        txn: DatabaseTransaction,
        principal: &'a Principal,
        patient: patient::Model,
        lock: PatientLock,
        now: DateTime<Utc>,
    ) -> Self {
        Locked { txn, principal, patient, lock, now, appends: Appends::default(), facts: None }
    }

    /// Begins the write of a laboratory test's patient (input field
    /// `testId`), with the test as it stands under the lock and its
    /// facility.
    pub(crate) async fn open_test(
        state: &AppState,
        principal: &'a Principal,
        test_id: i64,
        now: DateTime<Utc>,
    ) -> AppResult<(Self, lab_test::Model, facility::Model)> {
        let found = |test: &lab_test::Model| (test.patient_id, test.facility_id);
        let why = "no test with this ID is within your reach";
        Self::open_through::<lab_test::Entity>(state, principal, (test_id, "testId", why), found, now).await
    }

    /// Begins the write of a hospital stay's patient (input field
    /// `hospitalisationId`), with the stay as it stands under the lock and
    /// its hospital.
    pub(crate) async fn open_stay(
        state: &AppState,
        principal: &'a Principal,
        stay_id: i64,
        now: DateTime<Utc>,
    ) -> AppResult<(Self, hospitalisation::Model, facility::Model)> {
        let found = |stay: &hospitalisation::Model| (stay.patient_id, stay.facility_id);
        let why = "no hospital stay with this ID is within your reach";
        Self::open_through::<hospitalisation::Entity>(state, principal, (stay_id, "hospitalisationId", why), found, now)
            .await
    }

    /// A row of `E` (`row`: its ID, the input field and the refusal when
    /// it is unknown or out of reach), which names its patient and
    /// facility (`found`): the patient is locked, then the row read again
    /// under the lock (a write of the row holds the same lock).
    async fn open_through<E>(
        state: &AppState,
        principal: &'a Principal,
        row: (i64, &str, &str),
        found: impl Fn(&E::Model) -> (i64, i64),
        now: DateTime<Utc>,
    ) -> AppResult<(Self, E::Model, facility::Model)>
    where
        E: EntityTrait,
        E::PrimaryKey: sea_orm::PrimaryKeyTrait<ValueType = i64>,
    {
        let (id, field, why) = row;
        let not_found = || AppError::not_found(field, why);
        let txn = crate::db::begin_write(&state.db).await?;
        let (patient_id, _) = E::find_by_id(id).one(&txn).await?.as_ref().map(&found).ok_or_else(not_found)?;
        let (patient, lock) = match lock_reachable(&txn, principal, patient_id, field).await {
            Ok(locked) => locked,
            // A row of a patient out of reach is as unknown as one that
            // does not exist.
            Err(AppError::NotFound { .. }) => return Err(not_found()),
            Err(error) => return Err(error),
        };
        let held = E::find_by_id(id).one(&txn).await?.ok_or_else(not_found)?;
        let facility = facility::Entity::find_by_id(found(&held).1)
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a row names a facility that does not exist")))?;
        Ok((Locked::new(txn, principal, patient, lock, now), held, facility))
    }

    pub(crate) fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// The patient as locked, before the decision.
    pub(crate) fn patient(&self) -> &patient::Model {
        &self.patient
    }

    /// Step two: whether the caller may do `action` to this patient (at
    /// `facility`, for an action that concerns one).
    pub(crate) fn authorise(
        self,
        action: CaseAction,
        facility: Option<&facility::Model>,
    ) -> AppResult<PatientWrite<'a>> {
        policy::may_act(self.principal, action, Target { patient: &self.patient, facility })?;
        Ok(PatientWrite { unit: self })
    }
}

/// Reads the patient through the care scope and locks its row, in one
/// statement when nobody else is writing it.
async fn lock_reachable(
    txn: &DatabaseTransaction,
    principal: &Principal,
    id: i64,
    field: &str,
) -> AppResult<(patient::Model, PatientLock)> {
    let locked = patient::Entity::find_by_id(id)
        .filter(policy::care_scope(principal))
        .lock(LockType::NoKeyUpdate)
        .one(txn)
        .await?;
    if let Some(patient) = locked {
        return Ok((patient, PatientLock { id, created: false }));
    }
    // Not found. Either the patient is out of reach (or does not exist), or
    // this statement waited for another write of the patient, and when that
    // one committed, PostgreSQL checked the changed row against the scope
    // with the statement's older view of the other tables (a transfer just
    // committed was not in it). Lock the row alone, then read it afresh:
    // with the lock held, nothing can change it between the two.
    patient::Entity::find_by_id(id).lock(LockType::NoKeyUpdate).one(txn).await?;
    let patient = reachable_patient(txn, principal, id, field).await?;
    Ok((patient, PatientLock { id, created: false }))
}

/// Step three: an authorised write. Its rows go through [`Self::txn`]; the
/// patient's own row through [`Self::update_patient`]; it ends with
/// [`Self::commit`].
#[derive(Debug)]
pub(crate) struct PatientWrite<'a> {
    unit: Locked<'a>,
}

impl<'a> PatientWrite<'a> {
    pub(crate) fn txn(&self) -> &DatabaseTransaction {
        &self.unit.txn
    }

    /// The patient as this write last stored it.
    pub(crate) fn patient(&self) -> &patient::Model {
        &self.unit.patient
    }

    /// Rows for the append-only tables (a test's result history, say),
    /// written with the ledger's and the audit's just before the commit.
    pub(crate) fn appends(&mut self) -> &mut Appends {
        &mut self.unit.appends
    }

    /// Whether this transaction created the patient.
    pub(crate) fn created_here(&self) -> bool {
        self.unit.lock.created_here()
    }

    /// The patient's facts for the ledger as this write leaves them, known
    /// to the write that created the patient (`Facts::of_new_record`),
    /// so that the ledger's refresh need not read them back. Ignored for a
    /// patient created before this transaction.
    pub(crate) fn facts_known(&mut self, facts: statistics::ledger::Facts) {
        self.unit.facts = Some(facts);
    }

    /// Whether the caller may also do `action` to this patient (at
    /// `facility`), in the same write.
    pub(crate) fn authorise_also(&self, action: CaseAction, facility: Option<&facility::Model>) -> AppResult<()> {
        policy::may_act(self.unit.principal, action, Target { patient: &self.unit.patient, facility })
    }

    /// Refuses a change to an ended case; `what` names the change.
    pub(crate) fn ensure_open(&self, what: &str) -> AppResult<()> {
        if self.patient().outcome.is_some() {
            return Err(AppError::conflict(format!(
                "the case has ended (outcome recorded): {what} is no longer possible"
            )));
        }
        Ok(())
    }

    /// Applies `changes` to the patient row if it is still at the version
    /// that was read (and at `expected`, when the client named one),
    /// raising the version. Returns the row as stored.
    pub(crate) async fn update_patient(
        &mut self,
        expected: Option<i32>,
        changes: Vec<(patient::Column, SimpleExpr)>,
    ) -> AppResult<patient::Model> {
        let patient = &self.unit.patient;
        if let Some(expected) = expected
            && expected != patient.version
        {
            return Err(AppError::conflict(format!(
                "the patient record is at version {}, not {expected}: someone else changed it; reload and try again",
                patient.version
            )));
        }
        let mut changes = changes;
        changes.push((patient::Column::UpdatedAt, Expr::value(self.unit.now)));
        versioned_update::<patient::Entity>(
            &self.unit.txn,
            (patient::Column::Id, patient.id),
            (patient::Column::Version, patient.version),
            changes,
            "patient record",
        )
        .await?;
        let stored = patient::Entity::find_by_id(patient.id)
            .one(&self.unit.txn)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("patient vanished inside its transaction")))?;
        self.unit.patient = stored.clone();
        Ok(stored)
    }

    /// Refreshes the ledger, appends the audit entry (`action`, naming the
    /// `fields` written) and commits.
    pub(crate) async fn commit(self, action: &str, fields: &[&str]) -> AppResult<()> {
        let (unit, appends) = self.with_ledger_and_audit(action, fields).await?;
        appends.write(&unit.txn).await?;
        unit.txn.commit().await?;
        Ok(())
    }

    /// [`Self::commit`] with an outbox event whose one-row insert `event`
    /// writes: on PostgreSQL the main part of the statement that appends
    /// the rest. Nothing is committed unless the event's row is written.
    pub(crate) async fn commit_with_event(
        self,
        action: &str,
        fields: &[&str],
        event: impl FnOnce(&mut Sql),
    ) -> AppResult<()> {
        let (unit, appends) = self.with_ledger_and_audit(action, fields).await?;
        let inserted = appends.write_ending(&unit.txn, Some(event)).await?;
        if inserted != 1 {
            return Err(AppError::Internal(anyhow::anyhow!("an outbox event wrote {inserted} rows instead of one")));
        }
        unit.txn.commit().await?;
        Ok(())
    }

    async fn with_ledger_and_audit(self, action: &str, fields: &[&str]) -> AppResult<(Locked<'a>, Appends)> {
        let PatientWrite { mut unit } = self;
        let mut appends = std::mem::take(&mut unit.appends);
        let known = unit.facts.take();
        statistics::ledger::refresh_patient(&unit.txn, &unit.lock, unit.now, &mut appends, known).await?;
        audit::append(&mut appends, unit.principal, action, Some(unit.lock.patient_id()), fields, unit.now);
        Ok((unit, appends))
    }
}
