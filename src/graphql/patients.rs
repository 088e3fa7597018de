//! The patient record: registering one (新規作成), reading one or a page
//! of them through the caller's row scope, and the record's own type, whose
//! personal fields ask `auth::policy` and resolve to `null` with
//! `FORBIDDEN` at their path for callers without a care relationship
//! (`services::patients`).

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::patient;

use super::care::{Hospitalisation, LabTest, Transfer};
use super::context::{load, load_required, principal, signed_in, state};
use super::enums::*;
use super::follow_up::{FollowUpCall, HealthReport, MedicalVisit};
use super::inputs::{PatientFilterInput, RegisterPatientInput};
use super::loaders::*;
use super::organisations::{Facility, HealthCentre, Organisation, Prefecture, organisation};
use super::pages::{
    PageInfo, decode_kind_cursor, encode_kind_cursor, latest, page_size, record_list_cost, record_list_size,
};
use super::prefetch;
use super::scalars::Date;
use crate::auth::policy;
use crate::domain::SmartphoneId;
use crate::error::AppError;
use crate::services::audit::ReadTrail;
use crate::services::patients::PatientFilter;
use crate::services::{self, parse_id};

/// This area's part of the root `Query` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct PatientsQuery;

#[Object]
impl PatientsQuery {
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
}

/// This area's part of the root `Mutation` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct PatientsMutation;

#[Object]
impl PatientsMutation {
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
}

/// A patient or close contact: the record created at test time (新規作成).
pub struct Patient(pub patient::Model);

