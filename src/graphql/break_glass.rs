//! Break-glass access: opening a record out of reach with a stated reason
//! (`breakGlass`), the alert pushed to the patient's health centre, and the
//! accesses health centres and administrators review
//! (`services::break_glass`).

use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::context::{load, load_required, signed_in, state};
use super::loaders::*;
use super::organisations::{Organisation, organisation};
use super::pages::{PageInfo, decode_kind_cursor, encode_kind_cursor, page_size_or_count};
use super::patients::Patient;
use crate::events::{CaseEvent, Cursor};
use crate::services::{self, parse_id};
use entity::break_glass_access;
use std::sync::Arc;

/// Why a record was opened outside the caller's reach.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::BreakGlassReason")]
pub enum BreakGlassReason {
    /// The person is being treated in an emergency (救急対応).
    EmergencyTreatment,
    /// Care is being handed over and the record is not transferred yet.
    HandoverOfCare,
    /// An outbreak investigation needs the record now.
    OutbreakInvestigation,
    /// Another reason, which the explanation gives.
    Other,
}

/// An administrator's finding on a break-glass access.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::BreakGlassFinding")]
pub enum BreakGlassFinding {
    /// The stated reason justified the access.
    Justified,
    /// It did not: the matter goes to the information-security office.
    Unjustified,
}

/// A break-glass access.
pub struct BreakGlassAccess(pub break_glass_access::Model);

/// A patient record opened outside the opener's reach (break-glass access):
/// readable by every session of the opener's account until `expiresAt`,
/// for reading only. Every personal read meanwhile is audited as
/// `READ_PERSONAL_BREAK_GLASS`.
#[Object]
impl BreakGlassAccess {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The patient's ID.
    async fn patient_id(&self) -> ID {
        ID(self.0.patient_id.to_string())
    }
    /// The patient, while within the caller's reach (the opener's while the
    /// access lasts; the responsible health centre's); null otherwise.
    /// Field rules apply as everywhere.
    async fn patient(&self, ctx: &Context<'_>) -> Result<Option<Patient>> {
        Ok(load(ctx, ReachablePatientById(self.0.patient_id)).await?.map(Patient))
    }
    /// The username of the staff member who opened it.
    async fn opened_by(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(load_required(ctx, AccountById(self.0.account_id)).await?.username)
    }
    /// The organisation the staff member opened it from.
    async fn organisation(&self, ctx: &Context<'_>) -> Result<Organisation> {
        let account = load_required(ctx, AccountById(self.0.account_id)).await?;
        organisation(ctx, account.organisation_id).await
    }
    /// The reason's category.
    async fn reason(&self) -> BreakGlassReason {
        self.0.reason.into()
    }
    /// Why, in the staff member's words.
    async fn explanation(&self) -> &str {
        &self.0.explanation
    }
    /// When it was opened.
    async fn granted_at(&self) -> DateTime<Utc> {
        self.0.granted_at
    }
    /// When it ends.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    /// The administrator who reviewed it (username); null until reviewed.
    async fn reviewed_by(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        match self.0.reviewed_by {
            Some(id) => Ok(Some(load_required(ctx, AccountById(id)).await?.username)),
            None => Ok(None),
        }
    }
    /// When it was reviewed; null until then.
    async fn reviewed_at(&self) -> Option<DateTime<Utc>> {
        self.0.reviewed_at
    }
    /// The review's finding; null until reviewed.
    async fn finding(&self) -> Option<BreakGlassFinding> {
        self.0.finding.map(Into::into)
    }
    /// The reviewer's note.
    async fn review_note(&self) -> Option<&str> {
        self.0.review_note.as_deref()
    }
}

/// A page of break-glass accesses, newest first.
pub struct BreakGlassAccessConnection {
    pub nodes: Vec<break_glass_access::Model>,
    pub page_info: PageInfo,
    /// The list's filter, for its count.
    pub unreviewed_only: bool,
}

/// A page of break-glass accesses, newest first.
#[Object]
impl BreakGlassAccessConnection {
    /// The accesses of the page.
    async fn nodes(&self) -> Vec<BreakGlassAccess> {
        self.nodes.iter().cloned().map(BreakGlassAccess).collect()
    }
    /// Where the page stands; `endCursor` is the next page's `after`.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }
    /// How many accesses the list holds (all pages). Costs one counting
    /// statement, run only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(services::break_glass::count(state(ctx), signed_in(ctx)?, self.unreviewed_only).await?)
    }
}

