//! Ending sessions: the one way a change (logout, a password change, a
//! disabled or moved account, an ended case, a revoked API key) ends the
//! sessions it concerns, inside its own transaction, and tells every
//! replica and every open stream once it has committed.

use chrono::{DateTime, Utc};
use entity::session;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};

use crate::error::AppResult;
use crate::state::AppState;

/// Which sessions a change ends.
#[derive(Debug, Clone, Copy)]
pub enum Ending {
    /// One session (logout).
    Session(i64),
    /// Every session of a staff account.
    Account(i64),
    /// Every session of a staff account but the one making the change.
    AccountExcept(i64, i64),
    /// Every session of a patient.
    Patient(i64),
}

/// Ends sessions inside `conn`, the transaction of the change that ends
/// them, and answers their IDs; pass those to [`sessions_ended`] after the
/// commit. On PostgreSQL the other replicas are notified when (and only if)
/// the transaction commits.
pub async fn end_sessions(conn: &impl ConnectionTrait, which: Ending, now: DateTime<Utc>) -> AppResult<Vec<i64>> {
    let condition = match which {
        Ending::Session(id) => Expr::col(session::Column::Id).eq(id),
        Ending::Account(account) => Expr::col(session::Column::AccountId).eq(account),
        Ending::AccountExcept(account, kept) => {
            Expr::col(session::Column::AccountId).eq(account).and(Expr::col(session::Column::Id).ne(kept))
        }
        Ending::Patient(patient) => Expr::col(session::Column::PatientId).eq(patient),
    };
    let update = Query::update()
        .table(session::Entity)
        .value(session::Column::RevokedAt, now)
        .and_where(condition)
        .and_where(Expr::col(session::Column::RevokedAt).is_null())
        .returning_col(session::Column::Id)
        .to_owned();
    let backend = conn.get_database_backend();
    let rows = conn.query_all_raw(backend.build(&update)).await?;
    let ended = rows.iter().map(|row| row.try_get::<i64>("", "id")).collect::<Result<Vec<_>, _>>()?;
    if backend == sea_orm::DbBackend::Postgres {
        for payload in crate::auth::revocation::payloads(&ended) {
            let mut notify = crate::db::Sql::new(backend);
            notify.push("SELECT pg_notify(").bind(crate::auth::revocation::CHANNEL).push(", ").bind(payload).push(")");
            conn.execute_raw(notify.build()).await?;
        }
    }
    Ok(ended)
}

/// After the commit of a change that ended sessions: no request on this
/// server runs for them any more, and their streams have closed.
pub async fn sessions_ended(state: &AppState, ended: &[i64]) {
    if ended.is_empty() {
        return;
    }
    state.sessions.forget_all();
    state.revocations.revoke(ended).await;
}
