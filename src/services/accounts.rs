//! Signing in and out, and turning a bearer token into a `Principal`.
//!
//! Unknown usernames and wrong passwords get the same answer and take the
//! same time. Repeated failures lock the account for a while.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::enums::OrganisationKind;
use entity::{account, organisation, patient, session};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Set};

use super::account_changes::{self, ChangeKind};
pub use super::sessions::{Ending, end_sessions, sessions_ended};
use crate::auth::principal::Client;
use crate::auth::{Principal, Role, password, session as tokens};
use crate::domain::SmartphoneId;
use crate::error::{AppError, AppResult};
use crate::services::audit::SignInAttempt;
use crate::services::lockout::{self, Subject};
use crate::state::AppState;

/// `last_seen_at` is refreshed at most this often, so that reads do not
/// each write.
const TOUCH_INTERVAL: Duration = Duration::seconds(60);

const BAD_CREDENTIALS: &str = "the username or password is wrong, or the account is locked or disabled";

/// A new session: the token (shown once) and its row.
#[derive(Debug)]
pub struct NewSession {
    pub token: String,
    pub session: session::Model,
    pub principal: Principal,
}

/// Signs a staff account in. The password is checked first, whatever the
/// account's state; a wrong one is counted (and may lock the account), and
/// a right one goes on only if the account is not locked by then.
pub async fn login(state: &AppState, client: &Client, username: &str, password_text: &str) -> AppResult<NewSession> {
    let found = account::Entity::find().filter(account::Column::Username.eq(username.trim())).one(&state.db).await?;
    let Some(account) = found else {
        // Same work as a real check, so timing does not reveal usernames.
        verify_blocking(state, password_text, password::decoy_hash()).await?;
        return Err(AppError::Unauthenticated(BAD_CREDENTIALS));
    };
    let matches = verify_blocking(state, password_text, &account.password_hash).await?;
    let now = state.now();
    let refused = if !matches {
        let count = super::lockout::account_failed(&state.db, &state.config, account.id, now).await?;
        if count.just_locked(state.config.lockout_threshold) {
            tracing::warn!(account_id = account.id, "account locked after repeated failed sign-ins");
        }
        true
    } else {
        // A new account waiting for a second administrator signs in no
        // better than a wrong password.
        account.disabled_at.is_some()
            || account.awaiting_approval_since.is_some()
            || !super::lockout::account_succeeded(&state.db, account.id, now).await?
    };
    if refused {
        let attempt = SignInAttempt { account_id: Some(account.id), patient_id: None, address: client.address };
        super::audit::record_refused_sign_in(&state.db, attempt, "LOGIN_REFUSED", now).await?;
        tracing::info!(account_id = account.id, "sign-in refused");
        return Err(AppError::Unauthenticated(BAD_CREDENTIALS));
    }
    let organisation = organisation::Entity::find_by_id(account.organisation_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("account without organisation")))?;
    let (token, session) = open_session(state, client, Some(account.id), None, now).await?;
    let mut principal = staff_principal(&session, &account, &organisation);
    principal.address = client.address;
    super::audit::record(&state.db, &principal, "LOGIN", None, &[], now).await?;
    tracing::info!(account_id = account.id, session_id = session.id, "signed in");
    Ok(NewSession { token, session, principal })
}

