//! Fields: whether the personal fields of a reached row are shown.

use entity::enums::CareSetting;
use entity::patient;

use crate::auth::{Principal, Role};
use crate::error::AppError;

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
pub(super) fn in_accommodation_placed_by_centre(patient: &patient::Model) -> bool {
    patient.care_setting == CareSetting::Accommodation && !patient.care_decided_by_prefecture
}

/// The error at a personal field the caller may not read.
pub fn personal_field_forbidden(field: &str) -> AppError {
    AppError::forbidden(format!("{field} is personal data and the caller has no care relationship with this patient"))
}

/// Whether the caller's lists may be read from a replica a moment behind
/// the primary: only those of callers who never see personal data
/// (analysts and operators), whose lists hold no field that is audited and
/// no row a change of theirs just made.
pub fn may_read_from_replica(principal: &Principal) -> bool {
    matches!(principal.role, Role::NationalAnalyst | Role::SystemAdmin)
}

/// Who may look people up by name reading, date of birth or telephone
/// number (`searchPatients`, and the duplicate check of a registration):
/// the staff who register and care for patients, within their reach. A
/// search by personal data is itself a disclosure, so analysts, operators,
/// prefectures and patients may not.
pub fn may_search_people(principal: &Principal) -> bool {
    matches!(principal.role, Role::MedicalStaff | Role::HealthCentreStaff)
}
