//! Cross-tabulations of newly confirmed people, as of a moment, with
//! small-cell suppression.
//!
//! The measure is the `positives` of `statistics::daily`: people whose first
//! positive test (its result as of `as_of`, the test recorded by `as_of`)
//! was sampled in the date range. Each person is described by the chosen
//! dimensions, all as of `as_of`. The statistics ledger keeps one row per
//! person and description, with a delta whenever the description changes
//! (`stat_cases`), so a cross-tabulation is one SQL `GROUP BY` over it; only
//! the grouped cells reach the gateway.
//!
//! Cells counting fewer than `k` people are suppressed, and so many more
//! (complementary suppression) that no suppressed cell can be worked out
//! from the published cells and the totals of any row or column.
//!
//! A table has at most a configured number of cells (before suppression):
//! the grouped statement reads one more than that, and a table over it is
//! refused. Sorting and suppression run on a blocking thread, off the
//! async workers, so that a request's deadline stops waiting for them.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use entity::enums::{CareSetting, CaseType, InfectionRoute, Outcome, Severity, Sex};
use sea_orm::{ActiveEnum, ConnectionTrait, DbBackend, Iterable, QueryResult};

use crate::db::Sql;
use crate::domain::AgeBand;
use crate::error::{AppError, AppResult};
use crate::services::statistics::Area;
use crate::services::statistics::ledger::{date_number, number_date};

/// The smallest number of people a published cell may count, unless the
/// caller asks for more.
pub const DEFAULT_K: i64 = 5;

/// Largest date range of one cross-tabulation, in days.
pub const MAX_DAYS: i64 = 366;

/// What a cross-tabulation can be broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    /// The day (Japan time) the first positive test was sampled.
    Day,
    /// The ISO week (Monday to Sunday, Japan time) of that day.
    Week,
    /// The prefecture of the responsible health centre.
    Prefecture,
    /// The responsible health centre.
    HealthCentre,
    /// Ten-year age band at registration.
    AgeBand,
    /// Sex.
    Sex,
    /// Case type (類型).
    CaseType,
    /// Care setting.
    CareSetting,
    /// Severity of the latest hospital stay.
    Severity,
    /// Outcome (転帰).
    Outcome,
    /// Infection-route category (感染経路).
    Route,
}

/// A request for a cross-tabulation.
#[derive(Debug, Clone)]
pub struct Request {
    pub dimensions: Vec<Dimension>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub area: Area,
    pub sex: Option<Sex>,
    pub case_type: Option<CaseType>,
    pub as_of: DateTime<Utc>,
    pub k: Option<i64>,
    /// A table meant for publication: `as_of` is a publication moment,
    /// the range holds only days (or whole weeks) complete by then, and
    /// suppression also protects against the daily totals published beside
    /// the table.
    pub for_publication: bool,
}

/// One cell: the values of the chosen dimensions (`None` for the others),
/// and its count, `None` when suppressed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cell {
    /// The day, or the Monday of the week.
    pub period: Option<NaiveDate>,
    pub prefecture_code: Option<String>,
    pub health_centre_code: Option<String>,
    pub age_band: Option<AgeBand>,
    pub sex: Option<Sex>,
    pub case_type: Option<CaseType>,
    pub care_setting: Option<CareSetting>,
    /// `None` also when the dimension is chosen: never admitted by `as_of`,
    /// or no condition recorded yet.
    pub severity: Option<Severity>,
    /// `None` also when the dimension is chosen: no outcome by `as_of`.
    pub outcome: Option<Outcome>,
    /// `None` also when the dimension is chosen: no route recorded by
    /// `as_of`.
    pub route: Option<InfectionRoute>,
    pub count: Option<i64>,
    pub suppressed: bool,
}

/// A cross-tabulation.
#[derive(Debug, Clone)]
pub struct CrossTab {
    pub as_of: DateTime<Utc>,
    pub k: i64,
    /// The dimensions, without repetitions, in the order asked for.
    pub dimensions: Vec<Dimension>,
    /// Sorted by the dimensions' values, in the order of `dimensions`.
    pub cells: Vec<Cell>,
}

