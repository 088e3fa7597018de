//! The reports that replaced the health centres' spreadsheets: the
//! care-status report with the beds and rooms prefectures secure, the
//! outbreak-stage indicators, clusters by setting, the route as a
//! dimension of the cross-tabulation, and their open-data files. Each
//! figure is checked against one worked out by hand from the records the
//! test made.

use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use hersys::clock::ManualClock;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, error_field, spawn_app, spawn_app_with_clock};

both!(
    a_prefecture_enters_its_beds_and_the_care_status_and_stage_indicators_follow,
    clusters_by_setting_and_the_route_cross_tab_count_what_was_recorded,
    the_open_data_files_of_the_indicators_agree_with_the_api,
);

/// Tokyo's population in the committed census table.
const TOKYO: f64 = 14_047_594.0;

fn jst_today() -> NaiveDate {
    Utc::now().with_timezone(&FixedOffset::east_opt(9 * 3600).expect("JST")).date_naive()
}

fn ok(response: Value) -> Value {
    assert!(response["errors"].is_null(), "{response}");
    response["data"].clone()
}

/// Registers a person at the clinic and records a positive PCR test.
async fn positive(app: &TestApp, clinic: &str, kana: &str) -> String {
    let (id, _) = app.register_patient(clinic, kana, json!({})).await;
    let test = "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }";
    ok(app.gql(Some(clinic), test, json!({ "input": { "patientId": id, "kind": "PCR", "result": "POSITIVE" } })).await);
    id
}

async fn version(app: &TestApp, token: &str, id: &str) -> Value {
    let response = app.gql(Some(token), "query($id: ID!) { patient(id: $id) { version } }", json!({ "id": id })).await;
    response["data"]["patient"]["version"].clone()
}

async fn set_route(app: &TestApp, token: &str, id: &str, route: &str) {
    let set = "mutation($id: ID!, $v: Int!, $r: InfectionRoute!) { updatePatient(patientId: $id, \
        expectedVersion: $v, input: { infectionRouteCategory: $r }) { id } }";
    let v = version(app, token, id).await;
    ok(app.gql(Some(token), set, json!({ "id": id, "v": v, "r": route })).await);
}

const CARE: &str = "query($p: String, $at: DateTime) { statistics { careStatus(prefectureCode: $p, asOf: $at) { \
    hospital accommodation home welfareFacility beingArranged underCare severe bedsSecured severeBedsSecured \
    accommodationRoomsSecured bedOccupancy } } }";

const STAGE: &str = "query($p: String, $d: Date, $at: DateTime) { statistics { stageIndicators(prefectureCode: $p, \
    date: $d, asOf: $at) { date prefectureCode population populationSource hospital underCare bedsSecured \
    testsLastWeek newCasesLastWeek newCasesWeekBefore unknownRouteLastWeek bedOccupancy underCarePer100k \
    positivity newCasesPer100kLastWeek weekOnWeekRatio unknownRouteShare stageThree stageFour } } }";

