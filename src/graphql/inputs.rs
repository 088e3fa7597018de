//! Input objects, parsed at the edge into the domain types of `services`.
//! A refused value answers `BAD_USER_INPUT` naming the field by its path
//! in the operation (`input.nameKana`).

use async_graphql::{ID, InputObject, MaybeUndefined};
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
    /// Registers the person even though records in the caller's reach have
    /// the same reading (or telephone number) and date of birth: without it
    /// such a registration is refused with `CONFLICT` listing them
    /// (`extensions.candidates`).
    pub confirm_new_person: Option<bool>,
    /// Under the limited notification (from the date the operator set,
    /// September 2022 in the real system): the group the person is notified
    /// individually for. A confirmed case or carrier under 65 without one is
    /// refused: it belongs in the facility's daily counts.
    pub notification_group: Option<NotificationGroup>,
    /// An earlier infection whose record is not reachable (another
    /// district, or before the system): the earlier smartphone input ID,
    /// date and place as free text, at most 500 characters. Marks the
    /// record as a reinfection.
    pub prior_infection_note: Option<String>,
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
            confirm_new_person: self.confirm_new_person.unwrap_or(false),
            notification_group: self.notification_group.map(Into::into),
            prior_infection_note: self
                .prior_infection_note
                .map(|n| note(&n, 500, "input.priorInfectionNote"))
                .transpose()?
                .flatten(),
        })
    }
}

/// The items of a patient record to complete or correct (`updatePatient`).
/// Every field is optional: one left out stays as it is, one set to `null`
/// (or an empty text or list) is cleared, the basic items cannot be
/// cleared. Each change is kept in the record's history.
#[derive(InputObject, Default)]
pub struct UpdatePatientInput {
    /// Type of the person diagnosed (類型): a suspected case or a close
    /// contact confirmed names `diagnosisDate` too.
    pub case_type: Option<CaseType>,
    /// Name in kanji (氏名).
    pub name_kanji: Option<String>,
    /// Name in katakana (フリガナ); half-width katakana is taken as its
    /// full-width letters.
    pub name_kana: Option<String>,
    /// Sex (性別).
    pub sex: Option<Sex>,
    /// Date of birth (生年月日): a correction moves the age band in every
    /// figure from the moment it is recorded.
    pub birth_date: Option<Date>,
    /// Address (住所).
    pub address: MaybeUndefined<String>,
    /// Telephone number.
    pub phone: MaybeUndefined<String>,
    /// E-mail address.
    pub email: MaybeUndefined<String>,
    /// For a health centre entering on behalf of a facility without system
    /// access: that facility (recorded with each change).
    pub facility_id: Option<ID>,
    /// Occupation (職業), at most 100 characters.
    pub occupation: MaybeUndefined<String>,
    /// Guardian's name, for a minor (保護者氏名).
    pub guardian_name: MaybeUndefined<String>,
    /// Where the patient is, when not at the address (所在地), at most 200
    /// characters.
    pub current_location: MaybeUndefined<String>,
    /// Onset date (発病年月日): from December 2019, not before the date of
    /// birth, not in the future. Sets the release rule that applies.
    pub onset_date: MaybeUndefined<Date>,
    /// Diagnosis date (診断年月日), same bounds.
    pub diagnosis_date: MaybeUndefined<Date>,
    /// Method of diagnosis (診断方法).
    pub diagnosis_method: MaybeUndefined<DiagnosisMethod>,
    /// Specimen of the diagnosis (検体).
    pub specimen: MaybeUndefined<Specimen>,
    /// First visit date (初診年月日), same bounds.
    pub first_visit_date: MaybeUndefined<Date>,
    /// Estimated date of infection (感染推定日), same bounds.
    pub estimated_infection_date: MaybeUndefined<Date>,
    /// Cause, route and region of infection as the form's free text
    /// (感染原因・感染経路・感染地域), at most 1,000 characters.
    pub infection_route: MaybeUndefined<String>,
    /// The category of the infection route; `UNKNOWN` when investigated and
    /// not found (counted in the unknown-route share).
    pub infection_route_category: MaybeUndefined<InfectionRoute>,
    /// How sure the route is.
    pub infection_route_certainty: MaybeUndefined<RouteCertainty>,
    /// Symptoms at diagnosis (症状); an empty list clears them.
    pub symptoms: Option<Vec<SymptomAtDiagnosis>>,
    /// SpO2 on room air at diagnosis, 50 to 100 %.
    pub spo2_at_diagnosis: MaybeUndefined<i32>,
    /// Severity at diagnosis (診断時の重症度).
    pub severity_at_diagnosis: MaybeUndefined<Severity>,
    /// Whether admission is needed (入院の必要性).
    pub needs_admission: MaybeUndefined<bool>,
    /// Risk factors for severe disease; an empty list clears them.
    pub risk_factors: Option<Vec<RiskFactor>>,
    /// Doses of vaccine received (ワクチン接種歴), 0 to 10.
    pub vaccination_doses: MaybeUndefined<i32>,
    /// An earlier infection whose record is not reachable (another
    /// district, or before the system): the earlier smartphone input ID,
    /// date and place as free text, at most 500 characters.
    pub prior_infection_note: MaybeUndefined<String>,
    /// Notes (備考), at most 2,000 characters.
    pub notes: MaybeUndefined<String>,
}

