//! The case record's and accounts' part of the root `Mutation`
//! (`graphql::MutationRoot`). Each resolver parses its input, calls one
//! service and wraps the result; the services own transactions and rules.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::scalars::Date;

use super::admin::{AccountChange, ApiKey, CreatedApiKey, ServiceAccount, StaffAccount};
use super::break_glass::{BreakGlassAccess, BreakGlassFinding, BreakGlassReason};
use super::context::{client, signed_in, state};
use super::enums::{CareSetting, Outcome, Severity, TestResult};
use super::inputs::{
    ApiKeyScopeInput, FollowUpCallInput, HealthReportInput, MedicalVisitInput, RecordTestInput, RegisterPatientInput,
};
use super::types::*;
use crate::services::{self, parse_id};

#[derive(Default)]
pub struct Mutation;

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

/// Changes to the case record. Every change is checked against the caller's role and written in one transaction; a refused change writes nothing.
#[Object(name = "ApiMutation")]
impl Mutation {
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

    /// Creates a patient record (新規作成) with the basic items, and its
    /// smartphone input ID (returned as `smartphoneId`).
    async fn register_patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The basic items of the notification form.")] input: RegisterPatientInput,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let parsed = input.parse(state.now().date_naive())?;
        Ok(Patient(services::patients::register(state, principal, parsed).await?))
    }

    /// Records a laboratory test, with its result if known. Negative results
    /// are recorded too.
    async fn record_test(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The test and, if known, its result.")] input: RecordTestInput,
    ) -> Result<LabTest> {
        let principal = signed_in(ctx)?;
        let parsed = input.parse()?;
        Ok(LabTest(services::tests::record(state(ctx), principal, parsed).await?))
    }

    /// Sets the result of a test (e.g. a pending one). A change is kept in
    /// the test's history; nothing is overwritten.
    async fn record_test_result(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The test.")] test_id: ID,
        #[graphql(desc = "The result; not PENDING.")] result: TestResult,
        #[graphql(desc = "When the result became known; now by default. Not before the sample, not in the future.")]
        resulted_at: Option<DateTime<Utc>>,
    ) -> Result<LabTest> {
        let principal = signed_in(ctx)?;
        let test_id = parse_id(&test_id, "testId")?;
        let test = services::tests::record_result(state(ctx), principal, test_id, result.into(), resulted_at).await?;
        Ok(LabTest(test))
    }

    /// Decides where the patient is cared for (hospital, accommodation,
    /// home, none). The responsible health centre decides; the prefecture
    /// may place a patient in its accommodation care.
    async fn set_care_setting(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(desc = "The care setting decided.")] setting: CareSetting,
        #[graphql(desc = "The patient's `version` the decision was made on; a stale one is refused with CONFLICT.")]
        expected_version: Option<i32>,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let patient =
            services::care::set_care_setting(state(ctx), principal, id, setting.into(), expected_version).await?;
        Ok(Patient(patient))
    }

    /// Admits a patient to a hospital (by the hospital, or the health
    /// centre arranging it), with the severity at admission.
    async fn admit_patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(desc = "The admitting hospital.")] facility_id: ID,
        #[graphql(desc = "Severity at admission.")] severity: Severity,
        #[graphql(desc = "When the patient was admitted; now by default.")] admitted_at: Option<DateTime<Utc>>,
    ) -> Result<Hospitalisation> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let facility = parse_id(&facility_id, "facilityId")?;
        let stay = services::care::admit(state(ctx), principal, id, facility, severity.into(), admitted_at).await?;
        Ok(Hospitalisation { row: stay, personal: true })
    }

    /// Records the condition of an admitted patient (by the admitting
    /// hospital). Entries are kept; the stay shows the latest.
    #[allow(clippy::too_many_arguments)]
    async fn record_condition(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The hospital stay.")] hospitalisation_id: ID,
        #[graphql(desc = "Severity now.")] severity: Severity,
        #[graphql(desc = "Free-text note (personal data).")] note: Option<String>,
        #[graphql(desc = "In an intensive care unit. Not by default.")] icu: Option<bool>,
        #[graphql(desc = "On mechanical ventilation. Not by default.")] ventilator: Option<bool>,
        #[graphql(desc = "On ECMO. Not by default.")] ecmo: Option<bool>,
        #[graphql(desc = "When the condition was observed; now by default.")] observed_at: Option<DateTime<Utc>>,
    ) -> Result<Hospitalisation> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&hospitalisation_id, "hospitalisationId")?;
        let note = services::follow_up::parse_note(note, "note", 2000)?;
        let input = services::care::NewCondition {
            severity: severity.into(),
            note,
            icu: icu.unwrap_or(false),
            ventilator: ventilator.unwrap_or(false),
            ecmo: ecmo.unwrap_or(false),
            observed_at,
        };
        let stay = services::care::record_condition(state(ctx), principal, id, input).await?;
        Ok(Hospitalisation { row: stay, personal: true })
    }

    /// Discharges a patient from a hospital stay.
    async fn discharge_patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The hospital stay.")] hospitalisation_id: ID,
        #[graphql(desc = "When the patient left; now by default. Not before the admission.")] discharged_at: Option<
            DateTime<Utc>,
        >,
    ) -> Result<Hospitalisation> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&hospitalisation_id, "hospitalisationId")?;
        let stay = services::care::discharge(state(ctx), principal, id, discharged_at).await?;
        Ok(Hospitalisation { row: stay, personal: true })
    }

    /// Submits a daily health report: a signed-in patient about themself,
    /// or staff on the patient's behalf after a call.
    async fn submit_health_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The report.")] input: HealthReportInput,
    ) -> Result<HealthReport> {
        let principal = signed_in(ctx)?;
        let report = services::follow_up::submit_health_report(state(ctx), principal, input.parse()?).await?;
        Ok(HealthReport { row: report, personal: true })
    }

    /// Records a follow-up call to a patient in accommodation or home care.
    async fn record_follow_up_call(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The call.")] input: FollowUpCallInput,
    ) -> Result<FollowUpCall> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&input.patient_id, "input.patientId")?;
        let call = services::follow_up::record_follow_up_call(
            state(ctx),
            principal,
            id,
            input.reached,
            input.note,
            input.called_at,
        )
        .await?;
        Ok(FollowUpCall { row: call, personal: true })
    }

    /// Records medical care a patient received during accommodation or home
    /// care: the date and the institution's name.
    async fn record_medical_visit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The visit.")] input: MedicalVisitInput,
    ) -> Result<MedicalVisit> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&input.patient_id, "input.patientId")?;
        let visit = services::follow_up::record_medical_visit(
            state(ctx),
            principal,
            id,
            input.visited_on.0,
            &input.institution_name,
        )
        .await?;
        Ok(MedicalVisit(visit))
    }

    /// Records the outcome (転帰), which ends the case: the smartphone input
    /// ID stops working for new reports.
    async fn record_outcome(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(desc = "How the case ended.")] outcome: Outcome,
        #[graphql(desc = "When; now by default.")] outcome_at: Option<DateTime<Utc>>,
        #[graphql(desc = "The patient's `version` the outcome was decided on; a stale one is refused with CONFLICT.")]
        expected_version: Option<i32>,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let patient =
            services::care::record_outcome(state(ctx), principal, id, outcome.into(), outcome_at, expected_version)
                .await?;
        Ok(Patient(patient))
    }

    /// Moves the case to another health centre. The new one gets full
    /// access; the previous one keeps read access.
    async fn transfer_patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
        #[graphql(desc = "The health centre taking over.")] to_health_centre_id: ID,
        #[graphql(desc = "The patient's `version` the transfer was decided on; a stale one is refused with CONFLICT.")]
        expected_version: Option<i32>,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        let to = parse_id(&to_health_centre_id, "toHealthCentreId")?;
        let patient = services::care::transfer(state(ctx), principal, id, to, expected_version).await?;
        Ok(Patient(patient))
    }

    /// Lifts the lock that failed sign-ins put on a patient's smartphone
    /// input ID, and forgets the count (`Patient.signInLock`): for the
    /// responsible health centre, once it has spoken with the patient.
    /// Audited.
    async fn lift_patient_sign_in_lock(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient.")] patient_id: ID,
    ) -> Result<Patient> {
        let principal = signed_in(ctx)?;
        let id = parse_id(&patient_id, "patientId")?;
        Ok(Patient(services::lockout::lift_patient_lock(state(ctx), principal, id).await?))
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
}