impl Patient {
    /// The personal text columns (`services::patients::TEXT_COLUMNS`) that
    /// `selections` of patients can show: a field selected anywhere (through
    /// fragments, under aliases, even when skipped by a directive) counts.
    pub fn text_columns(selections: &[async_graphql::Lookahead<'_>]) -> Vec<patient::Column> {
        const FIELDS: [(&str, patient::Column); 7] = [
            ("nameKanji", patient::Column::NameKanji),
            ("nameKana", patient::Column::NameKana),
            ("address", patient::Column::Address),
            ("phone", patient::Column::Phone),
            ("email", patient::Column::Email),
            ("smartphoneId", patient::Column::SmartphoneId),
            ("previousSmartphoneId", patient::Column::PreviousSmartphoneId),
        ];
        FIELDS
            .into_iter()
            .filter(|(field, _)| selections.iter().any(|selection| selection.field(field).exists()))
            .map(|(_, column)| column)
            .collect()
    }

    /// A personal field: shown (and its reading audited) to callers with a
    /// care relationship, `FORBIDDEN` at its path for everyone else.
    fn personal<T>(
        &self,
        ctx: &Context<'_>,
        field: &'static str,
        value: impl FnOnce(&patient::Model) -> T,
    ) -> Result<T> {
        match principal(ctx) {
            Some(p) if policy::may_read_personal(p, &self.0) => {
                note_read(ctx, self.0.id, field);
                Ok(value(&self.0))
            }
            _ => Err(policy::personal_field_forbidden(field).into()),
        }
    }

    fn personal_allowed(&self, ctx: &Context<'_>) -> bool {
        principal(ctx).is_some_and(|p| policy::may_read_personal(p, &self.0))
    }
}

/// A patient or close contact (患者等): the record created at test time (新規作成) and the state of the case.
#[Object]
impl Patient {
    /// Stable identifier of the record.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Type of the person diagnosed (類型).
    async fn case_type(&self) -> CaseType {
        self.0.case_type.into()
    }
    /// Name in kanji (氏名). Personal data.
    async fn name_kanji(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "nameKanji", |p| Some(p.name_kanji.clone()))
    }
    /// Name in katakana (フリガナ). Personal data.
    async fn name_kana(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "nameKana", |p| Some(p.name_kana.clone()))
    }
    /// Sex (性別).
    async fn sex(&self) -> Sex {
        self.0.sex.into()
    }
    /// Date of birth (生年月日). Personal data.
    async fn birth_date(&self, ctx: &Context<'_>) -> Result<Option<Date>> {
        self.personal(ctx, "birthDate", |p| Some(Date(p.birth_date)))
    }
    /// Ten-year age band at registration, derived from the date of birth.
    async fn age_band(&self) -> AgeBand {
        crate::domain::AgeBand::at(self.0.birth_date, self.0.registered_at.date_naive()).into()
    }
    /// Address (住所). Personal data.
    async fn address(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "address", |p| p.address.clone())
    }
    /// Telephone number (電話番号). Personal data.
    async fn phone(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "phone", |p| p.phone.clone())
    }
    /// E-mail address. Personal data.
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "email", |p| p.email.clone())
    }
    /// Smartphone input ID (スマホ入力ID) the patient reports with, in groups
    /// of four digits. Personal data.
    async fn smartphone_id(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "smartphoneId", |p| Some(SmartphoneId::from_stored(p.smartphone_id.clone()).display()))
    }
    /// On a reinfection, the smartphone input ID of the earlier infection.
    /// Personal data.
    async fn previous_smartphone_id(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.personal(ctx, "previousSmartphoneId", |p| {
            p.previous_smartphone_id.clone().map(|id| SmartphoneId::from_stored(id).display())
        })
    }
    /// Whether the person had COVID-19 before (a reinfection record).
    async fn prior_infection(&self) -> bool {
        self.0.prior_infection
    }
    /// On a reinfection, the ID of the earlier record.
    async fn previous_patient_id(&self) -> Option<ID> {
        self.0.previous_patient_id.map(|id| ID(id.to_string()))
    }
    /// Prefecture of the responsible health centre.
    async fn prefecture(&self, ctx: &Context<'_>) -> Result<Prefecture> {
        let centre = load_required(ctx, HealthCentreById(self.0.responsible_health_centre_id)).await?;
        Ok(Prefecture(load_required(ctx, PrefectureById(centre.prefecture_id)).await?))
    }
    /// The health centre responsible for the case (管轄保健所).
    async fn responsible_health_centre(&self, ctx: &Context<'_>) -> Result<HealthCentre> {
        Ok(HealthCentre(load_required(ctx, HealthCentreById(self.0.responsible_health_centre_id)).await?))
    }
    /// The facility that registered the patient; null when a health centre
    /// registered them on its own account.
    async fn registering_facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        match self.0.registering_facility_id {
            Some(id) => Ok(Some(Facility::referenced(ctx, id).await?)),
            None => Ok(None),
        }
    }
    /// Current care setting (療養場所).
    async fn care_setting(&self) -> CareSetting {
        self.0.care_setting.into()
    }
    /// Outcome (転帰); null while the case is open.
    async fn outcome(&self) -> Option<Outcome> {
        self.0.outcome.map(Into::into)
    }
    /// When the outcome happened.
    async fn outcome_at(&self) -> Option<DateTime<Utc>> {
        self.0.outcome_at
    }
    /// When the record was created.
    async fn registered_at(&self) -> DateTime<Utc> {
        self.0.registered_at
    }
    /// Version for optimistic concurrency: raised by every change.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// Laboratory tests, oldest sample first: the latest 100, or the
    /// latest `last`.
    #[graphql(complexity = "record_list_cost(last, child_complexity)")]
    async fn tests(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the latest this many, 1 to 100 (100 when omitted).")] last: Option<i32>,
    ) -> Result<Vec<LabTest>> {
        let last = record_list_size(last)?;
        let rows = load(ctx, TestsOfPatient(self.0.id)).await?.unwrap_or_default();
        Ok(latest(rows, last).map(LabTest).collect())
    }
    /// Hospital stays, earliest first: the latest 100, or the latest
    /// `last`.
    #[graphql(complexity = "record_list_cost(last, child_complexity)")]
    async fn hospitalisations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the latest this many, 1 to 100 (100 when omitted).")] last: Option<i32>,
    ) -> Result<Vec<Hospitalisation>> {
        let last = record_list_size(last)?;
        let personal = self.personal_allowed(ctx);
        let rows = load(ctx, HospitalisationsOfPatient(self.0.id)).await?.unwrap_or_default();
        Ok(latest(rows, last).map(|row| Hospitalisation { row, personal }).collect())
    }
    /// Daily health reports, earliest first: the latest 100, or the latest
    /// `last`.
    #[graphql(complexity = "record_list_cost(last, child_complexity)")]
    async fn health_reports(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the latest this many, 1 to 100 (100 when omitted).")] last: Option<i32>,
    ) -> Result<Vec<HealthReport>> {
        let last = record_list_size(last)?;
        let personal = self.personal_allowed(ctx);
        let rows = load(ctx, HealthReportsOfPatient(self.0.id)).await?.unwrap_or_default();
        Ok(latest(rows, last).map(|row| HealthReport { row, personal }).collect())
    }
    /// The most recent daily health report, if any.
    async fn latest_health_report(&self, ctx: &Context<'_>) -> Result<Option<HealthReport>> {
        let personal = self.personal_allowed(ctx);
        let row = load(ctx, LatestHealthReportOfPatient(self.0.id)).await?.flatten();
        Ok(row.map(|row| HealthReport { row, personal }))
    }
    /// Medical care received during accommodation or home care, earliest
    /// first: the latest 100, or the latest `last`.
    #[graphql(complexity = "record_list_cost(last, child_complexity)")]
    async fn medical_visits(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the latest this many, 1 to 100 (100 when omitted).")] last: Option<i32>,
    ) -> Result<Vec<MedicalVisit>> {
        let last = record_list_size(last)?;
        let rows = load(ctx, MedicalVisitsOfPatient(self.0.id)).await?.unwrap_or_default();
        Ok(latest(rows, last).map(MedicalVisit).collect())
    }
    /// Changes of the responsible health centre, earliest first: the latest
    /// 100, or the latest `last`.
    #[graphql(complexity = "record_list_cost(last, child_complexity)")]
    async fn transfers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the latest this many, 1 to 100 (100 when omitted).")] last: Option<i32>,
    ) -> Result<Vec<Transfer>> {
        let last = record_list_size(last)?;
        let rows = load(ctx, TransfersOfPatient(self.0.id)).await?.unwrap_or_default();
        Ok(latest(rows, last).map(Transfer).collect())
    }
    /// The organisation whose staff created the record: the registering
    /// facility's own, or a health centre entering on its behalf.
    async fn registered_by(&self, ctx: &Context<'_>) -> Result<Organisation> {
        let account = load_required(ctx, AccountById(self.0.registered_by_account_id)).await?;
        organisation(ctx, account.organisation_id).await
    }
    /// Telephone follow-ups, earliest first: the latest 100, or the latest
    /// `last`.
    #[graphql(complexity = "record_list_cost(last, child_complexity)")]
    async fn follow_up_calls(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the latest this many, 1 to 100 (100 when omitted).")] last: Option<i32>,
    ) -> Result<Vec<FollowUpCall>> {
        let last = record_list_size(last)?;
        let personal = self.personal_allowed(ctx);
        let rows = load(ctx, FollowUpCallsOfPatient(self.0.id)).await?.unwrap_or_default();
        Ok(latest(rows, last).map(|row| FollowUpCall { row, personal }).collect())
    }
    /// Failed sign-ins with the patient's smartphone input ID that still
    /// count, and the lock they put on it; null when none count. For the
    /// responsible health centre only (`FORBIDDEN` for anyone else), which
    /// may lift the lock with `liftPatientSignInLock`.
    async fn sign_in_lock(&self, ctx: &Context<'_>) -> Result<Option<SignInLock>> {
        let principal = principal(ctx).ok_or(AppError::Unauthenticated("sign in first: no valid session"))?;
        policy::may_act(
            principal,
            policy::CaseAction::ManageSignIn,
            policy::Target { patient: &self.0, facility: None },
        )?;
        let state = state(ctx);
        let row = load(ctx, SignInFailuresOfPatient(self.0.id)).await?.flatten();
        Ok(row.and_then(|row| crate::services::lockout::standing(&row, &state.config, state.now())).map(SignInLock))
    }
}