/// Signs a patient in with their smartphone input ID and date of birth.
/// Ended cases (an outcome is recorded) can no longer sign in.
///
/// Guessing dates of birth is bounded per smartphone input ID and per
/// client address (`services::lockout`): each attempt is counted before
/// its date is compared, and once either count is past its threshold the
/// date is not compared at all. A locked ID gets the answer of a wrong date
/// (the right date included); a locked address gets `RATE_LIMITED` with
/// the time left. Every refusal is audited with the patient the ID names,
/// if any (never the date tried), and the client's address.
pub async fn patient_login(
    state: &AppState,
    client: &Client,
    smartphone_id: &str,
    birth_date: NaiveDate,
) -> AppResult<NewSession> {
    const REFUSED: &str = "the smartphone input ID or date of birth is wrong, or the case has ended";
    let id = SmartphoneId::parse(smartphone_id).map_err(|why| AppError::bad_input("smartphoneId", why))?;
    let config = &state.config;
    let now = state.now();
    let found = patient::Entity::find().filter(patient::Column::SmartphoneId.eq(id.as_digits())).one(&state.db).await?;
    let attempt = SignInAttempt { account_id: None, patient_id: found.as_ref().map(|p| p.id), address: client.address };
    if let Some(address) = client.address {
        let subject = Subject::Address(address);
        let count = lockout::attempt(&state.db, config, subject, now).await?;
        if count.just_locked(subject.threshold(config)) {
            tracing::warn!("patient sign-in locked for a client address after repeated failures");
        }
        if !count.within(subject.threshold(config)) {
            super::audit::record_refused_sign_in(&state.db, attempt, "PATIENT_LOGIN_LOCKED", now).await?;
            tracing::info!(patient_id = attempt.patient_id, "patient sign-in refused: the address is locked");
            let left = count.locked_until.map_or(0, |until| (until - now).num_milliseconds());
            let seconds = std::cmp::max(1, u64::try_from(left).unwrap_or(0).div_ceil(1000));
            return Err(AppError::RetryLater {
                message: format!(
                    "too many failed patient sign-ins from this address: retry after {seconds} s, or ask the health centre"
                ),
                seconds,
            });
        }
    }
    if let Some(patient) = &found {
        let subject = Subject::Patient(patient.id);
        let count = lockout::attempt(&state.db, config, subject, now).await?;
        if count.just_locked(subject.threshold(config)) {
            tracing::warn!(patient_id = patient.id, "smartphone input ID locked after repeated failed sign-ins");
        }
        if !count.within(subject.threshold(config)) {
            super::audit::record_refused_sign_in(&state.db, attempt, "PATIENT_LOGIN_LOCKED", now).await?;
            tracing::info!(patient_id = patient.id, "patient sign-in refused: the smartphone input ID is locked");
            return Err(AppError::Unauthenticated(REFUSED));
        }
    }
    let Some(patient) = found.filter(|p| p.birth_date == birth_date && p.outcome.is_none()) else {
        super::audit::record_refused_sign_in(&state.db, attempt, "PATIENT_LOGIN_REFUSED", now).await?;
        tracing::info!(patient_id = attempt.patient_id, "patient sign-in refused");
        return Err(AppError::Unauthenticated(REFUSED));
    };
    lockout::patient_signed_in(&state.db, config, patient.id).await?;
    if let Some(address) = client.address {
        lockout::address_signed_in(&state.db, config, address).await?;
    }
    let (token, session) = open_session(state, client, None, Some(patient.id), now).await?;
    let mut principal = Principal::patient(session.id, patient.id, session.expires_at, session.created_at);
    principal.address = client.address;
    super::audit::record(&state.db, &principal, "PATIENT_LOGIN", Some(patient.id), &[], now).await?;
    tracing::info!(patient_id = patient.id, session_id = session.id, "patient signed in");
    Ok(NewSession { token, session, principal })
}

/// Ends the caller's session at once.
pub async fn logout(state: &AppState, principal: &Principal) -> AppResult<()> {
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let ended = end_sessions(&txn, Ending::Session(principal.session_id), now).await?;
    super::audit::record(&txn, principal, "LOGOUT", None, &[], now).await?;
    txn.commit().await?;
    sessions_ended(state, &ended).await;
    tracing::info!(session_id = principal.session_id, "signed out");
    Ok(())
}

#[derive(Debug, FromQueryResult)]
struct SessionRow {
    session_id: i64,
    patient_id: Option<i64>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    account_id: Option<i64>,
    username: Option<String>,
    disabled_at: Option<DateTime<Utc>>,
    organisation_id: Option<i64>,
    organisation_kind: Option<OrganisationKind>,
    facility_id: Option<i64>,
    health_centre_id: Option<i64>,
    prefecture_id: Option<i32>,
    patient_outcome_recorded_at: Option<DateTime<Utc>>,
}

/// What a bearer token names.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A live session.
    Live(Principal),
    /// A session of this server that has ended: signed out, expired, idle
    /// too long, its account disabled or its case closed.
    Ended,
    /// Nothing this server ever issued.
    Unknown,
}

