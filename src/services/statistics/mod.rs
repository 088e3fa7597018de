//! Statistics as of a moment. Every figure counts only what had been
//! recorded by `as_of`, so a figure computed with the same `as_of` is the
//! same however much is entered later. The figures are sums over the
//! statistics ledger (`ledger`), which the write transactions keep: one SQL
//! aggregation bounded by the date range and area, over daily sums for all
//! but the most recent deltas; no rows are loaded into the gateway. Days are
//! calendar days in Japan time.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult};

use crate::auth::Principal;
use crate::db::Sql;
use crate::domain::calendar::day_bounds;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub mod history;
pub mod indicators;
pub mod ledger;

use ledger::Metric;

pub use crate::auth::policy::Area;

/// Largest date range of one `daily` request.
pub const MAX_DAYS: i64 = 731;

/// The area of a request (`policy::statistics_area`).
pub fn area(principal: &Principal, prefecture: Option<i32>) -> AppResult<Area> {
    crate::auth::policy::statistics_area(principal, prefecture)
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
    pub deaths: i64,
    pub severe: i64,
    pub severe_tokyo: i64,
    pub requiring_care: i64,
}

/// Which sums of the ledger to read.
#[derive(Debug, Clone, Copy)]
struct Selection {
    /// `ledger::LEVEL_*`.
    level: i16,
    /// One area of the level, or all of them.
    area: Option<i64>,
    /// Only these metrics, or all.
    metrics: Option<&'static [Metric]>,
    /// First day of the counts (flows always from the beginning, as their
    /// running sums need it).
    from: Option<i32>,
    /// Last day.
    to: i32,
}

impl Selection {
    fn of(area: Area, from: Option<i32>, to: i32) -> Self {
        let (level, area) = match area {
            Area::Nation => (ledger::LEVEL_NATION, Some(0)),
            Area::Prefecture(p) => (ledger::LEVEL_PREFECTURE, Some(i64::from(p))),
            Area::HealthCentre(h) => (ledger::LEVEL_HEALTH_CENTRE, Some(h)),
        };
        Selection { level, area, metrics: None, from, to }
    }

    /// The conditions on metric and day shared by the three parts.
    fn days_and_metric(&self, sql: &mut Sql) {
        sql.push(" AND day <= ").bind(self.to);
        if let Some(from) = self.from {
            sql.push(" AND (day >= ").bind(from).push(" OR metric IN (");
            let flows: Vec<String> = Metric::ALL.iter().filter(|m| m.is_flow()).map(|m| m.code().to_string()).collect();
            sql.push(&flows.join(", ")).push("))");
        }
        if let Some(metrics) = self.metrics {
            let codes: Vec<String> = metrics.iter().map(|m| m.code().to_string()).collect();
            sql.push(" AND metric IN (").push(&codes.join(", ")).push(")");
        }
    }

    /// The area column of a raw ledger row at this level.
    fn raw_column(&self) -> &'static str {
        match self.level {
            ledger::LEVEL_NATION => "CAST(0 AS BIGINT)",
            ledger::LEVEL_PREFECTURE => "CAST(prefecture_id AS BIGINT)",
            _ => "health_centre_id",
        }
    }

    /// Restricts raw ledger rows to the area.
    fn raw_area(&self, sql: &mut Sql) {
        if self.level != ledger::LEVEL_NATION
            && let Some(area) = self.area
        {
            sql.push(&format!(" AND {} = ", self.raw_column())).bind(area);
        }
    }
}

#[derive(Debug, FromQueryResult)]
struct SumRow {
    metric: i64,
    area_id: i64,
    day: i64,
    n: i64,
}

