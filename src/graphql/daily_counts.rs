//! Daily counts under the limited notification (from September 2022): a
//! facility reports the positives it does not notify individually, by day
//! and age band (`services::daily_counts`); the statistics count them with
//! the notified cases.

use async_graphql::{Context, ID, InputObject, Object, Result};

use super::context::{signed_in, state};
use super::enums::AgeBand;
use super::organisations::Facility;
use super::scalars::Date;
use crate::services::{self, parse_id};

/// This area's part of the root `Mutation` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct DailyCountsMutation;

#[Object]
impl DailyCountsMutation {
    /// Reports how many people the facility found positive on a day, by age
    /// band, who are not notified individually (from the configured start
    /// of the limited notification): medical staff for their facility, a
    /// health centre for a facility without system access. A band reported
    /// again for the same day replaces its count; the statistics follow
    /// from the moment it is recorded. `CONFLICT` where every case is
    /// notified individually.
    async fn report_daily_counts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The day and the counts.")] input: DailyCountsInput,
    ) -> Result<DailyCountReport> {
        let principal = signed_in(ctx)?;
        let parsed = services::daily_counts::DailyCounts {
            day: input.day.0,
            facility_id: input.facility_id.map(|id| parse_id(&id, "input.facilityId")).transpose()?,
            counts: input.counts.into_iter().map(|c| (c.age_band.into(), c.count)).collect(),
        };
        Ok(DailyCountReport(services::daily_counts::report(state(ctx), principal, parsed).await?))
    }
}

/// A facility's positives of a day that are not notified individually.
#[derive(InputObject)]
pub struct DailyCountsInput {
    /// The day the people were found positive (Japan time).
    pub day: Date,
    /// For a health centre entering for a facility without system access:
    /// that facility.
    pub facility_id: Option<ID>,
    /// The count of each age band reported (each band at most once).
    pub counts: Vec<AgeBandCountInput>,
}

/// The number of people of one age band.
#[derive(InputObject)]
pub struct AgeBandCountInput {
    /// The ten-year age band.
    pub age_band: AgeBand,
    /// How many, 0 to 100,000.
    pub count: i32,
}

/// A facility's daily counts of a day as they now stand.
pub struct DailyCountReport(services::daily_counts::DayCounts);

/// A facility's daily counts of a day as they now stand.
#[Object]
impl DailyCountReport {
    /// The day.
    async fn day(&self) -> Date {
        Date(self.0.day)
    }
    /// The facility.
    async fn facility(&self, ctx: &Context<'_>) -> Result<Facility> {
        Facility::referenced(ctx, self.0.facility_id).await
    }
    /// The count of each age band reported, youngest first.
    async fn counts(&self) -> Vec<AgeBandCount> {
        self.0
            .counts
            .iter()
            .filter_map(|(band, count)| crate::domain::AgeBand::from_decade(*band).map(|b| AgeBandCount(b, *count)))
            .collect()
    }
    /// The sum over the bands.
    async fn total(&self) -> i32 {
        self.0.counts.values().sum()
    }
}

/// The number of people of one age band.
pub struct AgeBandCount(crate::domain::AgeBand, i32);

/// The number of people of one age band.
#[Object]
impl AgeBandCount {
    /// The ten-year age band.
    async fn age_band(&self) -> AgeBand {
        self.0.into()
    }
    /// How many.
    async fn count(&self) -> i32 {
        self.1
    }
}
