//! The root `Query`.

use super::scalars::Date;
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::admin::{AccountChange, AuditEntry, AuditEntryConnection, AuditEntryEdge, ServiceAccount, StaffAccount};
use super::break_glass::BreakGlassAccessConnection;
use super::context::{signed_in, state};
use super::inputs::PatientFilterInput;
use super::prefetch;
use super::types::*;
use crate::error::AppError;
use crate::services::{self, parse_id};

#[derive(Default)]
pub struct Query;

/// Reading the case record and reference data. Every list is limited to the rows the caller may reach.
#[Object(name = "ApiQuery")]
impl Query {
    /// Who is signed in.
    async fn me(&self, ctx: &Context<'_>) -> Result<Account> {
        Ok(Account(signed_in(ctx)?.clone()))
    }

    /// The caller's own open sessions (of the staff account, or of the
    /// patient), newest first: when, from where and with what client each
    /// was opened. End one with `endSession`.
    async fn my_sessions(&self, ctx: &Context<'_>) -> Result<Vec<OpenSession>> {
        let principal = signed_in(ctx)?;
        let rows = services::accounts::own_sessions(state(ctx), principal).await?;
        Ok(rows.into_iter().map(|row| OpenSession { current: row.id == principal.session_id, row }).collect())
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
    #[graphql(complexity = "super::limits::list_cost(first, 20, child_complexity)")]
    async fn patients(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Filters, combined with AND.")] filter: Option<PatientFilterInput>,
        #[graphql(desc = "Page size: 1 to 500, 20 by default.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<PatientConnection> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let first = page_size(first, 20, state.config.max_page_size)?;
        let after = after.as_deref().map(|c| decode_cursor(c, "after")).transpose()?;
        let filter = filter.unwrap_or_default().parse()?;
        let look_ahead = ctx.look_ahead();
        let nodes = [look_ahead.field("edges").field("node"), look_ahead.field("nodes")];
        let texts = Patient::text_columns(&nodes);
        let texts = services::patients::TextColumns::Only(&texts);
        let (rows, has_next_page) = services::patients::list(state, principal, &filter, first, after, texts).await?;
        prefetch::patients(ctx, &nodes, &rows).await?;
        Ok(PatientConnection { rows, has_next_page, has_previous_page: after.is_some(), filter })
    }

    /// The positive results that `positiveResults` pushes to the caller,
    /// oldest first, after a cursor (Relay connection): for a client that
    /// was away longer than the subscription replays. Continue live with
    /// `positiveResults(after:)` and the last `endCursor`. The same reach,
    /// field rules and read audit as the subscription.
    #[graphql(complexity = "super::limits::list_cost(first, 100, child_complexity)")]
    async fn positive_result_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cursor after which the page starts; omitted, from the first event.")] after: Option<
            String,
        >,
        #[graphql(desc = "Page size: 1 to 500, 100 by default.")] first: Option<i32>,
    ) -> Result<super::subscription::PositiveResultEventConnection> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let first = page_size(first, 100, state.config.max_page_size)?;
        Ok(super::subscription::history(state, principal, after.as_deref(), first).await?)
    }

    /// One patient's daily health reports, newest recorded first (Relay
    /// connection): every report, for a client that needs more than the
    /// latest 100 that `Patient.healthReports` answers. Null when the
    /// patient is not within the caller's reach; the same field rules and
    /// read audit as the patient's own fields.
    #[graphql(complexity = "super::limits::list_cost(first, 50, child_complexity)")]
    async fn health_report_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient's ID.")] patient_id: ID,
        #[graphql(desc = "Page size: 1 to 500, 50 by default.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<Option<HealthReportConnection>> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let patient_id = parse_id(&patient_id, "patientId")?;
        let first = page_size(first, 50, state.config.max_page_size)?;
        let after = after.as_deref().map(|c| decode_kind_cursor("report", c, "after")).transpose()?;
        let page = services::follow_up::health_report_page(state, principal, patient_id, first, after).await?;
        let Some((patient, rows, has_next_page)) = page else { return Ok(None) };
        let personal = crate::auth::policy::may_read_personal(principal, &patient);
        let page_info = PageInfo {
            has_next_page,
            has_previous_page: after.is_some(),
            start_cursor: rows.first().map(|r| encode_kind_cursor("report", r.id)),
            end_cursor: rows.last().map(|r| encode_kind_cursor("report", r.id)),
        };
        let edges = rows
            .into_iter()
            .map(|row| HealthReportEdge {
                cursor: encode_kind_cursor("report", row.id),
                node: HealthReport { row, personal },
            })
            .collect();
        Ok(Some(HealthReportConnection { edges, page_info }))
    }

    /// The 47 prefectures in JIS order.
    async fn prefectures(&self, ctx: &Context<'_>) -> Result<Vec<Prefecture>> {
        let principal = signed_in(ctx)?;
        Ok(services::reference::prefectures(state(ctx), principal).await?.into_iter().map(Prefecture).collect())
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

    /// Patients in accommodation or home care, case open, who have not
    /// reported their health on `date` (default: today, Japan time), within
    /// the caller's reach: the list to phone every morning.
    #[graphql(complexity = "super::limits::list_cost(first, 500, child_complexity)")]
    async fn patients_not_reported(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The day (Japan time); today by default.")] date: Option<Date>,
        #[graphql(desc = "At most this many, 1 to 500; 500 by default.")] first: Option<i32>,
    ) -> Result<Vec<Patient>> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let first = page_size(first, 500, state.config.max_page_size)?;
        let rows = services::follow_up::not_reported(state, principal, date.map(|d| d.0), first).await?;
        prefetch::patients(ctx, &[ctx.look_ahead()], &rows).await?;
        Ok(rows.into_iter().map(Patient).collect())
    }

    /// Patients in accommodation or home care, case open, whose latest health
    /// report shows a warning sign (SpO2 at or below, or temperature at or
    /// above, the configured thresholds: 93% and 38.5 °C by default).
    #[graphql(complexity = "super::limits::list_cost(first, 500, child_complexity)")]
    async fn patients_with_warning_signs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many, 1 to 500; 500 by default.")] first: Option<i32>,
    ) -> Result<Vec<Patient>> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let first = page_size(first, 500, state.config.max_page_size)?;
        let rows = services::follow_up::warning_signs(state, principal, first).await?;
        prefetch::patients(ctx, &[ctx.look_ahead()], &rows).await?;
        Ok(rows.into_iter().map(Patient).collect())
    }

    /// The audit log, newest first. For system administrators only; reading
    /// it is itself audited.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::limits::list_cost(first, 50, child_complexity)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only entries about this patient.")] patient_id: Option<ID>,
        #[graphql(desc = "Only entries by this staff account.")] account_id: Option<ID>,
        #[graphql(desc = "Only entries at or after this moment.")] from: Option<DateTime<Utc>>,
        #[graphql(desc = "Only entries before this moment.")] to: Option<DateTime<Utc>>,
        #[graphql(desc = "Page size: 1 to 500, 50 by default.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> Result<AuditEntryConnection> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let first = page_size(first, 50, state.config.max_page_size)?;
        let after = after.as_deref().map(|c| decode_kind_cursor("audit", c, "after")).transpose()?;
        let filter = services::audit::AuditFilter {
            patient_id: patient_id.map(|id| parse_id(&id, "patientId")).transpose()?,
            account_id: account_id.map(|id| parse_id(&id, "accountId")).transpose()?,
            from,
            to,
        };
        let (rows, has_next_page) = services::audit::list(state, principal, &filter, first, after).await?;
        let page_info = PageInfo {
            has_next_page,
            has_previous_page: after.is_some(),
            start_cursor: rows.first().map(|r| encode_kind_cursor("audit", r.id)),
            end_cursor: rows.last().map(|r| encode_kind_cursor("audit", r.id)),
        };
        let edges = rows
            .into_iter()
            .map(|row| AuditEntryEdge { cursor: encode_kind_cursor("audit", row.id), node: AuditEntry(row) })
            .collect();
        Ok(AuditEntryConnection { edges, page_info })
    }

    /// Break-glass accesses, newest first: every one for system
    /// administrators, who review them; those to the caller's patients for
    /// health centre staff.
    #[graphql(complexity = "super::limits::list_cost(first, 50, child_complexity)")]
    async fn break_glass_accesses(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only those not reviewed yet.", default = false)] unreviewed_only: bool,
        #[graphql(desc = "Page size: 1 to 500, 50 by default.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> Result<BreakGlassAccessConnection> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let first = page_size(first, 50, state.config.max_page_size)?;
        let after = after.as_deref().map(|c| decode_kind_cursor("breakGlass", c, "after")).transpose()?;
        let (nodes, has_next_page) =
            services::break_glass::list(state, principal, unreviewed_only, first, after).await?;
        let page_info = PageInfo {
            has_next_page,
            has_previous_page: after.is_some(),
            start_cursor: nodes.first().map(|r| encode_kind_cursor("breakGlass", r.id)),
            end_cursor: nodes.last().map(|r| encode_kind_cursor("breakGlass", r.id)),
        };
        Ok(BreakGlassAccessConnection { nodes, page_info })
    }

    /// Every staff account. For system administrators only.
    async fn accounts(&self, ctx: &Context<'_>) -> Result<Vec<StaffAccount>> {
        let principal = signed_in(ctx)?;
        let rows = services::accounts::list_accounts(state(ctx), principal).await?;
        Ok(rows.into_iter().map(StaffAccount).collect())
    }

    /// Account changes that need a second administrator, newest first:
    /// those still waiting unless `pendingOnly` is false. For system
    /// administrators only.
    async fn account_changes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only changes still waiting for a decision.", default = true)] pending_only: bool,
    ) -> Result<Vec<AccountChange>> {
        let principal = signed_in(ctx)?;
        let rows = services::account_changes::list(state(ctx), principal, pending_only).await?;
        Ok(rows.into_iter().map(AccountChange).collect())
    }

    /// Every service account with its API keys. For system administrators
    /// only.
    async fn service_accounts(&self, ctx: &Context<'_>) -> Result<Vec<ServiceAccount>> {
        let principal = signed_in(ctx)?;
        let rows = services::service_accounts::list(state(ctx), principal).await?;
        Ok(rows.into_iter().map(|(account, keys)| ServiceAccount(account, keys)).collect())
    }

    /// Every organisation accounts can belong to. For system administrators
    /// only.
    async fn organisations(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        let principal = signed_in(ctx)?;
        let rows = services::accounts::list_organisations(state(ctx), principal).await?;
        Ok(rows.into_iter().map(Organisation).collect())
    }

    /// Figures for analysts, prefectures and health centres, each as of a
    /// moment.
    #[graphql(guard = "super::context::SignedIn")]
    async fn statistics(&self) -> Result<super::statistics::Statistics> {
        Ok(super::statistics::Statistics)
    }
}

/// A page size argument, refused outside 1 to `max`.
fn page_size(first: Option<i32>, default: u64, max: u64) -> Result<u64, AppError> {
    match first {
        None => Ok(default.min(max)),
        Some(n) if n >= 1 && (n as u64) <= max => Ok(n as u64),
        Some(_) => Err(AppError::bad_input("first", format!("must be between 1 and {max}"))),
    }
}
