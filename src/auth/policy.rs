//! The one table of who may read and do what. Resolvers and services ask
//! these functions; nothing else decides access.
//!
//! Two layers (the table itself is docs/authorisation.md):
//!
//! 1. Rows: `patient_scope` turns the caller into a SQL condition on
//!    `patients`, so lists, counts and lookups never load a row the caller
//!    may not reach. A break-glass access the caller opened adds its
//!    patient until it expires.
//! 2. Fields: `may_read_personal` decides, for a row the caller reached,
//!    whether the personal fields (names, birth date, contacts, smartphone
//!    IDs, free-text notes) are shown or refused with `FORBIDDEN`.

use entity::enums::CareSetting;
use entity::{break_glass_access, hospitalisation, lab_test, patient, patient_transfer};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition};

use super::{Principal, Role};
use crate::error::AppError;

/// The patients a caller can reach, as a condition on the `patients` table:
/// those of the caller's care relationships, and those of the break-glass
/// accesses the caller's account holds open at the moment of the request.
pub fn patient_scope(principal: &Principal) -> Condition {
    let relationships = care_scope(principal);
    match break_glass_holder(principal) {
        Some(account) => Condition::any().add(relationships).add(
            patient::Column::Id.in_subquery(
                Query::select()
                    .column(break_glass_access::Column::PatientId)
                    .from(break_glass_access::Entity)
                    .and_where(break_glass_access::Column::AccountId.eq(account))
                    .and_where(break_glass_access::Column::ExpiresAt.gt(principal.at))
                    .to_owned(),
            ),
        ),
        None => relationships,
    }
}

/// Who may open a record outside their reach by breaking the glass: staff
/// who treat or look after patients (medical institutions and health
/// centres), signed in as themselves (never a machine client). Answers the
/// account whose accesses count.
pub fn break_glass_holder(principal: &Principal) -> Option<i64> {
    match principal.role {
        Role::MedicalStaff | Role::HealthCentreStaff if principal.key.is_none() => principal.account_id,
        _ => None,
    }
}

/// [`break_glass_holder`], or `FORBIDDEN` saying who may.
pub fn may_break_glass(principal: &Principal) -> Result<i64, AppError> {
    break_glass_holder(principal).ok_or_else(|| {
        AppError::forbidden(
            "only medical institution and health centre staff, signed in as themselves, break the glass",
        )
    })
}

/// Who reviews break-glass accesses: system administrators. Health centres
/// see those to their own patients.
pub fn may_review_break_glass(principal: &Principal) -> Result<(), AppError> {
    match principal.role {
        Role::SystemAdmin => Ok(()),
        _ => Err(AppError::forbidden("break-glass accesses are reviewed by system administrators")),
    }
}

/// Who manages reference data (creates and changes health centres and
/// facilities, and their organisations): system administrators (and the
/// operator on the command line, who is no caller). The lists themselves
/// are read by every staff role.
pub fn may_manage_reference_data(principal: &Principal) -> Result<(), AppError> {
    match principal.role {
        Role::SystemAdmin => Ok(()),
        _ => Err(AppError::forbidden("health centres and facilities are managed by system administrators")),
    }
}

/// The patients of the caller's care relationships, without break-glass
/// accesses: the patients writes reach (`services::reachable_patient`),
/// since a broken glass opens a record for reading only.
pub fn care_scope(principal: &Principal) -> Condition {
    let none = || Condition::all().add(Expr::val(1).eq(0));
    match principal.role {
        Role::MedicalStaff => match principal.facility_id {
            // Registered, tested or admitted by the caller's facility.
            Some(facility) => Condition::any()
                .add(patient::Column::RegisteringFacilityId.eq(facility))
                .add(
                    patient::Column::Id.in_subquery(
                        Query::select()
                            .column(lab_test::Column::PatientId)
                            .from(lab_test::Entity)
                            .and_where(lab_test::Column::FacilityId.eq(facility))
                            .to_owned(),
                    ),
                )
                .add(
                    patient::Column::Id.in_subquery(
                        Query::select()
                            .column(hospitalisation::Column::PatientId)
                            .from(hospitalisation::Entity)
                            .and_where(hospitalisation::Column::FacilityId.eq(facility))
                            .to_owned(),
                    ),
                ),
            None => none(),
        },
        Role::HealthCentreStaff => match principal.health_centre_id {
            // Responsible now, or responsible before a transfer (read access).
            Some(centre) => Condition::any().add(patient::Column::ResponsibleHealthCentreId.eq(centre)).add(
                patient::Column::Id.in_subquery(
                    Query::select()
                        .column(patient_transfer::Column::PatientId)
                        .from(patient_transfer::Entity)
                        .and_where(patient_transfer::Column::FromHealthCentreId.eq(centre))
                        .to_owned(),
                ),
            ),
            None => none(),
        },
        Role::PrefectureStaff => match principal.prefecture_id {
            Some(prefecture) => Condition::all().add(
                patient::Column::ResponsibleHealthCentreId.in_subquery(
                    Query::select()
                        .column(entity::health_centre::Column::Id)
                        .from(entity::health_centre::Entity)
                        .and_where(entity::health_centre::Column::PrefectureId.eq(prefecture))
                        .to_owned(),
                ),
            ),
            None => none(),
        },
        Role::NationalAnalyst => Condition::all(),
        Role::Patient => match principal.patient_id {
            Some(id) => Condition::all().add(patient::Column::Id.eq(id)),
            None => none(),
        },
        Role::SystemAdmin => none(),
    }
}

