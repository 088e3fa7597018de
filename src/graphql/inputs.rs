//! Input objects, parsed at the edge into the domain types of `services`.
//! A refused value answers `BAD_USER_INPUT` naming the field by its path
//! in the operation (`input.nameKana`).

use async_graphql::{ID, InputObject};
use chrono::{DateTime, NaiveDate, Utc};

use super::enums::*;
use super::scalars::Date;
use crate::domain::{BirthDate, ContactEmail, ContactPhone, NameKana, PersonName, PostalAddress};
use crate::error::{AppError, AppResult};
use crate::services::parse_id;
use crate::services::patients::{NewPatient, PatientFilter};
use crate::services::tests::NewTest;

/// What a new API key may run: either `readOnly: true`, or a list of
/// `operations`.
#[derive(InputObject)]
pub struct ApiKeyScopeInput {
    /// Queries and subscriptions only, no mutation.
    pub read_only: Option<bool>,
    /// The root fields the key may run (e.g. `["statistics"]`), and nothing
    /// else.
    pub operations: Option<Vec<String>>,
}

/// The basic items of a new patient record (新規作成). Only these are
/// needed at test time; the rest can follow.
#[derive(InputObject)]
pub struct RegisterPatientInput {
    /// Type of the person diagnosed (類型).
    pub case_type: CaseType,
    /// Name in kanji (氏名).
    pub name_kanji: String,
    /// Name in full-width katakana (フリガナ): katakana, ー and spaces only.
    pub name_kana: String,
    /// Sex (性別).
    pub sex: Sex,
    /// Date of birth (生年月日); not in the future.
    pub birth_date: Date,
    /// Address (住所).
    pub address: Option<String>,
    /// Telephone number.
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Responsible health centre; by default the one covering the
    /// registering facility (or the caller's own health centre).
    pub health_centre_id: Option<ID>,
    /// On a reinfection: the earlier record of this person, whose case has
    /// ended. The new record carries its smartphone input ID.
    pub previous_patient_id: Option<ID>,
    /// For a health centre entering on behalf of a facility without system
    /// access: that facility.
    pub facility_id: Option<ID>,
}

fn field<T>(result: Result<T, &'static str>, name: &str) -> AppResult<T> {
    result.map_err(|why| AppError::bad_input(name, why))
}

impl RegisterPatientInput {
    pub fn parse(self, today: NaiveDate) -> AppResult<NewPatient> {
        Ok(NewPatient {
            case_type: self.case_type.into(),
            name_kanji: field(PersonName::parse(&self.name_kanji), "input.nameKanji")?,
            name_kana: field(NameKana::parse(&self.name_kana), "input.nameKana")?,
            sex: self.sex.into(),
            birth_date: field(BirthDate::parse(self.birth_date.0, today), "input.birthDate")?,
            address: self.address.as_deref().map(|a| field(PostalAddress::parse(a), "input.address")).transpose()?,
            phone: self.phone.as_deref().map(|p| field(ContactPhone::parse(p), "input.phone")).transpose()?,
            email: self.email.as_deref().map(|e| field(ContactEmail::parse(e), "input.email")).transpose()?,
            health_centre_id: self.health_centre_id.map(|id| parse_id(&id, "input.healthCentreId")).transpose()?,
            previous_patient_id: self
                .previous_patient_id
                .map(|id| parse_id(&id, "input.previousPatientId"))
                .transpose()?,
            facility_id: self.facility_id.map(|id| parse_id(&id, "input.facilityId")).transpose()?,
        })
    }
}

/// A laboratory test taken from a patient.
#[derive(InputObject)]
pub struct RecordTestInput {
    /// The patient tested.
    pub patient_id: ID,
    /// Method of the test.
    pub kind: TestKind,
    /// Result, if already known; `PENDING` by default.
    pub result: Option<TestResult>,
    /// When the sample was taken; now by default. Not in the future.
    pub sampled_at: Option<DateTime<Utc>>,
    /// For a health centre entering on behalf of a facility: the facility
    /// that took the sample.
    pub facility_id: Option<ID>,
}

