//! The record after registration: completing and correcting its items
//! (`updatePatient`), closing a suspected case as not a case, withdrawing a
//! duplicate into the record that survives, and the record's history.
//!
//! Every change goes through the unit of work (`patient_write`): the
//! patient is locked, the policy asked, and the change committed with the
//! statistics ledger refreshed (a corrected date of birth moves the age
//! band from the moment of the correction on; a withdrawn record leaves
//! every figure from then on) and the audit entry. Each changed item is
//! also a row of `patient_changes` (old → new, who, for which facility),
//! from which the record can be read as it stood at any moment
//! ([`as_recorded_at`]).

use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::{
    CaseType, DiagnosisMethod, InfectionRoute, NotificationStatus, RecordStatus, RouteCertainty, Severity, Sex,
    Specimen,
};
use entity::{facility, patient, patient_change, patient_referral};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::patient_write::Locked;
use crate::auth::Principal;
use crate::auth::policy::{self, CaseAction};
use crate::domain::notification::{self, RiskFactor, Symptom};
use crate::domain::{BirthDate, ContactEmail, ContactPhone, NameKana, PersonName, PostalAddress};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A parsed change of a record: `None` leaves an item as it is,
/// `Some(None)` clears it, `Some(Some(v))` sets it. Values are already
/// valid on their own; the rules between items (a day of the case after
/// the date of birth, a confirmed case with its diagnosis date) are checked
/// against the record.
#[derive(Debug, Default)]
pub struct PatientChanges {
    pub case_type: Option<CaseType>,
    pub name_kanji: Option<PersonName>,
    pub name_kana: Option<NameKana>,
    pub sex: Option<Sex>,
    pub birth_date: Option<BirthDate>,
    pub address: Option<Option<PostalAddress>>,
    pub phone: Option<Option<ContactPhone>>,
    pub email: Option<Option<ContactEmail>>,
    pub occupation: Option<Option<String>>,
    pub guardian_name: Option<Option<String>>,
    pub current_location: Option<Option<String>>,
    pub onset_date: Option<Option<NaiveDate>>,
    pub diagnosis_date: Option<Option<NaiveDate>>,
    pub diagnosis_method: Option<Option<DiagnosisMethod>>,
    pub specimen: Option<Option<Specimen>>,
    pub first_visit_date: Option<Option<NaiveDate>>,
    pub estimated_infection_date: Option<Option<NaiveDate>>,
    pub infection_route: Option<Option<String>>,
    pub infection_route_category: Option<Option<InfectionRoute>>,
    pub infection_route_certainty: Option<Option<RouteCertainty>>,
    pub symptoms: Option<Vec<Symptom>>,
    pub spo2_at_diagnosis: Option<Option<i16>>,
    pub severity_at_diagnosis: Option<Option<Severity>>,
    pub needs_admission: Option<Option<bool>>,
    pub risk_factors: Option<Vec<RiskFactor>>,
    pub vaccination_doses: Option<Option<i16>>,
    pub prior_infection_note: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    /// For a health centre entering on behalf of a facility.
    pub facility_id: Option<i64>,
}

