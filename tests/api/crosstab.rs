//! `statistics { crossTab }` on small hand-built data, every expected cell
//! worked out here: small-cell and complementary suppression, exact cells,
//! the dimensions' definitions, reproducibility as of a moment, areas per
//! role, and refused input.

use std::sync::Arc;

use chrono::{Datelike, Duration, Utc};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, error_field, spawn_app, spawn_app_with_clock};

both!(
    a_small_cell_of_a_one_dimension_table_takes_the_smallest_other_cell_with_it,
    a_small_cell_of_a_two_dimension_table_is_protected_in_its_row_and_its_column,
    cells_of_at_least_k_people_are_exact_and_k_may_only_be_raised,
    the_dimensions_follow_their_definitions_and_a_table_stays_the_same_as_of_a_moment,
    each_role_cross_tabulates_its_own_area_only,
    bad_cross_tab_arguments_are_refused,
    a_table_for_publication_gives_nothing_away_beside_the_daily_totals_or_a_second_later,
);

const CROSS_TAB: &str = "query($d: [CrossTabDimension!]!, $from: Date!, $to: Date!, $p: String, $sex: Sex, \
    $ct: CaseType, $asOf: DateTime, $k: Int) { statistics { crossTab(dimensions: $d, from: $from, to: $to, \
    prefectureCode: $p, sex: $sex, caseType: $ct, asOf: $asOf, k: $k) { asOf k dimensions cells { period \
    prefectureCode healthCentreCode ageBand sex caseType careSetting severity outcome count suppressed } } } }";

/// The response field of each dimension.
const FIELDS: &[(&str, &str)] = &[
    ("DAY", "period"),
    ("WEEK", "period"),
    ("PREFECTURE", "prefectureCode"),
    ("HEALTH_CENTRE", "healthCentreCode"),
    ("AGE_BAND", "ageBand"),
    ("SEX", "sex"),
    ("CASE_TYPE", "caseType"),
    ("CARE_SETTING", "careSetting"),
    ("SEVERITY", "severity"),
    ("OUTCOME", "outcome"),
];

/// A cell as (its values of the dimensions, in order, "-" for null; its
/// count, None when suppressed).
type Cell = (Vec<String>, Option<i64>);

/// Runs `crossTab` for June 2026 with `dimensions` and further variables.
async fn cross_tab(app: &TestApp, token: &str, dimensions: &[&str], extra: Value) -> Value {
    let mut variables = json!({ "d": dimensions, "from": "2026-06-01", "to": "2026-06-30" });
    if let (Some(variables), Some(extra)) = (variables.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            variables.insert(key.clone(), value.clone());
        }
    }
    app.gql(Some(token), CROSS_TAB, variables).await
}

/// The cells of a successful response, checked for consistency: the
/// dimensions echoed, fields of other dimensions null, `suppressed` exactly
/// when `count` is null.
fn cells(response: &Value, dimensions: &[&str]) -> Vec<Cell> {
    let table = &response["data"]["statistics"]["crossTab"];
    let list = table["cells"].as_array().unwrap_or_else(|| panic!("{response}"));
    let mut echoed: Vec<&str> = Vec::new();
    for d in dimensions {
        if !echoed.contains(d) {
            echoed.push(d);
        }
    }
    assert_eq!(table["dimensions"], json!(echoed), "{response}");
    let chosen: Vec<&str> =
        echoed.iter().filter_map(|d| FIELDS.iter().find(|(name, _)| name == d).map(|(_, field)| *field)).collect();
    list.iter()
        .map(|cell| {
            for (_, field) in FIELDS {
                if !chosen.contains(field) {
                    assert!(cell[*field].is_null(), "{field} is not a dimension: {cell}");
                }
            }
            assert_eq!(cell["suppressed"].as_bool(), Some(cell["count"].is_null()), "{cell}");
            let values = chosen.iter().map(|field| cell[*field].as_str().unwrap_or("-").to_owned()).collect();
            (values, cell["count"].as_i64())
        })
        .collect()
}

fn cell(values: &[&str], count: Option<i64>) -> Cell {
    (values.iter().map(|v| (*v).to_owned()).collect(), count)
}

