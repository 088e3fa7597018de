//! The audit log as system administrators read it (`services::audit`).

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::audit_entry;

use super::accounts::StaffAccount;
use super::context::{load_required, signed_in, state};
use super::loaders::*;
use super::pages::{PageInfo, decode_kind_cursor, encode_kind_cursor, page_size};
use crate::services::{self, parse_id};

/// This area's part of the root `Query` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
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
}

/// One entry of the audit log.
pub struct AuditEntry(pub audit_entry::Model);

/// One entry of the append-only audit log: who read or changed what, when.
#[Object]
impl AuditEntry {
    /// Stable identifier; entries are numbered in the order they were written.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// When it happened.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// The staff account that acted; null when a patient acted.
    async fn account(&self, ctx: &Context<'_>) -> Result<Option<StaffAccount>> {
        match self.0.account_id {
            Some(id) => Ok(Some(StaffAccount(load_required(ctx, AccountById(id)).await?))),
            None => Ok(None),
        }
    }
    /// The patient who acted through a smartphone session, if a patient did.
    async fn actor_patient_id(&self) -> Option<ID> {
        self.0.actor_patient_id.map(|id| ID(id.to_string()))
    }
    /// What was done: READ_PERSONAL, REGISTER_PATIENT, RECORD_TEST, LOGIN,
    /// READ_AUDIT_LOG, …
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// The patient concerned, if any.
    async fn patient_id(&self) -> Option<ID> {
        self.0.patient_id.map(|id| ID(id.to_string()))
    }
    /// The fields read or changed.
    async fn fields(&self) -> Vec<&str> {
        self.0.fields.split(',').filter(|f| !f.is_empty()).collect()
    }
    /// The GraphQL operation name the client gave, if any.
    async fn operation(&self) -> Option<&str> {
        self.0.operation.as_deref()
    }
    /// For account actions: the account acted on.
    async fn target_account(&self, ctx: &Context<'_>) -> Result<Option<StaffAccount>> {
        match self.0.target_account_id {
            Some(id) => Ok(Some(StaffAccount(load_required(ctx, AccountById(id)).await?))),
            None => Ok(None),
        }
    }
    /// For account actions: what changed (the organisations before and
    /// after, a change awaiting approval, …).
    async fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }
    /// The client's address of the request that wrote the entry (behind a
    /// trusted proxy, the forwarded one); null when unknown, and for
    /// entries written before addresses were recorded.
    async fn client_address(&self) -> Option<&str> {
        self.0.client_address.as_deref()
    }
    /// The service account that acted with an API key; null when a person
    /// acted.
    async fn service_account_id(&self) -> Option<ID> {
        self.0.service_account_id.map(|id| ID(id.to_string()))
    }
    /// The API key a service account acted with; null when a person acted.
    async fn api_key_id(&self) -> Option<ID> {
        self.0.api_key_id.map(|id| ID(id.to_string()))
    }
}

/// An item of the audit log with its cursor.
#[derive(SimpleObject)]
pub struct AuditEntryEdge {
    /// Opaque cursor of this entry.
    pub cursor: String,
    /// The entry.
    pub node: AuditEntry,
}

/// A page of the audit log, newest first (Relay connection).
#[derive(SimpleObject)]
pub struct AuditEntryConnection {
    /// The page's entries with their cursors.
    pub edges: Vec<AuditEntryEdge>,
    /// Pagination state.
    pub page_info: PageInfo,
}
