//! The statistics ledger: what each patient contributes to the published
//! figures, kept as signed deltas stamped with the moment they were
//! recorded.
//!
//! Every write that can change a figure calls [`refresh_patient`] inside
//! its transaction. It works out the patient's contribution from the rows
//! as they now stand ([`Facts`] → [`Contribution`]), compares it with the
//! sum of what the ledger already holds for the patient, and appends the
//! difference with the transaction's `recorded_at`. So the ledger summed up
//! to a moment is every patient's contribution as the records stood at that
//! moment: a figure as of 2 June is the same whenever it is asked for.
//!
//! Summing raw deltas over a year of a country is slow, so a background
//! task folds committed deltas into `stat_daily` (per area level, area, day,
//! metric and the day they were recorded). A query takes the folded sums
//! recorded before the day of its `asOf`, the deltas not folded yet, and the
//! raw deltas of the day of `asOf` up to `asOf` itself: three disjoint parts
//! of one snapshot, whatever the folding task is doing.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::{CareSetting, CaseType, Outcome, Severity, Sex, TestResult};
use sea_orm::{ActiveEnum, ConnectionTrait, DbBackend, FromQueryResult, Statement, TransactionTrait, Value};

use crate::domain::AgeBand;
use crate::error::{AppError, AppResult};
use crate::services::PatientLock;
use crate::services::appends::Appends;

/// What the ledger counts. Flows (`Severe`, `SevereTokyo`, `RequiringCare`)
/// are +1 on the day a state starts and −1 on the day it ends; the number of
/// people in the state on a day is the running sum of the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i16)]
pub enum Metric {
    /// Tests by the day their sample was taken.
    Tests = 1,
    /// Tests with a negative result, by sampling day.
    Negatives = 2,
    /// People by the day of their first positive test.
    Positives = 3,
    /// Deaths by the day of death.
    Deaths = 4,
    /// In hospital and severe by the national definition (flow).
    Severe = 5,
    /// In hospital on a ventilator or ECMO (flow).
    SevereTokyo = 6,
    /// Positive and without an outcome yet (flow).
    RequiringCare = 7,
    /// An open case in hospital (flow).
    Hospital = 8,
    /// An open case in accommodation care, not in hospital (flow).
    Accommodation = 9,
    /// An open case in home care, not in hospital (flow).
    Home = 10,
    /// A confirmed open case whose place of care is still being arranged
    /// (調整中): not in hospital, and no care setting decided, or
    /// `UNDECIDED` (flow).
    Arranging = 11,
    /// An open case cared for in their elderly or welfare facility, not in
    /// hospital (flow).
    Welfare = 12,
}

impl Metric {
    pub const ALL: [Metric; 12] = [
        Metric::Tests,
        Metric::Negatives,
        Metric::Positives,
        Metric::Deaths,
        Metric::Severe,
        Metric::SevereTokyo,
        Metric::RequiringCare,
        Metric::Hospital,
        Metric::Accommodation,
        Metric::Home,
        Metric::Arranging,
        Metric::Welfare,
    ];

    pub fn code(self) -> i16 {
        self as i16
    }

    pub fn from_code(code: i64) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| i64::from(m.code()) == code)
    }

    /// Whether the metric is a flow whose running sum is a number of people.
    pub fn is_flow(self) -> bool {
        !matches!(self, Metric::Tests | Metric::Negatives | Metric::Positives | Metric::Deaths)
    }
}

/// Area levels of `stat_daily`.
pub const LEVEL_NATION: i16 = 0;
pub const LEVEL_PREFECTURE: i16 = 1;
pub const LEVEL_HEALTH_CENTRE: i16 = 2;

/// The calendar day (Japan time) of a moment, as days since 1970-01-01.
pub fn day_number(at: DateTime<Utc>) -> i32 {
    date_number(at.with_timezone(&crate::domain::calendar::local_offset()).date_naive())
}

/// A date as days since 1970-01-01.
pub fn date_number(date: NaiveDate) -> i32 {
    i32::try_from((date - NaiveDate::default()).num_days()).unwrap_or(i32::MAX)
}

/// The date of a day number.
pub fn number_date(day: i32) -> NaiveDate {
    NaiveDate::default() + chrono::Duration::days(i64::from(day))
}

/// A hospital stay with its condition entries.
#[derive(Debug, Clone)]
pub struct Stay {
    pub id: i64,
    pub recorded_at: DateTime<Utc>,
    pub admitted_at: DateTime<Utc>,
    pub discharged_at: Option<DateTime<Utc>>,
    pub entries: Vec<ConditionEntry>,
}

/// One condition entry of a stay.
#[derive(Debug, Clone)]
pub struct ConditionEntry {
    pub id: i64,
    pub recorded_at: DateTime<Utc>,
    pub observed_at: DateTime<Utc>,
    pub severity: Severity,
    pub icu: bool,
    pub ventilator: bool,
    pub ecmo: bool,
}

impl ConditionEntry {
    /// Severe by the national definition.
    fn severe(&self) -> bool {
        self.severity == Severity::Severe || self.icu || self.ventilator || self.ecmo
    }

    /// Severe by Tokyo's definition.
    fn severe_tokyo(&self) -> bool {
        self.ventilator || self.ecmo
    }
}

