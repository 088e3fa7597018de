//! Live events: who receives which, on which channel.

use crate::auth::{Principal, Role};
use crate::error::AppError;

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

/// A channel of live events: a health centre's, or a prefecture's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    HealthCentre(i64),
    Prefecture(i32),
}

/// The channel a subscriber of live events listens on: their health
/// centre's or their prefecture's.
pub fn live_audience(principal: &Principal) -> Result<Audience, AppError> {
    match (principal.role, principal.health_centre_id, principal.prefecture_id) {
        (Role::HealthCentreStaff, Some(centre), _) => Ok(Audience::HealthCentre(centre)),
        (Role::PrefectureStaff, _, Some(prefecture)) => Ok(Audience::Prefecture(prefecture)),
        _ => Err(AppError::forbidden("live case events are pushed to health centres and prefectures")),
    }
}