/// Whether a patient row is within the caller's row scope, decided from the
/// row itself where it says enough: `Some` is the same answer
/// `patient_scope` gives, `None` means only the database can tell (a
/// previous health centre's read access, a facility's tests and stays).
/// `centre_prefecture` is the prefecture of the patient's responsible
/// health centre.
pub fn reaches_row(principal: &Principal, patient: &patient::Model, centre_prefecture: i32) -> Option<bool> {
    match principal.role {
        Role::MedicalStaff => (principal.facility_id.is_some()
            && patient.registering_facility_id == principal.facility_id)
            .then_some(true),
        Role::HealthCentreStaff => {
            (principal.health_centre_id == Some(patient.responsible_health_centre_id)).then_some(true)
        }
        Role::PrefectureStaff => Some(principal.prefecture_id == Some(centre_prefecture)),
        Role::NationalAnalyst => Some(true),
        Role::Patient => Some(principal.patient_id == Some(patient.id)),
        Role::SystemAdmin => Some(false),
    }
}

/// Who receives new positive results live: health centre and prefecture
/// staff (those of the patient's responsible health centre, and of its
/// prefecture).
pub fn may_receive_positive_results(principal: &Principal) -> Result<(), AppError> {
    match principal.role {
        Role::HealthCentreStaff | Role::PrefectureStaff => Ok(()),
        _ => Err(AppError::forbidden("positive results are pushed to health centres and prefectures")),
    }
}

/// Who is told live when someone breaks the glass to a patient: the staff
/// of the patient's responsible health centre.
pub fn may_receive_break_glass_alerts(principal: &Principal) -> Result<(), AppError> {
    match principal.role {
        Role::HealthCentreStaff => Ok(()),
        _ => Err(AppError::forbidden("break-glass alerts are pushed to the patients' health centres")),
    }
}

/// Whether the caller may read the personal fields of a patient row that
/// `patient_scope` let them reach.
///
/// Medical staff and health centres reach a row only through a care
/// relationship (registering, testing or treating facility; responsible or
/// previous health centre) or an open break-glass access, and a patient only
/// their own record, so for them reaching is enough. Prefecture staff see personal data only while the
/// patient is in accommodation care, which the prefecture runs, and only
/// when the responsible health centre placed them there: a placement the
/// prefecture made itself opens nothing. Analysts and operators never do.
pub fn may_read_personal(principal: &Principal, patient: &patient::Model) -> bool {
    match principal.role {
        Role::MedicalStaff | Role::HealthCentreStaff | Role::Patient => true,
        Role::PrefectureStaff => in_accommodation_placed_by_centre(patient),
        Role::NationalAnalyst | Role::SystemAdmin => false,
    }
}

/// A patient in the prefecture's accommodation care by the responsible
/// health centre's decision.
fn in_accommodation_placed_by_centre(patient: &patient::Model) -> bool {
    patient.care_setting == CareSetting::Accommodation && !patient.care_decided_by_prefecture
}

/// The error at a personal field the caller may not read.
pub fn personal_field_forbidden(field: &str) -> AppError {
    AppError::forbidden(format!("{field} is personal data and the caller has no care relationship with this patient"))
}