/// A care decision: the setting, from the moment it was decided.
#[derive(Debug, Clone)]
pub struct CareDecision {
    pub id: i64,
    pub recorded_at: DateTime<Utc>,
    pub decided_at: DateTime<Utc>,
    pub setting: CareSetting,
    /// A `Home` decision for a resident cared for in their elderly or
    /// welfare facility.
    pub welfare: bool,
}

/// The facts about one patient that the figures are made of, as the
/// records stand at one moment.
#[derive(Debug, Clone)]
pub struct Facts {
    pub health_centre_id: i64,
    pub prefecture_id: i32,
    pub sex: Sex,
    pub case_type: CaseType,
    pub birth_date: NaiveDate,
    pub registered_at: DateTime<Utc>,
    /// The care setting as last recorded.
    pub care_setting: CareSetting,
    /// The care decisions, in any order.
    pub care: Vec<CareDecision>,
    pub outcome: Option<(Outcome, DateTime<Utc>)>,
    /// Each test's sampling moment and result (`Pending` until known).
    pub tests: Vec<(DateTime<Utc>, TestResult)>,
    pub stays: Vec<Stay>,
    /// Whether the record counts at all: not closed as not a case, not
    /// withdrawn as a duplicate.
    pub counted: bool,
    /// The infection-route category, once known.
    pub route: Option<String>,
}

impl Facts {
    /// The facts of a record registered by the transaction under way, whose
    /// only other rows are its `tests` (no care decision, stay, outcome or
    /// route yet), with the prefecture of its health centre: what
    /// [`load_facts`] would read back, known without reading.
    pub fn of_new_record(
        patient: &entity::patient::Model,
        prefecture_id: i32,
        tests: Vec<(DateTime<Utc>, TestResult)>,
    ) -> Facts {
        Facts {
            health_centre_id: patient.responsible_health_centre_id,
            prefecture_id,
            sex: patient.sex,
            case_type: patient.case_type,
            birth_date: patient.birth_date,
            registered_at: patient.registered_at,
            care_setting: patient.care_setting,
            care: Vec::new(),
            outcome: None,
            tests,
            stays: Vec::new(),
            counted: patient.record_status == entity::enums::RecordStatus::Active,
            route: patient.infection_route_category.as_ref().map(ActiveEnum::to_value),
        }
    }
}

/// A count of the ledger: metric, day and area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountKey {
    pub metric: Metric,
    pub day: i32,
    pub health_centre_id: i64,
    pub prefecture_id: i32,
}

/// A newly confirmed person as the cross-tabulations see them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CaseKey {
    pub day: i32,
    pub health_centre_id: i64,
    pub prefecture_id: i32,
    pub age_decade: i16,
    pub sex: String,
    pub case_type: String,
    pub care_setting: String,
    pub severity: Option<String>,
    pub outcome: Option<String>,
    /// The infection-route category, once known.
    pub route: Option<String>,
}

/// What one patient contributes (or, as a difference, what changed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contribution {
    pub counts: BTreeMap<CountKey, i32>,
    pub cases: BTreeMap<CaseKey, i32>,
}

impl Contribution {
    fn count(&mut self, metric: Metric, day: i32, facts: &Facts, delta: i32) {
        let key =
            CountKey { metric, day, health_centre_id: facts.health_centre_id, prefecture_id: facts.prefecture_id };
        *self.counts.entry(key).or_insert(0) += delta;
    }

    /// `self − before`, without the zeros.
    pub fn minus(&self, before: &Contribution) -> Contribution {
        fn difference<K: Ord + Clone>(after: &BTreeMap<K, i32>, before: &BTreeMap<K, i32>) -> BTreeMap<K, i32> {
            let mut out: BTreeMap<K, i32> = after.clone();
            for (key, n) in before {
                *out.entry(key.clone()).or_insert(0) -= n;
            }
            out.retain(|_, n| *n != 0);
            out
        }
        Contribution { counts: difference(&self.counts, &before.counts), cases: difference(&self.cases, &before.cases) }
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.cases.is_empty()
    }
}

/// The flow of one stay for one definition of severe: +1 on the day the
/// patient is severe at the end of the day after not being so the day
/// before, −1 on the day that ends (a milder condition, or the discharge).
/// A condition counts from the day it was observed; of several entries of
/// one day, the last observed (then the last recorded) holds.
fn stay_flow(stay: &Stay, severe: impl Fn(&ConditionEntry) -> bool, mut emit: impl FnMut(i32, i32)) {
    let mut entries: Vec<&ConditionEntry> = stay.entries.iter().collect();
    entries.sort_by_key(|e| (e.observed_at, e.recorded_at, e.id));
    let end = stay.discharged_at.map(day_number);
    let mut state_by_day: BTreeMap<i32, bool> = BTreeMap::new();
    for entry in entries {
        state_by_day.insert(day_number(entry.observed_at), severe(entry));
    }
    let mut current = false;
    for (day, state) in state_by_day {
        if end.is_some_and(|end| day >= end) {
            break;
        }
        if state != current {
            emit(day, if state { 1 } else { -1 });
            current = state;
        }
    }
    if current && let Some(end) = end {
        emit(end, -1);
    }
}

