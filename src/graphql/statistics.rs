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
    /// Open cases in home care, not in hospital (自宅療養), other than in a
    /// welfare facility.
    pub home: i64,
    /// Open cases cared for in the elderly or welfare facility they live in
    /// (社会福祉施設等療養).
    pub welfare_facility: i64,
    /// In hospital and severe by the national definition (重症者数): ICU,
    /// mechanical ventilation or ECMO, or severity SEVERE.
    pub severe: i64,
    /// In hospital and severe by Tokyo's definition: mechanical
    /// ventilation or ECMO.
    pub severe_tokyo_definition: i64,
    /// Confirmed open cases whose place of care is being arranged
    /// (療養先調整中): not in hospital, no care setting decided yet (or
    /// `UNDECIDED`).
    pub being_arranged: i64,
    /// Positive and without an outcome yet, wherever they are cared for
    /// (療養者数).
    pub under_care: i64,
    /// Hospital beds secured (確保病床数), as the prefectures reported them
    /// for the day or before; null for a health centre's district, whose
    /// beds the prefecture secures, and where no prefecture has reported.
    pub beds_secured: Option<i64>,
    /// Of them, beds for severe cases.
    pub severe_beds_secured: Option<i64>,
    /// Accommodation rooms secured (宿泊療養居室確保数).
    pub accommodation_rooms_secured: Option<i64>,
    /// `hospital / bedsSecured`; null without beds secured.
    pub bed_occupancy: Option<f64>,
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

    /// The care-status report (療養状況等): how many open cases are in
    /// hospital, accommodation, home care or a welfare facility, or still
    /// being arranged, how many are severe, and the beds and rooms secured,
    /// at the end of the day of `asOf` (Japan time) as the data stood at
    /// `asOf`: a case is open until the day of its outcome, in hospital
    /// while a stay is open, else where the care decision in force puts it.
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
        let day = as_of.with_timezone(&crate::domain::calendar::local_offset()).date_naive();
        let (figures, capacity) = state
            .replicas
            .as_of(&state.db, as_of, |db| async move {
                let figures = statistics::care_status(&db, area, as_of).await?;
                let capacity = match area {
                    Area::HealthCentre(_) => None,
                    _ => Some(statistics::indicators::capacity(&db, area, day, as_of).await?)
                        .filter(|c| c.prefectures_reporting > 0),
                };
                Ok((figures, capacity))
            })
            .await?;
        Ok(CareStatusFigures {
            as_of,
            prefecture_code: code,
            hospital: figures.hospital,
            accommodation: figures.accommodation,
            home: figures.home,
            welfare_facility: figures.welfare,
            severe: figures.severe,
            severe_tokyo_definition: figures.severe_tokyo_definition,
            being_arranged: figures.arranging,
            under_care: figures.requiring_care,
            beds_secured: capacity.map(|c| c.beds),
            severe_beds_secured: capacity.map(|c| c.severe_beds),
            accommodation_rooms_secured: capacity.map(|c| c.accommodation_rooms),
            bed_occupancy: capacity.filter(|c| c.beds > 0).map(|c| figures.hospital as f64 / c.beds as f64),
        })
    }

    /// The outbreak-stage indicators (Aug 2020) of a prefecture, or of the
    /// nation, for a day (the day of `asOf` by default), as the data stood
    /// at `asOf`; with the figures each is made of. Analysts and prefecture
    /// staff; a health centre reads its prefecture's through the prefecture.
    async fn stage_indicators(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "JIS code of a prefecture; national figures when omitted.")] prefecture_code: Option<String>,
        #[graphql(desc = "The day (Japan time) the indicators are for; the day of `asOf` by default.")] date: Option<
            Date,
        >,
        #[graphql(desc = "The moment to compute as of; now by default. Not in the future.")] as_of: Option<
            DateTime<Utc>,
        >,
    ) -> Result<StageIndicatorFigures> {
        let state = state(ctx);
        let Asked { area, code, as_of } = asked(ctx, prefecture_code.as_deref(), as_of).await?;
        let last_day = as_of.with_timezone(&crate::domain::calendar::local_offset()).date_naive();
        let day = date.map_or(last_day, |d| d.0);
        if day > last_day {
            return Err(crate::error::AppError::bad_input("date", "must not be after the day of asOf").into());
        }
        let figures = state
            .replicas
            .as_of(&state.db, as_of, |db| async move {
                statistics::indicators::stage_indicators(&db, area, day, as_of).await
            })
            .await?;
        Ok(StageIndicatorFigures::new(figures, code, as_of))
    }

    /// Clusters by setting (クラスター発生状況): how many clusters of each
    /// setting had been named in the area by `asOf`, and how many people
    /// they held then. A cluster belongs to the area of the health centre
    /// that named it.
    async fn clusters_by_setting(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "JIS code of a prefecture; national figures when omitted.")] prefecture_code: Option<String>,
        #[graphql(desc = "The moment to compute as of; now by default. Not in the future.")] as_of: Option<
            DateTime<Utc>,
        >,
    ) -> Result<Vec<ClustersOfSetting>> {
        let state = state(ctx);
        let Asked { area, as_of, .. } = asked(ctx, prefecture_code.as_deref(), as_of).await?;
        let rows = state
            .replicas
            .as_of(&state.db, as_of, |db| async move { crate::services::clusters::by_setting(&db, area, as_of).await })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(setting, clusters, members)| ClustersOfSetting { setting: setting.into(), clusters, members, as_of })
            .collect())
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

