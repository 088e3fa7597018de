//! Statistics as of a moment. Every figure counts only what had been
//! recorded by `as_of` (rows carry `recorded_at`; results, care settings,
//! transfers and outcomes keep their histories), so a figure computed with
//! the same `as_of` is the same however much is entered later. All
//! counting is SQL aggregation bounded by the date range; no rows are
//! loaded into the gateway. Days are calendar days in Japan time.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value};

use crate::auth::{Principal, Role};
use crate::error::{AppError, AppResult};
use crate::services::follow_up::day_bounds;
use crate::state::AppState;

/// The area a caller may see figures for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Nation,
    Prefecture(i32),
    HealthCentre(i64),
}

/// Largest date range of one `daily` request.
pub const MAX_DAYS: i64 = 731;

/// The area of a request: analysts anywhere, prefecture staff their
/// prefecture, health centre staff their district.
pub fn area(principal: &Principal, prefecture: Option<i32>) -> AppResult<Area> {
    match (principal.role, prefecture) {
        (Role::NationalAnalyst, None) => Ok(Area::Nation),
        (Role::NationalAnalyst, Some(p)) => Ok(Area::Prefecture(p)),
        (Role::PrefectureStaff, requested) => match principal.prefecture_id {
            Some(own) if requested.is_none_or(|p| p == own) => Ok(Area::Prefecture(own)),
            _ => Err(AppError::forbidden("prefecture staff see the figures of their own prefecture")),
        },
        (Role::HealthCentreStaff, None) => principal
            .health_centre_id
            .map(Area::HealthCentre)
            .ok_or_else(|| AppError::forbidden("account without health centre")),
        (Role::HealthCentreStaff, Some(_)) => {
            Err(AppError::forbidden("health centre staff see the figures of their own district"))
        }
        _ => Err(AppError::forbidden("statistics are for analysts, prefectures and health centres")),
    }
}

/// `as_of`, defaulting to now, refused in the future (a figure "as of" a
/// future moment could change and would not be reproducible).
pub fn as_of(state: &AppState, requested: Option<DateTime<Utc>>) -> AppResult<DateTime<Utc>> {
    let now = state.now();
    match requested {
        Some(at) if at > now => Err(AppError::bad_input("asOf", "must not be in the future")),
        Some(at) => Ok(at),
        None => Ok(now),
    }
}

/// The figures of one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Daily {
    pub date: NaiveDate,
    pub tests: i64,
    pub positives: i64,
    pub negatives: i64,
}

/// Builds statements with `?` placeholders for either database.
pub(crate) struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub(crate) fn new(backend: DbBackend) -> Self {
        Sql { backend, text: String::new(), values: Vec::new() }
    }
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        if self.backend == DbBackend::Postgres {
            self.text.push_str(&format!("${}", self.values.len()));
        } else {
            self.text.push('?');
        }
        self
    }
    pub(crate) fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// The calendar day (Japan time) of a timestamp column, as `YYYY-MM-DD`.
pub(crate) fn local_day(backend: DbBackend, column: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("to_char(({column}) AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD')"),
        _ => format!("date({column}, '+9 hours')"),
    }
}

/// The result of test `lt` as of the moment bound next.
pub(crate) fn result_as_of(sql: &mut Sql, as_of: DateTime<Utc>) {
    sql.push("(SELECT r.result FROM lab_test_results r WHERE r.lab_test_id = lt.id AND r.recorded_at <= ")
        .bind(as_of)
        .push(" ORDER BY r.recorded_at DESC, r.id DESC LIMIT 1)");
}

/// The health centre responsible for patient `p` as of a moment: the one
/// it was transferred away from after that moment, if any, else the
/// current one.
pub(crate) fn centre_as_of(sql: &mut Sql, as_of: DateTime<Utc>) {
    sql.push(
        "COALESCE((SELECT t.from_health_centre_id FROM patient_transfers t WHERE t.patient_id = p.id \
         AND t.recorded_at > ",
    )
    .bind(as_of)
    .push(" ORDER BY t.recorded_at ASC, t.id ASC LIMIT 1), p.responsible_health_centre_id)");
}

