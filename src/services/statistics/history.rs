//! A patient's records with the moments each was recorded, and their
//! replay into the statistics ledger: the facts as they stood after each
//! recording moment, and what changed in the patient's contribution. The
//! synthetic data set fills the ledger this way, with entries that came in
//! late and out of order, exactly as the write transactions would have.

use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::{CareSetting, CaseType, Outcome, Sex, TestResult};

use super::ledger::{CareDecision, ConditionEntry, Contribution, Facts, Stay, contribution};

/// A test, its recording and its results over time.
#[derive(Debug, Clone)]
pub struct TestRecord {
    pub recorded_at: DateTime<Utc>,
    pub sampled_at: DateTime<Utc>,
    /// Each result with the moment it was recorded.
    pub results: Vec<(DateTime<Utc>, TestResult)>,
}

/// A hospital stay and when each part of it was recorded.
#[derive(Debug, Clone)]
pub struct StayRecord {
    pub id: i64,
    pub recorded_at: DateTime<Utc>,
    pub admitted_at: DateTime<Utc>,
    /// (recorded at, discharged at).
    pub discharge: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub entries: Vec<ConditionEntry>,
}

/// Everything recorded about one patient, with recording moments.
#[derive(Debug, Clone)]
pub struct History {
    /// The responsible health centre (and its prefecture) from each moment
    /// on; the first holds from the beginning.
    pub centres: Vec<(DateTime<Utc>, i64, i32)>,
    pub sex: Sex,
    pub case_type: CaseType,
    pub birth_date: NaiveDate,
    pub registered_at: DateTime<Utc>,
    /// Care decisions, each with the moment it was recorded.
    pub care: Vec<CareDecision>,
    /// (recorded at, outcome, moment of the outcome).
    pub outcome: Option<(DateTime<Utc>, Outcome, DateTime<Utc>)>,
    pub tests: Vec<TestRecord>,
    pub stays: Vec<StayRecord>,
    /// The infection-route category, from the moment it was recorded.
    pub route: Option<(DateTime<Utc>, String)>,
}

impl History {
    /// The facts as recorded by `at`.
    pub fn at(&self, at: DateTime<Utc>) -> Facts {
        let (_, health_centre_id, prefecture_id) = self
            .centres
            .iter()
            .enumerate()
            .filter(|(i, (from, _, _))| *i == 0 || *from <= at)
            .max_by_key(|(i, (from, _, _))| (*from, *i))
            .map(|(_, centre)| *centre)
            .unwrap_or((at, 0, 0));
        let care: Vec<CareDecision> = self.care.iter().filter(|c| c.recorded_at <= at).cloned().collect();
        let care_setting =
            care.iter().max_by_key(|c| (c.recorded_at, c.id)).map_or(CareSetting::Undecided, |c| c.setting);
        let tests = self
            .tests
            .iter()
            .filter(|t| t.recorded_at <= at)
            .map(|t| {
                let result = t
                    .results
                    .iter()
                    .filter(|(recorded, _)| *recorded <= at)
                    .max_by_key(|(recorded, _)| *recorded)
                    .map_or(TestResult::Pending, |(_, result)| *result);
                (t.sampled_at, result)
            })
            .collect();
        let stays = self
            .stays
            .iter()
            .filter(|s| s.recorded_at <= at)
            .map(|s| Stay {
                id: s.id,
                recorded_at: s.recorded_at,
                admitted_at: s.admitted_at,
                discharged_at: s.discharge.filter(|(recorded, _)| *recorded <= at).map(|(_, when)| when),
                entries: s.entries.iter().filter(|e| e.recorded_at <= at).cloned().collect(),
            })
            .collect();
        Facts {
            health_centre_id,
            prefecture_id,
            sex: self.sex,
            case_type: self.case_type,
            birth_date: self.birth_date,
            registered_at: self.registered_at,
            care_setting,
            care,
            outcome: self.outcome.filter(|(recorded, _, _)| *recorded <= at).map(|(_, outcome, when)| (outcome, when)),
            tests,
            stays,
            counted: true,
            route: self.route.as_ref().filter(|(recorded, _)| *recorded <= at).map(|(_, route)| route.clone()),
        }
    }

