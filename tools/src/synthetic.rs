//! `hersys-tools seed-synthetic --patients N`: a deterministic country-scale
//! data set in the shape of a wave, for benchmarks and for trying the
//! statistics. The same seed and size give the same data.
//!
//! Patients are spread over the 47 prefectures by population and over
//! synthetic health centres; ages and sexes follow a plausible
//! distribution; names are Japanese with matching katakana readings. Every
//! tested person is a record (most tests are negative; some people have
//! both an antigen and a PCR test); positives get a care setting, hospital
//! stays with condition entries, daily health reports during home and
//! accommodation care, and an outcome; some are transferred, some are
//! reinfected later; `recorded_at` lags the event, sometimes by days. The
//! investigation too: each case's infection route (about half unknown, a
//! third in households) with its certainty, recorded a day or so after
//! registration; most contacts, and a third of cases with a known route,
//! linked to a recent case of their prefecture; half of the cases in
//! workplaces, welfare facilities, schools, restaurants and hospitals in
//! clusters of 5 to 30 named by their health centre; and every prefecture's
//! beds and rooms secured, reported weekly.
//!
//! Rows are written in large multi-row statements inside transactions,
//! with IDs assigned here so that children can refer to their parents
//! without reading anything back.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use entity::enums::{
    CareSetting, CaseType, FacilityKind, OrganisationKind, Outcome, Severity, Sex, TestKind, TestResult,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait, Value};

use hersys::services::statistics::history::{History, StayRecord, TestRecord};
use hersys::services::statistics::ledger::{self, CareDecision, ConditionEntry};

/// Population weights of the prefectures (10,000s, 2020 census), JIS order.
const POPULATION: [u32; 47] = [
    522, 124, 121, 230, 96, 107, 183, 287, 193, 194, 734, 628, 1405, 924, 220, 103, 113, 77, 81, 205, 198, 363, 754,
    177, 141, 258, 884, 547, 132, 92, 55, 67, 189, 280, 134, 72, 95, 133, 69, 514, 81, 131, 174, 112, 107, 159, 147,
];

/// Surnames and given names with their katakana readings.
const SURNAMES: [(&str, &str); 20] = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
];
const MALE_NAMES: [(&str, &str); 10] = [
    ("太郎", "タロウ"),
    ("翔太", "ショウタ"),
    ("大輔", "ダイスケ"),
    ("健一", "ケンイチ"),
    ("誠", "マコト"),
    ("蓮", "レン"),
    ("悠真", "ユウマ"),
    ("浩", "ヒロシ"),
    ("茂", "シゲル"),
    ("隆", "タカシ"),
];
const FEMALE_NAMES: [(&str, &str); 10] = [
    ("花子", "ハナコ"),
    ("陽菜", "ヒナ"),
    ("美咲", "ミサキ"),
    ("結衣", "ユイ"),
    ("恵子", "ケイコ"),
    ("裕子", "ユウコ"),
    ("さくら", "サクラ"),
    ("愛", "アイ"),
    ("幸子", "サチコ"),
    ("明美", "アケミ"),
];
/// Share of each 10-year age band among tested people (under 10 … 90+).
const AGE_WEIGHTS: [u32; 10] = [9, 12, 17, 15, 15, 11, 8, 7, 4, 2];

/// The first day of the data set.
fn wave_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 1, 1, 0, 0, 0).single().unwrap_or_default()
}
/// Days the data set spans: the year 2022.
const SPAN_DAYS: i64 = 365;
/// The waves: (first day, length in days, share of people in %). A winter
/// wave and a larger summer one.
const WAVES: [(i64, i64, u32); 2] = [(0, 110, 40), (170, 130, 60)];

/// Weighted pick.
fn pick(rng: &mut ChaCha8Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut roll = rng.random_range(0..total);
    for (index, weight) in weights.iter().enumerate() {
        if roll < *weight {
            return index;
        }
        roll -= weight;
    }
    weights.len() - 1
}

/// A day of one of the waves, more likely near its peak (a triangle over
/// the wave).
fn wave_day(rng: &mut ChaCha8Rng) -> i64 {
    let (start, length, _) = WAVES[pick(rng, &WAVES.map(|(_, _, share)| share))];
    let a: f64 = rng.random();
    let b: f64 = rng.random();
    start + (((a + b) / 2.0) * length as f64) as i64
}

/// Rows of one table, flushed as multi-row INSERTs.
struct Table {
    name: &'static str,
    columns: &'static [&'static str],
    rows: Vec<Vec<Value>>,
}