/// Restricts patient `p` to the area, as of the moment.
pub(crate) fn area_condition(sql: &mut Sql, area: Area, as_of: DateTime<Utc>) {
    match area {
        Area::Nation => {}
        Area::Prefecture(prefecture) => {
            sql.push(" AND (SELECT hc.prefecture_id FROM health_centres hc WHERE hc.id = ");
            centre_as_of(sql, as_of);
            sql.push(") = ").bind(prefecture);
        }
        Area::HealthCentre(centre) => {
            sql.push(" AND ");
            centre_as_of(sql, as_of);
            sql.push(" = ").bind(centre);
        }
    }
}

#[derive(Debug, FromQueryResult)]
struct DayCount {
    day: String,
    n: i64,
    negatives: Option<i64>,
}

/// Tests, positives and negatives per day from `from` to `to` (inclusive).
///
/// - tests: tests whose sample was taken that day;
/// - negatives: those of them whose result (as of `as_of`) is negative;
/// - positives: people whose first positive test (as of `as_of`) was
///   sampled that day; two positive tests of one person count once, and a
///   reinfection, being a new record, counts again.
pub async fn daily(
    db: &impl ConnectionTrait,
    area: Area,
    from: NaiveDate,
    to: NaiveDate,
    as_of: DateTime<Utc>,
) -> AppResult<Vec<Daily>> {
    if to < from {
        return Err(AppError::bad_input("to", "must not be before from"));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(AppError::bad_input("to", format!("the range may span at most {MAX_DAYS} days")));
    }
    let backend = db.get_database_backend();
    let (start, _) = day_bounds(from);
    let (_, end) = day_bounds(to);

    let mut tests = Sql::new(backend);
    tests.push(&format!("SELECT day, COUNT(*) AS n, SUM(CASE WHEN result = 'NEGATIVE' THEN 1 ELSE 0 END) AS negatives FROM (SELECT {} AS day, ", local_day(backend, "lt.sampled_at")));
    result_as_of(&mut tests, as_of);
    tests
        .push(" AS result FROM lab_tests lt JOIN patients p ON p.id = lt.patient_id WHERE lt.recorded_at <= ")
        .bind(as_of);
    tests.push(" AND lt.sampled_at >= ").bind(start).push(" AND lt.sampled_at < ").bind(end);
    area_condition(&mut tests, area, as_of);
    tests.push(") x GROUP BY day");

    let mut positives = Sql::new(backend);
    positives.push(&format!(
        "SELECT {} AS day, COUNT(*) AS n, CAST(NULL AS BIGINT) AS negatives FROM (SELECT lt.patient_id, MIN(lt.sampled_at) AS first_positive \
         FROM lab_tests lt WHERE lt.recorded_at <= ",
        local_day(backend, "f.first_positive")
    ));
    positives.bind(as_of).push(" AND ");
    result_as_of(&mut positives, as_of);
    positives.push(
        " = 'POSITIVE' GROUP BY lt.patient_id) f JOIN patients p ON p.id = f.patient_id WHERE f.first_positive >= ",
    );
    positives.bind(start).push(" AND f.first_positive < ").bind(end);
    area_condition(&mut positives, area, as_of);
    positives.push(" GROUP BY day");

    let test_counts = DayCount::find_by_statement(tests.build()).all(db).await?;
    let positive_counts = DayCount::find_by_statement(positives.build()).all(db).await?;
    let mut days: HashMap<String, Daily> = HashMap::new();
    for row in test_counts {
        let entry = days.entry(row.day).or_default();
        entry.tests = row.n;
        entry.negatives = row.negatives.unwrap_or(0);
    }
    for row in positive_counts {
        days.entry(row.day).or_default().positives = row.n;
    }
    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        let figures = days.get(&day.format("%Y-%m-%d").to_string()).copied().unwrap_or_default();
        out.push(Daily { date: day, ..figures });
        day += Duration::days(1);
    }
    Ok(out)
}