/// A person to register and confirm: sex, birth date, case type, whether
/// registered for Osaka, and the tests (kind of result, sampling moment).
struct Person {
    sex: &'static str,
    birth_date: String,
    case_type: &'static str,
    osaka: bool,
    tests: Vec<(&'static str, &'static str)>,
}

fn person(sex: &'static str, osaka: bool, sampled_at: &'static str) -> Person {
    Person {
        sex,
        birth_date: "1980-04-01".to_owned(),
        case_type: "CONFIRMED",
        osaka,
        tests: vec![("POSITIVE", sampled_at)],
    }
}

fn many(n: usize, make: impl Fn() -> Person) -> Vec<Person> {
    (0..n).map(|_| make()).collect()
}

async fn record_test(app: &TestApp, clinic: &str, patient: &str, result: &str, sampled_at: &str) -> String {
    let response = app
        .gql(
            Some(clinic),
            "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
            json!({ "input": { "patientId": patient, "kind": "PCR", "result": result, "sampledAt": sampled_at } }),
        )
        .await;
    response["data"]["recordTest"]["id"].as_str().unwrap_or_else(|| panic!("{response}")).to_owned()
}

/// Registers the people (through clinic1) and records their tests, five at
/// a time; returns their IDs in order.
async fn enter(app: &TestApp, people: &[Person]) -> Vec<String> {
    let clinic = app.login("clinic1").await;
    let hc3 = app.login("hc3").await;
    let osaka = app.health_centre_id(&hc3, "271004").await;
    let mut ids = Vec::new();
    for chunk in people.chunks(5) {
        let registered = join_all(chunk.iter().map(|p| {
            let mut extra = json!({ "sex": p.sex, "birthDate": p.birth_date, "caseType": p.case_type });
            if p.osaka {
                extra["healthCentreId"] = json!(osaka);
            }
            app.register_patient(&clinic, "シュウケイ タロウ", extra)
        }))
        .await;
        let chunk_ids: Vec<String> = registered.into_iter().map(|(id, _)| id).collect();
        join_all(chunk.iter().zip(&chunk_ids).map(|(p, id)| async {
            for (result, sampled_at) in &p.tests {
                record_test(app, &clinic, id, result, sampled_at).await;
            }
        }))
        .await;
        ids.extend(chunk_ids);
    }
    ids
}

/// Tokyo (Minato, hc1's district): 6 men (one sampled 00:30 on 1 June in
/// Japan, still 31 May in UTC), 1 woman, 5 of unknown sex; plus a woman
/// first positive on 31 May (Japan time) and a man tested negative, who
/// are not counted. Osaka: 8 men (5 of them asymptomatic carriers), 5
/// women, 6 of unknown sex.
async fn two_prefectures(app: &TestApp) {
    let mut people = Vec::new();
    people.extend(many(5, || person("MALE", false, "2026-06-02T01:00:00Z")));
    people.push(person("MALE", false, "2026-05-31T15:30:00Z"));
    people.push(person("FEMALE", false, "2026-06-03T01:00:00Z"));
    people.extend(many(5, || person("UNKNOWN", false, "2026-06-04T01:00:00Z")));
    let mut late_in_may = person("FEMALE", false, "2026-05-31T14:00:00Z");
    late_in_may.tests.push(("POSITIVE", "2026-06-02T01:00:00Z"));
    people.push(late_in_may);
    people.push(Person { tests: vec![("NEGATIVE", "2026-06-02T01:00:00Z")], ..person("MALE", false, "") });
    people.extend(many(5, || Person {
        case_type: "ASYMPTOMATIC_CARRIER",
        ..person("MALE", true, "2026-06-10T01:00:00Z")
    }));
    people.extend(many(3, || person("MALE", true, "2026-06-10T01:00:00Z")));
    people.extend(many(5, || person("FEMALE", true, "2026-06-11T01:00:00Z")));
    people.extend(many(6, || person("UNKNOWN", true, "2026-06-12T01:00:00Z")));
    enter(app, &people).await;
}

