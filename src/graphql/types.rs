//! Output types. Each wraps an entity model; personal fields ask
//! `auth::policy` and resolve to `null` with `FORBIDDEN` at their path when
//! the caller has no care relationship with the patient.

use async_graphql::{Context, Enum, EnumType, ID, Object, Result, SimpleObject};
use base64::Engine;
use chrono::{DateTime, Utc};
use entity::{
    condition_entry, facility, follow_up_call, health_centre, health_report, hospitalisation, lab_test, organisation,
    patient, prefecture,
};

use super::context::{load, load_required, principal, state};
use super::enums::*;
use super::enums::{AgeBand, Role};
use super::loaders::*;
use super::scalars::Date;
use crate::auth::{Principal, policy};
use crate::domain::SmartphoneId;
use crate::error::AppError;
use crate::services::audit::ReadTrail;
use crate::services::patients::PatientFilter;

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
            Some(id) => Ok(Some(Facility(load_required(ctx, FacilityById(id)).await?))),
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

/// Most items a list of a patient's record (tests, stays, health reports,
/// calls, visits, transfers) or of a stay (conditions) answers: its latest
/// ones, in the list's order. It is also the weight of such a list in the
/// complexity count when `last` is not given.
pub const MAX_RECORD_LIST: usize = 100;

/// How many items a list of a record answers: `last` (1 to
/// [`MAX_RECORD_LIST`]), or the maximum.
fn record_list_size(last: Option<i32>) -> std::result::Result<usize, AppError> {
    match last {
        None => Ok(MAX_RECORD_LIST),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_RECORD_LIST).contains(n))
            .ok_or_else(|| AppError::bad_input("last", format!("must be between 1 and {MAX_RECORD_LIST}"))),
    }
}

/// The complexity of a list of a record: its items' cost times `last` (at
/// most the maximum: a larger one is refused when the field resolves), or
/// times the maximum.
fn record_list_cost(last: Option<i32>, child: usize) -> usize {
    let last = last.map(|n| n.min(i32::try_from(MAX_RECORD_LIST).unwrap_or(i32::MAX)));
    super::limits::list_cost(last, MAX_RECORD_LIST, child)
}

/// The last `count` of `rows`, in their order.
fn latest<T>(mut rows: Vec<T>, count: usize) -> std::vec::IntoIter<T> {
    let skip = rows.len().saturating_sub(count);
    rows.drain(..skip);
    rows.into_iter()
}

/// A laboratory test of a patient.
pub struct LabTest(pub lab_test::Model);