/// The people under care at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CareStatus {
    /// Open hospital stays.
    pub hospital: i64,
    /// Open cases in accommodation care (not in hospital).
    pub accommodation: i64,
    /// Open cases in home care (not in hospital).
    pub home: i64,
    /// Patients in hospital whose latest condition is severe by the
    /// national definition: ICU, ventilator or ECMO (or severity SEVERE).
    pub severe: i64,
    /// By Tokyo's definition: ventilator or ECMO.
    pub severe_tokyo_definition: i64,
}

#[derive(Debug, FromQueryResult)]
struct CareRow {
    hospital: Option<i64>,
    accommodation: Option<i64>,
    home: Option<i64>,
    severe: Option<i64>,
    severe_tokyo: Option<i64>,
}

/// Care status of the area's open cases as of a moment.
pub async fn care_status(db: &impl ConnectionTrait, area: Area, as_of: DateTime<Utc>) -> AppResult<CareStatus> {
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    // Per open case: whether it is in hospital, its care setting, and the
    // latest condition of its open stay, all as of the moment.
    sql.push("SELECT SUM(in_hospital) AS hospital, \
              SUM(CASE WHEN in_hospital = 0 AND setting = 'ACCOMMODATION' THEN 1 ELSE 0 END) AS accommodation, \
              SUM(CASE WHEN in_hospital = 0 AND setting = 'HOME' THEN 1 ELSE 0 END) AS home, \
              SUM(CASE WHEN in_hospital = 1 AND (severity = 'SEVERE' OR icu OR ventilator OR ecmo) THEN 1 ELSE 0 END) AS severe, \
              SUM(CASE WHEN in_hospital = 1 AND (ventilator OR ecmo) THEN 1 ELSE 0 END) AS severe_tokyo \
              FROM (SELECT p.id, \
              (SELECT c.care_setting FROM care_setting_changes c WHERE c.patient_id = p.id AND c.recorded_at <= ");
    sql.bind(as_of).push(" ORDER BY c.recorded_at DESC, c.id DESC LIMIT 1) AS setting, ");
    sql.push("CASE WHEN h.id IS NULL THEN 0 ELSE 1 END AS in_hospital, ");
    sql.push("(SELECT e.severity FROM condition_entries e WHERE e.hospitalisation_id = h.id AND e.recorded_at <= ");
    sql.bind(as_of).push(" ORDER BY e.recorded_at DESC, e.id DESC LIMIT 1) AS severity, ");
    for flag in ["icu", "ventilator", "ecmo"] {
        sql.push(&format!(
            "COALESCE((SELECT e.{flag} FROM condition_entries e WHERE e.hospitalisation_id = h.id AND e.recorded_at <= "
        ));
        sql.bind(as_of).push(&format!(" ORDER BY e.recorded_at DESC, e.id DESC LIMIT 1), false) AS {flag}"));
        if flag != "ecmo" {
            sql.push(", ");
        }
    }
    sql.push(" FROM patients p LEFT JOIN hospitalisations h ON h.patient_id = p.id AND h.recorded_at <= ");
    sql.bind(as_of).push(" AND (h.discharge_recorded_at IS NULL OR h.discharge_recorded_at > ").bind(as_of).push(")");
    sql.push(" WHERE p.recorded_at <= ").bind(as_of);
    sql.push(" AND (p.outcome_recorded_at IS NULL OR p.outcome_recorded_at > ").bind(as_of).push(")");
    area_condition(&mut sql, area, as_of);
    sql.push(") cases");
    let row = CareRow::find_by_statement(sql.build()).one(db).await?;
    Ok(row
        .map(|r| CareStatus {
            hospital: r.hospital.unwrap_or(0),
            accommodation: r.accommodation.unwrap_or(0),
            home: r.home.unwrap_or(0),
            severe: r.severe.unwrap_or(0),
            severe_tokyo_definition: r.severe_tokyo.unwrap_or(0),
        })
        .unwrap_or_default())
}