/// Where an open case is cared for at the end of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Hospital,
    Accommodation,
    Home,
    Welfare,
    Arranging,
}

/// The flows of `Hospital`, `Accommodation`, `Home` (or `Welfare`, home
/// care in the resident's facility) and `Arranging`: at
/// the end of each day the case is open (no outcome by that day), it is in
/// hospital if a stay is open, else where the care decision in force (the
/// last decided by that day) puts it; a confirmed case (a positive sample
/// by that day) with no decision, or `UNDECIDED`, is being arranged.
fn care_flows(facts: &Facts, mut emit: impl FnMut(Metric, i32, i32)) {
    let outcome_day = facts.outcome.map(|(_, at)| day_number(at));
    let confirmed_day =
        facts.tests.iter().filter(|(_, result)| *result == TestResult::Positive).map(|(at, _)| day_number(*at)).min();
    let mut decisions: Vec<&CareDecision> = facts.care.iter().collect();
    decisions.sort_by_key(|d| (d.decided_at, d.recorded_at, d.id));
    let mut days: Vec<i32> = decisions.iter().map(|d| day_number(d.decided_at)).collect();
    for stay in &facts.stays {
        days.push(day_number(stay.admitted_at));
        days.extend(stay.discharged_at.map(day_number));
    }
    days.extend(outcome_day);
    days.extend(confirmed_day);
    days.sort_unstable();
    days.dedup();
    let place_at = |day: i32| -> Option<Place> {
        if outcome_day.is_some_and(|end| end <= day) {
            return None;
        }
        let in_hospital = facts
            .stays
            .iter()
            .any(|s| day_number(s.admitted_at) <= day && s.discharged_at.is_none_or(|at| day_number(at) > day));
        if in_hospital {
            return Some(Place::Hospital);
        }
        let decision = decisions.iter().rev().find(|d| day_number(d.decided_at) <= day);
        match decision.map(|d| (d.setting, d.welfare)) {
            Some((CareSetting::Accommodation, _)) => Some(Place::Accommodation),
            Some((CareSetting::Home, true)) => Some(Place::Welfare),
            Some((CareSetting::Home, false)) => Some(Place::Home),
            None | Some((CareSetting::Undecided, _)) if confirmed_day.is_some_and(|first| first <= day) => {
                Some(Place::Arranging)
            }
            _ => None,
        }
    };
    let metric = |place: Place| match place {
        Place::Hospital => Metric::Hospital,
        Place::Accommodation => Metric::Accommodation,
        Place::Home => Metric::Home,
        Place::Welfare => Metric::Welfare,
        Place::Arranging => Metric::Arranging,
    };
    let mut current = None;
    for day in days {
        let place = place_at(day);
        if place != current {
            if let Some(old) = current {
                emit(metric(old), day, -1);
            }
            if let Some(new) = place {
                emit(metric(new), day, 1);
            }
            current = place;
        }
    }
}

/// What a patient, as the facts stand, contributes to the figures.
///
/// - a test: 1 to `Tests` on its sampling day, and to `Negatives` if its
///   result is negative;
/// - the first positive test: 1 to `Positives` on its sampling day, a case
///   for the cross-tabulations, and `RequiringCare` from that day until the
///   day of the outcome;
/// - an outcome DECEASED: 1 to `Deaths` on the day of death;
/// - each hospital stay: the `Severe` and `SevereTokyo` flows;
/// - the case while open: the `Hospital`, `Accommodation`, `Home`,
///   `Welfare` or `Arranging` flow.
///
/// A record closed as not a case or withdrawn contributes nothing.
pub fn contribution(facts: &Facts) -> Contribution {
    let mut out = Contribution::default();
    if !facts.counted {
        return out;
    }
    for (sampled_at, result) in &facts.tests {
        let day = day_number(*sampled_at);
        out.count(Metric::Tests, day, facts, 1);
        if *result == TestResult::Negative {
            out.count(Metric::Negatives, day, facts, 1);
        }
    }
    let first_positive =
        facts.tests.iter().filter(|(_, result)| *result == TestResult::Positive).map(|(at, _)| *at).min();
    if let Some(first) = first_positive {
        let day = day_number(first);
        out.count(Metric::Positives, day, facts, 1);
        out.count(Metric::RequiringCare, day, facts, 1);
        if let Some((_, at)) = facts.outcome {
            out.count(Metric::RequiringCare, day_number(at).max(day), facts, -1);
        }
        let latest_stay = facts.stays.iter().max_by_key(|s| (s.recorded_at, s.id));
        let severity = latest_stay
            .and_then(|s| s.entries.iter().max_by_key(|e| (e.recorded_at, e.id)))
            .map(|e| e.severity.to_value());
        let age = AgeBand::at(facts.birth_date, facts.registered_at.date_naive());
        let case = CaseKey {
            day,
            health_centre_id: facts.health_centre_id,
            prefecture_id: facts.prefecture_id,
            age_decade: age as i16,
            sex: facts.sex.to_value(),
            case_type: facts.case_type.to_value(),
            care_setting: facts.care_setting.to_value(),
            severity,
            outcome: facts.outcome.map(|(o, _)| o.to_value()),
            route: facts.route.clone(),
        };
        out.cases.insert(case, 1);
    }
    if let Some((Outcome::Deceased, at)) = facts.outcome {
        out.count(Metric::Deaths, day_number(at), facts, 1);
    }
    let mut places = Vec::new();
    care_flows(facts, |metric, day, delta| places.push((metric, day, delta)));
    for (metric, day, delta) in places {
        out.count(metric, day, facts, delta);
    }
    for stay in &facts.stays {
        let mut severe = Vec::new();
        stay_flow(stay, ConditionEntry::severe, |day, delta| severe.push((Metric::Severe, day, delta)));
        stay_flow(stay, ConditionEntry::severe_tokyo, |day, delta| severe.push((Metric::SevereTokyo, day, delta)));
        for (metric, day, delta) in severe {
            out.count(metric, day, facts, delta);
        }
    }
    out.counts.retain(|_, n| *n != 0);
    out
}