async fn a_small_cell_of_a_one_dimension_table_takes_the_smallest_other_cell_with_it(backend: Backend) {
    let app = spawn_app(backend).await;
    two_prefectures(&app).await;
    let analyst = app.login("analyst1").await;

    // Tokyo: men 6, women 1, unknown 5. The woman's cell is under 5; the
    // smallest other cell (unknown, 5) goes with it, or 12 − 6 would give
    // the woman away. Men stay exact.
    let response = cross_tab(&app, &analyst, &["SEX"], json!({ "p": "13" })).await;
    assert_eq!(
        cells(&response, &["SEX"]),
        vec![cell(&["MALE"], Some(6)), cell(&["FEMALE"], None), cell(&["UNKNOWN"], None)],
        "{response}"
    );
    assert_eq!(response["data"]["statistics"]["crossTab"]["k"], 5);

    // By day in Tokyo: 1 June 1 (the man sampled 00:30 in Japan), 2 June 5,
    // 3 June 1, 4 June 5. Two small cells protect each other: nothing more
    // is suppressed.
    let response = cross_tab(&app, &analyst, &["DAY"], json!({ "p": "13" })).await;
    assert_eq!(
        cells(&response, &["DAY"]),
        vec![
            cell(&["2026-06-01"], None),
            cell(&["2026-06-02"], Some(5)),
            cell(&["2026-06-03"], None),
            cell(&["2026-06-04"], Some(5)),
        ],
        "{response}"
    );

    // Women nationwide by prefecture: Tokyo 1, Osaka 5: both suppressed.
    let response = cross_tab(&app, &analyst, &["PREFECTURE"], json!({ "sex": "FEMALE" })).await;
    assert_eq!(cells(&response, &["PREFECTURE"]), vec![cell(&["13"], None), cell(&["27"], None)], "{response}");
}

async fn a_small_cell_of_a_two_dimension_table_is_protected_in_its_row_and_its_column(backend: Backend) {
    let app = spawn_app(backend).await;
    two_prefectures(&app).await;
    let analyst = app.login("analyst1").await;

    //            MALE  FEMALE  UNKNOWN
    //   13 Tokyo    6       1        5
    //   27 Osaka    8       5        6
    // (13, FEMALE) is under 5. Its column FEMALE has no other suppressed
    // cell: (27, FEMALE) goes. Its row 13: the smallest other is
    // (13, UNKNOWN) = 5. Row 27 now has (27, FEMALE) alone: its smallest
    // other is (27, UNKNOWN) = 6. Column UNKNOWN then holds two, column
    // MALE none: every line has 0 or 2+ suppressed cells.
    let response = cross_tab(&app, &analyst, &["PREFECTURE", "SEX"], json!({})).await;
    assert_eq!(
        cells(&response, &["PREFECTURE", "SEX"]),
        vec![
            cell(&["13", "MALE"], Some(6)),
            cell(&["13", "FEMALE"], None),
            cell(&["13", "UNKNOWN"], None),
            cell(&["27", "MALE"], Some(8)),
            cell(&["27", "FEMALE"], None),
            cell(&["27", "UNKNOWN"], None),
        ],
        "{response}"
    );

    // The same table with the dimensions the other way round: the same
    // cells, sorted by sex first.
    let response = cross_tab(&app, &analyst, &["SEX", "PREFECTURE"], json!({})).await;
    assert_eq!(
        cells(&response, &["SEX", "PREFECTURE"]),
        vec![
            cell(&["MALE", "13"], Some(6)),
            cell(&["MALE", "27"], Some(8)),
            cell(&["FEMALE", "13"], None),
            cell(&["FEMALE", "27"], None),
            cell(&["UNKNOWN", "13"], None),
            cell(&["UNKNOWN", "27"], None),
        ],
        "{response}"
    );

    // Health centre × case type: Minato has 12 confirmed; Osaka 14
    // confirmed and 5 asymptomatic carriers. No small cell.
    let response = cross_tab(&app, &analyst, &["HEALTH_CENTRE", "CASE_TYPE"], json!({})).await;
    assert_eq!(
        cells(&response, &["HEALTH_CENTRE", "CASE_TYPE"]),
        vec![
            cell(&["131032", "CONFIRMED"], Some(12)),
            cell(&["271004", "CONFIRMED"], Some(14)),
            cell(&["271004", "ASYMPTOMATIC_CARRIER"], Some(5)),
        ],
        "{response}"
    );
}