const CAPACITY: &str = "mutation($input: ReportCapacityInput!) { reportCapacity(input: $input) { \
    prefectureCode date beds severeBeds accommodationRooms } }";

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-9)
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Four positives in Tokyo: one admitted, one sent home, one cared for in
/// the welfare facility they live in, one still being arranged. The prefecture enters its beds; the care-status report and the
/// stage indicators follow, and a later report changes them only from the
/// moment it is recorded. Wrong reports are refused by field and change
/// nothing; only the prefecture's own staff report.
async fn a_prefecture_enters_its_beds_and_the_care_status_and_stage_indicators_follow(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let clinic = app.login("clinic1").await;
    let hospital = app.login("hospital1").await;
    let pref = app.login("pref13").await;
    let analyst = app.login("analyst1").await;
    let today = jst_today();

    let before = ok(app.gql(Some(&pref), CARE, json!({})).await)["statistics"]["careStatus"].clone();
    assert_eq!(before["bedsSecured"], Value::Null, "no report yet: {before}");
    assert_eq!(before["bedOccupancy"], Value::Null, "{before}");

    let admitted = positive(&app, &clinic, "ビョウショウ イチ").await;
    let home = positive(&app, &clinic, "ビョウショウ ニ").await;
    let _arranging = positive(&app, &clinic, "ビョウショウ サン").await;
    let resident = positive(&app, &clinic, "ビョウショウ ヨン").await;
    let hospital_id = {
        let response = app.gql(Some(&hospital), "{ facilities { id code } }", json!({})).await;
        response["data"]["facilities"]
            .as_array()
            .and_then(|l| l.iter().find(|f| f["code"] == "F13-0002"))
            .map(|f| f["id"].clone())
            .unwrap_or_else(|| panic!("{response}"))
    };
    let admit =
        "mutation($p: ID!, $f: ID!) { admitPatient(patientId: $p, facilityId: $f, severity: MODERATE_I) { id } }";
    let hc1 = app.login("hc1").await;
    ok(app.gql(Some(&hc1), admit, json!({ "p": admitted, "f": hospital_id })).await);
    let decide = "mutation($p: ID!) { setCareSetting(patientId: $p, setting: HOME) { id } }";
    ok(app.gql(Some(&hc1), decide, json!({ "p": home })).await);
    // A resident cared for in their welfare facility; the flag is only for
    // home care.
    let welfare = "mutation($p: ID!, $s: CareSetting!) { setCareSetting(patientId: $p, setting: $s, \
        inWelfareFacility: true) { careSetting inWelfareFacility } }";
    let refused = app.gql(Some(&hc1), welfare, json!({ "p": resident, "s": "ACCOMMODATION" })).await;
    assert_eq!(error_field(&refused), Some("inWelfareFacility"), "{refused}");
    let decided = ok(app.gql(Some(&hc1), welfare, json!({ "p": resident, "s": "HOME" })).await);
    assert_eq!(decided["setCareSetting"], json!({ "careSetting": "HOME", "inWelfareFacility": true }));

    let care = ok(app.gql(Some(&pref), CARE, json!({})).await)["statistics"]["careStatus"].clone();
    let delta = |field: &str| care[field].as_i64().unwrap_or(-1) - before[field].as_i64().unwrap_or(0);
    let deltas = ["hospital", "home", "welfareFacility", "beingArranged", "underCare"].map(delta);
    assert_eq!(deltas, [1, 1, 1, 1, 4], "{care}");

    // Refused reports change nothing.
    let input = |beds: i64, severe: i64, rooms: i64| json!({ "input": { "date": today.to_string(), "beds": beds, "severeBeds": severe, "accommodationRooms": rooms } });
    for (variables, field) in [
        (input(-1, 0, 10), "input.beds"),
        (input(10, 11, 10), "input.severeBeds"),
        (input(10, 1, 2_000_000), "input.accommodationRooms"),
        (
            json!({ "input": { "date": (today + Duration::days(1)).to_string(), "beds": 1, "severeBeds": 0,
            "accommodationRooms": 0 } }),
            "input.date",
        ),
    ] {
        let refused = app.gql(Some(&pref), CAPACITY, variables).await;
        assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{refused}");
        assert_eq!(error_field(&refused), Some(field), "{refused}");
    }
    for (token, variables) in [
        (&hc1, input(10, 1, 10)),
        (&analyst, input(10, 1, 10)),
        (
            &pref,
            json!({ "input": { "prefectureCode": "27", "date": today.to_string(), "beds": 1, "severeBeds": 0,
            "accommodationRooms": 0 } }),
        ),
    ] {
        let refused = app.gql(Some(token), CAPACITY, variables).await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    }
    let unchanged = ok(app.gql(Some(&pref), CARE, json!({})).await)["statistics"]["careStatus"].clone();
    assert_eq!(unchanged["bedsSecured"], Value::Null, "{unchanged}");

    // Beds for twice the people in hospital: occupancy 50%, stage IV.
    let in_hospital = care["hospital"].as_i64().expect("hospital");
    let reported = ok(app.gql(Some(&pref), CAPACITY, input(in_hospital * 2, 1, 40)).await);
    assert_eq!(reported["reportCapacity"]["prefectureCode"], "13", "{reported}");
    let first_report = Utc::now();
    let care = ok(app.gql(Some(&pref), CARE, json!({})).await)["statistics"]["careStatus"].clone();
    assert_eq!(care["bedsSecured"], in_hospital * 2, "{care}");
    assert_eq!(care["severeBedsSecured"], 1, "{care}");
    assert_eq!(care["accommodationRoomsSecured"], 40, "{care}");
    assert!(close(&care["bedOccupancy"], 0.5), "{care}");

    let stage = ok(app.gql(Some(&pref), STAGE, json!({ "p": "13" })).await)["statistics"]["stageIndicators"].clone();
    assert_eq!(stage["date"], today.to_string(), "{stage}");
    assert_eq!(stage["population"], 14_047_594, "{stage}");
    assert!(stage["populationSource"].as_str().is_some_and(|s| s.contains("2020 Population Census")), "{stage}");
    let under_care = stage["underCare"].as_i64().expect("under care");
    let cases = stage["newCasesLastWeek"].as_i64().expect("cases");
    let tests = stage["testsLastWeek"].as_i64().expect("tests");
    assert_eq!((cases, tests, stage["newCasesWeekBefore"].as_i64()), (4, 4, Some(0)), "{stage}");
    assert!(close(&stage["bedOccupancy"], 0.5), "{stage}");
    assert!(close(&stage["underCarePer100k"], under_care as f64 * 100_000.0 / TOKYO), "{stage}");
    assert!(close(&stage["newCasesPer100kLastWeek"], 4.0 * 100_000.0 / TOKYO), "{stage}");
    assert!(close(&stage["positivity"], 1.0), "every test positive: {stage}");
    assert_eq!(stage["weekOnWeekRatio"], Value::Null, "no case the week before: {stage}");
    assert_eq!(stage["unknownRouteShare"], json!(0.0), "no route unknown yet: {stage}");
    assert_eq!(stage["stageThree"], json!(["BED_OCCUPANCY", "POSITIVITY"]), "{stage}");
    assert_eq!(stage["stageFour"], json!(["BED_OCCUPANCY", "POSITIVITY"]), "{stage}");

    // A later report of the same day: more beds, from then on only.
    clock.advance(Duration::minutes(5));
    let pref = app.login("pref13").await;
    ok(app.gql(Some(&pref), CAPACITY, input(in_hospital * 10, 2, 40)).await);
    let now = ok(app.gql(Some(&pref), STAGE, json!({ "p": "13" })).await)["statistics"]["stageIndicators"].clone();
    assert!(close(&now["bedOccupancy"], 0.1), "{now}");
    assert_eq!(now["stageThree"], json!(["POSITIVITY"]), "{now}");
    let then = ok(app.gql(Some(&pref), STAGE, json!({ "p": "13", "at": stamp(first_report) })).await);
    assert!(close(&then["statistics"]["stageIndicators"]["bedOccupancy"], 0.5), "as published then: {then}");
    // The reports are kept as made, even against the database directly.
    {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(app.database_url.as_str()).await.expect("direct connection");
        assert!(db.execute_unprepared("UPDATE prefecture_capacity SET beds = 0").await.is_err());
        assert!(db.execute_unprepared("DELETE FROM prefecture_capacity").await.is_err());
        let _ = db.close().await;
    }

    // The analyst sees the nation: the same beds (Tokyo alone reported),
    // the national population.
    let analyst = app.login("analyst1").await;
    let nation = ok(app.gql(Some(&analyst), STAGE, json!({})).await)["statistics"]["stageIndicators"].clone();
    assert_eq!(nation["population"], 126_146_099, "{nation}");
    assert_eq!(nation["prefectureCode"], Value::Null, "{nation}");
    assert_eq!(nation["bedsSecured"], in_hospital * 10, "{nation}");
    // A health centre's district has no population of its own.
    let hc1 = app.login("hc1").await;
    let refused = app.gql(Some(&hc1), STAGE, json!({})).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    let district = ok(app.gql(Some(&hc1), CARE, json!({})).await)["statistics"]["careStatus"].clone();
    assert_eq!(district["bedsSecured"], Value::Null, "beds are the prefecture's: {district}");
    assert_eq!(district["beingArranged"], care["beingArranged"], "{district}");
}

