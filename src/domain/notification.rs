//! The items of the notification form (発生届) beyond the basic ones: the
//! symptoms and risk factors as sets of named values, and the bounds of the
//! measured items. Refusals name the rule, never the value.

use chrono::NaiveDate;

use super::text::{Refusal, check_clinical_day};

/// An enumeration stored by name in a sorted, comma-separated set.
macro_rules! named {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            /// The stored name (the public enumeration value).
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
            pub fn from_name(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name() == text)
            }
        }
    };
}

named!(
    /// A symptom at diagnosis (症状).
    Symptom {
        Fever => "FEVER",
        Cough => "COUGH",
        SoreThroat => "SORE_THROAT",
        RunnyNose => "RUNNY_NOSE",
        Breathlessness => "BREATHLESSNESS",
        Fatigue => "FATIGUE",
        Headache => "HEADACHE",
        LossOfSmell => "LOSS_OF_SMELL",
        LossOfTaste => "LOSS_OF_TASTE",
        Diarrhoea => "DIARRHOEA",
        Vomiting => "VOMITING",
        Pneumonia => "PNEUMONIA",
        Other => "OTHER",
    }
);

named!(
    /// A risk factor for severe disease (重症化リスク因子).
    RiskFactor {
        Cancer => "CANCER",
        Copd => "COPD",
        ChronicKidneyDisease => "CHRONIC_KIDNEY_DISEASE",
        Hypertension => "HYPERTENSION",
        Diabetes => "DIABETES",
        Dyslipidaemia => "DYSLIPIDAEMIA",
        Obesity => "OBESITY",
        Smoking => "SMOKING",
        Immunosuppression => "IMMUNOSUPPRESSION",
        Pregnancy => "PREGNANCY",
    }
);

/// A set as stored: the names sorted and without repeats, comma-separated;
/// none when empty.
pub fn store_set<T: Ord + Copy>(items: &[T], name: fn(T) -> &'static str) -> Option<String> {
    let mut items = items.to_vec();
    items.sort_unstable();
    items.dedup();
    (!items.is_empty()).then(|| items.into_iter().map(name).collect::<Vec<_>>().join(","))
}

/// A stored set read back; names it does not know are left out.
pub fn read_set<T>(stored: Option<&str>, from_name: fn(&str) -> Option<T>) -> Vec<T> {
    stored.map(|text| text.split(',').filter_map(from_name).collect()).unwrap_or_default()
}

/// SpO2 on room air, in percent: 50 to 100.
pub fn check_spo2(value: i32) -> Result<i16, Refusal> {
    match i16::try_from(value) {
        Ok(v) if (50..=100).contains(&v) => Ok(v),
        _ => Err("must be a percentage from 50 to 100"),
    }
}

/// Doses of vaccine received: 0 to 10.
pub fn check_doses(value: i32) -> Result<i16, Refusal> {
    match i16::try_from(value) {
        Ok(v) if (0..=10).contains(&v) => Ok(v),
        _ => Err("must be a number of doses from 0 to 10"),
    }
}

/// A day of the case (onset, diagnosis, first visit, estimated infection):
/// a clinical day, and not before the person was born.
pub fn check_case_day(day: NaiveDate, birth_date: NaiveDate, today: NaiveDate) -> Result<NaiveDate, Refusal> {
    check_clinical_day(day, today)?;
    if day < birth_date {
        return Err("must not be before the date of birth");
    }
    Ok(day)
}

/// The items a notification must hold, for some types of case, under the
/// rules of a period: after the relaunch of 25 August 2020 the form was cut
/// from about 120 items to about 20, and the items asked for went with it.
#[derive(Debug, Clone, Copy)]
pub struct Requirement {
    /// The first registration day the rule applies to.
    pub from: NaiveDate,
    /// The day it stopped applying, if it has.
    pub until: Option<NaiveDate>,
    /// The types of case (by stored name).
    pub case_types: &'static [&'static str],
    /// The items, by their field names.
    pub items: &'static [&'static str],
}

const fn day(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        None => NaiveDate::MIN,
    }
}

const CASES_WITH_SYMPTOMS: &[&str] = &["CONFIRMED", "SUSPECTED"];
const CARRIERS: &[&str] = &["ASYMPTOMATIC_CARRIER"];
const DEATHS: &[&str] = &["DECEASED_CONFIRMED", "DECEASED_SUSPECTED"];
const CONTACTS: &[&str] = &["CLOSE_CONTACT"];
const FIRST: NaiveDate = day(2019, 12, 1);
const RELAUNCH: NaiveDate = day(2020, 8, 25);

