//! Oracle tests of the statistics ledger. The figures are recomputed here
//! straight from the history tables, as of a moment, with SQL of the test's
//! own (the definitions the ledger replaced: a test counts once recorded, a
//! result as of its latest recording, the responsible centre as of the
//! moment from the transfers, and so on), and the ledger must give exactly
//! the same numbers: for the synthetic data set, whose ledger is replayed
//! from each patient's history, and for a pseudo-random run of the write
//! paths through the API, before and after folding.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, TimeZone, Utc};
use hersys::clock::{Clock, ManualClock};
use hersys::services::statistics::{self, Area, ledger};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, spawn_app, spawn_app_configured};

both!(
    the_synthetic_ledger_matches_the_history_it_was_replayed_from,
    figures_kept_by_the_write_paths_match_the_history,
    concurrent_writes_for_one_patient_count_once_each,
);

// ---------------------------------------------------------------------------
// The reference: figures from the history tables, as of a moment.
// ---------------------------------------------------------------------------

/// A statement with placeholders for either database, built piece by piece.
struct Query {
    backend: DbBackend,
    text: String,
    values: Vec<sea_orm::Value>,
}

impl Query {
    fn new(backend: DbBackend) -> Self {
        Query { backend, text: String::new(), values: Vec::new() }
    }

    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    fn bind(&mut self, value: impl Into<sea_orm::Value>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => self.text.push_str(&format!("${}", self.values.len())),
            _ => self.text.push('?'),
        }
        self
    }

    async fn all(self, db: &DatabaseConnection) -> Vec<QueryResult> {
        let text = self.text.clone();
        db.query_all_raw(Statement::from_sql_and_values(self.backend, self.text, self.values))
            .await
            .unwrap_or_else(|error| panic!("reference query failed: {error}\n{text}"))
    }
}

/// The Japan calendar day of a timestamp expression, as `YYYY-MM-DD`.
fn japan_day(backend: DbBackend, column: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("to_char(({column}) AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD')"),
        _ => format!("date({column}, '+9 hours')"),
    }
}

/// The Japan calendar day of a moment.
fn japan_date(at: DateTime<Utc>) -> NaiveDate {
    (at + Duration::hours(9)).date_naive()
}

/// `hour`:`minute` Japan time on `day`.
fn jst(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(hour, minute, 0).expect("a time of day")) - Duration::hours(9)
}

fn parse_day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_else(|_| panic!("not a day: {text}"))
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> T {
    row.try_get::<T>("", column).unwrap_or_else(|error| panic!("column {column}: {error}"))
}

/// The result of test `lt` as of `t`: its latest recorded result by then
/// (NULL while none was recorded, i.e. pending).
fn result_as_of(q: &mut Query, t: DateTime<Utc>) {
    q.push("(SELECT r.result FROM lab_test_results r WHERE r.lab_test_id = lt.id AND r.recorded_at <= ")
        .bind(t)
        .push(" ORDER BY r.recorded_at DESC, r.id DESC LIMIT 1)");
}

/// The health centre responsible for patient `p` as of `t`: the one it was
/// transferred away from by the first transfer recorded after `t`, else the
/// current one.
fn centre_as_of(q: &mut Query, t: DateTime<Utc>) {
    q.push(
        "COALESCE((SELECT tr.from_health_centre_id FROM patient_transfers tr WHERE tr.patient_id = p.id \
         AND tr.recorded_at > ",
    )
    .bind(t)
    .push(" ORDER BY tr.recorded_at ASC, tr.id ASC LIMIT 1), p.responsible_health_centre_id)");
}

/// Restricts patient `p` to `area` as of `t`.
fn in_area(q: &mut Query, area: Area, t: DateTime<Utc>) {
    match area {
        Area::Nation => {}
        Area::Prefecture(prefecture) => {
            q.push(" AND (SELECT hc.prefecture_id FROM health_centres hc WHERE hc.id = ");
            centre_as_of(q, t);
            q.push(") = ").bind(prefecture);
        }
        Area::HealthCentre(centre) => {
            q.push(" AND ");
            centre_as_of(q, t);
            q.push(" = ").bind(centre);
        }
    }
}

/// `f`: each patient's earliest sampling among their tests recorded by `t`
/// whose result as of `t` is positive; joined to the patient `p`.
fn first_positives(q: &mut Query, t: DateTime<Utc>) {
    q.push(
        "(SELECT lt.patient_id, MIN(lt.sampled_at) AS first_positive FROM lab_tests lt \
         WHERE lt.recorded_at <= ",
    )
    .bind(t)
    .push(" AND ");
    result_as_of(q, t);
    q.push(" = 'POSITIVE' GROUP BY lt.patient_id) f JOIN patients p ON p.id = f.patient_id");
}

/// One day's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Figures {
    tests: i64,
    negatives: i64,
    positives: i64,
    deaths: i64,
    severe: i64,
    severe_tokyo: i64,
    requiring_care: i64,
}

type Series = BTreeMap<NaiveDate, Figures>;

