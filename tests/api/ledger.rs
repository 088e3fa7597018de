//! Oracle tests of the statistics ledger. The figures are recomputed
//! straight from the history tables (ledger/reference.rs), and the ledger
//! must give exactly the same numbers for a pseudo-random run of the write
//! paths through the API, before and after folding. (The same comparison
//! for the synthetic data set, whose ledger is replayed from each patient's
//! history, is tools/tests/synthetic.rs.)

mod reference;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, TimeZone, Utc};
use hersys::clock::{Clock, ManualClock};
use hersys::services::statistics::{Area, ledger};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};

use self::reference::{
    Figures, Series, assert_same_cases, assert_same_series, get, japan_date, ledger_cases, parse_day, reference_cases,
    reference_daily, total,
};
use crate::both;
use crate::helpers::{Backend, TestApp, error_code, spawn_app, spawn_app_configured};

both!(figures_kept_by_the_write_paths_match_the_history, concurrent_writes_for_one_patient_count_once_each,);

/// `hour`:`minute` Japan time on `day`.
fn jst(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(hour, minute, 0).expect("a time of day")) - Duration::hours(9)
}

/// A connection of the test's own to the gateway's database.
async fn connect(app: &TestApp) -> DatabaseConnection {
    let mut options = sea_orm::ConnectOptions::new(app.database_url.clone());
    options.max_connections(4);
    sea_orm::Database::connect(options).await.expect("direct connection")
}

// ---------------------------------------------------------------------------
// The write paths, driven through the API.
// ---------------------------------------------------------------------------

const DAILY: &str = "query($from: Date!, $to: Date!, $p: String, $asOf: DateTime) { statistics { \
    daily(from: $from, to: $to, prefectureCode: $p, asOf: $asOf) { date tests positives negatives deaths severe \
    severeTokyoDefinition requiringInpatientCare } } }";
const REGISTER: &str = "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { id } }";
const RECORD_TEST: &str = "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }";
const RECORD_RESULT: &str = "mutation($t: ID!, $r: TestResult!) { recordTestResult(testId: $t, result: $r) { id } }";
const SET_CARE: &str = "mutation($p: ID!, $s: CareSetting!) { setCareSetting(patientId: $p, setting: $s) { id } }";
const ADMIT: &str = "mutation($p: ID!, $f: ID!, $s: Severity!, $at: DateTime) { \
    admitPatient(patientId: $p, facilityId: $f, severity: $s, admittedAt: $at) { id } }";
const CONDITION: &str = "mutation($h: ID!, $s: Severity!, $icu: Boolean, $v: Boolean, $e: Boolean, $at: DateTime) { \
    recordCondition(hospitalisationId: $h, severity: $s, icu: $icu, ventilator: $v, ecmo: $e, observedAt: $at) \
    { id } }";
const DISCHARGE: &str =
    "mutation($h: ID!, $at: DateTime) { dischargePatient(hospitalisationId: $h, dischargedAt: $at) { id } }";
const OUTCOME: &str = "mutation($p: ID!, $o: Outcome!, $at: DateTime) { \
    recordOutcome(patientId: $p, outcome: $o, outcomeAt: $at) { id } }";
const TRANSFER: &str = "mutation($p: ID!, $to: ID!) { transferPatient(patientId: $p, toHealthCentreId: $to) { id } }";

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `statistics.daily` over the API, as `token`.
async fn api_daily(
    app: &TestApp,
    token: &str,
    prefecture: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
    t: DateTime<Utc>,
) -> Series {
    let response = app
        .gql(
            Some(token),
            DAILY,
            json!({ "from": from.to_string(), "to": to.to_string(), "p": prefecture, "asOf": rfc3339(t) }),
        )
        .await;
    let list = response["data"]["statistics"]["daily"].as_array().unwrap_or_else(|| panic!("{response}"));
    list.iter()
        .map(|d| {
            let n = |field: &str| d[field].as_i64().unwrap_or_else(|| panic!("{field} in {d}"));
            let figures = Figures {
                tests: n("tests"),
                negatives: n("negatives"),
                positives: n("positives"),
                deaths: n("deaths"),
                severe: n("severe"),
                severe_tokyo: n("severeTokyoDefinition"),
                requiring_care: n("requiringInpatientCare"),
            };
            (parse_day(d["date"].as_str().unwrap_or_default()), figures)
        })
        .collect()
}

