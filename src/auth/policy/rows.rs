//! Rows: the patients a caller reaches, as a SQL condition on `patients`
//! or on a column of another table that holds a patient's ID. Both forms
//! come from one list of the ways a caller reaches patients.

use entity::{break_glass_access, hospitalisation, lab_test, patient, patient_transfer};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition};

use crate::auth::{Principal, Role};
use crate::error::AppError;

/// One way a caller reaches patients: a condition on the patient's own row,
/// or the patient IDs another table holds (a facility's tests, a transfer,
/// a break-glass access).
enum Reach {
    Row(Condition),
    Ids(Box<SelectStatement>),
}

impl Reach {
    /// The reach as a condition on the `patients` table.
    fn on_patients(self) -> Condition {
        match self {
            Reach::Row(condition) => condition,
            Reach::Ids(ids) => Condition::all().add(patient::Column::Id.in_subquery(*ids)),
        }
    }

    /// The reach as a condition on a column holding a patient's ID (of
    /// another table): each way a membership test of its own, so that the
    /// database reads each set once instead of testing every row against
    /// the whole scope.
    fn on_patient_id<C: ColumnTrait>(self, column: C) -> Condition {
        match self {
            // Every patient: every ID names one.
            Reach::Row(condition) if condition.is_empty() => Condition::all(),
            Reach::Row(condition) => Condition::all().add(column.in_subquery(
                Query::select().column(patient::Column::Id).from(patient::Entity).cond_where(condition).to_owned(),
            )),
            Reach::Ids(ids) => Condition::all().add(column.in_subquery(*ids)),
        }
    }
}

/// Any of `reaches`; none at all reaches nothing, and a way without a
/// condition (every patient) reaches everything.
fn any_of(reaches: Vec<Reach>, each: impl Fn(Reach) -> Condition) -> Condition {
    if reaches.is_empty() {
        return Condition::all().add(Expr::val(1).eq(0));
    }
    let mut any = Condition::any();
    for reach in reaches {
        let condition = each(reach);
        if condition.is_empty() {
            return Condition::all();
        }
        any = any.add(condition);
    }
    any
}

/// The patients a caller can reach, as a condition on the `patients` table:
/// those of the caller's care relationships, and those of the break-glass
/// accesses the caller's account holds open at the moment of the request.
pub fn patient_scope(principal: &Principal) -> Condition {
    any_of(all_reaches(principal), Reach::on_patients)
}

/// [`patient_scope`] as a condition on `column`, a patient's ID in another
/// table (the outbox's events, the tests): the same patients, asked as one
/// membership test per way of reaching them.
pub fn patient_id_scope<C: ColumnTrait + Copy>(principal: &Principal, column: C) -> Condition {
    any_of(all_reaches(principal), |reach| reach.on_patient_id(column))
}

/// The caller's care relationships and open break-glass accesses.
fn all_reaches(principal: &Principal) -> Vec<Reach> {
    let mut reaches = care_reaches(principal);
    if let Some(account) = break_glass_holder(principal) {
        reaches.push(Reach::Ids(Box::new(
            Query::select()
                .column(break_glass_access::Column::PatientId)
                .from(break_glass_access::Entity)
                .and_where(break_glass_access::Column::AccountId.eq(account))
                .and_where(break_glass_access::Column::ExpiresAt.gt(principal.at))
                .to_owned(),
        )));
    }
    reaches
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

/// The patients of the caller's care relationships, without break-glass
/// accesses: the patients writes reach (`services::reachable_patient`),
/// since a broken glass opens a record for reading only.
pub fn care_scope(principal: &Principal) -> Condition {
    any_of(care_reaches(principal), Reach::on_patients)
}

/// The ways of [`care_scope`].
fn care_reaches(principal: &Principal) -> Vec<Reach> {
    let ids = |select: &mut SelectStatement| Reach::Ids(Box::new(select.to_owned()));
    match principal.role {
        Role::MedicalStaff => match principal.facility_id {
            // Registered, tested or admitted by the caller's facility, or
            // referred to it by the responsible health centre.
            Some(facility) => vec![
                Reach::Row(Condition::all().add(patient::Column::RegisteringFacilityId.eq(facility))),
                ids(Query::select()
                    .column(lab_test::Column::PatientId)
                    .from(lab_test::Entity)
                    .and_where(lab_test::Column::FacilityId.eq(facility))),
                ids(Query::select()
                    .column(hospitalisation::Column::PatientId)
                    .from(hospitalisation::Entity)
                    .and_where(hospitalisation::Column::FacilityId.eq(facility))),
                ids(Query::select()
                    .column(entity::patient_referral::Column::PatientId)
                    .from(entity::patient_referral::Entity)
                    .and_where(entity::patient_referral::Column::FacilityId.eq(facility))),
            ],
            None => Vec::new(),
        },
        Role::HealthCentreStaff => match principal.health_centre_id {
            // Responsible now, or responsible before a transfer (read
            // access; not after handing a contact over).
            Some(centre) => vec![
                Reach::Row(Condition::all().add(patient::Column::ResponsibleHealthCentreId.eq(centre))),
                ids(Query::select()
                    .column(patient_transfer::Column::PatientId)
                    .from(patient_transfer::Entity)
                    .and_where(patient_transfer::Column::FromHealthCentreId.eq(centre))
                    .and_where(patient_transfer::Column::KeepsAccess.eq(true))),
            ],
            None => Vec::new(),
        },
        Role::PrefectureStaff => match principal.prefecture_id {
            Some(prefecture) => vec![Reach::Row(
                Condition::all().add(
                    patient::Column::ResponsibleHealthCentreId.in_subquery(
                        Query::select()
                            .column(entity::health_centre::Column::Id)
                            .from(entity::health_centre::Entity)
                            .and_where(entity::health_centre::Column::PrefectureId.eq(prefecture))
                            .to_owned(),
                    ),
                ),
            )],
            None => Vec::new(),
        },
        Role::NationalAnalyst => vec![Reach::Row(Condition::all())],
        Role::Patient => match principal.patient_id {
            Some(id) => vec![Reach::Row(Condition::all().add(patient::Column::Id.eq(id)))],
            None => Vec::new(),
        },
        Role::SystemAdmin => Vec::new(),
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

/// Who reads the follow-up lists (patients in home or accommodation care,
/// not reported, warning signs): staff with clinical access.
pub fn may_read_follow_up_lists(principal: &Principal) -> Result<(), AppError> {
    match principal.role {
        Role::Patient | Role::SystemAdmin => {
            Err(AppError::forbidden("follow-up lists are for staff with clinical access"))
        }
        _ => Ok(()),
    }
}

/// Who names clusters and adds cases to them: health centres, each adding
/// the patients of its own care relationships (a cluster may span several
/// districts).
pub fn may_manage_clusters(principal: &Principal) -> Result<(), AppError> {
    match principal.role {
        Role::HealthCentreStaff => Ok(()),
        _ => Err(AppError::forbidden("clusters are named and kept by health centres")),
    }
}

/// Who reads clusters (name, setting, place, size over time; no personal
/// data): staff with clinical access. Their members are read through the
/// row scope like every patient.
pub fn may_read_clusters(principal: &Principal) -> Result<(), AppError> {
    if super::may_read_clinical(principal) && principal.role != Role::Patient {
        Ok(())
    } else {
        Err(AppError::forbidden("clusters are for staff with clinical access"))
    }
}
