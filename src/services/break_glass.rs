//! Break-glass access (緊急時アクセス): a medical institution's or health
//! centre's staff member opens a patient record outside their reach,
//! because a person in front of them needs it now, by stating a reason (a
//! category and their own words) for a limited time.
//!
//! Opening one writes, in one transaction, the access, its audit entry and
//! an outbox event that reaches the patient's responsible health centre
//! live (`breakGlassAlerts`). While it is open the row scope
//! (`policy::patient_scope`) adds the patient for every session of the
//! account, for reading only (the write rules of `policy::may_act` do not
//! change), and every personal read of the patient is audited as
//! `READ_PERSONAL_BREAK_GLASS`, naming the access. Administrators list the
//! accesses and record whether each was justified.

use chrono::Duration;
use entity::break_glass_access;
use entity::enums::{BreakGlassFinding, BreakGlassReason};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::audit;
use crate::auth::Principal;
use crate::auth::policy::{self, BreakGlassListing};
use crate::db::Sql;
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// How long an access lasts unless the caller asks for less or more.
pub const DEFAULT_MINUTES: i64 = 60;
/// The longest an access may last; a longer need is a care relationship
/// (a transfer, a test or an admission), not a broken glass.
pub const MAX_MINUTES: i64 = 240;
/// The fewest characters of an explanation: a reason in words, not a
/// placeholder.
pub const MIN_EXPLANATION: usize = 10;
/// The most characters of an explanation or a review note.
pub const MAX_EXPLANATION: usize = 1_000;

/// What the caller states to open an access.
#[derive(Debug, Clone)]
pub struct Request {
    pub patient_id: i64,
    pub reason: BreakGlassReason,
    pub explanation: String,
    pub minutes: Option<i64>,
}

/// Opens a break-glass access to a patient outside the caller's reach.
pub async fn open(state: &AppState, principal: &Principal, request: Request) -> AppResult<break_glass_access::Model> {
    let account = policy::may_break_glass(principal)?;
    let explanation = explanation(&request.explanation)?;
    let minutes = request.minutes.unwrap_or(DEFAULT_MINUTES);
    if !(1..=MAX_MINUTES).contains(&minutes) {
        return Err(AppError::bad_input("minutes", format!("must be between 1 and {MAX_MINUTES}")));
    }
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let Some(patient) = entity::patient::Entity::find_by_id(request.patient_id).one(&txn).await? else {
        return Err(AppError::not_found("patientId", "no patient has this ID"));
    };
    let reached = entity::patient::Entity::find_by_id(patient.id)
        .filter(policy::care_scope(principal))
        .select_only()
        .column(entity::patient::Column::Id)
        .into_tuple::<i64>()
        .one(&txn)
        .await?;
    if reached.is_some() {
        return Err(AppError::bad_input(
            "patientId",
            "this patient is within your reach already: no break-glass access is needed",
        ));
    }
    let centre = entity::health_centre::Entity::find_by_id(patient.responsible_health_centre_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("patient without health centre")))?;
    let access = break_glass_access::ActiveModel {
        account_id: Set(account),
        session_id: Set(principal.session_id),
        patient_id: Set(patient.id),
        health_centre_id: Set(centre.id),
        reason: Set(request.reason),
        explanation: Set(explanation),
        granted_at: Set(now),
        expires_at: Set(now + Duration::minutes(minutes)),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record_detailed(
        &txn,
        principal,
        "BREAK_GLASS",
        Some(patient.id),
        format!(
            "break-glass access {} ({}) until {}",
            access.id,
            access.reason.to_value(),
            access.expires_at.to_rfc3339()
        ),
        now,
    )
    .await?;
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push(
        "INSERT INTO outbox_events (kind, break_glass_access_id, patient_id, occurred_at, health_centre_id, \
         prefecture_id) VALUES (",
    );
    sql.bind(crate::events::BREAK_GLASS).push(", ").bind(access.id).push(", ").bind(patient.id);
    sql.push(", ").bind(now).push(", ").bind(centre.id).push(", ").bind(centre.prefecture_id).push(")");
    txn.execute_raw(sql.build()).await?;
    if crate::db::is_postgres(&txn) {
        // Wakes the dispatchers of every replica, on commit.
        txn.execute_unprepared(&format!("SELECT pg_notify('{}', '')", crate::events::NOTIFY_CHANNEL)).await?;
    }
    txn.commit().await?;
    tracing::info!(access_id = access.id, session_id = principal.session_id, "break-glass access opened");
    Ok(access)
}