async fn cells_of_at_least_k_people_are_exact_and_k_may_only_be_raised(backend: Backend) {
    let app = spawn_app(backend).await;
    two_prefectures(&app).await;
    let analyst = app.login("analyst1").await;

    // Nationwide: men 14, women 6, unknown 11; none under 5.
    let response = cross_tab(&app, &analyst, &["SEX"], json!({})).await;
    assert_eq!(
        cells(&response, &["SEX"]),
        vec![cell(&["MALE"], Some(14)), cell(&["FEMALE"], Some(6)), cell(&["UNKNOWN"], Some(11))],
        "{response}"
    );
    // Asymptomatic carriers: 5 Osaka men, exactly k.
    let response = cross_tab(&app, &analyst, &["PREFECTURE", "SEX"], json!({ "ct": "ASYMPTOMATIC_CARRIER" })).await;
    assert_eq!(cells(&response, &["PREFECTURE", "SEX"]), vec![cell(&["27", "MALE"], Some(5))], "{response}");
    // No dimension: one cell, the total (12 in Tokyo, 19 in Osaka).
    let response = cross_tab(&app, &analyst, &[], json!({})).await;
    assert_eq!(cells(&response, &[]), vec![cell(&[], Some(31))], "{response}");

    // k = 7: women (6) fall under it and take the smallest other, unknown
    // (11), with them.
    let response = cross_tab(&app, &analyst, &["SEX"], json!({ "k": 7 })).await;
    assert_eq!(response["data"]["statistics"]["crossTab"]["k"], 7, "{response}");
    assert_eq!(
        cells(&response, &["SEX"]),
        vec![cell(&["MALE"], Some(14)), cell(&["FEMALE"], None), cell(&["UNKNOWN"], None)],
        "{response}"
    );
    // k = 15: every cell is under it.
    let response = cross_tab(&app, &analyst, &["SEX"], json!({ "k": 15 })).await;
    assert_eq!(
        cells(&response, &["SEX"]),
        vec![cell(&["MALE"], None), cell(&["FEMALE"], None), cell(&["UNKNOWN"], None)],
        "{response}"
    );
    // Repeated dimensions count once.
    let response = cross_tab(&app, &analyst, &["SEX", "SEX"], json!({})).await;
    assert_eq!(cells(&response, &["SEX"]).len(), 3, "{response}");
}

/// A birth date making someone 29 today whose year of birth alone would
/// make them 30: the age band must count the birthday.
fn birth_date_29_turning_30_tomorrow() -> String {
    let tomorrow = Utc::now().date_naive() + chrono::Days::new(1);
    let born = tomorrow.with_year(tomorrow.year() - 30).unwrap_or_else(|| {
        // 29 February: born 1 March, still 29 today (28 February).
        chrono::NaiveDate::from_ymd_opt(tomorrow.year() - 30, 3, 1).unwrap_or_default()
    });
    born.format("%Y-%m-%d").to_string()
}

