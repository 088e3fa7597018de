//! Statistics on small hand-built data, every expected count worked out
//! here: the definitions, reproducibility as of a moment with late entries,
//! area restrictions per role, and the open-data CSV.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use hersys::clock::ManualClock;
use hersys::services::publication;
use serde_json::json;

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, spawn_app, spawn_app_configured, spawn_app_with_clock};

both!(
    daily_figures_follow_their_definitions_and_stay_the_same_as_of_a_moment,
    care_status_counts_open_cases_by_where_they_are_cared_for,
    each_role_sees_the_figures_of_its_own_area_only,
    the_open_data_file_has_the_mhlw_columns_and_is_stable_for_the_same_moment,
    open_data_is_as_of_publication_moments_so_moments_a_second_apart_tell_nothing,
    severe_cases_people_requiring_care_and_deaths_follow_their_definitions,
);

const DAY1: &str = "2026-06-01T01:00:00Z"; // 10:00 in Japan, 1 June
const DAY1_LATE_EVENING: &str = "2026-06-01T14:30:00Z"; // 23:30 in Japan, still 1 June
const DAY2: &str = "2026-06-01T15:30:00Z"; // 00:30 in Japan, 2 June

async fn record(app: &TestApp, token: &str, patient: &str, kind: &str, result: &str, sampled_at: &str) -> String {
    let response = app
        .gql(
            Some(token),
            "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
            json!({ "input": { "patientId": patient, "kind": kind, "result": result, "sampledAt": sampled_at } }),
        )
        .await;
    response["data"]["recordTest"]["id"].as_str().unwrap_or_else(|| panic!("{response}")).to_owned()
}

const DAILY: &str = "query($p: String, $asOf: DateTime) { statistics { daily(from: \"2026-06-01\", to: \"2026-06-02\", prefectureCode: $p, asOf: $asOf) {
    date prefectureCode tests positives negatives asOf } } }";