impl PatientChanges {
    /// The record with the changes applied.
    fn applied_to(&self, current: &patient::Model) -> patient::Model {
        fn set<T: Clone>(target: &mut T, change: &Option<T>) {
            if let Some(value) = change {
                *target = value.clone();
            }
        }
        let mut p = current.clone();
        set(&mut p.case_type, &self.case_type);
        set(&mut p.name_kanji, &self.name_kanji.clone().map(PersonName::into_inner));
        if let Some(kana) = &self.name_kana {
            p.name_kana_key = kana.search_key();
            p.name_kana = kana.clone().into_inner();
        }
        set(&mut p.sex, &self.sex);
        set(&mut p.birth_date, &self.birth_date.map(|b| b.date()));
        set(&mut p.address, &self.address.clone().map(|a| a.map(PostalAddress::into_inner)));
        if let Some(phone) = &self.phone {
            p.phone_digits = phone.as_ref().map(ContactPhone::digits);
            p.phone = phone.clone().map(ContactPhone::into_inner);
        }
        set(&mut p.email, &self.email.clone().map(|e| e.map(ContactEmail::into_inner)));
        set(&mut p.occupation, &self.occupation);
        set(&mut p.guardian_name, &self.guardian_name);
        set(&mut p.current_location, &self.current_location);
        set(&mut p.onset_date, &self.onset_date);
        set(&mut p.diagnosis_date, &self.diagnosis_date);
        set(&mut p.diagnosis_method, &self.diagnosis_method);
        set(&mut p.specimen, &self.specimen);
        set(&mut p.first_visit_date, &self.first_visit_date);
        set(&mut p.estimated_infection_date, &self.estimated_infection_date);
        set(&mut p.infection_route, &self.infection_route);
        set(&mut p.infection_route_category, &self.infection_route_category);
        set(&mut p.infection_route_certainty, &self.infection_route_certainty);
        set(&mut p.symptoms, &self.symptoms.as_ref().map(|s| notification::store_set(s, Symptom::name)));
        set(&mut p.spo2_at_diagnosis, &self.spo2_at_diagnosis);
        set(&mut p.severity_at_diagnosis, &self.severity_at_diagnosis);
        set(&mut p.needs_admission, &self.needs_admission);
        set(&mut p.risk_factors, &self.risk_factors.as_ref().map(|r| notification::store_set(r, RiskFactor::name)));
        set(&mut p.vaccination_doses, &self.vaccination_doses);
        set(&mut p.prior_infection_note, &self.prior_infection_note);
        set(&mut p.notes, &self.notes);
        p
    }
}

/// The items of a record that its history follows, by their GraphQL names.
/// (The search keys follow the reading and the phone; the version and the
/// moments are the write's own.)
pub const ITEMS: [(&str, patient::Column); 33] = [
    ("caseType", patient::Column::CaseType),
    ("nameKanji", patient::Column::NameKanji),
    ("nameKana", patient::Column::NameKana),
    ("sex", patient::Column::Sex),
    ("birthDate", patient::Column::BirthDate),
    ("address", patient::Column::Address),
    ("phone", patient::Column::Phone),
    ("email", patient::Column::Email),
    ("occupation", patient::Column::Occupation),
    ("guardianName", patient::Column::GuardianName),
    ("currentLocation", patient::Column::CurrentLocation),
    ("onsetDate", patient::Column::OnsetDate),
    ("diagnosisDate", patient::Column::DiagnosisDate),
    ("diagnosisMethod", patient::Column::DiagnosisMethod),
    ("specimen", patient::Column::Specimen),
    ("firstVisitDate", patient::Column::FirstVisitDate),
    ("estimatedInfectionDate", patient::Column::EstimatedInfectionDate),
    ("infectionRoute", patient::Column::InfectionRoute),
    ("infectionRouteCategory", patient::Column::InfectionRouteCategory),
    ("infectionRouteCertainty", patient::Column::InfectionRouteCertainty),
    ("symptoms", patient::Column::Symptoms),
    ("spo2AtDiagnosis", patient::Column::Spo2AtDiagnosis),
    ("severityAtDiagnosis", patient::Column::SeverityAtDiagnosis),
    ("needsAdmission", patient::Column::NeedsAdmission),
    ("riskFactors", patient::Column::RiskFactors),
    ("vaccinationDoses", patient::Column::VaccinationDoses),
    ("priorInfectionNote", patient::Column::PriorInfectionNote),
    ("notes", patient::Column::Notes),
    ("recordStatus", patient::Column::RecordStatus),
    ("statusReason", patient::Column::StatusReason),
    ("withdrawnIntoPatientId", patient::Column::WithdrawnIntoPatientId),
    ("notificationStatus", patient::Column::NotificationStatus),
    ("notificationReason", patient::Column::NotificationReason),
];