/// Failed sign-ins with a patient's smartphone input ID, and their lock.
pub struct SignInLock(pub crate::services::lockout::Standing);

/// Failed sign-ins with a patient's smartphone input ID that still count,
/// and the lock they put on it. While locked, every sign-in with the ID is
/// refused (the right date of birth too) with the answer of a wrong one.
#[Object]
impl SignInLock {
    /// Attempts that did not sign in, in the current run (each within the
    /// lockout window of the previous one; while locked they still count).
    async fn failures(&self) -> i32 {
        self.0.failures
    }
    /// When the last of them was made.
    async fn last_failed_at(&self) -> DateTime<Utc> {
        self.0.last_failed_at
    }
    /// Until when sign-in with the ID is refused; null when it is not
    /// locked.
    async fn locked_until(&self) -> Option<DateTime<Utc>> {
        self.0.locked_until
    }
}

/// An item of a patient list with its cursor.
pub struct PatientEdge(pub patient::Model);

/// An item of a patient list with its cursor.
#[Object]
impl PatientEdge {
    /// Opaque cursor of this item.
    async fn cursor(&self) -> String {
        encode_cursor(self.0.id)
    }
    /// The patient.
    async fn node(&self) -> Patient {
        Patient(self.0.clone())
    }
}

/// A page of patients, newest registration first (Relay connection).
pub struct PatientConnection {
    pub rows: Vec<patient::Model>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub filter: PatientFilter,
}