/// The ID a mutation returned, or `None` if it was refused. A refusal must
/// be one a client can cause (a conflict, bad input), never a failure.
fn created(response: &Value, field: &str) -> Option<String> {
    if let Some(id) = response["data"][field]["id"].as_str() {
        return Some(id.to_owned());
    }
    let code = error_code(response);
    assert!(matches!(code, Some("CONFLICT" | "BAD_USER_INPUT")), "{field} failed unexpectedly: {response}");
    None
}

/// Birth dates of the run's patients: every age band but one, and
/// birthdays either side of the registration date.
const BIRTH_DATES: [&str; 7] =
    ["1931-02-28", "1948-07-20", "1962-12-31", "1975-11-30", "1990-01-15", "2005-06-06", "2019-09-09"];

/// A patient of the run as the test knows it.
#[derive(Debug)]
struct Case {
    id: String,
    /// Index of the responsible centre in `Run::centres`.
    centre: usize,
    tests: Vec<String>,
    stay: Option<String>,
    ended: bool,
}

/// Who acts in the run.
struct Run<'a> {
    app: &'a TestApp,
    clinic: String,
    hospital: String,
    hospital_id: String,
    /// (health centre ID, token of its staff) of the two Tokyo centres.
    centres: Vec<(String, String)>,
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Some moment up to `hours` hours before `now`, or none (the default: now).
fn maybe_earlier(rng: &mut ChaCha8Rng, now: DateTime<Utc>, hours: i64) -> Option<String> {
    rng.random_bool(0.5).then(|| rfc3339(now - Duration::minutes(rng.random_range(1..hours * 60))))
}