/// An item's value as the history keeps it: dates in ISO 8601,
/// enumerations by name, numbers in decimal; none when empty.
pub fn item_text(p: &patient::Model, item: &str) -> Option<String> {
    fn text<T: ToString>(value: &Option<T>) -> Option<String> {
        value.as_ref().map(ToString::to_string)
    }
    match item {
        "caseType" => Some(p.case_type.to_value()),
        "nameKanji" => Some(p.name_kanji.clone()),
        "nameKana" => Some(p.name_kana.clone()),
        "sex" => Some(p.sex.to_value()),
        "birthDate" => Some(p.birth_date.to_string()),
        "address" => p.address.clone(),
        "phone" => p.phone.clone(),
        "email" => p.email.clone(),
        "occupation" => p.occupation.clone(),
        "guardianName" => p.guardian_name.clone(),
        "currentLocation" => p.current_location.clone(),
        "onsetDate" => text(&p.onset_date),
        "diagnosisDate" => text(&p.diagnosis_date),
        "diagnosisMethod" => p.diagnosis_method.map(|m| m.to_value()),
        "specimen" => p.specimen.map(|s| s.to_value()),
        "firstVisitDate" => text(&p.first_visit_date),
        "estimatedInfectionDate" => text(&p.estimated_infection_date),
        "infectionRoute" => p.infection_route.clone(),
        "infectionRouteCategory" => p.infection_route_category.map(|r| r.to_value()),
        "infectionRouteCertainty" => p.infection_route_certainty.map(|c| c.to_value()),
        "symptoms" => p.symptoms.clone(),
        "spo2AtDiagnosis" => text(&p.spo2_at_diagnosis),
        "severityAtDiagnosis" => p.severity_at_diagnosis.map(|s| s.to_value()),
        "needsAdmission" => text(&p.needs_admission),
        "riskFactors" => p.risk_factors.clone(),
        "vaccinationDoses" => text(&p.vaccination_doses),
        "priorInfectionNote" => p.prior_infection_note.clone(),
        "notes" => p.notes.clone(),
        "recordStatus" => Some(p.record_status.to_value()),
        "statusReason" => p.status_reason.clone(),
        "withdrawnIntoPatientId" => text(&p.withdrawn_into_patient_id),
        "notificationStatus" => Some(p.notification_status.to_value()),
        "notificationReason" => p.notification_reason.clone(),
        _ => None,
    }
}

/// Puts back an item from its history text ([`item_text`]'s inverse). A
/// text that does not read back leaves the item as it is.
fn restore_item(p: &mut patient::Model, item: &str, text: Option<&str>) {
    fn parsed<T: std::str::FromStr>(text: Option<&str>) -> Option<Option<T>> {
        match text {
            None => Some(None),
            Some(t) => t.parse().ok().map(Some),
        }
    }
    fn named<E: ActiveEnum<Value = String>>(text: Option<&str>) -> Option<Option<E>> {
        match text {
            None => Some(None),
            Some(t) => E::try_from_value(&t.to_owned()).ok().map(Some),
        }
    }
    fn put<T>(target: &mut T, value: Option<T>) {
        if let Some(value) = value {
            *target = value;
        }
    }
    let owned = text.map(str::to_owned);
    match item {
        "caseType" => put(&mut p.case_type, named(text).flatten()),
        "nameKanji" => put(&mut p.name_kanji, owned),
        "nameKana" => put(&mut p.name_kana, owned),
        "sex" => put(&mut p.sex, named(text).flatten()),
        "birthDate" => put(&mut p.birth_date, parsed(text).flatten()),
        "address" => p.address = owned,
        "phone" => p.phone = owned,
        "email" => p.email = owned,
        "occupation" => p.occupation = owned,
        "guardianName" => p.guardian_name = owned,
        "currentLocation" => p.current_location = owned,
        "onsetDate" => put(&mut p.onset_date, parsed(text)),
        "diagnosisDate" => put(&mut p.diagnosis_date, parsed(text)),
        "diagnosisMethod" => put(&mut p.diagnosis_method, named(text)),
        "specimen" => put(&mut p.specimen, named(text)),
        "firstVisitDate" => put(&mut p.first_visit_date, parsed(text)),
        "estimatedInfectionDate" => put(&mut p.estimated_infection_date, parsed(text)),
        "infectionRoute" => p.infection_route = owned,
        "infectionRouteCategory" => put(&mut p.infection_route_category, named(text)),
        "infectionRouteCertainty" => put(&mut p.infection_route_certainty, named(text)),
        "symptoms" => p.symptoms = owned,
        "spo2AtDiagnosis" => put(&mut p.spo2_at_diagnosis, parsed(text)),
        "severityAtDiagnosis" => put(&mut p.severity_at_diagnosis, named(text)),
        "needsAdmission" => put(&mut p.needs_admission, parsed(text)),
        "riskFactors" => p.risk_factors = owned,
        "vaccinationDoses" => put(&mut p.vaccination_doses, parsed(text)),
        "priorInfectionNote" => p.prior_infection_note = owned,
        "notes" => p.notes = owned,
        "recordStatus" => put(&mut p.record_status, named(text).flatten()),
        "statusReason" => p.status_reason = owned,
        "withdrawnIntoPatientId" => put(&mut p.withdrawn_into_patient_id, parsed(text)),
        "notificationStatus" => put(&mut p.notification_status, named(text).flatten()),
        "notificationReason" => p.notification_reason = owned,
        _ => {}
    }
}