impl Table {
    fn new(name: &'static str, columns: &'static [&'static str]) -> Self {
        Table { name, columns, rows: Vec::new() }
    }

    fn push(&mut self, row: Vec<Value>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }

    async fn flush(&mut self, db: &impl ConnectionTrait) -> anyhow::Result<u64> {
        let backend = db.get_database_backend();
        // Under both databases' limits on bound values per statement.
        let per_statement = (30_000 / self.columns.len()).max(1);
        let mut written = 0;
        for chunk in self.rows.chunks(per_statement) {
            let mut sql = format!("INSERT INTO {} ({}) VALUES ", self.name, self.columns.join(", "));
            let mut values = Vec::with_capacity(chunk.len() * self.columns.len());
            for (r, row) in chunk.iter().enumerate() {
                sql.push_str(if r == 0 { "(" } else { ", (" });
                for (c, value) in row.iter().enumerate() {
                    if c > 0 {
                        sql.push_str(", ");
                    }
                    values.push(value.clone());
                    if backend == DbBackend::Postgres {
                        sql.push_str(&format!("${}", values.len()));
                    } else {
                        sql.push('?');
                    }
                }
                sql.push(')');
            }
            db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
            written += chunk.len() as u64;
        }
        self.rows.clear();
        Ok(written)
    }
}

fn v<T: Into<Value>>(value: T) -> Value {
    value.into()
}

fn none_time() -> Value {
    Value::ChronoDateTimeUtc(None)
}

fn none_text() -> Value {
    Value::String(None)
}

fn none_int() -> Value {
    Value::BigInt(None)
}

async fn next_id(db: &impl ConnectionTrait, table: &str) -> anyhow::Result<i64> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(backend, format!("SELECT COALESCE(MAX(id), 0) + 1 AS n FROM {table}")))
        .await?;
    Ok(row.and_then(|r| r.try_get::<i64>("", "n").ok()).unwrap_or(1))
}