impl Run<'_> {
    /// One pseudo-random operation; returns what it was and whether it was
    /// accepted.
    async fn step(&self, rng: &mut ChaCha8Rng, cases: &mut Vec<Case>, now: DateTime<Utc>) -> (&'static str, bool) {
        let app = self.app;
        let open: Vec<usize> = (0..cases.len()).filter(|i| !cases[*i].ended).collect();
        let admitted: Vec<usize> = (0..cases.len()).filter(|i| cases[*i].stay.is_some()).collect();
        let roll = rng.random_range(0..100);
        let register = cases.is_empty() || roll < if open.len() < 5 { 14 } else { 4 };
        if register {
            // A new patient in one of the two Tokyo centres; now and then
            // the reinfection of an ended case.
            let centre = rng.random_range(0..self.centres.len());
            let previous = cases.iter().rev().find(|c| c.ended).map(|c| c.id.clone()).filter(|_| rng.random_bool(0.3));
            let extra = json!({
                "healthCentreId": self.centres[centre].0,
                "caseType": pick(rng, &["CONFIRMED", "CONFIRMED", "ASYMPTOMATIC_CARRIER", "SUSPECTED"]),
                "sex": pick(rng, &["MALE", "FEMALE", "UNKNOWN"]),
                "birthDate": pick(rng, &BIRTH_DATES),
                "previousPatientId": previous,
            });
            let mut input = json!({
                "nameKanji": "試験 患者",
                "nameKana": pick(rng, &["アオキ ハナコ", "イシイ タロウ", "ウエダ ジロウ", "エンドウ ユイ", "オカダ レン"]),
            });
            if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
                input.extend(extra.clone());
            }
            let response = app.gql(Some(&self.clinic), REGISTER, json!({ "input": input })).await;
            let id = created(&response, "registerPatient");
            if let Some(id) = &id {
                cases.push(Case { id: id.clone(), centre, tests: Vec::new(), stay: None, ended: false });
            }
            return ("registerPatient", id.is_some());
        }
        // Mostly open cases; now and then an ended one (refused).
        let index = if !open.is_empty() && rng.random_ratio(9, 10) {
            *pick(rng, &open)
        } else {
            rng.random_range(0..cases.len())
        };
        let centre_token = self.centres[cases[index].centre].1.clone();
        let roll = rng.random_range(0..100);
        match roll {
            0..30 => {
                let result = pick(
                    rng,
                    &["POSITIVE", "POSITIVE", "NEGATIVE", "NEGATIVE", "NEGATIVE", "PENDING", "PENDING", "INCONCLUSIVE"],
                );
                let input = json!({
                    "patientId": cases[index].id,
                    "kind": pick(rng, &["PCR", "ANTIGEN_QUALITATIVE", "ANTIGEN_QUANTITATIVE", "LAMP"]),
                    "result": result,
                    // Late entries: sampled up to three days ago.
                    "sampledAt": maybe_earlier(rng, now, 72),
                });
                let response = app.gql(Some(&self.clinic), RECORD_TEST, json!({ "input": input })).await;
                let id = created(&response, "recordTest");
                if let Some(id) = &id {
                    cases[index].tests.push(id.clone());
                }
                ("recordTest", id.is_some())
            }
            30..46 => {
                // A pending result arrives, or a result is corrected.
                let Some(test) = (!cases[index].tests.is_empty()).then(|| pick(rng, &cases[index].tests).clone())
                else {
                    return ("recordTestResult (no test)", false);
                };
                let result = pick(rng, &["POSITIVE", "NEGATIVE", "INCONCLUSIVE"]);
                let response = app.gql(Some(&self.clinic), RECORD_RESULT, json!({ "t": test, "r": result })).await;
                ("recordTestResult", created(&response, "recordTestResult").is_some())
            }
            46..56 => {
                let setting = pick(rng, &["HOME", "HOME", "ACCOMMODATION", "NONE", "HOSPITAL"]);
                let response =
                    app.gql(Some(&centre_token), SET_CARE, json!({ "p": cases[index].id, "s": setting })).await;
                ("setCareSetting", created(&response, "setCareSetting").is_some())
            }
            56..66 => {
                let response = app
                    .gql(
                        Some(&centre_token),
                        ADMIT,
                        json!({
                            "p": cases[index].id,
                            "f": self.hospital_id,
                            "s": pick(rng, &["MILD", "MODERATE_I", "MODERATE_II", "SEVERE"]),
                            "at": maybe_earlier(rng, now, 30),
                        }),
                    )
                    .await;
                let stay = created(&response, "admitPatient");
                if stay.is_some() {
                    cases[index].stay = stay.clone();
                }
                ("admitPatient", stay.is_some())
            }
            // (With nobody in hospital, these rolls transfer instead.)
            66..80 if !admitted.is_empty() => {
                // Conditions, sometimes observed earlier than entered.
                let index = *pick(rng, &admitted);
                let response = app
                    .gql(
                        Some(&self.hospital),
                        CONDITION,
                        json!({
                            "h": cases[index].stay,
                            "s": pick(rng, &["MILD", "MODERATE_I", "MODERATE_II", "SEVERE"]),
                            "icu": rng.random_ratio(1, 4),
                            "v": rng.random_ratio(1, 4),
                            "e": rng.random_ratio(1, 10),
                            "at": maybe_earlier(rng, now, 36),
                        }),
                    )
                    .await;
                ("recordCondition", created(&response, "recordCondition").is_some())
            }
            80..87 if !admitted.is_empty() => {
                let index = *pick(rng, &admitted);
                let response = app
                    .gql(
                        Some(&self.hospital),
                        DISCHARGE,
                        json!({ "h": cases[index].stay, "at": maybe_earlier(rng, now, 24) }),
                    )
                    .await;
                let done = created(&response, "dischargePatient").is_some();
                if done {
                    cases[index].stay = None;
                }
                ("dischargePatient", done)
            }
            87..94 => {
                let outcome = pick(rng, &["RECOVERED", "RECOVERED", "DECEASED", "DECEASED", "OTHER"]);
                let response = app
                    .gql(
                        Some(&centre_token),
                        OUTCOME,
                        json!({ "p": cases[index].id, "o": outcome, "at": maybe_earlier(rng, now, 48) }),
                    )
                    .await;
                let done = created(&response, "recordOutcome").is_some();
                if done {
                    // A death in hospital ends the stay.
                    cases[index].ended = true;
                    cases[index].stay = None;
                }
                ("recordOutcome", done)
            }
            _ => {
                let to = (cases[index].centre + 1) % self.centres.len();
                let response = app
                    .gql(Some(&centre_token), TRANSFER, json!({ "p": cases[index].id, "to": self.centres[to].0 }))
                    .await;
                let done = created(&response, "transferPatient").is_some();
                if done {
                    cases[index].centre = to;
                }
                ("transferPatient", done)
            }
        }
    }
}

/// Runs a mutation that must succeed.
async fn must(app: &TestApp, token: &str, query: &str, variables: Value, field: &str) -> String {
    let response = app.gql(Some(token), query, variables).await;
    response["data"][field]["id"].as_str().unwrap_or_else(|| panic!("{field}: {response}")).to_owned()
}

