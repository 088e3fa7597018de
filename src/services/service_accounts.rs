//! Machine clients: service accounts and their API keys.
//!
//! A service account belongs to an organisation and acts with that
//! organisation's role, like its staff. It calls with API keys
//! (`Authorization: Bearer hak_…`), each with a name, a scope (read-only,
//! or a list of named operations), an expiry of at most
//! [`keys::MAX_LIFETIME_DAYS`] days, and its last use. Several keys of one
//! service account may be valid at once, so a key is rotated without
//! downtime: create the new one, switch, revoke the old one.
//!
//! Service accounts are only for national and operator organisations:
//! staff of medical institutions, health centres and prefectures read
//! personal data, and giving that to a machine would need the second
//! administrator of `account_changes` for every key; such organisations are
//! refused instead.
//!
//! Every key has a session row of its own (no account, no patient, ending
//! when the key expires): its uses run under that session, so revoking the
//! key ends its session through `sessions::end_sessions`, which closes its
//! open streams on every replica like any ended session. Keys never lock
//! (a wrong key is an unknown token) and are not kept in the cache of
//! recent sessions: every use looks the key up.

use chrono::{DateTime, Duration, Utc};
use entity::{api_key, organisation, service_account, session};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::account_changes::{describe, needs_second_administrator};
use super::accounts::Lookup;
use super::sessions::{Ending, end_sessions, sessions_ended};
use crate::auth::keys::{self, Scope};
use crate::auth::principal::KeyUse;
use crate::auth::{Principal, Role};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// `last_used_at` is refreshed at most this often.
const TOUCH_INTERVAL: Duration = Duration::seconds(60);

/// Longest name of a service account or key, in characters.
const MAX_NAME: usize = 100;

/// A new key: its text (shown once) and its row.
#[derive(Debug)]
pub struct NewKey {
    pub key: String,
    pub row: api_key::Model,
}

/// Only a system administrator signed in as a person manages machine
/// clients (a key never makes keys).
fn require_admin(principal: &Principal) -> AppResult<i64> {
    crate::auth::policy::administrator(principal, "service accounts and API keys")
}

fn check_name(field: &str, name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(AppError::bad_input(field, format!("must be 1 to {MAX_NAME} characters")));
    }
    crate::domain::text::check_line(name).map_err(|why| AppError::bad_input(field, why))?;
    Ok(name.to_owned())
}

