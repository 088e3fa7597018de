//! The audit log: who read which personal fields of which patient, and who
//! changed what, through which operation. Append-only: nothing in the
//! gateway updates or deletes an entry (and on PostgreSQL a trigger refuses
//! it). Writes are audited in the transaction of the write; reads are
//! collected during a request and appended before its answer leaves.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use entity::{audit_entry, break_glass_access};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, Value};

use super::appends::Appends;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Appends one entry.
pub async fn record(
    db: &impl ConnectionTrait,
    principal: &Principal,
    action: &str,
    patient_id: Option<i64>,
    fields: &[&str],
    at: DateTime<Utc>,
) -> AppResult<()> {
    audit_entry::Entity::insert(entry(principal, action, patient_id, fields.join(","), at)).exec(db).await?;
    Ok(())
}

/// Adds one entry to a write's `appends`, to go with its other appended
/// rows before the commit.
pub fn append(
    appends: &mut Appends,
    principal: &Principal,
    action: &str,
    patient_id: Option<i64>,
    fields: &[&str],
    at: DateTime<Utc>,
) {
    let row = vec![
        Value::from(at),
        Value::from(principal.account_id),
        Value::from(actor_patient(principal)),
        Value::from(action.to_owned()),
        Value::from(patient_id),
        Value::from(fields.join(",")),
        Value::from(principal.operation.clone()),
        Value::from(principal.address.map(|address| address.to_string())),
        Value::from(principal.key.as_ref().map(|key| key.service_account_id)),
        Value::from(principal.key.as_ref().map(|key| key.api_key_id)),
    ];
    appends.push("audit_entries", &COLUMNS, vec![row]);
}

/// Columns of an entry [`append`] writes.
const COLUMNS: [&str; 10] = [
    "at",
    "account_id",
    "actor_patient_id",
    "action",
    "patient_id",
    "fields",
    "operation",
    "client_address",
    "service_account_id",
    "api_key_id",
];

/// For a patient's own session: the patient acting.
fn actor_patient(principal: &Principal) -> Option<i64> {
    principal.account_id.is_none().then_some(principal.patient_id).flatten()
}

/// Appends an entry for an action on a staff account: which account, and
/// what changed (`detail`, e.g. the organisations before and after).
pub async fn record_account_action(
    db: &impl ConnectionTrait,
    principal: &Principal,
    action: &str,
    target_account_id: i64,
    detail: String,
    at: DateTime<Utc>,
) -> AppResult<()> {
    let mut row = entry(principal, action, None, String::new(), at);
    row.target_account_id = Set(Some(target_account_id));
    row.detail = Set(Some(detail));
    audit_entry::Entity::insert(row).exec(db).await?;
    Ok(())
}

/// Appends an entry whose detail says what was acted on (a service
/// account or API key, never a key's text; a break-glass access).
pub async fn record_detailed(
    db: &impl ConnectionTrait,
    principal: &Principal,
    action: &str,
    patient_id: Option<i64>,
    detail: String,
    at: DateTime<Utc>,
) -> AppResult<()> {
    let mut row = entry(principal, action, patient_id, String::new(), at);
    row.detail = Set(Some(detail));
    audit_entry::Entity::insert(row).exec(db).await?;
    Ok(())
}

/// Appends an entry for a change the operator made on the command line
/// (`command`, e.g. `hersys facility add`), where no account is signed in:
/// no account, the command as the operation, and `detail` saying what was
/// acted on.
pub async fn record_command_line(
    db: &impl ConnectionTrait,
    command: &str,
    action: &str,
    detail: String,
    at: DateTime<Utc>,
) -> AppResult<()> {
    audit_entry::Entity::insert(audit_entry::ActiveModel {
        at: Set(at),
        account_id: Set(None),
        actor_patient_id: Set(None),
        action: Set(action.to_owned()),
        patient_id: Set(None),
        fields: Set(String::new()),
        operation: Set(Some(command.to_owned())),
        client_address: Set(None),
        detail: Set(Some(format!("from the command line: {detail}"))),
        ..Default::default()
    })
    .exec(db)
    .await?;
    Ok(())
}

