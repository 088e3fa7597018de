//! Operator-facing types: staff accounts and audit entries.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{account, audit_entry};

use super::context::load_required;
use super::loaders::{AccountById, OrganisationById};
use super::types::{Organisation, PageInfo};
use crate::auth::Role;

/// A staff account as system administrators manage it.
pub struct StaffAccount(pub account::Model);

/// A staff account (利用者アカウント). Its role follows from its organisation.
#[Object]
impl StaffAccount {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Username used to sign in.
    async fn username(&self) -> &str {
        &self.0.username
    }
    /// Role, from the kind of the organisation.
    async fn role(&self, ctx: &Context<'_>) -> Result<Role> {
        let organisation = load_required(ctx, OrganisationById(self.0.organisation_id)).await?;
        Ok(Role::of_organisation(organisation.kind))
    }
    /// The organisation the account belongs to.
    async fn organisation(&self, ctx: &Context<'_>) -> Result<Organisation> {
        let row = load_required(ctx, OrganisationById(self.0.organisation_id)).await?;
        Ok(Organisation { id: ID(row.id.to_string()), name: row.name, kind: row.kind.into() })
    }
    /// When the account was disabled; null while it may sign in.
    async fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.0.disabled_at
    }
    /// Until when repeated failed sign-ins lock the account, if they do.
    async fn locked_until(&self) -> Option<DateTime<Utc>> {
        self.0.locked_until
    }
    /// When the password was last set.
    async fn password_changed_at(&self) -> DateTime<Utc> {
        self.0.password_changed_at
    }
    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
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
    /// The client's address of the request that wrote the entry (behind a
    /// trusted proxy, the forwarded one); null when unknown, and for
    /// entries written before addresses were recorded.
    async fn client_address(&self) -> Option<&str> {
        self.0.client_address.as_deref()
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