async fn the_dimensions_follow_their_definitions_and_a_table_stays_the_same_as_of_a_moment(backend: Backend) {
    let app = spawn_app(backend).await;
    let analyst = app.login("analyst1").await;
    let hc1 = app.login("hc1").await;
    let hospital = app.login("hospital1").await;

    // Group A: 5 people sampled Wednesday 3 June, aged 46, sent home.
    // Group B: 5 sampled at 00:30 on Monday 8 June in Japan (still Sunday
    // 7 June in UTC), aged 29, admitted MODERATE_I.
    let mut people = many(5, || person("MALE", false, "2026-06-03T01:00:00Z"));
    let born_b = birth_date_29_turning_30_tomorrow();
    people.extend(many(5, || Person { birth_date: born_b.clone(), ..person("MALE", false, "2026-06-07T15:30:00Z") }));
    let ids = enter(&app, &people).await;
    let (a, b) = ids.split_at(5);
    join_all(a.iter().map(|p| {
        app.gql(
            Some(&hc1),
            "mutation($p: ID!) { setCareSetting(patientId: $p, setting: HOME) { id } }",
            json!({ "p": p }),
        )
    }))
    .await;
    let stays: Vec<Value> = join_all(b.iter().map(|p| {
        app.gql(
            Some(&hc1),
            "mutation($p: ID!) { admitPatient(patientId: $p, facilityId: \"2\", severity: MODERATE_I) { id } }",
            json!({ "p": p }),
        )
    }))
    .await
    .into_iter()
    .map(|r| {
        assert!(r["data"]["admitPatient"]["id"].is_string(), "{r}");
        r["data"]["admitPatient"]["id"].clone()
    })
    .collect();

    // The moment a table is published.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let published = Utc::now().to_rfc3339();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    // Later: group A recovers, group B becomes severe, and a late positive
    // sampled on 3 June is entered for a new person.
    join_all(a.iter().map(|p| {
        app.gql(
            Some(&hc1),
            "mutation($p: ID!) { recordOutcome(patientId: $p, outcome: RECOVERED) { id } }",
            json!({ "p": p }),
        )
    }))
    .await;
    join_all(stays.iter().map(|h| {
        app.gql(
            Some(&hospital),
            "mutation($h: ID!) { recordCondition(hospitalisationId: $h, severity: SEVERE) { id } }",
            json!({ "h": h }),
        )
    }))
    .await;
    enter(&app, &[person("MALE", false, "2026-06-03T01:00:00Z")]).await;

    let at = |moment: &str| json!({ "asOf": moment, "k": 5 });
    let now = json!({});
    let table = |dimensions: &'static [&'static str], extra: Value| {
        let app = &app;
        let analyst = &analyst;
        async move {
            let response = cross_tab(app, analyst, dimensions, extra).await;
            cells(&response, dimensions)
        }
    };

    // Day and week, in Japan time.
    let as_published = vec![cell(&["2026-06-03"], Some(5)), cell(&["2026-06-08"], Some(5))];
    assert_eq!(table(&["DAY"], at(&published)).await, as_published, "the late positive is not there yet");
    assert_eq!(
        table(&["DAY"], now.clone()).await,
        vec![cell(&["2026-06-03"], Some(6)), cell(&["2026-06-08"], Some(5))],
        "the late positive counts on its sampling day"
    );
    assert_eq!(
        table(&["WEEK"], at(&published)).await,
        vec![cell(&["2026-06-01"], Some(5)), cell(&["2026-06-08"], Some(5))],
        "weeks start on Monday, Japan time"
    );

    // Age at registration: 46, and 29 the day before turning 30.
    assert_eq!(
        table(&["AGE_BAND"], at(&published)).await,
        vec![cell(&["AGE_20_TO_29"], Some(5)), cell(&["AGE_40_TO_49"], Some(5))]
    );

    // Care setting as of the moment: B in hospital since admission.
    assert_eq!(
        table(&["CARE_SETTING"], at(&published)).await,
        vec![cell(&["HOSPITAL"], Some(5)), cell(&["HOME"], Some(5))]
    );
    // Now the late person is UNDECIDED (1, suppressed, with the smallest
    // other: the first of the two 5s in sort order, HOSPITAL).
    assert_eq!(
        table(&["CARE_SETTING"], now.clone()).await,
        vec![cell(&["UNDECIDED"], None), cell(&["HOSPITAL"], None), cell(&["HOME"], Some(5))]
    );

    // Severity: not admitted (null) first; MODERATE_I then, SEVERE now.
    assert_eq!(table(&["SEVERITY"], at(&published)).await, vec![cell(&["-"], Some(5)), cell(&["MODERATE_I"], Some(5))]);
    assert_eq!(table(&["SEVERITY"], now.clone()).await, vec![cell(&["-"], Some(6)), cell(&["SEVERE"], Some(5))]);

    // Outcome: none yet as of the moment; A recovered since.
    assert_eq!(table(&["OUTCOME"], at(&published)).await, vec![cell(&["-"], Some(10))]);
    assert_eq!(table(&["OUTCOME"], now).await, vec![cell(&["-"], Some(6)), cell(&["RECOVERED"], Some(5))]);

    // The same moment gives the same table, moment included.
    let first = cross_tab(&app, &analyst, &["WEEK", "SEVERITY"], at(&published)).await;
    let again = cross_tab(&app, &analyst, &["WEEK", "SEVERITY"], at(&published)).await;
    assert_eq!(first, again);
    let reported = first["data"]["statistics"]["crossTab"]["asOf"].as_str().unwrap_or_default();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(reported).ok(),
        chrono::DateTime::parse_from_rfc3339(&published).ok(),
        "{first}"
    );
    assert_eq!(
        cells(&first, &["WEEK", "SEVERITY"]),
        vec![cell(&["2026-06-01", "-"], Some(5)), cell(&["2026-06-08", "MODERATE_I"], Some(5))]
    );
    // Before anything was recorded: no cells at all.
    assert_eq!(table(&["DAY"], at("2026-05-31T00:00:00Z")).await, vec![]);
}

