//! Counting failed sign-ins, where each count and its lock decision are one
//! statement: concurrent failures each add one (none is lost to a
//! read-then-write), and whichever reaches the threshold locks.
//!
//! A failure continues the count while it follows the previous one within
//! the lockout window; otherwise, or once a lock has run out, counting
//! starts again at one. While locked, failures still count but the lock
//! keeps its end.
//!
//! Staff accounts count on their own row, after the password was checked
//! (the check is argon2id, bounded by the password gate). Patient sign-ins
//! count in `sign_in_failures`, per patient (the one a smartphone input ID
//! names) and per client address, and an attempt counts *before* its date
//! of birth is compared: only attempts counted within the threshold are
//! compared at all, so however many guesses arrive at once, no more than
//! the threshold are ever tried; one that turns out right is taken back.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use entity::{patient, sign_in_failure};
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::auth::Principal;
use crate::auth::policy::CaseAction;
use crate::config::Config;
use crate::db::Sql;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A count after a failure (or, for patients, an attempt).
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

    /// Whether this attempt is within the threshold, so may be checked.
    pub fn within(&self, threshold: i32) -> bool {
        self.failures <= threshold
    }
}

/// The lockout window and duration of `config`.
fn window_and_duration(config: &Config) -> (Duration, Duration) {
    let window = Duration::from_std(config.lockout_window).unwrap_or(Duration::minutes(15));
    let duration = Duration::from_std(config.lockout_duration).unwrap_or(Duration::minutes(15));
    (window, duration)
}

/// The columns a count is kept in; `prefix` qualifies the old row's values
/// where the statement needs it (an upsert's conflict part).
struct Columns {
    prefix: &'static str,
    failures: &'static str,
    last_failed_at: &'static str,
}

/// Writes the assignments of one more failure at `now`: the count continued
/// or started again, the lock set when the count reaches `threshold` (and
/// kept while it runs).
fn push_failure(sql: &mut Sql, columns: &Columns, config: &Config, threshold: i32, now: DateTime<Utc>) {
    let (window, duration) = window_and_duration(config);
    let Columns { prefix, failures, last_failed_at } = columns;
    // Counting starts again when not locked and either the previous
    // failure is older than the window or a lock has run out.
    let fresh = |sql: &mut Sql| {
        sql.push(&format!("(({prefix}locked_until IS NULL OR {prefix}locked_until <= "))
            .bind(now)
            .push(&format!(") AND ({prefix}{last_failed_at} IS NULL OR {prefix}{last_failed_at} <= "))
            .bind(now - window)
            .push(&format!(" OR {prefix}locked_until IS NOT NULL))"));
    };
    let counted = |sql: &mut Sql| {
        sql.push("CASE WHEN ");
        fresh(sql);
        sql.push(&format!(" THEN 1 ELSE {prefix}{failures} + 1 END"));
    };
    sql.push(&format!("{failures} = "));
    counted(sql);
    sql.push(&format!(", locked_until = CASE WHEN {prefix}locked_until > ")).bind(now);
    sql.push(&format!(" THEN {prefix}locked_until WHEN ("));
    counted(sql);
    sql.push(") >= ").bind(threshold);
    sql.push(" THEN ").bind(now + duration);
    sql.push(&format!(" ELSE NULL END, {last_failed_at} = ")).bind(now);
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
    let columns = Columns { prefix: "", failures: "failed_logins", last_failed_at: "last_failed_login_at" };
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("UPDATE accounts SET ");
    push_failure(&mut sql, &columns, config, config.lockout_threshold, now);
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

/// What patient sign-in attempts are counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The patient a smartphone input ID names.
    Patient(i64),
    /// The client address attempts come from.
    Address(IpAddr),
}

impl Subject {
    /// The key of its row.
    pub fn key(&self) -> String {
        match self {
            Subject::Patient(id) => format!("patient:{id}"),
            Subject::Address(address) => format!("address:{address}"),
        }
    }

    /// Attempts of the subject that lock it.
    pub fn threshold(&self, config: &Config) -> i32 {
        match self {
            Subject::Patient(_) => config.lockout_threshold,
            Subject::Address(_) => config.lockout_address_threshold,
        }
    }
}