/// The principal of a live session token, or why there is none.
pub async fn resolve(state: &AppState, token: &str) -> AppResult<Lookup> {
    if !tokens::looks_like_token(token) {
        return Ok(Lookup::Unknown);
    }
    let now = state.now();
    let hash = tokens::hash_token(token);
    let idle = Duration::from_std(state.config.session_idle_timeout).unwrap_or(Duration::minutes(30));
    if let Some(recent) = state.sessions.get(&hash)
        && recent.expires_at > now
        && recent.last_seen_at + idle > now
        && recent.last_seen_at + TOUCH_INTERVAL > now
    {
        return Ok(Lookup::Live(recent.principal));
    }
    let generation = state.sessions.generation();
    let query = Query::select()
        .expr_as(Expr::col((session::Entity, session::Column::Id)), "session_id")
        .column((session::Entity, session::Column::PatientId))
        .column((session::Entity, session::Column::LastSeenAt))
        .column((session::Entity, session::Column::ExpiresAt))
        .column((session::Entity, session::Column::RevokedAt))
        .expr_as(Expr::col((account::Entity, account::Column::Id)), "account_id")
        .column((account::Entity, account::Column::Username))
        .column((account::Entity, account::Column::DisabledAt))
        .expr_as(Expr::col((organisation::Entity, organisation::Column::Id)), "organisation_id")
        .expr_as(Expr::col((organisation::Entity, organisation::Column::Kind)), "organisation_kind")
        .column((organisation::Entity, organisation::Column::FacilityId))
        .column((organisation::Entity, organisation::Column::HealthCentreId))
        .column((organisation::Entity, organisation::Column::PrefectureId))
        .expr_as(Expr::col((patient::Entity, patient::Column::OutcomeRecordedAt)), "patient_outcome_recorded_at")
        .from(session::Entity)
        .left_join(
            account::Entity,
            Expr::col((account::Entity, account::Column::Id)).equals((session::Entity, session::Column::AccountId)),
        )
        .left_join(
            organisation::Entity,
            Expr::col((organisation::Entity, organisation::Column::Id))
                .equals((account::Entity, account::Column::OrganisationId)),
        )
        .left_join(
            patient::Entity,
            Expr::col((patient::Entity, patient::Column::Id)).equals((session::Entity, session::Column::PatientId)),
        )
        .and_where(Expr::col((session::Entity, session::Column::TokenHash)).eq(hash.as_str()))
        .to_owned();
    let statement = state.db.get_database_backend().build(&query);
    let Some(row) = SessionRow::find_by_statement(statement).one(&state.db).await? else {
        return Ok(Lookup::Unknown);
    };
    let live = row.revoked_at.is_none()
        && row.expires_at > now
        && row.last_seen_at + idle > now
        && row.disabled_at.is_none()
        && row.patient_outcome_recorded_at.is_none();
    if !live {
        return Ok(Lookup::Ended);
    }
    let mut last_seen_at = row.last_seen_at;
    if row.last_seen_at + TOUCH_INTERVAL <= now {
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, Expr::value(now))
            .filter(session::Column::Id.eq(row.session_id))
            .exec(&state.db)
            .await?;
        last_seen_at = now;
    }
    let principal = match (row.patient_id, row.account_id, row.organisation_kind) {
        (Some(patient_id), _, _) => Principal::patient(row.session_id, patient_id, row.expires_at, now),
        (None, Some(account_id), Some(kind)) => Principal {
            session_id: row.session_id,
            role: Role::of_organisation(kind),
            account_id: Some(account_id),
            username: row.username,
            organisation_id: row.organisation_id,
            facility_id: row.facility_id,
            health_centre_id: row.health_centre_id,
            prefecture_id: row.prefecture_id,
            patient_id: None,
            operation: None,
            address: None,
            session_expires_at: row.expires_at,
            key: None,
            at: now,
        },
        _ => return Ok(Lookup::Ended),
    };
    let recent = crate::auth::recent::Recent::new(principal.clone(), row.expires_at, last_seen_at);
    state.sessions.keep(hash, recent, generation);
    Ok(Lookup::Live(principal))
}

