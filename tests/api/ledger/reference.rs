//! The reference of the ledger's oracle tests: the figures recomputed
//! straight from the history tables, as of a moment, with SQL of the tests'
//! own (the definitions the ledger replaced: a test counts once recorded, a
//! result as of its latest recording, the responsible centre as of the
//! moment from the transfers, and so on), and the same figures read from
//! the ledger tables. Shared with the synthetic data set's test in
//! tools/tests/synthetic.rs.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use hersys::services::statistics::Area;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement};

/// A statement with placeholders for either database, built piece by piece.
pub(crate) struct Query {
    backend: DbBackend,
    text: String,
    values: Vec<sea_orm::Value>,
}

impl Query {
    pub(crate) fn new(backend: DbBackend) -> Self {
        Query { backend, text: String::new(), values: Vec::new() }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    pub(crate) fn bind(&mut self, value: impl Into<sea_orm::Value>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => self.text.push_str(&format!("${}", self.values.len())),
            _ => self.text.push('?'),
        }
        self
    }

    pub(crate) async fn all(self, db: &DatabaseConnection) -> Vec<QueryResult> {
        let text = self.text.clone();
        db.query_all_raw(Statement::from_sql_and_values(self.backend, self.text, self.values))
            .await
            .unwrap_or_else(|error| panic!("reference query failed: {error}\n{text}"))
    }
}

/// The Japan calendar day of a timestamp expression, as `YYYY-MM-DD`.
pub(crate) fn japan_day(backend: DbBackend, column: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("to_char(({column}) AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD')"),
        _ => format!("date({column}, '+9 hours')"),
    }
}

/// The Japan calendar day of a moment.
pub(crate) fn japan_date(at: DateTime<Utc>) -> NaiveDate {
    (at + Duration::hours(9)).date_naive()
}

pub(crate) fn parse_day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_else(|_| panic!("not a day: {text}"))
}

pub(crate) fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> T {
    row.try_get::<T>("", column).unwrap_or_else(|error| panic!("column {column}: {error}"))
}

/// The result of test `lt` as of `t`: its latest recorded result by then
/// (NULL while none was recorded, i.e. pending).
pub(crate) fn result_as_of(q: &mut Query, t: DateTime<Utc>) {
    q.push("(SELECT r.result FROM lab_test_results r WHERE r.lab_test_id = lt.id AND r.recorded_at <= ")
        .bind(t)
        .push(" ORDER BY r.recorded_at DESC, r.id DESC LIMIT 1)");
}

/// The health centre responsible for patient `p` as of `t`: the one it was
/// transferred away from by the first transfer recorded after `t`, else the
/// current one.
pub(crate) fn centre_as_of(q: &mut Query, t: DateTime<Utc>) {
    q.push(
        "COALESCE((SELECT tr.from_health_centre_id FROM patient_transfers tr WHERE tr.patient_id = p.id \
         AND tr.recorded_at > ",
    )
    .bind(t)
    .push(" ORDER BY tr.recorded_at ASC, tr.id ASC LIMIT 1), p.responsible_health_centre_id)");
}

/// Restricts patient `p` to `area` as of `t`.
pub(crate) fn in_area(q: &mut Query, area: Area, t: DateTime<Utc>) {
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
pub(crate) fn first_positives(q: &mut Query, t: DateTime<Utc>) {
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
pub(crate) struct Figures {
    pub(crate) tests: i64,
    pub(crate) negatives: i64,
    pub(crate) positives: i64,
    pub(crate) deaths: i64,
    pub(crate) severe: i64,
    pub(crate) severe_tokyo: i64,
    pub(crate) requiring_care: i64,
}

pub(crate) type Series = BTreeMap<NaiveDate, Figures>;

pub(crate) fn days(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

/// The figures of each day from `from` to `to` in `area`, as of `t`,
/// from the history tables.
pub(crate) async fn reference_daily(
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
pub(crate) type CaseKey = (NaiveDate, i64, i64, i64, String, String, String, Option<String>, Option<String>);

/// Whole years between the birth date and the UTC date of registration of
/// patient `p`, in decades clamped to 0..=9.
pub(crate) fn age_decade(backend: DbBackend) -> &'static str {
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
pub(crate) async fn reference_cases(
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
pub(crate) fn case_key(row: &QueryResult, day: NaiveDate) -> CaseKey {
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
pub(crate) async fn ledger_cases(
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

/// Fails with the days that differ, expected (history) against actual
/// (ledger).
pub(crate) fn assert_same_series(expected: &Series, actual: &Series, context: &str) {
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

pub(crate) fn assert_same_cases(expected: &BTreeMap<CaseKey, i64>, actual: &BTreeMap<CaseKey, i64>, context: &str) {
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

pub(crate) fn total(series: &Series, field: fn(&Figures) -> i64) -> i64 {
    series.values().map(field).sum()
}