/// A cluster named at a restaurant and another at a workplace, counted by
/// setting as of each moment; five positives whose route is dining, five
/// in households and one unknown, in the cross-tabulation by route.
async fn clusters_by_setting_and_the_route_cross_tab_count_what_was_recorded(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let analyst = app.login("analyst1").await;
    let mut dining = Vec::new();
    for kana in ["イショク イチ", "イショク ニ", "イショク サン", "イショク ヨン", "イショク ゴ"]
    {
        let id = positive(&app, &clinic, kana).await;
        set_route(&app, &clinic, &id, "DINING").await;
        dining.push(id);
    }
    for kana in ["カテイ イチ", "カテイ ニ", "カテイ サン", "カテイ ヨン", "カテイ ゴ"] {
        let id = positive(&app, &clinic, kana).await;
        set_route(&app, &clinic, &id, "HOUSEHOLD").await;
    }
    let unknown = positive(&app, &clinic, "フメイ イチ").await;
    set_route(&app, &clinic, &unknown, "UNKNOWN").await;

    let create = "mutation($name: String!, $s: ExposureSetting!) { createCluster(input: { name: $name, setting: $s }) \
        { id } }";
    let add = "mutation($c: ID!, $p: ID!) { addToCluster(clusterId: $c, patientId: $p) { id } }";
    let restaurant =
        ok(app.gql(Some(&hc1), create, json!({ "name": "Restaurant A", "s": "DINING" })).await)["createCluster"]["id"]
            .clone();
    for id in &dining {
        ok(app.gql(Some(&hc1), add, json!({ "c": restaurant, "p": id })).await);
    }
    let named = Utc::now();
    let office =
        ok(app.gql(Some(&hc1), create, json!({ "name": "Office B", "s": "WORKPLACE" })).await)["createCluster"]["id"]
            .clone();
    ok(app.gql(Some(&hc1), add, json!({ "c": office, "p": unknown })).await);

    let by_setting = "query($p: String, $at: DateTime) { statistics { clustersBySetting(prefectureCode: $p, \
        asOf: $at) { setting clusters members } } }";
    let now = ok(app.gql(Some(&analyst), by_setting, json!({ "p": "13" })).await);
    assert_eq!(
        now["statistics"]["clustersBySetting"],
        json!([
            { "setting": "WORKPLACE", "clusters": 1, "members": 1 },
            { "setting": "DINING", "clusters": 1, "members": 5 },
        ]),
        "{now}"
    );
    let then = ok(app.gql(Some(&analyst), by_setting, json!({ "at": stamp(named) })).await);
    assert_eq!(
        then["statistics"]["clustersBySetting"],
        json!([{ "setting": "DINING", "clusters": 1, "members": 5 }]),
        "as of before the office was named: {then}"
    );
    let osaka = ok(app.gql(Some(&analyst), by_setting, json!({ "p": "27" })).await);
    assert_eq!(osaka["statistics"]["clustersBySetting"], json!([]), "{osaka}");

    let tab = "query($d: Date!) { statistics { crossTab(dimensions: [ROUTE], from: $d, to: $d) { \
        cells { route count suppressed } } } }";
    let today = jst_today().to_string();
    let table = ok(app.gql(Some(&analyst), tab, json!({ "d": today })).await);
    let cells = table["statistics"]["crossTab"]["cells"].as_array().cloned().unwrap_or_default();
    let cell = |route: &str| cells.iter().find(|c| c["route"] == route).cloned();
    assert_eq!(cell("DINING"), Some(json!({ "route": "DINING", "count": 5, "suppressed": false })), "{table}");
    // One unknown is under k: suppressed, and so is the smallest other cell
    // of the line (the first in order on a tie), so that the total gives
    // neither away.
    assert_eq!(cell("UNKNOWN"), Some(json!({ "route": "UNKNOWN", "count": null, "suppressed": true })), "{table}");
    assert_eq!(cell("HOUSEHOLD"), Some(json!({ "route": "HOUSEHOLD", "count": null, "suppressed": true })), "{table}");
}