async fn daily(app: &TestApp, token: &str, prefecture: Option<&str>, as_of: Option<&str>) -> Vec<(i64, i64, i64)> {
    let response = app.gql(Some(token), DAILY, json!({ "p": prefecture, "asOf": as_of })).await;
    let days = response["data"]["statistics"]["daily"].as_array().unwrap_or_else(|| panic!("{response}")).clone();
    assert_eq!(days.len(), 2, "{response}");
    assert_eq!(days[0]["date"], "2026-06-01");
    if let Some(as_of) = as_of {
        let reported = chrono::DateTime::parse_from_rfc3339(days[0]["asOf"].as_str().unwrap_or_default()).ok();
        assert_eq!(reported, chrono::DateTime::parse_from_rfc3339(as_of).ok(), "each figure says its moment");
    }
    days.iter()
        .map(|d| {
            (
                d["tests"].as_i64().unwrap_or(-1),
                d["positives"].as_i64().unwrap_or(-1),
                d["negatives"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

/// A: two positive tests on day 1 and another on day 2. B: negative.
/// C: pending. D (Osaka): positive. Returns the ID of C's pending test and
/// the token of the clinic.
async fn first_wave(app: &TestApp) -> (String, String, String) {
    let clinic = app.login("clinic1").await;
    let hc3 = app.login("hc3").await;
    let osaka = app.health_centre_id(&hc3, "271004").await;
    let (a, _) = app.register_patient(&clinic, "エー タロウ", json!({})).await;
    let (b, _) = app.register_patient(&clinic, "ビー タロウ", json!({})).await;
    let (c, _) = app.register_patient(&clinic, "シー タロウ", json!({})).await;
    let (d, _) = app.register_patient(&clinic, "ディー タロウ", json!({ "healthCentreId": osaka })).await;
    record(app, &clinic, &a, "PCR", "POSITIVE", DAY1).await;
    record(app, &clinic, &a, "ANTIGEN_QUALITATIVE", "POSITIVE", DAY1_LATE_EVENING).await;
    record(app, &clinic, &a, "PCR", "POSITIVE", DAY2).await;
    record(app, &clinic, &b, "PCR", "NEGATIVE", DAY1).await;
    let pending = record(app, &clinic, &c, "PCR", "PENDING", DAY1).await;
    record(app, &clinic, &d, "PCR", "POSITIVE", DAY1).await;
    (pending, clinic, b)
}

async fn daily_figures_follow_their_definitions_and_stay_the_same_as_of_a_moment(backend: Backend) {
    let app = spawn_app(backend).await;
    let analyst = app.login("analyst1").await;
    let (pending, clinic, b) = first_wave(&app).await;

    // Day 1: 5 tests (A×2, B, C, D); positives A and D (A's two positives
    // count once); 1 negative (B). Day 2: A's third test; A is not new.
    assert_eq!(daily(&app, &analyst, None, None).await, vec![(5, 2, 1), (1, 0, 0)]);
    assert_eq!(daily(&app, &analyst, Some("13"), None).await, vec![(4, 1, 1), (1, 0, 0)]);
    assert_eq!(daily(&app, &analyst, Some("27"), None).await, vec![(1, 1, 0), (0, 0, 0)]);

    // The moment the first figures were published.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let published = Utc::now().to_rfc3339();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    // Late entries: C's result arrives positive, and a forgotten negative
    // test of B sampled on day 1 is entered.
    app.gql(
        Some(&clinic),
        "mutation($t: ID!) { recordTestResult(testId: $t, result: POSITIVE) { id } }",
        json!({ "t": pending }),
    )
    .await;
    record(&app, &clinic, &b, "LAMP", "NEGATIVE", DAY1).await;

    assert_eq!(
        daily(&app, &analyst, None, None).await,
        vec![(6, 3, 2), (1, 0, 0)],
        "now: C is positive, B tested twice"
    );
    assert_eq!(
        daily(&app, &analyst, None, Some(&published)).await,
        vec![(5, 2, 1), (1, 0, 0)],
        "as of the publication, the figures are exactly those published"
    );
    assert_eq!(daily(&app, &analyst, Some("13"), Some(&published)).await, vec![(4, 1, 1), (1, 0, 0)]);
    assert_eq!(
        daily(&app, &analyst, None, Some("2026-05-31T00:00:00Z")).await,
        vec![(0, 0, 0), (0, 0, 0)],
        "before anything was recorded"
    );

    let future = app.gql(Some(&analyst), DAILY, json!({ "asOf": "2999-01-01T00:00:00Z" })).await;
    assert_eq!(future["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{future}");
    let reversed = app
        .gql(Some(&analyst), "{ statistics { daily(from: \"2026-06-02\", to: \"2026-06-01\") { tests } } }", json!({}))
        .await;
    assert_eq!(reversed["errors"][0]["extensions"]["field"], "to", "{reversed}");
}

const CARE: &str = "query($asOf: DateTime) { statistics { careStatus(asOf: $asOf) { asOf hospital accommodation home severe severeTokyoDefinition } } }";

async fn care_status_counts_open_cases_by_where_they_are_cared_for(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hospital = app.login("hospital1").await;
    let analyst = app.login("analyst1").await;
    let before = Utc::now().to_rfc3339();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mut patients = Vec::new();
    for kana in ["イチ", "ニ", "サン", "ヨン", "ゴ"] {
        patients.push(app.register_patient(&clinic, kana, json!({})).await.0);
    }
    let set = |p: &str, s: &str| {
        app.gql(
            Some(&hc1),
            "mutation($p: ID!, $s: CareSetting!) { setCareSetting(patientId: $p, setting: $s) { id } }",
            json!({ "p": p, "s": s }),
        )
    };
    set(&patients[0], "HOME").await;
    set(&patients[1], "HOME").await;
    set(&patients[2], "ACCOMMODATION").await;
    // Patient 3 is admitted and becomes severe (ICU, no ventilator).
    let stay = app
        .gql(
            Some(&hc1),
            "mutation($p: ID!) { admitPatient(patientId: $p, facilityId: \"2\", severity: MODERATE_II) { id } }",
            json!({ "p": patients[3] }),
        )
        .await["data"]["admitPatient"]["id"]
        .clone();
    app.gql(
        Some(&hospital),
        "mutation($h: ID!) { recordCondition(hospitalisationId: $h, severity: SEVERE, icu: true) { id } }",
        json!({ "h": stay }),
    )
    .await;
    // Patient 1 recovers: no longer counted.
    app.gql(
        Some(&hc1),
        "mutation($p: ID!) { recordOutcome(patientId: $p, outcome: RECOVERED) { id } }",
        json!({ "p": patients[1] }),
    )
    .await;

    let now = app.gql(Some(&analyst), CARE, json!({})).await;
    let figures = &now["data"]["statistics"]["careStatus"];
    assert_eq!(
        (figures["hospital"].clone(), figures["accommodation"].clone(), figures["home"].clone()),
        (json!(1), json!(1), json!(1)),
        "{now}"
    );
    assert_eq!(figures["severe"], 1);
    assert_eq!(figures["severeTokyoDefinition"], 0, "Tokyo counts ventilator or ECMO only");

    let earlier = app.gql(Some(&analyst), CARE, json!({ "asOf": before })).await;
    let figures = &earlier["data"]["statistics"]["careStatus"];
    assert_eq!(
        (figures["hospital"].clone(), figures["home"].clone(), figures["severe"].clone()),
        (json!(0), json!(0), json!(0)),
        "{earlier}"
    );
}

async fn each_role_sees_the_figures_of_its_own_area_only(backend: Backend) {
    let app = spawn_app(backend).await;
    first_wave(&app).await;
    let hc1 = app.login("hc1").await;
    let pref = app.login("pref13").await;
    // hc1's district holds A, B and C (D is Osaka's).
    assert_eq!(daily(&app, &hc1, None, None).await, vec![(4, 1, 1), (1, 0, 0)]);
    assert_eq!(daily(&app, &pref, None, None).await, vec![(4, 1, 1), (1, 0, 0)]);
    assert_eq!(daily(&app, &pref, Some("13"), None).await, vec![(4, 1, 1), (1, 0, 0)]);
    for (username, prefecture) in [("pref13", Some("27")), ("hc1", Some("13")), ("clinic1", None), ("admin1", None)] {
        let token = app.login(username).await;
        let refused = app.gql(Some(&token), DAILY, json!({ "p": prefecture })).await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{username}: {refused}");
    }
}

async fn csv(app: &TestApp, as_of: &str) -> (u16, String) {
    let response = app
        .client
        .get(app.url("/opendata/newly_confirmed_cases_daily.csv"))
        .query(&[("asOf", as_of)])
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.text().await.expect("text"))
}

async fn the_open_data_file_has_the_mhlw_columns_and_is_stable_for_the_same_moment(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let (pending, _, _) = first_wave(&app).await;
    // The files are as of the daily publication (midnight in Japan by
    // default): a day later, the latest publication holds the first wave.
    clock.advance(Duration::days(1));
    let published = (Utc::now() + Duration::days(1)).to_rfc3339();
    let (status, file) = csv(&app, &published).await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = file.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(header.len(), 49);
    assert_eq!(
        (header[0], header[1], header[2], header[14], header[28], header[48]),
        ("Date", "ALL", "Hokkaido", "Tokyo", "Osaka", "Okinawa")
    );
    // The first row is 1 June: A in Tokyo, D in Osaka; then 2 June: none new.
    let first: Vec<&str> = lines[1].split(',').collect();
    assert_eq!((first[0], first[1], first[14], first[28]), ("2026/6/1", "2", "1", "1"));
    let second: Vec<&str> = lines[2].split(',').collect();
    assert_eq!((second[0], second[1]), ("2026/6/2", "0"));

    // Later entries change today's file but not the published one.
    let clinic = app.login("clinic1").await;
    app.gql(
        Some(&clinic),
        "mutation($t: ID!) { recordTestResult(testId: $t, result: POSITIVE) { id } }",
        json!({ "t": pending }),
    )
    .await;
    let (_, again) = csv(&app, &published).await;
    assert_eq!(again, file, "byte for byte the same for the same publication");
    clock.advance(Duration::days(1));
    let (_, now) = csv(&app, &(Utc::now() + Duration::days(2)).to_rfc3339()).await;
    let first_now: Vec<&str> = now.lines().nth(1).unwrap_or_default().split(',').collect();
    assert_eq!((first_now[1], first_now[14]), ("3", "2"), "C's late positive counts on its sampling day");

    let (refused, _) = csv(&app, "2999-01-01T00:00:00Z").await;
    assert_eq!(refused, 400);
}

async fn open_data_is_as_of_publication_moments_so_moments_a_second_apart_tell_nothing(backend: Backend) {
    // Publications at 10:00 in Japan.
    let ten = NaiveTime::from_hms_opt(10, 0, 0).expect("a time");
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_configured(backend, clock.clone(), |config| config.publication_time = ten).await;
    let clinic = app.login("clinic1").await;
    let (a, _) = app.register_patient(&clinic, "エー タロウ", json!({})).await;
    record(&app, &clinic, &a, "PCR", "POSITIVE", DAY1).await;
    let entered = Utc::now();
    clock.advance(Duration::days(1));
    let moment = publication::at_or_before(Utc::now() + Duration::days(1), ten);
    assert!(moment > entered, "the entry falls before this publication");
    // Every moment from the publication to now gives that publication's
    // file; the second before it gives the previous one, without the entry.
    let at = |moment: DateTime<Utc>| moment.to_rfc3339();
    let response = app
        .client
        .get(app.url("/opendata/newly_confirmed_cases_daily.csv"))
        .query(&[("asOf", at(moment))])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    let last_modified = response.headers().get("last-modified").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(last_modified, Some(moment.format("%a, %d %b %Y %H:%M:%S GMT").to_string()));
    let file = response.text().await.expect("text");
    assert!(file.contains("2026/6/1,1,"), "{file}");
    let a_second_later = csv(&app, &at(moment + Duration::seconds(1))).await.1;
    let now = csv(&app, &at(Utc::now() + Duration::days(1))).await.1;
    assert_eq!((a_second_later.as_str(), now.as_str()), (file.as_str(), file.as_str()));
    let before = csv(&app, &at(moment - Duration::seconds(1))).await.1;
    assert!(!before.contains("2026/6/1"), "the previous publication has no entry yet: {before}");
    // Entries made after the publication wait for the next one, whatever
    // asOf says.
    let clinic = app.login("clinic1").await;
    let (b, _) = app.register_patient(&clinic, "ビー タロウ", json!({})).await;
    record(&app, &clinic, &b, "PCR", "POSITIVE", DAY1).await;
    let after_entry = csv(&app, &at(Utc::now() + Duration::days(1))).await.1;
    assert_eq!(after_entry, file, "the second entry is not published before the next publication");
    clock.advance(Duration::days(1));
    let next = csv(&app, &at(Utc::now() + Duration::days(2))).await.1;
    assert!(next.contains("2026/6/1,2,"), "{next}");
    let missing = app.client.get(app.url("/opendata/nothing.csv")).send().await.expect("sent");
    assert_eq!(missing.status().as_u16(), 404);
}

const SERIES: &str =
    "query($asOf: DateTime) { statistics { daily(from: \"2026-06-01\", to: \"2026-06-10\", asOf: $asOf) {
    date positives deaths severe severeTokyoDefinition requiringInpatientCare } } }";

/// (positives, deaths, severe, severe by Tokyo's definition, requiring care) per day, 1 to 10 June.
async fn series(app: &TestApp, token: &str, as_of: Option<&str>) -> Vec<[i64; 5]> {
    let response = app.gql(Some(token), SERIES, json!({ "asOf": as_of })).await;
    let days = response["data"]["statistics"]["daily"].as_array().unwrap_or_else(|| panic!("{response}")).clone();
    days.iter()
        .map(|d| {
            ["positives", "deaths", "severe", "severeTokyoDefinition", "requiringInpatientCare"]
                .map(|field| d[field].as_i64().unwrap_or(-1))
        })
        .collect()
}

/// Noon in Japan on a day of June 2026.
fn june(day: u32) -> String {
    format!("2026-06-{day:02}T03:00:00Z")
}

async fn open_data(app: &TestApp, file: &str, as_of: &str) -> String {
    let response =
        app.client.get(app.url(&format!("/opendata/{file}"))).query(&[("asOf", as_of)]).send().await.expect("sent");
    assert_eq!(response.status().as_u16(), 200, "{file}");
    response.text().await.expect("text")
}

/// The (date, ALL, Tokyo) columns of the rows of an open-data file for 1 to 10 June.
fn june_rows(file: &str) -> Vec<(String, String, String)> {
    file.lines()
        .skip(1)
        .map(|line| line.split(',').map(str::to_owned).collect::<Vec<_>>())
        .filter(|cells| cells[0].starts_with("2026/6/") && cells[0].len() <= 9)
        .map(|cells| (cells[0].clone(), cells[1].clone(), cells[14].clone()))
        .collect()
}

const ADMIT: &str = "mutation($p: ID!, $s: Severity!, $at: DateTime) { admitPatient(patientId: $p, facilityId: \"2\", severity: $s, admittedAt: $at) { id } }";
const CONDITION: &str = "mutation($h: ID!, $s: Severity!, $icu: Boolean, $v: Boolean, $at: DateTime) { recordCondition(hospitalisationId: $h, severity: $s, icu: $icu, ventilator: $v, observedAt: $at) { id } }";
const DISCHARGE: &str =
    "mutation($h: ID!, $at: DateTime) { dischargePatient(hospitalisationId: $h, dischargedAt: $at) { id } }";
const OUTCOME: &str = "mutation($p: ID!, $o: Outcome!, $at: DateTime) { recordOutcome(patientId: $p, outcome: $o, outcomeAt: $at) { id } }";

/// Sends a mutation that must succeed; returns its data.
async fn succeed(app: &TestApp, token: &str, mutation: &str, variables: serde_json::Value) -> serde_json::Value {
    let response = app.gql(Some(token), mutation, variables).await;
    assert!(response["errors"].is_null(), "{response}");
    response["data"].clone()
}

/// Admits a patient to the demo hospital; returns the stay's ID.
async fn admit(app: &TestApp, token: &str, patient: &str, severity: &str, at: String) -> String {
    let data = succeed(app, token, ADMIT, json!({ "p": patient, "s": severity, "at": at })).await;
    data["admitPatient"]["id"].as_str().unwrap_or_else(|| panic!("{data}")).to_owned()
}

async fn severe_cases_people_requiring_care_and_deaths_follow_their_definitions(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hospital = app.login("hospital1").await;
    let analyst = app.login("analyst1").await;
    // P: positive on 1 June; admitted on the 2nd (moderate); ICU on the 4th,
    // also a ventilator on the 5th, better (no ICU, no ventilator) on the
    // 7th; discharged on the 8th; recovered on the 9th.
    let (p, _) = app.register_patient(&clinic, "ピー タロウ", json!({})).await;
    record(&app, &clinic, &p, "PCR", "POSITIVE", &june(1)).await;
    let p_stay = admit(&app, &hc1, &p, "MODERATE_I", june(2)).await;
    let condition = |severity: &str, icu: bool, ventilator: bool, at: String| json!({ "h": p_stay, "s": severity, "icu": icu, "v": ventilator, "at": at });
    succeed(&app, &hospital, CONDITION, condition("SEVERE", true, false, june(4))).await;
    succeed(&app, &hospital, CONDITION, condition("SEVERE", true, true, june(5))).await;
    succeed(&app, &hospital, CONDITION, condition("MODERATE_II", false, false, june(7))).await;
    succeed(&app, &hospital, DISCHARGE, json!({ "h": p_stay, "at": june(8) })).await;
    succeed(&app, &hc1, OUTCOME, json!({ "p": p, "o": "RECOVERED", "at": june(9) })).await;
    // Q: positive on the 3rd, admitted severe that day, died in hospital on
    // the 6th (which ends the stay).
    let (q, _) = app.register_patient(&clinic, "キュー タロウ", json!({})).await;
    record(&app, &clinic, &q, "PCR", "POSITIVE", &june(3)).await;
    admit(&app, &hc1, &q, "SEVERE", june(3)).await;
    succeed(&app, &hc1, OUTCOME, json!({ "p": q, "o": "DECEASED", "at": june(6) })).await;
    // R: tested negative only; never a case.
    let (r, _) = app.register_patient(&clinic, "アール タロウ", json!({})).await;
    record(&app, &clinic, &r, "PCR", "NEGATIVE", &june(2)).await;

    // Worked out by day, 1 to 10 June:
    // positives: P on the 1st, Q on the 3rd; deaths: Q on the 6th;
    // severe (national): Q from the 3rd, P from the 4th; Q until its death
    //   on the 6th, P until the 7th (better) → 1 on the 3rd, 2 on the 4th
    //   and 5th, 1 on the 6th (P), 0 from the 7th;
    // severe (Tokyo): P's ventilator from the 5th to the 7th → 5th, 6th;
    // requiring care: P from the 1st until its outcome on the 9th, Q from
    //   the 3rd until the 6th.
    let expected: Vec<[i64; 5]> = vec![
        [1, 0, 0, 0, 1],
        [0, 0, 0, 0, 1],
        [1, 0, 1, 0, 2],
        [0, 0, 2, 0, 2],
        [0, 0, 2, 1, 2],
        [0, 1, 1, 1, 1],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ];
    assert_eq!(series(&app, &analyst, None).await, expected);

    // The files are as of the next publication (a day later).
    clock.advance(Duration::days(1));
    let published = (Utc::now() + Duration::days(1)).to_rfc3339();
    let severe_file = open_data(&app, "severe_cases_daily.csv", &published).await;
    let care_file = open_data(&app, "requiring_inpatient_care_etc_daily.csv", &published).await;
    let deaths_file = open_data(&app, "number_of_deaths_daily.csv", &published).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    // A late entry: S, positive on the 5th and admitted severe that day,
    // is entered only now (a day on: sign in again).
    let (clinic, hc1, analyst) = (app.login("clinic1").await, app.login("hc1").await, app.login("analyst1").await);
    let (late, _) = app.register_patient(&clinic, "エス タロウ", json!({})).await;
    record(&app, &clinic, &late, "PCR", "POSITIVE", &june(5)).await;
    admit(&app, &hc1, &late, "SEVERE", june(5)).await;
    let now = series(&app, &analyst, None).await;
    assert_eq!(now[4], [1, 0, 3, 1, 3], "S counts from the 5th on");
    assert_eq!(now[9], [0, 0, 1, 0, 1], "and is still in hospital on the 10th");
    assert_eq!(series(&app, &analyst, Some(&published)).await, expected, "as of the publication, unchanged");

    // The open-data files: the stock series from their first day, each
    // day's people at its end; the same bytes for the same moment.
    assert_eq!(
        &june_rows(&severe_file)[..6],
        &[
            ("2026/6/3".into(), "1".into(), "1".into()),
            ("2026/6/4".into(), "2".into(), "2".into()),
            ("2026/6/5".into(), "2".into(), "2".into()),
            ("2026/6/6".into(), "1".into(), "1".into()),
            ("2026/6/7".into(), "0".into(), "0".into()),
            ("2026/6/8".into(), "0".into(), "0".into()),
        ]
    );
    let care_rows = june_rows(&care_file);
    let care_all: Vec<&str> = care_rows.iter().take(10).map(|(_, all, _)| all.as_str()).collect();
    assert_eq!(care_all, ["1", "1", "2", "2", "2", "1", "1", "1", "0", "0"]);
    assert_eq!(care_file.lines().next().map(|h| h.split(',').count()), Some(49), "Date, ALL, 47 prefectures");
    assert_eq!(june_rows(&deaths_file)[..1], [("2026/6/6".into(), "1".into(), "1".into())]);
    assert_eq!(open_data(&app, "severe_cases_daily.csv", &published).await, severe_file);
    assert_eq!(open_data(&app, "requiring_inpatient_care_etc_daily.csv", &published).await, care_file);
    clock.advance(Duration::days(1));
    let severe_now = open_data(&app, "severe_cases_daily.csv", &(Utc::now() + Duration::days(2)).to_rfc3339()).await;
    assert_eq!(june_rows(&severe_now)[2], ("2026/6/5".into(), "3".into(), "3".into()));
}
