//! Use cases of the gateway. Each owns its transaction, asks `auth::policy`
//! who may act, and returns entity models or `AppError`. Nothing here knows
//! GraphQL.

pub mod account_changes;
pub mod accounts;
pub mod appends;
pub mod audit;
pub mod break_glass;
pub mod care;
pub mod crosstab;
pub mod demo;
pub mod follow_up;
pub mod housekeeping;
pub mod idempotency;
pub mod lockout;
pub mod organisations;
pub mod patients;
pub mod publication;
pub mod reference;
pub mod service_accounts;
pub mod sessions;
pub mod statistics;
pub mod tests;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::LockType;
use sea_orm::{ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect};

use crate::auth::{Principal, policy};
use crate::error::{AppError, AppResult};

/// Who acts in a use case that also runs outside a session.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// A signed-in caller; the policy decides whether they may.
    Caller(&'a Principal),
    /// The operator of the host, running `command` (e.g. `hersys facility
    /// add`): whoever can run the binary against the database holds it
    /// already. Audited as coming from the command line.
    CommandLine(&'static str),
}

/// A patient the caller may change (what `policy::may_act` then allows),
/// or `NOT_FOUND` naming `field` (a patient out of reach is
/// indistinguishable from one that does not exist). Writes reach patients
/// through care relationships only (`policy::care_scope`): a break-glass
/// access opens a record for reading, never for changes.
pub async fn reachable_patient(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
    field: &str,
) -> AppResult<entity::patient::Model> {
    entity::patient::Entity::find_by_id(id)
        .filter(policy::care_scope(principal))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(field, "no patient with this ID is within your reach for changes"))
}

/// A patient whose row this transaction holds for writing. On PostgreSQL
/// the row is locked `FOR NO KEY UPDATE` until the commit, so the writes of
/// one patient run one after another: each reads the patient, and later the
/// rows the ledger is refreshed from, only after the one before committed.
/// `NO KEY`: the share locks that inserts referencing the patient take do
/// not conflict with it, so two such writes cannot deadlock. SQLite has one
/// writer at a time anyway. Only [`lock_reachable_patient`] makes one, and
/// the ledger refresh takes one, so no write can refresh a patient it has
/// not locked.
#[derive(Debug)]
pub struct PatientLock {
    id: i64,
}

impl PatientLock {
    pub fn patient_id(&self) -> i64 {
        self.id
    }
}

/// [`reachable_patient`] for a write: reads the patient and locks its row
/// (see [`PatientLock`]), in one statement when nobody else is writing it.
pub async fn lock_reachable_patient(
    txn: &DatabaseTransaction,
    principal: &Principal,
    id: i64,
    field: &str,
) -> AppResult<(entity::patient::Model, PatientLock)> {
    use entity::patient;
    let locked = patient::Entity::find_by_id(id)
        .filter(policy::care_scope(principal))
        .lock(LockType::NoKeyUpdate)
        .one(txn)
        .await?;
    if let Some(patient) = locked {
        return Ok((patient, PatientLock { id }));
    }
    // Not found. Either the patient is out of reach (or does not exist), or
    // this statement waited for another write of the patient, and when that
    // one committed, PostgreSQL checked the changed row against the scope
    // with the statement's older view of the other tables (a transfer just
    // committed was not in it). Lock the row alone, then read it afresh:
    // with the lock held, nothing can change it between the two.
    patient::Entity::find_by_id(id).lock(LockType::NoKeyUpdate).one(txn).await?;
    let patient = reachable_patient(txn, principal, id, field).await?;
    Ok((patient, PatientLock { id }))
}

/// What every write of a patient appends before its commit: the ledger's
/// deltas for the patient's rows as they now stand (after the write's own
/// changes) and the write's audit entry. The caller adds what else it
/// appends (an outbox event) and writes them.
pub(crate) async fn patient_appends(
    txn: &DatabaseTransaction,
    lock: &PatientLock,
    principal: &Principal,
    action: &str,
    fields: &[&str],
    now: DateTime<Utc>,
) -> AppResult<appends::Appends> {
    let mut appends = appends::Appends::default();
    statistics::ledger::refresh_patient(txn, lock, now, &mut appends).await?;
    audit::append(&mut appends, principal, action, Some(lock.patient_id()), fields, now);
    Ok(appends)
}

/// Parses a GraphQL `ID` holding one of our numeric IDs.
pub fn parse_id(raw: &str, field: &str) -> AppResult<i64> {
    raw.trim().parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| AppError::bad_input(field, "is not a valid ID"))
}

/// The moment of a clinical event from a client, refused (naming `field`)
/// unless plausible: not after `now` (with a minute of grace for clock skew
/// between the client and the server) and not before 1 December 2019
/// (`domain::text::check_clinical_moment`).
pub fn clinical_moment(at: DateTime<Utc>, now: DateTime<Utc>, field: &str) -> AppResult<DateTime<Utc>> {
    crate::domain::text::check_clinical_moment(at, now).map_err(|why| AppError::bad_input(field, why))?;
    Ok(at)
}

/// Applies `changes` to the row `id` of `E` only if its version column
/// still holds `version` (the version the caller read), and raises the
/// version. A row changed meanwhile is refused with `CONFLICT` naming
/// `what`, so that two staff never overwrite each other silently.
pub(crate) async fn versioned_update<E>(
    db: &impl ConnectionTrait,
    id: (E::Column, i64),
    version: (E::Column, i32),
    changes: Vec<(E::Column, sea_orm::sea_query::SimpleExpr)>,
    what: &str,
) -> AppResult<()>
where
    E: EntityTrait,
{
    use sea_orm::ColumnTrait;
    use sea_orm::sea_query::{Expr, ExprTrait};
    let (id_column, id) = id;
    let (version_column, version) = version;
    let mut update = E::update_many().col_expr(version_column, Expr::col(version_column).add(1));
    for (column, value) in changes {
        update = update.col_expr(column, value);
    }
    let result = update.filter(id_column.eq(id)).filter(version_column.eq(version)).exec(db).await?;
    if result.rows_affected != 1 {
        return Err(AppError::conflict(format!(
            "the {what} was changed by someone else meanwhile; reload and try again"
        )));
    }
    Ok(())
}