/// Checks a request: no DAY with WEEK, `to` not before `from`, at most
/// `MAX_DAYS` days, `k` not below `DEFAULT_K`. Returns the dimensions
/// without repetitions and the `k` to apply.
pub fn validate(request: &Request) -> AppResult<(Vec<Dimension>, i64)> {
    let mut dimensions = Vec::new();
    for dimension in &request.dimensions {
        if !dimensions.contains(dimension) {
            dimensions.push(*dimension);
        }
    }
    if dimensions.contains(&Dimension::Day) && dimensions.contains(&Dimension::Week) {
        return Err(AppError::bad_input("dimensions", "choose DAY or WEEK, not both"));
    }
    if request.to < request.from {
        return Err(AppError::bad_input("to", "must not be before from"));
    }
    if (request.to - request.from).num_days() >= MAX_DAYS {
        return Err(AppError::bad_input("to", format!("the range may span at most {MAX_DAYS} days")));
    }
    if request.for_publication {
        let weeks = dimensions.contains(&Dimension::Week);
        if weeks && request.from.weekday() != chrono::Weekday::Mon {
            return Err(AppError::bad_input("from", "a table for publication by WEEK starts on a Monday"));
        }
        if weeks && request.to.weekday() != chrono::Weekday::Sun {
            return Err(AppError::bad_input("to", "a table for publication by WEEK ends on a Sunday"));
        }
        let publication_day = request.as_of.with_timezone(&crate::domain::calendar::local_offset()).date_naive();
        if request.to >= publication_day {
            return Err(AppError::bad_input(
                "to",
                format!(
                    "a table for publication holds only days complete by its publication: at most {}",
                    publication_day.pred_opt().unwrap_or(publication_day)
                ),
            ));
        }
    }
    let k = request.k.unwrap_or(DEFAULT_K);
    if k < DEFAULT_K {
        return Err(AppError::bad_input("k", format!("may only raise the threshold: at least {DEFAULT_K}")));
    }
    Ok((dimensions, k))
}

/// The column of a dimension in the grouped query.
fn column(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Day | Dimension::Week => "period",
        Dimension::Prefecture => "prefecture_code",
        Dimension::HealthCentre => "health_centre_code",
        Dimension::AgeBand => "age_decade",
        Dimension::Sex => "sex",
        Dimension::CaseType => "case_type",
        Dimension::CareSetting => "care_setting",
        Dimension::Severity => "severity",
        Dimension::Outcome => "outcome",
        Dimension::Route => "route",
    }
}

/// The grouped counts: one statement over the ledger of cases, one row per
/// non-empty cell. Areas are grouped by ID and named after grouping.
fn grouped_statement(
    backend: DbBackend,
    request: &Request,
    dimensions: &[Dimension],
    row_limit: usize,
) -> sea_orm::Statement {
    let mut sql = Sql::new(backend);
    let mut inner = Vec::new();
    let mut outer = Vec::new();
    let mut joins = String::new();
    for dimension in dimensions {
        match dimension {
            Dimension::Day => {
                inner.push("CAST(c.day AS BIGINT) AS period".to_owned());
                outer.push("g.period AS period");
            }
            // 1970-01-01 was a Thursday: day + 3 is a multiple of 7 on Mondays.
            Dimension::Week => {
                inner.push("CAST(c.day - ((c.day + 3) % 7) AS BIGINT) AS period".to_owned());
                outer.push("g.period AS period");
            }
            Dimension::Prefecture => {
                inner.push("c.prefecture_id AS prefecture_id".to_owned());
                outer.push("pr.code AS prefecture_code");
                joins.push_str(" JOIN prefectures pr ON pr.id = g.prefecture_id");
            }
            Dimension::HealthCentre => {
                inner.push("c.health_centre_id AS health_centre_id".to_owned());
                outer.push("hc.code AS health_centre_code");
                joins.push_str(" JOIN health_centres hc ON hc.id = g.health_centre_id");
            }
            Dimension::AgeBand => {
                inner.push("CAST(c.age_decade AS BIGINT) AS age_decade".to_owned());
                outer.push("g.age_decade AS age_decade");
            }
            other => {
                let c = column(*other);
                inner.push(format!("c.{c} AS {c}"));
                outer.push(match other {
                    Dimension::Sex => "g.sex AS sex",
                    Dimension::CaseType => "g.case_type AS case_type",
                    Dimension::CareSetting => "g.care_setting AS care_setting",
                    Dimension::Severity => "g.severity AS severity",
                    Dimension::Route => "g.route AS route",
                    _ => "g.outcome AS outcome",
                });
            }
        }
    }
    let grouped: Vec<&str> =
        inner.iter().map(|expression| expression.rsplit(" AS ").next().unwrap_or(expression.as_str())).collect();
    sql.push("SELECT ");
    for column in &outer {
        sql.push(column).push(", ");
    }
    sql.push("g.n AS n FROM (SELECT ");
    for expression in &inner {
        sql.push(expression).push(", ");
    }
    sql.push("CAST(SUM(c.delta) AS BIGINT) AS n FROM stat_cases c WHERE c.recorded_at <= ").bind(request.as_of);
    sql.push(" AND c.day >= ").bind(date_number(request.from)).push(" AND c.day <= ").bind(date_number(request.to));
    if let Some(sex) = request.sex {
        sql.push(" AND c.sex = ").bind(sex.to_value());
    }
    if let Some(case_type) = request.case_type {
        sql.push(" AND c.case_type = ").bind(case_type.to_value());
    }
    match request.area {
        Area::Nation => {}
        Area::Prefecture(prefecture) => {
            sql.push(" AND c.prefecture_id = ").bind(prefecture);
        }
        Area::HealthCentre(centre) => {
            sql.push(" AND c.health_centre_id = ").bind(centre);
        }
    }
    if !grouped.is_empty() {
        sql.push(" GROUP BY ").push(&grouped.join(", "));
    }
    sql.push(" HAVING SUM(c.delta) <> 0) g").push(&joins);
    sql.push(&format!(" LIMIT {}", row_limit.min(i64::MAX as usize)));
    sql.build()
}