/// Loads `patients` synthetic patients with the given seed.
pub async fn seed(db: &DatabaseConnection, patients: u64, seed: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    hersys::services::demo::ensure_prefectures(db).await?;
    let backend = db.get_database_backend();
    let existing = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM accounts WHERE username = 'synthetic-loader'".to_owned(),
        ))
        .await?
        .and_then(|r| r.try_get::<i64>("", "n").ok())
        .unwrap_or(0);
    anyhow::ensure!(
        existing == 0,
        "this database already holds a synthetic data set; load it into a fresh database \
         (seeding twice would mix two data sets)"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let now = Utc::now();

    // Reference data: about 470 health centres by population, each with a
    // testing clinic; one hospital per prefecture; one loader account.
    let txn = db.begin().await?;
    let mut centre_id = next_id(&txn, "health_centres").await?;
    let mut facility_id = next_id(&txn, "facilities").await?;
    let organisation_id = next_id(&txn, "organisations").await?;
    let account_id = next_id(&txn, "accounts").await?;
    let mut centres =
        Table::new("health_centres", &["id", "code", "name_en", "name_ja", "prefecture_id", "created_at"]);
    let mut facilities = Table::new(
        "facilities",
        &["id", "code", "name_en", "name_ja", "kind", "health_centre_id", "has_system_access", "created_at"],
    );
    // (centre id, clinic id) per prefecture, and the hospital of each.
    let mut by_prefecture: Vec<Vec<(i64, i64)>> = vec![Vec::new(); 47];
    let mut hospitals = vec![0i64; 47];
    let mut number = 0;
    for (p, weight) in POPULATION.iter().enumerate() {
        let count = (*weight as usize * 470 / 12_580).max(2);
        for c in 0..count {
            number += 1;
            centres.push(vec![
                v(centre_id),
                v(format!("SYN-HC-{number:04}")),
                v(format!("Synthetic Health Centre {number}")),
                v(format!("合成保健所{number}")),
                v(p as i32 + 1),
                v(now),
            ]);
            facilities.push(vec![
                v(facility_id),
                v(format!("SYN-F-{number:04}")),
                v(format!("Synthetic Clinic {number}")),
                v(format!("合成クリニック{number}")),
                v(FacilityKind::TestingClinic.to_value()),
                v(centre_id),
                v(true),
                v(now),
            ]);
            by_prefecture[p].push((centre_id, facility_id));
            facility_id += 1;
            if c == 0 {
                facilities.push(vec![
                    v(facility_id),
                    v(format!("SYN-H-{:02}", p + 1)),
                    v(format!("Synthetic Hospital {}", p + 1)),
                    v(format!("合成病院{}", p + 1)),
                    v(FacilityKind::Hospital.to_value()),
                    v(centre_id),
                    v(true),
                    v(now),
                ]);
                hospitals[p] = facility_id;
                facility_id += 1;
            }
            centre_id += 1;
        }
    }
    centres.flush(&txn).await?;
    facilities.flush(&txn).await?;
    let mut organisations = Table::new("organisations", &["id", "kind", "name", "created_at"]);
    organisations.push(vec![
        v(organisation_id),
        v(OrganisationKind::Operator.to_value()),
        v("Synthetic data loader"),
        v(now),
    ]);
    organisations.flush(&txn).await?;
    let mut accounts = Table::new(
        "accounts",
        &["id", "username", "password_hash", "organisation_id", "failed_logins", "password_changed_at", "created_at"],
    );
    // The loader account cannot sign in: its hash matches no password.
    accounts.push(vec![v(account_id), v("synthetic-loader"), v("!"), v(organisation_id), v(0), v(now), v(now)]);
    accounts.flush(&txn).await?;
    // What each prefecture secures, reported weekly: beds by population,
    // more each quarter; a tenth of them for severe cases; rooms half as
    // many again.
    let mut capacity = Table::new(
        "prefecture_capacity",
        &[
            "prefecture_id",
            "day",
            "beds",
            "severe_beds",
            "accommodation_rooms",
            "recorded_by_account_id",
            "recorded_at",
        ],
    );
    for (p, weight) in POPULATION.iter().enumerate() {
        for week in 0..=SPAN_DAYS / 7 {
            let day = wave_start() + Duration::days(week * 7);
            let beds = i64::from(*weight) * (12 + 3 * (week / 13)) / 4;
            capacity.push(vec![
                v(p as i32 + 1),
                v(day.date_naive()),
                v(beds),
                v(beds / 10),
                v(beds * 3 / 2),
                v(account_id),
                v(day + Duration::hours(9)),
            ]);
        }
    }
    capacity.flush(&txn).await?;
    txn.commit().await?;

    let mut ids = Ids {
        patient: next_id(db, "patients").await?,
        test: next_id(db, "lab_tests").await?,
        result: next_id(db, "lab_test_results").await?,
        care: next_id(db, "care_setting_changes").await?,
        stay: next_id(db, "hospitalisations").await?,
        condition: next_id(db, "condition_entries").await?,
        report: next_id(db, "health_reports").await?,
        transfer: next_id(db, "patient_transfers").await?,
        cluster: next_id(db, "clusters").await?,
    };
    let progress = indicatif::ProgressBar::new(patients);
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} patients, {per_sec}, ETA {eta} ({elapsed} so far)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // One thread generates batches while this task writes the previous one.
    let batch = 5_000u64;
    let (sender, receiver) = tokio::sync::mpsc::channel::<(u64, Tables)>(4);
    let world = World { by_prefecture, hospitals, account: account_id, organisation: organisation_id };
    let generator = std::thread::spawn(move || {
        let mut sums = DailySums::default();
        let mut done = 0u64;
        while done < patients {
            let size = batch.min(patients - done);
            let mut tables = Tables::new();
            for _ in 0..size {
                generate_person(&mut rng, &mut ids, &mut tables, &world, &mut sums);
            }
            done += size;
            if sender.blocking_send((size, tables)).is_err() {
                break;
            }
        }
        sums
    });
    // Two writers on PostgreSQL, so it ingests on both cores while the
    // generator thread stays ahead of them; SQLite has one writer anyway.
    let writer_count = if backend == DbBackend::Postgres { 2 } else { 1 };
    let receiver = std::sync::Arc::new(tokio::sync::Mutex::new(receiver));
    let written = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..writer_count {
        let (receiver, written, progress, db) = (receiver.clone(), written.clone(), progress.clone(), db.clone());
        writers.spawn(async move {
            let mut rows = 0u64;
            let step = (patients / 10).max(1);
            loop {
                let next = receiver.lock().await.recv().await;
                let Some((people, mut tables)) = next else { return anyhow::Ok(rows) };
                rows += tables.write(&db).await?;
                progress.inc(people);
                let before = written.fetch_add(people, std::sync::atomic::Ordering::Relaxed);
                // Without a terminal the bar is hidden: report every tenth.
                if progress.is_hidden() && (before + people) / step > before / step {
                    let done = before + people;
                    let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
                    let eta = patients.saturating_sub(done) as f64 / rate.max(1.0);
                    eprintln!("{done} of {patients} people, {rate:.0}/s, ETA {eta:.0} s");
                }
            }
        });
    }
    let mut rows = 0u64;
    while let Some(result) = writers.join_next().await {
        rows += result??;
    }
    let sums = generator.join().map_err(|_| anyhow::anyhow!("the generator thread failed"))?;
    // The folded sums of the ledger, in the order of their key.
    let mut daily = Table::new("stat_daily", &["level", "area_id", "day", "metric", "recorded_day", "n"]);
    let mut keys: Vec<_> = sums.sums.into_iter().filter(|(_, n)| *n != 0).collect();
    keys.sort_unstable();
    for ((level, area, day, metric, recorded_day), n) in keys {
        daily.push(vec![v(level), v(area), v(day), v(metric), v(recorded_day), v(i32::try_from(n)?)]);
    }
    rows += Tables::write_one(&mut daily, db).await?;
    let mut marks = Table::new("stat_fold_marks", &["recorded_day", "folded_until"]);
    let mut days: Vec<_> = sums.marks.into_iter().collect();
    days.sort_unstable();
    for (recorded_day, folded_until) in days {
        marks.push(vec![v(recorded_day), v(folded_until)]);
    }
    rows += Tables::write_one(&mut marks, db).await?;
    // The rows carry IDs assigned here: move PostgreSQL's ID sequences past
    // them, or the gateway's next insert would collide.
    if backend == DbBackend::Postgres {
        for table in [
            "health_centres",
            "facilities",
            "organisations",
            "accounts",
            "patients",
            "lab_tests",
            "lab_test_results",
            "care_setting_changes",
            "hospitalisations",
            "condition_entries",
            "health_reports",
            "patient_transfers",
            "clusters",
            "stat_events",
            "stat_cases",
        ] {
            db.execute_unprepared(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT MAX(id) FROM {table}), 1))"
            ))
            .await?;
        }
    }
    // Fresh planner statistics, and the visibility map a database that has
    // run a while has (autovacuum's work): the queries over the loaded set
    // should be planned on facts and may read their indexes alone.
    let settle = if db.get_database_backend() == sea_orm::DbBackend::Postgres { "VACUUM ANALYZE" } else { "ANALYZE" };
    db.execute_unprepared(settle).await?;
    progress.finish();
    eprintln!("loaded {patients} patients ({rows} rows) in {:.1} s with seed {seed}", started.elapsed().as_secs_f64());
    Ok(())
}

struct Ids {
    patient: i64,
    test: i64,
    result: i64,
    care: i64,
    stay: i64,
    condition: i64,
    report: i64,
    transfer: i64,
    cluster: i64,
}