/// A laboratory test of a patient (検査).
#[Object]
impl LabTest {
    /// Stable identifier of the test.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Method of the test.
    async fn kind(&self) -> TestKind {
        self.0.kind.into()
    }
    /// Current result; corrections are kept in the history.
    async fn result(&self) -> TestResult {
        self.0.result.into()
    }
    /// When the sample was taken.
    async fn sampled_at(&self) -> DateTime<Utc> {
        self.0.sampled_at
    }
    /// When the current result became known; null while pending.
    async fn resulted_at(&self) -> Option<DateTime<Utc>> {
        self.0.resulted_at
    }
    /// When the test was entered into the system.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }
    /// The facility that took the sample.
    async fn facility(&self, ctx: &Context<'_>) -> Result<Facility> {
        Ok(Facility(load_required(ctx, FacilityById(self.0.facility_id)).await?))
    }
    /// The patient tested. Field rules apply here as everywhere.
    async fn patient(&self, ctx: &Context<'_>) -> Result<Patient> {
        reachable_patient(ctx, self.0.patient_id).await
    }
    /// The organisation that entered the test: the facility's own, or a
    /// health centre entering on behalf of a facility without system access.
    async fn entered_by(&self, ctx: &Context<'_>) -> Result<Organisation> {
        organisation(ctx, self.0.entered_by_organisation_id).await
    }
    /// Whether a health centre entered the test on the facility's behalf.
    async fn entered_on_behalf(&self, ctx: &Context<'_>) -> Result<bool> {
        let entered_by = load_required(ctx, OrganisationById(self.0.entered_by_organisation_id)).await?;
        Ok(entered_by.facility_id != Some(self.0.facility_id))
    }
    /// Version for optimistic concurrency.
    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// Medical care received during accommodation or home care.
pub struct MedicalVisit(pub entity::medical_visit::Model);

/// Medical care a patient received during accommodation or home care (療養中の受診).
#[Object]
impl MedicalVisit {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Date of the visit.
    async fn visited_on(&self) -> Date {
        Date(self.0.visited_on)
    }
    /// Name of the medical institution.
    async fn institution_name(&self) -> &str {
        &self.0.institution_name
    }
}

/// A change of the responsible health centre.
pub struct Transfer(pub entity::patient_transfer::Model);

/// A change of the responsible health centre (管轄変更).
#[Object]
impl Transfer {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The health centre responsible before; it keeps read access.
    async fn from(&self, ctx: &Context<'_>) -> Result<HealthCentre> {
        Ok(HealthCentre(load_required(ctx, HealthCentreById(self.0.from_health_centre_id)).await?))
    }
    /// The health centre responsible after.
    async fn to(&self, ctx: &Context<'_>) -> Result<HealthCentre> {
        Ok(HealthCentre(load_required(ctx, HealthCentreById(self.0.to_health_centre_id)).await?))
    }
    /// When the case moved.
    async fn transferred_at(&self) -> DateTime<Utc> {
        self.0.transferred_at
    }
    /// Who moved it.
    async fn transferred_by(&self, ctx: &Context<'_>) -> Result<Organisation> {
        let account = load_required(ctx, AccountById(self.0.transferred_by_account_id)).await?;
        organisation(ctx, account.organisation_id).await
    }
}

async fn organisation(ctx: &Context<'_>, id: i64) -> Result<Organisation> {
    Ok(Organisation(load_required(ctx, OrganisationById(id)).await?))
}

/// A hospital stay (入院).
pub struct Hospitalisation {
    pub row: hospitalisation::Model,
    /// Whether the caller may read free-text notes of this patient.
    pub personal: bool,
}

/// A hospital stay (入院) with its condition entries.
#[Object]
impl Hospitalisation {
    /// Stable identifier of the stay.
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    /// The admitting hospital.
    async fn hospital(&self, ctx: &Context<'_>) -> Result<Facility> {
        Ok(Facility(load_required(ctx, FacilityById(self.row.facility_id)).await?))
    }
    /// When the patient was admitted.
    async fn admitted_at(&self) -> DateTime<Utc> {
        self.row.admitted_at
    }
    /// When the patient was discharged; null during the stay.
    async fn discharged_at(&self) -> Option<DateTime<Utc>> {
        self.row.discharged_at
    }
    /// Severity of the latest condition entry.
    async fn severity(&self) -> Severity {
        self.row.severity.into()
    }
    /// In an intensive care unit (latest entry).
    async fn icu(&self) -> bool {
        self.row.icu
    }
    /// On mechanical ventilation (latest entry).
    async fn ventilator(&self) -> bool {
        self.row.ventilator
    }
    /// On ECMO (latest entry).
    async fn ecmo(&self) -> bool {
        self.row.ecmo
    }
    /// The organisation that entered the admission.
    async fn entered_by(&self, ctx: &Context<'_>) -> Result<Organisation> {
        organisation(ctx, self.row.entered_by_organisation_id).await
    }
    /// Version for optimistic concurrency.
    async fn version(&self) -> i32 {
        self.row.version
    }
    /// The patient admitted. Field rules apply here as everywhere.
    async fn patient(&self, ctx: &Context<'_>) -> Result<Patient> {
        reachable_patient(ctx, self.row.patient_id).await
    }
    /// Condition entries, earliest first: the latest 100, or the latest
    /// `last`.
    #[graphql(complexity = "record_list_cost(last, child_complexity)")]
    async fn conditions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the latest this many, 1 to 100 (100 when omitted).")] last: Option<i32>,
    ) -> Result<Vec<ConditionEntry>> {
        let last = record_list_size(last)?;
        let rows = load(ctx, ConditionsOfHospitalisation(self.row.id)).await?.unwrap_or_default();
        let patient_id = self.row.patient_id;
        Ok(latest(rows, last).map(|row| ConditionEntry { row, personal: self.personal, patient_id }).collect())
    }
}

/// The condition of an admitted patient at a moment.
pub struct ConditionEntry {
    pub row: condition_entry::Model,
    pub personal: bool,
    pub patient_id: i64,
}

/// The condition of an admitted patient at a moment, entered by the hospital.
#[Object]
impl ConditionEntry {
    /// Stable identifier of the entry.
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    /// Severity (重症度).
    async fn severity(&self) -> Severity {
        self.row.severity.into()
    }
    /// In an intensive care unit.
    async fn icu(&self) -> bool {
        self.row.icu
    }
    /// On mechanical ventilation.
    async fn ventilator(&self) -> bool {
        self.row.ventilator
    }
    /// On ECMO.
    async fn ecmo(&self) -> bool {
        self.row.ecmo
    }
    /// Free-text note of the hospital. Personal data.
    async fn note(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        personal_note(ctx, self.personal, self.patient_id, &self.row.note)
    }
    /// When the condition was observed.
    async fn observed_at(&self) -> DateTime<Utc> {
        self.row.observed_at
    }
    /// When it was entered.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.row.recorded_at
    }
}