/// The record as it stood at `at`: the current record with every change
/// recorded after `at` undone, newest first. `changes` are the record's
/// history in any order.
pub fn as_recorded_at(
    current: &patient::Model,
    changes: &[patient_change::Model],
    at: DateTime<Utc>,
) -> Option<patient::Model> {
    if current.registered_at > at {
        return None;
    }
    let mut later: Vec<&patient_change::Model> = changes.iter().filter(|c| c.recorded_at > at).collect();
    later.sort_by_key(|c| std::cmp::Reverse(c.id));
    let mut record = current.clone();
    for change in later {
        restore_item(&mut record, &change.field, change.old_value.as_deref());
        record.version = record.version.min(change.version - 1);
    }
    Some(record)
}

/// The changed items between two states of a record: (item, column, old,
/// new), in the order of [`ITEMS`].
fn differences(
    before: &patient::Model,
    after: &patient::Model,
) -> Vec<(&'static str, patient::Column, Option<String>, Option<String>)> {
    ITEMS
        .iter()
        .filter_map(|(item, column)| {
            let (old, new) = (item_text(before, item), item_text(after, item));
            (old != new).then_some((*item, *column, old, new))
        })
        .collect()
}

/// Stores the record `after` in place of the write's current one: the
/// changed columns (with the search keys that follow them), one history
/// row per changed item, then the commit with the ledger refresh and the
/// audit entry `action`. Returns the record as stored.
async fn store(
    mut write: super::patient_write::PatientWrite<'_>,
    principal: &Principal,
    expected_version: i32,
    after: patient::Model,
    facility: Option<i64>,
    action: &str,
) -> AppResult<patient::Model> {
    let before = write.patient().clone();
    let changed = differences(&before, &after);
    if changed.is_empty() {
        // Nothing to change: the record as it is, if the version still holds.
        if before.version != expected_version {
            return Err(AppError::conflict(format!(
                "the patient record is at version {}, not {expected_version}: someone else changed it; reload and try again",
                before.version
            )));
        }
        return Ok(before);
    }
    let active: patient::ActiveModel = after.clone().into();
    let mut columns: Vec<patient::Column> = changed.iter().map(|(_, column, _, _)| *column).collect();
    if before.name_kana_key != after.name_kana_key {
        columns.push(patient::Column::NameKanaKey);
    }
    if before.phone_digits != after.phone_digits {
        columns.push(patient::Column::PhoneDigits);
    }
    if before.notification_decided_at != after.notification_decided_at {
        columns.push(patient::Column::NotificationDecidedAt);
    }
    let sets: Vec<(patient::Column, SimpleExpr)> = columns
        .into_iter()
        .filter_map(|column| active.get(column).into_value().map(|value| (column, Expr::value(value))))
        .collect();
    let stored = write.update_patient(Some(expected_version), sets).await?;
    let account_id = principal.account_id.ok_or_else(|| AppError::forbidden("staff only"))?;
    for (item, _, old, new) in &changed {
        patient_change::ActiveModel {
            patient_id: Set(stored.id),
            version: Set(stored.version),
            field: Set((*item).to_owned()),
            old_value: Set(old.clone()),
            new_value: Set(new.clone()),
            account_id: Set(account_id),
            facility_id: Set(facility),
            recorded_at: Set(stored.updated_at),
            ..Default::default()
        }
        .insert(write.txn())
        .await?;
    }
    let fields: Vec<&str> = changed.iter().map(|(item, _, _, _)| *item).collect();
    write.commit(action, &fields).await?;
    Ok(stored)
}

