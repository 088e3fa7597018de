//! `statistics { crossTab }`: newly confirmed people broken down by chosen
//! dimensions, as of a moment, with small cells suppressed. The field
//! itself is declared on `Statistics` and resolved here.

use async_graphql::{Context, Enum, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{signed_in, state};
use super::enums::AgeBand;
use super::enums::{CareSetting, CaseType, Outcome, Severity, Sex};
use super::scalars::Date;
use crate::error::AppError;
use crate::services::crosstab::{self, Dimension};
use crate::services::statistics;

/// What a cross-tabulation is broken down by. Every value is taken as of
/// the table's `asOf` moment.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::services::crosstab::Dimension")]
pub enum CrossTabDimension {
    /// The day (Japan time) the person's first positive test was sampled.
    Day,
    /// The ISO week (Monday to Sunday, Japan time) of the day the person's
    /// first positive test was sampled; the cell's `period` is its Monday.
    /// Not together with `DAY`.
    Week,
    /// The prefecture of the health centre responsible for the person as of
    /// `asOf`.
    Prefecture,
    /// The health centre responsible for the person as of `asOf`.
    HealthCentre,
    /// Ten-year age band at registration, from the date of birth (as the
    /// patient's `ageBand`).
    AgeBand,
    /// Sex as entered on the notification form.
    Sex,
    /// Type of the person diagnosed (類型).
    CaseType,
    /// Care setting as of `asOf`: the latest decision recorded by then,
    /// `UNDECIDED` when none was.
    CareSetting,
    /// Severity as of `asOf`: the latest condition recorded by then of the
    /// person's latest hospital stay recorded by then; null when never
    /// admitted by then.
    Severity,
    /// Outcome (転帰) as of `asOf`: null when none was recorded by then.
    Outcome,
    /// Infection-route category (感染経路) as of `asOf`: null when none was
    /// recorded by then; `UNKNOWN` when the investigation could not find
    /// one.
    Route,
}

/// A cross-tabulation of newly confirmed people (新規陽性者数), as the data
/// stood at `asOf`, with small cells suppressed.
#[derive(SimpleObject)]
pub struct CrossTab {
    /// The moment the table is computed as of.
    pub as_of: DateTime<Utc>,
    /// The suppression threshold applied: cells counting fewer people are
    /// not published.
    pub k: i32,
    /// The dimensions the table is broken down by, without repetitions, in
    /// the order asked for (the order cells are sorted in).
    pub dimensions: Vec<CrossTabDimension>,
    /// The cells counting at least one person (cells of no one are left
    /// out), sorted by their values of `dimensions`, in that order: days in
    /// order, codes in order, enumeration values in the order the schema
    /// lists them, null (not admitted, no outcome) first.
    pub cells: Vec<CrossTabCell>,
}

/// One cell of a cross-tabulation: the people who share these values of
/// the table's dimensions. A value is null when its dimension is not one
/// of the table's (and, for `severity` and `outcome`, when it is but the
/// person had none).
#[derive(SimpleObject)]
pub struct CrossTabCell {
    /// `DAY`: the day; `WEEK`: the Monday of the ISO week (Japan time) of the
    /// first positive test's sampling.
    pub period: Option<Date>,
    /// `PREFECTURE`: JIS code of the prefecture of the responsible health
    /// centre as of `asOf`.
    pub prefecture_code: Option<String>,
    /// `HEALTH_CENTRE`: code of the responsible health centre as of `asOf`.
    pub health_centre_code: Option<String>,
    /// `AGE_BAND`: ten-year age band at registration.
    pub age_band: Option<AgeBand>,
    /// `SEX`: sex.
    pub sex: Option<Sex>,
    /// `CASE_TYPE`: type of the person diagnosed.
    pub case_type: Option<CaseType>,
    /// `CARE_SETTING`: care setting as of `asOf` (`UNDECIDED` when no
    /// decision was recorded by then).
    pub care_setting: Option<CareSetting>,
    /// `SEVERITY`: latest recorded severity of the latest hospital stay as
    /// of `asOf`; null also when the person had not been admitted.
    pub severity: Option<Severity>,
    /// `OUTCOME`: outcome as of `asOf`; null also when none was recorded.
    pub outcome: Option<Outcome>,
    /// `ROUTE`: infection-route category as of `asOf`; null also when
    /// none was recorded.
    pub route: Option<super::enums::InfectionRoute>,
    /// The number of people in the cell; null when suppressed.
    pub count: Option<i64>,
    /// Whether the count is withheld: it is under `k`, or it had to be
    /// withheld so that another withheld count cannot be worked out from
    /// the totals of a row or column.
    pub suppressed: bool,
}

/// The arguments of `statistics { crossTab }`.
#[derive(Debug)]
pub struct Arguments {
    pub dimensions: Vec<CrossTabDimension>,
    pub from: Date,
    pub to: Date,
    pub prefecture_code: Option<String>,
    pub sex: Option<Sex>,
    pub case_type: Option<CaseType>,
    pub as_of: Option<DateTime<Utc>>,
    pub k: Option<i32>,
    pub for_publication: bool,
}

/// Resolves `statistics { crossTab }`.
pub async fn resolve(ctx: &Context<'_>, arguments: Arguments) -> Result<CrossTab> {
    let principal = signed_in(ctx)?;
    let state = state(ctx);
    let mut as_of = statistics::as_of(state, arguments.as_of)?;
    if arguments.for_publication {
        as_of = crate::services::publication::at_or_before(as_of, state.config.publication_time);
    }
    let prefecture = prefecture(ctx, arguments.prefecture_code.as_deref()).await?.map(|p| p.0);
    let area = statistics::area(principal, prefecture)?;
    let request = crosstab::Request {
        dimensions: arguments.dimensions.into_iter().map(Dimension::from).collect(),
        from: arguments.from.0,
        to: arguments.to.0,
        area,
        sex: arguments.sex.map(Into::into),
        case_type: arguments.case_type.map(Into::into),
        as_of,
        k: arguments.k.map(i64::from),
        for_publication: arguments.for_publication,
    };
    let cells = state.config.max_crosstab_cells;
    let request = &request;
    let table = state
        .replicas
        .as_of(&state.db, as_of, |db| async move { crosstab::cross_tab(&db, request, cells).await })
        .await?;
    Ok(CrossTab {
        as_of: table.as_of,
        k: i32::try_from(table.k).unwrap_or(i32::MAX),
        dimensions: table.dimensions.into_iter().map(CrossTabDimension::from).collect(),
        cells: table
            .cells
            .into_iter()
            .map(|cell| CrossTabCell {
                period: cell.period.map(Date),
                prefecture_code: cell.prefecture_code,
                health_centre_code: cell.health_centre_code,
                age_band: cell.age_band.map(Into::into),
                sex: cell.sex.map(Into::into),
                case_type: cell.case_type.map(Into::into),
                care_setting: cell.care_setting.map(Into::into),
                severity: cell.severity.map(Into::into),
                outcome: cell.outcome.map(Into::into),
                route: cell.route.map(Into::into),
                count: cell.count,
                suppressed: cell.suppressed,
            })
            .collect(),
    })
}

/// The ID and code of the prefecture a `prefectureCode` argument names.
pub(super) async fn prefecture(ctx: &Context<'_>, code: Option<&str>) -> Result<Option<(i32, String)>, AppError> {
    let Some(code) = code else { return Ok(None) };
    let found = crate::services::reference::prefecture_by_code(&state(ctx).db, code).await?;
    Ok(Some((found.id, found.code)))
}