    /// Every moment something was recorded, in order, once each.
    fn moments(&self) -> Vec<DateTime<Utc>> {
        let mut moments: Vec<DateTime<Utc>> = self.centres.iter().skip(1).map(|(at, _, _)| *at).collect();
        moments.extend(self.care.iter().map(|c| c.recorded_at));
        moments.extend(self.outcome.iter().map(|(at, _, _)| *at));
        moments.extend(self.route.iter().map(|(at, _)| *at));
        for test in &self.tests {
            moments.push(test.recorded_at);
            moments.extend(test.results.iter().map(|(at, _)| *at));
        }
        for stay in &self.stays {
            moments.push(stay.recorded_at);
            moments.extend(stay.discharge.iter().map(|(at, _)| *at));
            moments.extend(stay.entries.iter().map(|e| e.recorded_at));
        }
        moments.sort();
        moments.dedup();
        moments
    }

    /// The ledger's deltas for this patient: at each recording moment, what
    /// changed in its contribution.
    pub fn replay(&self) -> Vec<(DateTime<Utc>, Contribution)> {
        let mut out = Vec::new();
        let mut before = Contribution::default();
        for moment in self.moments() {
            let after = contribution(&self.at(moment));
            let change = after.minus(&before);
            if !change.is_empty() {
                out.push((moment, change));
            }
            before = after;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use entity::enums::Severity;

    use super::super::ledger::{Metric, day_number};
    use super::*;

    fn t(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2022, 6, day, hour, 0, 0).single().unwrap_or_default()
    }

    fn history() -> History {
        History {
            centres: vec![(t(1, 0), 7, 13)],
            sex: Sex::Male,
            case_type: CaseType::Confirmed,
            birth_date: NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or_default(),
            registered_at: t(1, 1),
            care: vec![],
            outcome: None,
            tests: vec![],
            stays: vec![],
            route: None,
        }
    }

    #[test]
    fn a_late_result_changes_the_figures_only_from_when_it_was_recorded() {
        let mut h = history();
        // Sampled on the 1st, recorded pending on the 1st, the positive
        // result recorded on the 5th.
        h.tests.push(TestRecord {
            recorded_at: t(1, 2),
            sampled_at: t(1, 1),
            results: vec![(t(5, 3), TestResult::Positive)],
        });
        let replay = h.replay();
        assert_eq!(replay.len(), 2);
        let (first_at, first) = &replay[0];
        assert_eq!(*first_at, t(1, 2));
        assert_eq!(first.counts.values().sum::<i32>(), 1, "only the test itself");
        let (second_at, second) = &replay[1];
        assert_eq!(*second_at, t(5, 3));
        let positives: i32 = second.counts.iter().filter(|(k, _)| k.metric == Metric::Positives).map(|(_, n)| *n).sum();
        assert_eq!(positives, 1);
        assert_eq!(second.cases.len(), 1);
        // Before the 5th the person was no case; after it, one.
        assert!(contribution(&h.at(t(4, 0))).cases.is_empty());
        assert_eq!(contribution(&h.at(t(6, 0))).cases.len(), 1);
    }

    #[test]
    fn a_transfer_moves_the_whole_contribution_when_it_is_recorded() {
        let mut h = history();
        h.tests.push(TestRecord {
            recorded_at: t(1, 2),
            sampled_at: t(1, 1),
            results: vec![(t(1, 2), TestResult::Positive)],
        });
        h.centres.push((t(3, 0), 8, 14));
        let replay = h.replay();
        let (at, change) = replay.last().cloned().unwrap_or_else(|| unreachable!());
        assert_eq!(at, t(3, 0));
        assert!(change.counts.iter().all(|(k, n)| (k.health_centre_id == 8 && k.prefecture_id == 14) == (*n > 0)));
        assert_eq!(h.at(t(2, 0)).health_centre_id, 7);
        assert_eq!(h.at(t(3, 0)).health_centre_id, 8);
    }

    #[test]
    fn an_entry_recorded_before_its_stay_counts_with_the_stay() {
        let mut h = history();
        h.stays.push(StayRecord {
            id: 1,
            recorded_at: t(3, 0),
            admitted_at: t(1, 0),
            discharge: None,
            entries: vec![ConditionEntry {
                id: 1,
                recorded_at: t(2, 0),
                observed_at: t(1, 0),
                severity: Severity::Severe,
                icu: true,
                ventilator: false,
                ecmo: false,
            }],
        });
        let replay = h.replay();
        assert_eq!(replay.len(), 1);
        assert_eq!(replay[0].0, t(3, 0));
        let severe: Vec<_> = replay[0].1.counts.iter().filter(|(k, _)| k.metric == Metric::Severe).collect();
        assert_eq!(severe.len(), 1);
        assert_eq!(severe[0].0.day, day_number(t(1, 0)));
        assert_eq!(*severe[0].1, 1);
    }
}
