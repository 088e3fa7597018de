//! The one table of who may read and do what. Resolvers and services ask
//! these functions; nothing else decides access.
//!
//! Two layers (DESIGN.md, "Who may see what"):
//!
//! 1. Rows: `patient_scope` turns the caller into a SQL condition on
//!    `patients`, so lists, counts and lookups never load a row the caller
//!    may not reach.
//! 2. Fields: `may_read_personal` decides, for a row the caller reached,
//!    whether the personal fields (names, birth date, contacts, smartphone
//!    IDs, free-text notes) are shown or refused with `FORBIDDEN`.

use entity::enums::CareSetting;
use entity::{hospitalisation, lab_test, patient, patient_transfer};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition};

use super::{Principal, Role};
use crate::error::AppError;

/// The patients a caller can reach, as a condition on the `patients` table.
pub fn patient_scope(principal: &Principal) -> Condition {
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
            Some(centre) => Condition::any()
                .add(patient::Column::ResponsibleHealthCentreId.eq(centre))
                .add(
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

/// Whether the caller may read the personal fields of a patient row that
/// `patient_scope` let them reach.
///
/// Medical staff and health centres reach a row only through a care
/// relationship (registering, testing or treating facility; responsible or
/// previous health centre), and a patient only their own record, so for them
/// reaching is enough. Prefecture staff see personal data only while the
/// patient is in accommodation care, which the prefecture runs. Analysts
/// and operators never do.
pub fn may_read_personal(principal: &Principal, patient: &patient::Model) -> bool {
    match principal.role {
        Role::MedicalStaff | Role::HealthCentreStaff | Role::Patient => true,
        Role::PrefectureStaff => patient.care_setting == CareSetting::Accommodation,
        Role::NationalAnalyst | Role::SystemAdmin => false,
    }
}

/// The error at a personal field the caller may not read.
pub fn personal_field_forbidden(field: &str) -> AppError {
    AppError::forbidden(format!(
        "{field} is personal data and the caller has no care relationship with this patient"
    ))
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
