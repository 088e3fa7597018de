//! The audit log: who read which personal fields of which patient, and who
//! changed what, through which operation. Append-only: nothing in the
//! gateway updates or deletes an entry (and on PostgreSQL a trigger refuses
//! it). Writes are audited in the transaction of the write; reads are
//! collected during a request and appended before its answer leaves.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use entity::{audit_entry, audit_entry_patient, break_glass_access};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, Value};

use super::appends::Appends;
use crate::auth::Principal;
use crate::db::Sql;
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
    appends.push("audit_entries", &COLUMNS, vec![row(principal, action, patient_id, fields.join(","), at)]);
}

/// The values of an entry, in the order of [`COLUMNS`].
fn row(principal: &Principal, action: &str, patient_id: Option<i64>, fields: String, at: DateTime<Utc>) -> Vec<Value> {
    vec![
        Value::from(at),
        Value::from(principal.account_id),
        Value::from(actor_patient(principal)),
        Value::from(action.to_owned()),
        Value::from(patient_id),
        Value::from(fields),
        Value::from(principal.operation.clone()),
        Value::from(principal.address.map(|address| address.to_string())),
        Value::from(principal.key.as_ref().map(|key| key.service_account_id)),
        Value::from(principal.key.as_ref().map(|key| key.api_key_id)),
    ]
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

/// The read audit of `reads` (patient, fields joined), in one statement on
/// PostgreSQL ([`reads_statement`]; a lookup and one write transaction on
/// SQLite); nothing when there are none. The patients read with the same
/// fields share one READ_PERSONAL entry: one patient, an entry about that
/// patient as any other; several (a page), one entry with no `patient_id`
/// naming them all (in its `patient_ids` on PostgreSQL, in
/// `audit_entry_patients` on SQLite). A read of a patient to whom the
/// caller holds an open break-glass access is an entry of its own,
/// READ_PERSONAL_BREAK_GLASS, naming the access.
async fn append_reads(
    state: &AppState,
    principal: &Principal,
    reads: impl Iterator<Item = (i64, String)>,
) -> AppResult<()> {
    let reads: Vec<(i64, String)> = reads.collect();
    if reads.is_empty() {
        return Ok(());
    }
    let now = state.now();
    let backend = state.db.get_database_backend();
    if backend == DbBackend::Postgres {
        state.db.execute_raw(reads_statement(principal, reads, now)).await?;
        return Ok(());
    }
    // SQLite: the accesses first, then the entries in one write transaction.
    let accesses = open_accesses(&state.db, principal, reads.iter().map(|(patient, _)| *patient)).await?;
    let mut single: Vec<Vec<Value>> = Vec::new();
    let mut by_fields: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (patient, fields) in reads {
        match accesses.get(&patient) {
            None => by_fields.entry(fields).or_default().push(patient),
            Some(access) => {
                let mut row = row(principal, "READ_PERSONAL_BREAK_GLASS", Some(patient), fields, now);
                row.push(Value::from(format!("break-glass access {access}")));
                single.push(row);
            }
        }
    }
    let mut single_plain: Vec<Vec<Value>> = Vec::new();
    let mut groups: Vec<(Vec<Value>, Vec<i64>)> = Vec::new();
    for (fields, patients) in by_fields {
        if let [patient] = patients[..] {
            single_plain.push(row(principal, "READ_PERSONAL", Some(patient), fields, now));
        } else {
            groups.push((row(principal, "READ_PERSONAL", None, fields, now), patients));
        }
    }
    let txn = crate::db::begin_write(&state.db).await?;
    for (rows, columns) in [(&single, &["detail"][..]), (&single_plain, &[][..])] {
        if !rows.is_empty() {
            let mut sql = Sql::new(backend);
            insert_entries(&mut sql, columns, rows);
            txn.execute_raw(sql.build()).await?;
        }
    }
    for (entry, patients) in &groups {
        let mut sql = Sql::new(backend);
        insert_entries(&mut sql, &[], std::slice::from_ref(entry));
        sql.push(" RETURNING id");
        let id: i64 = txn
            .query_one_raw(sql.build())
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("an audit entry was written without its ID")))?
            .try_get("", "id")?;
        let mut sql = Sql::new(backend);
        sql.push("INSERT INTO audit_entry_patients (entry_id, patient_id) VALUES ");
        for (p, patient) in patients.iter().enumerate() {
            sql.push(if p == 0 { "(" } else { ", (" }).bind(id).push(", ").bind(*patient).push(")");
        }
        txn.execute_raw(sql.build()).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The read audit of `reads` (patient, fields joined) on PostgreSQL, as one
/// statement that also looks up the caller's open break-glass accesses, so
/// that a page's audit is one round trip: a read under an access is a
/// READ_PERSONAL_BREAK_GLASS entry of its own naming the latest access; the
/// other patients read with the same fields share one READ_PERSONAL entry
/// (about that patient when there is one, else naming them all in its
/// `patient_ids`, under a GIN index).
fn reads_statement(principal: &Principal, reads: Vec<(i64, String)>, now: DateTime<Utc>) -> sea_orm::Statement {
    let mut sql = Sql::new(DbBackend::Postgres);
    sql.push("WITH reads (patient_id, fields) AS (VALUES ");
    for (n, (patient, fields)) in reads.into_iter().enumerate() {
        sql.push(if n == 0 { "(" } else { ", (" }).bind(patient).push(", ").bind(fields).push(")");
    }
    let key = principal.key.as_ref();
    sql.push("), who AS (SELECT ").bind(now).push(" AS at, ");
    sql.bind(principal.account_id).push(" AS account_id, ");
    sql.bind(actor_patient(principal)).push(" AS actor_patient_id, ");
    sql.bind(principal.operation.clone()).push(" AS operation, ");
    sql.bind(principal.address.map(|address| address.to_string())).push(" AS client_address, ");
    sql.bind(key.map(|key| key.service_account_id)).push(" AS service_account_id, ");
    sql.bind(key.map(|key| key.api_key_id)).push(" AS api_key_id)");
    // Nobody who cannot hold an access matches an account of null.
    sql.push(
        ", access AS (SELECT DISTINCT ON (b.patient_id) b.patient_id, b.id FROM break_glass_accesses b \
         WHERE b.account_id = ",
    )
    .bind(crate::auth::policy::break_glass_holder(principal))
    .push(" AND b.expires_at > ")
    .bind(principal.at)
    .push(" AND b.patient_id IN (SELECT patient_id FROM reads) ORDER BY b.patient_id, b.id DESC)");
    let columns = COLUMNS.join(", ");
    let who = "who.at, who.account_id, who.actor_patient_id";
    let how = "who.operation, who.client_address, who.service_account_id, who.api_key_id";
    sql.push(&format!(
        ", glass AS (INSERT INTO audit_entries ({columns}, detail) \
         SELECT {who}, 'READ_PERSONAL_BREAK_GLASS', r.patient_id, r.fields, {how}, 'break-glass access ' || a.id \
         FROM who, reads r JOIN access a ON a.patient_id = r.patient_id ORDER BY r.patient_id)"
    ));
    sql.push(
        ", grouped AS (SELECT r.fields, array_agg(r.patient_id ORDER BY r.patient_id) AS patients FROM reads r \
         WHERE r.patient_id NOT IN (SELECT patient_id FROM access) GROUP BY r.fields)",
    );
    sql.push(&format!(
        " INSERT INTO audit_entries ({columns}, patient_ids) \
         SELECT {who}, 'READ_PERSONAL', CASE WHEN cardinality(g.patients) = 1 THEN g.patients[1] END, g.fields, {how}, \
         CASE WHEN cardinality(g.patients) > 1 THEN g.patients END \
         FROM who, grouped g ORDER BY g.fields COLLATE \"C\""
    ));
    sql.build()
}

/// `INSERT INTO audit_entries (…) VALUES …` for `rows`: values of
/// [`COLUMNS`] and then of `extra`.
fn insert_entries(sql: &mut Sql, extra: &[&str], rows: &[Vec<Value>]) {
    let columns: Vec<&str> = COLUMNS.iter().chain(extra).copied().collect();
    sql.push(&format!("INSERT INTO audit_entries ({}) VALUES ", columns.join(", ")));
    for (r, row) in rows.iter().enumerate() {
        sql.push(if r == 0 { "(" } else { ", (" });
        for (c, value) in row.iter().enumerate() {
            if c > 0 {
                sql.push(", ");
            }
            sql.bind(value.clone());
        }
        sql.push(")");
    }
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

/// One entry of the log with the patients it is about: its `patient_id`,
/// or for an entry that names several, all of them.
#[derive(Debug, Clone)]
pub struct Entry {
    pub row: audit_entry::Model,
    pub patients: Vec<i64>,
}

/// One page of the audit log, newest first; only for system
/// administrators, and itself audited. Filtered by patient, it holds the
/// entries about that patient alone and those that name it among others
/// (a read of a page), both found by index.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    filter: &AuditFilter,
    first: u64,
    after: Option<i64>,
) -> AppResult<(Vec<Entry>, bool)> {
    crate::auth::policy::may_read_audit_log(principal)?;
    if let Some(patient) = filter.patient_id
        && entity::patient::Entity::find_by_id(patient).one(&state.db).await?.is_none()
    {
        return Err(AppError::not_found("patientId", "no patient has this ID"));
    }
    let mut query = filtered(filter, state.db.get_database_backend());
    if let Some(after) = after {
        query = query.filter(audit_entry::Column::Id.lt(after));
    }
    let mut rows = query.order_by_desc(audit_entry::Column::Id).limit(first + 1).all(&state.db).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    let groups: Vec<i64> = rows.iter().filter(|row| row.patient_id.is_none()).map(|row| row.id).collect();
    let mut named: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    if !groups.is_empty() {
        // The patients an entry names: its rows in `audit_entry_patients`
        // and, on PostgreSQL, its array; one statement either way.
        let backend = state.db.get_database_backend();
        let mut sql = Sql::new(backend);
        sql.push("SELECT entry_id, patient_id FROM audit_entry_patients WHERE entry_id IN (")
            .bind_list(groups.iter().copied())
            .push(")");
        if backend == DbBackend::Postgres {
            sql.push(
                " UNION ALL SELECT e.id, p.patient_id FROM audit_entries e, unnest(e.patient_ids) AS p (patient_id) \
                 WHERE e.id IN (",
            )
            .bind_list(groups.iter().copied())
            .push(")");
        }
        sql.push(" ORDER BY patient_id");
        for row in state.db.query_all_raw(sql.build()).await? {
            named.entry(row.try_get("", "entry_id")?).or_default().push(row.try_get("", "patient_id")?);
        }
    }
    let entries = rows
        .into_iter()
        .map(|row| {
            let patients = match row.patient_id {
                Some(patient) => vec![patient],
                None => named.remove(&row.id).unwrap_or_default(),
            };
            Entry { row, patients }
        })
        .collect();
    record(&state.db, principal, "READ_AUDIT_LOG", filter.patient_id, &[], state.now()).await?;
    Ok((entries, more))
}

/// How many entries of the log match `filter` (every page): for system
/// administrators only, like the log.
pub async fn count(state: &AppState, principal: &Principal, filter: &AuditFilter) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    crate::auth::policy::may_read_audit_log(principal)?;
    Ok(filtered(filter, state.db.get_database_backend()).count(&state.db).await?)
}