/// Completes or corrects the items of a record at `expected_version`.
pub async fn update(
    state: &AppState,
    principal: &Principal,
    id: i64,
    expected_version: i32,
    changes: PatientChanges,
) -> AppResult<patient::Model> {
    let now = state.now();
    let locked = Locked::open(state, principal, id, "patientId", now).await?;
    let facility = super::entry_facility(locked.txn(), principal, changes.facility_id, "complete records").await?;
    // The policy weighs the registering facility (medical staff complete
    // the records their own facility registered).
    let registering = match locked.patient().registering_facility_id {
        Some(id) => facility::Entity::find_by_id(id).one(locked.txn()).await?,
        None => None,
    };
    let write = locked.authorise(CaseAction::CompleteRecord, registering.as_ref())?;
    let mut after = changes.applied_to(write.patient());
    check_items(&after, write.patient(), now.date_naive())?;
    // A returned notification corrected by its facility is received again.
    if after.notification_status == NotificationStatus::Returned
        && policy::resubmits_notification(principal)
        && !differences(write.patient(), &after).is_empty()
    {
        after.notification_status = NotificationStatus::Received;
    }
    store(write, principal, expected_version, after, facility.map(|f| f.id), "UPDATE_PATIENT").await
}

/// The rules between items, on the record as it would stand: each day of
/// the case lies between the date of birth and today; a case confirmed from
/// a suspected case or a contact names its diagnosis date.
fn check_items(after: &patient::Model, before: &patient::Model, today: NaiveDate) -> AppResult<()> {
    let days = [
        ("input.onsetDate", after.onset_date),
        ("input.diagnosisDate", after.diagnosis_date),
        ("input.firstVisitDate", after.first_visit_date),
        ("input.estimatedInfectionDate", after.estimated_infection_date),
    ];
    for (field, day) in days {
        if let Some(day) = day {
            notification::check_case_day(day, after.birth_date, today)
                .map_err(|why| AppError::bad_input(field, why))?;
        }
    }
    let unconfirmed = |t: CaseType| matches!(t, CaseType::Suspected | CaseType::CloseContact);
    let confirmed_now = !unconfirmed(after.case_type) && unconfirmed(before.case_type);
    if confirmed_now && after.diagnosis_date.is_none() {
        return Err(AppError::bad_input(
            "input.diagnosisDate",
            "is required when a suspected case or a close contact is confirmed",
        ));
    }
    if before.record_status != RecordStatus::Active && after.case_type != before.case_type {
        return Err(AppError::conflict("the record has been closed or withdrawn: its case type no longer changes"));
    }
    Ok(())
}

/// Closes a suspected case or a close contact whose tests found nothing as
/// not a case (from then on it counts in no figure).
pub async fn close_as_not_a_case(
    state: &AppState,
    principal: &Principal,
    id: i64,
    expected_version: i32,
    reason: Option<String>,
) -> AppResult<patient::Model> {
    let now = state.now();
    let locked = Locked::open(state, principal, id, "patientId", now).await?;
    let write = locked.authorise(CaseAction::ChangeRecordStatus, None)?;
    let current = write.patient();
    ensure_active(current)?;
    if !matches!(current.case_type, CaseType::Suspected | CaseType::CloseContact) {
        return Err(AppError::conflict("only a suspected case or a close contact can be closed as not a case"));
    }
    let positive = entity::lab_test::Entity::find()
        .filter(entity::lab_test::Column::PatientId.eq(id))
        .filter(entity::lab_test::Column::Result.eq(entity::enums::TestResult::Positive))
        .one(write.txn())
        .await?;
    if positive.is_some() {
        return Err(AppError::conflict(
            "the patient has a positive test: confirm the case (updatePatient caseType) instead",
        ));
    }
    let mut after = current.clone();
    after.record_status = RecordStatus::NotACase;
    after.status_reason = reason;
    store(write, principal, expected_version, after, None, "CLOSE_AS_NOT_A_CASE").await
}

/// Withdraws a duplicate record (取下げ) into the record of the same person
/// that survives: from then on the duplicate counts in no figure.
pub async fn withdraw(
    state: &AppState,
    principal: &Principal,
    id: i64,
    expected_version: i32,
    surviving_id: i64,
    reason: Option<String>,
) -> AppResult<patient::Model> {
    if surviving_id == id {
        return Err(AppError::bad_input("survivingPatientId", "must be another record than the one withdrawn"));
    }
    let now = state.now();
    let locked = Locked::open(state, principal, id, "patientId", now).await?;
    let surviving = super::reachable_patient(locked.txn(), principal, surviving_id, "survivingPatientId").await?;
    if surviving.record_status != RecordStatus::Active {
        return Err(AppError::conflict("the surviving record has itself been closed or withdrawn"));
    }
    let write = locked.authorise(CaseAction::ChangeRecordStatus, None)?;
    ensure_active(write.patient())?;
    let mut after = write.patient().clone();
    after.record_status = RecordStatus::Withdrawn;
    after.status_reason = reason;
    after.withdrawn_into_patient_id = Some(surviving.id);
    store(write, principal, expected_version, after, None, "WITHDRAW_PATIENT").await
}