/// Sums of the ledger as of a moment, per metric, area and day: the folded
/// sums and the deltas not folded yet, recorded by `as_of`. The folded sums
/// of the day of `as_of` are used only when none of their deltas is newer
/// than `as_of` (always so for `as_of` now); otherwise that day is read
/// from its raw deltas up to `as_of`. One statement, so one snapshot,
/// whatever the folding task does meanwhile.
async fn ledger_sums(
    db: &impl ConnectionTrait,
    selection: Selection,
    as_of: DateTime<Utc>,
) -> AppResult<Vec<(Metric, i64, i32, i64)>> {
    let backend = db.get_database_backend();
    let today = ledger::day_number(as_of);
    let (start_of_today, _) = day_bounds(ledger::number_date(today));
    let mut sql = Sql::new(backend);
    sql.push(
        "SELECT CAST(metric AS BIGINT) AS metric, area_id, CAST(day AS BIGINT) AS day, CAST(SUM(n) AS BIGINT) AS n \
         FROM (SELECT metric, area_id, day, n FROM stat_daily WHERE level = ",
    )
    .bind(selection.level);
    if let Some(area) = selection.area {
        sql.push(" AND area_id = ").bind(area);
    }
    // Today's folded sums hold only deltas recorded at or before `as_of`
    // when no folded delta of today is newer than it (the usual case, `as_of`
    // now); else today is read raw, up to `as_of` exactly.
    let folded_newer = |sql: &mut Sql| {
        sql.push("EXISTS (SELECT 1 FROM stat_fold_marks WHERE recorded_day = ")
            .bind(today)
            .push(" AND folded_until > ")
            .bind(as_of)
            .push(")");
    };
    sql.push(" AND (recorded_day < ").bind(today).push(" OR (recorded_day = ").bind(today).push(" AND NOT ");
    folded_newer(&mut sql);
    sql.push("))");
    selection.days_and_metric(&mut sql);

    let column = selection.raw_column();
    sql.push(&format!(" UNION ALL SELECT metric, {column} AS area_id, day, delta AS n FROM stat_events "))
        .push("WHERE NOT folded AND (recorded_day < ")
        .bind(today)
        .push(" OR (recorded_day = ")
        .bind(today)
        .push(" AND recorded_at <= ")
        .bind(as_of)
        .push(" AND NOT ");
    folded_newer(&mut sql);
    sql.push("))");
    selection.raw_area(&mut sql);
    selection.days_and_metric(&mut sql);
    sql.push(&format!(" UNION ALL SELECT metric, {column} AS area_id, day, delta AS n FROM stat_events "))
        .push("WHERE recorded_at >= ")
        .bind(start_of_today)
        .push(" AND recorded_at <= ")
        .bind(as_of)
        .push(" AND ");
    folded_newer(&mut sql);
    selection.raw_area(&mut sql);
    selection.days_and_metric(&mut sql);
    sql.push(") x GROUP BY metric, area_id, day");

    let rows = SumRow::find_by_statement(sql.build()).all(db).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let metric = Metric::from_code(r.metric)?;
            Some((metric, r.area_id, i32::try_from(r.day).ok()?, r.n))
        })
        .collect())
}

/// The figures of each day from `from` to `to` (inclusive), as of `as_of`:
///
/// - tests: tests whose sample was taken that day;
/// - negatives: those of them whose result is negative;
/// - positives: people whose first positive test was sampled that day; two
///   positive tests of one person count once, and a reinfection, being a
///   new record, counts again;
/// - deaths: people who died that day;
/// - severe (national and Tokyo definitions): people in hospital and severe
///   at the end of the day;
/// - requiring care: people with a positive test sampled by that day and no
///   outcome (recovery, death, other end of the case) by that day.
///
/// Each as the records stood at `as_of`.
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
    let (first, last) = (ledger::date_number(from), ledger::date_number(to));
    let sums = ledger_sums(db, Selection::of(area, Some(first), last), as_of).await?;
    let mut by_day: HashMap<(Metric, i32), i64> = HashMap::new();
    // The flows' running sums start from everything before `from`.
    let mut opening: HashMap<Metric, i64> = HashMap::new();
    for (metric, _, day, n) in sums {
        if day < first {
            *opening.entry(metric).or_insert(0) += n;
        } else {
            *by_day.entry((metric, day)).or_insert(0) += n;
        }
    }
    let mut out = Vec::with_capacity(usize::try_from(last - first + 1).unwrap_or(0));
    let mut running = opening;
    for day in first..=last {
        let get = |metric: Metric| by_day.get(&(metric, day)).copied().unwrap_or(0);
        for metric in Metric::ALL.into_iter().filter(|m| m.is_flow()) {
            *running.entry(metric).or_insert(0) += get(metric);
        }
        let stock = |metric: Metric| running.get(&metric).copied().unwrap_or(0);
        out.push(Daily {
            date: ledger::number_date(day),
            tests: get(Metric::Tests),
            positives: get(Metric::Positives),
            negatives: get(Metric::Negatives),
            deaths: get(Metric::Deaths),
            severe: stock(Metric::Severe),
            severe_tokyo: stock(Metric::SevereTokyo),
            requiring_care: stock(Metric::RequiringCare),
        });
    }
    Ok(out)
}