/// Symptoms of the daily health report (My HER-SYS).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Symptom {
    /// Cough or runny nose (咳・鼻汁).
    Cough,
    /// Shortness of breath (息苦しさ).
    ShortnessOfBreath,
    /// Fatigue (倦怠感).
    Fatigue,
    /// Sore throat (咽頭痛).
    SoreThroat,
    /// Loss of taste or smell (味覚・嗅覚障害).
    LossOfTasteOrSmell,
    /// Fever (発熱).
    Fever,
    /// Another symptom, described in the note.
    Other,
}

impl Symptom {
    /// The stored (and public) name of the symptom.
    pub fn stored_name(self) -> &'static str {
        Symptom::items().iter().find(|item| item.value == self).map(|item| item.name).unwrap_or("OTHER")
    }

    pub fn parse_stored(list: &str) -> Vec<Symptom> {
        list.split(',')
            .filter_map(|name| Symptom::items().iter().find(|item| item.name == name).map(|item| item.value))
            .collect()
    }
}

/// A daily health report.
pub struct HealthReport {
    pub row: health_report::Model,
    pub personal: bool,
}

/// A daily health report (健康状態の報告, My HER-SYS), by the patient or by staff after a call.
#[Object]
impl HealthReport {
    /// Stable identifier of the report.
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    /// Body temperature in °C.
    async fn body_temperature(&self) -> f64 {
        self.row.body_temperature
    }
    /// SpO2 in %, when a pulse oximeter was available.
    async fn spo2(&self) -> Option<i32> {
        self.row.spo2
    }
    /// Symptoms reported.
    async fn symptoms(&self) -> Vec<Symptom> {
        Symptom::parse_stored(&self.row.symptoms)
    }
    /// Free-text message to the health centre. Personal data.
    async fn note(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        personal_note(ctx, self.personal, self.row.patient_id, &self.row.note)
    }
    /// Whether the patient reported it themself (else staff, after a call).
    async fn by_patient(&self) -> bool {
        self.row.reporter == entity::enums::ReporterKind::Patient
    }
    /// When the report was made.
    async fn reported_at(&self) -> DateTime<Utc> {
        self.row.reported_at
    }
}

/// An item of a patient's health reports with its cursor.
#[derive(SimpleObject)]
pub struct HealthReportEdge {
    /// Opaque cursor of this report; pass it as `after`.
    pub cursor: String,
    /// The report.
    pub node: HealthReport,
}

/// A page of one patient's health reports, newest recorded first (Relay
/// connection).
#[derive(SimpleObject)]
pub struct HealthReportConnection {
    /// The page's reports with their cursors.
    pub edges: Vec<HealthReportEdge>,
    /// Pagination state.
    pub page_info: PageInfo,
}

/// A telephone follow-up of a patient in accommodation or home care.
pub struct FollowUpCall {
    pub row: follow_up_call::Model,
    pub personal: bool,
}

/// A telephone follow-up of a patient in accommodation or home care (健康観察の電話連絡).
#[Object]
impl FollowUpCall {
    /// Stable identifier of the call.
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    /// Whether the patient was reached.
    async fn reached(&self) -> bool {
        self.row.reached
    }
    /// Result of the call in free text. Personal data.
    async fn note(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        personal_note(ctx, self.personal, self.row.patient_id, &self.row.note)
    }
    /// When the call was made.
    async fn called_at(&self) -> DateTime<Utc> {
        self.row.called_at
    }
}

fn personal_note(ctx: &Context<'_>, allowed: bool, patient_id: i64, note: &Option<String>) -> Result<Option<String>> {
    if allowed {
        note_read(ctx, patient_id, "note");
        Ok(note.clone())
    } else {
        Err(policy::personal_field_forbidden("note").into())
    }
}

/// Notes a read of a personal field for the request's audit entry.
fn note_read(ctx: &Context<'_>, patient_id: i64, field: &'static str) {
    if let Some(trail) = ctx.data_opt::<std::sync::Arc<ReadTrail>>() {
        trail.note(patient_id, field);
    }
}

/// A prefecture (都道府県).
pub struct Prefecture(pub prefecture::Model);

/// A prefecture (都道府県), identified by its JIS X 0401 code.
#[Object(shareable)]
impl Prefecture {
    /// Identifier: the JIS X 0401 number.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Two-digit JIS X 0401 code, "01" (Hokkaido) to "47" (Okinawa).
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// English name as the MHLW open-data files spell it.
    async fn name(&self) -> &str {
        &self.0.name_en
    }
    /// Japanese name.
    async fn name_ja(&self) -> &str {
        &self.0.name_ja
    }
}

/// A health centre (保健所).
pub struct HealthCentre(pub health_centre::Model);

