//! Figures and reference lists: the area of the statistics a caller sees.

use crate::auth::{Principal, Role};
use crate::error::AppError;

/// Who may read the reference lists (prefectures, health centres,
/// facilities): every signed-in caller but patients, who need none of it.
pub fn may_read_reference(principal: &Principal) -> Result<(), AppError> {
    match principal.role {
        Role::Patient => Err(AppError::forbidden("patients have no access to reference lists")),
        _ => Ok(()),
    }
}

/// Who may read clinical reference lists and patients at all.
pub fn may_read_clinical(principal: &Principal) -> bool {
    principal.role != Role::SystemAdmin
}

/// The area of a set of figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Nation,
    Prefecture(i32),
    HealthCentre(i64),
}

/// The area of the figures a caller asks for (`prefecture`, when named):
/// analysts anywhere, prefecture staff their prefecture, health centre
/// staff their district.
pub fn statistics_area(principal: &Principal, prefecture: Option<i32>) -> Result<Area, AppError> {
    match (principal.role, prefecture) {
        (Role::NationalAnalyst, None) => Ok(Area::Nation),
        (Role::NationalAnalyst, Some(p)) => Ok(Area::Prefecture(p)),
        (Role::PrefectureStaff, requested) => match principal.prefecture_id {
            Some(own) if requested.is_none_or(|p| p == own) => Ok(Area::Prefecture(own)),
            _ => Err(AppError::forbidden("prefecture staff see the figures of their own prefecture")),
        },
        (Role::HealthCentreStaff, None) => principal
            .health_centre_id
            .map(Area::HealthCentre)
            .ok_or_else(|| AppError::forbidden("account without health centre")),
        (Role::HealthCentreStaff, Some(_)) => {
            Err(AppError::forbidden("health centre staff see the figures of their own district"))
        }
        _ => Err(AppError::forbidden("statistics are for analysts, prefectures and health centres")),
    }
}

/// The prefecture whose secured beds and rooms the caller reports: its own
/// staff report for it (`requested`, when named, must be theirs); no one
/// else does.
pub fn capacity_prefecture(principal: &Principal, requested: Option<i32>) -> Result<i32, AppError> {
    match (principal.role, principal.prefecture_id) {
        (Role::PrefectureStaff, Some(own)) if requested.is_none_or(|p| p == own) => Ok(own),
        (Role::PrefectureStaff, _) => Err(AppError::forbidden("prefecture staff report for their own prefecture")),
        _ => Err(AppError::forbidden("beds and rooms secured are reported by prefectures")),
    }
}
