//! Account changes that need two administrators. Creating an account in,
//! or moving one into, an organisation whose staff read personal data (a
//! medical institution, a health centre, a prefecture) is only a request
//! until a second administrator approves it: a new account cannot sign in
//! and a moved one stays where it was. Requests and decisions are audited
//! with the account they concern and the organisations involved.

use chrono::{DateTime, Utc};
use entity::enums::OrganisationKind;
use entity::{account, account_change, organisation};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::sessions::{Ending, end_sessions, sessions_ended};
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new account.
    Create,
    /// A move to another organisation.
    AssignOrganisation,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Create => "CREATE",
            ChangeKind::AssignOrganisation => "ASSIGN_ORGANISATION",
        }
    }

    pub fn parse(text: &str) -> Option<ChangeKind> {
        [ChangeKind::Create, ChangeKind::AssignOrganisation].into_iter().find(|kind| kind.as_str() == text)
    }
}

/// Whether staff of this kind of organisation read personal data, so that
/// putting an account there needs a second administrator.
pub fn needs_second_administrator(kind: OrganisationKind) -> bool {
    matches!(kind, OrganisationKind::MedicalInstitution | OrganisationKind::HealthCentre | OrganisationKind::Prefecture)
}

/// How an organisation is named in the audit log's detail.
pub fn describe(organisation: &organisation::Model) -> String {
    format!("organisation {} ({:?})", organisation.id, organisation.kind)
}

fn require_admin(principal: &Principal) -> AppResult<i64> {
    crate::auth::policy::administrator(principal, "accounts")
}

/// Records a request inside the change's transaction (`conn`). An account
/// has at most one pending change.
pub async fn request(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    kind: ChangeKind,
    account_id: i64,
    from: Option<i64>,
    to: i64,
    now: DateTime<Utc>,
) -> AppResult<account_change::Model> {
    let requested_by = require_admin(principal)?;
    if pending_for(conn, account_id).await?.is_some() {
        return Err(AppError::conflict(
            "accountId: a change of this account already waits for approval; approve or reject it first",
        ));
    }
    let change = account_change::ActiveModel {
        kind: Set(kind.as_str().to_owned()),
        account_id: Set(account_id),
        from_organisation_id: Set(from),
        to_organisation_id: Set(to),
        requested_by: Set(requested_by),
        requested_at: Set(now),
        decided_by: Set(None),
        decided_at: Set(None),
        decision: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(change)
}

/// The change of an account that waits for approval, if any.
pub async fn pending_for(conn: &impl ConnectionTrait, account_id: i64) -> AppResult<Option<account_change::Model>> {
    Ok(account_change::Entity::find()
        .filter(account_change::Column::AccountId.eq(account_id))
        .filter(account_change::Column::DecidedAt.is_null())
        .one(conn)
        .await?)
}

/// Changes, newest first: only those waiting when `pending_only`.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    pending_only: bool,
) -> AppResult<Vec<account_change::Model>> {
    require_admin(principal)?;
    let mut query = account_change::Entity::find();
    if pending_only {
        query = query.filter(account_change::Column::DecidedAt.is_null());
    }
    Ok(query.order_by_desc(account_change::Column::Id).all(&state.db).await?)
}

/// Approves (`approve`) or rejects a pending change. Only another
/// administrator than the one who asked approves, and never a change of
/// their own account; any administrator may reject (the one who asked
/// withdraws it so). An approved creation may sign in; an approved move takes effect
/// and ends the account's sessions. A rejected creation stays unable to
/// sign in and is disabled; a rejected move changes nothing.
pub async fn decide(
    state: &AppState,
    principal: &Principal,
    change_id: i64,
    approve: bool,
) -> AppResult<account_change::Model> {
    let decider = require_admin(principal)?;
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let change = account_change::Entity::find_by_id(change_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("changeId", "no account change has this ID"))?;
    if change.decided_at.is_some() {
        return Err(AppError::conflict("changeId: this change has already been decided"));
    }
    // Approving takes a second pair of eyes; rejecting opens nothing, so
    // the one who asked may also withdraw the request.
    if approve && change.requested_by == decider {
        return Err(AppError::forbidden("a second administrator approves a change, not the one who asked for it"));
    }
    if approve && change.account_id == decider {
        return Err(AppError::forbidden("no one approves a change of their own account"));
    }
    let account = account::Entity::find_by_id(change.account_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("changeId", "the account of this change no longer exists"))?;
    let to = organisation::Entity::find_by_id(change.to_organisation_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("changeId", "the organisation of this change no longer exists"))?;
    let kind = ChangeKind::parse(&change.kind)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("unknown account change kind")))?;
    let mut ended = Vec::new();
    let mut active: account::ActiveModel = account.clone().into();
    match (kind, approve) {
        (ChangeKind::Create, true) => active.awaiting_approval_since = Set(None),
        (ChangeKind::Create, false) => active.disabled_at = Set(Some(now)),
        (ChangeKind::AssignOrganisation, true) => {
            active.organisation_id = Set(change.to_organisation_id);
            ended = end_sessions(&txn, Ending::Account(account.id), now).await?;
        }
        (ChangeKind::AssignOrganisation, false) => {}
    }
    active.update(&txn).await?;
    let decision = if approve { "APPROVED" } else { "REJECTED" };
    let mut decided: account_change::ActiveModel = change.into();
    decided.decided_by = Set(Some(decider));
    decided.decided_at = Set(Some(now));
    decided.decision = Set(Some(decision.to_owned()));
    let decided = decided.update(&txn).await?;
    let action = if approve { "APPROVE_ACCOUNT_CHANGE" } else { "REJECT_ACCOUNT_CHANGE" };
    let detail = format!("change {} ({}) to {}", decided.id, kind.as_str(), describe(&to));
    super::audit::record_account_action(&txn, principal, action, account.id, detail, now).await?;
    txn.commit().await?;
    sessions_ended(state, &ended).await;
    tracing::info!(change_id, account_id = account.id, approve, "account change decided");
    Ok(decided)
}
