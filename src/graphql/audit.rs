//! The audit log as system administrators read it (`services::audit`).

use async_graphql::{ComplexObject, Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::accounts::StaffAccount;
use super::context::{load_required, signed_in, state};
use super::loaders::*;
use super::pages::{PageInfo, decode_kind_cursor, encode_kind_cursor, page_size_or_count};
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
        #[graphql(desc = "Page size: 1 to 500, 50 by default; 0 for `totalCount` alone.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> Result<AuditEntryConnection> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let first = page_size_or_count(first, 50, state.config.max_page_size)?;
        let after = after.as_deref().map(|c| decode_kind_cursor("audit", c, "after")).transpose()?;
        let filter = services::audit::AuditFilter {
            patient_id: patient_id.map(|id| parse_id(&id, "patientId")).transpose()?,
            account_id: account_id.map(|id| parse_id(&id, "accountId")).transpose()?,
            from,
            to,
        };
        let (entries, has_next_page) = services::audit::list(state, principal, &filter, first, after).await?;
        let page_info = PageInfo {
            has_next_page,
            has_previous_page: after.is_some(),
            start_cursor: entries.first().map(|e| encode_kind_cursor("audit", e.row.id)),
            end_cursor: entries.last().map(|e| encode_kind_cursor("audit", e.row.id)),
        };
        let about = filter.patient_id;
        let edges = entries
            .into_iter()
            .map(|entry| AuditEntryEdge {
                cursor: encode_kind_cursor("audit", entry.row.id),
                node: AuditEntry { entry, about },
            })
            .collect();
        Ok(AuditEntryConnection { edges, page_info, filter })
    }
}

/// One entry of the audit log, as listed (`about`: the patient the list
/// was filtered by, if any).
pub struct AuditEntry {
    pub entry: services::audit::Entry,
    pub about: Option<i64>,
}

/// One entry of the append-only audit log: who read or changed what, when.
#[Object]
impl AuditEntry {
    /// Stable identifier; entries are numbered in the order they were written.
    async fn id(&self) -> ID {
        ID(self.entry.row.id.to_string())
    }
    /// When it happened.
    async fn at(&self) -> DateTime<Utc> {
        self.entry.row.at
    }
    /// The staff account that acted; null when a patient acted.
    async fn account(&self, ctx: &Context<'_>) -> Result<Option<StaffAccount>> {
        match self.entry.row.account_id {
            Some(id) => Ok(Some(StaffAccount(load_required(ctx, AccountById(id)).await?))),
            None => Ok(None),
        }
    }
    /// The patient who acted through a smartphone session, if a patient did.
    async fn actor_patient_id(&self) -> Option<ID> {
        self.entry.row.actor_patient_id.map(|id| ID(id.to_string()))
    }
    /// What was done: READ_PERSONAL, REGISTER_PATIENT, RECORD_TEST, LOGIN,
    /// READ_AUDIT_LOG, …
    async fn action(&self) -> &str {
        &self.entry.row.action
    }
    /// The patient concerned, if any. An entry that names several (a read
    /// of a page) shows the patient the log was filtered by, and null in an
    /// unfiltered list; `patientIds` names them all.
    async fn patient_id(&self) -> Option<ID> {
        let shown = match self.entry.row.patient_id {
            Some(patient) => Some(patient),
            None => self.about.filter(|about| self.entry.patients.contains(about)),
        };
        shown.map(|id| ID(id.to_string()))
    }
    /// Every patient the entry is about, in ID order: the one of
    /// `patientId`, or all the patients of a read of a page (one entry per
    /// request and set of fields read). Empty for an entry about no patient.
    async fn patient_ids(&self) -> Vec<ID> {
        self.entry.patients.iter().map(|id| ID(id.to_string())).collect()
    }
    /// The fields read or changed.
    async fn fields(&self) -> Vec<&str> {
        self.entry.row.fields.split(',').filter(|f| !f.is_empty()).collect()
    }
    /// The GraphQL operation name the client gave, if any.
    async fn operation(&self) -> Option<&str> {
        self.entry.row.operation.as_deref()
    }
    /// For account actions: the account acted on.
    async fn target_account(&self, ctx: &Context<'_>) -> Result<Option<StaffAccount>> {
        match self.entry.row.target_account_id {
            Some(id) => Ok(Some(StaffAccount(load_required(ctx, AccountById(id)).await?))),
            None => Ok(None),
        }
    }
    /// For account actions: what changed (the organisations before and
    /// after, a change awaiting approval, …).
    async fn detail(&self) -> Option<&str> {
        self.entry.row.detail.as_deref()
    }
    /// The client's address of the request that wrote the entry (behind a
    /// trusted proxy, the forwarded one); null when unknown, and for
    /// entries written before addresses were recorded.
    async fn client_address(&self) -> Option<&str> {
        self.entry.row.client_address.as_deref()
    }
    /// The service account that acted with an API key; null when a person
    /// acted.
    async fn service_account_id(&self) -> Option<ID> {
        self.entry.row.service_account_id.map(|id| ID(id.to_string()))
    }
    /// The API key a service account acted with; null when a person acted.
    async fn api_key_id(&self) -> Option<ID> {
        self.entry.row.api_key_id.map(|id| ID(id.to_string()))
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
#[graphql(complex)]
pub struct AuditEntryConnection {
    /// The page's entries with their cursors.
    pub edges: Vec<AuditEntryEdge>,
    /// Pagination state.
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub filter: services::audit::AuditFilter,
}

#[ComplexObject]
impl AuditEntryConnection {
    /// How many entries match the filters (all pages). Costs one counting
    /// statement, run only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(services::audit::count(state(ctx), signed_in(ctx)?, &self.filter).await?)
    }
}