fn statement(backend: DbBackend, text: &str, patient_id: i64) -> Statement {
    // The one value is used more than once.
    crate::db::Sql::numbered(backend, text, [Value::from(patient_id)])
}

/// A row of the facts about a patient, read in one statement: the patient
/// (`part` 0), a test (1), a care decision (2) or a hospital stay with one of
/// its condition entries (3). Which columns are set depends on the part.
#[derive(Debug, FromQueryResult)]
struct FactRow {
    part: i64,
    /// Care decision or stay.
    id: Option<i64>,
    /// Registered (patient), sampled (test), recorded (care, stay).
    at1: Option<DateTime<Utc>>,
    /// Outcome (patient), decided (care), admitted (stay).
    at2: Option<DateTime<Utc>>,
    /// Discharged (stay).
    at3: Option<DateTime<Utc>>,
    /// Care setting (patient, care), result (test), entry severity (stay).
    text1: Option<String>,
    /// Sex, case type and outcome (patient).
    sex: Option<String>,
    case_type: Option<String>,
    outcome: Option<String>,
    health_centre_id: Option<i64>,
    prefecture_id: Option<i64>,
    birth_date: Option<NaiveDate>,
    entry_id: Option<i64>,
    entry_recorded_at: Option<DateTime<Utc>>,
    observed_at: Option<DateTime<Utc>>,
    icu: Option<bool>,
    ventilator: Option<bool>,
    ecmo: Option<bool>,
    /// The record's status (patient).
    status: Option<String>,
    /// The infection-route category (patient).
    route: Option<String>,
    /// Care in a welfare facility (care decision).
    welfare: Option<bool>,
}

const FACTS: &str = "SELECT CAST(0 AS BIGINT) AS part, CAST(NULL AS BIGINT) AS id, p.registered_at AS at1, \
     p.outcome_at AS at2, CAST(NULL AS TIMESTAMPTZ) AS at3, p.care_setting AS text1, p.sex AS sex, \
     p.case_type AS case_type, p.outcome AS outcome, p.responsible_health_centre_id AS health_centre_id, \
     CAST(hc.prefecture_id AS BIGINT) AS prefecture_id, p.birth_date AS birth_date, \
     CAST(NULL AS BIGINT) AS entry_id, CAST(NULL AS TIMESTAMPTZ) AS entry_recorded_at, \
     CAST(NULL AS TIMESTAMPTZ) AS observed_at, CAST(NULL AS BOOLEAN) AS icu, CAST(NULL AS BOOLEAN) AS ventilator, \
     CAST(NULL AS BOOLEAN) AS ecmo, p.record_status AS status, p.infection_route_category AS route, \
     CAST(NULL AS BOOLEAN) AS welfare \
     FROM patients p JOIN health_centres hc ON hc.id = p.responsible_health_centre_id WHERE p.id = $1 \
     UNION ALL SELECT 1, NULL, sampled_at, NULL, NULL, result, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM lab_tests WHERE patient_id = $1 \
     UNION ALL SELECT 2, id, recorded_at, decided_at, NULL, care_setting, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, welfare_facility FROM care_setting_changes WHERE patient_id = $1 \
     UNION ALL SELECT 3, h.id, h.recorded_at, h.admitted_at, h.discharged_at, e.severity, NULL, NULL, NULL, NULL, \
     NULL, NULL, e.id, e.recorded_at, e.observed_at, e.icu, e.ventilator, e.ecmo, NULL, NULL, NULL \
     FROM hospitalisations h LEFT JOIN condition_entries e ON e.hospitalisation_id = h.id WHERE h.patient_id = $1 \
     ORDER BY part, id";

