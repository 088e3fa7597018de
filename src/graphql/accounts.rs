//! Accounts and sessions: signing in and out (staff and patients), one's
//! own sessions, and what system administrators manage: staff accounts,
//! the account changes that wait for a second administrator, service
//! accounts and their API keys (`services::accounts`,
//! `services::account_changes`, `services::service_accounts`).

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{account, account_change, api_key, service_account};

use super::context::{client, load_required, signed_in, state};
use super::enums::*;
use super::inputs::ApiKeyScopeInput;
use super::loaders::*;
use super::organisations::{Organisation, organisation};
use super::pages::{IdConnection, id_page_request};
use super::scalars::Date;
use crate::auth::Principal;
use crate::auth::keys::Scope;
use crate::services::{self, parse_id};

/// This area's part of the root `Query` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
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

    /// The staff accounts in the order they were made (Relay connection).
    /// For system administrators only.
    #[graphql(complexity = "super::limits::list_cost(first, 50, child_complexity)")]
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size: 1 to 500, 50 by default; 0 for `totalCount` alone.")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<IdConnection<StaffAccount>> {
        let principal = signed_in(ctx)?;
        let request = id_page_request(ctx, "account", first, after.as_deref(), 50)?;
        let page = services::accounts::list_accounts(state(ctx), principal, request).await?;
        Ok(IdConnection::new("account", page, request, |row| row.id, StaffAccount))
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
}

/// This area's part of the root `Mutation` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct AccountsMutation;

