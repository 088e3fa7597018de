//! `statistics`: figures for analysts, prefectures and health centres, each
//! computed as of a moment and saying which (`services::statistics`; the
//! cross-tabulation in `crosstab.rs`).

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{signed_in, state};
use super::crosstab::prefecture;
use super::scalars::Date;
use crate::services::statistics::{self, Area};

/// Figures computed from the case records. Every figure counts only what
/// had been recorded by its `asOf` moment (default: now), so a published
/// figure can be reproduced exactly later. Days are calendar days in Japan
/// time. Analysts see the whole country, prefecture staff their
/// prefecture, health centre staff their district.
#[derive(Default)]
pub struct Statistics;

/// One day's testing figures (検査数・陽性者数).
#[derive(SimpleObject)]
pub struct DailyFigures {
    /// The day (Japan time).
    pub date: Date,
    /// The prefecture's JIS code; null for the nation or a health centre's district.
    pub prefecture_code: Option<String>,
    /// Tests whose sample was taken that day (検査数), whatever their result.
    pub tests: i64,
    /// People whose first positive test was sampled that day (新規陽性者数):
    /// two positive tests of one person count once; a reinfection, being a
    /// new record, counts again.
    pub positives: i64,
    /// Tests sampled that day whose result is negative (陰性).
    pub negatives: i64,
    /// People who died that day (死亡者数), by the day of death.
    pub deaths: i64,
    /// People in hospital and severe by the national definition (重症者数)
    /// at the end of the day: ICU, mechanical ventilation or ECMO, or
    /// severity SEVERE, by the condition observed latest that day or before.
    pub severe: i64,
    /// People in hospital on mechanical ventilation or ECMO at the end of
    /// the day (Tokyo's definition of severe).
    pub severe_tokyo_definition: i64,
    /// People requiring inpatient care etc. (入院治療等を要する者) at the end
    /// of the day: a positive test sampled that day or before and no outcome
    /// (recovery, death or other end of the case) by that day, wherever they
    /// are cared for.
    pub requiring_inpatient_care: i64,
    /// The moment the figure is computed as of.
    pub as_of: DateTime<Utc>,
}

/// Where the open cases are cared for (療養状況).
#[derive(SimpleObject)]
pub struct CareStatusFigures {
    /// The moment the figures are computed as of.
    pub as_of: DateTime<Utc>,
    /// The prefecture's JIS code; null for the nation or a health centre's district.
    pub prefecture_code: Option<String>,
    /// Open cases in hospital (入院).
    pub hospital: i64,
    /// Open cases in accommodation care, not in hospital (宿泊療養).
    pub accommodation: i64,
    /// Open cases in home care, not in hospital (自宅療養).
    pub home: i64,
    /// In hospital and severe by the national definition (重症者数): ICU,
    /// mechanical ventilation or ECMO, or severity SEVERE.
    pub severe: i64,
    /// In hospital and severe by Tokyo's definition: mechanical
    /// ventilation or ECMO.
    pub severe_tokyo_definition: i64,
}

/// What a set of figures is asked of: the area the caller may see for the
/// prefecture named (if any), that prefecture's JIS code, and the moment
/// the figures are as of.
struct Asked {
    area: Area,
    code: Option<String>,
    as_of: DateTime<Utc>,
}

async fn asked(ctx: &Context<'_>, prefecture_code: Option<&str>, as_of: Option<DateTime<Utc>>) -> Result<Asked> {
    let principal = signed_in(ctx)?;
    let as_of = statistics::as_of(state(ctx), as_of)?;
    let prefecture = prefecture(ctx, prefecture_code).await?;
    let area = statistics::area(principal, prefecture.as_ref().map(|p| p.0))?;
    let code = match area {
        Area::Prefecture(id) => Some(prefecture.map_or_else(|| format!("{id:02}"), |(_, code)| code)),
        _ => None,
    };
    Ok(Asked { area, code, as_of })
}

