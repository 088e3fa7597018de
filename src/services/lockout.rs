//! Counting failed sign-ins, where each count and its lock decision are one
//! statement: concurrent failures each add one (none is lost to a
//! read-then-write), and whichever reaches the threshold locks.
//!
//! A failure continues the count while it follows the previous one within
//! the lockout window; otherwise, or once a lock has run out, counting
//! starts again at one. While locked, failures still count but the lock
//! keeps its end.

use chrono::{DateTime, Duration, Utc};
use sea_orm::ConnectionTrait;

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::services::statistics::Sql;

/// A count after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Failures in the current run, this one included.
    pub failures: i32,
    /// Until when the failures lock, if they do.
    pub locked_until: Option<DateTime<Utc>>,
}

impl Count {
    /// Whether this failure is the one that locked.
    pub fn just_locked(&self, threshold: i32) -> bool {
        self.failures == threshold && self.locked_until.is_some()
    }
}

/// The lockout window and duration of `config`.
fn window_and_duration(config: &Config) -> (Duration, Duration) {
    let window = Duration::from_std(config.lockout_window).unwrap_or(Duration::minutes(15));
    let duration = Duration::from_std(config.lockout_duration).unwrap_or(Duration::minutes(15));
    (window, duration)
}

/// Counts a failed sign-in of a staff account (a wrong password, at sign-in
/// or when changing it) and locks the account when the count reaches the
/// threshold.
pub async fn account_failed(
    db: &impl ConnectionTrait,
    config: &Config,
    account_id: i64,
    now: DateTime<Utc>,
) -> AppResult<Count> {
    let (window, duration) = window_and_duration(config);
    let mut sql = Sql::new(db.get_database_backend());
    // Counting starts again when not locked and either the previous
    // failure is older than the window or a lock has run out.
    let fresh = |sql: &mut Sql| {
        sql.push("((locked_until IS NULL OR locked_until <= ")
            .bind(now)
            .push(") AND (last_failed_login_at IS NULL OR last_failed_login_at <= ")
            .bind(now - window)
            .push(" OR locked_until IS NOT NULL))");
    };
    sql.push("UPDATE accounts SET failed_logins = CASE WHEN ");
    fresh(&mut sql);
    sql.push(" THEN 1 ELSE failed_logins + 1 END, locked_until = CASE WHEN locked_until > ").bind(now);
    sql.push(" THEN locked_until WHEN (CASE WHEN ");
    fresh(&mut sql);
    sql.push(" THEN 1 ELSE failed_logins + 1 END) >= ").bind(config.lockout_threshold);
    sql.push(" THEN ").bind(now + duration);
    sql.push(" ELSE NULL END, last_failed_login_at = ").bind(now);
    sql.push(" WHERE id = ").bind(account_id);
    sql.push(" RETURNING failed_logins, locked_until");
    let row = db
        .query_one_raw(sql.build())
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no account {account_id} to count a failure of")))?;
    Ok(Count { failures: row.try_get("", "failed_logins")?, locked_until: row.try_get("", "locked_until")? })
}

/// After the right password: clears the account's count, unless the
/// account is locked (by now: concurrent failures may have locked it while
/// the password was checked). Answers whether it was not locked, that is
/// whether the sign-in may go on.
pub async fn account_succeeded(db: &impl ConnectionTrait, account_id: i64, now: DateTime<Utc>) -> AppResult<bool> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("UPDATE accounts SET failed_logins = 0, locked_until = NULL WHERE id = ").bind(account_id);
    sql.push(" AND (locked_until IS NULL OR locked_until <= ").bind(now);
    sql.push(") RETURNING id");
    Ok(db.query_one_raw(sql.build()).await?.is_some())
}