async fn each_role_cross_tabulates_its_own_area_only(backend: Backend) {
    let app = spawn_app(backend).await;
    two_prefectures(&app).await;

    // hc1's district is Minato: the Tokyo people only.
    let hc1 = app.login("hc1").await;
    let response = cross_tab(&app, &hc1, &["PREFECTURE", "HEALTH_CENTRE", "SEX"], json!({})).await;
    assert_eq!(
        cells(&response, &["PREFECTURE", "HEALTH_CENTRE", "SEX"]),
        vec![
            cell(&["13", "131032", "MALE"], Some(6)),
            cell(&["13", "131032", "FEMALE"], None),
            cell(&["13", "131032", "UNKNOWN"], None),
        ],
        "{response}"
    );
    // pref13 sees Tokyo, with or without saying so.
    let pref = app.login("pref13").await;
    for extra in [json!({}), json!({ "p": "13" })] {
        let response = cross_tab(&app, &pref, &["PREFECTURE"], extra).await;
        assert_eq!(cells(&response, &["PREFECTURE"]), vec![cell(&["13"], Some(12))], "{response}");
    }

    for (username, prefecture) in [("pref13", Some("27")), ("hc1", Some("13")), ("clinic1", None), ("admin1", None)] {
        let token = app.login(username).await;
        let refused = cross_tab(&app, &token, &["SEX"], json!({ "p": prefecture })).await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{username}: {refused}");
    }
    let anonymous = app.gql(None, CROSS_TAB, json!({ "d": ["SEX"], "from": "2026-06-01", "to": "2026-06-30" })).await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"), "{anonymous}");
}

async fn bad_cross_tab_arguments_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let analyst = app.login("analyst1").await;
    let refused = |dimensions: &'static [&'static str], variables: Value| {
        let app = &app;
        let analyst = &analyst;
        async move {
            let response = cross_tab(app, analyst, dimensions, variables).await;
            assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
            assert!(response["data"].is_null() || response["data"]["statistics"].is_null(), "{response}");
            error_field(&response).map(str::to_owned)
        }
    };
    assert_eq!(refused(&["DAY", "WEEK"], json!({})).await.as_deref(), Some("dimensions"));
    assert_eq!(refused(&["SEX"], json!({ "from": "2026-06-02", "to": "2026-06-01" })).await.as_deref(), Some("to"));
    assert_eq!(refused(&["SEX"], json!({ "from": "2025-05-31", "to": "2026-06-01" })).await.as_deref(), Some("to"));
    assert_eq!(refused(&["SEX"], json!({ "k": 2 })).await.as_deref(), Some("k"));
    assert_eq!(refused(&["SEX"], json!({ "asOf": "2999-01-01T00:00:00Z" })).await.as_deref(), Some("asOf"));

    // 366 days is the most: 2024 was a leap year.
    let response = cross_tab(&app, &analyst, &["SEX"], json!({ "from": "2024-01-01", "to": "2024-12-31" })).await;
    assert_eq!(cells(&response, &["SEX"]), vec![], "{response}");
    let unknown = cross_tab(&app, &analyst, &["SEX"], json!({ "p": "99" })).await;
    assert_eq!(error_code(&unknown), Some("NOT_FOUND"), "{unknown}");
}

const FOR_PUBLICATION: &str = "query($d: [CrossTabDimension!]!, $from: Date!, $to: Date!, $asOf: DateTime, \
    $pub: Boolean) { statistics { crossTab(dimensions: $d, from: $from, to: $to, asOf: $asOf, forPublication: $pub) \
    { asOf cells { period sex ageBand count suppressed } } } }";