impl RecordTestInput {
    pub fn parse(self) -> AppResult<NewTest> {
        Ok(NewTest {
            patient_id: parse_id(&self.patient_id, "input.patientId")?,
            kind: self.kind.into(),
            result: self.result.unwrap_or(TestResult::Pending).into(),
            sampled_at: self.sampled_at,
            facility_id: self.facility_id.map(|id| parse_id(&id, "input.facilityId")).transpose()?,
        })
    }
}

/// Filters of the `patients` list; all optional, combined with AND.
#[derive(InputObject, Default)]
pub struct PatientFilterInput {
    /// Responsible health centre.
    pub health_centre_id: Option<ID>,
    /// Type of the person diagnosed.
    pub case_type: Option<CaseType>,
    /// Current care setting.
    pub care_setting: Option<CareSetting>,
    /// Registered at or after this moment.
    pub registered_from: Option<DateTime<Utc>>,
    /// Registered before this moment.
    pub registered_to: Option<DateTime<Utc>>,
}

impl PatientFilterInput {
    pub fn parse(self) -> AppResult<PatientFilter> {
        if let (Some(from), Some(to)) = (self.registered_from, self.registered_to)
            && to < from
        {
            return Err(AppError::bad_input("filter.registeredTo", "must not be before filter.registeredFrom"));
        }
        Ok(PatientFilter {
            health_centre_id: self.health_centre_id.map(|id| parse_id(&id, "filter.healthCentreId")).transpose()?,
            case_type: self.case_type.map(Into::into),
            care_setting: self.care_setting.map(Into::into),
            registered_from: self.registered_from,
            registered_to: self.registered_to,
        })
    }
}

/// A daily health report (My HER-SYS): from the patient, or entered by
/// staff after a call.
#[derive(InputObject)]
pub struct HealthReportInput {
    /// The patient; omitted when a signed-in patient reports about themself.
    pub patient_id: Option<ID>,
    /// Body temperature in °C (体温).
    pub body_temperature: f64,
    /// SpO2 in %, when a pulse oximeter is available (酸素飽和度).
    pub spo2: Option<i32>,
    /// Symptoms felt; an empty list for none.
    pub symptoms: Vec<super::follow_up::Symptom>,
    /// A message to the health centre, or what `OTHER` means.
    pub note: Option<String>,
    /// When the report was made; now by default.
    pub reported_at: Option<DateTime<Utc>>,
}

impl HealthReportInput {
    pub fn parse(self) -> AppResult<crate::services::follow_up::NewHealthReport> {
        let mut symptoms: Vec<&'static str> = self.symptoms.iter().map(|s| s.stored_name()).collect();
        symptoms.sort_unstable();
        symptoms.dedup();
        Ok(crate::services::follow_up::NewHealthReport {
            patient_id: self.patient_id.map(|id| parse_id(&id, "input.patientId")).transpose()?,
            body_temperature: self.body_temperature,
            spo2: self.spo2,
            symptoms,
            note: self.note,
            reported_at: self.reported_at,
        })
    }
}

/// A follow-up telephone call (電話連絡) to a patient in accommodation or
/// home care.
#[derive(InputObject)]
pub struct FollowUpCallInput {
    /// The patient called.
    pub patient_id: ID,
    /// Whether the patient was reached.
    pub reached: bool,
    /// The result of the call.
    pub note: Option<String>,
    /// When the call was made; now by default.
    pub called_at: Option<DateTime<Utc>>,
}

/// Medical care received during accommodation or home care (療養中の受診).
#[derive(InputObject)]
pub struct MedicalVisitInput {
    /// The patient.
    pub patient_id: ID,
    /// Date of the visit (受診日).
    pub visited_on: Date,
    /// Name of the medical institution (医療機関名).
    pub institution_name: String,
}
