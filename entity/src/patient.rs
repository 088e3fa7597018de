//! A patient or close contact: the notification form's items and the case state.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "patients")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Type of the person diagnosed (類型).
    pub case_type: CaseType,
    pub name_kanji: String,
    pub name_kana: String,
    pub sex: Sex,
    pub birth_date: Date,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub occupation: Option<String>,
    pub guardian_name: Option<String>,
    pub onset_date: Option<Date>,
    pub diagnosis_date: Option<Date>,
    pub diagnosis_method: Option<DiagnosisMethod>,
    pub notes: Option<String>,
    /// The smartphone input ID (スマホ入力ID), digits only.
    #[sea_orm(unique)]
    pub smartphone_id: String,
    /// The smartphone input ID of the earlier infection, on a reinfection.
    pub previous_smartphone_id: Option<String>,
    /// The record of the earlier infection, on a reinfection.
    pub previous_patient_id: Option<i64>,
    pub prior_infection: bool,
    pub responsible_health_centre_id: i64,
    /// The facility that registered the patient; none when a health centre
    /// registered on its own account.
    pub registering_facility_id: Option<i64>,
    pub registered_by_account_id: i64,
    pub care_setting: CareSetting,
    /// Whether the current care setting was decided by the prefecture
    /// itself (not the responsible health centre).
    pub care_decided_by_prefecture: bool,
    /// Cared for in their elderly or welfare facility (a `HOME` decision).
    pub in_welfare_facility: bool,
    pub outcome: Option<Outcome>,
    pub outcome_at: Option<DateTimeUtc>,
    pub outcome_recorded_at: Option<DateTimeUtc>,
    /// Optimistic-concurrency version, raised by every update.
    pub version: i32,
    /// When the record was created (新規作成).
    pub registered_at: DateTimeUtc,
    pub recorded_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Where the patient is now, when not at the address (現在の所在地).
    pub current_location: Option<String>,
    pub first_visit_date: Option<Date>,
    pub estimated_infection_date: Option<Date>,
    /// Cause, route and region of infection, as the form's free text.
    pub infection_route: Option<String>,
    /// The symptoms at diagnosis: `Symptom` names, sorted, comma-separated.
    pub symptoms: Option<String>,
    pub specimen: Option<Specimen>,
    pub spo2_at_diagnosis: Option<i16>,
    pub severity_at_diagnosis: Option<Severity>,
    pub needs_admission: Option<bool>,
    /// `RiskFactor` names, sorted, comma-separated.
    pub risk_factors: Option<String>,
    pub vaccination_doses: Option<i16>,
    /// An earlier infection whose record is out of reach: the earlier
    /// smartphone input ID, date and place as free text.
    pub prior_infection_note: Option<String>,
    pub record_status: RecordStatus,
    pub status_reason: Option<String>,
    /// For a withdrawn duplicate: the record that survives.
    pub withdrawn_into_patient_id: Option<i64>,
    /// The name reading as searched (`domain::kana::search_key`).
    pub name_kana_key: String,
    /// The telephone number's digits.
    pub phone_digits: Option<String>,
    /// Where the notification stands with the health centre (受理).
    pub notification_status: NotificationStatus,
    /// Why it was returned.
    pub notification_reason: Option<String>,
    pub notification_decided_at: Option<DateTimeUtc>,
    /// For a release from care: the release rule it was decided under.
    pub outcome_rule: Option<String>,
    /// Under the limited notification (from September 2022): the group the
    /// person is notified individually for.
    pub notification_group: Option<NotificationGroup>,
    /// Where the infection most likely happened (感染経路).
    pub infection_route_category: Option<InfectionRoute>,
    /// How sure that is.
    pub infection_route_certainty: Option<RouteCertainty>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