/// The facts about a patient as the rows stand now; `None` if there is no
/// such patient. One statement.
pub async fn load_facts(db: &impl ConnectionTrait, patient_id: i64) -> AppResult<Option<Facts>> {
    let rows = FactRow::find_by_statement(statement(db.get_database_backend(), FACTS, patient_id)).all(db).await?;
    let broken = |what: &str| AppError::Internal(anyhow::anyhow!("facts of a patient: {what} missing"));
    fn stored<E: ActiveEnum<Value = String>>(text: Option<String>, what: &str) -> AppResult<E> {
        let text = text.ok_or_else(|| AppError::Internal(anyhow::anyhow!("facts of a patient: {what} missing")))?;
        E::try_from_value(&text).map_err(|_| AppError::Internal(anyhow::anyhow!("facts of a patient: bad {what}")))
    }
    let mut rows = rows.into_iter().peekable();
    let Some(patient) = rows.next_if(|row| row.part == 0) else {
        return Ok(None);
    };
    let mut facts = Facts {
        health_centre_id: patient.health_centre_id.ok_or_else(|| broken("health centre"))?,
        prefecture_id: i32::try_from(patient.prefecture_id.ok_or_else(|| broken("prefecture"))?)
            .map_err(|_| broken("prefecture"))?,
        sex: stored(patient.sex, "sex")?,
        case_type: stored(patient.case_type, "case type")?,
        birth_date: patient.birth_date.ok_or_else(|| broken("birth date"))?,
        registered_at: patient.at1.ok_or_else(|| broken("registration"))?,
        care_setting: stored(patient.text1, "care setting")?,
        care: Vec::new(),
        outcome: patient.outcome.map(|o| stored::<Outcome>(Some(o), "outcome")).transpose()?.zip(patient.at2),
        tests: Vec::new(),
        stays: Vec::new(),
        counted: patient.status.as_deref().is_none_or(|status| status == "ACTIVE"),
        route: patient.route.clone(),
    };
    for row in rows {
        match row.part {
            1 => facts.tests.push((row.at1.ok_or_else(|| broken("sampling"))?, stored(row.text1, "result")?)),
            2 => facts.care.push(CareDecision {
                id: row.id.ok_or_else(|| broken("care decision"))?,
                recorded_at: row.at1.ok_or_else(|| broken("care record"))?,
                decided_at: row.at2.ok_or_else(|| broken("care decision time"))?,
                setting: stored(row.text1, "care setting")?,
                welfare: row.welfare.unwrap_or(false),
            }),
            _ => {
                let id = row.id.ok_or_else(|| broken("stay"))?;
                if facts.stays.last().is_none_or(|s| s.id != id) {
                    facts.stays.push(Stay {
                        id,
                        recorded_at: row.at1.ok_or_else(|| broken("stay record"))?,
                        admitted_at: row.at2.ok_or_else(|| broken("admission"))?,
                        discharged_at: row.at3,
                        entries: Vec::new(),
                    });
                }
                if let (Some(id), Some(recorded_at), Some(observed_at), Some(severity), Some(stay)) =
                    (row.entry_id, row.entry_recorded_at, row.observed_at, row.text1, facts.stays.last_mut())
                {
                    stay.entries.push(ConditionEntry {
                        id,
                        recorded_at,
                        observed_at,
                        severity: stored::<Severity>(Some(severity), "severity")?,
                        icu: row.icu.unwrap_or(false),
                        ventilator: row.ventilator.unwrap_or(false),
                        ecmo: row.ecmo.unwrap_or(false),
                    });
                }
            }
        }
    }
    Ok(Some(facts))
}

/// A row of what the ledger holds for a patient: a count (`part` 0, with
/// `metric`) or a case (`part` 1, with the cross-tabulation dimensions).
#[derive(Debug, FromQueryResult)]
struct LedgerRow {
    part: i64,
    metric: i64,
    day: i64,
    health_centre_id: i64,
    prefecture_id: i64,
    age_decade: i64,
    sex: Option<String>,
    case_type: Option<String>,
    care_setting: Option<String>,
    severity: Option<String>,
    outcome: Option<String>,
    route: Option<String>,
    n: i64,
}

/// What the ledger holds for a patient: the sum of its deltas (one
/// statement for both tables).
pub async fn recorded(db: &impl ConnectionTrait, patient_id: i64) -> AppResult<Contribution> {
    let backend = db.get_database_backend();
    let rows = LedgerRow::find_by_statement(statement(
        backend,
        "SELECT CAST(0 AS BIGINT) AS part, CAST(metric AS BIGINT) AS metric, CAST(day AS BIGINT) AS day, \
         health_centre_id, CAST(prefecture_id AS BIGINT) AS prefecture_id, CAST(0 AS BIGINT) AS age_decade, \
         CAST(NULL AS TEXT) AS sex, CAST(NULL AS TEXT) AS case_type, CAST(NULL AS TEXT) AS care_setting, \
         CAST(NULL AS TEXT) AS severity, CAST(NULL AS TEXT) AS outcome, CAST(NULL AS TEXT) AS route, \
         CAST(SUM(delta) AS BIGINT) AS n \
         FROM stat_events WHERE patient_id = $1 GROUP BY metric, day, health_centre_id, prefecture_id \
         UNION ALL \
         SELECT CAST(1 AS BIGINT), CAST(0 AS BIGINT), CAST(day AS BIGINT), health_centre_id, \
         CAST(prefecture_id AS BIGINT), CAST(age_decade AS BIGINT), sex, case_type, care_setting, severity, \
         outcome, route, CAST(SUM(delta) AS BIGINT) FROM stat_cases WHERE patient_id = $1 \
         GROUP BY day, health_centre_id, prefecture_id, age_decade, sex, case_type, care_setting, severity, outcome, \
         route",
        patient_id,
    ))
    .all(db)
    .await?;
    let narrow =
        |n: i64| i32::try_from(n).map_err(|_| AppError::Internal(anyhow::anyhow!("ledger value out of range")));
    let mut out = Contribution::default();
    for row in rows {
        if row.n == 0 {
            continue;
        }
        if row.part == 0 {
            let metric = Metric::from_code(row.metric)
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("unknown metric {} in the ledger", row.metric)))?;
            let key = CountKey {
                metric,
                day: narrow(row.day)?,
                health_centre_id: row.health_centre_id,
                prefecture_id: narrow(row.prefecture_id)?,
            };
            out.counts.insert(key, narrow(row.n)?);
        } else {
            let missing = || AppError::Internal(anyhow::anyhow!("a ledger case without its dimensions"));
            let key = CaseKey {
                day: narrow(row.day)?,
                health_centre_id: row.health_centre_id,
                prefecture_id: narrow(row.prefecture_id)?,
                age_decade: i16::try_from(row.age_decade).unwrap_or(9),
                sex: row.sex.ok_or_else(missing)?,
                case_type: row.case_type.ok_or_else(missing)?,
                care_setting: row.care_setting.ok_or_else(missing)?,
                severity: row.severity,
                outcome: row.outcome,
                route: row.route,
            };
            out.cases.insert(key, narrow(row.n)?);
        }
    }
    Ok(out)
}

