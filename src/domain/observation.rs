//! The health observation of a close contact (健康観察): the contact stays
//! home and watches their health for a period counted from the last day of
//! exposure (day 0), whose length changed by date. Versioned like the
//! release rules, never hard-coded.

use chrono::NaiveDate;

/// One version of the observation period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservationRule {
    /// The rule's name.
    pub code: &'static str,
    /// The first day of last exposure it applies to.
    pub in_force_from: NaiveDate,
    /// Days of observation after the last exposure.
    pub days: u32,
}

const fn day(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        None => NaiveDate::MIN,
    }
}

/// The versions, oldest first: 14 days; 10 from 14 January 2022; 7 from
/// 28 January 2022; 5 from 22 July 2022.
pub const RULES: [ObservationRule; 4] = [
    ObservationRule { code: "2020-01", in_force_from: day(2019, 12, 1), days: 14 },
    ObservationRule { code: "2022-01-14", in_force_from: day(2022, 1, 14), days: 10 },
    ObservationRule { code: "2022-01-28", in_force_from: day(2022, 1, 28), days: 7 },
    ObservationRule { code: "2022-07-22", in_force_from: day(2022, 7, 22), days: 5 },
];

/// The last day of observation after a last exposure on `last_exposure`,
/// under the rule in force that day.
pub fn observation_ends(last_exposure: NaiveDate) -> (NaiveDate, &'static ObservationRule) {
    let rule = RULES.iter().rev().find(|rule| rule.in_force_from <= last_exposure).unwrap_or(&RULES[0]);
    (last_exposure + chrono::Duration::days(i64::from(rule.days)), rule)
}

/// The days of last exposure (inclusive ranges) of the contacts still under
/// observation on `day`: last exposed on `day` or before, and within the
/// period of the rule in force on the day of exposure.
pub fn exposures_observed_on(day: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut ranges = Vec::new();
    for (i, rule) in RULES.iter().enumerate() {
        let until = RULES.get(i + 1).map_or(day, |next| day.min(next.in_force_from - chrono::Duration::days(1)));
        let from = rule.in_force_from.max(day - chrono::Duration::days(i64::from(rule.days)));
        if from <= until {
            ranges.push((from, until));
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contacts_observed_on_a_day_are_those_whose_period_covers_it() {
        let at = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        for day in [at(2021, 12, 30), at(2022, 1, 20), at(2022, 2, 1), at(2022, 7, 25), at(2024, 3, 3)] {
            let ranges = exposures_observed_on(day);
            // Every day of exposure in the month before is inside a range
            // exactly when its period covers `day`.
            for back in 0..30 {
                let exposure = day - chrono::Duration::days(back);
                let covered = observation_ends(exposure).0 >= day;
                let inside = ranges.iter().filter(|(from, until)| *from <= exposure && exposure <= *until).count();
                assert_eq!(inside, usize::from(covered), "{day}: exposure {exposure}");
            }
            assert!(ranges.iter().all(|(_, until)| *until <= day), "no exposure after the day");
        }
    }

    #[test]
    fn the_period_follows_the_day_of_last_exposure_across_the_changes() {
        let at = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        assert_eq!(observation_ends(at(2021, 12, 1)).0, at(2021, 12, 15));
        assert_eq!(observation_ends(at(2022, 1, 14)).0, at(2022, 1, 24));
        assert_eq!(observation_ends(at(2022, 1, 28)).0, at(2022, 2, 4));
        assert_eq!(observation_ends(at(2022, 7, 22)).0, at(2022, 7, 27));
        assert!(RULES.windows(2).all(|pair| pair[0].in_force_from < pair[1].in_force_from));
    }
}