/// A dimension's value, ordered as cells are sorted: days and codes in
/// order, enumeration values in the order the schema lists them, "none"
/// (no severity, no outcome) first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Part {
    Date(NaiveDate),
    Code(String),
    Rank(usize),
}

fn rank<E: Iterable + PartialEq>(value: &E) -> Part {
    Part::Rank(E::iter().position(|v| v == *value).unwrap_or(usize::MAX))
}

fn age_band(decade: i64) -> AgeBand {
    match decade {
        ..=0 => AgeBand::Under10,
        1 => AgeBand::Age10s,
        2 => AgeBand::Age20s,
        3 => AgeBand::Age30s,
        4 => AgeBand::Age40s,
        5 => AgeBand::Age50s,
        6 => AgeBand::Age60s,
        7 => AgeBand::Age70s,
        8 => AgeBand::Age80s,
        _ => AgeBand::Age90AndOver,
    }
}

fn stored<E: ActiveEnum<Value = String>>(row: &QueryResult, column: &str) -> AppResult<Option<E>> {
    let text: Option<String> = row.try_get("", column)?;
    text.map(|t| E::try_from_value(&t).map_err(AppError::from)).transpose()
}

/// A grouped row: its cell (count not set yet), its sort key, its count.
struct Row {
    cell: Cell,
    key: Vec<Option<Part>>,
    n: i64,
}

fn read_row(row: &QueryResult, dimensions: &[Dimension]) -> AppResult<Row> {
    let mut cell = Cell::default();
    let mut key = Vec::with_capacity(dimensions.len());
    for dimension in dimensions {
        let c = column(*dimension);
        let part = match dimension {
            Dimension::Day | Dimension::Week => {
                let day: Option<i64> = row.try_get("", c)?;
                cell.period = day.and_then(|d| i32::try_from(d).ok()).map(number_date);
                cell.period.map(Part::Date)
            }
            Dimension::Prefecture => {
                cell.prefecture_code = row.try_get("", c)?;
                cell.prefecture_code.clone().map(Part::Code)
            }
            Dimension::HealthCentre => {
                cell.health_centre_code = row.try_get("", c)?;
                cell.health_centre_code.clone().map(Part::Code)
            }
            Dimension::AgeBand => {
                let decade: Option<i64> = row.try_get("", c)?;
                cell.age_band = decade.map(age_band);
                decade.map(|d| Part::Rank(usize::try_from(d.clamp(0, 9)).unwrap_or(0)))
            }
            Dimension::Sex => {
                cell.sex = stored(row, c)?;
                cell.sex.as_ref().map(rank)
            }
            Dimension::CaseType => {
                cell.case_type = stored(row, c)?;
                cell.case_type.as_ref().map(rank)
            }
            Dimension::CareSetting => {
                cell.care_setting = stored(row, c)?;
                cell.care_setting.as_ref().map(rank)
            }
            Dimension::Severity => {
                cell.severity = stored(row, c)?;
                cell.severity.as_ref().map(rank)
            }
            Dimension::Outcome => {
                cell.outcome = stored(row, c)?;
                cell.outcome.as_ref().map(rank)
            }
            Dimension::Route => {
                cell.route = stored(row, c)?;
                cell.route.as_ref().map(rank)
            }
        };
        key.push(part);
    }
    let n: i64 = row.try_get("", "n")?;
    Ok(Row { cell, key, n })
}

