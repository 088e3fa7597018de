//! Use cases of the gateway. Each owns its transaction, asks `auth::policy`
//! who may act, and returns entity models or `AppError`. Nothing here knows
//! GraphQL.

pub mod account_changes;
pub mod accounts;
pub mod appends;
pub mod audit;
pub mod break_glass;
pub mod capacity;
pub mod care;
pub mod case_events;
pub mod clusters;
pub mod contacts;
pub mod crosstab;
pub mod daily_counts;
pub mod demo;
pub mod follow_up;
pub mod housekeeping;
pub mod idempotency;
pub mod import;
pub mod lockout;
pub mod organisations;
pub mod patient_record;
pub mod patient_write;
pub mod patients;
pub mod publication;
pub mod reference;
pub mod service_accounts;
pub mod sessions;
pub mod statistics;
pub mod tests;
pub mod watch;
pub mod work_queue;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, EntityTrait, QueryFilter};

use crate::auth::{Principal, policy};
use crate::error::{AppError, AppResult};

pub use patient_write::PatientLock;

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

/// The facility an entry (a registration, a correction) is made for, as a
/// row: medical staff's own; for a health centre the facility it names
/// (`input.facilityId`, which must be one of its district without system
/// access), or none when it enters on its own account. `what` says what is
/// entered, for the refusal.
pub async fn entry_facility(
    db: &impl ConnectionTrait,
    principal: &Principal,
    requested: Option<i64>,
    what: &str,
) -> AppResult<Option<entity::facility::Model>> {
    match policy::entry_facility(principal, requested, what)? {
        policy::EntryFacility::Own(own) => Ok(entity::facility::Entity::find_by_id(own).one(db).await?),
        policy::EntryFacility::Named(None) => Ok(None),
        policy::EntryFacility::Named(Some(id)) => {
            let found = entity::facility::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or_else(|| AppError::not_found("input.facilityId", "no facility has this ID"))?;
            if !policy::may_enter_on_behalf(principal, &found) {
                return Err(AppError::forbidden(
                    "a health centre enters data on behalf of facilities of its own district without system access",
                ));
            }
            Ok(Some(found))
        }
    }
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

/// What a caller asks of a list paged by row ID: up to `first` rows (0
/// for none) after the row `after`, and the count of the whole list when
/// `count`.
#[derive(Debug, Clone, Copy)]
pub struct IdPageRequest {
    pub first: u64,
    pub after: Option<i64>,
    pub count: bool,
}

/// A page of a list in the order of row ID: its rows, whether more follow
/// (with `first` 0: whether any match), and the whole list's count when
/// asked for.
#[derive(Debug)]
pub struct IdPage<M> {
    pub rows: Vec<M>,
    pub has_next_page: bool,
    pub total: Option<u64>,
}

/// One page of `select` in ascending order of `id`, as `request` asks:
/// one statement for the page (a row more than asked tells whether more
/// follow) and one for the count when asked.
pub(crate) async fn id_page<E>(
    db: &impl ConnectionTrait,
    select: sea_orm::Select<E>,
    id: E::Column,
    request: IdPageRequest,
) -> AppResult<IdPage<E::Model>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
{
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryOrder, QuerySelect};
    let total = if request.count { Some(select.clone().count(db).await?) } else { None };
    let mut page = select;
    if let Some(after) = request.after {
        page = page.filter(id.gt(after));
    }
    let mut rows = page.order_by_asc(id).limit(request.first + 1).all(db).await?;
    let has_next_page = rows.len() as u64 > request.first;
    rows.truncate(request.first as usize);
    Ok(IdPage { rows, has_next_page, total })
}
