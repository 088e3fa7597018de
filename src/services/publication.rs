//! Publication moments: what is published for anyone (the open-data files,
//! and cross-tabulations meant for publication) is computed as of the
//! day's publication moment, never as of an arbitrary second. Two files a
//! second apart are then the same file, so differencing them cannot tell
//! when (or about whom) one record was entered; two consecutive
//! publications differ by a whole day's entries.

use chrono::{DateTime, Duration, NaiveTime, Utc};

/// The publication moment at or before `at`: the day's `time` (Japan
/// time), or the previous day's if that is still to come.
pub fn at_or_before(at: DateTime<Utc>, time: NaiveTime) -> DateTime<Utc> {
    let offset = crate::domain::calendar::local_offset();
    let local = at.with_timezone(&offset);
    let candidate = local.date_naive().and_time(time);
    let candidate = candidate.and_local_timezone(offset).single().map(|moment| moment.with_timezone(&Utc));
    match candidate {
        Some(moment) if moment <= at => moment,
        Some(moment) => moment - Duration::days(1),
        // A fixed offset has no gaps or folds; this is not reached.
        None => at,
    }
}

/// The publication after the one at or before `at`.
pub fn next_after(at: DateTime<Utc>, time: NaiveTime) -> DateTime<Utc> {
    at_or_before(at, time) + Duration::days(1)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveTime, Utc};

    use super::{at_or_before, next_after};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("a moment").with_timezone(&Utc)
    }

    #[test]
    fn a_moment_falls_back_to_the_days_publication_in_japan_time() {
        let ten = NaiveTime::from_hms_opt(10, 0, 0).expect("a time");
        // 11:00 in Japan: today's 10:00 publication.
        assert_eq!(at_or_before(at("2026-06-05T02:00:00Z"), ten), at("2026-06-05T01:00:00Z"));
        // 09:59:59 in Japan: yesterday's.
        assert_eq!(at_or_before(at("2026-06-05T00:59:59Z"), ten), at("2026-06-04T01:00:00Z"));
        // Exactly at the moment: that moment.
        assert_eq!(at_or_before(at("2026-06-05T01:00:00Z"), ten), at("2026-06-05T01:00:00Z"));
        assert_eq!(next_after(at("2026-06-05T00:59:59Z"), ten), at("2026-06-05T01:00:00Z"));
        // Midnight in Japan is 15:00 UTC the day before.
        let midnight = NaiveTime::MIN;
        assert_eq!(at_or_before(at("2026-06-05T14:59:59Z"), midnight), at("2026-06-04T15:00:00Z"));
        assert_eq!(at_or_before(at("2026-06-05T15:00:00Z"), midnight), at("2026-06-05T15:00:00Z"));
    }

    #[test]
    fn moments_a_second_apart_share_a_publication_unless_one_passes_it() {
        let midnight = NaiveTime::MIN;
        let first = at("2026-06-05T09:30:00Z");
        let second = at("2026-06-05T09:30:01Z");
        assert_eq!(at_or_before(first, midnight), at_or_before(second, midnight));
    }
}