/// Which cells to suppress, given their counts (cells in sort order, keyed
/// by their dimension values): first every cell under `k` (primary), then,
/// for every dimension and every line of cells agreeing on all the other
/// dimensions, if exactly one cell of the line is suppressed, the smallest
/// unsuppressed cell of the line too (the first in sort order on a tie),
/// until no line has exactly one suppressed cell. A line with two or more
/// suppressed cells gives only their sum away from the line's total, never
/// one of them.
pub fn suppress<K: Ord + Clone>(keys: &[Vec<K>], counts: &[i64], k: i64) -> Vec<bool> {
    suppress_with_published(keys, counts, k, None)
}

/// As [`suppress`], and also for the lines whose totals are published
/// elsewhere: the cells agreeing on the dimensions of `published` (their
/// positions in the key) sum to a published figure.
pub fn suppress_with_published<K: Ord + Clone>(
    keys: &[Vec<K>],
    counts: &[i64],
    k: i64,
    published: Option<&[usize]>,
) -> Vec<bool> {
    let mut suppressed: Vec<bool> = counts.iter().map(|n| *n < k).collect();
    let dimensions = keys.first().map_or(0, Vec::len);
    // Each way of drawing lines: the positions a line's cells agree on.
    let mut projections: Vec<Vec<usize>> =
        (0..dimensions).map(|d| (0..dimensions).filter(|other| *other != d).collect()).collect();
    if let Some(published) = published {
        projections.push(published.to_vec());
    }
    let mut changed = true;
    while changed {
        changed = false;
        for projection in &projections {
            for cells in lines(keys, projection).values() {
                if cells.iter().filter(|i| suppressed[**i]).count() != 1 {
                    continue;
                }
                // Cells are in sort order, and `min_by_key` keeps the first
                // of equal counts.
                if let Some(smallest) = cells.iter().copied().filter(|i| !suppressed[*i]).min_by_key(|i| counts[*i]) {
                    suppressed[smallest] = true;
                    changed = true;
                }
            }
        }
    }
    suppressed
}

/// The cells of each line: those agreeing on the positions of `projection`.
fn lines<K: Ord + Clone>(keys: &[Vec<K>], projection: &[usize]) -> BTreeMap<Vec<K>, Vec<usize>> {
    let mut lines: BTreeMap<Vec<K>, Vec<usize>> = BTreeMap::new();
    for (i, key) in keys.iter().enumerate() {
        let line = projection.iter().filter_map(|p| key.get(*p).cloned()).collect();
        lines.entry(line).or_default().push(i);
    }
    lines
}

/// The cross-tabulation of a request, of at most `max_cells` cells (else
/// refused with `QUERY_TOO_COMPLEX`, limit `maxCrossTabCells`); `validate`
/// is applied first.
pub async fn cross_tab(db: &impl ConnectionTrait, request: &Request, max_cells: usize) -> AppResult<CrossTab> {
    let (dimensions, k) = validate(request)?;
    let statement = grouped_statement(db.get_database_backend(), request, &dimensions, max_cells.saturating_add(1));
    let grouped = db.query_all_raw(statement).await?;
    if grouped.len() > max_cells {
        return Err(AppError::TooComplex {
            limit: "maxCrossTabCells",
            message: format!(
                "the table would have more than {max_cells} cells (maxCrossTabCells): choose fewer dimensions, \
                 WEEK instead of DAY, a shorter range or a filter"
            ),
        });
    }
    let as_of = request.as_of;
    // Published beside a table for publication: the daily totals per day
    // and prefecture (of the whole area when the table has no prefecture
    // dimension, of the whole range when it has no period), unless a
    // filter makes the table's lines differ from them.
    let published = (request.for_publication && request.sex.is_none() && request.case_type.is_none()).then(|| {
        dimensions
            .iter()
            .enumerate()
            .filter(|(_, d)| matches!(d, Dimension::Day | Dimension::Week | Dimension::Prefecture))
            .map(|(position, _)| position)
            .collect::<Vec<usize>>()
    });
    // Dropped by a request past its deadline, the task still ends on its
    // own (bounded by `max_cells`); nothing waits for it.
    tokio::task::spawn_blocking(move || tabulate(&grouped, dimensions, k, as_of, published))
        .await
        .map_err(|error| AppError::Internal(anyhow::anyhow!("the cross-tabulation task failed: {error}")))?
}