async fn figures_kept_by_the_write_paths_match_the_history(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_configured(backend, clock.clone(), |config| {
        // Nothing is folded unless the test asks (the first round, at start,
        // finds nothing); sessions outlive the simulated days.
        config.statistics_fold_interval = std::time::Duration::from_secs(7 * 24 * 3600);
        config.session_idle_timeout = std::time::Duration::from_secs(60 * 24 * 3600);
        config.session_absolute_lifetime = std::time::Duration::from_secs(60 * 24 * 3600);
    })
    .await;
    let db = connect(&app).await;
    let analyst = app.login("analyst1").await;
    let clinic = app.login("clinic1").await;
    let hospital = app.login("hospital1").await;
    let hc1 = app.login("hc1").await;
    let hc2 = app.login("hc2").await;
    let hc3 = app.login("hc3").await;
    let tokyo1 = app.health_centre_id(&hc1, "131032").await;
    let tokyo2 = app.health_centre_id(&hc1, "131041").await;
    let osaka = app.health_centre_id(&hc1, "271004").await;
    let facilities = app.gql(Some(&analyst), "{ facilities { id code } }", json!({})).await;
    let hospital_id = facilities["data"]["facilities"]
        .as_array()
        .and_then(|list| list.iter().find(|f| f["code"] == "F13-0002"))
        .and_then(|f| f["id"].as_str())
        .unwrap_or_else(|| panic!("no demo hospital: {facilities}"))
        .to_owned();
    let centre_number = |id: &str| id.parse::<i64>().expect("numeric health centre IDs");

    // --- A hand-worked case in Osaka, alone in its prefecture. -----------
    // Positive on day B; admitted B+1 (MODERATE_I); SEVERE on B+2; SEVERE
    // on a ventilator on B+3; on B+4 MODERATE_II at 10:00 and, entered
    // after it, SEVERE in ICU observed at 08:00 (the later observation of
    // the day holds); SEVERE in ICU on B+5; discharged B+6; recovered B+8.
    let b = japan_date(clock.now()) - Duration::days(20);
    let day = |n: i64| b + Duration::days(n);
    let step = |minutes: i64| clock.advance(Duration::minutes(minutes));
    let (h, _) = app
        .register_patient(
            &clinic,
            "オオサカ ハナコ",
            json!({ "healthCentreId": osaka, "sex": "FEMALE", "birthDate": "1950-05-05" }),
        )
        .await;
    let input =
        json!({ "patientId": h, "kind": "PCR", "result": "POSITIVE", "sampledAt": rfc3339(jst(day(0), 10, 0)) });
    must(&app, &clinic, RECORD_TEST, json!({ "input": input }), "recordTest").await;
    step(1);
    let stay = must(
        &app,
        &hc3,
        ADMIT,
        json!({ "p": h, "f": hospital_id, "s": "MODERATE_I", "at": rfc3339(jst(day(1), 10, 0)) }),
        "admitPatient",
    )
    .await;
    for (severity, icu, ventilator, at) in
        [("SEVERE", false, false, jst(day(2), 10, 0)), ("SEVERE", false, true, jst(day(3), 10, 0))]
    {
        step(1);
        let variables = json!({ "h": stay, "s": severity, "icu": icu, "v": ventilator, "e": false, "at": rfc3339(at) });
        must(&app, &hospital, CONDITION, variables, "recordCondition").await;
    }
    step(1);
    let before_milder = clock.now();
    for (severity, icu, ventilator, at) in [
        ("MODERATE_II", false, false, jst(day(4), 10, 0)),
        ("SEVERE", true, false, jst(day(4), 8, 0)),
        ("SEVERE", true, false, jst(day(5), 10, 0)),
    ] {
        step(1);
        let variables = json!({ "h": stay, "s": severity, "icu": icu, "v": ventilator, "e": false, "at": rfc3339(at) });
        must(&app, &hospital, CONDITION, variables, "recordCondition").await;
    }
    step(1);
    must(&app, &hospital, DISCHARGE, json!({ "h": stay, "at": rfc3339(jst(day(6), 10, 0)) }), "dischargePatient").await;
    step(1);
    must(&app, &hc3, OUTCOME, json!({ "p": h, "o": "RECOVERED", "at": rfc3339(jst(day(8), 10, 0)) }), "recordOutcome")
        .await;
    step(1);
    let hand_worked_done = clock.now();

    // --- A pseudo-random run in the two Tokyo centres. --------------------
    let run = Run {
        app: &app,
        clinic: clinic.clone(),
        hospital: hospital.clone(),
        hospital_id: hospital_id.clone(),
        centres: vec![(tokyo1.clone(), hc1.clone()), (tokyo2.clone(), hc2.clone())],
    };
    let mut rng = ChaCha8Rng::seed_from_u64(20_261_125);
    let mut cases: Vec<Case> = Vec::new();
    let mut moments: Vec<DateTime<Utc>> = vec![before_milder, hand_worked_done];
    let mut accepted: BTreeMap<&'static str, usize> = BTreeMap::new();
    const STEPS: usize = 110;
    // The areas compared: as the analyst the nation and both prefectures,
    // and each health centre as its own staff.
    let areas: Vec<(Area, &str, Option<&str>)> = vec![
        (Area::Nation, analyst.as_str(), None),
        (Area::Prefecture(13), analyst.as_str(), Some("13")),
        (Area::Prefecture(27), analyst.as_str(), Some("27")),
        (Area::HealthCentre(centre_number(&tokyo1)), hc1.as_str(), None),
        (Area::HealthCentre(centre_number(&tokyo2)), hc2.as_str(), None),
        (Area::HealthCentre(centre_number(&osaka)), hc3.as_str(), None),
    ];
    let from = day(-2);
    let compare = |moments: Vec<DateTime<Utc>>, round: &'static str| {
        let (app, db, areas) = (&app, &db, &areas);
        async move {
            for t in moments {
                let to = japan_date(t) + Duration::days(1);
                for (area, token, prefecture) in areas {
                    let expected = reference_daily(db, *area, from, to, t).await;
                    let actual = api_daily(app, token, *prefecture, from, to, t).await;
                    assert_same_series(&expected, &actual, &format!("{round}: {area:?} as of {t}"));
                }
                let expected = reference_cases(db, from, to, t).await;
                let actual = ledger_cases(db, from, to, t).await;
                assert_same_cases(&expected, &actual, &format!("{round}: cases as of {t}"));
            }
        }
    };
    for n in 1..=STEPS {
        // From 10 minutes to 5 hours between operations: about ten days.
        clock.advance(Duration::minutes(rng.random_range(10..300)));
        let (what, done) = run.step(&mut rng, &mut cases, clock.now()).await;
        if done {
            *accepted.entry(what).or_insert(0) += 1;
        }
        if n % 5 == 0 {
            moments.push(clock.now());
        }
        if n == STEPS / 2 {
            // Half-way, with nothing folded yet; then fold what there is, so
            // that the rest of the run lands on a partly folded ledger.
            compare(moments.clone(), "nothing folded").await;
            let folded = ledger::fold_all(&db).await.expect("fold");
            assert!(folded > 0, "the first half left nothing to fold");
        }
    }
    moments.push(clock.now());
    let end = *moments.last().expect("a moment");
    println!("accepted operations: {accepted:?}");
    for (what, at_least) in [
        ("registerPatient", 4),
        ("recordTest", 15),
        ("recordTestResult", 4),
        ("setCareSetting", 3),
        ("admitPatient", 3),
        ("recordCondition", 3),
        ("dischargePatient", 1),
        ("recordOutcome", 3),
        ("transferPatient", 2),
    ] {
        assert!(accepted.get(what).copied().unwrap_or(0) >= at_least, "too few {what}: {accepted:?}");
    }

    // The ledger partly folded (the first half), then entirely.
    compare(moments.clone(), "partly folded").await;
    assert!(ledger::fold_all(&db).await.expect("fold") > 0, "the second half left nothing to fold");
    compare(moments.clone(), "all folded").await;

    // The run is not vacuous: positives, deaths and severe cases.
    let nation = reference_daily(&db, Area::Nation, from, japan_date(end), end).await;
    for (what, field) in [
        ("positives", (|f: &Figures| f.positives) as fn(&Figures) -> i64),
        ("negatives", |f| f.negatives),
        ("deaths", |f| f.deaths),
        ("severe", |f| f.severe),
        ("requiring care", |f| f.requiring_care),
    ] {
        assert!(total(&nation, field) > 0, "no {what} in the run: {nation:?}");
    }

    // Late entries: some past day has other figures as of a later moment.
    let mut national = Vec::new();
    for t in &moments {
        national.push(reference_daily(&db, Area::Nation, from, japan_date(end), *t).await);
    }
    let late = moments.windows(2).zip(national.windows(2)).any(|(t, series)| {
        series[0].iter().any(|(day, figures)| *day < japan_date(t[0]) && series[1].get(day) != Some(figures))
    });
    assert!(late, "no late entry changes a past day");

    // The hand-worked Osaka case, as the analyst and as the Osaka centre.
    // (tests, positives, severe, severe by Tokyo's definition, requiring
    // care) for days B-1 to B+9.
    let expected_end: Vec<(i64, i64, i64, i64, i64)> = vec![
        (0, 0, 0, 0, 0), // B-1
        (1, 1, 0, 0, 1), // B: positive
        (0, 0, 0, 0, 1), // B+1: admitted, MODERATE_I
        (0, 0, 1, 0, 1), // B+2: SEVERE
        (0, 0, 1, 1, 1), // B+3: SEVERE, ventilator
        (0, 0, 0, 0, 1), // B+4: MODERATE_II observed last that day
        (0, 0, 1, 0, 1), // B+5: SEVERE, ICU
        (0, 0, 0, 0, 1), // B+6: discharged
        (0, 0, 0, 0, 1), // B+7
        (0, 0, 0, 0, 0), // B+8: recovered
        (0, 0, 0, 0, 0), // B+9
    ];
    // As of the moment before the milder entries: severe since B+2 and on
    // the ventilator since B+3, still in hospital, no outcome.
    let expected_before: Vec<(i64, i64, i64, i64, i64)> = vec![
        (0, 0, 0, 0, 0),
        (1, 1, 0, 0, 1),
        (0, 0, 0, 0, 1),
        (0, 0, 1, 0, 1),
        (0, 0, 1, 1, 1),
        (0, 0, 1, 1, 1),
        (0, 0, 1, 1, 1),
        (0, 0, 1, 1, 1),
        (0, 0, 1, 1, 1),
        (0, 0, 1, 1, 1),
        (0, 0, 1, 1, 1),
    ];
    for (t, expected) in [(end, &expected_end), (before_milder, &expected_before)] {
        for (token, prefecture) in [(&analyst, Some("27")), (&hc3, None)] {
            let series = api_daily(&app, token, prefecture, day(-1), day(9), t).await;
            let got: Vec<(i64, i64, i64, i64, i64)> =
                series.values().map(|f| (f.tests, f.positives, f.severe, f.severe_tokyo, f.requiring_care)).collect();
            assert_eq!(&got, expected, "the Osaka case as of {t} ({prefecture:?})");
            assert!(series.values().all(|f| f.negatives == 0 && f.deaths == 0));
        }
    }
    drop(app);
}