/// Figures computed from the case records, each as of a moment (`asOf`,
/// default now), so that a published figure can be reproduced exactly. Days
/// are calendar days in Japan time. Analysts see the whole country,
/// prefecture staff their prefecture, health centre staff their district.
#[Object]
impl Statistics {
    /// New cases per week (Monday to Sunday, by the day of the first
    /// positive sample) over the weeks that meet `from` to `to`, and how
    /// many of them had an infection route recorded as `UNKNOWN`
    /// (感染経路不明割合), as the data stood at `asOf`.
    async fn unknown_route(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First day (Japan time).")] from: Date,
        #[graphql(desc = "Last day (Japan time), inclusive.")] to: Date,
        #[graphql(desc = "JIS code of a prefecture; national figures when omitted.")] prefecture_code: Option<String>,
        #[graphql(desc = "The moment to compute as of; now by default. Not in the future.")] as_of: Option<
            DateTime<Utc>,
        >,
    ) -> Result<Vec<UnknownRouteWeek>> {
        let state = state(ctx);
        let Asked { area, as_of, .. } = asked(ctx, prefecture_code.as_deref(), as_of).await?;
        let weeks = state
            .replicas
            .as_of(
                &state.db,
                as_of,
                |db| async move { statistics::unknown_route(&db, area, from.0, to.0, as_of).await },
            )
            .await?;
        Ok(weeks
            .into_iter()
            .map(|w| UnknownRouteWeek {
                week_start: Date(w.week_start),
                cases: w.cases,
                unknown: w.unknown,
                share: (w.cases > 0).then(|| w.unknown as f64 / w.cases as f64),
                as_of,
            })
            .collect())
    }

    /// Tests, positives, negatives, deaths, severe cases and people
    /// requiring care per day from `from` to `to` (inclusive, at most 731
    /// days), as the data stood at `asOf`.
    async fn daily(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First day (Japan time).")] from: Date,
        #[graphql(desc = "Last day (Japan time), inclusive.")] to: Date,
        #[graphql(desc = "JIS code of a prefecture; national figures when omitted.")] prefecture_code: Option<String>,
        #[graphql(desc = "The moment to compute as of; now by default. Not in the future.")] as_of: Option<
            DateTime<Utc>,
        >,
    ) -> Result<Vec<DailyFigures>> {
        let state = state(ctx);
        let Asked { area, code, as_of } = asked(ctx, prefecture_code.as_deref(), as_of).await?;
        let days = state
            .replicas
            .as_of(&state.db, as_of, |db| async move { statistics::daily(&db, area, from.0, to.0, as_of).await })
            .await?;
        Ok(days
            .into_iter()
            .map(|d| DailyFigures {
                date: Date(d.date),
                prefecture_code: code.clone(),
                tests: d.tests,
                positives: d.positives,
                negatives: d.negatives,
                deaths: d.deaths,
                severe: d.severe,
                severe_tokyo_definition: d.severe_tokyo,
                requiring_inpatient_care: d.requiring_care,
                as_of,
            })
            .collect())
    }

