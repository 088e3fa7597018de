//! Operator-facing types: staff accounts, the account changes that wait for
//! a second administrator, service accounts and their API keys, and audit
//! entries.

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{account, account_change, api_key, audit_entry, service_account};

use super::context::load_required;
use super::enums::Role;
use super::loaders::{AccountById, OrganisationById};
use super::types::{Organisation, PageInfo};
use crate::auth::keys::Scope;

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
        Ok(crate::auth::Role::of_organisation(organisation.kind).into())
    }
    /// The organisation the account belongs to.
    async fn organisation(&self, ctx: &Context<'_>) -> Result<Organisation> {
        Ok(Organisation(load_required(ctx, OrganisationById(self.0.organisation_id)).await?))
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
    /// Whether the account's creation still waits for a second
    /// administrator's approval (it cannot sign in until then).
    async fn awaiting_approval(&self) -> bool {
        self.0.awaiting_approval_since.is_some()
    }
}

/// What an account change does.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AccountChangeKind {
    /// A new account in an organisation whose staff read personal data.
    Create,
    /// A move into such an organisation.
    AssignOrganisation,
}

/// How a second administrator decided.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AccountChangeDecision {
    /// The change took effect.
    Approved,
    /// The change did not take effect.
    Rejected,
}

/// An account change awaiting (or given) a second administrator's decision.
pub struct AccountChange(pub account_change::Model);

/// A change that gives an account access to personal data (creating it in,
/// or moving it into, a medical institution, health centre or prefecture):
/// it takes effect only once a second administrator approves it.
#[Object]
impl AccountChange {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// What it does.
    async fn kind(&self) -> AccountChangeKind {
        match self.0.kind.as_str() {
            "CREATE" => AccountChangeKind::Create,
            _ => AccountChangeKind::AssignOrganisation,
        }
    }
    /// The account it concerns.
    async fn account(&self, ctx: &Context<'_>) -> Result<StaffAccount> {
        Ok(StaffAccount(load_required(ctx, AccountById(self.0.account_id)).await?))
    }
    /// The organisation the account is in before a move; null for a new
    /// account.
    #[allow(clippy::wrong_self_convention)]
    async fn from_organisation(&self, ctx: &Context<'_>) -> Result<Option<Organisation>> {
        match self.0.from_organisation_id {
            Some(id) => Ok(Some(organisation(ctx, id).await?)),
            None => Ok(None),
        }
    }
    /// The organisation the account is to be in.
    async fn to_organisation(&self, ctx: &Context<'_>) -> Result<Organisation> {
        organisation(ctx, self.0.to_organisation_id).await
    }
    /// The administrator who asked for it.
    async fn requested_by(&self, ctx: &Context<'_>) -> Result<StaffAccount> {
        Ok(StaffAccount(load_required(ctx, AccountById(self.0.requested_by)).await?))
    }
    /// When it was asked for.
    async fn requested_at(&self) -> DateTime<Utc> {
        self.0.requested_at
    }
    /// The second administrator who decided; null while it waits.
    async fn decided_by(&self, ctx: &Context<'_>) -> Result<Option<StaffAccount>> {
        match self.0.decided_by {
            Some(id) => Ok(Some(StaffAccount(load_required(ctx, AccountById(id)).await?))),
            None => Ok(None),
        }
    }
    /// When it was decided; null while it waits.
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.decided_at
    }
    /// The decision; null while it waits.
    async fn decision(&self) -> Option<AccountChangeDecision> {
        match self.0.decision.as_deref() {
            Some("APPROVED") => Some(AccountChangeDecision::Approved),
            Some(_) => Some(AccountChangeDecision::Rejected),
            None => None,
        }
    }
}

/// An organisation by ID, as the API shows it.
pub(super) async fn organisation(ctx: &Context<'_>, id: i64) -> Result<Organisation> {
    Ok(Organisation(load_required(ctx, OrganisationById(id)).await?))
}

/// A service account with its keys.
pub struct ServiceAccount(pub service_account::Model, pub Vec<api_key::Model>);

/// A machine client of an organisation (サービスアカウント): it acts with
/// the organisation's role, calling with API keys instead of a password.
#[Object]
impl ServiceAccount {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Name given by the administrator.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The organisation it belongs to; its role follows from it.
    async fn organisation(&self, ctx: &Context<'_>) -> Result<Organisation> {
        organisation(ctx, self.0.organisation_id).await
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Its API keys, oldest first, revoked and expired ones included.
    async fn keys(&self) -> Vec<ApiKey> {
        self.1.iter().cloned().map(ApiKey).collect()
    }
}

/// An API key of a service account (its text is never shown again).
pub struct ApiKey(pub api_key::Model);

/// An API key of a service account. Only its SHA-256 is stored; its text
/// was shown once, when it was created.
#[Object]
impl ApiKey {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Name given by the administrator.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// What the key may run.
    async fn scope(&self) -> ApiKeyScope {
        match Scope::from_stored(&self.0.scope) {
            Scope::ReadOnly => ApiKeyScope { read_only: true, operations: Vec::new() },
            Scope::Operations(operations) => ApiKeyScope { read_only: false, operations },
        }
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it stops working.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    /// When it was last used (to the minute); null if never.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }
    /// When it was revoked; null while it is not.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// What an API key may run.
#[derive(SimpleObject)]
pub struct ApiKeyScope {
    /// Queries and subscriptions only, no mutation.
    pub read_only: bool,
    /// Otherwise: the root fields (operations) it may run, and nothing else.
    pub operations: Vec<String>,
}

/// A new API key, with its text, shown only in this answer.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    /// The key's text, to send as `Authorization: Bearer <key>`. Shown
    /// once: only its SHA-256 is kept.
    pub key: String,
    /// The key.
    pub api_key: ApiKey,
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