#[Object]
impl AccountsMutation {
    /// Signs a staff account in and returns a new session.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's username.")] username: String,
        #[graphql(desc = "The account's password.", secret)] password: String,
    ) -> Result<Session> {
        let opened = services::accounts::login(state(ctx), client(ctx), &username, &password).await?;
        Ok(Session { token: opened.token, expires_at: opened.session.expires_at, principal: opened.principal })
    }

    /// Signs a patient in with the smartphone input ID (スマホ入力ID) they
    /// were given and their date of birth. Refused once the case has ended.
    async fn patient_login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The 12-digit smartphone input ID; hyphens and spaces are ignored.", secret)]
        smartphone_id: String,
        #[graphql(desc = "The patient's date of birth.", secret)] birth_date: Date,
    ) -> Result<Session> {
        let opened = services::accounts::patient_login(state(ctx), client(ctx), &smartphone_id, birth_date.0).await?;
        Ok(Session { token: opened.token, expires_at: opened.session.expires_at, principal: opened.principal })
    }

    /// Ends the caller's session at once; its token stops working.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let principal = signed_in(ctx)?;
        services::accounts::logout(state(ctx), principal).await?;
        Ok(true)
    }

    /// Ends one of the caller's own open sessions (`mySessions`), at once
    /// on every transport: its token stops working and its streams close.
    /// Ending the current one is a logout.
    async fn end_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session, from `mySessions`.")] id: ID,
    ) -> Result<bool> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&id, "id")?;
        services::accounts::end_own_session(state(ctx), principal, id).await?;
        Ok(true)
    }

    /// Ends every session of the caller's account ("log out everywhere").
    /// Returns how many sessions ended.
    async fn logout_everywhere(&self, ctx: &Context<'_>) -> Result<i32> {
        let principal = signed_in(ctx)?;
        let ended = services::accounts::logout_everywhere(state(ctx), principal).await?;
        Ok(i32::try_from(ended).unwrap_or(i32::MAX))
    }

    /// Changes the caller's password. The account's other sessions end.
    /// The new password is checked against the rules first
    /// (BAD_USER_INPUT, `newPassword`); then a wrong current password
    /// counts as a failed sign-in, which may lock the account, and is
    /// refused with FORBIDDEN, as is any change while the account is locked.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The current password.", secret)] current_password: String,
        #[graphql(
            desc = "The new password: at least 12 characters, not containing the username, not a common password.",
            secret
        )]
        new_password: String,
    ) -> Result<bool> {
        let principal = signed_in(ctx)?;
        services::accounts::change_password(state(ctx), principal, &current_password, &new_password).await?;
        Ok(true)
    }

    /// Creates a staff account in an organisation; its role follows from
    /// the organisation. For system administrators only. In a medical
    /// institution, health centre or prefecture the account cannot sign in
    /// until a second administrator approves (`accountChanges`).
    async fn create_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Username: 3 to 64 letters, digits, dots, hyphens or underscores.")] username: String,
        #[graphql(desc = "Initial password, under the password policy.", secret)] password: String,
        #[graphql(desc = "The organisation the account belongs to.")] organisation_id: ID,
    ) -> Result<StaffAccount> {
        let principal = signed_in(ctx)?;
        let organisation = parse_id(&organisation_id, "organisationId")?;
        let created = services::accounts::create_account(
            state(ctx),
            services::Actor::Caller(principal),
            &username,
            &password,
            organisation,
        )
        .await?;
        Ok(StaffAccount(created))
    }

    /// Disables an account: it can no longer sign in and its sessions end at
    /// once. For system administrators only.
    async fn disable_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account.")] account_id: ID,
    ) -> Result<StaffAccount> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&account_id, "accountId")?;
        Ok(StaffAccount(services::accounts::set_account_disabled(state(ctx), principal, id, true).await?))
    }

    /// Enables a disabled (or locked) account again. For system
    /// administrators only.
    async fn enable_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account.")] account_id: ID,
    ) -> Result<StaffAccount> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&account_id, "accountId")?;
        Ok(StaffAccount(services::accounts::set_account_disabled(state(ctx), principal, id, false).await?))
    }

    /// Assigns a role by moving an account to another organisation (the
    /// role follows from the organisation). Its sessions end. For system
    /// administrators only, never for their own account. A move into a
    /// medical institution, health centre or prefecture waits for a second
    /// administrator's approval (`accountChanges`): until then the account
    /// stays where it is.
    async fn assign_organisation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account.")] account_id: ID,
        #[graphql(desc = "The organisation it now belongs to.")] organisation_id: ID,
    ) -> Result<StaffAccount> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&account_id, "accountId")?;
        let organisation = parse_id(&organisation_id, "organisationId")?;
        Ok(StaffAccount(services::accounts::assign_organisation(state(ctx), principal, id, organisation).await?))
    }

    /// Approves an account change that waits for a second administrator:
    /// a new account may then sign in, a moved one is moved (its sessions
    /// end). Only another administrator than the one who asked.
    async fn approve_account_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The change.")] change_id: ID,
    ) -> Result<AccountChange> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&change_id, "changeId")?;
        Ok(AccountChange(services::account_changes::decide(state(ctx), principal, id, true).await?))
    }

    /// Rejects an account change that waits for a second administrator: a
    /// new account stays unable to sign in (and is disabled), a move does
    /// not happen.
    async fn reject_account_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The change.")] change_id: ID,
    ) -> Result<AccountChange> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&change_id, "changeId")?;
        Ok(AccountChange(services::account_changes::decide(state(ctx), principal, id, false).await?))
    }

    /// Creates a service account, a machine client of a national or
    /// operator organisation that acts with the organisation's role. For
    /// system administrators only.
    async fn create_service_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Name: 1 to 100 characters of one line.")] name: String,
        #[graphql(desc = "The organisation it belongs to (national or operator).")] organisation_id: ID,
    ) -> Result<ServiceAccount> {
        let principal = signed_in(ctx)?;
        let organisation = parse_id(&organisation_id, "organisationId")?;
        let created =
            services::service_accounts::create_service_account(state(ctx), principal, &name, organisation).await?;
        Ok(ServiceAccount(created, Vec::new()))
    }

    /// Creates an API key of a service account and answers its text, once.
    /// Several keys may be valid at once (rotation: create the new one,
    /// switch, revoke the old one). For system administrators only.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The service account.")] service_account_id: ID,
        #[graphql(desc = "Name: 1 to 100 characters of one line.")] name: String,
        #[graphql(desc = "When the key stops working: in the future, at most 365 days from now.")] expires_at: DateTime<
            Utc,
        >,
        #[graphql(desc = "What the key may run.")] scope: ApiKeyScopeInput,
    ) -> Result<CreatedApiKey> {
        let principal = signed_in(ctx)?;
        let owner = parse_id(&service_account_id, "serviceAccountId")?;
        let scope = services::service_accounts::check_scope(scope.read_only.unwrap_or(false), scope.operations)?;
        if let crate::auth::keys::Scope::Operations(names) = &scope
            && let Some(unknown) = names.iter().find(|name| !is_root_field(ctx, name))
        {
            return Err(crate::error::AppError::bad_input(
                "scope.operations",
                format!("`{unknown}` is not a root field of this schema (a query, mutation or subscription)"),
            )
            .into());
        }
        let created =
            services::service_accounts::create_api_key(state(ctx), principal, owner, &name, expires_at, scope).await?;
        Ok(CreatedApiKey { key: created.key, api_key: ApiKey(created.row) })
    }

    /// Revokes an API key at once: it is refused from then on and its open
    /// streams close. For system administrators only.
    async fn revoke_api_key(&self, ctx: &Context<'_>, #[graphql(desc = "The key.")] key_id: ID) -> Result<ApiKey> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&key_id, "keyId")?;
        Ok(ApiKey(services::service_accounts::revoke_api_key(state(ctx), principal, id).await?))
    }
}