/// Break-glass accesses, newest first, `first` at most after the access
/// `after`: every one for administrators (only those not reviewed yet with
/// `unreviewed_only`), those to its patients for a health centre.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    unreviewed_only: bool,
    first: u64,
    after: Option<i64>,
) -> AppResult<(Vec<break_glass_access::Model>, bool)> {
    let mut query = listed(principal, unreviewed_only)?;
    if let Some(after) = after {
        query = query.filter(break_glass_access::Column::Id.lt(after));
    }
    let mut rows = query.order_by_desc(break_glass_access::Column::Id).limit(first + 1).all(&state.db).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

/// How many accesses [`list`] holds over all its pages.
pub async fn count(state: &AppState, principal: &Principal, unreviewed_only: bool) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(listed(principal, unreviewed_only)?.count(&state.db).await?)
}

/// The accesses the caller may list: every one for administrators, those
/// to its patients for a health centre.
fn listed(principal: &Principal, unreviewed_only: bool) -> AppResult<sea_orm::Select<break_glass_access::Entity>> {
    let mut query = break_glass_access::Entity::find();
    if let BreakGlassListing::OfHealthCentre(centre) = policy::break_glass_listing(principal)? {
        query = query.filter(break_glass_access::Column::HealthCentreId.eq(centre));
    }
    if unreviewed_only {
        query = query.filter(break_glass_access::Column::ReviewedAt.is_null());
    }
    Ok(query)
}

/// Records an administrator's finding on an access, once.
pub async fn review(
    state: &AppState,
    principal: &Principal,
    id: i64,
    finding: BreakGlassFinding,
    note: Option<String>,
) -> AppResult<break_glass_access::Model> {
    policy::may_review_break_glass(principal)?;
    let note = match note {
        Some(note) => text::parse_note(&note, MAX_EXPLANATION).map_err(|why| AppError::bad_input("note", why))?,
        None => None,
    };
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let updated = break_glass_access::Entity::update_many()
        .col_expr(break_glass_access::Column::ReviewedBy, principal.account_id.into())
        .col_expr(break_glass_access::Column::ReviewedAt, Some(now).into())
        .col_expr(break_glass_access::Column::Finding, Some(finding).into())
        .col_expr(break_glass_access::Column::ReviewNote, note.into())
        .filter(break_glass_access::Column::Id.eq(id))
        .filter(break_glass_access::Column::ReviewedAt.is_null())
        .exec(&txn)
        .await?;
    let Some(access) = break_glass_access::Entity::find_by_id(id).one(&txn).await? else {
        return Err(AppError::not_found("accessId", "no break-glass access has this ID"));
    };
    if updated.rows_affected == 0 {
        return Err(AppError::bad_input("accessId", "this access has been reviewed already"));
    }
    let finding = match finding {
        BreakGlassFinding::Justified => "justified",
        BreakGlassFinding::Unjustified => "unjustified",
    };
    audit::record_detailed(
        &txn,
        principal,
        "REVIEW_BREAK_GLASS",
        Some(access.patient_id),
        format!("break-glass access {id}: {finding}"),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(access)
}

/// An explanation: trimmed, one paragraph or more of words, within bounds.
fn explanation(raw: &str) -> AppResult<String> {
    let refused = |why: &str| AppError::bad_input("explanation", why.to_owned());
    let text = text::parse_note(raw, MAX_EXPLANATION).map_err(refused)?.unwrap_or_default();
    if text.chars().count() < MIN_EXPLANATION {
        return Err(refused(&format!(
            "must say in at least {MIN_EXPLANATION} characters why the record has to be opened"
        )));
    }
    Ok(text)
}
