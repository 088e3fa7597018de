//! The outbreak-stage indicators per prefecture (and nationally), and the
//! beds and rooms prefectures secure, which some of them are made of.
//!
//! Each indicator is computed for a day `D` (Japan time) as the records
//! stood at `as_of`, from the same ledger as every other figure:
//!
//! - bed occupancy: open cases in hospital at the end of `D` over the beds
//!   secured for `D` (the prefecture's latest report for `D` or an earlier
//!   day, recorded by `as_of`); severe-bed occupancy likewise;
//! - people under care per 100,000: positives without an outcome at the
//!   end of `D`, wherever they are, over the census population;
//! - positivity: new positives over tests sampled in the week ending on
//!   `D` (`D`−6 to `D`);
//! - new cases per 100,000 in the week ending on `D`;
//! - the week-on-week ratio: new cases of that week over the week before;
//! - the unknown-route share: of the week's new cases, those whose
//!   infection route was recorded as unknown.
//!
//! The thresholds are the advisory subcommittee's of August 2020 for
//! stages III and IV.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult};

use super::{Area, CareStatus, care_status_on, daily, ledger};
use crate::db::Sql;
use crate::domain::population;
use crate::error::{AppError, AppResult};

/// What an area has secured for a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capacity {
    pub beds: i64,
    pub severe_beds: i64,
    pub accommodation_rooms: i64,
    /// How many of the area's prefectures have reported (for `D` or before).
    pub prefectures_reporting: i64,
}

/// The capacity of the prefectures of `area` on `day`: each prefecture's
/// latest report for `day` or an earlier day, as recorded by `as_of`,
/// summed. One statement.
pub async fn capacity(
    db: &impl ConnectionTrait,
    area: Area,
    day: NaiveDate,
    as_of: DateTime<Utc>,
) -> AppResult<Capacity> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(
        "SELECT CAST(COALESCE(SUM(beds), 0) AS BIGINT) AS beds, \
         CAST(COALESCE(SUM(severe_beds), 0) AS BIGINT) AS severe_beds, \
         CAST(COALESCE(SUM(accommodation_rooms), 0) AS BIGINT) AS accommodation_rooms, \
         CAST(COUNT(*) AS BIGINT) AS prefectures_reporting FROM prefecture_capacity c WHERE c.id = (\
         SELECT l.id FROM prefecture_capacity l WHERE l.prefecture_id = c.prefecture_id AND l.day <= ",
    );
    sql.bind(day).push(" AND l.recorded_at <= ").bind(as_of).push(" ORDER BY l.day DESC, l.id DESC LIMIT 1)");
    match area {
        Area::Nation => {}
        Area::Prefecture(id) => {
            sql.push(" AND c.prefecture_id = ").bind(id);
        }
        Area::HealthCentre(_) => return Err(AppError::Internal(anyhow::anyhow!("capacity is kept per prefecture"))),
    }
    #[derive(FromQueryResult)]
    struct Row {
        beds: i64,
        severe_beds: i64,
        accommodation_rooms: i64,
        prefectures_reporting: i64,
    }
    let row = Row::find_by_statement(sql.build()).one(db).await?;
    Ok(row.map_or_else(Capacity::default, |r| Capacity {
        beds: r.beds,
        severe_beds: r.severe_beds,
        accommodation_rooms: r.accommodation_rooms,
        prefectures_reporting: r.prefectures_reporting,
    }))
}

/// New cases whose first positive sample falls from `first` to `last`
/// (inclusive), and those of them with an unknown route, as of `as_of`.
pub async fn route_counts(
    db: &impl ConnectionTrait,
    area: Area,
    first: NaiveDate,
    last: NaiveDate,
    as_of: DateTime<Utc>,
) -> AppResult<(i64, i64)> {
    let days = (Some(ledger::date_number(first)), ledger::date_number(last));
    let sql = super::route_sums(db.get_database_backend(), None, area, days, as_of);
    #[derive(FromQueryResult)]
    struct Row {
        cases: i64,
        unknown: i64,
    }
    let row = Row::find_by_statement(sql.build()).one(db).await?;
    Ok(row.map_or((0, 0), |r| (r.cases, r.unknown)))
}