fn days(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

/// The figures of each day from `from` to `to` in `area`, as of `t`,
/// from the history tables.
async fn reference_daily(
    db: &DatabaseConnection,
    area: Area,
    from: NaiveDate,
    to: NaiveDate,
    t: DateTime<Utc>,
) -> Series {
    let backend = db.get_database_backend();
    let mut out: Series = days(from, to).map(|d| (d, Figures::default())).collect();

    // Tests recorded by `t`, by sampling day; the negatives among them.
    let mut q = Query::new(backend);
    q.push(
        "SELECT day, COUNT(*) AS n, SUM(CASE WHEN result = 'NEGATIVE' THEN 1 ELSE 0 END) AS negatives FROM (SELECT ",
    )
    .push(&japan_day(backend, "lt.sampled_at"))
    .push(" AS day, ");
    result_as_of(&mut q, t);
    q.push(" AS result FROM lab_tests lt JOIN patients p ON p.id = lt.patient_id WHERE lt.recorded_at <= ").bind(t);
    in_area(&mut q, area, t);
    q.push(") x GROUP BY day");
    for row in q.all(db).await {
        if let Some(figures) = out.get_mut(&parse_day(&get::<String>(&row, "day"))) {
            figures.tests = get(&row, "n");
            figures.negatives = get(&row, "negatives");
        }
    }

    // People by the day of their first positive test.
    let mut q = Query::new(backend);
    q.push("SELECT ").push(&japan_day(backend, "f.first_positive")).push(" AS day, COUNT(*) AS n FROM ");
    first_positives(&mut q, t);
    q.push(" WHERE 1 = 1");
    in_area(&mut q, area, t);
    q.push(" GROUP BY 1");
    for row in q.all(db).await {
        if let Some(figures) = out.get_mut(&parse_day(&get::<String>(&row, "day"))) {
            figures.positives = get(&row, "n");
        }
    }

    // Deaths recorded by `t`, by the day of death.
    let mut q = Query::new(backend);
    q.push("SELECT ")
        .push(&japan_day(backend, "p.outcome_at"))
        .push(" AS day, COUNT(*) AS n FROM patients p WHERE p.outcome = 'DECEASED' AND p.outcome_recorded_at <= ")
        .bind(t);
    in_area(&mut q, area, t);
    q.push(" GROUP BY 1");
    for row in q.all(db).await {
        if let Some(figures) = out.get_mut(&parse_day(&get::<String>(&row, "day"))) {
            figures.deaths = get(&row, "n");
        }
    }

    // Requiring care at the end of a day: a first positive sampled that day
    // or before, and no outcome (as of `t`) by that day.
    let mut q = Query::new(backend);
    q.push("SELECT f.first_positive AS first_positive, CASE WHEN p.outcome_recorded_at <= ")
        .bind(t)
        .push(" THEN p.outcome_at ELSE NULL END AS outcome_at FROM ");
    first_positives(&mut q, t);
    q.push(" WHERE 1 = 1");
    in_area(&mut q, area, t);
    let cases: Vec<(NaiveDate, Option<NaiveDate>)> = q
        .all(db)
        .await
        .iter()
        .map(|row| {
            let first = japan_date(get::<DateTime<Utc>>(row, "first_positive"));
            (first, get::<Option<DateTime<Utc>>>(row, "outcome_at").map(japan_date))
        })
        .collect();

    // Severe at the end of a day: a stay recorded by `t`, not discharged
    // (as recorded by `t`) by that day, whose condition observed latest that
    // day or before (of the entries recorded by `t`; on one day, the last
    // observed, then the last recorded) is severe.
    let mut q = Query::new(backend);
    q.push("SELECT h.id AS stay, CASE WHEN h.discharge_recorded_at <= ")
        .bind(t)
        .push(
            " THEN h.discharged_at ELSE NULL END AS discharged_at, e.id AS entry, e.observed_at, e.recorded_at, \
           e.severity, e.icu, e.ventilator, e.ecmo \
           FROM hospitalisations h JOIN patients p ON p.id = h.patient_id \
           LEFT JOIN condition_entries e ON e.hospitalisation_id = h.id AND e.recorded_at <= ",
        )
        .bind(t)
        .push(" WHERE h.recorded_at <= ")
        .bind(t);
    in_area(&mut q, area, t);
    // Per stay: its discharge day and its entries (observed, recorded, id,
    // severe nationally, severe by Tokyo's definition).
    type Entry = (DateTime<Utc>, DateTime<Utc>, i64, bool, bool);
    let mut stays: BTreeMap<i64, (Option<NaiveDate>, Vec<Entry>)> = BTreeMap::new();
    for row in q.all(db).await {
        let stay = stays
            .entry(get(&row, "stay"))
            .or_insert_with(|| (get::<Option<DateTime<Utc>>>(&row, "discharged_at").map(japan_date), Vec::new()));
        if let Some(entry) = get::<Option<i64>>(&row, "entry") {
            let ventilator: bool = get(&row, "ventilator");
            let ecmo: bool = get(&row, "ecmo");
            let severe = get::<String>(&row, "severity") == "SEVERE" || get::<bool>(&row, "icu") || ventilator || ecmo;
            stay.1.push((get(&row, "observed_at"), get(&row, "recorded_at"), entry, severe, ventilator || ecmo));
        }
    }

    for (day, figures) in out.iter_mut() {
        figures.requiring_care =
            cases.iter().filter(|(first, outcome)| first <= day && outcome.is_none_or(|ended| ended > *day)).count()
                as i64;
        for (discharged, entries) in stays.values() {
            if discharged.is_some_and(|left| left <= *day) {
                continue;
            }
            let latest = entries
                .iter()
                .filter(|(observed, ..)| japan_date(*observed) <= *day)
                .max_by_key(|(observed, recorded, id, ..)| (*observed, *recorded, *id));
            if let Some((_, _, _, severe, severe_tokyo)) = latest {
                figures.severe += i64::from(*severe);
                figures.severe_tokyo += i64::from(*severe_tokyo);
            }
        }
    }
    out
}

/// A cross-tabulation cell: first positive day, centre, prefecture, age
/// decade, sex, case type, care setting, severity, outcome.
type CaseKey = (NaiveDate, i64, i64, i64, String, String, String, Option<String>, Option<String>);

/// Whole years between the birth date and the UTC date of registration of
/// patient `p`, in decades clamped to 0..=9.
fn age_decade(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "CAST(LEAST(GREATEST(CAST(extract(year from age(CAST((p.registered_at AT TIME ZONE 'UTC') AS date), \
             p.birth_date)) AS INTEGER), 0) / 10, 9) AS BIGINT)"
        }
        _ => {
            "CAST(MIN(MAX(CAST(strftime('%Y', p.registered_at) AS INTEGER) \
             - CAST(strftime('%Y', p.birth_date) AS INTEGER) \
             - (CASE WHEN strftime('%m-%d', p.registered_at) < strftime('%m-%d', p.birth_date) THEN 1 ELSE 0 END), \
             0) / 10, 9) AS BIGINT)"
        }
    }
}