/// Accepts a received notification (受理), or returns it to the facility
/// with `reason` (a correction is then received again).
pub async fn decide_notification(
    state: &AppState,
    principal: &Principal,
    id: i64,
    expected_version: i32,
    returned_for: Option<String>,
) -> AppResult<patient::Model> {
    let now = state.now();
    let locked = Locked::open(state, principal, id, "patientId", now).await?;
    let write = locked.authorise(CaseAction::DecideNotification, None)?;
    let current = write.patient();
    if current.notification_status != NotificationStatus::Received {
        return Err(AppError::conflict(match current.notification_status {
            NotificationStatus::Accepted => "the notification has already been accepted",
            _ => "the notification has been returned: it is decided again once the facility has corrected it",
        }));
    }
    let mut after = current.clone();
    let action = match returned_for {
        Some(reason) => {
            after.notification_status = NotificationStatus::Returned;
            after.notification_reason = Some(reason);
            "RETURN_NOTIFICATION"
        }
        None => {
            after.notification_status = NotificationStatus::Accepted;
            after.notification_reason = None;
            "ACCEPT_NOTIFICATION"
        }
    };
    after.notification_decided_at = Some(now);
    store(write, principal, expected_version, after, None, action).await
}

/// Refers a patient to a facility (紹介): from then on the facility
/// reaches the record for testing and care. Referring again to the same
/// facility changes nothing.
pub async fn refer(
    state: &AppState,
    principal: &Principal,
    id: i64,
    facility_id: i64,
    note: Option<String>,
) -> AppResult<patient::Model> {
    let now = state.now();
    let locked = Locked::open(state, principal, id, "patientId", now).await?;
    let facility = facility::Entity::find_by_id(facility_id)
        .one(locked.txn())
        .await?
        .ok_or_else(|| AppError::not_found("facilityId", "no facility has this ID"))?;
    let write = locked.authorise(CaseAction::Refer, Some(&facility))?;
    ensure_active(write.patient())?;
    if write.patient().registering_facility_id == Some(facility.id) {
        return Err(AppError::conflict("the facility registered this patient and reaches the record already"));
    }
    let already = patient_referral::Entity::find()
        .filter(patient_referral::Column::PatientId.eq(id))
        .filter(patient_referral::Column::FacilityId.eq(facility.id))
        .one(write.txn())
        .await?;
    let patient = write.patient().clone();
    if already.is_some() {
        return Ok(patient);
    }
    let account_id = principal.account_id.ok_or_else(|| AppError::forbidden("staff only"))?;
    patient_referral::ActiveModel {
        patient_id: Set(id),
        facility_id: Set(facility.id),
        referred_by_account_id: Set(account_id),
        note: Set(note),
        referred_at: Set(now),
        ..Default::default()
    }
    .insert(write.txn())
    .await?;
    write.commit("REFER_PATIENT", &["referral"]).await?;
    Ok(patient)
}

/// The referrals of a patient, oldest first.
pub async fn referrals(state: &AppState, patient_id: i64) -> AppResult<Vec<patient_referral::Model>> {
    Ok(patient_referral::Entity::find()
        .filter(patient_referral::Column::PatientId.eq(patient_id))
        .order_by_asc(patient_referral::Column::Id)
        .all(&state.db)
        .await?)
}

/// At most this many open cases are weighed for the release list of one
/// request (a health centre's home and accommodation cases at the worst
/// peak were a few thousand).
const RELEASE_CANDIDATES: u64 = 20_000;

/// The open cases in home or accommodation care within the caller's reach
/// whose earliest release (`domain::release`) falls on or before `on`,
/// soonest first: at most `first`.
pub async fn due_for_release(
    state: &AppState,
    principal: &Principal,
    on: NaiveDate,
    first: u64,
) -> AppResult<Vec<(patient::Model, NaiveDate)>> {
    policy::may_read_follow_up_lists(principal)?;
    let due = releases_due(&state.db, policy::patient_scope(principal), on, first).await?;
    let ids: Vec<i64> = due.iter().map(|(_, id)| *id).collect();
    let mut rows: std::collections::HashMap<i64, patient::Model> = patient::Entity::find()
        .filter(patient::Column::Id.is_in(ids))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(due.into_iter().filter_map(|(day, id)| rows.remove(&id).map(|p| (p, day))).collect())
}

