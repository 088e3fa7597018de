//! The root `Query`.

use async_graphql::{Context, ID, Object, Result};

use super::context::{signed_in, state};
use super::inputs::PatientFilterInput;
use super::types::*;
use crate::error::AppError;
use crate::services::{self, parse_id};

pub struct Query;

/// Reading the case record and reference data. Every list is limited to the rows the caller may reach.
#[Object]
impl Query {
    /// Who is signed in.
    async fn me(&self, ctx: &Context<'_>) -> Result<Account> {
        Ok(Account(signed_in(ctx)?.clone()))
    }

    /// One patient within the caller's reach; null when there is none.
    async fn patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient's ID.")] id: ID,
    ) -> Result<Option<Patient>> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&id, "id")?;
        Ok(services::patients::get(state(ctx), principal, id).await?.map(Patient))
    }

    /// The patients within the caller's reach, newest registration first
    /// (Relay connection).
    async fn patients(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Filters, combined with AND.")] filter: Option<PatientFilterInput>,
        #[graphql(desc = "Page size: 1 to 500, 20 by default.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<PatientConnection> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let max = state.config.max_page_size;
        let first = match first {
            None => 20,
            Some(n) if n >= 1 && (n as u64) <= max => n as u64,
            Some(_) => {
                return Err(AppError::bad_input("first", format!("must be between 1 and {max}")).into());
            }
        };
        let after = after.as_deref().map(|c| decode_cursor(c, "after")).transpose()?;
        let filter = filter.unwrap_or_default().parse()?;
        let (rows, has_next_page) = services::patients::list(state, principal, &filter, first, after).await?;
        Ok(PatientConnection {
            rows,
            has_next_page,
            has_previous_page: after.is_some(),
            filter,
        })
    }

    /// The 47 prefectures in JIS order.
    async fn prefectures(&self, ctx: &Context<'_>) -> Result<Vec<Prefecture>> {
        let principal = signed_in(ctx)?;
        Ok(services::reference::prefectures(state(ctx), principal)
            .await?
            .into_iter()
            .map(Prefecture)
            .collect())
    }

    /// Health centres, optionally of one prefecture.
    async fn health_centres(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "JIS code of the prefecture, \"01\" to \"47\".")] prefecture_code: Option<String>,
    ) -> Result<Vec<HealthCentre>> {
        let principal = signed_in(ctx)?;
        let rows = services::reference::health_centres(state(ctx), principal, prefecture_code.as_deref()).await?;
        Ok(rows.into_iter().map(HealthCentre).collect())
    }

    /// Medical institutions, optionally those covered by one health centre.
    async fn facilities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The covering health centre.")] health_centre_id: Option<ID>,
    ) -> Result<Vec<Facility>> {
        let principal = signed_in(ctx)?;
        let centre = health_centre_id.map(|id| parse_id(&id, "healthCentreId")).transpose()?;
        let rows = services::reference::facilities(state(ctx), principal, centre).await?;
        Ok(rows.into_iter().map(Facility).collect())
    }
}