/// The newly confirmed people of `from`..=`to` as of `t`, counted per
/// cell, from the history tables.
async fn reference_cases(
    db: &DatabaseConnection,
    from: NaiveDate,
    to: NaiveDate,
    t: DateTime<Utc>,
) -> BTreeMap<CaseKey, i64> {
    let backend = db.get_database_backend();
    let mut q = Query::new(backend);
    q.push(
        "SELECT day, centre, prefecture_id, age_decade, sex, case_type, care_setting, severity, outcome, COUNT(*) AS n \
            FROM (SELECT ",
    )
    .push(&japan_day(backend, "f.first_positive"))
    .push(" AS day, CAST(");
    centre_as_of(&mut q, t);
    q.push(" AS BIGINT) AS centre, CAST((SELECT hc.prefecture_id FROM health_centres hc WHERE hc.id = ");
    centre_as_of(&mut q, t);
    q.push(") AS BIGINT) AS prefecture_id, ").push(age_decade(backend)).push(" AS age_decade, p.sex, p.case_type, ");
    q.push(
        "COALESCE((SELECT c.care_setting FROM care_setting_changes c WHERE c.patient_id = p.id AND c.recorded_at <= ",
    )
    .bind(t)
    .push(" ORDER BY c.recorded_at DESC, c.id DESC LIMIT 1), 'UNDECIDED') AS care_setting, ");
    q.push(
        "(SELECT e.severity FROM condition_entries e WHERE e.hospitalisation_id = \
         (SELECT h.id FROM hospitalisations h WHERE h.patient_id = p.id AND h.recorded_at <= ",
    )
    .bind(t)
    .push(" ORDER BY h.recorded_at DESC, h.id DESC LIMIT 1) AND e.recorded_at <= ")
    .bind(t)
    .push(" ORDER BY e.recorded_at DESC, e.id DESC LIMIT 1) AS severity, ");
    q.push("CASE WHEN p.outcome_recorded_at <= ").bind(t).push(" THEN p.outcome ELSE NULL END AS outcome FROM ");
    first_positives(&mut q, t);
    q.push(") x GROUP BY day, centre, prefecture_id, age_decade, sex, case_type, care_setting, severity, outcome");
    q.all(db)
        .await
        .iter()
        .map(|row| (case_key(row, parse_day(&get::<String>(row, "day"))), get::<i64>(row, "n")))
        .filter(|((day, ..), _)| (from..=to).contains(day))
        .collect()
}

/// The cell of a grouped row (columns `centre`, `prefecture_id`,
/// `age_decade`, `sex`, `case_type`, `care_setting`, `severity`, `outcome`)
/// on `day`.
fn case_key(row: &QueryResult, day: NaiveDate) -> CaseKey {
    (
        day,
        get(row, "centre"),
        get(row, "prefecture_id"),
        get(row, "age_decade"),
        get(row, "sex"),
        get(row, "case_type"),
        get(row, "care_setting"),
        get(row, "severity"),
        get(row, "outcome"),
    )
}

/// The same cells from the ledger of cases (`stat_cases`), summed up to `t`.
async fn ledger_cases(
    db: &DatabaseConnection,
    from: NaiveDate,
    to: NaiveDate,
    t: DateTime<Utc>,
) -> BTreeMap<CaseKey, i64> {
    let mut q = Query::new(db.get_database_backend());
    q.push(
        "SELECT CAST(day AS BIGINT) AS day, health_centre_id AS centre, \
         CAST(prefecture_id AS BIGINT) AS prefecture_id, \
         CAST(age_decade AS BIGINT) AS age_decade, sex, case_type, care_setting, severity, outcome, \
         CAST(SUM(delta) AS BIGINT) AS n FROM stat_cases WHERE recorded_at <= ",
    )
    .bind(t)
    .push(
        " GROUP BY day, health_centre_id, prefecture_id, age_decade, sex, case_type, care_setting, severity, outcome \
         HAVING SUM(delta) <> 0",
    );
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
    q.all(db)
        .await
        .iter()
        .map(|row| (case_key(row, epoch + Duration::days(get::<i64>(row, "day"))), get::<i64>(row, "n")))
        .filter(|((day, ..), _)| (from..=to).contains(day))
        .collect()
}

/// The figures `statistics::daily` computes from the ledger.
async fn ledger_daily(db: &DatabaseConnection, area: Area, from: NaiveDate, to: NaiveDate, t: DateTime<Utc>) -> Series {
    statistics::daily(db, area, from, to, t)
        .await
        .expect("statistics::daily")
        .into_iter()
        .map(|d| {
            let figures = Figures {
                tests: d.tests,
                negatives: d.negatives,
                positives: d.positives,
                deaths: d.deaths,
                severe: d.severe,
                severe_tokyo: d.severe_tokyo,
                requiring_care: d.requiring_care,
            };
            (d.date, figures)
        })
        .collect()
}

/// Fails with the days that differ, expected (history) against actual
/// (ledger).
fn assert_same_series(expected: &Series, actual: &Series, context: &str) {
    assert_eq!(expected.keys().collect::<Vec<_>>(), actual.keys().collect::<Vec<_>>(), "{context}: not the same days");
    let differences: Vec<String> = expected
        .iter()
        .filter(|(day, figures)| actual.get(*day) != Some(*figures))
        .map(|(day, figures)| format!("  {day}: history {figures:?}\n  {day}: ledger  {:?}", actual.get(day)))
        .collect();
    assert!(
        differences.is_empty(),
        "{context}: the ledger differs from the history on {} day(s):\n{}",
        differences.len(),
        differences.join("\n")
    );
}

fn assert_same_cases(expected: &BTreeMap<CaseKey, i64>, actual: &BTreeMap<CaseKey, i64>, context: &str) {
    let cells: BTreeSet<&CaseKey> = expected.keys().chain(actual.keys()).collect();
    let lines: Vec<String> = cells
        .into_iter()
        .filter(|cell| expected.get(*cell) != actual.get(*cell))
        .map(|cell| format!("  {cell:?}: history {:?}, ledger {:?}", expected.get(cell), actual.get(cell)))
        .collect();
    assert!(
        lines.is_empty(),
        "{context}: the cases ledger differs from the history in {} cell(s):\n{}",
        lines.len(),
        lines.join("\n")
    );
}