/// The open cases in home or accommodation care among `scope` whose
/// release is due on `on` or before (the day and the patient's ID),
/// earliest first, at most `first`.
pub(super) async fn releases_due(
    db: &impl ConnectionTrait,
    scope: sea_orm::Condition,
    on: NaiveDate,
    first: u64,
) -> AppResult<Vec<(NaiveDate, i64)>> {
    use entity::enums::{CareSetting, TestResult};
    use sea_orm::QuerySelect;
    // No rule releases before day 8: a case with a later onset cannot be due.
    let latest_onset = on - chrono::Duration::days(8);
    let candidates: Vec<(i64, Option<NaiveDate>)> = patient::Entity::find()
        .filter(scope)
        .filter(patient::Column::Outcome.is_null())
        .filter(patient::Column::RecordStatus.eq(RecordStatus::Active))
        .filter(patient::Column::CaseType.is_in([CaseType::Confirmed, CaseType::AsymptomaticCarrier]))
        .filter(patient::Column::CareSetting.is_in([CareSetting::Home, CareSetting::Accommodation]))
        .filter(
            sea_orm::Condition::any()
                .add(patient::Column::OnsetDate.is_null())
                .add(patient::Column::OnsetDate.lte(latest_onset)),
        )
        .select_only()
        .column(patient::Column::Id)
        .column(patient::Column::OnsetDate)
        .order_by_asc(patient::Column::Id)
        .limit(RELEASE_CANDIDATES)
        .into_tuple()
        .all(db)
        .await?;
    let without_onset: Vec<i64> = candidates.iter().filter(|(_, onset)| onset.is_none()).map(|(id, _)| *id).collect();
    let mut first_positive: std::collections::HashMap<i64, NaiveDate> = std::collections::HashMap::new();
    for ids in without_onset.chunks(1_000) {
        let samples: Vec<(i64, DateTime<Utc>)> = entity::lab_test::Entity::find()
            .filter(entity::lab_test::Column::PatientId.is_in(ids.iter().copied()))
            .filter(entity::lab_test::Column::Result.eq(TestResult::Positive))
            .select_only()
            .column(entity::lab_test::Column::PatientId)
            .column(entity::lab_test::Column::SampledAt)
            .into_tuple()
            .all(db)
            .await?;
        for (id, at) in samples {
            let day = at.with_timezone(&crate::domain::calendar::local_offset()).date_naive();
            first_positive.entry(id).and_modify(|d| *d = (*d).min(day)).or_insert(day);
        }
    }
    let mut due: Vec<(NaiveDate, i64)> = candidates
        .into_iter()
        .filter_map(|(id, onset)| {
            let (day, _) = crate::domain::release::expected_release(onset, first_positive.get(&id).copied())?;
            (day <= on).then_some((day, id))
        })
        .collect();
    due.sort_unstable();
    due.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    Ok(due)
}

/// The items a record still lacks under the rules in force for its type on
/// the day it was registered (`domain::notification::required_items`), by
/// their field names; none for a record that no longer counts.
pub fn missing_items(p: &patient::Model) -> Vec<&'static str> {
    if p.record_status != RecordStatus::Active {
        return Vec::new();
    }
    let registered = p.registered_at.with_timezone(&crate::domain::calendar::local_offset()).date_naive();
    notification::required_items(p.case_type.to_value().as_str(), registered)
        .iter()
        .copied()
        .filter(|item| item_text(p, item).is_none())
        .collect()
}

fn ensure_active(patient: &patient::Model) -> AppResult<()> {
    if patient.record_status != RecordStatus::Active {
        return Err(AppError::conflict("the record has already been closed or withdrawn"));
    }
    Ok(())
}

