//! Daily counts (from the change of September 2022): a facility reports,
//! for each day, how many people it found positive in each age band who are
//! not notified individually. A report for a day and band replaces the
//! earlier one; the difference goes into the statistics ledger (new
//! positives, and the cross-tabulation by age band with sex unknown) as of
//! the moment it is recorded, so a figure published before a correction
//! stays reproducible.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use entity::enums::{CareSetting, CaseType, Sex};
use entity::{daily_case_count, facility, health_centre};
use sea_orm::sea_query::LockType;
use sea_orm::{ActiveEnum, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::appends::Appends;
use super::statistics::ledger::{
    CASE_COLUMNS, CaseKey, Contribution, CountKey, EVENT_COLUMNS, Metric, case_rows, date_number, event_rows,
};
use crate::auth::{Principal, policy};
use crate::domain::AgeBand;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The ledger's patient for rows that count people without a record.
const NO_RECORD: i64 = 0;

/// A parsed report: the day, the facility (for a health centre entering on
/// behalf of one), and the count of each age band given.
#[derive(Debug)]
pub struct DailyCounts {
    pub day: NaiveDate,
    pub facility_id: Option<i64>,
    pub counts: Vec<(AgeBand, i32)>,
}

/// The counts of a facility's day as they now stand, by age band.
#[derive(Debug)]
pub struct DayCounts {
    pub facility_id: i64,
    pub day: NaiveDate,
    pub counts: BTreeMap<i16, i32>,
}

/// Records a facility's counts of a day, replacing those given before for
/// the same bands.
pub async fn report(state: &AppState, principal: &Principal, input: DailyCounts) -> AppResult<DayCounts> {
    if !policy::may_register_patients(principal) {
        return Err(AppError::forbidden("daily counts are reported by testing facilities and health centres"));
    }
    let Some(from) = state.config.limited_notification_from else {
        return Err(AppError::conflict("every case is notified individually here: there are no daily counts"));
    };
    let now = state.now();
    let today = now.with_timezone(&crate::domain::calendar::local_offset()).date_naive();
    if input.day < from {
        return Err(AppError::bad_input(
            "input.day",
            format!("daily counts begin on {from}; cases before are notified individually"),
        ));
    }
    crate::domain::text::check_clinical_day(input.day, today).map_err(|why| AppError::bad_input("input.day", why))?;
    let mut given: BTreeMap<i16, i32> = BTreeMap::new();
    for (band, count) in &input.counts {
        if !(0..=100_000).contains(count) {
            return Err(AppError::bad_input("input.counts", "each count is from 0 to 100,000"));
        }
        if given.insert(*band as i16, *count).is_some() {
            return Err(AppError::bad_input("input.counts", "each age band at most once"));
        }
    }
    if given.is_empty() {
        return Err(AppError::bad_input("input.counts", "give the count of at least one age band"));
    }
    let account_id = principal.account_id.ok_or_else(|| AppError::forbidden("staff only"))?;

    let txn = crate::db::begin_write(&state.db).await?;
    let facility_id = match policy::entry_facility(principal, input.facility_id, "report daily counts")? {
        policy::EntryFacility::Own(own) => own,
        policy::EntryFacility::Named(Some(id)) => id,
        policy::EntryFacility::Named(None) => {
            return Err(AppError::bad_input("input.facilityId", "name the facility whose counts these are"));
        }
    };
    // The facility's row is locked so that two reports of it run one after
    // the other, each replacing what the one before stored.
    let facility = facility::Entity::find_by_id(facility_id)
        .lock(LockType::Update)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("input.facilityId", "no facility has this ID"))?;
    if input.facility_id.is_some() && !policy::may_enter_on_behalf(principal, &facility) {
        return Err(AppError::forbidden(
            "a health centre enters data on behalf of facilities of its own district without system access",
        ));
    }
    let centre = health_centre::Entity::find_by_id(facility.health_centre_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a facility names a health centre that does not exist")))?;
    let before = day_counts(&txn, facility.id, input.day).await?;

    let day = date_number(input.day);
    let mut change = Contribution::default();
    let mut total = 0;
    let mut rows = Vec::new();
    for (band, count) in &given {
        let delta = count - before.get(band).copied().unwrap_or(0);
        total += delta;
        if delta != 0 {
            let case = CaseKey {
                day,
                health_centre_id: centre.id,
                prefecture_id: centre.prefecture_id,
                age_decade: *band,
                sex: Sex::Unknown.to_value(),
                case_type: CaseType::Confirmed.to_value(),
                care_setting: CareSetting::Undecided.to_value(),
                severity: None,
                outcome: None,
                route: None,
            };
            change.cases.insert(case, delta);
        }
        rows.push(vec![
            sea_orm::Value::from(facility.id),
            sea_orm::Value::from(input.day),
            sea_orm::Value::from(*band),
            sea_orm::Value::from(*count),
            sea_orm::Value::from(account_id),
            sea_orm::Value::from(now),
        ]);
    }
    if total != 0 {
        let key = CountKey {
            metric: Metric::Positives,
            day,
            health_centre_id: centre.id,
            prefecture_id: centre.prefecture_id,
        };
        change.counts.insert(key, total);
    }
    let mut appends = Appends::default();
    appends.push(
        "daily_case_counts",
        &["facility_id", "day", "age_decade", "count", "reported_by_account_id", "recorded_at"],
        rows,
    );
    appends.push("stat_events", &EVENT_COLUMNS, event_rows(NO_RECORD, &change, now));
    appends.push("stat_cases", &CASE_COLUMNS, case_rows(NO_RECORD, &change, now));
    super::audit::append(&mut appends, principal, "REPORT_DAILY_COUNTS", None, &["dailyCounts"], now);
    appends.write(&txn).await?;
    let counts = day_counts(&txn, facility.id, input.day).await?;
    txn.commit().await?;
    Ok(DayCounts { facility_id: facility.id, day: input.day, counts })
}

/// The latest count of each age band a facility reported for a day.
async fn day_counts(
    db: &impl sea_orm::ConnectionTrait,
    facility_id: i64,
    day: NaiveDate,
) -> AppResult<BTreeMap<i16, i32>> {
    let rows = daily_case_count::Entity::find()
        .filter(daily_case_count::Column::FacilityId.eq(facility_id))
        .filter(daily_case_count::Column::Day.eq(day))
        .order_by_asc(daily_case_count::Column::Id)
        .all(db)
        .await?;
    // Later rows replace earlier ones of the same band.
    Ok(rows.into_iter().map(|row| (row.age_decade, row.count)).collect())
}