fn total(series: &Series, field: fn(&Figures) -> i64) -> i64 {
    series.values().map(field).sum()
}

// ---------------------------------------------------------------------------
// 1. The synthetic data set.
// ---------------------------------------------------------------------------

/// A connection of the test's own to the gateway's database (more than
/// one connection: the loader reads while it holds a transaction open).
async fn connect(app: &TestApp) -> DatabaseConnection {
    let mut options = sea_orm::ConnectOptions::new(app.database_url.clone());
    options.max_connections(4);
    sea_orm::Database::connect(options).await.expect("direct connection")
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().expect("a moment")
}

async fn the_synthetic_ledger_matches_the_history_it_was_replayed_from(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = connect(&app).await;
    // 1,000 people with seed 12 include deaths, severe cases (by both
    // definitions), transfers and reinfections; deaths and ventilators are
    // rare, and smaller sets or other seeds often have none.
    hersys::services::synthetic::seed(&db, 1000, 12).await.expect("the synthetic data set loads");
    // The gateway can write into a loaded set: its IDs continue after the
    // loader's.
    let clinic = app.login("clinic1").await;
    let (registered, _) = app.register_patient(&clinic, "ロード アト", json!({})).await;
    assert!(registered.parse::<i64>().expect("an ID") > 1000, "{registered}");
    let (from, to) =
        (NaiveDate::from_ymd_opt(2022, 1, 1).expect("a date"), NaiveDate::from_ymd_opt(2022, 12, 31).expect("a date"));

    // The nation, the three prefectures and the health centre with the most
    // patients.
    let mut q = Query::new(db.get_database_backend());
    q.push(
        "SELECT CAST(hc.prefecture_id AS BIGINT) AS prefecture_id, COUNT(*) AS n FROM patients p \
         JOIN health_centres hc ON hc.id = p.responsible_health_centre_id GROUP BY hc.prefecture_id \
         ORDER BY n DESC, prefecture_id LIMIT 3",
    );
    let mut areas = vec![Area::Nation];
    for row in q.all(&db).await {
        areas.push(Area::Prefecture(i32::try_from(get::<i64>(&row, "prefecture_id")).expect("a prefecture")));
    }
    let mut q = Query::new(db.get_database_backend());
    q.push(
        "SELECT p.responsible_health_centre_id AS centre, COUNT(*) AS n FROM patients p \
         GROUP BY p.responsible_health_centre_id ORDER BY n DESC, centre LIMIT 1",
    );
    areas.extend(q.all(&db).await.iter().map(|row| Area::HealthCentre(get(row, "centre"))));
    assert_eq!(areas.len(), 5, "{areas:?}");

    let moments = [
        utc(2022, 1, 20, 0, 0),
        utc(2022, 2, 10, 3, 0),
        utc(2022, 3, 1, 12, 0),
        utc(2022, 7, 15, 0, 0),
        utc(2022, 8, 20, 9, 30),
        utc(2022, 10, 1, 0, 0),
        utc(2023, 1, 1, 0, 0),
    ];
    let mut national: Vec<Series> = Vec::new();
    for t in moments {
        for area in &areas {
            let expected = reference_daily(&db, *area, from, to, t).await;
            let actual = ledger_daily(&db, *area, from, to, t).await;
            assert_same_series(&expected, &actual, &format!("{area:?} as of {t}"));
            if *area == Area::Nation {
                national.push(actual);
            }
        }
        // The cross-tabulation cells: every dimension at once.
        let expected = reference_cases(&db, from, to, t).await;
        let actual = ledger_cases(&db, from, to, t).await;
        assert_same_cases(&expected, &actual, &format!("cases as of {t}"));
    }

    // Not vacuous: by the end there are tests, negatives, positives, deaths,
    // severe cases and people requiring care, and cases in cells of several
    // care settings and severities.
    let last = national.last().expect("figures");
    for (what, field) in [
        ("tests", (|f: &Figures| f.tests) as fn(&Figures) -> i64),
        ("negatives", |f| f.negatives),
        ("positives", |f| f.positives),
        ("deaths", |f| f.deaths),
        ("severe", |f| f.severe),
        ("severe (Tokyo)", |f| f.severe_tokyo),
        ("requiring care", |f| f.requiring_care),
    ] {
        assert!(total(last, field) > 0, "no {what} in the synthetic set: the comparison would prove nothing");
    }
    let cases = ledger_cases(&db, from, to, *moments.last().expect("a moment")).await;
    assert!(cases.keys().map(|k| &k.6).collect::<BTreeSet<_>>().len() >= 3, "{cases:?}");
    assert!(cases.keys().any(|k| k.7.is_some()) && cases.keys().any(|k| k.8.as_deref() == Some("RECOVERED")));

    let mut q = Query::new(db.get_database_backend());
    q.push("SELECT COUNT(*) AS n FROM patient_transfers");
    assert!(get::<i64>(&q.all(&db).await[0], "n") > 0, "no transfer: the areas as of a moment would prove little");

    // Late entries: some day already past at one moment has other figures
    // as of a later moment.
    let late = moments.windows(2).zip(national.windows(2)).any(|(t, series)| {
        series[0].iter().any(|(day, figures)| *day < japan_date(t[0]) && series[1].get(day) != Some(figures))
    });
    assert!(late, "no late entry changes a past day: the as-of comparisons would prove little");
    drop(app);
}

// ---------------------------------------------------------------------------
// 2. The write paths, driven through the API.
// ---------------------------------------------------------------------------

const DAILY: &str = "query($from: Date!, $to: Date!, $p: String, $asOf: DateTime) { statistics { \
    daily(from: $from, to: $to, prefectureCode: $p, asOf: $asOf) { date tests positives negatives deaths severe \
    severeTokyoDefinition requiringInpatientCare } } }";
const REGISTER: &str = "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { id } }";
const RECORD_TEST: &str = "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }";
const RECORD_RESULT: &str = "mutation($t: ID!, $r: TestResult!) { recordTestResult(testId: $t, result: $r) { id } }";
const SET_CARE: &str = "mutation($p: ID!, $s: CareSetting!) { setCareSetting(patientId: $p, setting: $s) { id } }";
const ADMIT: &str = "mutation($p: ID!, $f: ID!, $s: Severity!, $at: DateTime) { \
    admitPatient(patientId: $p, facilityId: $f, severity: $s, admittedAt: $at) { id } }";