/// The people under care at the end of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CareStatus {
    /// Open cases in hospital.
    pub hospital: i64,
    /// Open cases in accommodation care (not in hospital).
    pub accommodation: i64,
    /// Open cases in home care (not in hospital), not in a welfare facility.
    pub home: i64,
    /// Open cases cared for in their elderly or welfare facility.
    pub welfare: i64,
    /// Confirmed open cases whose place of care is being arranged.
    pub arranging: i64,
    /// In hospital and severe by the national definition: ICU, ventilator
    /// or ECMO (or severity SEVERE).
    pub severe: i64,
    /// By Tokyo's definition: ventilator or ECMO.
    pub severe_tokyo_definition: i64,
    /// Positive and without an outcome yet, wherever they are.
    pub requiring_care: i64,
}

/// Care status of the area's open cases at the end of the day of `as_of`
/// (Japan time), as recorded by `as_of`.
pub async fn care_status(db: &impl ConnectionTrait, area: Area, as_of: DateTime<Utc>) -> AppResult<CareStatus> {
    care_status_on(db, area, ledger::day_number(as_of), as_of).await
}

/// Care status of the area's open cases at the end of `day` (a day number),
/// as recorded by `as_of`: the running sums of the care flows of the
/// ledger up to that day.
pub async fn care_status_on(
    db: &impl ConnectionTrait,
    area: Area,
    day: i32,
    as_of: DateTime<Utc>,
) -> AppResult<CareStatus> {
    const METRICS: [Metric; 8] = [
        Metric::Hospital,
        Metric::Accommodation,
        Metric::Home,
        Metric::Welfare,
        Metric::Arranging,
        Metric::Severe,
        Metric::SevereTokyo,
        Metric::RequiringCare,
    ];
    let selection = Selection { metrics: Some(&METRICS), ..Selection::of(area, None, day) };
    let mut totals: HashMap<Metric, i64> = HashMap::new();
    for (metric, _, _, n) in ledger_sums(db, selection, as_of).await? {
        *totals.entry(metric).or_insert(0) += n;
    }
    let get = |metric: Metric| totals.get(&metric).copied().unwrap_or(0);
    Ok(CareStatus {
        hospital: get(Metric::Hospital),
        accommodation: get(Metric::Accommodation),
        home: get(Metric::Home),
        welfare: get(Metric::Welfare),
        arranging: get(Metric::Arranging),
        severe: get(Metric::Severe),
        severe_tokyo_definition: get(Metric::SevereTokyo),
        requiring_care: get(Metric::RequiringCare),
    })
}

/// A daily series per prefecture, as in the MHLW open-data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenDataSeries {
    /// `newly_confirmed_cases_daily.csv`: people by the day of their first
    /// positive test.
    NewlyConfirmed,
    /// `number_of_deaths_daily.csv`: deaths by the day of death.
    Deaths,
    /// `severe_cases_daily.csv`: people in hospital and severe (national
    /// definition) at the end of each day.
    Severe,
    /// `requiring_inpatient_care_etc_daily.csv`: positives without an
    /// outcome yet at the end of each day, wherever they are cared for.
    RequiringInpatientCare,
}

impl OpenDataSeries {
    /// The series of a file name.
    pub fn of_file(name: &str) -> Option<Self> {
        [
            OpenDataSeries::NewlyConfirmed,
            OpenDataSeries::Deaths,
            OpenDataSeries::Severe,
            OpenDataSeries::RequiringInpatientCare,
        ]
        .into_iter()
        .find(|series| series.file_name() == name)
    }

