//! Release from home or accommodation care (療養解除): the rules as data,
//! each in force from a date, and the earliest release date they give.
//!
//! The rule that applies to a case is the one in force on its onset date
//! (or, for a case without symptoms, the day its positive sample was
//! taken). Days are counted with that day as day 0: "10 days have passed"
//! is day 11, the release date. A rule's condition on the hours without
//! symptoms can only move the release later; the date given here is the
//! earliest the rule allows, which the health centre confirms.

use chrono::NaiveDate;

/// One version of the release rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseRule {
    /// The rule's name, stored with the release it decided.
    pub code: &'static str,
    /// The first onset (or sample) day it applies to.
    pub in_force_from: NaiveDate,
    /// Days that must have passed since onset, with symptoms.
    pub days_after_onset: u32,
    /// Hours without symptoms that must also have passed.
    pub hours_without_symptoms: u32,
    /// Days that must have passed since the positive sample, without
    /// symptoms.
    pub days_after_sample: u32,
}

const fn day(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        None => NaiveDate::MIN,
    }
}

/// The versions, oldest first: 14 days from onset and 72 hours without
/// symptoms when the system started (May 2020); 10 days and 72 hours from
/// 12 June 2020; 7 days and 24 hours (7 days from the sample without
/// symptoms) from 7 September 2022.
pub const RULES: [ReleaseRule; 3] = [
    ReleaseRule {
        code: "2020-05",
        in_force_from: day(2019, 12, 1),
        days_after_onset: 14,
        hours_without_symptoms: 72,
        days_after_sample: 14,
    },
    ReleaseRule {
        code: "2020-06",
        in_force_from: day(2020, 6, 12),
        days_after_onset: 10,
        hours_without_symptoms: 72,
        days_after_sample: 10,
    },
    ReleaseRule {
        code: "2022-09",
        in_force_from: day(2022, 9, 7),
        days_after_onset: 7,
        hours_without_symptoms: 24,
        days_after_sample: 7,
    },
];

/// The rule in force on `date` (the first one before any).
pub fn rule_on(date: NaiveDate) -> &'static ReleaseRule {
    RULES.iter().rev().find(|rule| rule.in_force_from <= date).unwrap_or(&RULES[0])
}

/// The earliest release date of a case, and the rule that gives it: from
/// the onset date when the patient had symptoms, else from the day the
/// first positive sample was taken. `None` when neither is known.
pub fn expected_release(
    onset: Option<NaiveDate>,
    first_positive_sample: Option<NaiveDate>,
) -> Option<(NaiveDate, &'static ReleaseRule)> {
    let (start, with_symptoms) = match (onset, first_positive_sample) {
        (Some(onset), _) => (onset, true),
        (None, Some(sampled)) => (sampled, false),
        (None, None) => return None,
    };
    let rule = rule_on(start);
    let days = if with_symptoms { rule.days_after_onset } else { rule.days_after_sample };
    Some((start + chrono::Duration::days(i64::from(days) + 1), rule))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_follows_the_onset_date_across_the_changes() {
        let at = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        // May 2020: 14 days passed, released on day 15.
        assert_eq!(expected_release(Some(at(2020, 6, 1)), None), Some((at(2020, 6, 16), &RULES[0])));
        // From 12 June 2020: 10 days.
        assert_eq!(expected_release(Some(at(2020, 6, 12)), None), Some((at(2020, 6, 23), &RULES[1])));
        assert_eq!(expected_release(Some(at(2022, 9, 6)), None), Some((at(2022, 9, 17), &RULES[1])));
        // From 7 September 2022: 7 days.
        assert_eq!(expected_release(Some(at(2022, 9, 7)), None), Some((at(2022, 9, 15), &RULES[2])));
        // Without symptoms: from the sample.
        assert_eq!(expected_release(None, Some(at(2022, 10, 1))), Some((at(2022, 10, 9), &RULES[2])));
        assert_eq!(expected_release(None, None), None);
    }

    #[test]
    fn rules_are_in_date_order() {
        assert!(RULES.windows(2).all(|pair| pair[0].in_force_from < pair[1].in_force_from));
    }
}