/// Appends an entry for an account that is not signed in (a refused
/// sign-in, for instance).
pub async fn record_account_event(
    db: &impl ConnectionTrait,
    account_id: i64,
    action: &str,
    at: DateTime<Utc>,
) -> AppResult<()> {
    audit_entry::Entity::insert(audit_entry::ActiveModel {
        at: Set(at),
        account_id: Set(Some(account_id)),
        actor_patient_id: Set(None),
        action: Set(action.to_owned()),
        patient_id: Set(None),
        fields: Set(String::new()),
        operation: Set(None),
        client_address: Set(None),
        ..Default::default()
    })
    .exec(db)
    .await?;
    Ok(())
}

/// Who a refused sign-in was for, as far as it is known: the account of
/// the username, the patient of the smartphone input ID (never what was
/// guessed), and where the attempt came from.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignInAttempt {
    pub account_id: Option<i64>,
    pub patient_id: Option<i64>,
    pub address: Option<std::net::IpAddr>,
}

/// Appends the entry of a refused sign-in (`action`), made by nobody
/// signed in.
pub async fn record_refused_sign_in(
    db: &impl ConnectionTrait,
    attempt: SignInAttempt,
    action: &str,
    at: DateTime<Utc>,
) -> AppResult<()> {
    audit_entry::Entity::insert(audit_entry::ActiveModel {
        at: Set(at),
        account_id: Set(attempt.account_id),
        actor_patient_id: Set(None),
        action: Set(action.to_owned()),
        patient_id: Set(attempt.patient_id),
        fields: Set(String::new()),
        operation: Set(None),
        client_address: Set(attempt.address.map(|address| address.to_string())),
        ..Default::default()
    })
    .exec(db)
    .await?;
    Ok(())
}

fn entry(
    principal: &Principal,
    action: &str,
    patient_id: Option<i64>,
    fields: String,
    at: DateTime<Utc>,
) -> audit_entry::ActiveModel {
    audit_entry::ActiveModel {
        at: Set(at),
        account_id: Set(principal.account_id),
        actor_patient_id: Set(actor_patient(principal)),
        action: Set(action.to_owned()),
        patient_id: Set(patient_id),
        fields: Set(fields),
        operation: Set(principal.operation.clone()),
        client_address: Set(principal.address.map(|address| address.to_string())),
        service_account_id: Set(principal.key.as_ref().map(|key| key.service_account_id)),
        api_key_id: Set(principal.key.as_ref().map(|key| key.api_key_id)),
        ..Default::default()
    }
}

/// The personal fields read during one request, by patient.
#[derive(Debug, Default)]
pub struct ReadTrail(Mutex<BTreeMap<i64, BTreeSet<&'static str>>>);

impl ReadTrail {
    pub fn note(&self, patient_id: i64, field: &'static str) {
        if let Ok(mut reads) = self.0.lock() {
            reads.entry(patient_id).or_default().insert(field);
        }
    }

    /// What has been read so far, per patient, the fields joined as the
    /// audit writes them (the trail is left as it is).
    pub fn entries(&self) -> Vec<(i64, String)> {
        self.0
            .lock()
            .map(|reads| reads.iter().map(|(patient, fields)| (*patient, join(fields))).collect())
            .unwrap_or_default()
    }

    fn take(&self) -> BTreeMap<i64, BTreeSet<&'static str>> {
        self.0.lock().map(|mut reads| std::mem::take(&mut *reads)).unwrap_or_default()
    }
}

/// Appends one READ_PERSONAL entry per patient whose personal fields the
/// request read, in one statement.
pub async fn flush_reads(state: &AppState, principal: &Principal, trail: &ReadTrail) -> AppResult<()> {
    let reads = trail.take().into_iter().map(|(patient, fields)| (patient, join(&fields)));
    append_reads(state, principal, reads).await
}