/// An indicator of the stage of the outbreak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Indicator {
    BedOccupancy,
    UnderCarePer100k,
    Positivity,
    NewCasesPer100k,
    UnknownRouteShare,
}

impl Indicator {
    /// The thresholds of stage III and stage IV (a share as a fraction).
    pub fn thresholds(self) -> (f64, f64) {
        match self {
            Indicator::BedOccupancy => (0.20, 0.50),
            Indicator::UnderCarePer100k => (15.0, 25.0),
            Indicator::Positivity => (0.10, 0.10),
            Indicator::NewCasesPer100k => (15.0, 25.0),
            Indicator::UnknownRouteShare => (0.50, 0.50),
        }
    }
}

/// The indicators of an area for a day.
#[derive(Debug, Clone, PartialEq)]
pub struct StageIndicators {
    pub day: NaiveDate,
    /// The area's prefecture (`None` for the nation).
    pub prefecture_id: Option<i32>,
    pub population: i64,
    pub care: CareStatus,
    pub capacity: Capacity,
    /// Week ending on `day`, and the week before.
    pub tests_week: i64,
    pub cases_week: i64,
    pub cases_week_before: i64,
    pub unknown_route_week: i64,
    pub bed_occupancy: Option<f64>,
    pub severe_bed_occupancy: Option<f64>,
    pub under_care_per_100k: f64,
    pub positivity: Option<f64>,
    pub new_cases_per_100k: f64,
    pub week_on_week: Option<f64>,
    pub unknown_route_share: Option<f64>,
}

impl StageIndicators {
    /// The indicators at or above their stage III and stage IV thresholds.
    pub fn reached(&self) -> (Vec<Indicator>, Vec<Indicator>) {
        let values = [
            (Indicator::BedOccupancy, self.bed_occupancy),
            (Indicator::UnderCarePer100k, Some(self.under_care_per_100k)),
            (Indicator::Positivity, self.positivity),
            (Indicator::NewCasesPer100k, Some(self.new_cases_per_100k)),
            (Indicator::UnknownRouteShare, self.unknown_route_share),
        ];
        let at = |stage: fn((f64, f64)) -> f64| {
            values
                .iter()
                .filter(|(indicator, value)| value.is_some_and(|v| v >= stage(indicator.thresholds())))
                .map(|(indicator, _)| *indicator)
                .collect()
        };
        (at(|t| t.0), at(|t| t.1))
    }
}