    /// The file's name.
    pub fn file_name(self) -> &'static str {
        match self {
            OpenDataSeries::NewlyConfirmed => "newly_confirmed_cases_daily.csv",
            OpenDataSeries::Deaths => "number_of_deaths_daily.csv",
            OpenDataSeries::Severe => "severe_cases_daily.csv",
            OpenDataSeries::RequiringInpatientCare => "requiring_inpatient_care_etc_daily.csv",
        }
    }

    fn metrics(self) -> &'static [Metric] {
        match self {
            OpenDataSeries::NewlyConfirmed => &[Metric::Positives],
            OpenDataSeries::Deaths => &[Metric::Deaths],
            OpenDataSeries::Severe => &[Metric::Severe],
            OpenDataSeries::RequiringInpatientCare => &[Metric::RequiringCare],
        }
    }

    /// Whether each day shows a number of people at the end of the day
    /// (the running sum of a flow) rather than a count of that day.
    pub fn is_stock(self) -> bool {
        self.metrics().iter().all(|m| m.is_flow())
    }
}

/// The series' per-day changes per prefecture (the prefecture of the
/// responsible health centre), up to the day of `as_of`, as of `as_of`.
pub async fn by_day_and_prefecture(
    db: &impl ConnectionTrait,
    series: OpenDataSeries,
    as_of: DateTime<Utc>,
) -> AppResult<Vec<(NaiveDate, i32, i64)>> {
    let selection = Selection {
        level: ledger::LEVEL_PREFECTURE,
        area: None,
        metrics: Some(series.metrics()),
        from: None,
        to: ledger::day_number(as_of),
    };
    let sums = ledger_sums(db, selection, as_of).await?;
    Ok(sums
        .into_iter()
        .filter(|(_, _, _, n)| *n != 0)
        .filter_map(|(_, prefecture, day, n)| Some((ledger::number_date(day), i32::try_from(prefecture).ok()?, n)))
        .collect())
}

/// The per-day changes of `metrics` per prefecture up to `last` (a day
/// number), as of `as_of`: (metric, prefecture, day, change).
pub(crate) async fn prefecture_changes(
    db: &impl ConnectionTrait,
    metrics: &'static [Metric],
    last: i32,
    as_of: DateTime<Utc>,
) -> AppResult<Vec<(Metric, i32, i32, i64)>> {
    let selection =
        Selection { level: ledger::LEVEL_PREFECTURE, area: None, metrics: Some(metrics), from: None, to: last };
    let sums = ledger_sums(db, selection, as_of).await?;
    Ok(sums
        .into_iter()
        .filter(|(_, _, _, n)| *n != 0)
        .filter_map(|(metric, prefecture, day, n)| Some((metric, i32::try_from(prefecture).ok()?, day, n)))
        .collect())
}

/// The CSV file: `Date,ALL,Hokkaido,…,Okinawa`, one row per day from the
/// first day with a count to the day of `as_of` (Japan time), dates written
/// `2020/1/16` as in the MHLW files. The same data and `as_of` give the
/// same bytes.
pub fn open_data_csv(counts: &[(NaiveDate, i32, i64)], as_of: DateTime<Utc>, stock: bool) -> String {
    use std::fmt::Write;
    let mut out = String::from("Date,ALL");
    for (name, _) in crate::domain::reference::PREFECTURES {
        out.push(',');
        out.push_str(name);
    }
    out.push('\n');
    let last = as_of.with_timezone(&crate::domain::calendar::local_offset()).date_naive();
    let Some(first) = counts.iter().map(|(day, _, _)| *day).min() else { return out };
    let mut by_day: HashMap<NaiveDate, [i64; 47]> = HashMap::new();
    for (day, prefecture, n) in counts {
        if let Some(slot) = usize::try_from(*prefecture - 1).ok().filter(|i| *i < 47) {
            by_day.entry(*day).or_insert([0; 47])[slot] += n;
        }
    }
    let mut day = first;
    let mut running = [0i64; 47];
    while day <= last {
        let mut row = by_day.get(&day).copied().unwrap_or([0; 47]);
        if stock {
            for (total, change) in running.iter_mut().zip(row.iter_mut()) {
                *total += *change;
                *change = *total;
            }
        }
        let _ = write!(out, "{},{}", day.format("%Y/%-m/%-d"), row.iter().sum::<i64>());
        for n in row {
            let _ = write!(out, ",{n}");
        }
        out.push('\n');
        day += Duration::days(1);
    }
    out
}