/// Clusters of one setting in an area.
#[derive(SimpleObject)]
pub struct ClustersOfSetting {
    /// Where the clusters arose.
    pub setting: super::enums::ExposureSetting,
    /// Clusters named by `asOf`.
    pub clusters: i64,
    /// People in them by `asOf`.
    pub members: i64,
    /// The moment the figures are as of.
    pub as_of: DateTime<Utc>,
}

/// An indicator of the stage of the outbreak.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
pub enum StageIndicator {
    /// Bed occupancy (stage III 20%, IV 50%).
    BedOccupancy,
    /// People under care per 100,000 (stage III 15, IV 25).
    #[graphql(name = "UNDER_CARE_PER_100K")]
    UnderCarePer100k,
    /// Test positivity over the last week (10%).
    Positivity,
    /// New cases per 100,000 over the last week (stage III 15, IV 25).
    #[graphql(name = "NEW_CASES_PER_100K")]
    NewCasesPer100k,
    /// Share of the week's new cases with an unknown route (50%).
    UnknownRouteShare,
}

impl From<statistics::indicators::Indicator> for StageIndicator {
    fn from(indicator: statistics::indicators::Indicator) -> Self {
        use statistics::indicators::Indicator;
        match indicator {
            Indicator::BedOccupancy => StageIndicator::BedOccupancy,
            Indicator::UnderCarePer100k => StageIndicator::UnderCarePer100k,
            Indicator::Positivity => StageIndicator::Positivity,
            Indicator::NewCasesPer100k => StageIndicator::NewCasesPer100k,
            Indicator::UnknownRouteShare => StageIndicator::UnknownRouteShare,
        }
    }
}

/// The outbreak-stage indicators of an area for a day, with what each is
/// made of. Shares are fractions (0.5 is 50%); a share whose denominator is
/// zero is null.
#[derive(SimpleObject)]
pub struct StageIndicatorFigures {
    /// The day (Japan time).
    pub date: Date,
    /// The prefecture's JIS code; null for the nation.
    pub prefecture_code: Option<String>,
    /// The population the "per 100,000" figures use.
    pub population: i64,
    /// Where the population comes from.
    pub population_source: &'static str,
    /// Open cases in hospital at the end of the day.
    pub hospital: i64,
    /// Of them, severe (national definition).
    pub severe: i64,
    /// Positive and without an outcome at the end of the day (療養者数).
    pub under_care: i64,
    /// Beds secured for the day (the prefectures' latest reports); null if
    /// none has reported.
    pub beds_secured: Option<i64>,
    /// Beds for severe cases secured.
    pub severe_beds_secured: Option<i64>,
    /// Tests sampled in the week ending on the day.
    pub tests_last_week: i64,
    /// New cases in the week ending on the day.
    pub new_cases_last_week: i64,
    /// New cases in the week before that.
    pub new_cases_week_before: i64,
    /// Of the new cases of the week, those with an unknown route.
    pub unknown_route_last_week: i64,
    /// `hospital / bedsSecured`.
    pub bed_occupancy: Option<f64>,
    /// `severe / severeBedsSecured`.
    pub severe_bed_occupancy: Option<f64>,
    /// `underCare` per 100,000 population.
    #[graphql(name = "underCarePer100k")]
    pub under_care_per_100k: f64,
    /// `newCasesLastWeek / testsLastWeek`.
    pub positivity: Option<f64>,
    /// `newCasesLastWeek` per 100,000 population.
    #[graphql(name = "newCasesPer100kLastWeek")]
    pub new_cases_per_100k_last_week: f64,
    /// `newCasesLastWeek / newCasesWeekBefore`.
    pub week_on_week_ratio: Option<f64>,
    /// `unknownRouteLastWeek / newCasesLastWeek` (of the cases with a
    /// first positive sample in the week).
    pub unknown_route_share: Option<f64>,
    /// The indicators at or above their stage III threshold.
    pub stage_three: Vec<StageIndicator>,
    /// The indicators at or above their stage IV threshold.
    pub stage_four: Vec<StageIndicator>,
    /// The moment the figures are as of.
    pub as_of: DateTime<Utc>,
}