struct Tables {
    patients: Table,
    tests: Table,
    results: Table,
    care: Table,
    stays: Table,
    conditions: Table,
    reports: Table,
    transfers: Table,
    events: Table,
    cases: Table,
    contacts: Table,
    clusters: Table,
    members: Table,
}

/// A value in PostgreSQL's COPY text format.
fn copy_text(value: &Value, out: &mut String) {
    use std::fmt::Write;
    match value {
        Value::String(Some(text)) => {
            for c in text.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    _ => out.push(c),
                }
            }
        }
        Value::BigInt(Some(n)) => {
            let _ = write!(out, "{n}");
        }
        Value::Int(Some(n)) => {
            let _ = write!(out, "{n}");
        }
        Value::SmallInt(Some(n)) => {
            let _ = write!(out, "{n}");
        }
        Value::Double(Some(n)) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(Some(b)) => out.push(if *b { 't' } else { 'f' }),
        Value::ChronoDateTimeUtc(Some(at)) => out.push_str(&at.to_rfc3339()),
        Value::ChronoDate(Some(day)) => {
            let _ = write!(out, "{day}");
        }
        _ => out.push_str("\\N"),
    }
}

impl Table {
    /// Writes the rows with `COPY … FROM STDIN` (PostgreSQL), far faster
    /// than INSERT for a load of this size.
    async fn copy(&mut self, connection: &mut sea_orm::sqlx::PgConnection) -> anyhow::Result<u64> {
        if self.rows.is_empty() {
            return Ok(0);
        }
        let mut text = String::with_capacity(self.rows.len() * self.columns.len() * 12);
        for row in &self.rows {
            for (c, value) in row.iter().enumerate() {
                if c > 0 {
                    text.push('\t');
                }
                copy_text(value, &mut text);
            }
            text.push('\n');
        }
        let statement = format!("COPY {} ({}) FROM STDIN", self.name, self.columns.join(", "));
        let mut copy = connection.copy_in_raw(&statement).await?;
        copy.send(text.into_bytes()).await?;
        let written = copy.finish().await?;
        self.rows.clear();
        Ok(written)
    }
}

impl Tables {
    fn all(&mut self) -> [&mut Table; 13] {
        [
            &mut self.patients,
            &mut self.tests,
            &mut self.results,
            &mut self.care,
            &mut self.stays,
            &mut self.conditions,
            &mut self.reports,
            &mut self.transfers,
            &mut self.events,
            &mut self.cases,
            &mut self.contacts,
            &mut self.clusters,
            &mut self.members,
        ]
    }

    /// Writes every table of the batch in one transaction.
    async fn write(&mut self, db: &DatabaseConnection) -> anyhow::Result<u64> {
        let mut rows = 0;
        if db.get_database_backend() == DbBackend::Postgres {
            let mut txn = db.get_postgres_connection_pool().begin().await?;
            for table in self.all() {
                rows += table.copy(&mut txn).await?;
            }
            txn.commit().await?;
        } else {
            let txn = db.begin().await?;
            for table in self.all() {
                rows += table.flush(&txn).await?;
            }
            txn.commit().await?;
        }
        Ok(rows)
    }

    /// Writes one table in its own transaction.
    async fn write_one(table: &mut Table, db: &DatabaseConnection) -> anyhow::Result<u64> {
        let rows = if db.get_database_backend() == DbBackend::Postgres {
            let mut txn = db.get_postgres_connection_pool().begin().await?;
            let mut rows = 0;
            // COPY in slices, so no one message grows too large.
            for chunk in std::mem::take(&mut table.rows).chunks(200_000) {
                table.rows = chunk.to_vec();
                rows += table.copy(&mut txn).await?;
            }
            txn.commit().await?;
            rows
        } else {
            let txn = db.begin().await?;
            let rows = table.flush(&txn).await?;
            txn.commit().await?;
            rows
        };
        Ok(rows)
    }

    fn new() -> Self {
        Tables {
            patients: Table::new(
                "patients",
                &[
                    "id",
                    "case_type",
                    "name_kanji",
                    "name_kana",
                    "sex",
                    "birth_date",
                    "address",
                    "phone",
                    "smartphone_id",
                    "previous_smartphone_id",
                    "previous_patient_id",
                    "prior_infection",
                    "responsible_health_centre_id",
                    "registering_facility_id",
                    "registered_by_account_id",
                    "care_setting",
                    "outcome",
                    "outcome_at",
                    "outcome_recorded_at",
                    "version",
                    "registered_at",
                    "recorded_at",
                    "updated_at",
                    "name_kana_key",
                    "phone_digits",
                    "infection_route_category",
                    "infection_route_certainty",
                ],
            ),
            tests: Table::new(
                "lab_tests",
                &[
                    "id",
                    "patient_id",
                    "facility_id",
                    "kind",
                    "result",
                    "sampled_at",
                    "resulted_at",
                    "recorded_at",
                    "recorded_by_account_id",
                    "entered_by_organisation_id",
                    "version",
                ],
            ),
            results: Table::new(
                "lab_test_results",
                &["id", "lab_test_id", "result", "resulted_at", "recorded_at", "recorded_by_account_id"],
            ),
            care: Table::new(
                "care_setting_changes",
                &["id", "patient_id", "care_setting", "decided_by_account_id", "decided_at", "recorded_at"],
            ),
            stays: Table::new(
                "hospitalisations",
                &[
                    "id",
                    "patient_id",
                    "facility_id",
                    "admitted_at",
                    "recorded_at",
                    "discharged_at",
                    "discharge_recorded_at",
                    "severity",
                    "icu",
                    "ventilator",
                    "ecmo",
                    "recorded_by_account_id",
                    "entered_by_organisation_id",
                    "version",
                ],
            ),
            conditions: Table::new(
                "condition_entries",
                &[
                    "id",
                    "hospitalisation_id",
                    "severity",
                    "icu",
                    "ventilator",
                    "ecmo",
                    "observed_at",
                    "recorded_at",
                    "recorded_by_account_id",
                ],
            ),
            reports: Table::new(
                "health_reports",
                &["id", "patient_id", "reporter", "body_temperature", "spo2", "symptoms", "reported_at", "recorded_at"],
            ),
            transfers: Table::new(
                "patient_transfers",
                &[
                    "id",
                    "patient_id",
                    "from_health_centre_id",
                    "to_health_centre_id",
                    "transferred_by_account_id",
                    "transferred_at",
                    "recorded_at",
                ],
            ),
            events: Table::new("stat_events", &EVENT_COLUMNS),
            cases: Table::new("stat_cases", &ledger::CASE_COLUMNS),
            contacts: Table::new(
                "patient_contacts",
                &[
                    "index_patient_id",
                    "contact_patient_id",
                    "setting",
                    "last_exposure_on",
                    "registered_by_account_id",
                    "recorded_at",
                ],
            ),
            clusters: Table::new(
                "clusters",
                &["id", "name", "setting", "place", "health_centre_id", "created_by_account_id", "created_at"],
            ),
            members: Table::new("cluster_members", &["cluster_id", "patient_id", "added_by_account_id", "recorded_at"]),
        }
    }
}