async fn open_session(
    state: &AppState,
    client: &Client,
    account_id: Option<i64>,
    patient_id: Option<i64>,
    now: DateTime<Utc>,
) -> AppResult<(String, session::Model)> {
    let lifetime = Duration::from_std(state.config.session_absolute_lifetime).unwrap_or(Duration::hours(12));
    let (token, token_hash) = tokens::new_token();
    let session = session::ActiveModel {
        token_hash: Set(token_hash),
        account_id: Set(account_id),
        patient_id: Set(patient_id),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + lifetime),
        revoked_at: Set(None),
        client_address: Set(client.address.map(|address| address.to_string())),
        user_agent: Set(client.user_agent.clone()),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    Ok((token, session))
}

/// argon2 is CPU-bound for tens of milliseconds: it runs off the async
/// workers, within the bound of the password gate (`RATE_LIMITED` when no
/// turn comes in time).
async fn verify_blocking(state: &AppState, password_text: &str, hash: &str) -> AppResult<bool> {
    state.passwords.verify(password_text.to_owned(), hash.to_owned()).await
}

pub fn staff_principal(
    session: &session::Model,
    account: &account::Model,
    organisation: &organisation::Model,
) -> Principal {
    Principal {
        session_id: session.id,
        role: Role::of_organisation(organisation.kind),
        account_id: Some(account.id),
        username: Some(account.username.clone()),
        organisation_id: Some(organisation.id),
        facility_id: organisation.facility_id,
        health_centre_id: organisation.health_centre_id,
        prefecture_id: organisation.prefecture_id,
        patient_id: None,
        operation: None,
        address: None,
        session_expires_at: session.expires_at,
        key: None,
        at: session.last_seen_at,
    }
}

/// Ends every session of the caller's account (or, for a patient, of their
/// record): "log out everywhere".
pub async fn logout_everywhere(state: &AppState, principal: &Principal) -> AppResult<u64> {
    let now = state.now();
    let which = match (principal.account_id, principal.patient_id) {
        (Some(account), _) => Ending::Account(account),
        (None, Some(patient)) => Ending::Patient(patient),
        (None, None) => Ending::Session(principal.session_id),
    };
    let txn = crate::db::begin_write(&state.db).await?;
    let ended = end_sessions(&txn, which, now).await?;
    super::audit::record(&txn, principal, "LOGOUT_EVERYWHERE", None, &[], now).await?;
    txn.commit().await?;
    sessions_ended(state, &ended).await;
    tracing::info!(account_id = principal.account_id, ended = ended.len(), "signed out everywhere");
    Ok(ended.len() as u64)
}

/// The condition on `sessions` of the caller's own: their account's, or
/// for a patient, their record's.
fn own_sessions_condition(principal: &Principal) -> sea_orm::Condition {
    match (principal.account_id, principal.patient_id) {
        (Some(account), _) => sea_orm::Condition::all().add(session::Column::AccountId.eq(account)),
        (None, Some(patient)) => sea_orm::Condition::all().add(session::Column::PatientId.eq(patient)),
        (None, None) => sea_orm::Condition::all().add(session::Column::Id.eq(principal.session_id)),
    }
}

/// The caller's own open sessions (not ended, expired or idle too long),
/// newest first, at most `max_page_size` of them: where and with what each
/// was opened, so that a stranger's can be recognised and ended.
pub async fn own_sessions(state: &AppState, principal: &Principal) -> AppResult<Vec<session::Model>> {
    let now = state.now();
    let idle = Duration::from_std(state.config.session_idle_timeout).unwrap_or(Duration::minutes(30));
    let rows = session::Entity::find()
        .filter(own_sessions_condition(principal))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .filter(session::Column::LastSeenAt.gt(now - idle))
        .order_by_desc(session::Column::CreatedAt)
        .order_by_desc(session::Column::Id)
        .limit(state.config.max_page_size)
        .all(&state.db)
        .await?;
    Ok(rows)
}

/// Ends one of the caller's own open sessions (the current one too, which
/// is a logout), at once on every transport and replica. Audited
/// (`END_SESSION`).
pub async fn end_own_session(state: &AppState, principal: &Principal, session_id: i64) -> AppResult<()> {
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let own = session::Entity::find_by_id(session_id)
        .filter(own_sessions_condition(principal))
        .filter(session::Column::RevokedAt.is_null())
        .one(&txn)
        .await?;
    if own.is_none() {
        return Err(AppError::not_found("id", "no open session of yours has this ID"));
    }
    let ended = end_sessions(&txn, Ending::Session(session_id), now).await?;
    super::audit::record(&txn, principal, "END_SESSION", None, &[], now).await?;
    txn.commit().await?;
    sessions_ended(state, &ended).await;
    tracing::info!(session_id, by = principal.session_id, "session ended by its owner");
    Ok(())
}