fn ratio(numerator: i64, denominator: i64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// The stage indicators of `area` (the nation or a prefecture) for `day`,
/// as the records stood at `as_of`.
pub async fn stage_indicators(
    db: &impl ConnectionTrait,
    area: Area,
    day: NaiveDate,
    as_of: DateTime<Utc>,
) -> AppResult<StageIndicators> {
    let (prefecture_id, population) = match area {
        Area::Nation => (None, population::national()),
        Area::Prefecture(id) => (
            Some(id),
            population::of_prefecture(id)
                .ok_or_else(|| AppError::bad_input("prefectureCode", "no population is known for this prefecture"))?,
        ),
        Area::HealthCentre(_) => {
            return Err(AppError::forbidden("the stage indicators are computed per prefecture and for the nation"));
        }
    };
    let week_start = day - chrono::Duration::days(6);
    let days = daily(db, area, day - chrono::Duration::days(13), day, as_of).await?;
    let (before, week) = days.split_at(7.min(days.len()));
    let tests_week: i64 = week.iter().map(|d| d.tests).sum();
    let cases_week: i64 = week.iter().map(|d| d.positives).sum();
    let cases_week_before: i64 = before.iter().map(|d| d.positives).sum();
    let care = care_status_on(db, area, ledger::date_number(day), as_of).await?;
    let capacity = capacity(db, area, day, as_of).await?;
    let (route_cases, unknown_route_week) = route_counts(db, area, week_start, day, as_of).await?;
    let per_100k = |n: i64| n as f64 * 100_000.0 / population as f64;
    Ok(StageIndicators {
        day,
        prefecture_id,
        population,
        care,
        capacity,
        tests_week,
        cases_week,
        cases_week_before,
        unknown_route_week,
        bed_occupancy: ratio(care.hospital, capacity.beds),
        severe_bed_occupancy: ratio(care.severe, capacity.severe_beds),
        under_care_per_100k: per_100k(care.requiring_care),
        positivity: ratio(cases_week, tests_week),
        new_cases_per_100k: per_100k(cases_week),
        week_on_week: ratio(cases_week, cases_week_before),
        unknown_route_share: ratio(unknown_route_week, route_cases),
    })
}

/// The open-data files of the indicators, in the MHLW wide layout: a row
/// per period, a column for the nation (`ALL`) and for each prefecture in
/// JIS order.
pub mod files {
    use std::collections::HashMap;
    use std::fmt::Write;

    use chrono::{DateTime, NaiveDate, Utc};
    use sea_orm::{ConnectionTrait, FromQueryResult};

    use super::super::ledger::{self, Metric};
    use super::super::prefecture_changes;
    use crate::domain::population;
    use crate::error::AppResult;

    /// Columns: the nation, then the 47 prefectures.
    const AREAS: usize = 48;

    /// A value per area (index 0 the nation, `p` the prefecture `p`).
    type Row = [i64; AREAS];

    fn header(out: &mut String, first: &str) {
        out.push_str(first);
        out.push_str(",ALL");
        for (name, _) in crate::domain::reference::PREFECTURES {
            out.push(',');
            out.push_str(name);
        }
        out.push('\n');
    }

    fn area_index(prefecture: i32) -> Option<usize> {
        usize::try_from(prefecture).ok().filter(|p| (1..AREAS).contains(p))
    }

    /// Adds `n` to the prefecture's column and to the nation's.
    fn add(row: &mut Row, prefecture: i32, n: i64) {
        if let Some(i) = area_index(prefecture) {
            row[i] += n;
            row[0] += n;
        }
    }

    fn population_of(area: usize) -> i64 {
        if area == 0 {
            population::national()
        } else {
            population::of_prefecture(i32::try_from(area).unwrap_or(0)).unwrap_or(0)
        }
    }

    fn write_share(out: &mut String, numerator: i64, denominator: i64) {
        if denominator > 0 {
            let _ = write!(out, ",{:.4}", numerator as f64 / denominator as f64);
        } else {
            out.push(',');
        }
    }

    /// New cases (with, and without, a route recorded as unknown) per day
    /// and prefecture, as of `as_of`: day → (cases, unknown).
    async fn route_days(
        db: &impl ConnectionTrait,
        last: i32,
        as_of: DateTime<Utc>,
    ) -> AppResult<HashMap<i32, (Row, Row)>> {
        let group =
            ("CAST(day AS BIGINT) AS day, CAST(prefecture_id AS BIGINT) AS prefecture_id", "day, prefecture_id");
        let sql =
            super::super::route_sums(db.get_database_backend(), Some(group), super::Area::Nation, (None, last), as_of);
        #[derive(FromQueryResult)]
        struct Found {
            day: i64,
            prefecture_id: i64,
            cases: i64,
            unknown: i64,
        }
        let mut days: HashMap<i32, (Row, Row)> = HashMap::new();
        for found in Found::find_by_statement(sql.build()).all(db).await? {
            let (Ok(day), Ok(prefecture)) = (i32::try_from(found.day), i32::try_from(found.prefecture_id)) else {
                continue;
            };
            let entry = days.entry(day).or_insert(([0; AREAS], [0; AREAS]));
            add(&mut entry.0, prefecture, found.cases);
            add(&mut entry.1, prefecture, found.unknown);
        }
        Ok(days)
    }

    /// `unknown_route_share_weekly.csv`: per week (Monday to Sunday, the
    /// row's date its Monday, weeks complete before `last_day`), the share
    /// of the week's new cases whose infection route was recorded as
    /// unknown; empty where the week had no case.
    pub async fn unknown_route_weekly(db: &impl ConnectionTrait, as_of: DateTime<Utc>) -> AppResult<String> {
        let publication_day = ledger::day_number(as_of);
        let days = route_days(db, publication_day, as_of).await?;
        let mut out = String::new();
        header(&mut out, "Week");
        let Some(first) = days.keys().min().copied() else { return Ok(out) };
        // 1970-01-01 was a Thursday: day + 3 is a multiple of 7 on Mondays.
        let mut monday = first - (first + 3).rem_euclid(7);
        while monday + 6 < publication_day {
            let (mut cases, mut unknown) = ([0; AREAS], [0; AREAS]);
            for day in monday..monday + 7 {
                if let Some((c, u)) = days.get(&day) {
                    for area in 0..AREAS {
                        cases[area] += c[area];
                        unknown[area] += u[area];
                    }
                }
            }
            let _ = write!(out, "{}", ledger::number_date(monday).format("%Y/%-m/%-d"));
            for area in 0..AREAS {
                write_share(&mut out, unknown[area], cases[area]);
            }
            out.push('\n');
            monday += 7;
        }
        Ok(out)
    }

    /// Each prefecture's latest capacity report for each day from `first`
    /// to `last` (day numbers), as recorded by `as_of`: day → beds.
    async fn beds_by_day(
        db: &impl ConnectionTrait,
        first: i32,
        last: i32,
        as_of: DateTime<Utc>,
    ) -> AppResult<Vec<(i32, Row, [bool; AREAS])>> {
        let mut sql = crate::db::Sql::new(db.get_database_backend());
        sql.push("SELECT CAST(prefecture_id AS BIGINT) AS prefecture_id, day, beds FROM prefecture_capacity ")
            .push("WHERE recorded_at <= ")
            .bind(as_of)
            .push(" ORDER BY day, id");
        #[derive(FromQueryResult)]
        struct Report {
            prefecture_id: i64,
            day: NaiveDate,
            beds: i64,
        }
        let reports = Report::find_by_statement(sql.build()).all(db).await?;
        let mut current: Row = [0; AREAS];
        let mut reported = [false; AREAS];
        let mut reports = reports.into_iter().peekable();
        let mut out = Vec::new();
        for day in first..=last {
            while let Some(report) = reports.next_if(|r| ledger::date_number(r.day) <= day) {
                if let Some(i) = usize::try_from(report.prefecture_id).ok().filter(|p| (1..AREAS).contains(p)) {
                    current[i] = report.beds;
                    reported[i] = true;
                }
            }
            let mut row = current;
            row[0] = current[1..].iter().sum();
            let mut any = reported;
            any[0] = reported[1..].iter().any(|r| *r);
            out.push((day, row, any));
        }
        Ok(out)
    }

    /// `stage_indicators_daily.csv`: per day (before the publication day)
    /// and indicator, each area's value (`Date,Indicator,ALL,Hokkaido,…`):
    /// bed occupancy, people under care per 100,000, positivity over the
    /// week ending on the day, new cases per 100,000 over that week, the
    /// week-on-week ratio, and the unknown-route share of the week; empty
    /// where the denominator is zero. From the first day with a new case.
    pub async fn stage_indicators_daily(db: &impl ConnectionTrait, as_of: DateTime<Utc>) -> AppResult<String> {
        const METRICS: [Metric; 4] = [Metric::Tests, Metric::Positives, Metric::RequiringCare, Metric::Hospital];
        let publication_day = ledger::day_number(as_of);
        let last = publication_day - 1;
        let changes = prefecture_changes(db, &METRICS, last, as_of).await?;
        let routes = route_days(db, last, as_of).await?;
        let mut out = String::new();
        header(&mut out, "Date,Indicator");
        let Some(first) = changes.iter().filter(|c| c.0 == Metric::Positives).map(|c| c.2).min() else {
            return Ok(out);
        };
        let mut by_day: HashMap<(Metric, i32), Row> = HashMap::new();
        let mut opening: HashMap<Metric, Row> = HashMap::new();
        for (metric, prefecture, day, n) in changes {
            let row = if day < first {
                opening.entry(metric).or_insert([0; AREAS])
            } else {
                by_day.entry((metric, day)).or_insert([0; AREAS])
            };
            add(row, prefecture, n);
        }
        let beds = beds_by_day(db, first, last.max(first), as_of).await?;
        let zero: Row = [0; AREAS];
        let day_row = |metric: Metric, day: i32| by_day.get(&(metric, day)).copied().unwrap_or(zero);
        let week = |metric: Metric, end: i32| {
            let mut sum = [0; AREAS];
            for day in end - 6..=end {
                let row = day_row(metric, day);
                for area in 0..AREAS {
                    sum[area] += row[area];
                }
            }
            sum
        };
        let route_week = |end: i32| {
            let (mut cases, mut unknown) = ([0; AREAS], [0; AREAS]);
            for day in end - 6..=end {
                if let Some((c, u)) = routes.get(&day) {
                    for area in 0..AREAS {
                        cases[area] += c[area];
                        unknown[area] += u[area];
                    }
                }
            }
            (cases, unknown)
        };
        let mut under_care = opening.get(&Metric::RequiringCare).copied().unwrap_or(zero);
        let mut hospital = opening.get(&Metric::Hospital).copied().unwrap_or(zero);
        for (day, beds, reported) in beds.into_iter().filter(|(day, _, _)| *day <= last) {
            let today_care = day_row(Metric::RequiringCare, day);
            let today_hospital = day_row(Metric::Hospital, day);
            for area in 0..AREAS {
                under_care[area] += today_care[area];
                hospital[area] += today_hospital[area];
            }
            let tests = week(Metric::Tests, day);
            let cases = week(Metric::Positives, day);
            let before = week(Metric::Positives, day - 7);
            let (route_cases, unknown) = route_week(day);
            let date = ledger::number_date(day).format("%Y/%-m/%-d").to_string();
            let mut line = |name: &str, value: &dyn Fn(usize) -> Option<f64>, decimals: usize| {
                let _ = write!(out, "{date},{name}");
                for area in 0..AREAS {
                    match value(area) {
                        Some(v) => {
                            let _ = write!(out, ",{v:.decimals$}");
                        }
                        None => out.push(','),
                    }
                }
                out.push('\n');
            };
            let share = |n: i64, d: i64| (d > 0).then(|| n as f64 / d as f64);
            let per_100k = |n: i64, area: usize| {
                let population = population_of(area);
                (population > 0).then(|| n as f64 * 100_000.0 / population as f64)
            };
            line("BED_OCCUPANCY", &|a| if reported[a] { share(hospital[a], beds[a]) } else { None }, 4);
            line("UNDER_CARE_PER_100K", &|a| per_100k(under_care[a], a), 2);
            line("POSITIVITY", &|a| share(cases[a], tests[a]), 4);
            line("NEW_CASES_PER_100K", &|a| per_100k(cases[a], a), 2);
            line("WEEK_ON_WEEK_RATIO", &|a| share(cases[a], before[a]), 4);
            line("UNKNOWN_ROUTE_SHARE", &|a| share(unknown[a], route_cases[a]), 4);
        }
        Ok(out)
    }
}