/// Counts a patient sign-in attempt against `subject` before it is checked,
/// and locks the subject when the count reaches its threshold. The attempt
/// may be checked only if the count is [`within`](Count::within) the
/// threshold.
pub async fn attempt(
    db: &impl ConnectionTrait,
    config: &Config,
    subject: Subject,
    now: DateTime<Utc>,
) -> AppResult<Count> {
    let threshold = subject.threshold(config);
    let (_, duration) = window_and_duration(config);
    let first_locks = (threshold <= 1).then_some(now + duration);
    let columns = Columns { prefix: "sign_in_failures.", failures: "failures", last_failed_at: "last_failed_at" };
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("INSERT INTO sign_in_failures (subject, failures, last_failed_at, locked_until) VALUES (")
        .bind(subject.key())
        .push(", 1, ")
        .bind(now)
        .push(", ")
        .bind(first_locks)
        .push(") ON CONFLICT (subject) DO UPDATE SET ");
    push_failure(&mut sql, &columns, config, threshold, now);
    sql.push(" RETURNING failures, locked_until");
    let row = db
        .query_one_raw(sql.build())
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("an upsert of sign_in_failures returned nothing")))?;
    Ok(Count { failures: row.try_get("", "failures")?, locked_until: row.try_get("", "locked_until")? })
}

/// After a patient signed in: forgets the patient's count, unless
/// concurrent attempts have gone past the threshold meanwhile (the lock
/// they set stays).
pub async fn patient_signed_in(db: &impl ConnectionTrait, config: &Config, patient_id: i64) -> AppResult<()> {
    let subject = Subject::Patient(patient_id);
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("DELETE FROM sign_in_failures WHERE subject = ").bind(subject.key());
    sql.push(" AND failures <= ").bind(subject.threshold(config));
    db.execute_raw(sql.build()).await?;
    Ok(())
}

/// After a patient signed in from `address`: takes the attempt back from
/// the address's count (many patients may share one address), and with it
/// a lock that attempt set, unless concurrent attempts have gone past the
/// threshold meanwhile.
pub async fn address_signed_in(db: &impl ConnectionTrait, config: &Config, address: IpAddr) -> AppResult<()> {
    let subject = Subject::Address(address);
    let threshold = subject.threshold(config);
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("UPDATE sign_in_failures SET failures = failures - 1, locked_until = CASE WHEN failures - 1 >= ")
        .bind(threshold)
        .push(" THEN locked_until ELSE NULL END WHERE subject = ")
        .bind(subject.key())
        .push(" AND failures > 0 AND failures <= ")
        .bind(threshold);
    db.execute_raw(sql.build()).await?;
    Ok(())
}

/// A subject's standing as the responsible health centre sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Failed attempts of the current run.
    pub failures: i32,
    /// When the last one was made.
    pub last_failed_at: DateTime<Utc>,
    /// Until when the subject is locked; `None` when it is not (now).
    pub locked_until: Option<DateTime<Utc>>,
}

/// The standing of a counted row at `now`: `None` when nothing counts any
/// more (no lock, and the last failure is older than the window).
pub fn standing(row: &sign_in_failure::Model, config: &Config, now: DateTime<Utc>) -> Option<Standing> {
    let (window, _) = window_and_duration(config);
    let locked_until = row.locked_until.filter(|until| *until > now);
    let counting = row.failures > 0 && row.last_failed_at > now - window;
    (locked_until.is_some() || counting).then_some(Standing {
        failures: row.failures,
        last_failed_at: row.last_failed_at,
        locked_until,
    })
}

/// Lifts a patient's sign-in lock and forgets the count: for the
/// responsible health centre, for instance after a call with the patient.
/// Audited (`LIFT_SIGN_IN_LOCK`), whether or not there was a lock.
/// Forgets the counts that no longer say anything: the last failure is
/// older than the window (the next one starts again at one) and no lock
/// is running. Answers how many were forgotten.
pub async fn forget_stale(db: &impl ConnectionTrait, config: &Config, now: DateTime<Utc>) -> AppResult<u64> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let (window, _) = window_and_duration(config);
    let forgotten = sign_in_failure::Entity::delete_many()
        .filter(sign_in_failure::Column::LastFailedAt.lt(now - window))
        .filter(
            sea_orm::Condition::any()
                .add(sign_in_failure::Column::LockedUntil.is_null())
                .add(sign_in_failure::Column::LockedUntil.lt(now)),
        )
        .exec(db)
        .await?;
    Ok(forgotten.rows_affected)
}

pub async fn lift_patient_lock(state: &AppState, principal: &Principal, patient_id: i64) -> AppResult<patient::Model> {
    let now = state.now();
    let write = super::patient_write::Locked::open(state, principal, patient_id, "patientId", now)
        .await?
        .authorise(CaseAction::ManageSignIn, None)?;
    let patient = write.patient().clone();
    sign_in_failure::Entity::delete_by_id(Subject::Patient(patient.id).key()).exec(write.txn()).await?;
    write.commit("LIFT_SIGN_IN_LOCK", &[]).await?;
    tracing::info!(patient_id, "patient sign-in lock lifted");
    Ok(patient)
}
