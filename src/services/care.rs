//! The case after the first tests: the care decision, hospital stays and
//! their condition, transfer between health centres, and the outcome.
//!
//! Every change to the patient row raises its `version`; a change made
//! against a stale version (given as `expectedVersion`, or raced by another
//! transaction) is refused with `CONFLICT` instead of overwriting silently.

use chrono::{DateTime, Utc};
use entity::enums::{CareSetting, FacilityKind, Outcome, Severity};
use entity::{
    care_setting_change, condition_entry, facility, health_centre, hospitalisation, patient, patient_transfer,
};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::patient_write::{Locked, PatientWrite};
use super::{clinical_moment, versioned_update};
use crate::auth::Principal;
use crate::auth::policy::{self, CaseAction};
use crate::error::{AppError, AppResult};
use crate::events::CONTACT_HANDED_OVER;
use crate::state::AppState;

async fn record_care_setting(
    txn: &DatabaseTransaction,
    patient: &patient::Model,
    (setting, welfare_facility): (CareSetting, bool),
    account_id: i64,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    care_setting_change::ActiveModel {
        patient_id: Set(patient.id),
        care_setting: Set(setting),
        welfare_facility: Set(welfare_facility),
        decided_by_account_id: Set(account_id),
        decided_at: Set(at),
        recorded_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

fn staff_account(principal: &Principal) -> AppResult<i64> {
    principal.account_id.ok_or_else(|| AppError::forbidden("this is done by staff, not by patients"))
}

/// Decides where the patient is cared for.
pub async fn set_care_setting(
    state: &AppState,
    principal: &Principal,
    patient_id: i64,
    setting: CareSetting,
    in_welfare_facility: bool,
    expected_version: Option<i32>,
) -> AppResult<patient::Model> {
    if in_welfare_facility && setting != CareSetting::Home {
        return Err(AppError::bad_input(
            "inWelfareFacility",
            "care in a welfare facility is a HOME decision for a resident of the facility",
        ));
    }
    let account_id = staff_account(principal)?;
    let now = state.now();
    let mut write = Locked::open(state, principal, patient_id, "patientId", now)
        .await?
        .authorise(CaseAction::DecideCare(setting), None)?;
    write.ensure_open("a care decision")?;
    let patient = write.patient().clone();
    if setting != CareSetting::Hospital && open_stay(write.txn(), patient.id).await?.is_some() {
        return Err(AppError::conflict("the patient is admitted: discharge them before deciding another care setting"));
    }
    if patient.care_setting == setting
        && patient.in_welfare_facility == in_welfare_facility
        && expected_version.is_none_or(|v| v == patient.version)
    {
        return Ok(patient);
    }
    record_care_setting(write.txn(), &patient, (setting, in_welfare_facility), account_id, now, now).await?;
    let updated = write
        .update_patient(
            expected_version,
            vec![
                (patient::Column::CareSetting, Expr::value(setting)),
                (patient::Column::InWelfareFacility, Expr::value(in_welfare_facility)),
                (patient::Column::CareDecidedByPrefecture, Expr::value(policy::decides_as_prefecture(principal))),
            ],
        )
        .await?;
    write.commit("SET_CARE_SETTING", &["careSetting"]).await?;
    tracing::info!(patient_id, account_id, "care setting decided");
    Ok(updated)
}

/// Admits a patient to a hospital, with the condition at admission.
pub async fn admit(
    state: &AppState,
    principal: &Principal,
    patient_id: i64,
    facility_id: i64,
    severity: Severity,
    admitted_at: Option<DateTime<Utc>>,
) -> AppResult<hospitalisation::Model> {
    let account_id = staff_account(principal)?;
    let organisation_id = principal.organisation_id.ok_or_else(|| AppError::forbidden("staff only"))?;
    let now = state.now();
    let admitted_at = clinical_moment(admitted_at.unwrap_or(now), now, "admittedAt")?;
    let locked = Locked::open(state, principal, patient_id, "patientId", now).await?;
    let hospital = facility::Entity::find_by_id(facility_id)
        .one(locked.txn())
        .await?
        .ok_or_else(|| AppError::not_found("facilityId", "no facility has this ID"))?;
    if hospital.kind != FacilityKind::Hospital {
        return Err(AppError::bad_input("facilityId", "is not a hospital"));
    }
    let mut write = locked.authorise(CaseAction::Admit, Some(&hospital))?;
    let stay = admit_in(&mut write, &hospital, severity, admitted_at, (account_id, organisation_id), now).await?;
    write.commit("ADMIT_PATIENT", &["hospitalisation", "careSetting"]).await?;
    tracing::info!(patient_id, hospitalisation_id = stay.id, account_id, "patient admitted");
    Ok(stay)
}

/// Admits the patient of `write` (authorised to admit to `hospital`) from
/// `admitted_at`, without committing: the stay, its first condition entry
/// and the care setting. `by` is the recording account and organisation.
pub(crate) async fn admit_in(
    write: &mut PatientWrite<'_>,
    hospital: &facility::Model,
    severity: Severity,
    admitted_at: DateTime<Utc>,
    by: (i64, i64),
    now: DateTime<Utc>,
) -> AppResult<hospitalisation::Model> {
    let (account_id, organisation_id) = by;
    write.ensure_open("an admission")?;
    let patient = write.patient().clone();
    let txn = write.txn();
    if admitted_at.date_naive() < patient.birth_date {
        return Err(AppError::bad_input("admittedAt", "must not be before the patient's date of birth"));
    }
    if open_stay(txn, patient.id).await?.is_some() {
        return Err(AppError::conflict("the patient is already admitted: discharge them before a new admission"));
    }
    let stay = hospitalisation::ActiveModel {
        patient_id: Set(patient.id),
        facility_id: Set(hospital.id),
        admitted_at: Set(admitted_at),
        recorded_at: Set(now),
        discharged_at: Set(None),
        discharge_recorded_at: Set(None),
        severity: Set(severity),
        icu: Set(false),
        ventilator: Set(false),
        ecmo: Set(false),
        recorded_by_account_id: Set(account_id),
        entered_by_organisation_id: Set(organisation_id),
        version: Set(1),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    condition_entry::ActiveModel {
        hospitalisation_id: Set(stay.id),
        severity: Set(severity),
        icu: Set(false),
        ventilator: Set(false),
        ecmo: Set(false),
        note: Set(None),
        observed_at: Set(admitted_at),
        recorded_at: Set(now),
        recorded_by_account_id: Set(account_id),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    if patient.care_setting != CareSetting::Hospital {
        record_care_setting(txn, &patient, (CareSetting::Hospital, false), account_id, admitted_at, now).await?;
    }
    let hospital = vec![
        (patient::Column::CareSetting, Expr::value(CareSetting::Hospital)),
        (patient::Column::CareDecidedByPrefecture, Expr::value(false)),
    ];
    write.update_patient(None, hospital).await?;
    Ok(stay)
}

/// The patient's hospital stay that has not ended, if any.
async fn open_stay(txn: &DatabaseTransaction, patient_id: i64) -> AppResult<Option<hospitalisation::Model>> {
    Ok(hospitalisation::Entity::find()
        .filter(hospitalisation::Column::PatientId.eq(patient_id))
        .filter(hospitalisation::Column::DischargedAt.is_null())
        .one(txn)
        .await?)
}

/// A parsed `recordCondition`.
#[derive(Debug)]
pub struct NewCondition {
    pub severity: Severity,
    pub note: Option<String>,
    pub icu: bool,
    pub ventilator: bool,
    pub ecmo: bool,
    pub observed_at: Option<DateTime<Utc>>,
}

/// The write of a stay's patient, checked for `TreatInHospital` at the
/// stay's hospital, with the stay (read under the patient's lock).
async fn open_stay_for_treatment<'a>(
    state: &AppState,
    principal: &'a Principal,
    hospitalisation_id: i64,
    now: DateTime<Utc>,
) -> AppResult<(PatientWrite<'a>, hospitalisation::Model)> {
    let (locked, stay, hospital) = Locked::open_stay(state, principal, hospitalisation_id, now).await?;
    let write = locked.authorise(CaseAction::TreatInHospital, Some(&hospital))?;
    if stay.discharged_at.is_some() {
        return Err(AppError::conflict("the patient has been discharged from this stay"));
    }
    Ok((write, stay))
}

async fn update_stay(
    txn: &DatabaseTransaction,
    stay: &hospitalisation::Model,
    changes: Vec<(hospitalisation::Column, SimpleExpr)>,
) -> AppResult<hospitalisation::Model> {
    versioned_update::<hospitalisation::Entity>(
        txn,
        (hospitalisation::Column::Id, stay.id),
        (hospitalisation::Column::Version, stay.version),
        changes,
        "hospital stay",
    )
    .await?;
    hospitalisation::Entity::find_by_id(stay.id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stay vanished inside its transaction")))
}

/// Appends a condition entry; the stay shows the latest.
pub async fn record_condition(
    state: &AppState,
    principal: &Principal,
    hospitalisation_id: i64,
    input: NewCondition,
) -> AppResult<hospitalisation::Model> {
    let account_id = staff_account(principal)?;
    let now = state.now();
    let observed_at = clinical_moment(input.observed_at.unwrap_or(now), now, "observedAt")?;
    let (write, stay) = open_stay_for_treatment(state, principal, hospitalisation_id, now).await?;
    let txn = write.txn();
    if observed_at < stay.admitted_at {
        return Err(AppError::bad_input("observedAt", "must not be before the admission"));
    }
    condition_entry::ActiveModel {
        hospitalisation_id: Set(stay.id),
        severity: Set(input.severity),
        icu: Set(input.icu),
        ventilator: Set(input.ventilator),
        ecmo: Set(input.ecmo),
        note: Set(input.note),
        observed_at: Set(observed_at),
        recorded_at: Set(now),
        recorded_by_account_id: Set(account_id),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let updated = update_stay(
        txn,
        &stay,
        vec![
            (hospitalisation::Column::Severity, Expr::value(input.severity)),
            (hospitalisation::Column::Icu, Expr::value(input.icu)),
            (hospitalisation::Column::Ventilator, Expr::value(input.ventilator)),
            (hospitalisation::Column::Ecmo, Expr::value(input.ecmo)),
        ],
    )
    .await?;
    write.commit("RECORD_CONDITION", &["severity", "icu", "ventilator", "ecmo", "note"]).await?;
    tracing::info!(hospitalisation_id, account_id, "condition recorded");
    Ok(updated)
}

/// Ends a hospital stay.
pub async fn discharge(
    state: &AppState,
    principal: &Principal,
    hospitalisation_id: i64,
    discharged_at: Option<DateTime<Utc>>,
) -> AppResult<hospitalisation::Model> {
    let account_id = staff_account(principal)?;
    let now = state.now();
    let discharged_at = clinical_moment(discharged_at.unwrap_or(now), now, "dischargedAt")?;
    let (write, stay) = open_stay_for_treatment(state, principal, hospitalisation_id, now).await?;
    let txn = write.txn();
    if discharged_at < stay.admitted_at {
        return Err(AppError::bad_input("dischargedAt", "must not be before the admission"));
    }
    let updated = update_stay(
        txn,
        &stay,
        vec![
            (hospitalisation::Column::DischargedAt, Expr::value(discharged_at)),
            (hospitalisation::Column::DischargeRecordedAt, Expr::value(now)),
        ],
    )
    .await?;
    write.commit("DISCHARGE_PATIENT", &["dischargedAt"]).await?;
    tracing::info!(hospitalisation_id, account_id, "patient discharged");
    Ok(updated)
}

/// Records the outcome (転帰), which ends the case: the smartphone input ID
/// stops working and the patient's sessions end.
pub async fn record_outcome(
    state: &AppState,
    principal: &Principal,
    patient_id: i64,
    outcome: Outcome,
    outcome_at: Option<DateTime<Utc>>,
    expected_version: Option<i32>,
) -> AppResult<patient::Model> {
    let account_id = staff_account(principal)?;
    let now = state.now();
    let outcome_at = clinical_moment(outcome_at.unwrap_or(now), now, "outcomeAt")?;
    let mut write = Locked::open(state, principal, patient_id, "patientId", now)
        .await?
        .authorise(CaseAction::RecordOutcome, None)?;
    write.ensure_open("a second outcome")?;
    let patient = write.patient().clone();
    if outcome_at.date_naive() < patient.birth_date {
        return Err(AppError::bad_input("outcomeAt", "must not be before the patient's date of birth"));
    }
    if let Some(stay) = open_stay(write.txn(), patient.id).await? {
        if outcome != Outcome::Deceased {
            return Err(AppError::conflict(
                "the patient is still admitted: discharge them before recording the outcome",
            ));
        }
        if outcome_at < stay.admitted_at {
            return Err(AppError::bad_input("outcomeAt", "must not be before the admission"));
        }
        // A death in hospital ends the stay at the same moment.
        update_stay(
            write.txn(),
            &stay,
            vec![
                (hospitalisation::Column::DischargedAt, Expr::value(outcome_at)),
                (hospitalisation::Column::DischargeRecordedAt, Expr::value(now)),
            ],
        )
        .await?;
    }
    // A release from care names the rule it follows, and comes no earlier
    // than that rule allows.
    let rule = if outcome == Outcome::ReleasedFromCare {
        let first_positive = entity::lab_test::Entity::find()
            .filter(entity::lab_test::Column::PatientId.eq(patient.id))
            .filter(entity::lab_test::Column::Result.eq(entity::enums::TestResult::Positive))
            .order_by_asc(entity::lab_test::Column::SampledAt)
            .one(write.txn())
            .await?
            .map(|test| test.sampled_at.with_timezone(&crate::domain::calendar::local_offset()).date_naive());
        let (earliest, rule) = crate::domain::release::expected_release(patient.onset_date, first_positive)
            .ok_or_else(|| {
                AppError::conflict(
                    "a release from care follows the onset date (or a positive sample): record the onset date first",
                )
            })?;
        let day = outcome_at.with_timezone(&crate::domain::calendar::local_offset()).date_naive();
        if day < earliest {
            return Err(AppError::bad_input(
                "outcomeAt",
                format!("the release rule in force ({}) allows release from {earliest} on", rule.code),
            ));
        }
        Some(rule.code)
    } else {
        None
    };
    let updated = write
        .update_patient(
            expected_version,
            vec![
                (patient::Column::Outcome, Expr::value(outcome)),
                (patient::Column::OutcomeAt, Expr::value(outcome_at)),
                (patient::Column::OutcomeRecordedAt, Expr::value(now)),
                (patient::Column::OutcomeRule, Expr::value(rule)),
            ],
        )
        .await?;
    let ended = super::sessions::end_sessions(write.txn(), super::sessions::Ending::Patient(patient.id), now).await?;
    write.commit("RECORD_OUTCOME", &["outcome", "outcomeAt"]).await?;
    // The patient's own sessions ended.
    super::sessions::sessions_ended(state, &ended).await;
    tracing::info!(patient_id, account_id, "outcome recorded");
    Ok(updated)
}

/// Moves the case to another health centre. The previous one keeps read
/// access; the history keeps who moved it, when, from where and to where.
pub async fn transfer(
    state: &AppState,
    principal: &Principal,
    patient_id: i64,
    to_health_centre_id: i64,
    expected_version: Option<i32>,
) -> AppResult<patient::Model> {
    let updated =
        move_to_centre(state, principal, patient_id, to_health_centre_id, expected_version, Move::Transfer).await?;
    tracing::info!(patient_id, to_health_centre_id, "patient transferred");
    Ok(updated)
}

/// Hands a close contact to the health centre of the area they live in:
/// that centre becomes responsible and receives the record live
/// (`contactHandovers`); the centre that registered the contact keeps the
/// link to its case (by ID) but no longer reads the contact's record.
pub async fn hand_over_contact(
    state: &AppState,
    principal: &Principal,
    patient_id: i64,
    to_health_centre_id: i64,
    expected_version: Option<i32>,
) -> AppResult<patient::Model> {
    let updated =
        move_to_centre(state, principal, patient_id, to_health_centre_id, expected_version, Move::Handover).await?;
    tracing::info!(patient_id, to_health_centre_id, "contact handed over");
    Ok(updated)
}

/// How a record changes health centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Move {
    /// A case transferred: the previous centre keeps read access.
    Transfer,
    /// A close contact handed over: the previous centre keeps no access,
    /// and the new one is told live.
    Handover,
}

async fn move_to_centre(
    state: &AppState,
    principal: &Principal,
    patient_id: i64,
    to_health_centre_id: i64,
    expected_version: Option<i32>,
    how: Move,
) -> AppResult<patient::Model> {
    let account_id = staff_account(principal)?;
    let now = state.now();
    let action = match how {
        Move::Transfer => CaseAction::Transfer,
        Move::Handover => CaseAction::Investigate,
    };
    let mut write = Locked::open(state, principal, patient_id, "patientId", now).await?.authorise(action, None)?;
    let patient = write.patient().clone();
    match how {
        Move::Transfer => write.ensure_open("a transfer")?,
        Move::Handover => {
            write.ensure_open("a handover")?;
            if patient.case_type != entity::enums::CaseType::CloseContact {
                return Err(AppError::bad_input(
                    "patientId",
                    "only a close contact is handed over; a case moves with transferPatient",
                ));
            }
        }
    }
    let target = health_centre::Entity::find_by_id(to_health_centre_id)
        .one(write.txn())
        .await?
        .ok_or_else(|| AppError::not_found("toHealthCentreId", "no health centre has this ID"))?;
    if target.id == patient.responsible_health_centre_id {
        return Err(AppError::bad_input("toHealthCentreId", "is already the responsible health centre"));
    }
    patient_transfer::ActiveModel {
        patient_id: Set(patient.id),
        from_health_centre_id: Set(patient.responsible_health_centre_id),
        to_health_centre_id: Set(target.id),
        transferred_by_account_id: Set(account_id),
        transferred_at: Set(now),
        recorded_at: Set(now),
        keeps_access: Set(how == Move::Transfer),
        ..Default::default()
    }
    .insert(write.txn())
    .await?;
    let updated = write
        .update_patient(expected_version, vec![(patient::Column::ResponsibleHealthCentreId, Expr::value(target.id))])
        .await?;
    // The centre the record moves to is told live, and finds it in its
    // queue.
    let backend = write.txn().get_database_backend();
    let (kind, action) = match how {
        Move::Transfer => (crate::events::TRANSFER_IN, "TRANSFER_PATIENT"),
        Move::Handover => (CONTACT_HANDED_OVER, "HAND_OVER_CONTACT"),
    };
    let event = crate::events::outbox_row(kind, None, patient.id, target.id, now, backend);
    write.commit_with_event(action, &["responsibleHealthCentre"], event).await?;
    Ok(updated)
}