/// Who may create a patient record: testing facilities for themselves, and
/// health centres (on their own account or on behalf of a facility).
pub fn may_register_patients(principal: &Principal) -> bool {
    matches!(principal.role, Role::MedicalStaff | Role::HealthCentreStaff)
}

/// Who may record tests and results on a patient they reach.
pub fn may_record_tests(principal: &Principal) -> bool {
    matches!(principal.role, Role::MedicalStaff | Role::HealthCentreStaff)
}

/// Who may read clinical reference lists and patients at all.
pub fn may_read_clinical(principal: &Principal) -> bool {
    principal.role != Role::SystemAdmin
}

/// A change to a case, as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseAction {
    /// Record a test, or the result of one, taken by `Target::facility`.
    RecordTest,
    /// Decide the care setting (療養場所).
    DecideCare(CareSetting),
    /// Admit to the hospital `Target::facility`.
    Admit,
    /// Record the condition of, or discharge, a patient admitted to the
    /// hospital `Target::facility`.
    TreatInHospital,
    /// Submit a daily health report.
    SubmitHealthReport,
    /// Record a follow-up call or a medical visit during care.
    FollowUp,
    /// Record the outcome (転帰).
    RecordOutcome,
    /// Change the responsible health centre.
    Transfer,
    /// See and lift the lock that failed sign-ins put on the patient's
    /// smartphone input ID.
    ManageSignIn,
}

/// What an action concerns besides the patient.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub patient: &'a patient::Model,
    /// The facility the act is done at (testing facility, hospital).
    pub facility: Option<&'a entity::facility::Model>,
}

/// Whether the caller may do `action` on a patient they reach. The rows of
/// this match are the write half of the matrix in docs/authorisation.md.
pub fn may_act(principal: &Principal, action: CaseAction, target: Target<'_>) -> Result<(), AppError> {
    let patient = target.patient;
    let responsible_centre = principal.role == Role::HealthCentreStaff
        && principal.health_centre_id == Some(patient.responsible_health_centre_id);
    let own_facility = target.facility.is_some_and(|f| principal.facility_id == Some(f.id));
    // A health centre enters for a facility of its district that has no
    // system access of its own (it phones or faxes the centre instead).
    let on_behalf = responsible_centre
        && target
            .facility
            .is_some_and(|f| !f.has_system_access && principal.health_centre_id == Some(f.health_centre_id));
    let prefecture_accommodation =
        principal.role == Role::PrefectureStaff && in_accommodation_placed_by_centre(patient);
    let allowed = match action {
        CaseAction::RecordTest | CaseAction::TreatInHospital => {
            (principal.role == Role::MedicalStaff && own_facility) || on_behalf
        }
        CaseAction::Admit => (principal.role == Role::MedicalStaff && own_facility) || responsible_centre,
        CaseAction::DecideCare(setting) => {
            responsible_centre || (principal.role == Role::PrefectureStaff && setting == CareSetting::Accommodation)
        }
        CaseAction::SubmitHealthReport => {
            principal.patient_id == Some(patient.id) || responsible_centre || prefecture_accommodation
        }
        CaseAction::FollowUp => responsible_centre || prefecture_accommodation,
        CaseAction::RecordOutcome | CaseAction::Transfer | CaseAction::ManageSignIn => responsible_centre,
    };
    if allowed {
        return Ok(());
    }
    Err(AppError::forbidden(match action {
        CaseAction::RecordTest => {
            "tests are entered by the facility that took them, or by the responsible health centre for a facility without system access"
        }
        CaseAction::TreatInHospital => {
            "the condition and discharge are entered by the admitting hospital, or by the responsible health centre for a hospital without system access"
        }
        CaseAction::Admit => "admission is entered by the admitting hospital or the responsible health centre",
        CaseAction::DecideCare(_) => {
            "the care setting is decided by the responsible health centre (or the prefecture, for accommodation care)"
        }
        CaseAction::SubmitHealthReport => {
            "health reports are submitted by the patient, the responsible health centre, or the prefecture during accommodation care"
        }
        CaseAction::FollowUp => {
            "follow-up is recorded by the responsible health centre, or the prefecture during accommodation care"
        }
        CaseAction::RecordOutcome => "the outcome is recorded by the responsible health centre",
        CaseAction::Transfer => "only the responsible health centre transfers a patient",
        CaseAction::ManageSignIn => "only the responsible health centre sees and lifts a patient's sign-in lock",
    }))
}