/// Every rule, each type of case once per period.
pub const REQUIREMENTS: [Requirement; 8] = [
    Requirement {
        from: FIRST,
        until: Some(RELAUNCH),
        case_types: CASES_WITH_SYMPTOMS,
        items: &[
            "address",
            "phone",
            "occupation",
            "onsetDate",
            "diagnosisDate",
            "diagnosisMethod",
            "firstVisitDate",
            "estimatedInfectionDate",
            "infectionRoute",
            "severityAtDiagnosis",
            "needsAdmission",
        ],
    },
    Requirement {
        from: FIRST,
        until: Some(RELAUNCH),
        case_types: CARRIERS,
        items: &[
            "address",
            "phone",
            "occupation",
            "diagnosisDate",
            "diagnosisMethod",
            "estimatedInfectionDate",
            "infectionRoute",
        ],
    },
    Requirement {
        from: FIRST,
        until: Some(RELAUNCH),
        case_types: DEATHS,
        items: &["address", "diagnosisDate", "diagnosisMethod", "infectionRoute"],
    },
    Requirement { from: FIRST, until: Some(RELAUNCH), case_types: CONTACTS, items: &["address", "phone"] },
    Requirement {
        from: RELAUNCH,
        until: None,
        case_types: CASES_WITH_SYMPTOMS,
        items: &[
            "address",
            "phone",
            "onsetDate",
            "diagnosisDate",
            "diagnosisMethod",
            "severityAtDiagnosis",
            "needsAdmission",
        ],
    },
    Requirement {
        from: RELAUNCH,
        until: None,
        case_types: CARRIERS,
        items: &["address", "phone", "diagnosisDate", "diagnosisMethod"],
    },
    Requirement {
        from: RELAUNCH,
        until: None,
        case_types: DEATHS,
        items: &["address", "diagnosisDate", "diagnosisMethod"],
    },
    Requirement { from: RELAUNCH, until: None, case_types: CONTACTS, items: &["address", "phone"] },
];

/// The items a record of `case_type` registered on `registered_on` must
/// hold.
pub fn required_items(case_type: &str, registered_on: NaiveDate) -> &'static [&'static str] {
    REQUIREMENTS
        .iter()
        .find(|r| {
            r.case_types.contains(&case_type)
                && r.from <= registered_on
                && r.until.is_none_or(|until| registered_on < until)
        })
        .map_or(&[], |r| r.items)
}

/// Whether a case of `case_type` found on `day` must name the group it is
/// notified for: under the limited notification (from `from`), confirmed
/// cases and asymptomatic carriers are notified individually only for
/// four groups; deaths, suspected cases and contacts as before.
pub fn needs_group(case_type: &str, day: NaiveDate, from: Option<NaiveDate>) -> bool {
    from.is_some_and(|from| day >= from) && matches!(case_type, "CONFIRMED" | "ASYMPTOMATIC_CARRIER")
}

pub use super::person::age_on;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_stored_sorted_once_and_read_back() {
        let stored = store_set(&[Symptom::Cough, Symptom::Fever, Symptom::Cough], Symptom::name);
        assert_eq!(stored.as_deref(), Some("FEVER,COUGH"));
        assert_eq!(read_set(stored.as_deref(), Symptom::from_name), vec![Symptom::Fever, Symptom::Cough]);
        assert_eq!(store_set::<RiskFactor>(&[], RiskFactor::name), None);
    }

    #[test]
    fn the_required_items_follow_the_type_and_the_relaunch() {
        let before = NaiveDate::from_ymd_opt(2020, 8, 24).unwrap_or_default();
        let after = NaiveDate::from_ymd_opt(2020, 8, 25).unwrap_or_default();
        assert!(required_items("CONFIRMED", before).contains(&"infectionRoute"));
        assert!(!required_items("CONFIRMED", after).contains(&"infectionRoute"));
        assert!(required_items("CONFIRMED", after).contains(&"onsetDate"));
        assert!(!required_items("ASYMPTOMATIC_CARRIER", after).contains(&"onsetDate"));
        assert_eq!(required_items("CLOSE_CONTACT", after), &["address", "phone"]);
        // Every type of case has one rule per period.
        for case_type in [
            "CONFIRMED",
            "SUSPECTED",
            "ASYMPTOMATIC_CARRIER",
            "DECEASED_CONFIRMED",
            "DECEASED_SUSPECTED",
            "CLOSE_CONTACT",
        ] {
            for on in [before, after] {
                let rules = REQUIREMENTS
                    .iter()
                    .filter(|r| r.case_types.contains(&case_type) && r.from <= on && r.until.is_none_or(|u| on < u))
                    .count();
                assert_eq!(rules, 1, "{case_type} on {on}");
            }
        }
    }

    #[test]
    fn under_the_limited_notification_cases_name_their_group() {
        let at = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        let from = Some(at(2022, 9, 26));
        assert!(!needs_group("CONFIRMED", at(2022, 9, 25), from));
        assert!(needs_group("CONFIRMED", at(2022, 9, 26), from));
        assert!(needs_group("ASYMPTOMATIC_CARRIER", at(2022, 10, 1), from));
        assert!(!needs_group("DECEASED_CONFIRMED", at(2022, 10, 1), from));
        assert!(!needs_group("CLOSE_CONTACT", at(2022, 10, 1), from));
        assert!(!needs_group("CONFIRMED", at(2022, 10, 1), None));
        assert_eq!(age_on(at(1957, 9, 27), at(2022, 9, 26)), 64);
        assert_eq!(age_on(at(1957, 9, 26), at(2022, 9, 26)), 65);
    }

    #[test]
    fn measured_items_have_bounds() {
        assert_eq!(check_spo2(96), Ok(96));
        assert!(check_spo2(101).is_err() && check_spo2(49).is_err() && check_spo2(70_000).is_err());
        assert!(check_doses(-1).is_err() && check_doses(11).is_err() && check_doses(3).is_ok());
    }

    #[test]
    fn a_case_day_lies_between_birth_and_today() {
        let at = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        let today = at(2022, 10, 1);
        assert!(check_case_day(at(2022, 9, 30), at(1980, 1, 1), today).is_ok());
        assert!(check_case_day(at(2022, 10, 2), at(1980, 1, 1), today).is_err());
        assert!(check_case_day(at(2021, 1, 1), at(2021, 6, 1), today).is_err());
        assert!(check_case_day(at(2019, 1, 1), at(1980, 1, 1), today).is_err());
    }
}