const CONDITION: &str = "mutation($h: ID!, $s: Severity!, $icu: Boolean, $v: Boolean, $e: Boolean, $at: DateTime) { \
    recordCondition(hospitalisationId: $h, severity: $s, icu: $icu, ventilator: $v, ecmo: $e, observedAt: $at) \
    { id } }";
const DISCHARGE: &str =
    "mutation($h: ID!, $at: DateTime) { dischargePatient(hospitalisationId: $h, dischargedAt: $at) { id } }";
const OUTCOME: &str = "mutation($p: ID!, $o: Outcome!, $at: DateTime) { \
    recordOutcome(patientId: $p, outcome: $o, outcomeAt: $at) { id } }";
const TRANSFER: &str = "mutation($p: ID!, $to: ID!) { transferPatient(patientId: $p, toHealthCentreId: $to) { id } }";

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `statistics.daily` over the API, as `token`.
async fn api_daily(
    app: &TestApp,
    token: &str,
    prefecture: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
    t: DateTime<Utc>,
) -> Series {
    let response = app
        .gql(
            Some(token),
            DAILY,
            json!({ "from": from.to_string(), "to": to.to_string(), "p": prefecture, "asOf": rfc3339(t) }),
        )
        .await;
    let list = response["data"]["statistics"]["daily"].as_array().unwrap_or_else(|| panic!("{response}"));
    list.iter()
        .map(|d| {
            let n = |field: &str| d[field].as_i64().unwrap_or_else(|| panic!("{field} in {d}"));
            let figures = Figures {
                tests: n("tests"),
                negatives: n("negatives"),
                positives: n("positives"),
                deaths: n("deaths"),
                severe: n("severe"),
                severe_tokyo: n("severeTokyoDefinition"),
                requiring_care: n("requiringInpatientCare"),
            };
            (parse_day(d["date"].as_str().unwrap_or_default()), figures)
        })
        .collect()
}

/// The ID a mutation returned, or `None` if it was refused. A refusal must
/// be one a client can cause (a conflict, bad input), never a failure.
fn created(response: &Value, field: &str) -> Option<String> {
    if let Some(id) = response["data"][field]["id"].as_str() {
        return Some(id.to_owned());
    }
    let code = error_code(response);
    assert!(matches!(code, Some("CONFLICT" | "BAD_USER_INPUT")), "{field} failed unexpectedly: {response}");
    None
}

/// Birth dates of the run's patients: every age band but one, and
/// birthdays either side of the registration date.
const BIRTH_DATES: [&str; 7] =
    ["1931-02-28", "1948-07-20", "1962-12-31", "1975-11-30", "1990-01-15", "2005-06-06", "2019-09-09"];

/// A patient of the run as the test knows it.
#[derive(Debug)]
struct Case {
    id: String,
    /// Index of the responsible centre in `Run::centres`.
    centre: usize,
    tests: Vec<String>,
    stay: Option<String>,
    ended: bool,
}

/// Who acts in the run.
struct Run<'a> {
    app: &'a TestApp,
    clinic: String,
    hospital: String,
    hospital_id: String,
    /// (health centre ID, token of its staff) of the two Tokyo centres.
    centres: Vec<(String, String)>,
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Some moment up to `hours` hours before `now`, or none (the default: now).
fn maybe_earlier(rng: &mut ChaCha8Rng, now: DateTime<Utc>, hours: i64) -> Option<String> {
    rng.random_bool(0.5).then(|| rfc3339(now - Duration::minutes(rng.random_range(1..hours * 60))))
}

