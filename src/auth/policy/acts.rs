//! Acts: every change to a case, and who registers, tests and reports.

use entity::enums::{CareSetting, ReporterKind};
use entity::{facility, patient};

use super::fields::in_accommodation_placed_by_centre;
use crate::auth::{Principal, Role};
use crate::error::AppError;

/// Who may create a patient record: testing facilities for themselves, and
/// health centres (on their own account or on behalf of a facility).
pub fn may_register_patients(principal: &Principal) -> bool {
    matches!(principal.role, Role::MedicalStaff | Role::HealthCentreStaff)
}

/// Whether a registration by the caller is a notification the responsible
/// health centre still has to accept (受理): a facility's is; a health
/// centre's own entry (for itself or typed in for a facility) is accepted
/// as it is made.
pub fn notification_needs_acceptance(principal: &Principal) -> bool {
    principal.role == Role::MedicalStaff
}

/// Whether a correction by the caller sends a returned notification back
/// to the health centre: one by the notifying facility does.
pub fn resubmits_notification(principal: &Principal) -> bool {
    principal.role == Role::MedicalStaff
}

/// Who may record tests and results on a patient they reach.
pub fn may_record_tests(principal: &Principal) -> bool {
    matches!(principal.role, Role::MedicalStaff | Role::HealthCentreStaff)
}

/// The facility an entry (a registration, a test) is made for, as far as
/// the caller's role decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryFacility {
    /// Medical staff: their own facility.
    Own(i64),
    /// A health centre: the facility it names (if any), which
    /// [`may_enter_on_behalf`] must allow.
    Named(Option<i64>),
}

/// The facility an entry is made for: medical staff enter for their own
/// facility (naming another is `BAD_USER_INPUT` on `input.facilityId`;
/// `what` says what they do, e.g. "record tests"); a health centre names
/// the facility it enters for.
pub fn entry_facility(principal: &Principal, requested: Option<i64>, what: &str) -> Result<EntryFacility, AppError> {
    match principal.role {
        Role::MedicalStaff => {
            let own = principal.facility_id.ok_or_else(|| AppError::forbidden("account has no facility"))?;
            if requested.is_some_and(|f| f != own) {
                return Err(AppError::bad_input(
                    "input.facilityId",
                    format!("medical staff {what} for their own facility only"),
                ));
            }
            Ok(EntryFacility::Own(own))
        }
        _ => Ok(EntryFacility::Named(requested)),
    }
}

/// Whether a health centre enters data on behalf of `facility`: one of its
/// district that has no system access of its own (it phones or faxes the
/// centre instead).
pub fn may_enter_on_behalf(principal: &Principal, facility: &facility::Model) -> bool {
    principal.role == Role::HealthCentreStaff
        && !facility.has_system_access
        && principal.health_centre_id == Some(facility.health_centre_id)
}

/// Whose health a report is about, and who reports it: a patient reports
/// about themself (the patient may be omitted), staff name the patient.
pub fn report_subject(principal: &Principal, requested: Option<i64>) -> Result<(i64, ReporterKind), AppError> {
    match (principal.role, requested) {
        (Role::Patient, None) => Ok((principal.patient_id.unwrap_or_default(), ReporterKind::Patient)),
        (Role::Patient, Some(id)) if Some(id) == principal.patient_id => Ok((id, ReporterKind::Patient)),
        (Role::Patient, Some(_)) => Err(AppError::forbidden("patients submit reports about themselves only")),
        (_, Some(id)) => Ok((id, ReporterKind::Staff)),
        (_, None) => Err(AppError::bad_input("input.patientId", "is required when staff report for a patient")),
    }
}

/// Whether a care decision is the prefecture's own (an accommodation
/// placement it made itself opens no personal data to it).
pub fn decides_as_prefecture(principal: &Principal) -> bool {
    principal.role == Role::PrefectureStaff
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
    /// Complete or correct the items of the record (`Target::facility`:
    /// the registering facility, for medical staff).
    CompleteRecord,
    /// Close the record as not a case, or withdraw it as a duplicate.
    ChangeRecordStatus,
    /// Accept a received notification, or return it (受理).
    DecideNotification,
    /// Refer the patient to `Target::facility`, which then reaches the
    /// record for testing and care.
    Refer,
    /// Investigate the case (積極的疫学調査): register or link its close
    /// contacts, record its behaviour history, hand a close contact over to
    /// the centre of their district.
    Investigate,
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
    let on_behalf = responsible_centre && target.facility.is_some_and(|f| may_enter_on_behalf(principal, f));
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
        CaseAction::RecordOutcome
        | CaseAction::Transfer
        | CaseAction::ManageSignIn
        | CaseAction::ChangeRecordStatus
        | CaseAction::DecideNotification
        | CaseAction::Refer
        | CaseAction::Investigate => responsible_centre,
        CaseAction::CompleteRecord => {
            (principal.role == Role::MedicalStaff
                && own_facility
                && patient.registering_facility_id == target.facility.map(|f| f.id))
                || responsible_centre
        }
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
        CaseAction::CompleteRecord => {
            "a record is completed and corrected by the facility that registered it or the responsible health centre"
        }
        CaseAction::ChangeRecordStatus => {
            "only the responsible health centre closes a record as not a case or withdraws a duplicate"
        }
        CaseAction::DecideNotification => "only the responsible health centre accepts or returns a notification",
        CaseAction::Refer => "only the responsible health centre refers a patient to a facility",
        CaseAction::Investigate => {
            "only the responsible health centre investigates a case: its contacts, behaviour history and handovers"
        }
    }))
}