/// Rows of the ledger for a change, ready to insert or copy.
pub fn event_rows(patient_id: i64, change: &Contribution, at: DateTime<Utc>) -> Vec<Vec<Value>> {
    let recorded_day = day_number(at);
    change
        .counts
        .iter()
        .map(|(key, delta)| {
            vec![
                Value::from(patient_id),
                Value::from(key.metric.code()),
                Value::from(key.day),
                Value::from(key.health_centre_id),
                Value::from(key.prefecture_id),
                Value::from(*delta),
                Value::from(at),
                Value::from(recorded_day),
            ]
        })
        .collect()
}

/// Columns of [`event_rows`].
pub const EVENT_COLUMNS: [&str; 8] =
    ["patient_id", "metric", "day", "health_centre_id", "prefecture_id", "delta", "recorded_at", "recorded_day"];

/// Rows of `stat_cases` for a change.
pub fn case_rows(patient_id: i64, change: &Contribution, at: DateTime<Utc>) -> Vec<Vec<Value>> {
    change
        .cases
        .iter()
        .map(|(key, delta)| {
            vec![
                Value::from(patient_id),
                Value::from(key.day),
                Value::from(key.health_centre_id),
                Value::from(key.prefecture_id),
                Value::from(key.age_decade),
                Value::from(key.sex.clone()),
                Value::from(key.case_type.clone()),
                Value::from(key.care_setting.clone()),
                Value::from(key.severity.clone()),
                Value::from(key.outcome.clone()),
                Value::from(*delta),
                Value::from(at),
                Value::from(key.route.clone()),
            ]
        })
        .collect()
}

/// Columns of [`case_rows`].
pub const CASE_COLUMNS: [&str; 13] = [
    "patient_id",
    "day",
    "health_centre_id",
    "prefecture_id",
    "age_decade",
    "sex",
    "case_type",
    "care_setting",
    "severity",
    "outcome",
    "delta",
    "recorded_at",
    "route",
];

/// Works out how the ledger must change to match the patient's rows as
/// they now stand, and adds the deltas, stamped with `now`, to the write's
/// `appends` (which it sends before its commit). Called inside the write's
/// transaction, after its own changes to the patient's rows.
pub async fn refresh_patient(
    db: &impl ConnectionTrait,
    patient: &PatientLock,
    now: DateTime<Utc>,
    appends: &mut Appends,
    known: Option<Facts>,
) -> AppResult<()> {
    // The lock makes the writes of one patient refresh one after another:
    // each reads the facts and sums below only after the write before it
    // committed its rows and deltas. Without it, two writes at once would
    // each add a delta computed without the other (a person counted twice
    // as a first positive).
    let patient_id = patient.patient_id();
    // The facts a write that created the patient knows need not be read.
    let after = match known.filter(|_| patient.created_here()) {
        Some(facts) => contribution(&facts),
        None => load_facts(db, patient_id).await?.map(|facts| contribution(&facts)).unwrap_or_default(),
    };
    // A patient this transaction created has nothing in the ledger yet.
    let before = if patient.created_here() { Contribution::default() } else { recorded(db, patient_id).await? };
    let change = after.minus(&before);
    if change.is_empty() {
        return Ok(());
    }
    appends.push("stat_events", &EVENT_COLUMNS, event_rows(patient_id, &change, now));
    appends.push("stat_cases", &CASE_COLUMNS, case_rows(patient_id, &change, now));
    Ok(())
}

/// Most ledger rows folded by one transaction.
const FOLD_BATCH: i64 = 50_000;