/// The statement that sums new cases (`cases`) and those whose route was
/// recorded as unknown (`unknown`) from the ledger of cases as of `as_of`,
/// over the days `first..=last` (day numbers; from the beginning without
/// `first`) in `area`; grouped, when `group` is given, by its expression,
/// selected as its column. The weekly share, the stage indicators and the
/// open-data file are each one such statement.
pub(crate) fn route_sums(
    backend: sea_orm::DbBackend,
    group: Option<(&str, &str)>,
    area: Area,
    (first, last): (Option<i32>, i32),
    as_of: DateTime<Utc>,
) -> Sql {
    let mut sql = Sql::new(backend);
    sql.push("SELECT ");
    if let Some((column, _)) = group {
        sql.push(column).push(", ");
    }
    sql.push("CAST(COALESCE(SUM(delta), 0) AS BIGINT) AS cases, ")
        .push("CAST(COALESCE(SUM(CASE WHEN route = 'UNKNOWN' THEN delta ELSE 0 END), 0) AS BIGINT) AS unknown ")
        .push("FROM stat_cases WHERE recorded_at <= ")
        .bind(as_of)
        .push(" AND day <= ")
        .bind(last);
    if let Some(first) = first {
        sql.push(" AND day >= ").bind(first);
    }
    match area {
        Area::Nation => {}
        Area::Prefecture(id) => {
            sql.push(" AND prefecture_id = ").bind(id);
        }
        Area::HealthCentre(id) => {
            sql.push(" AND health_centre_id = ").bind(id);
        }
    }
    if let Some((_, expression)) = group {
        sql.push(" GROUP BY ").push(expression);
    }
    sql
}

/// New cases of one week and how many of them had an unknown infection
/// route (感染経路不明), as the ledger stood at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteWeek {
    /// The Monday the week starts on.
    pub week_start: NaiveDate,
    pub cases: i64,
    pub unknown: i64,
}

/// The weeks (Monday to Sunday, by the day of the first positive sample)
/// that meet `from` to `to`, with the new cases of `area` and those whose
/// route was recorded as unknown, as of `as_of`.
pub async fn unknown_route(
    db: &impl ConnectionTrait,
    area: Area,
    from: NaiveDate,
    to: NaiveDate,
    as_of: DateTime<Utc>,
) -> AppResult<Vec<RouteWeek>> {
    use ledger::{date_number, number_date};
    if to < from || (to - from).num_days() > 731 {
        return Err(AppError::bad_input("to", "must be from `from` to 731 days after it"));
    }
    // Whole weeks: from the Monday of `from` to the Sunday of `to`.
    let first = date_number(from) - (date_number(from) + 3).rem_euclid(7);
    let last = date_number(to) + 6 - (date_number(to) + 3).rem_euclid(7);
    // 1970-01-01 was a Thursday: day + 3 is a multiple of 7 on Mondays.
    let week = ("CAST(day - ((day + 3) % 7) AS BIGINT) AS week", "day - ((day + 3) % 7)");
    let mut sql = route_sums(db.get_database_backend(), Some(week), area, (Some(first), last), as_of);
    sql.push(" ORDER BY 1");
    #[derive(Debug, FromQueryResult)]
    struct Row {
        week: i64,
        cases: i64,
        unknown: i64,
    }
    let rows = Row::find_by_statement(sql.build()).all(db).await?;
    let mut found: std::collections::BTreeMap<i64, (i64, i64)> =
        rows.into_iter().map(|r| (r.week, (r.cases, r.unknown))).collect();
    let mut weeks = Vec::new();
    let mut week = i64::from(first);
    while week <= i64::from(last) {
        let (cases, unknown) = found.remove(&week).unwrap_or((0, 0));
        let day = i32::try_from(week).unwrap_or(i32::MAX);
        weeks.push(RouteWeek { week_start: number_date(day), cases, unknown });
        week += 7;
    }
    Ok(weeks)
}