/// An optional item: left out keeps it, null clears it, a value is parsed.
#[allow(clippy::type_complexity)]
fn item<T, U>(value: MaybeUndefined<T>, parse: impl FnOnce(T) -> AppResult<Option<U>>) -> AppResult<Option<Option<U>>> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(v) => parse(v).map(Some),
    }
}

/// A line of free text of at most `max` characters; empty is none.
pub(super) fn line(raw: &str, max: usize, name: &str) -> AppResult<Option<String>> {
    let text = raw.trim();
    if text.chars().count() > max {
        return Err(AppError::bad_input(name, format!("must be at most {max} characters")));
    }
    field(crate::domain::text::check_line(text), name)?;
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// A note of free text of at most `max` characters; empty is none.
pub(super) fn note(raw: &str, max: usize, name: &str) -> AppResult<Option<String>> {
    field(crate::domain::text::parse_note(raw, max), name)
}

impl UpdatePatientInput {
    pub fn parse(self, today: NaiveDate) -> AppResult<crate::services::patient_record::PatientChanges> {
        use crate::domain::notification::{check_doses, check_spo2};
        Ok(crate::services::patient_record::PatientChanges {
            case_type: self.case_type.map(Into::into),
            name_kanji: self.name_kanji.map(|n| field(PersonName::parse(&n), "input.nameKanji")).transpose()?,
            name_kana: self.name_kana.map(|n| field(NameKana::parse(&n), "input.nameKana")).transpose()?,
            sex: self.sex.map(Into::into),
            birth_date: self.birth_date.map(|d| field(BirthDate::parse(d.0, today), "input.birthDate")).transpose()?,
            address: item(self.address, |a| field(PostalAddress::parse(&a), "input.address").map(Some))?,
            phone: item(self.phone, |p| field(ContactPhone::parse(&p), "input.phone").map(Some))?,
            email: item(self.email, |e| field(ContactEmail::parse(&e), "input.email").map(Some))?,
            occupation: item(self.occupation, |o| line(&o, 100, "input.occupation"))?,
            guardian_name: item(self.guardian_name, |g| {
                if g.trim().is_empty() {
                    return Ok(None);
                }
                field(PersonName::parse(&g), "input.guardianName").map(|n| Some(n.into_inner()))
            })?,
            current_location: item(self.current_location, |l| line(&l, 200, "input.currentLocation"))?,
            onset_date: item(self.onset_date, |d| Ok(Some(d.0)))?,
            diagnosis_date: item(self.diagnosis_date, |d| Ok(Some(d.0)))?,
            diagnosis_method: item(self.diagnosis_method, |m| Ok(Some(m.into())))?,
            specimen: item(self.specimen, |s| Ok(Some(s.into())))?,
            first_visit_date: item(self.first_visit_date, |d| Ok(Some(d.0)))?,
            estimated_infection_date: item(self.estimated_infection_date, |d| Ok(Some(d.0)))?,
            infection_route: item(self.infection_route, |r| note(&r, 1_000, "input.infectionRoute"))?,
            infection_route_category: item(self.infection_route_category, |r| Ok(Some(r.into())))?,
            infection_route_certainty: item(self.infection_route_certainty, |c| Ok(Some(c.into())))?,
            symptoms: self.symptoms.map(|list| list.into_iter().map(Into::into).collect()),
            spo2_at_diagnosis: item(self.spo2_at_diagnosis, |v| {
                field(check_spo2(v), "input.spo2AtDiagnosis").map(Some)
            })?,
            severity_at_diagnosis: item(self.severity_at_diagnosis, |s| Ok(Some(s.into())))?,
            needs_admission: item(self.needs_admission, |b| Ok(Some(b)))?,
            risk_factors: self.risk_factors.map(|list| list.into_iter().map(Into::into).collect()),
            vaccination_doses: item(self.vaccination_doses, |v| {
                field(check_doses(v), "input.vaccinationDoses").map(Some)
            })?,
            prior_infection_note: item(self.prior_infection_note, |n| note(&n, 500, "input.priorInfectionNote"))?,
            notes: item(self.notes, |n| note(&n, 2_000, "input.notes"))?,
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
    /// The facility's own specimen ID (検体ID), at most 64 characters: the
    /// same test sent again (same patient, method and result) is
    /// recognised and returned as it stands; any other use of the ID at
    /// the facility is refused with CONFLICT.
    pub specimen_id: Option<String>,
}

impl RecordTestInput {
    pub fn parse(self) -> AppResult<NewTest> {
        Ok(NewTest {
            patient_id: parse_id(&self.patient_id, "input.patientId")?,
            kind: self.kind.into(),
            result: self.result.unwrap_or(TestResult::Pending).into(),
            sampled_at: self.sampled_at,
            facility_id: self.facility_id.map(|id| parse_id(&id, "input.facilityId")).transpose()?,
            specimen_id: self.specimen_id.map(|id| line(&id, 64, "input.specimenId")).transpose()?.flatten(),
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
    /// The record's status: `ACTIVE` leaves out records closed as not a
    /// case and withdrawn duplicates.
    pub record_status: Option<RecordStatus>,
    /// Where the notification stands with the health centre.
    pub notification_status: Option<NotificationStatus>,
    /// `true`: only records still lacking an item the rules in force
    /// require (`Patient.missingItems`).
    pub incomplete: Option<bool>,
    /// Sex as entered.
    pub sex: Option<Sex>,
    /// The prefecture of the responsible health centre.
    pub prefecture_id: Option<ID>,
    /// `true`: open cases only (no outcome recorded); `false`: ended ones.
    pub open: Option<bool>,
    /// The ten-year age band at registration (`Patient.ageBand`).
    pub age_band: Option<super::enums::AgeBand>,
    /// The severity of a hospital stay not ended yet (its latest recorded
    /// condition).
    pub severity: Option<super::enums::Severity>,
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
            record_status: self.record_status.map(Into::into),
            person: Default::default(),
            notification_status: self.notification_status.map(Into::into),
            incomplete: self.incomplete.unwrap_or(false),
            oldest_first: false,
            sex: self.sex.map(Into::into),
            prefecture_id: self
                .prefecture_id
                .map(|id| {
                    id.parse::<i32>().map_err(|_| AppError::bad_input("filter.prefectureId", "is not a prefecture ID"))
                })
                .transpose()?,
            open: self.open,
            age_band: self.age_band.map(Into::into),
            severity: self.severity.map(Into::into),
            follow_up: None,
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
    /// Emergency signs (the national list) noticed; any one raises an
    /// alert at the health centre. None by default.
    #[graphql(default)]
    pub emergency_signs: Vec<super::follow_up::EmergencySign>,
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
        let mut emergency_signs: Vec<&'static str> = self.emergency_signs.iter().map(|s| s.stored_name()).collect();
        emergency_signs.sort_unstable();
        emergency_signs.dedup();
        Ok(crate::services::follow_up::NewHealthReport {
            emergency_signs,
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
