//! The beds and accommodation rooms a prefecture has secured (確保病床数・
//! 宿泊療養居室確保数), reported by its staff per day. Reports are kept as
//! they were made: a later report for the same day replaces the earlier one
//! from the moment it is recorded, so the bed occupancy published on a day
//! can be reproduced later (`statistics::indicators::capacity`).

use chrono::NaiveDate;
use entity::prefecture_capacity;
use sea_orm::{ActiveModelTrait, Set};

use super::appends::Appends;
use crate::auth::{Principal, policy};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Largest number of beds or rooms of one prefecture.
const MOST: i64 = 1_000_000;

/// A report of what a prefecture has secured for a day.
#[derive(Debug, Clone, Copy)]
pub struct CapacityReport {
    /// The prefecture, when named (its own staff only).
    pub prefecture_id: Option<i32>,
    pub day: NaiveDate,
    pub beds: i64,
    pub severe_beds: i64,
    pub accommodation_rooms: i64,
}

/// Records a prefecture's report for a day.
pub async fn report(
    state: &AppState,
    principal: &Principal,
    input: CapacityReport,
) -> AppResult<prefecture_capacity::Model> {
    let prefecture_id = policy::capacity_prefecture(principal, input.prefecture_id)?;
    let account_id = principal.account_id.ok_or_else(|| AppError::forbidden("staff only"))?;
    let now = state.now();
    let today = now.with_timezone(&crate::domain::calendar::local_offset()).date_naive();
    crate::domain::text::check_clinical_day(input.day, today).map_err(|why| AppError::bad_input("input.date", why))?;
    for (value, field) in [
        (input.beds, "input.beds"),
        (input.severe_beds, "input.severeBeds"),
        (input.accommodation_rooms, "input.accommodationRooms"),
    ] {
        if !(0..=MOST).contains(&value) {
            return Err(AppError::bad_input(field, "must be from 0 to 1,000,000"));
        }
    }
    if input.severe_beds > input.beds {
        return Err(AppError::bad_input("input.severeBeds", "the beds for severe cases are among the beds secured"));
    }
    let txn = crate::db::begin_write(&state.db).await?;
    let stored = prefecture_capacity::ActiveModel {
        prefecture_id: Set(prefecture_id),
        day: Set(input.day),
        beds: Set(input.beds),
        severe_beds: Set(input.severe_beds),
        accommodation_rooms: Set(input.accommodation_rooms),
        recorded_by_account_id: Set(account_id),
        recorded_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let mut appends = Appends::default();
    super::audit::append(&mut appends, principal, "REPORT_CAPACITY", None, &["capacity"], now);
    appends.write(&txn).await?;
    txn.commit().await?;
    tracing::info!(prefecture_id, account_id, "capacity reported");
    Ok(stored)
}