async fn a_table_for_publication_gives_nothing_away_beside_the_daily_totals_or_a_second_later(backend: Backend) {
    let clock = Arc::new(hersys::clock::ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    // 1 June: one man in his nineties. 2 June: six men in their forties and
    // two women in their thirties. The daily totals (1 and 8) are published.
    let mut people =
        vec![Person { birth_date: "1930-04-01".to_owned(), ..person("MALE", false, "2026-06-01T03:00:00Z") }];
    people.extend(many(6, || person("MALE", false, "2026-06-02T03:00:00Z")));
    people.extend(many(2, || Person {
        birth_date: "1992-04-01".to_owned(),
        ..person("FEMALE", false, "2026-06-02T03:00:00Z")
    }));
    enter(&app, &people).await;
    clock.advance(Duration::days(1));
    let analyst = app.login("analyst1").await;
    let ask = |publication: bool, as_of: Option<String>| {
        let variables = json!({ "d": ["DAY", "SEX", "AGE_BAND"], "from": "2026-06-01", "to": "2026-06-02",
            "asOf": as_of, "pub": publication });
        app.gql(Some(&analyst), FOR_PUBLICATION, variables)
    };
    let table = |response: &Value| -> Vec<Value> {
        response["data"]["statistics"]["crossTab"]["cells"].as_array().cloned().unwrap_or_else(|| panic!("{response}"))
    };

    // The working table (not for publication): the lone cell of 1 June is
    // suppressed but still says who the one person is, and the women's
    // cell of 2 June is the published 8 minus the men's 6.
    let working = ask(false, None).await;
    let cells = table(&working);
    let first_june: Vec<&Value> = cells.iter().filter(|c| c["period"] == "2026-06-01").collect();
    assert_eq!(first_june.len(), 1, "{working}");
    assert_eq!((first_june[0]["sex"].as_str(), first_june[0]["suppressed"].as_bool()), (Some("MALE"), Some(true)));
    let men = cells.iter().find(|c| c["period"] == "2026-06-02" && c["sex"] == "MALE").expect("the men");
    assert_eq!(men["count"], 6, "{working}");

    // For publication: 1 June shows only that it is withheld, and the men
    // of 2 June are withheld with the women.
    let published = ask(true, None).await;
    let cells = table(&published);
    let first_june: Vec<&Value> = cells.iter().filter(|c| c["period"] == "2026-06-01").collect();
    assert_eq!(first_june.len(), 1, "{published}");
    assert!(first_june[0]["sex"].is_null() && first_june[0]["ageBand"].is_null(), "{published}");
    assert_eq!(first_june[0]["suppressed"], true);
    let second_june: Vec<&Value> = cells.iter().filter(|c| c["period"] == "2026-06-02").collect();
    assert_eq!(second_june.len(), 2, "{published}");
    assert!(second_june.iter().all(|c| c["suppressed"] == true && c["count"].is_null()), "{published}");

    // As of the publication, whatever second is asked for.
    let moment = published["data"]["statistics"]["crossTab"]["asOf"].as_str().expect("asOf").to_owned();
    let now = (Utc::now() + Duration::days(1)).to_rfc3339();
    let a_second_before = (Utc::now() + Duration::days(1) - Duration::seconds(1)).to_rfc3339();
    let (one, two) = (ask(true, Some(now)).await, ask(true, Some(a_second_before)).await);
    assert_eq!(one["data"]["statistics"]["crossTab"]["asOf"], moment.as_str(), "{one}");
    assert_eq!(table(&one), table(&two));

    // Only days complete by the publication, whole weeks by WEEK.
    let today = (Utc::now() + Duration::days(1) + Duration::hours(9)).date_naive().to_string();
    let refused = app
        .gql(Some(&analyst), FOR_PUBLICATION, json!({ "d": ["DAY"], "from": "2026-06-01", "to": today, "pub": true }))
        .await;
    assert_eq!((error_code(&refused), error_field(&refused)), (Some("BAD_USER_INPUT"), Some("to")), "{refused}");
    let refused = app
        .gql(
            Some(&analyst),
            FOR_PUBLICATION,
            json!({ "d": ["WEEK"], "from": "2026-06-02", "to": "2026-06-14", "pub": true }),
        )
        .await;
    assert_eq!((error_code(&refused), error_field(&refused)), (Some("BAD_USER_INPUT"), Some("from")), "{refused}");
    let weeks = app
        .gql(
            Some(&analyst),
            FOR_PUBLICATION,
            json!({ "d": ["WEEK"], "from": "2026-06-01", "to": "2026-06-14", "pub": true }),
        )
        .await;
    assert!(weeks["errors"].is_null(), "{weeks}");
}