/// The entries `filter` keeps: about its patient (alone or among others,
/// each form by index), by its account, within its moments.
fn filtered(filter: &AuditFilter, backend: DbBackend) -> sea_orm::Select<audit_entry::Entity> {
    let mut query = audit_entry::Entity::find();
    if let Some(patient) = filter.patient_id {
        use sea_orm::sea_query::{Expr, Query, UnionType};
        let mut alone = Query::select()
            .column(audit_entry::Column::Id)
            .from(audit_entry::Entity)
            .and_where(audit_entry::Column::PatientId.eq(patient))
            .to_owned();
        let among = Query::select()
            .column(audit_entry_patient::Column::EntryId)
            .from(audit_entry_patient::Entity)
            .and_where(audit_entry_patient::Column::PatientId.eq(patient))
            .to_owned();
        alone.union(UnionType::All, among);
        if backend == DbBackend::Postgres {
            let named = Query::select()
                .column(audit_entry::Column::Id)
                .from(audit_entry::Entity)
                .and_where(Expr::cust_with_values("audit_entries.patient_ids @> ARRAY[$1]::bigint[]", [patient]))
                .to_owned();
            alone.union(UnionType::All, named);
        }
        query = query.filter(audit_entry::Column::Id.in_subquery(alone));
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
    query
}