/// A page of patients, newest registration first (Relay connection).
#[Object]
impl PatientConnection {
    /// The page's items with their cursors.
    async fn edges(&self) -> Vec<PatientEdge> {
        self.rows.iter().cloned().map(PatientEdge).collect()
    }
    /// The page's patients, without cursors.
    async fn nodes(&self) -> Vec<Patient> {
        self.rows.iter().cloned().map(Patient).collect()
    }
    /// Pagination state.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
            start_cursor: self.rows.first().map(|r| encode_cursor(r.id)),
            end_cursor: self.rows.last().map(|r| encode_cursor(r.id)),
        }
    }
    /// How many patients match the filter within the caller's reach (all
    /// pages). Costs one counting statement, run only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        let principal = super::context::signed_in(ctx)?;
        Ok(crate::services::patients::count(super::context::state(ctx), principal, &self.filter).await?)
    }
}

pub fn encode_cursor(id: i64) -> String {
    encode_kind_cursor("patient", id)
}

pub fn decode_cursor(cursor: &str, field: &str) -> std::result::Result<i64, AppError> {
    decode_kind_cursor("patient", cursor, field)
}

/// The patient a test or a stay belongs to, loaded through the caller's row
/// scope like every patient row; one out of reach is `FORBIDDEN`.
pub(super) async fn reachable_patient(ctx: &Context<'_>, id: i64) -> Result<Patient> {
    match super::context::load(ctx, ReachablePatientById(id)).await? {
        Some(row) => Ok(Patient(row)),
        None => Err(AppError::forbidden("this patient is not within the caller's reach").into()),
    }
}

pub(super) fn personal_note(
    ctx: &Context<'_>,
    allowed: bool,
    patient_id: i64,
    note: &Option<String>,
) -> Result<Option<String>> {
    if allowed {
        note_read(ctx, patient_id, "note");
        Ok(note.clone())
    } else {
        Err(policy::personal_field_forbidden("note").into())
    }
}

/// Notes a read of a personal field for the request's audit entry.
pub(super) fn note_read(ctx: &Context<'_>, patient_id: i64, field: &'static str) {
    if let Some(trail) = ctx.data_opt::<std::sync::Arc<ReadTrail>>() {
        trail.note(patient_id, field);
    }
}
