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

/// Who reads a work queue, and whose: a health centre's staff their
/// centre's, a prefecture's staff every centre's of their prefecture (to
/// see where the work piles up; they do not act on it).
pub fn may_read_work_queue(principal: &Principal) -> Result<Audience, AppError> {
    live_audience(principal)
        .map_err(|_| AppError::forbidden("work queues belong to health centres, and prefectures oversee them"))
}

/// Who acts on an item of the queue of `centre` (acknowledges, assigns,
/// marks done): its own staff, signed in as themselves. Answers the
/// account that acts.
pub fn may_act_on_work_item(principal: &Principal, centre: i64) -> Result<i64, AppError> {
    match (principal.role, principal.health_centre_id, principal.account_id, &principal.key) {
        (Role::HealthCentreStaff, Some(own), Some(account), None) if own == centre => Ok(account),
        (Role::HealthCentreStaff, _, _, None) => {
            Err(AppError::not_found("id", "no item of your health centre's queue has this ID"))
        }
        _ => Err(AppError::forbidden("only the health centre's own staff, signed in as themselves, act on its queue")),
    }
}