/// Adds committed, unfolded deltas into `stat_daily` and marks them folded,
/// in one transaction. Returns how many rows it folded. Safe to run from
/// several replicas at once: on PostgreSQL one folds while the others skip.
pub async fn fold(db: &sea_orm::DatabaseConnection) -> AppResult<u64> {
    let levels = format!(
        "SELECT {LEVEL_NATION} AS level, CAST(0 AS BIGINT) AS area_id, day, metric, recorded_day, delta FROM moved \
         UNION ALL SELECT {LEVEL_PREFECTURE}, CAST(prefecture_id AS BIGINT), day, metric, recorded_day, delta FROM moved \
         UNION ALL SELECT {LEVEL_HEALTH_CENTRE}, health_centre_id, day, metric, recorded_day, delta FROM moved"
    );
    let upsert = "INSERT INTO stat_daily (level, area_id, day, metric, recorded_day, n) \
                  SELECT level, area_id, day, metric, recorded_day, CAST(SUM(delta) AS INTEGER) FROM levels \
                  WHERE true GROUP BY level, area_id, day, metric, recorded_day \
                  ON CONFLICT (level, area_id, day, metric, recorded_day) DO UPDATE SET n = stat_daily.n + excluded.n";
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let txn = db.begin().await?;
            // One folder at a time; the others find the lock taken and skip.
            let locked = txn
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT pg_try_advisory_xact_lock(7305001) AS locked",
                ))
                .await?
                .and_then(|row| row.try_get::<bool>("", "locked").ok())
                .unwrap_or(false);
            if !locked {
                return Ok(0);
            }
            // One statement, so the rows marked are exactly the rows added;
            // it answers how many ledger rows it folded.
            let folded = txn
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!(
                        "WITH moved AS (UPDATE stat_events SET folded = TRUE WHERE id IN \
                         (SELECT id FROM stat_events WHERE NOT folded ORDER BY id LIMIT {FOLD_BATCH}) \
                         RETURNING metric, day, health_centre_id, prefecture_id, recorded_day, delta, recorded_at), \
                         marks AS (INSERT INTO stat_fold_marks (recorded_day, folded_until) \
                         SELECT recorded_day, MAX(recorded_at) FROM moved GROUP BY recorded_day \
                         ON CONFLICT (recorded_day) DO UPDATE \
                         SET folded_until = GREATEST(stat_fold_marks.folded_until, excluded.folded_until)), \
                         levels AS ({levels}), added AS ({upsert}) \
                         SELECT COUNT(*) AS n FROM moved"
                    ),
                ))
                .await?
                .and_then(|row| row.try_get::<i64>("", "n").ok())
                .unwrap_or(0);
            txn.commit().await?;
            Ok(u64::try_from(folded).unwrap_or(0))
        }
        backend => {
            // Nothing to fold: no need to take the one write lock.
            let pending = db
                .query_one_raw(Statement::from_string(
                    backend,
                    "SELECT id FROM stat_events WHERE NOT folded LIMIT 1".to_owned(),
                ))
                .await?;
            if pending.is_none() {
                return Ok(0);
            }
            // SQLite has one writer: inside the write transaction nothing
            // else commits between the statements.
            let txn = crate::db::begin_write(db).await?;
            let last = txn
                .query_one_raw(Statement::from_string(
                    backend,
                    format!(
                        "SELECT MAX(id) AS last FROM (SELECT id FROM stat_events WHERE NOT folded ORDER BY id \
                         LIMIT {FOLD_BATCH})"
                    ),
                ))
                .await?
                .and_then(|row| row.try_get::<Option<i64>>("", "last").ok().flatten());
            let Some(last) = last else { return Ok(0) };
            txn.execute_raw(Statement::from_string(
                backend,
                format!(
                    "WITH moved AS (SELECT metric, day, health_centre_id, prefecture_id, recorded_day, delta \
                     FROM stat_events WHERE NOT folded AND id <= {last}), levels AS ({levels}) {upsert}"
                ),
            ))
            .await?;
            txn.execute_raw(Statement::from_string(
                backend,
                format!(
                    "INSERT INTO stat_fold_marks (recorded_day, folded_until) \
                     SELECT recorded_day, MAX(recorded_at) FROM stat_events WHERE NOT folded AND id <= {last} \
                     GROUP BY recorded_day ON CONFLICT (recorded_day) DO UPDATE \
                     SET folded_until = MAX(stat_fold_marks.folded_until, excluded.folded_until)"
                ),
            ))
            .await?;
            let marked = txn
                .execute_raw(Statement::from_string(
                    backend,
                    format!("UPDATE stat_events SET folded = TRUE WHERE NOT folded AND id <= {last}"),
                ))
                .await?;
            txn.commit().await?;
            Ok(marked.rows_affected())
        }
    }
}