/// Changes the caller's own password. Every other session of the account
/// ends; the current one stays.
///
/// The new password's rules are checked first: what they answer says
/// nothing of the current password. Then the current password is checked
/// like a sign-in: a wrong one counts as a failed sign-in (and may lock the
/// account), and a locked account changes nothing even with the right one;
/// both get the same answer.
pub async fn change_password(state: &AppState, principal: &Principal, current: &str, new: &str) -> AppResult<()> {
    const REFUSED: &str = "the password was not changed: the current password is wrong, or the account is locked after repeated failed sign-ins";
    let account_id = principal.account_id.ok_or_else(|| AppError::forbidden("patients have no password"))?;
    let account = account::Entity::find_by_id(account_id)
        .one(&state.db)
        .await?
        .ok_or(AppError::Unauthenticated("the account no longer exists"))?;
    crate::domain::password_policy::check(&account.username, new)
        .map_err(|why| AppError::bad_input("newPassword", why))?;
    if current == new {
        return Err(AppError::bad_input("newPassword", "must differ from the current password"));
    }
    let matches = verify_blocking(state, current, &account.password_hash).await?;
    let now = state.now();
    let refused = if !matches {
        let count = super::lockout::account_failed(&state.db, &state.config, account_id, now).await?;
        if count.just_locked(state.config.lockout_threshold) {
            // Whoever guesses from inside a session may not be its owner:
            // the lock ends every session of the account, this one too.
            let txn = crate::db::begin_write(&state.db).await?;
            let ended = end_sessions(&txn, Ending::Account(account_id), now).await?;
            super::audit::record(&txn, principal, "CHANGE_PASSWORD_REFUSED", None, &[], now).await?;
            txn.commit().await?;
            sessions_ended(state, &ended).await;
            tracing::warn!(account_id, "account locked after repeated wrong current passwords; its sessions ended");
            return Err(AppError::forbidden(REFUSED));
        }
        true
    } else {
        !super::lockout::account_succeeded(&state.db, account_id, now).await?
    };
    if refused {
        super::audit::record(&state.db, principal, "CHANGE_PASSWORD_REFUSED", None, &[], now).await?;
        tracing::info!(account_id, "password change refused");
        return Err(AppError::forbidden(REFUSED));
    }
    let hash = hash_blocking(state, new).await?;
    let txn = crate::db::begin_write(&state.db).await?;
    let mut active: account::ActiveModel = account.into();
    active.password_hash = Set(hash);
    active.password_changed_at = Set(now);
    active.update(&txn).await?;
    let ended = end_sessions(&txn, Ending::AccountExcept(account_id, principal.session_id), now).await?;
    super::audit::record(&txn, principal, "CHANGE_PASSWORD", None, &[], now).await?;
    txn.commit().await?;
    sessions_ended(state, &ended).await;
    tracing::info!(account_id, "password changed");
    Ok(())
}

async fn hash_blocking(state: &AppState, password_text: &str) -> AppResult<String> {
    state.passwords.hash(password_text.to_owned()).await
}

fn require_admin(principal: &Principal) -> AppResult<()> {
    crate::auth::policy::may_manage_accounts(principal)
}

/// The row of a new account: enabled, no failed sign-ins, its password
/// (`hash`) set now.
pub fn new_account(username: &str, hash: String, organisation_id: i64, now: DateTime<Utc>) -> account::ActiveModel {
    account::ActiveModel {
        username: Set(username.to_owned()),
        password_hash: Set(hash),
        organisation_id: Set(organisation_id),
        failed_logins: Set(0),
        last_failed_login_at: Set(None),
        locked_until: Set(None),
        disabled_at: Set(None),
        password_changed_at: Set(now),
        created_at: Set(now),
        ..Default::default()
    }
}