/// A signed-in identity: a staff account, or a patient signed in with a
/// smartphone input ID.
pub struct Account(pub Principal);

/// A signed-in identity: a staff account, or a patient signed in with a smartphone input ID.
#[Object]
impl Account {
    /// The account's ID; for a patient, the patient record's ID.
    async fn id(&self) -> ID {
        ID(self.0.account_id.or(self.0.patient_id).unwrap_or_default().to_string())
    }
    /// Username; null for patients, who have none.
    async fn username(&self) -> Option<&str> {
        self.0.username.as_deref()
    }
    /// Role, from the kind of the organisation.
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    /// The organisation; null for patients.
    async fn organisation(&self, ctx: &Context<'_>) -> Result<Option<Organisation>> {
        let Some(id) = self.0.organisation_id else {
            return Ok(None);
        };
        Ok(Some(Organisation(load_required(ctx, OrganisationById(id)).await?)))
    }
}

/// A new session. The token is shown once: send it as
/// `Authorization: Bearer <token>`.
pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub principal: Principal,
}

/// A new session. The token is shown once: send it as `Authorization: Bearer <token>`.
#[Object]
impl Session {
    /// Opaque bearer token. Keep it secret; it is never shown again.
    async fn token(&self) -> &str {
        &self.token
    }
    /// Absolute end of the session; it also ends after 30 minutes unused.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
    /// Who signed in.
    async fn account(&self) -> Account {
        Account(self.principal.clone())
    }
}

/// One of the caller's own open sessions.
pub struct OpenSession {
    pub row: entity::session::Model,
    /// Whether it is the session of the request.
    pub current: bool,
}

/// One of the caller's own open sessions: when and from where it was opened. End one you do not recognise with `endSession`.
#[Object]
impl OpenSession {
    /// Stable identifier, for `endSession`.
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    /// When it was opened (signed in).
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
    /// When it was last used, to within a minute.
    async fn last_used_at(&self) -> DateTime<Utc> {
        self.row.last_seen_at
    }
    /// When it ends at the latest; it ends sooner after 30 minutes unused.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.row.expires_at
    }
    /// The client's address it was opened from; null when unknown.
    async fn client_address(&self) -> Option<&str> {
        self.row.client_address.as_deref()
    }
    /// The `User-Agent` it was opened with (at most 256 characters); null
    /// when none was sent.
    async fn user_agent(&self) -> Option<&str> {
        self.row.user_agent.as_deref()
    }
    /// Whether this is the session of the request asking.
    async fn current(&self) -> bool {
        self.current
    }
}

/// A staff account as system administrators manage it.
#[derive(Clone)]
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

/// Whether `name` is a field of the served schema's query, mutation or
/// subscription type.
fn is_root_field(ctx: &Context<'_>, name: &str) -> bool {
    let registry = &ctx.schema_env.registry;
    [Some(&registry.query_type), registry.mutation_type.as_ref(), registry.subscription_type.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|root| registry.types.get(root.as_str()))
        .any(|root| root.field_by_name(name).is_some())
}