/// Creates a service account in a national or operator organisation.
pub async fn create_service_account(
    state: &AppState,
    principal: &Principal,
    name: &str,
    organisation_id: i64,
) -> AppResult<service_account::Model> {
    let admin = require_admin(principal)?;
    let name = check_name("name", name)?;
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let Some(organisation) = organisation::Entity::find_by_id(organisation_id).one(&txn).await? else {
        return Err(AppError::not_found("organisationId", "no organisation has this ID"));
    };
    if needs_second_administrator(organisation.kind) {
        return Err(AppError::bad_input(
            "organisationId",
            "service accounts are only for national and operator organisations: staff of medical institutions, \
             health centres and prefectures read personal data, which API keys are not given",
        ));
    }
    let created = service_account::ActiveModel {
        name: Set(name),
        organisation_id: Set(organisation_id),
        created_by_account_id: Set(admin),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let detail = format!("service account {} in {}", created.id, describe(&organisation));
    super::audit::record_detailed(&txn, principal, "CREATE_SERVICE_ACCOUNT", None, detail, now).await?;
    txn.commit().await?;
    tracing::info!(service_account_id = created.id, "service account created");
    Ok(created)
}

/// The scope of a new key, checked: read-only, or a non-empty list of
/// root field names (duplicates dropped).
pub fn check_scope(read_only: bool, operations: Option<Vec<String>>) -> AppResult<Scope> {
    match (read_only, operations) {
        (true, None) => Ok(Scope::ReadOnly),
        (true, Some(_)) => Err(AppError::bad_input("scope", "is either readOnly or a list of operations, not both")),
        (false, None) => Err(AppError::bad_input("scope", "needs readOnly: true or a list of operations")),
        (false, Some(names)) => {
            let mut kept: Vec<String> = Vec::new();
            for name in names {
                let name = name.trim().to_owned();
                if !keys::valid_field_name(&name) {
                    return Err(AppError::bad_input("scope.operations", "each must be the name of a root field"));
                }
                if !kept.contains(&name) {
                    kept.push(name);
                }
            }
            if kept.is_empty() || kept.len() > keys::MAX_OPERATIONS {
                return Err(AppError::bad_input(
                    "scope.operations",
                    format!("must name 1 to {} operations", keys::MAX_OPERATIONS),
                ));
            }
            Ok(Scope::Operations(kept))
        }
    }
}

/// Creates an API key of a service account. Its text is in the answer and
/// nowhere else.
pub async fn create_api_key(
    state: &AppState,
    principal: &Principal,
    service_account_id: i64,
    name: &str,
    expires_at: DateTime<Utc>,
    scope: Scope,
) -> AppResult<NewKey> {
    require_admin(principal)?;
    let name = check_name("name", name)?;
    let now = state.now();
    if expires_at <= now {
        return Err(AppError::bad_input("expiresAt", "must be in the future"));
    }
    if expires_at > now + Duration::days(keys::MAX_LIFETIME_DAYS) {
        return Err(AppError::bad_input(
            "expiresAt",
            format!("must be at most {} days from now", keys::MAX_LIFETIME_DAYS),
        ));
    }
    let txn = crate::db::begin_write(&state.db).await?;
    let Some(owner) = service_account::Entity::find_by_id(service_account_id).one(&txn).await? else {
        return Err(AppError::not_found("serviceAccountId", "no service account has this ID"));
    };
    let (key, hash) = keys::new_key();
    let session = session::ActiveModel {
        // Not a session token's hash: no token resolves to it.
        token_hash: Set(format!("api-key:{hash}")),
        account_id: Set(None),
        patient_id: Set(None),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        client_address: Set(None),
        user_agent: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let row = api_key::ActiveModel {
        service_account_id: Set(owner.id),
        name: Set(name),
        token_hash: Set(hash),
        scope: Set(scope.to_stored()),
        session_id: Set(session.id),
        created_at: Set(now),
        expires_at: Set(expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let detail = format!(
        "API key {} of service account {}, scope {}, expires {}",
        row.id,
        owner.id,
        scope.describe(),
        expires_at.to_rfc3339()
    );
    super::audit::record_detailed(&txn, principal, "CREATE_API_KEY", None, detail, now).await?;
    txn.commit().await?;
    tracing::info!(service_account_id = owner.id, api_key_id = row.id, "API key created");
    Ok(NewKey { key, row })
}

/// Revokes a key at once: its next use is refused and its open streams
/// close before this returns. Revoking a revoked key changes nothing.
pub async fn revoke_api_key(state: &AppState, principal: &Principal, key_id: i64) -> AppResult<api_key::Model> {
    require_admin(principal)?;
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let Some(key) = api_key::Entity::find_by_id(key_id).one(&txn).await? else {
        return Err(AppError::not_found("keyId", "no API key has this ID"));
    };
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let session_id = key.session_id;
    let service_account_id = key.service_account_id;
    let mut active: api_key::ActiveModel = key.into();
    active.revoked_at = Set(Some(now));
    let revoked = active.update(&txn).await?;
    let ended = end_sessions(&txn, Ending::Session(session_id), now).await?;
    let detail = format!("API key {key_id} of service account {service_account_id}");
    super::audit::record_detailed(&txn, principal, "REVOKE_API_KEY", None, detail, now).await?;
    txn.commit().await?;
    sessions_ended(state, &ended).await;
    tracing::info!(service_account_id, api_key_id = key_id, "API key revoked");
    Ok(revoked)
}

/// Every service account with its keys, for system administrators.
pub async fn list(
    state: &AppState,
    principal: &Principal,
) -> AppResult<Vec<(service_account::Model, Vec<api_key::Model>)>> {
    require_admin(principal)?;
    let accounts = service_account::Entity::find().order_by_asc(service_account::Column::Id).all(&state.db).await?;
    let mut keys = api_key::Entity::find().order_by_asc(api_key::Column::Id).all(&state.db).await?;
    Ok(accounts
        .into_iter()
        .map(|account| {
            let (own, rest): (Vec<_>, Vec<_>) = keys.drain(..).partition(|key| key.service_account_id == account.id);
            keys = rest;
            (account, own)
        })
        .collect())
}

/// The principal of a live API key, or why there is none. The caller acts
/// like staff of the service account's organisation, with the key noted
/// for the audit log and the pipeline's scope check.
pub async fn resolve(state: &AppState, token: &str) -> AppResult<Lookup> {
    if !keys::looks_like_key(token) {
        return Ok(Lookup::Unknown);
    }
    let now = state.now();
    let hash = crate::auth::session::hash_token(token);
    let Some(key) = api_key::Entity::find().filter(api_key::Column::TokenHash.eq(hash)).one(&state.db).await? else {
        return Ok(Lookup::Unknown);
    };
    if key.revoked_at.is_some() || key.expires_at <= now {
        return Ok(Lookup::Ended);
    }
    let owner = service_account::Entity::find_by_id(key.service_account_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("API key without service account")))?;
    let organisation = organisation::Entity::find_by_id(owner.organisation_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("service account without organisation")))?;
    if key.last_used_at.is_none_or(|at| at + TOUCH_INTERVAL <= now) {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(key.id))
            .exec(&state.db)
            .await?;
    }
    Ok(Lookup::Live(Principal {
        session_id: key.session_id,
        role: Role::of_organisation(organisation.kind),
        account_id: None,
        username: None,
        organisation_id: Some(organisation.id),
        facility_id: organisation.facility_id,
        health_centre_id: organisation.health_centre_id,
        prefecture_id: organisation.prefecture_id,
        patient_id: None,
        operation: None,
        address: None,
        session_expires_at: key.expires_at,
        key: Some(Box::new(KeyUse {
            service_account_id: owner.id,
            api_key_id: key.id,
            scope: Scope::from_stored(&key.scope),
        })),
        at: now,
    }))
}