/// A health centre (保健所); each lies in exactly one prefecture.
#[Object(shareable)]
impl HealthCentre {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Public code of the health centre.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// English name.
    async fn name(&self) -> &str {
        &self.0.name_en
    }
    /// Japanese name.
    async fn name_ja(&self) -> &str {
        &self.0.name_ja
    }
    /// The prefecture it lies in.
    async fn prefecture(&self, ctx: &Context<'_>) -> Result<Prefecture> {
        Ok(Prefecture(load_required(ctx, PrefectureById(self.0.prefecture_id)).await?))
    }
}

/// A medical institution that tests or admits patients.
pub struct Facility(pub facility::Model);

/// A medical institution that tests or admits patients (医療機関).
#[Object]
impl Facility {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Public code of the facility.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// English name.
    async fn name(&self) -> &str {
        &self.0.name_en
    }
    /// Japanese name.
    async fn name_ja(&self) -> &str {
        &self.0.name_ja
    }
    /// Testing clinic, testing centre or hospital.
    async fn kind(&self) -> FacilityKind {
        self.0.kind.into()
    }
    /// Whether the facility enters its own data; if not, its health centre
    /// enters data on its behalf.
    async fn has_system_access(&self) -> bool {
        self.0.has_system_access
    }
    /// The health centre whose district covers the facility.
    async fn health_centre(&self, ctx: &Context<'_>) -> Result<HealthCentre> {
        Ok(HealthCentre(load_required(ctx, HealthCentreById(self.0.health_centre_id)).await?))
    }
}

/// An organisation that accounts belong to.
pub struct Organisation(pub organisation::Model);

/// An organisation that accounts belong to, and what it stands for: a health
/// centre, a medical institution or a prefecture (national and operator
/// organisations stand for none of these).
#[Object]
impl Organisation {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Name of the organisation.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// What kind of organisation it is; the role of its accounts follows.
    async fn kind(&self) -> OrganisationKind {
        self.0.kind.into()
    }
    /// The health centre a HEALTH_CENTRE organisation stands for (its
    /// prefecture is `healthCentre.prefecture`); null for other kinds.
    async fn health_centre(&self, ctx: &Context<'_>) -> Result<Option<HealthCentre>> {
        match self.0.health_centre_id {
            Some(id) => Ok(Some(HealthCentre(load_required(ctx, HealthCentreById(id)).await?))),
            None => Ok(None),
        }
    }
    /// The medical institution a MEDICAL_INSTITUTION organisation stands
    /// for; null for other kinds.
    async fn facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        match self.0.facility_id {
            Some(id) => Ok(Some(Facility(load_required(ctx, FacilityById(id)).await?))),
            None => Ok(None),
        }
    }
    /// The prefecture a PREFECTURE organisation stands for; null for other
    /// kinds (a health centre's is `healthCentre.prefecture`).
    async fn prefecture(&self, ctx: &Context<'_>) -> Result<Option<Prefecture>> {
        match self.0.prefecture_id {
            Some(id) => Ok(Some(Prefecture(load_required(ctx, PrefectureById(id)).await?))),
            None => Ok(None),
        }
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

/// Pagination state of a connection (Relay).
#[derive(SimpleObject)]
pub struct PageInfo {
    /// Whether more items follow `endCursor`.
    pub has_next_page: bool,
    /// Whether items precede `startCursor` (true when `after` was given).
    pub has_previous_page: bool,
    /// Cursor of the first item of the page.
    pub start_cursor: Option<String>,
    /// Cursor of the last item of the page; pass it as `after`.
    pub end_cursor: Option<String>,
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

/// The cursor of row `id` in a list of `kind` (opaque to clients).
pub fn encode_kind_cursor(kind: &str, id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
}

/// The row ID of a cursor of a list of `kind`.
pub fn decode_kind_cursor(kind: &str, cursor: &str, field: &str) -> std::result::Result<i64, AppError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(kind)?.strip_prefix(':')?.parse::<i64>().ok())
        .ok_or_else(|| AppError::bad_input(field, "is not a cursor returned by this list"))
}

pub fn encode_cursor(id: i64) -> String {
    encode_kind_cursor("patient", id)
}

pub fn decode_cursor(cursor: &str, field: &str) -> std::result::Result<i64, AppError> {
    decode_kind_cursor("patient", cursor, field)
}

/// The patient a test or a stay belongs to, loaded through the caller's row
/// scope like every patient row; one out of reach is `FORBIDDEN`.
async fn reachable_patient(ctx: &Context<'_>, id: i64) -> Result<Patient> {
    match super::context::load(ctx, ReachablePatientById(id)).await? {
        Some(row) => Ok(Patient(row)),
        None => Err(AppError::forbidden("this patient is not within the caller's reach").into()),
    }
}