/// Folds until nothing is left to fold.
pub async fn fold_all(db: &sea_orm::DatabaseConnection) -> AppResult<u64> {
    let mut total = 0;
    loop {
        let folded = fold(db).await?;
        total += folded;
        if folded < FOLD_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Folds in the background every `interval` for as long as the process
/// runs. A failed round (the database away, say) is logged and retried.
pub fn start_folding(db: sea_orm::DatabaseConnection, interval: std::time::Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match fold_all(&db).await {
                Ok(0) => {}
                Ok(rows) => tracing::debug!(rows, "statistics deltas folded"),
                Err(error) => {
                    error.log_fault();
                    tracing::warn!(code = error.code(), "folding statistics deltas failed; retrying");
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        // Japan time 2022-06-`day` `hour`:00.
        Utc.with_ymd_and_hms(2022, 6, day, hour, 0, 0).single().unwrap_or_default() - chrono::Duration::hours(9)
    }

    fn june(day: u32) -> i32 {
        date_number(NaiveDate::from_ymd_opt(2022, 6, day).unwrap_or_default())
    }

    fn facts() -> Facts {
        Facts {
            health_centre_id: 7,
            prefecture_id: 13,
            sex: Sex::Female,
            case_type: CaseType::Confirmed,
            birth_date: NaiveDate::from_ymd_opt(1980, 7, 1).unwrap_or_default(),
            registered_at: at(1, 10),
            care_setting: CareSetting::Hospital,
            care: vec![],
            outcome: None,
            tests: vec![],
            stays: vec![],
            counted: true,
            route: None,
        }
    }

    fn entry(id: i64, observed: DateTime<Utc>, severity: Severity, ventilator: bool) -> ConditionEntry {
        ConditionEntry {
            id,
            recorded_at: observed,
            observed_at: observed,
            severity,
            icu: false,
            ventilator,
            ecmo: false,
        }
    }

    fn count(c: &Contribution, metric: Metric, day: i32) -> i32 {
        c.counts.iter().filter(|(k, _)| k.metric == metric && k.day == day).map(|(_, n)| *n).sum()
    }

    #[test]
    fn days_are_japan_calendar_days() {
        // 23:30 UTC on 31 May is 08:30 on 1 June in Japan.
        let late = Utc.with_ymd_and_hms(2022, 5, 31, 23, 30, 0).single().unwrap_or_default();
        assert_eq!(number_date(day_number(late)), NaiveDate::from_ymd_opt(2022, 6, 1).unwrap_or_default());
        assert_eq!(day_number(at(1, 0)), june(1));
    }

    #[test]
    fn the_first_positive_counts_once_and_requires_care_until_the_outcome() {
        let mut f = facts();
        f.tests = vec![
            (at(1, 9), TestResult::Negative),
            (at(3, 9), TestResult::Positive),
            (at(4, 9), TestResult::Positive),
            (at(5, 9), TestResult::Pending),
        ];
        f.outcome = Some((Outcome::Recovered, at(12, 9)));
        let c = contribution(&f);
        assert_eq!(count(&c, Metric::Tests, june(1)), 1);
        assert_eq!(count(&c, Metric::Negatives, june(1)), 1);
        assert_eq!(count(&c, Metric::Tests, june(5)), 1);
        assert_eq!(count(&c, Metric::Positives, june(3)), 1);
        assert_eq!(count(&c, Metric::Positives, june(4)), 0);
        assert_eq!(count(&c, Metric::RequiringCare, june(3)), 1);
        assert_eq!(count(&c, Metric::RequiringCare, june(12)), -1);
        assert_eq!(count(&c, Metric::Deaths, june(12)), 0);
        assert_eq!(c.cases.len(), 1);
        let case = c.cases.keys().next().cloned().unwrap_or_else(|| unreachable!());
        assert_eq!((case.day, case.age_decade, case.outcome.as_deref()), (june(3), 4, Some("RECOVERED")));
    }

    #[test]
    fn a_stay_is_severe_from_the_day_observed_until_milder_or_discharged() {
        let mut f = facts();
        f.stays = vec![Stay {
            id: 1,
            recorded_at: at(2, 10),
            admitted_at: at(2, 10),
            discharged_at: Some(at(9, 10)),
            entries: vec![
                entry(1, at(2, 10), Severity::ModerateI, false),
                entry(2, at(4, 8), Severity::Severe, false),
                entry(3, at(5, 8), Severity::Severe, true),
                // Recorded later but observed earlier the same day: the
                // later observation of the day holds.
                ConditionEntry { recorded_at: at(7, 20), ..entry(4, at(6, 7), Severity::ModerateII, false) },
                entry(5, at(6, 9), Severity::Severe, false),
            ],
        }];
        let c = contribution(&f);
        // National: severe from the 4th to the discharge on the 9th.
        assert_eq!(count(&c, Metric::Severe, june(4)), 1);
        assert_eq!(count(&c, Metric::Severe, june(9)), -1);
        assert_eq!(c.counts.keys().filter(|k| k.metric == Metric::Severe).count(), 2);
        // Tokyo: on the ventilator on the 5th only.
        assert_eq!(count(&c, Metric::SevereTokyo, june(5)), 1);
        assert_eq!(count(&c, Metric::SevereTokyo, june(6)), -1);
        // No positive test: no case, nothing requiring care.
        assert!(c.cases.is_empty());
        assert_eq!(count(&c, Metric::RequiringCare, june(2)), 0);
    }

    #[test]
    fn a_change_is_the_difference_of_two_contributions() {
        let mut before = facts();
        before.tests = vec![(at(3, 9), TestResult::Positive)];
        let mut after = before.clone();
        after.health_centre_id = 8;
        let change = contribution(&after).minus(&contribution(&before));
        // Everything moves from centre 7 to centre 8.
        assert!(change.counts.iter().all(|(k, n)| (k.health_centre_id == 8) == (*n > 0)));
        assert_eq!(change.counts.values().sum::<i32>(), 0);
        assert_eq!(change.cases.values().sum::<i32>(), 0);
        assert!(contribution(&after).minus(&contribution(&after)).is_empty());
    }
}