impl Run<'_> {
    /// One pseudo-random operation; returns what it was and whether it was
    /// accepted.
    async fn step(&self, rng: &mut ChaCha8Rng, cases: &mut Vec<Case>, now: DateTime<Utc>) -> (&'static str, bool) {
        let app = self.app;
        let open: Vec<usize> = (0..cases.len()).filter(|i| !cases[*i].ended).collect();
        let admitted: Vec<usize> = (0..cases.len()).filter(|i| cases[*i].stay.is_some()).collect();
        let roll = rng.random_range(0..100);
        let register = cases.is_empty() || roll < if open.len() < 5 { 14 } else { 4 };
        if register {
            // A new patient in one of the two Tokyo centres; now and then
            // the reinfection of an ended case.
            let centre = rng.random_range(0..self.centres.len());
            let previous = cases.iter().rev().find(|c| c.ended).map(|c| c.id.clone()).filter(|_| rng.random_bool(0.3));
            let extra = json!({
                "healthCentreId": self.centres[centre].0,
                "caseType": pick(rng, &["CONFIRMED", "CONFIRMED", "ASYMPTOMATIC_CARRIER", "SUSPECTED"]),
                "sex": pick(rng, &["MALE", "FEMALE", "UNKNOWN"]),
                "birthDate": pick(rng, &BIRTH_DATES),
                "previousPatientId": previous,
            });
            let mut input = json!({
                "nameKanji": "試験 患者",
                "nameKana": pick(rng, &["アオキ ハナコ", "イシイ タロウ", "ウエダ ジロウ", "エンドウ ユイ", "オカダ レン"]),
            });
            if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
                input.extend(extra.clone());
            }
            let response = app.gql(Some(&self.clinic), REGISTER, json!({ "input": input })).await;
            let id = created(&response, "registerPatient");
            if let Some(id) = &id {
                cases.push(Case { id: id.clone(), centre, tests: Vec::new(), stay: None, ended: false });
            }
            return ("registerPatient", id.is_some());
        }
        // Mostly open cases; now and then an ended one (refused).
        let index = if !open.is_empty() && rng.random_ratio(9, 10) {
            *pick(rng, &open)
        } else {
            rng.random_range(0..cases.len())
        };
        let centre_token = self.centres[cases[index].centre].1.clone();
        let roll = rng.random_range(0..100);
        match roll {
            0..30 => {
                let result = pick(
                    rng,
                    &["POSITIVE", "POSITIVE", "NEGATIVE", "NEGATIVE", "NEGATIVE", "PENDING", "PENDING", "INCONCLUSIVE"],
                );
                let input = json!({
                    "patientId": cases[index].id,
                    "kind": pick(rng, &["PCR", "ANTIGEN_QUALITATIVE", "ANTIGEN_QUANTITATIVE", "LAMP"]),
                    "result": result,
                    // Late entries: sampled up to three days ago.
                    "sampledAt": maybe_earlier(rng, now, 72),
                });
                let response = app.gql(Some(&self.clinic), RECORD_TEST, json!({ "input": input })).await;
                let id = created(&response, "recordTest");
                if let Some(id) = &id {
                    cases[index].tests.push(id.clone());
                }
                ("recordTest", id.is_some())
            }
            30..46 => {
                // A pending result arrives, or a result is corrected.
                let Some(test) = (!cases[index].tests.is_empty()).then(|| pick(rng, &cases[index].tests).clone())
                else {
                    return ("recordTestResult (no test)", false);
                };
                let result = pick(rng, &["POSITIVE", "NEGATIVE", "INCONCLUSIVE"]);
                let response = app.gql(Some(&self.clinic), RECORD_RESULT, json!({ "t": test, "r": result })).await;
                ("recordTestResult", created(&response, "recordTestResult").is_some())
            }
            46..56 => {
                let setting = pick(rng, &["HOME", "HOME", "ACCOMMODATION", "NONE", "HOSPITAL"]);
                let response =
                    app.gql(Some(&centre_token), SET_CARE, json!({ "p": cases[index].id, "s": setting })).await;
                ("setCareSetting", created(&response, "setCareSetting").is_some())
            }
            56..66 => {
                let response = app
                    .gql(
                        Some(&centre_token),
                        ADMIT,
                        json!({
                            "p": cases[index].id,
                            "f": self.hospital_id,
                            "s": pick(rng, &["MILD", "MODERATE_I", "MODERATE_II", "SEVERE"]),
                            "at": maybe_earlier(rng, now, 30),
                        }),
                    )
                    .await;
                let stay = created(&response, "admitPatient");
                if stay.is_some() {
                    cases[index].stay = stay.clone();
                }
                ("admitPatient", stay.is_some())
            }
            // (With nobody in hospital, these rolls transfer instead.)
            66..80 if !admitted.is_empty() => {
                // Conditions, sometimes observed earlier than entered.
                let index = *pick(rng, &admitted);
                let response = app
                    .gql(
                        Some(&self.hospital),
                        CONDITION,
                        json!({
                            "h": cases[index].stay,
                            "s": pick(rng, &["MILD", "MODERATE_I", "MODERATE_II", "SEVERE"]),
                            "icu": rng.random_ratio(1, 4),
                            "v": rng.random_ratio(1, 4),
                            "e": rng.random_ratio(1, 10),
                            "at": maybe_earlier(rng, now, 36),
                        }),
                    )
                    .await;
                ("recordCondition", created(&response, "recordCondition").is_some())
            }
            80..87 if !admitted.is_empty() => {
                let index = *pick(rng, &admitted);
                let response = app
                    .gql(
                        Some(&self.hospital),
                        DISCHARGE,
                        json!({ "h": cases[index].stay, "at": maybe_earlier(rng, now, 24) }),
                    )
                    .await;
                let done = created(&response, "dischargePatient").is_some();
                if done {
                    cases[index].stay = None;
                }
                ("dischargePatient", done)
            }
            87..94 => {
                let outcome = pick(rng, &["RECOVERED", "RECOVERED", "DECEASED", "DECEASED", "OTHER"]);
                let response = app
                    .gql(
                        Some(&centre_token),
                        OUTCOME,
                        json!({ "p": cases[index].id, "o": outcome, "at": maybe_earlier(rng, now, 48) }),
                    )
                    .await;
                let done = created(&response, "recordOutcome").is_some();
                if done {
                    // A death in hospital ends the stay.
                    cases[index].ended = true;
                    cases[index].stay = None;
                }
                ("recordOutcome", done)
            }
            _ => {
                let to = (cases[index].centre + 1) % self.centres.len();
                let response = app
                    .gql(Some(&centre_token), TRANSFER, json!({ "p": cases[index].id, "to": self.centres[to].0 }))
                    .await;
                let done = created(&response, "transferPatient").is_some();
                if done {
                    cases[index].centre = to;
                }
                ("transferPatient", done)
            }
        }
    }
}

/// Runs a mutation that must succeed.
async fn must(app: &TestApp, token: &str, query: &str, variables: Value, field: &str) -> String {
    let response = app.gql(Some(token), query, variables).await;
    response["data"][field]["id"].as_str().unwrap_or_else(|| panic!("{field}: {response}")).to_owned()
}