/// Creates a staff account in an organisation (its role follows from the
/// organisation). For system administrators, and the `hersys account add`
/// command.
pub async fn create_account(
    state: &AppState,
    actor: super::Actor<'_>,
    username: &str,
    password_text: &str,
    organisation_id: i64,
) -> AppResult<account::Model> {
    let principal = match actor {
        super::Actor::Caller(principal) => {
            require_admin(principal)?;
            Some(principal)
        }
        super::Actor::CommandLine(_) => None,
    };
    let username = username.trim();
    let valid_name = (3..=64).contains(&username.len())
        && username.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid_name {
        return Err(AppError::bad_input("username", "must be 3 to 64 letters, digits, dots, hyphens or underscores"));
    }
    crate::domain::password_policy::check(username, password_text)
        .map_err(|why| AppError::bad_input("password", why))?;
    let now = state.now();
    let Some(organisation) = organisation::Entity::find_by_id(organisation_id).one(&state.db).await? else {
        return Err(AppError::not_found("organisationId", "no organisation has this ID"));
    };
    let hash = hash_blocking(state, password_text).await?;
    let txn = crate::db::begin_write(&state.db).await?;
    if account::Entity::find().filter(account::Column::Username.eq(username)).one(&txn).await?.is_some() {
        return Err(AppError::conflict("username: an account with this username exists"));
    }
    // An account that will read personal data waits for a second
    // administrator (the command line makes only operator accounts).
    let awaits = principal.is_some() && account_changes::needs_second_administrator(organisation.kind);
    let mut row = new_account(username, hash, organisation_id, now);
    if awaits {
        row.awaiting_approval_since = Set(Some(now));
    }
    let created = row.insert(&txn).await?;
    match principal {
        Some(principal) => {
            let mut detail = format!("in {}", account_changes::describe(&organisation));
            if awaits {
                let change = account_changes::request(
                    &txn,
                    principal,
                    ChangeKind::Create,
                    created.id,
                    None,
                    organisation_id,
                    now,
                )
                .await?;
                detail.push_str(&format!(", awaiting approval (change {})", change.id));
            }
            super::audit::record_account_action(&txn, principal, "CREATE_ACCOUNT", created.id, detail, now).await?
        }
        None => super::audit::record_account_event(&txn, created.id, "CREATE_ACCOUNT", now).await?,
    }
    txn.commit().await?;
    tracing::info!(account_id = created.id, awaits, "account created");
    Ok(created)
}

/// Disables or re-enables an account. Disabling ends its sessions at once.
pub async fn set_account_disabled(
    state: &AppState,
    principal: &Principal,
    account_id: i64,
    disabled: bool,
) -> AppResult<account::Model> {
    require_admin(principal)?;
    if disabled && principal.account_id == Some(account_id) {
        return Err(AppError::bad_input("accountId", "administrators cannot disable their own account"));
    }
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let account = account::Entity::find_by_id(account_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("accountId", "no account has this ID"))?;
    let mut active: account::ActiveModel = account.into();
    active.disabled_at = Set(disabled.then_some(now));
    if !disabled {
        active.failed_logins = Set(0);
        active.locked_until = Set(None);
    }
    let updated = active.update(&txn).await?;
    let ended = if disabled { end_sessions(&txn, Ending::Account(account_id), now).await? } else { Vec::new() };
    let action = if disabled { "DISABLE_ACCOUNT" } else { "ENABLE_ACCOUNT" };
    let detail = if disabled { "disabled, sessions ended" } else { "enabled, lock lifted" };
    super::audit::record_account_action(&txn, principal, action, account_id, detail.to_owned(), now).await?;
    txn.commit().await?;
    sessions_ended(state, &ended).await;
    tracing::info!(account_id, disabled, "account access changed");
    Ok(updated)
}