#[derive(Debug, FromQueryResult)]
struct DayPrefectureCount {
    day: String,
    prefecture_id: i32,
    n: i64,
}

/// A daily series per prefecture, as in the MHLW open-data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenDataSeries {
    /// `newly_confirmed_cases_daily.csv`: people by the day of their first
    /// positive test.
    NewlyConfirmed,
    /// `number_of_deaths_daily.csv`: deaths by the day of death.
    Deaths,
}

/// Counts per day and prefecture (the prefecture of the responsible health
/// centre as of `as_of`), from the first day with a count to the day of
/// `as_of`.
pub async fn by_day_and_prefecture(
    db: &impl ConnectionTrait,
    series: OpenDataSeries,
    as_of: DateTime<Utc>,
) -> AppResult<Vec<(NaiveDate, i32, i64)>> {
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    match series {
        OpenDataSeries::NewlyConfirmed => {
            sql.push(&format!(
                "SELECT {} AS day, prefecture_id, COUNT(*) AS n FROM (SELECT f.first_positive, \
                 (SELECT hc.prefecture_id FROM health_centres hc WHERE hc.id = ",
                local_day(backend, "first_positive")
            ));
            centre_as_of(&mut sql, as_of);
            sql.push(") AS prefecture_id FROM (SELECT lt.patient_id, MIN(lt.sampled_at) AS first_positive FROM lab_tests lt WHERE lt.recorded_at <= ");
            sql.bind(as_of).push(" AND ");
            result_as_of(&mut sql, as_of);
            sql.push(" = 'POSITIVE' GROUP BY lt.patient_id) f JOIN patients p ON p.id = f.patient_id) x GROUP BY day, prefecture_id");
        }
        OpenDataSeries::Deaths => {
            sql.push(&format!("SELECT {} AS day, prefecture_id, COUNT(*) AS n FROM (SELECT p.outcome_at, (SELECT hc.prefecture_id FROM health_centres hc WHERE hc.id = ", local_day(backend, "outcome_at")));
            centre_as_of(&mut sql, as_of);
            sql.push(") AS prefecture_id FROM patients p WHERE p.outcome = 'DECEASED' AND p.outcome_recorded_at <= ");
            sql.bind(as_of).push(") x GROUP BY day, prefecture_id");
        }
    }
    let rows = DayPrefectureCount::find_by_statement(sql.build()).all(db).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| NaiveDate::parse_from_str(&r.day, "%Y-%m-%d").ok().map(|d| (d, r.prefecture_id, r.n)))
        .collect())
}

/// The CSV file: `Date,ALL,Hokkaido,…,Okinawa`, one row per day from the
/// first day with a count to the day of `as_of` (Japan time), dates written
/// `2020/1/16` as in the MHLW files. The same data and `as_of` give the
/// same bytes.
pub fn open_data_csv(counts: &[(NaiveDate, i32, i64)], as_of: DateTime<Utc>) -> String {
    use std::fmt::Write;
    let mut out = String::from("Date,ALL");
    for (name, _) in crate::services::demo::PREFECTURES {
        out.push(',');
        out.push_str(name);
    }
    out.push('\n');
    let last = as_of.with_timezone(&crate::config::local_offset()).date_naive();
    let Some(first) = counts.iter().map(|(day, _, _)| *day).min() else { return out };
    let mut by_day: HashMap<NaiveDate, [i64; 47]> = HashMap::new();
    for (day, prefecture, n) in counts {
        if let Some(slot) = usize::try_from(*prefecture - 1).ok().filter(|i| *i < 47) {
            by_day.entry(*day).or_insert([0; 47])[slot] += n;
        }
    }
    let mut day = first;
    while day <= last {
        let row = by_day.get(&day).copied().unwrap_or([0; 47]);
        let _ = write!(out, "{},{}", day.format("%Y/%-m/%-d"), row.iter().sum::<i64>());
        for n in row {
            let _ = write!(out, ",{n}");
        }
        out.push('\n');
        day += Duration::days(1);
    }
    out
}