async fn figures_kept_by_the_write_paths_match_the_history(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_configured(backend, clock.clone(), |config| {
        // Nothing is folded unless the test asks (the first round, at start,
        // finds nothing); sessions outlive the simulated days.
        config.statistics_fold_interval = std::time::Duration::from_secs(7 * 24 * 3600);
        config.session_idle_timeout = std::time::Duration::from_secs(60 * 24 * 3600);
        config.session_absolute_lifetime = std::time::Duration::from_secs(60 * 24 * 3600);
    })
    .await;
    let db = connect(&app).await;
    let analyst = app.login("analyst1").await;
    let clinic = app.login("clinic1").await;
    let hospital = app.login("hospital1").await;
    let hc1 = app.login("hc1").await;
    let hc2 = app.login("hc2").await;
    let hc3 = app.login("hc3").await;
    let tokyo1 = app.health_centre_id(&hc1, "131032").await;
    let tokyo2 = app.health_centre_id(&hc1, "131041").await;
    let osaka = app.health_centre_id(&hc1, "271004").await;
    let facilities = app.gql(Some(&analyst), "{ facilities { id code } }", json!({})).await;
    let hospital_id = facilities["data"]["facilities"]
        .as_array()
        .and_then(|list| list.iter().find(|f| f["code"] == "F13-0002"))
        .and_then(|f| f["id"].as_str())
        .unwrap_or_else(|| panic!("no demo hospital: {facilities}"))
        .to_owned();
    let centre_number = |id: &str| id.parse::<i64>().expect("numeric health centre IDs");

    // --- A hand-worked case in Osaka, alone in its prefecture. -----------
    // Positive on day B; admitted B+1 (MODERATE_I); SEVERE on B+2; SEVERE
    // on a ventilator on B+3; on B+4 MODERATE_II at 10:00 and, entered
    // after it, SEVERE in ICU observed at 08:00 (the later observation of
    // the day holds); SEVERE in ICU on B+5; discharged B+6; recovered B+8.
    let b = japan_date(clock.now()) - Duration::days(20);
    let day = |n: i64| b + Duration::days(n);
    let step = |minutes: i64| clock.advance(Duration::minutes(minutes));
    let (h, _) = app
        .register_patient(
            &clinic,
            "オオサカ ハナコ",
            json!({ "healthCentreId": osaka, "sex": "FEMALE", "birthDate": "1950-05-05" }),
        )
        .await;
    let input =
        json!({ "patientId": h, "kind": "PCR", "result": "POSITIVE", "sampledAt": rfc3339(jst(day(0), 10, 0)) });
    must(&app, &clinic, RECORD_TEST, json!({ "input": input }), "recordTest").await;
    step(1);
    let stay = must(
        &app,
        &hc3,
        ADMIT,
        json!({ "p": h, "f": hospital_id, "s": "MODERATE_I", "at": rfc3339(jst(day(1), 10, 0)) }),
        "admitPatient",
    )
    .await;
    for (severity, icu, ventilator, at) in
        [("SEVERE", false, false, jst(day(2), 10, 0)), ("SEVERE", false, true, jst(day(3), 10, 0))]
    {
        step(1);
        let variables = json!({ "h": stay, "s": severity, "icu": icu, "v": ventilator, "e": false, "at": rfc3339(at) });
        must(&app, &hospital, CONDITION, variables, "recordCondition").await;
    }
    step(1);
    let before_milder = clock.now();
    for (severity, icu, ventilator, at) in [
        ("MODERATE_II", false, false, jst(day(4), 10, 0)),
        ("SEVERE", true, false, jst(day(4), 8, 0)),
        ("SEVERE", true, false, jst(day(5), 10, 0)),
    ] {
        step(1);
        let variables = json!({ "h": stay, "s": severity, "icu": icu, "v": ventilator, "e": false, "at": rfc3339(at) });
        must(&app, &hospital, CONDITION, variables, "recordCondition").await;
    }
    step(1);
    must(&app, &hospital, DISCHARGE, json!({ "h": stay, "at": rfc3339(jst(day(6), 10, 0)) }), "dischargePatient").await;
    step(1);
    must(&app, &hc3, OUTCOME, json!({ "p": h, "o": "RECOVERED", "at": rfc3339(jst(day(8), 10, 0)) }), "recordOutcome")
        .await;
    step(1);
    let hand_worked_done = clock.now();

    // --- A pseudo-random run in the two Tokyo centres. --------------------
    let run = Run {
        app: &app,
        clinic: clinic.clone(),
        hospital: hospital.clone(),
        hospital_id: hospital_id.clone(),
        centres: vec![(tokyo1.clone(), hc1.clone()), (tokyo2.clone(), hc2.clone())],
    };
    let mut rng = ChaCha8Rng::seed_from_u64(20_261_125);
    let mut cases: Vec<Case> = Vec::new();
    let mut moments: Vec<DateTime<Utc>> = vec![before_milder, hand_worked_done];
    let mut accepted: BTreeMap<&'static str, usize> = BTreeMap::new();
    const STEPS: usize = 110;
    // The areas compared: as the analyst the nation and both prefectures,
    // and each health centre as its own staff.
    let areas: Vec<(Area, &str, Option<&str>)> = vec![
        (Area::Nation, analyst.as_str(), None),
        (Area::Prefecture(13), analyst.as_str(), Some("13")),
        (Area::Prefecture(27), analyst.as_str(), Some("27")),
        (Area::HealthCentre(centre_number(&tokyo1)), hc1.as_str(), None),
        (Area::HealthCentre(centre_number(&tokyo2)), hc2.as_str(), None),
        (Area::HealthCentre(centre_number(&osaka)), hc3.as_str(), None),
    ];
    let from = day(-2);
    let compare = |moments: Vec<DateTime<Utc>>, round: &'static str| {
        let (app, db, areas) = (&app, &db, &areas);
        async move {
            for t in moments {
                let to = japan_date(t) + Duration::days(1);
                for (area, token, prefecture) in areas {
                    let expected = reference_daily(db, *area, from, to, t).await;
                    let actual = api_daily(app, token, *prefecture, from, to, t).await;
                    assert_same_series(&expected, &actual, &format!("{round}: {area:?} as of {t}"));
                }
                let expected = reference_cases(db, from, to, t).await;
                let actual = ledger_cases(db, from, to, t).await;
                assert_same_cases(&expected, &actual, &format!("{round}: cases as of {t}"));
            }
        }
    };
    for n in 1..=STEPS {
        // From 10 minutes to 5 hours between operations: about ten days.
        clock.advance(Duration::minutes(rng.random_range(10..300)));
        let (what, done) = run.step(&mut rng, &mut cases, clock.now()).await;
        if done {
            *accepted.entry(what).or_insert(0) += 1;
        }
        if n % 5 == 0 {
            moments.push(clock.now());
        }
        if n == STEPS / 2 {
            // Half-way, with nothing folded yet; then fold what there is, so
            // that the rest of the run lands on a partly folded ledger.
            compare(moments.clone(), "nothing folded").await;
            let folded = ledger::fold_all(&db).await.expect("fold");
            assert!(folded > 0, "the first half left nothing to fold");
        }
    }
    moments.push(clock.now());
    let end = *moments.last().expect("a moment");
    println!("accepted operations: {accepted:?}");
    for (what, at_least) in [
        ("registerPatient", 4),
        ("recordTest", 15),
        ("recordTestResult", 4),
        ("setCareSetting", 3),
        ("admitPatient", 3),
        ("recordCondition", 3),
        ("dischargePatient", 1),
        ("recordOutcome", 3),
        ("transferPatient", 2),
    ] {
        assert!(accepted.get(what).copied().unwrap_or(0) >= at_least, "too few {what}: {accepted:?}");
    }

    // The ledger partly folded (the first half), then entirely.
    compare(moments.clone(), "partly folded").await;
    assert!(ledger::fold_all(&db).await.expect("fold") > 0, "the second half left nothing to fold");
    compare(moments.clone(), "all folded").await;

    // The run is not vacuous: positives, deaths and severe cases.
    let nation = reference_daily(&db, Area::Nation, from, japan_date(end), end).await;
    for (what, field) in [
        ("positives", (|f: &Figures| f.positives) as fn(&Figures) -> i64),
        ("negatives", |f| f.negatives),
        ("deaths", |f| f.deaths),
        ("severe", |f| f.severe),
        ("requiring care", |f| f.requiring_care),
    ] {
        assert!(total(&nation, field) > 0, "no {what} in the run: {nation:?}");
    }

    // Late entries: some past day has other figures as of a later moment.
    let mut national = Vec::new();
    for t in &moments {
        national.push(reference_daily(&db, Area::Nation, from, japan_date(end), *t).await);
    }
    let late = moments.windows(2).zip(national.windows(2)).any(|(t, series)| {
        series[0].iter().any(|(day, figures)| *day < japan_date(t[0]) && series[1].get(day) != Some(figures))
    });
    assert!(late, "no late entry changes a past day");

    // The hand-worked Osaka case, as the analyst and as the Osaka centre.
    // (tests, positives, severe, severe by Tokyo's definition, requiring
    // care) for days B-1 to B+9.
    let expected_end: Vec<(i64, i64, i64, i64, i64)> = vec![
        (0, 0, 0, 0, 0), // B-1
        (1, 1, 0, 0, 1), // B: positive
        (0, 0, 0, 0, 1), // B+1: admitted, MODERATE_I
        (0, 0, 1, 0, 1), // B+2: SEVERE
        (0, 0, 1, 1, 1), // B+3: SEVERE, ventilator
        (0, 0, 0, 0, 1), // B+4: MODERATE_II observed last that day
        (0, 0, 1, 0, 1), // B+5: SEVERE, ICU
        (0, 0, 0, 0, 1), // B+6: discharged
        (0, 0, 0, 0, 1), // B+7
        (0, 0, 0, 0, 0), // B+8: recovered
        (0, 0, 0, 0, 0), // B+9
    ];
    // As of the moment before the milder entries: severe since B+2 and on
    // the ventilator since B+3, still in hospital, no outcome.
    let expected_before: Vec<(i64, i64, i64, i64, i64)> = vec![
        (0, 0, 0, 0, 0),
        (1, 1, 0, 0, 1),
        (0, 0, 0, 0, 1),
        (0, 0, 1, 0, 1),
        (0, 0, 1, 1, 1),
        (0, 0, 1, 1, 1),
        (0, 0, 1, 1, 1),
        (0, 0, 1, 1, 1),
        (0, 0, 1, 1, 1),
        (0, 0, 1, 1, 1),
        (0, 0, 1, 1, 1),
    ];
    for (t, expected) in [(end, &expected_end), (before_milder, &expected_before)] {
        for (token, prefecture) in [(&analyst, Some("27")), (&hc3, None)] {
            let series = api_daily(&app, token, prefecture, day(-1), day(9), t).await;
            let got: Vec<(i64, i64, i64, i64, i64)> =
                series.values().map(|f| (f.tests, f.positives, f.severe, f.severe_tokyo, f.requiring_care)).collect();
            assert_eq!(&got, expected, "the Osaka case as of {t} ({prefecture:?})");
            assert!(series.values().all(|f| f.negatives == 0 && f.deaths == 0));
        }
    }
    drop(app);
}