/// Appends one READ_PERSONAL entry per patient of `reads` (patient, fields
/// joined): a stored response answered again is read again.
pub async fn record_reads_again(state: &AppState, principal: &Principal, reads: &[(i64, String)]) -> AppResult<()> {
    append_reads(state, principal, reads.iter().cloned()).await
}

/// One entry per (patient, fields joined), in one statement; nothing when
/// there are none. A read of a patient to whom the caller holds an open
/// break-glass access is a READ_PERSONAL_BREAK_GLASS naming the access;
/// any other is a READ_PERSONAL.
async fn append_reads(
    state: &AppState,
    principal: &Principal,
    reads: impl Iterator<Item = (i64, String)>,
) -> AppResult<()> {
    let reads: Vec<(i64, String)> = reads.collect();
    if reads.is_empty() {
        return Ok(());
    }
    let accesses = open_accesses(&state.db, principal, reads.iter().map(|(patient, _)| *patient)).await?;
    let now = state.now();
    let rows: Vec<_> = reads
        .into_iter()
        .map(|(patient, fields)| match accesses.get(&patient) {
            None => entry(principal, "READ_PERSONAL", Some(patient), fields, now),
            Some(access) => {
                let mut row = entry(principal, "READ_PERSONAL_BREAK_GLASS", Some(patient), fields, now);
                row.detail = Set(Some(format!("break-glass access {access}")));
                row
            }
        })
        .collect();
    audit_entry::Entity::insert_many(rows).exec(&state.db).await?;
    Ok(())
}

/// The break-glass accesses the caller holds open at the moment of the
/// request, by patient (the latest when there are several); none for a
/// caller who cannot hold any.
async fn open_accesses(
    db: &impl ConnectionTrait,
    principal: &Principal,
    patients: impl Iterator<Item = i64>,
) -> AppResult<BTreeMap<i64, i64>> {
    let Some(account) = crate::auth::policy::break_glass_holder(principal) else {
        return Ok(BTreeMap::new());
    };
    let rows: Vec<(i64, i64)> = break_glass_access::Entity::find()
        .select_only()
        .column(break_glass_access::Column::PatientId)
        .column(break_glass_access::Column::Id)
        .filter(break_glass_access::Column::AccountId.eq(account))
        .filter(break_glass_access::Column::ExpiresAt.gt(principal.at))
        .filter(break_glass_access::Column::PatientId.is_in(patients))
        .order_by_asc(break_glass_access::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

fn join(fields: &BTreeSet<&'static str>) -> String {
    fields.iter().copied().collect::<Vec<_>>().join(",")
}

/// Filters of the `auditLog` query.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub patient_id: Option<i64>,
    pub account_id: Option<i64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One page of the audit log, newest first; only for system
/// administrators, and itself audited.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    filter: &AuditFilter,
    first: u64,
    after: Option<i64>,
) -> AppResult<(Vec<audit_entry::Model>, bool)> {
    crate::auth::policy::may_read_audit_log(principal)?;
    if let Some(patient) = filter.patient_id
        && entity::patient::Entity::find_by_id(patient).one(&state.db).await?.is_none()
    {
        return Err(AppError::not_found("patientId", "no patient has this ID"));
    }
    let mut query = audit_entry::Entity::find();
    if let Some(patient) = filter.patient_id {
        query = query.filter(audit_entry::Column::PatientId.eq(patient));
    }
    if let Some(account) = filter.account_id {
        query = query.filter(audit_entry::Column::AccountId.eq(account));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_entry::Column::At.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_entry::Column::At.lt(to));
    }
    if let Some(after) = after {
        query = query.filter(audit_entry::Column::Id.lt(after));
    }
    let mut rows = query.order_by_desc(audit_entry::Column::Id).limit(first + 1).all(&state.db).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    record(&state.db, principal, "READ_AUDIT_LOG", filter.patient_id, &[], state.now()).await?;
    Ok((rows, more))
}
