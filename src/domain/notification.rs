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
