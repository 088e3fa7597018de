//! The health system's calendar: Japan Standard Time (UTC+9), with no
//! daylight saving. "Reported today", daily figures and publication
//! moments use it.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// The offset of the health system's calendar day.
pub fn local_offset() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"))
}

/// The calendar day of a moment.
pub fn local_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&local_offset()).date_naive()
}

/// The start and end (UTC) of a calendar day.
pub fn day_bounds(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_local_timezone(local_offset()).single();
    let start = start.map(|s| s.with_timezone(&Utc)).unwrap_or_default();
    (start, start + chrono::Duration::days(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_runs_from_midnight_in_japan() {
        let day = NaiveDate::from_ymd_opt(2021, 8, 20).expect("a date");
        let (start, end) = day_bounds(day);
        assert_eq!(start.to_rfc3339(), "2021-08-19T15:00:00+00:00");
        assert_eq!(end - start, chrono::Duration::days(1));
        assert_eq!(local_day(start), day);
        assert_eq!(local_day(end - chrono::Duration::seconds(1)), day);
    }
}