/// The history of a record the caller reads, oldest first.
pub async fn history(state: &AppState, patient_id: i64) -> AppResult<Vec<patient_change::Model>> {
    Ok(patient_change::Entity::find()
        .filter(patient_change::Column::PatientId.eq(patient_id))
        .order_by_asc(patient_change::Column::Id)
        .all(&state.db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> patient::Model {
        let at = DateTime::parse_from_rfc3339("2022-10-01T00:00:00Z").map(|t| t.to_utc()).unwrap_or_default();
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        patient::Model {
            id: 1,
            case_type: CaseType::Confirmed,
            name_kanji: "山田 太郎".into(),
            name_kana: "ヤマダ タロウ".into(),
            sex: Sex::Male,
            birth_date: day(1980, 4, 1),
            address: Some("東京都".into()),
            phone: Some("03-1234-5678".into()),
            email: Some("a@example.jp".into()),
            occupation: Some("会社員".into()),
            guardian_name: Some("山田 花子".into()),
            onset_date: Some(day(2022, 9, 28)),
            diagnosis_date: Some(day(2022, 9, 30)),
            diagnosis_method: Some(DiagnosisMethod::AntigenQualitative),
            notes: Some("備考".into()),
            smartphone_id: "12345678901".into(),
            previous_smartphone_id: None,
            previous_patient_id: None,
            prior_infection: false,
            responsible_health_centre_id: 1,
            registering_facility_id: Some(1),
            registered_by_account_id: 1,
            care_setting: entity::enums::CareSetting::Home,
            care_decided_by_prefecture: false,
            in_welfare_facility: false,
            outcome: None,
            outcome_at: None,
            outcome_recorded_at: None,
            version: 3,
            registered_at: at,
            recorded_at: at,
            updated_at: at,
            current_location: Some("ホテル".into()),
            first_visit_date: Some(day(2022, 9, 29)),
            estimated_infection_date: Some(day(2022, 9, 25)),
            infection_route: Some("家族内".into()),
            symptoms: Some("FEVER,COUGH".into()),
            specimen: Some(Specimen::NasalSwab),
            spo2_at_diagnosis: Some(97),
            severity_at_diagnosis: Some(Severity::Mild),
            needs_admission: Some(false),
            risk_factors: Some("DIABETES".into()),
            vaccination_doses: Some(3),
            prior_infection_note: Some("2021年 大阪".into()),
            record_status: RecordStatus::Active,
            status_reason: Some("重複".into()),
            withdrawn_into_patient_id: Some(2),
            name_kana_key: "ヤマダタロウ".into(),
            phone_digits: Some("0312345678".into()),
            notification_status: NotificationStatus::Returned,
            notification_reason: Some("発病日の記入漏れ".into()),
            notification_decided_at: Some(at),
            outcome_rule: None,
            notification_group: None,
            infection_route_category: Some(InfectionRoute::Household),
            infection_route_certainty: Some(RouteCertainty::Presumed),
        }
    }

    #[test]
    fn every_item_reads_back_from_its_history_text() {
        let full = record();
        for (item, _) in ITEMS {
            let text = item_text(&full, item);
            assert!(text.is_some(), "{item} has no text");
            let mut restored = full.clone();
            restore_item(&mut restored, item, None);
            restore_item(&mut restored, item, text.as_deref());
            assert_eq!(restored, full, "{item}");
        }
    }

    #[test]
    fn the_record_as_recorded_undoes_later_changes() {
        let current = record();
        let at = |h| current.registered_at + chrono::Duration::hours(h);
        let change = |id, field: &str, old: &str, new: &str, hours| patient_change::Model {
            id,
            patient_id: 1,
            version: id as i32 + 1,
            field: field.into(),
            old_value: Some(old.into()),
            new_value: Some(new.into()),
            account_id: 1,
            facility_id: None,
            recorded_at: at(hours),
        };
        let changes = [change(1, "birthDate", "1908-04-01", "1980-04-01", 2), change(2, "sex", "FEMALE", "MALE", 4)];
        let early = as_recorded_at(&current, &changes, at(1)).unwrap_or_else(record);
        assert_eq!(early.birth_date, NaiveDate::from_ymd_opt(1908, 4, 1).unwrap_or_default());
        assert_eq!(early.sex, Sex::Female);
        let middle = as_recorded_at(&current, &changes, at(3)).unwrap_or_else(record);
        assert_eq!((middle.birth_date, middle.sex), (current.birth_date, Sex::Female));
        assert_eq!(as_recorded_at(&current, &changes, at(5)), Some(current.clone()));
        assert_eq!(as_recorded_at(&current, &changes, at(-1)), None);
    }
}