/// Writes for one patient at the same moment: each sees the others' (the
/// ledger refresh waits for the patient), so the person counts once as a
/// positive and every test once.
async fn concurrent_writes_for_one_patient_count_once_each(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = connect(&app).await;
    let clinic = app.login("clinic1").await;
    let mut patients = Vec::new();
    for name in ["ドウジ イチ", "ドウジ ニ"] {
        patients.push(app.register_patient(&clinic, name, json!({})).await.0);
    }
    let results = [
        "POSITIVE", "NEGATIVE", "POSITIVE", "POSITIVE", "NEGATIVE", "POSITIVE", "PENDING", "POSITIVE", "POSITIVE",
        "NEGATIVE", "POSITIVE", "POSITIVE", "POSITIVE", "PENDING", "POSITIVE", "POSITIVE",
    ];
    let inputs: Vec<Value> = patients
        .iter()
        .flat_map(|patient| {
            results.iter().map(move |result| json!({ "patientId": patient, "kind": "PCR", "result": result }))
        })
        .collect();
    let writes =
        inputs.into_iter().map(|input| must(&app, &clinic, RECORD_TEST, json!({ "input": input }), "recordTest"));
    futures_util::future::join_all(writes).await;
    for patient in &patients {
        let sums = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT CAST(metric AS BIGINT) AS metric, CAST(SUM(delta) AS BIGINT) AS n FROM stat_events \
                     WHERE patient_id = {patient} GROUP BY metric"
                ),
            ))
            .await
            .expect("the ledger");
        let sum = |metric: ledger::Metric| {
            sums.iter()
                .find(|row| get::<i64>(row, "metric") == i64::from(metric.code()))
                .map_or(0, |row| get::<i64>(row, "n"))
        };
        assert_eq!(sum(ledger::Metric::Tests), 16, "every test once (patient {patient})");
        assert_eq!(sum(ledger::Metric::Negatives), 3, "every negative once (patient {patient})");
        assert_eq!(sum(ledger::Metric::Positives), 1, "the person once (patient {patient})");
    }
}