/// Reads, sorts and suppresses the grouped cells.
fn tabulate(
    grouped: &[QueryResult],
    dimensions: Vec<Dimension>,
    k: i64,
    as_of: DateTime<Utc>,
    published: Option<Vec<usize>>,
) -> AppResult<CrossTab> {
    let mut rows = grouped.iter().map(|row| read_row(row, &dimensions)).collect::<AppResult<Vec<Row>>>()?;
    rows.retain(|row| row.n > 0);
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<Vec<Option<Part>>> = rows.iter().map(|r| r.key.clone()).collect();
    let counts: Vec<i64> = rows.iter().map(|r| r.n).collect();
    let suppressed = suppress_with_published(&keys, &counts, k, published.as_deref());
    // A published line of one suppressed cell: its count is the published
    // total, so what else the cell says (its age band, sex, …) would be said
    // of every person counted there. Its other dimensions are withheld.
    let mut withheld = vec![false; rows.len()];
    if let Some(published) = &published {
        for cells in lines(&keys, published).values() {
            if let [only] = cells.as_slice()
                && suppressed[*only]
                && published.len() < dimensions.len()
            {
                withheld[*only] = true;
            }
        }
    }
    let cells = rows
        .into_iter()
        .zip(suppressed)
        .zip(withheld)
        .map(|((row, suppressed), withheld)| {
            let cell =
                if withheld { keep_only(row.cell, &dimensions, published.as_deref().unwrap_or(&[])) } else { row.cell };
            Cell { count: (!suppressed).then_some(row.n), suppressed, ..cell }
        })
        .collect();
    Ok(CrossTab { as_of, k, dimensions, cells })
}

/// `cell` with only the dimensions at `positions` kept, the others `None`.
fn keep_only(cell: Cell, dimensions: &[Dimension], positions: &[usize]) -> Cell {
    let kept = |dimension: Dimension| positions.iter().any(|p| dimensions.get(*p) == Some(&dimension));
    Cell {
        period: cell.period.filter(|_| kept(Dimension::Day) || kept(Dimension::Week)),
        prefecture_code: cell.prefecture_code.filter(|_| kept(Dimension::Prefecture)),
        health_centre_code: None,
        age_band: None,
        sex: None,
        case_type: None,
        care_setting: None,
        severity: None,
        route: None,
        outcome: None,
        ..cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_line_takes_a_second_cell_with_a_lone_suppressed_one() {
        // Day × sex × age band: on day 1, six men of one band and two women
        // of another. No row or column of the table pairs the women's cell
        // with another, but the day's total is published, so the men's
        // cell goes too.
        let keys = vec![vec![0, 0, 9], vec![1, 0, 4], vec![1, 1, 3], vec![2, 0, 5], vec![2, 1, 6]];
        let counts = [1, 6, 2, 20, 30];
        assert_eq!(suppress(&keys, &counts, 5), vec![true, false, true, false, false]);
        assert_eq!(suppress_with_published(&keys, &counts, 5, Some(&[0])), vec![true, true, true, false, false]);
    }

    #[test]
    fn one_small_cell_takes_the_smallest_other_cell_with_it() {
        let keys = vec![vec![0], vec![1], vec![2]];
        assert_eq!(suppress(&keys, &[3, 7, 6], 5), vec![true, false, true]);
        // Ties go to the first in sort order.
        assert_eq!(suppress(&keys, &[3, 6, 6], 5), vec![true, true, false]);
        // Two small cells protect each other.
        assert_eq!(suppress(&keys, &[3, 2, 6], 5), vec![true, true, false]);
    }

    #[test]
    fn complementary_suppression_runs_through_rows_and_columns() {
        // Rows a, b; columns x, y. (a, x) is small.
        let keys = vec![vec!["a", "x"], vec!["a", "y"], vec!["b", "x"], vec!["b", "y"]];
        assert_eq!(suppress(&keys, &[2, 10, 8, 9], 5), vec![true, true, true, true]);
        // Once both rows and both columns hold two suppressed cells, nothing
        // more: a third row stays published.
        let keys = vec![vec!["a", "x"], vec!["a", "y"], vec!["b", "x"], vec!["b", "y"], vec!["c", "x"], vec!["c", "y"]];
        assert_eq!(suppress(&keys, &[2, 10, 6, 9, 20, 30], 5), vec![true, true, true, true, false, false]);
    }

    #[test]
    fn a_lone_small_cell_is_suppressed_without_company() {
        let keys: Vec<Vec<u8>> = vec![vec![]];
        assert_eq!(suppress(&keys, &[3], 5), vec![true]);
    }
}