impl StageIndicatorFigures {
    fn new(figures: statistics::indicators::StageIndicators, code: Option<String>, as_of: DateTime<Utc>) -> Self {
        let (three, four) = figures.reached();
        let reported = figures.capacity.prefectures_reporting > 0;
        StageIndicatorFigures {
            date: Date(figures.day),
            prefecture_code: code,
            population: figures.population,
            population_source: crate::domain::population::SOURCE,
            hospital: figures.care.hospital,
            severe: figures.care.severe,
            under_care: figures.care.requiring_care,
            beds_secured: reported.then_some(figures.capacity.beds),
            severe_beds_secured: reported.then_some(figures.capacity.severe_beds),
            tests_last_week: figures.tests_week,
            new_cases_last_week: figures.cases_week,
            new_cases_week_before: figures.cases_week_before,
            unknown_route_last_week: figures.unknown_route_week,
            bed_occupancy: figures.bed_occupancy,
            severe_bed_occupancy: figures.severe_bed_occupancy,
            under_care_per_100k: figures.under_care_per_100k,
            positivity: figures.positivity,
            new_cases_per_100k_last_week: figures.new_cases_per_100k,
            week_on_week_ratio: figures.week_on_week,
            unknown_route_share: figures.unknown_route_share,
            stage_three: three.into_iter().map(Into::into).collect(),
            stage_four: four.into_iter().map(Into::into).collect(),
            as_of,
        }
    }
}

/// This area's part of the root `Mutation` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct CapacityMutation;

/// What a prefecture has secured for a day.
#[derive(async_graphql::InputObject)]
pub struct ReportCapacityInput {
    /// JIS code of the prefecture; the caller's own when omitted (prefecture
    /// staff report for their own only).
    pub prefecture_code: Option<String>,
    /// The day the figures are for (Japan time); not in the future.
    pub date: Date,
    /// Hospital beds secured for COVID-19 patients, 0 to 1,000,000.
    pub beds: i64,
    /// Of them, beds for severe cases; not more than `beds`.
    pub severe_beds: i64,
    /// Accommodation-care rooms secured, 0 to 1,000,000.
    pub accommodation_rooms: i64,
}

/// A prefecture's report of the beds and rooms it has secured for a day.
#[derive(SimpleObject)]
pub struct CapacityReport {
    /// The prefecture's JIS code.
    pub prefecture_code: String,
    /// The day.
    pub date: Date,
    /// Beds secured.
    pub beds: i64,
    /// Of them, for severe cases.
    pub severe_beds: i64,
    /// Accommodation rooms secured.
    pub accommodation_rooms: i64,
    /// When the report was recorded.
    pub recorded_at: DateTime<Utc>,
}

#[Object]
impl CapacityMutation {
    /// Reports the hospital beds (and of them for severe cases) and the
    /// accommodation rooms a prefecture has secured for a day: its own
    /// staff only. A later report for the same day replaces the earlier one
    /// from the moment it is recorded; the figures as of earlier moments
    /// stay as they were. A day without a report takes the latest earlier
    /// one.
    async fn report_capacity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The prefecture, the day and what it has secured.")] input: ReportCapacityInput,
    ) -> Result<CapacityReport> {
        let principal = signed_in(ctx)?;
        let prefecture = prefecture(ctx, input.prefecture_code.as_deref()).await?;
        let report = crate::services::capacity::CapacityReport {
            prefecture_id: prefecture.map(|p| p.0),
            day: input.date.0,
            beds: input.beds,
            severe_beds: input.severe_beds,
            accommodation_rooms: input.accommodation_rooms,
        };
        let stored = crate::services::capacity::report(state(ctx), principal, report).await?;
        Ok(CapacityReport {
            prefecture_code: format!("{:02}", stored.prefecture_id),
            date: Date(stored.day),
            beds: stored.beds,
            severe_beds: stored.severe_beds,
            accommodation_rooms: stored.accommodation_rooms,
            recorded_at: stored.recorded_at,
        })
    }
}