    /// How many open cases are in hospital, accommodation and home care,
    /// and how many are severe, at the end of the day of `asOf` (Japan
    /// time) as the data stood at `asOf`: a case is open until the day of
    /// its outcome, in hospital while a stay is open, else where the care
    /// decision in force puts it.
    async fn care_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "JIS code of a prefecture; national figures when omitted.")] prefecture_code: Option<String>,
        #[graphql(desc = "The moment to compute as of; now by default. Not in the future.")] as_of: Option<
            DateTime<Utc>,
        >,
    ) -> Result<CareStatusFigures> {
        let state = state(ctx);
        let Asked { area, code, as_of } = asked(ctx, prefecture_code.as_deref(), as_of).await?;
        let figures = state
            .replicas
            .as_of(&state.db, as_of, |db| async move { statistics::care_status(&db, area, as_of).await })
            .await?;
        Ok(CareStatusFigures {
            as_of,
            prefecture_code: code,
            hospital: figures.hospital,
            accommodation: figures.accommodation,
            home: figures.home,
            severe: figures.severe,
            severe_tokyo_definition: figures.severe_tokyo_definition,
        })
    }

    /// Newly confirmed people (新規陽性者数) from `from` to `to` (inclusive,
    /// Japan time, at most 366 days), cross-tabulated by the chosen
    /// `dimensions`, as the data stood at `asOf`. A person is counted when
    /// their first positive test (its result as of `asOf`, the test
    /// recorded by `asOf`) was sampled in the range: the `positives` of
    /// `daily`. Each person is described as of `asOf` (see
    /// `CrossTabDimension`), and counted once, in one cell.
    ///
    /// Small-cell suppression: a cell counting fewer than `k` people (5, or
    /// more if asked) is returned with `count: null, suppressed: true`.
    /// Then, for every dimension and every line of cells that agree on all
    /// the other dimensions (with one dimension, the whole table), if
    /// exactly one cell of the line is suppressed, the smallest published
    /// cell of the line is suppressed too (the first in sort order on a
    /// tie), repeatedly until no line has exactly one suppressed cell. This
    /// is so that no suppressed count can be recovered by subtracting the
    /// published cells of a row or column from its total (itself
    /// published elsewhere, e.g. by `daily`): a line's total then gives
    /// away at most the sum of two or more suppressed cells. Cells of no
    /// one are not returned.
    #[allow(clippy::too_many_arguments)]
    async fn cross_tab(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to break the count down by, in the order cells are sorted by; \
                          none gives one cell, the total. DAY and WEEK exclude each other.")]
        dimensions: Vec<super::crosstab::CrossTabDimension>,
        #[graphql(desc = "First day of the first positive tests' sampling (Japan time).")] from: Date,
        #[graphql(desc = "Last day (Japan time), inclusive; not before `from`, at most 365 days after it.")] to: Date,
        #[graphql(desc = "JIS code of a prefecture: only people its health centres are responsible for \
                          (as of `asOf`); the caller's whole area when omitted.")]
        prefecture_code: Option<String>,
        #[graphql(desc = "Only people of this sex.")] sex: Option<super::enums::Sex>,
        #[graphql(desc = "Only people of this case type.")] case_type: Option<super::enums::CaseType>,
        #[graphql(desc = "The moment to compute as of; now by default. Not in the future.")] as_of: Option<
            DateTime<Utc>,
        >,
        #[graphql(desc = "The suppression threshold: cells counting fewer people are suppressed. \
                          5 by default; it may only be raised.")]
        k: Option<i32>,
        #[graphql(
            desc = "A table meant for publication: computed as of the publication at or before `asOf` (the daily \
                    publication moment, as the open-data files), only days complete by then (whole weeks, Monday \
                    to Sunday, by WEEK), and suppressed so that the daily totals published beside it give no \
                    suppressed cell away: a day (and prefecture) whose only cell is suppressed shows no other \
                    dimension.",
            default = false
        )]
        for_publication: bool,
    ) -> Result<super::crosstab::CrossTab> {
        let arguments = super::crosstab::Arguments {
            dimensions,
            from,
            to,
            prefecture_code,
            sex,
            case_type,
            as_of,
            k,
            for_publication,
        };
        super::crosstab::resolve(ctx, arguments).await
    }
}

/// This area's part of the root `Query` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct StatisticsQuery;

#[Object]
impl StatisticsQuery {
    /// Figures for analysts, prefectures and health centres, each as of a
    /// moment.
    #[graphql(guard = "super::context::SignedIn")]
    async fn statistics(&self) -> Result<super::statistics::Statistics> {
        Ok(super::statistics::Statistics)
    }
}

/// New cases of one week and the share with an unknown infection route.
#[derive(async_graphql::SimpleObject)]
pub struct UnknownRouteWeek {
    /// The Monday the week starts on.
    pub week_start: Date,
    /// New cases (first positive sample in the week).
    pub cases: i64,
    /// Of them, those whose route was recorded as `UNKNOWN`.
    pub unknown: i64,
    /// `unknown / cases`; null without cases.
    pub share: Option<f64>,
    /// The moment the figures are as of.
    pub as_of: DateTime<Utc>,
}