/// Moves an account to another organisation, which assigns the role of
/// that organisation. Its sessions end, so the new role applies at once.
pub async fn assign_organisation(
    state: &AppState,
    principal: &Principal,
    account_id: i64,
    organisation_id: i64,
) -> AppResult<account::Model> {
    require_admin(principal)?;
    if principal.account_id == Some(account_id) {
        return Err(AppError::forbidden("no one assigns their own account to an organisation"));
    }
    let now = state.now();
    let txn = crate::db::begin_write(&state.db).await?;
    let Some(to) = organisation::Entity::find_by_id(organisation_id).one(&txn).await? else {
        return Err(AppError::not_found("organisationId", "no organisation has this ID"));
    };
    let account = account::Entity::find_by_id(account_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("accountId", "no account has this ID"))?;
    let from = account.organisation_id;
    let detail = format!("organisation {from} → {}", account_changes::describe(&to));
    if from == organisation_id {
        return Ok(account);
    }
    // Into an organisation whose staff read personal data: a request that
    // a second administrator decides; the account stays where it is.
    if account_changes::needs_second_administrator(to.kind) {
        let change = account_changes::request(
            &txn,
            principal,
            ChangeKind::AssignOrganisation,
            account_id,
            Some(from),
            organisation_id,
            now,
        )
        .await?;
        let detail = format!("{detail}, awaiting approval (change {})", change.id);
        super::audit::record_account_action(&txn, principal, "REQUEST_ASSIGN_ORGANISATION", account_id, detail, now)
            .await?;
        txn.commit().await?;
        tracing::info!(account_id, organisation_id, "account move awaits approval");
        return Ok(account);
    }
    let mut active: account::ActiveModel = account.into();
    active.organisation_id = Set(organisation_id);
    let updated = active.update(&txn).await?;
    let ended = end_sessions(&txn, Ending::Account(account_id), now).await?;
    super::audit::record_account_action(&txn, principal, "ASSIGN_ORGANISATION", account_id, detail, now).await?;
    txn.commit().await?;
    sessions_ended(state, &ended).await;
    tracing::info!(account_id, organisation_id, "account moved to another organisation");
    Ok(updated)
}

/// A page of the staff accounts in the order they were made, for system
/// administrators.
pub async fn list_accounts(
    state: &AppState,
    principal: &Principal,
    request: super::IdPageRequest,
) -> AppResult<super::IdPage<account::Model>> {
    require_admin(principal)?;
    super::id_page(&state.db, account::Entity::find(), account::Column::Id, request).await
}

/// A page of the organisations in the order they were made, for system
/// administrators.
pub async fn list_organisations(
    state: &AppState,
    principal: &Principal,
    request: super::IdPageRequest,
) -> AppResult<super::IdPage<organisation::Model>> {
    require_admin(principal)?;
    super::id_page(&state.db, organisation::Entity::find(), organisation::Column::Id, request).await
}

/// The operator's organisation, created if missing (for the first
/// administrator, made on the command line).
pub async fn operator_organisation(state: &AppState) -> AppResult<i64> {
    let found = organisation::Entity::find()
        .filter(organisation::Column::Kind.eq(OrganisationKind::Operator))
        .order_by_asc(organisation::Column::Id)
        .one(&state.db)
        .await?;
    if let Some(found) = found {
        return Ok(found.id);
    }
    let created = organisation::ActiveModel {
        kind: Set(OrganisationKind::Operator),
        name: Set("HER-SYS Operations".to_owned()),
        facility_id: Set(None),
        health_centre_id: Set(None),
        prefecture_id: Set(None),
        created_at: Set(state.now()),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    Ok(created.id)
}

/// Whether a session is still live (not revoked, not past its absolute
/// end, account not disabled, patient's case not ended). An open
/// subscription counts as use, so it refreshes the idle timer.
pub async fn session_alive(state: &AppState, session_id: i64) -> AppResult<bool> {
    let now = state.now();
    let Some(row) = session::Entity::find_by_id(session_id).one(&state.db).await? else { return Ok(false) };
    if row.revoked_at.is_some() || row.expires_at <= now {
        return Ok(false);
    }
    if let Some(account_id) = row.account_id {
        let account = account::Entity::find_by_id(account_id).one(&state.db).await?;
        if account.is_none_or(|a| a.disabled_at.is_some()) {
            return Ok(false);
        }
    }
    if let Some(patient_id) = row.patient_id {
        let patient = patient::Entity::find_by_id(patient_id).one(&state.db).await?;
        if patient.is_none_or(|p| p.outcome.is_some()) {
            return Ok(false);
        }
    }
    // An open subscription is use of the session; refreshing the idle timer
    // every few minutes is enough to keep it alive.
    if row.last_seen_at + Duration::minutes(5) <= now {
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, Expr::value(now))
            .filter(session::Column::Id.eq(session_id))
            .exec(&state.db)
            .await?;
    }
    Ok(true)
}
