//! Idempotent retries: a mutation sent again with the same
//! `Idempotency-Key` by the same session returns the first response and
//! writes nothing new. Keys are remembered for 24 hours, then purged
//! whoever sent them.
//!
//! The key is claimed (a row with no response) before the operation runs,
//! so two copies arriving at once cannot both write: the second is told to
//! retry. A response with errors releases the key, since a refused mutation
//! wrote nothing and may be retried.
//!
//! What is kept is what the first response said, so nothing secret may be
//! in it: signing in, changing a password and ending sessions do not take
//! a key (the pipeline refuses the header on them). A replay is a read of
//! whatever personal data the first response carried: it is answered only
//! to the session (and organisation) that made the first request, and the
//! personal fields are audited again.

use chrono::Duration;
use entity::idempotency_key;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

const RETENTION: Duration = Duration::hours(24);

/// The personal fields a response carried: per patient, the fields joined
/// by commas, as the read audit writes them.
pub type Reads = Vec<(i64, String)>;

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Claim {
    /// First time: run it, then `complete` or `release` this row.
    Run(i64),
    /// Seen before: answer with this stored response, after auditing the
    /// personal fields it carries.
    Replay { response: String, reads: Reads },
}

/// Parses the header value: 1 to 200 visible ASCII characters.
pub fn parse_key(raw: &str) -> AppResult<String> {
    let key = raw.trim();
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AppError::bad_input("Idempotency-Key", "must be 1 to 200 visible ASCII characters"));
    }
    Ok(key.to_owned())
}

fn actor(principal: &Principal) -> String {
    match (principal.account_id, principal.patient_id) {
        (Some(account), _) => format!("account:{account}"),
        (None, Some(patient)) => format!("patient:{patient}"),
        (None, None) => format!("session:{}", principal.session_id),
    }
}

/// Claims `key` for this request body, or finds its earlier response.
pub async fn claim(state: &AppState, principal: &Principal, key: &str, body: &[u8]) -> AppResult<Claim> {
    let now = state.now();
    let actor = actor(principal);
    let hash = hex::encode(Sha256::digest(body));
    purge_expired(&state.db, now).await?;
    let inserted = idempotency_key::ActiveModel {
        actor: Set(actor.clone()),
        key: Set(key.to_owned()),
        request_hash: Set(hash.clone()),
        response: Set(None),
        created_at: Set(now),
        session_id: Set(Some(principal.session_id)),
        organisation_id: Set(principal.organisation_id),
        reads: Set(None),
        ..Default::default()
    }
    .insert(&state.db)
    .await;
    match inserted {
        Ok(row) => Ok(Claim::Run(row.id)),
        Err(error) if crate::db::is_unique_violation(&error) => {
            let existing = idempotency_key::Entity::find()
                .filter(idempotency_key::Column::Actor.eq(actor.as_str()))
                .filter(idempotency_key::Column::Key.eq(key))
                .one(&state.db)
                .await?
                .ok_or_else(|| AppError::conflict("this Idempotency-Key is being released; retry"))?;
            if existing.request_hash != hash {
                return Err(AppError::conflict("this Idempotency-Key was already used for a different request"));
            }
            // The account alone is not enough: after signing out (or being
            // moved to another organisation) the first response is no longer
            // the caller's to read.
            if existing.session_id != Some(principal.session_id)
                || existing.organisation_id != principal.organisation_id
            {
                return Err(AppError::conflict(
                    "this Idempotency-Key was used by another session: its response is answered only to the session \
                     that sent it first",
                ));
            }
            match existing.response {
                Some(response) => {
                    let reads = existing.reads.as_deref().and_then(|text| serde_json::from_str(text).ok());
                    Ok(Claim::Replay { response, reads: reads.unwrap_or_default() })
                }
                None => Err(AppError::conflict("a request with this Idempotency-Key is still running; retry shortly")),
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// Stores the response of a successful first execution, with the personal
/// fields it carries.
pub async fn complete(state: &AppState, id: i64, response: &str, reads: &Reads) -> AppResult<()> {
    let reads = (!reads.is_empty()).then(|| serde_json::to_string(reads).unwrap_or_default());
    idempotency_key::ActiveModel {
        id: Set(id),
        response: Set(Some(response.to_owned())),
        reads: Set(reads),
        ..Default::default()
    }
    .update(&state.db)
    .await?;
    Ok(())
}

/// Forgets every key older than the retention, whoever sent it.
pub async fn purge_expired(db: &impl ConnectionTrait, now: chrono::DateTime<chrono::Utc>) -> AppResult<u64> {
    let purged = idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::CreatedAt.lt(now - RETENTION))
        .exec(db)
        .await?;
    Ok(purged.rows_affected)
}

/// Forgets a claim whose execution failed, so a retry runs again.
pub async fn release(state: &AppState, id: i64) -> AppResult<()> {
    idempotency_key::Entity::delete_by_id(id).exec(&state.db).await?;
    Ok(())
}