async fn get(app: &TestApp, file: &str, as_of: &str) -> (String, String) {
    let response =
        app.client.get(app.url(&format!("/opendata/{file}"))).query(&[("asOf", as_of)]).send().await.expect("sent");
    assert_eq!(response.status().as_u16(), 200, "{file}");
    let modified =
        response.headers().get("last-modified").and_then(|v| v.to_str().ok()).map(str::to_owned).unwrap_or_default();
    (modified, response.text().await.expect("text"))
}

/// The weekly unknown-route share and the daily stage indicators as open
/// data, in the MHLW wide layout, agree with the API's figures for the
/// same publication.
async fn the_open_data_files_of_the_indicators_agree_with_the_api(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let clinic = app.login("clinic1").await;
    let pref = app.login("pref13").await;
    let today = jst_today();
    for (kana, route) in [("ケイロ イチ", "UNKNOWN"), ("ケイロ ニ", "UNKNOWN"), ("ケイロ サン", "HOUSEHOLD")]
    {
        let id = positive(&app, &clinic, kana).await;
        set_route(&app, &clinic, &id, route).await;
    }
    let capacity = "mutation($d: Date!) { reportCapacity(input: { date: $d, beds: 50, severeBeds: 5, \
        accommodationRooms: 20 }) { beds } }";
    ok(app.gql(Some(&pref), capacity, json!({ "d": today.to_string() })).await);

    // Eight days on, this week is complete and published.
    clock.advance(Duration::days(8));
    let later = stamp(Utc::now() + Duration::days(8));
    let (modified, weekly) = get(&app, "unknown_route_share_weekly.csv", &later).await;
    let lines: Vec<&str> = weekly.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(header.len(), 49, "{weekly}");
    assert_eq!((header[0], header[1], header[14], header[28]), ("Week", "ALL", "Tokyo", "Osaka"));
    let monday = today - Duration::days(i64::from(chrono::Datelike::weekday(&today).num_days_from_monday()));
    let row: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with(&format!("{},", monday.format("%Y/%-m/%-d"))))
        .unwrap_or_else(|| panic!("no row for the week of {monday}: {weekly}"))
        .split(',')
        .collect();
    assert_eq!(row.len(), 49);
    assert_eq!((row[1], row[14], row[28]), ("0.6667", "0.6667", ""), "two of three unknown; none in Osaka");

    let (_, daily) = get(&app, "stage_indicators_daily.csv", &later).await;
    let lines: Vec<&str> = daily.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!((header.len(), header[0], header[1], header[2], header[15]), (50, "Date", "Indicator", "ALL", "Tokyo"));
    let date = today.format("%Y/%-m/%-d").to_string();
    let value = |indicator: &str| -> String {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{date},{indicator},")))
            .unwrap_or_else(|| panic!("no {indicator} for {date}: {daily}"));
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 50, "{line}");
        cells[15].to_owned()
    };
    // The API's figures for the same day as of the same publication.
    let moment = DateTime::parse_from_rfc2822(&modified.replace("GMT", "+0000"))
        .unwrap_or_else(|_| panic!("{modified}"))
        .with_timezone(&Utc);
    let analyst = app.login("analyst1").await;
    let api = ok(app
        .gql(Some(&analyst), STAGE, json!({ "p": "13", "d": today.to_string(), "at": stamp(moment) }))
        .await)["statistics"]["stageIndicators"]
        .clone();
    let fixed = |field: &str, decimals: usize| format!("{:.decimals$}", api[field].as_f64().unwrap_or(f64::NAN));
    assert_eq!(value("BED_OCCUPANCY"), fixed("bedOccupancy", 4), "{api}");
    assert_eq!(value("UNDER_CARE_PER_100K"), fixed("underCarePer100k", 2), "{api}");
    assert_eq!(value("POSITIVITY"), "1.0000", "{api}");
    assert_eq!(value("NEW_CASES_PER_100K"), format!("{:.2}", 3.0 * 100_000.0 / TOKYO));
    assert_eq!(value("NEW_CASES_PER_100K"), fixed("newCasesPer100kLastWeek", 2));
    assert_eq!(value("WEEK_ON_WEEK_RATIO"), "", "no case the week before");
    assert_eq!(value("UNKNOWN_ROUTE_SHARE"), "0.6667");
    assert_eq!(value("UNKNOWN_ROUTE_SHARE"), fixed("unknownRouteShare", 4));
}