/// Columns of the ledger rows the loader writes: already folded, as it
/// writes `stat_daily` itself.
const EVENT_COLUMNS: [&str; 9] = [
    "patient_id",
    "metric",
    "day",
    "health_centre_id",
    "prefecture_id",
    "delta",
    "recorded_at",
    "recorded_day",
    "folded",
];

/// How late a row is recorded after its event: mostly within hours, one in
/// twenty days late.
fn lag(rng: &mut ChaCha8Rng) -> Duration {
    if rng.random_ratio(1, 20) {
        Duration::days(rng.random_range(1..6)) + Duration::minutes(rng.random_range(0..600))
    } else {
        Duration::minutes(rng.random_range(5..720))
    }
}

fn luhn(digits: &str) -> char {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// What every person of a run refers to.
struct World {
    by_prefecture: Vec<Vec<(i64, i64)>>,
    hospitals: Vec<i64>,
    account: i64,
    organisation: i64,
}

/// Sums of the ledger per area level, area, day, metric and recording day:
/// `stat_daily` for the whole set, built while generating.
#[derive(Default)]
struct DailySums {
    sums: HashMap<(i16, i64, i32, i16, i32), i64>,
    /// Per recording day, the newest `recorded_at` of its (folded) deltas:
    /// `stat_fold_marks`.
    marks: HashMap<i32, DateTime<Utc>>,
    /// The investigation's state while generating: recent cases per
    /// prefecture, and the cluster being filled per prefecture and setting.
    investigation: Investigation,
}

/// Recent cases per prefecture (contacts are linked to them) and the open
/// cluster of each prefecture and setting.
#[derive(Default)]
struct Investigation {
    recent: HashMap<usize, std::collections::VecDeque<i64>>,
    open: HashMap<(usize, &'static str), OpenCluster>,
}

/// A cluster being filled: its ID, members so far and the size it stops at.
struct OpenCluster {
    id: i64,
    members: u32,
    target: u32,
    /// When it was named: no member is added before.
    named: DateTime<Utc>,
}

/// Infection-route categories of cases and their shares (%): about half
/// unknown, a third in households, the rest in workplaces, welfare
/// facilities, schools, dining and elsewhere.
const ROUTES: [(&str, u32); 8] = [
    ("UNKNOWN", 45),
    ("HOUSEHOLD", 30),
    ("WORKPLACE", 8),
    ("WELFARE_FACILITY", 5),
    ("SCHOOL_OR_CHILDCARE", 5),
    ("DINING", 3),
    ("MEDICAL_INSTITUTION", 2),
    ("OTHER", 2),
];

/// Settings in which clusters are named.
const CLUSTER_SETTINGS: [&str; 5] =
    ["WORKPLACE", "WELFARE_FACILITY", "SCHOOL_OR_CHILDCARE", "DINING", "MEDICAL_INSTITUTION"];

/// Settings where close contacts met their case, and their shares (%).
const CONTACT_SETTINGS: [(&str, u32); 5] =
    [("HOUSEHOLD", 55), ("WORKPLACE", 20), ("SCHOOL_OR_CHILDCARE", 10), ("DINING", 8), ("OTHER", 7)];

impl Investigation {
    /// A recent case of the prefecture, if any.
    fn recent_case(&self, rng: &mut ChaCha8Rng, prefecture: usize) -> Option<i64> {
        let recent = self.recent.get(&prefecture)?;
        (!recent.is_empty()).then(|| recent[rng.random_range(0..recent.len())])
    }

    fn remember(&mut self, prefecture: usize, case: i64) {
        let recent = self.recent.entry(prefecture).or_default();
        recent.push_back(case);
        if recent.len() > 64 {
            recent.pop_front();
        }
    }
}

/// Writes one test (and its result) and adds it to the history.
#[allow(clippy::too_many_arguments)]
fn push_test(
    rng: &mut ChaCha8Rng,
    ids: &mut Ids,
    t: &mut Tables,
    history: &mut History,
    world: &World,
    patient: i64,
    clinic: i64,
    kind: TestKind,
    result: TestResult,
    sampled: DateTime<Utc>,
) {
    let resulted = sampled + Duration::hours(rng.random_range(1..36));
    // Most results are entered with the test; one in ten tests is entered
    // as pending first and its result days later.
    let (test_recorded, result_recorded) = if rng.random_ratio(1, 10) {
        let recorded = sampled + Duration::minutes(rng.random_range(30..240));
        (recorded, resulted + Duration::days(rng.random_range(1..4)))
    } else {
        let recorded = (resulted + lag(rng)).min(resulted + Duration::days(7));
        (recorded, recorded)
    };
    let result_text = result.to_value();
    t.tests.push(vec![
        v(ids.test),
        v(patient),
        v(clinic),
        v(kind.to_value()),
        v(result_text.clone()),
        v(sampled),
        v(resulted),
        v(test_recorded),
        v(world.account),
        v(world.organisation),
        v(1),
    ]);
    t.results.push(vec![v(ids.result), v(ids.test), v(result_text), v(resulted), v(result_recorded), v(world.account)]);
    history.tests.push(TestRecord {
        recorded_at: test_recorded,
        sampled_at: sampled,
        results: vec![(result_recorded, result)],
    });
    ids.test += 1;
    ids.result += 1;
}

/// The active epidemiological investigation of a record: a case's route
/// (and certainty), a case or contact linked to a recent case of the
/// prefecture as its contact, a case added to the cluster of its setting.
/// Returns the route and certainty recorded for a case.
#[allow(clippy::too_many_arguments)]
fn investigate(
    rng: &mut ChaCha8Rng,
    ids: &mut Ids,
    t: &mut Tables,
    world: &World,
    sums: &mut DailySums,
    person: &Person,
    id: i64,
    (sampled, registered): (DateTime<Utc>, DateTime<Utc>),
    positive: bool,
) -> (Option<&'static str>, Option<&'static str>) {
    let investigation = &mut sums.investigation;
    let prefecture = person.prefecture;
    let exposed = (sampled - Duration::days(rng.random_range(1..4))).date_naive();
    let mut link = |index: i64, setting: &str| {
        t.contacts.push(vec![v(index), v(id), v(setting), v(exposed), v(world.account), v(registered)]);
    };
    if !positive {
        // Most people tested as contacts were named by a recent case.
        if rng.random_ratio(4, 5)
            && let Some(index) = investigation.recent_case(rng, prefecture)
        {
            let setting = CONTACT_SETTINGS[pick(rng, &CONTACT_SETTINGS.map(|(_, w)| w))].0;
            link(index, setting);
        }
        return (None, None);
    }
    let route = ROUTES[pick(rng, &ROUTES.map(|(_, w)| w))].0;
    let certainty = match route {
        "UNKNOWN" => "UNKNOWN",
        _ if rng.random_ratio(3, 5) => "CONFIRMED",
        _ => "PRESUMED",
    };
    // A case with a known route was often a contact of an earlier case: a
    // transmission edge.
    if route != "UNKNOWN"
        && rng.random_ratio(1, 3)
        && let Some(index) = investigation.recent_case(rng, prefecture)
    {
        link(index, route);
    }
    if CLUSTER_SETTINGS.contains(&route) && rng.random_ratio(1, 2) {
        let added = registered + Duration::days(2);
        let key = (prefecture, route);
        let open = investigation.open.get(&key).filter(|c| c.members < c.target).map(|c| (c.id, c.named));
        let (cluster, named) = match open {
            Some(found) => found,
            None => {
                let cluster = ids.cluster;
                ids.cluster += 1;
                let place = format!("{} {}", hersys::domain::reference::PREFECTURES[prefecture].1, route);
                t.clusters.push(vec![
                    v(cluster),
                    v(format!("合成クラスター{cluster}")),
                    v(route),
                    v(place),
                    v(person.centre),
                    v(world.account),
                    v(added),
                ]);
                let target = rng.random_range(5..31);
                investigation.open.insert(key, OpenCluster { id: cluster, members: 0, target, named: added });
                (cluster, added)
            }
        };
        if let Some(open) = investigation.open.get_mut(&key) {
            open.members += 1;
        }
        t.members.push(vec![v(cluster), v(id), v(world.account), v(added.max(named))]);
    }
    investigation.remember(prefecture, id);
    (Some(route), Some(certainty))
}

/// A person (and now and then their reinfection, a record of its own).
fn generate_person(rng: &mut ChaCha8Rng, ids: &mut Ids, t: &mut Tables, world: &World, sums: &mut DailySums) {
    let prefecture = pick(rng, &POPULATION);
    let centres = &world.by_prefecture[prefecture];
    let (centre, clinic) = centres[rng.random_range(0..centres.len())];
    let female = rng.random_bool(0.5);
    let (surname, surname_kana) = SURNAMES[rng.random_range(0..SURNAMES.len())];
    let (given, given_kana) =
        if female { FEMALE_NAMES[rng.random_range(0..10)] } else { MALE_NAMES[rng.random_range(0..10)] };
    let band = pick(rng, &AGE_WEIGHTS) as i64;
    let day = wave_day(rng);
    let sampled = wave_start() + Duration::days(day) + Duration::minutes(rng.random_range(8 * 60..18 * 60));
    let age_days = (band * 10 + rng.random_range(0..10)) * 365 + rng.random_range(0..365);
    let birth =
        (sampled - Duration::days(age_days)).date_naive().max(NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default());
    let person = Person {
        prefecture,
        centre,
        clinic,
        sex: if female { Sex::Female } else { Sex::Male },
        name_kanji: format!("{surname} {given}"),
        name_kana: format!("{surname_kana} {given_kana}"),
        birth,
        band,
    };
    let positive = rng.random_ratio(1, 4);
    let recovered = generate_case(rng, ids, t, world, sums, &person, sampled, positive, None);
    // About one in fifty recovered people is infected again months later:
    // a new record that points to the first.
    if let Some((first_id, first_smartphone, ended)) = recovered
        && rng.random_ratio(1, 50)
    {
        let again = ended + Duration::days(rng.random_range(60..200));
        if again < wave_start() + Duration::days(SPAN_DAYS) {
            generate_case(rng, ids, t, world, sums, &person, again, true, Some((first_id, first_smartphone)));
        }
    }
}

/// Who a synthetic person is.
struct Person {
    prefecture: usize,
    centre: i64,
    clinic: i64,
    sex: Sex,
    name_kanji: String,
    name_kana: String,
    birth: NaiveDate,
    band: i64,
}

/// One patient record: tests, care, stays, reports, outcome, now and then
/// a transfer; its ledger rows from the replay of its history. Returns the
/// record's ID, smartphone ID and end of care when the person recovered.
#[allow(clippy::too_many_arguments)]
fn generate_case(
    rng: &mut ChaCha8Rng,
    ids: &mut Ids,
    t: &mut Tables,
    world: &World,
    sums: &mut DailySums,
    person: &Person,
    sampled: DateTime<Utc>,
    positive: bool,
    previous: Option<(i64, String)>,
) -> Option<(i64, String, DateTime<Utc>)> {
    let (prefecture, centre, clinic) = (person.prefecture, person.centre, person.clinic);
    let registered = sampled + Duration::minutes(rng.random_range(1..30));
    let id = ids.patient;
    ids.patient += 1;
    let base = format!("{:011}", id);
    let smartphone = format!("{base}{}", luhn(&base));
    let case_type = if positive { CaseType::Confirmed } else { CaseType::CloseContact };
    let mut history = History {
        centres: vec![(registered, centre, prefecture as i32 + 1)],
        sex: person.sex,
        case_type,
        birth_date: person.birth,
        registered_at: registered,
        care: Vec::new(),
        outcome: None,
        tests: Vec::new(),
        stays: Vec::new(),
        route: None,
    };

    if positive {
        // A negative antigen test a few days before, now and then; then a
        // positive PCR, sometimes after a positive antigen test that day.
        if rng.random_ratio(3, 10) {
            let earlier = sampled - Duration::days(rng.random_range(2..6));
            push_test(
                rng,
                ids,
                t,
                &mut history,
                world,
                id,
                clinic,
                TestKind::AntigenQualitative,
                TestResult::Negative,
                earlier,
            );
        }
        if rng.random_ratio(1, 5) {
            let kind = TestKind::AntigenQualitative;
            push_test(rng, ids, t, &mut history, world, id, clinic, kind, TestResult::Positive, sampled);
        }
        push_test(rng, ids, t, &mut history, world, id, clinic, TestKind::Pcr, TestResult::Positive, sampled);
    } else {
        // Contacts are tested once to three times, days apart; almost all
        // negative.
        let mut at = sampled;
        for _ in 0..rng.random_range(1..4) {
            let kind = if rng.random_ratio(1, 3) { TestKind::AntigenQualitative } else { TestKind::Pcr };
            push_test(rng, ids, t, &mut history, world, id, clinic, kind, TestResult::Negative, at);
            at += Duration::days(rng.random_range(3..6));
        }
    }

    let mut setting = CareSetting::Undecided;
    let mut outcome = None;
    let mut responsible = centre;
    if positive {
        let decided = sampled + Duration::days(1);
        setting = match rng.random_range(0..100) {
            0..10 => CareSetting::Hospital,
            10..25 => CareSetting::Accommodation,
            25..95 => CareSetting::Home,
            _ => CareSetting::None,
        };
        let decided_recorded = decided + lag(rng);
        t.care.push(vec![v(ids.care), v(id), v(setting.to_value()), v(world.account), v(decided), v(decided_recorded)]);
        history.care.push(CareDecision {
            id: ids.care,
            recorded_at: decided_recorded,
            decided_at: decided,
            setting,
            welfare: false,
        });
        ids.care += 1;
        let ended = decided + Duration::days(rng.random_range(7..15));
        if setting == CareSetting::Hospital {
            let severity = [Severity::Mild, Severity::ModerateI, Severity::ModerateII, Severity::Severe]
                [pick(rng, &[50, 30, 15, 5])];
            let critical = severity == Severity::Severe;
            let icu = critical && rng.random_bool(0.8);
            let ventilator = critical && rng.random_bool(0.4);
            let stay_recorded = decided + lag(rng);
            let discharge_recorded = ended + lag(rng);
            t.stays.push(vec![
                v(ids.stay),
                v(id),
                v(world.hospitals[prefecture]),
                v(decided),
                v(stay_recorded),
                v(ended),
                v(discharge_recorded),
                v(severity.to_value()),
                v(icu),
                v(ventilator),
                v(false),
                v(world.account),
                v(world.organisation),
                v(1),
            ]);
            let mut stay = StayRecord {
                id: ids.stay,
                recorded_at: stay_recorded,
                admitted_at: decided,
                discharge: Some((discharge_recorded, ended)),
                entries: Vec::new(),
            };
            let worse = decided + Duration::days(2);
            for (observed, severity, icu, ventilator) in
                [(decided, Severity::Mild, false, false), (worse, severity, icu, ventilator)]
            {
                let recorded = observed + lag(rng);
                t.conditions.push(vec![
                    v(ids.condition),
                    v(ids.stay),
                    v(severity.to_value()),
                    v(icu),
                    v(ventilator),
                    v(false),
                    v(observed),
                    v(recorded),
                    v(world.account),
                ]);
                stay.entries.push(ConditionEntry {
                    id: ids.condition,
                    recorded_at: recorded,
                    observed_at: observed,
                    severity,
                    icu,
                    ventilator,
                    ecmo: false,
                });
                ids.condition += 1;
            }
            history.stays.push(stay);
            ids.stay += 1;
        } else if setting != CareSetting::None {
            // Daily reports during home and accommodation care, a day or
            // two missed now and then.
            for d in 1..rng.random_range(5..9) {
                if rng.random_ratio(1, 8) {
                    continue;
                }
                let at = decided + Duration::days(d) + Duration::minutes(rng.random_range(0..600));
                let fever = rng.random_ratio(1, 6);
                t.reports.push(vec![
                    v(ids.report),
                    v(id),
                    v("PATIENT"),
                    v(if fever { 38.2 } else { 36.6 }),
                    v(rng.random_range(92..100)),
                    v(if fever { "COUGH,FEVER" } else { "" }),
                    v(at),
                    v(at),
                ]);
                ids.report += 1;
            }
        }
        let deceased = rng.random_ratio(person.band.max(1) as u32, 1500);
        let ending = if deceased { Outcome::Deceased } else { Outcome::Recovered };
        let ending_recorded = ended + lag(rng);
        outcome = Some((ending, ended, ending_recorded));
        history.outcome = Some((ending_recorded, ending, ended));
        if rng.random_ratio(1, 100) {
            let other = (prefecture + 1) % 47;
            let others = &world.by_prefecture[other];
            let (to, _) = others[rng.random_range(0..others.len())];
            let at = decided + Duration::days(2);
            let recorded = at + lag(rng);
            t.transfers.push(vec![v(ids.transfer), v(id), v(centre), v(to), v(world.account), v(at), v(recorded)]);
            history.centres.push((recorded, to, other as i32 + 1));
            ids.transfer += 1;
            responsible = to;
        }
    }
    let (route, certainty) = investigate(rng, ids, t, world, sums, person, id, (sampled, registered), positive);
    if let Some(route) = route {
        history.route = Some((registered + Duration::hours(rng.random_range(12..72)), route.to_owned()));
    }
    let phone = format!("090-{:04}-{:04}", rng.random_range(0..10000), rng.random_range(0..10000));
    t.patients.push(vec![
        v(id),
        v(case_type.to_value()),
        v(person.name_kanji.clone()),
        v(person.name_kana.clone()),
        v(person.sex.to_value()),
        v(person.birth),
        v(format!("{}の住所", hersys::domain::reference::PREFECTURES[prefecture].1)),
        v(phone.clone()),
        v(smartphone.clone()),
        previous.as_ref().map_or_else(none_text, |(_, phone)| v(phone.clone())),
        previous.as_ref().map_or_else(none_int, |(patient, _)| v(*patient)),
        v(previous.is_some()),
        v(responsible),
        v(clinic),
        v(world.account),
        v(setting.to_value()),
        outcome.map_or_else(none_text, |(o, _, _)| v(o.to_value())),
        outcome.map_or_else(none_time, |(_, at, _)| v(at)),
        outcome.map_or_else(none_time, |(_, _, recorded)| v(recorded)),
        v(1),
        v(registered),
        v(registered + lag(rng)),
        v(registered),
        v(hersys::domain::kana::search_key(&person.name_kana).unwrap_or_default()),
        v(hersys::domain::kana::phone_digits(&phone)),
        route.map_or_else(none_text, v),
        certainty.map_or_else(none_text, v),
    ]);

    // The ledger, as the write transactions would have kept it.
    for (at, change) in history.replay() {
        for row in ledger::event_rows(id, &change, at) {
            let mut row = row;
            row.push(v(true));
            t.events.push(row);
        }
        for row in ledger::case_rows(id, &change, at) {
            t.cases.push(row);
        }
        let recorded_day = ledger::day_number(at);
        if !change.counts.is_empty() {
            let mark = sums.marks.entry(recorded_day).or_insert(at);
            *mark = (*mark).max(at);
        }
        for (key, delta) in &change.counts {
            let metric = key.metric.code();
            for (level, area) in [
                (ledger::LEVEL_NATION, 0),
                (ledger::LEVEL_PREFECTURE, i64::from(key.prefecture_id)),
                (ledger::LEVEL_HEALTH_CENTRE, key.health_centre_id),
            ] {
                *sums.sums.entry((level, area, key.day, metric, recorded_day)).or_insert(0) += i64::from(*delta);
            }
        }
    }
    match outcome {
        Some((Outcome::Recovered, ended, _)) => Some((id, smartphone, ended)),
        _ => None,
    }
}