/// A break-glass access pushed to the patient's health centre.
pub struct BreakGlassAlert(pub Arc<CaseEvent>);

/// Someone opened a record of one of the caller's patients by breaking the
/// glass.
#[Object]
impl BreakGlassAlert {
    /// The event's cursor: pass it as `after` to resume after this event.
    async fn cursor(&self) -> String {
        Cursor::of(&self.0.event).to_string()
    }
    /// When the access was opened.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.event.occurred_at
    }
    /// The access.
    async fn access(&self) -> Result<BreakGlassAccess> {
        let access = self.0.access.clone();
        Ok(BreakGlassAccess(
            access
                .ok_or_else(|| crate::error::AppError::Internal(anyhow::anyhow!("break-glass event without access")))?,
        ))
    }
    /// The patient. Field rules apply here as in queries.
    async fn patient(&self) -> Patient {
        Patient(self.0.patient.clone())
    }
}

/// This area's part of the root `Query` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct BreakGlassQuery;

#[Object]
impl BreakGlassQuery {
    /// Break-glass accesses, newest first: every one for system
    /// administrators, who review them; those to the caller's patients for
    /// health centre staff.
    #[graphql(complexity = "super::limits::list_cost(first, 50, child_complexity)")]
    async fn break_glass_accesses(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only those not reviewed yet.", default = false)] unreviewed_only: bool,
        #[graphql(desc = "Page size: 1 to 500, 50 by default; 0 for `totalCount` alone.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> Result<BreakGlassAccessConnection> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let first = page_size_or_count(first, 50, state.config.max_page_size)?;
        let after = after.as_deref().map(|c| decode_kind_cursor("breakGlass", c, "after")).transpose()?;
        let (nodes, has_next_page) =
            services::break_glass::list(state, principal, unreviewed_only, first, after).await?;
        let page_info = PageInfo {
            has_next_page,
            has_previous_page: after.is_some(),
            start_cursor: nodes.first().map(|r| encode_kind_cursor("breakGlass", r.id)),
            end_cursor: nodes.last().map(|r| encode_kind_cursor("breakGlass", r.id)),
        };
        Ok(BreakGlassAccessConnection { nodes, page_info, unreviewed_only })
    }
}

/// This area's part of the root `Mutation` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct BreakGlassMutation;

#[Object]
impl BreakGlassMutation {
    /// Opens a patient record outside the caller's reach, for reading, by
    /// breaking the glass: for medical institution and health centre staff
    /// who need it now, stating a reason (a category and at least 10
    /// characters of their own words), for `minutes` (60 by default, at
    /// most 240). The patient's responsible health centre is told live
    /// (`breakGlassAlerts`), every personal read meanwhile is audited as
    /// `READ_PERSONAL_BREAK_GLASS`, and administrators review each access.
    async fn break_glass(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(desc = "The reason's category.")] reason: BreakGlassReason,
        #[graphql(desc = "Why the record has to be opened now: 10 to 1,000 characters.")] explanation: String,
        #[graphql(desc = "For how long: 1 to 240 minutes, 60 by default.")] minutes: Option<i32>,
    ) -> Result<BreakGlassAccess> {
        let principal = signed_in(ctx)?;
        let request = services::break_glass::Request {
            patient_id: parse_id(&patient_id, "patientId")?,
            reason: reason.into(),
            explanation,
            minutes: minutes.map(i64::from),
        };
        Ok(BreakGlassAccess(services::break_glass::open(state(ctx), principal, request).await?))
    }

    /// Records whether a break-glass access was justified, once. For system
    /// administrators only.
    async fn review_break_glass_access(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The access.")] access_id: ID,
        #[graphql(desc = "The finding.")] finding: BreakGlassFinding,
        #[graphql(desc = "A note: at most 1,000 characters.")] note: Option<String>,
    ) -> Result<BreakGlassAccess> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&access_id, "accessId")?;
        let reviewed = services::break_glass::review(state(ctx), principal, id, finding.into(), note).await?;
        Ok(BreakGlassAccess(reviewed))
    }
}