/// Writes for one patient at the same moment: each sees the others' (the
/// ledger refresh waits for the patient), so the person counts once as a
/// positive and every test once.
async fn concurrent_writes_for_one_patient_count_once_each(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = connect(&app).await;
    let clinic = app.login("clinic1").await;
    let mut patients = Vec::new();
    for name in ["ドウジ イチ", "ドウジ ニ"] {
        patients.push(app.register_patient(&clinic, name, json!({})).await.0);
    }
    let results = [
        "POSITIVE", "NEGATIVE", "POSITIVE", "POSITIVE", "NEGATIVE", "POSITIVE", "PENDING", "POSITIVE", "POSITIVE",
        "NEGATIVE", "POSITIVE", "POSITIVE", "POSITIVE", "PENDING", "POSITIVE", "POSITIVE",
    ];
    let inputs: Vec<Value> = patients
        .iter()
        .flat_map(|patient| {
            results.iter().map(move |result| json!({ "patientId": patient, "kind": "PCR", "result": result }))
        })
        .collect();
    let writes =
        inputs.into_iter().map(|input| must(&app, &clinic, RECORD_TEST, json!({ "input": input }), "recordTest"));
    futures_util::future::join_all(writes).await;
    for patient in &patients {
        let sums = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT CAST(metric AS BIGINT) AS metric, CAST(SUM(delta) AS BIGINT) AS n FROM stat_events \
                     WHERE patient_id = {patient} GROUP BY metric"
                ),
            ))
            .await
            .expect("the ledger");
        let sum = |metric: ledger::Metric| {
            sums.iter()
                .find(|row| get::<i64>(row, "metric") == i64::from(metric.code()))
                .map_or(0, |row| get::<i64>(row, "n"))
        };
        assert_eq!(sum(ledger::Metric::Tests), 16, "every test once (patient {patient})");
        assert_eq!(sum(ledger::Metric::Negatives), 3, "every negative once (patient {patient})");
        assert_eq!(sum(ledger::Metric::Positives), 1, "the person once (patient {patient})");
    }
}
