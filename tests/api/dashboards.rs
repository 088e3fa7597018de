//! What dashboards ask of the patient list in one query: filters on the
//! fields they group by (sex, prefecture, open or ended, with the others of
//! `PatientFilterInput`), the order of registration, and the count, all
//! within the caller's row scope; and the root list of laboratory tests.

use chrono::Datelike;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, error_code, error_field, spawn_app};

both!(
    a_dashboard_filters_orders_and_counts_patients_in_one_query,
    patients_are_filtered_by_age_band_at_registration_and_by_severity_in_hospital,
    the_root_list_of_tests_filters_and_counts_within_the_callers_reach,
);

const LIST: &str = "query($filter: PatientFilterInput, $order: RegistrationOrder, $first: Int) {
    patients(filter: $filter, order: $order, first: $first) { totalCount nodes { id sex } } }";

/// The IDs the list answers, in its order, and its count.
fn listed(response: &Value) -> (Vec<String>, u64) {
    assert!(response["errors"].is_null(), "{response}");
    let page = &response["data"]["patients"];
    let ids = page["nodes"].as_array().into_iter().flatten().filter_map(|n| n["id"].as_str()).map(str::to_owned);
    (ids.collect(), page["totalCount"].as_u64().unwrap_or_else(|| panic!("{response}")))
}

async fn a_dashboard_filters_orders_and_counts_patients_in_one_query(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hc3 = app.login("hc3").await;
    let analyst = app.login("analyst1").await;
    let (man, _) = app.register_patient(&clinic, "ダッシュ イチ", json!({ "sex": "MALE" })).await;
    let (woman, _) = app.register_patient(&clinic, "ダッシュ ニ", json!({ "sex": "FEMALE" })).await;
    let (ended, _) = app.register_patient(&clinic, "ダッシュ サン", json!({ "sex": "FEMALE" })).await;
    let (osaka, _) = app.register_patient(&hc3, "ダッシュ ヨン", json!({ "sex": "FEMALE" })).await;
    let outcome = app
        .gql(
            Some(&hc1),
            "mutation($p: ID!) { recordOutcome(patientId: $p, outcome: RECOVERED) { id } }",
            json!({ "p": ended }),
        )
        .await;
    assert!(outcome["errors"].is_null(), "{outcome}");

    // Open cases of women in Tokyo, as an analyst sees the whole country.
    let filter = json!({ "sex": "FEMALE", "prefectureId": "13", "open": true });
    let (ids, count) = listed(&app.gql(Some(&analyst), LIST, json!({ "filter": filter, "first": 500 })).await);
    assert!(ids.contains(&woman), "{ids:?}");
    for other in [&man, &ended, &osaka] {
        assert!(!ids.contains(other), "{other} is not an open case of a woman in Tokyo: {ids:?}");
    }
    assert_eq!(count, ids.len() as u64, "the count is the whole list's");
    let (alone, count_alone) = listed(&app.gql(Some(&analyst), LIST, json!({ "filter": filter, "first": 0 })).await);
    assert!(alone.is_empty());
    assert_eq!(count_alone, count);

    // Ended cases; another prefecture.
    let (ids, _) = listed(&app.gql(Some(&analyst), LIST, json!({ "filter": { "open": false }, "first": 500 })).await);
    assert!(ids.contains(&ended) && !ids.contains(&woman), "{ids:?}");
    let (ids, _) =
        listed(&app.gql(Some(&analyst), LIST, json!({ "filter": { "prefectureId": "27" }, "first": 500 })).await);
    assert!(ids.contains(&osaka) && !ids.contains(&woman), "{ids:?}");

    // The order of registration, both ways.
    let ours = [&man, &woman, &ended];
    let (newest, _) = listed(&app.gql(Some(&hc1), LIST, json!({ "first": 500 })).await);
    let (oldest, _) = listed(&app.gql(Some(&hc1), LIST, json!({ "order": "OLDEST_FIRST", "first": 500 })).await);
    let position = |list: &Vec<String>, id: &String| list.iter().position(|x| x == id).expect("listed");
    assert!(ours.windows(2).all(|w| position(&newest, w[0]) > position(&newest, w[1])), "{newest:?}");
    assert!(ours.windows(2).all(|w| position(&oldest, w[0]) < position(&oldest, w[1])), "{oldest:?}");
    assert_eq!(newest.len(), oldest.len());

    // The row scope still holds: Tokyo's prefecture asking for Osaka's
    // patients finds none of them.
    let pref13 = app.login("pref13").await;
    let (ids, count) =
        listed(&app.gql(Some(&pref13), LIST, json!({ "filter": { "prefectureId": "27" }, "first": 500 })).await);
    assert!(ids.is_empty() && count == 0, "{ids:?} {count}");

    let wrong = app.gql(Some(&analyst), LIST, json!({ "filter": { "prefectureId": "Tokyo" } })).await;
    assert_eq!(error_code(&wrong), Some("BAD_USER_INPUT"), "{wrong}");
    assert_eq!(error_field(&wrong), Some("filter.prefectureId"), "{wrong}");
}

async fn patients_are_filtered_by_age_band_at_registration_and_by_severity_in_hospital(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let today = chrono::Utc::now().date_naive();
    let years_ago = |years: i32, days: i64| {
        let day = today.with_year(today.year() - years).unwrap_or(today - chrono::Duration::days(365 * 3));
        (day + chrono::Duration::days(days)).to_string()
    };
    // Forty today; forty tomorrow (still 39 at registration); a child; 95.
    let (forty, _) = app.register_patient(&clinic, "トシ ヨンジュウ", json!({ "birthDate": years_ago(40, 0) })).await;
    let (almost, _) =
        app.register_patient(&clinic, "トシ サンジュウク", json!({ "birthDate": years_ago(40, 1) })).await;
    let (child, _) = app.register_patient(&clinic, "トシ ゴ", json!({ "birthDate": years_ago(5, 0) })).await;
    let (old, _) = app.register_patient(&clinic, "トシ キュウジュウゴ", json!({ "birthDate": years_ago(95, 0) })).await;
    let band = |id: &String, answer: &Value| {
        answer["data"]["patients"]["nodes"].as_array().into_iter().flatten().any(|n| n["id"] == id.as_str())
    };
    for (age_band, inside, outside) in [
        ("AGE_40_TO_49", &forty, [&almost, &child, &old]),
        ("AGE_30_TO_39", &almost, [&forty, &child, &old]),
        ("UNDER_10", &child, [&forty, &almost, &old]),
        ("AGE_90_AND_OVER", &old, [&forty, &almost, &child]),
    ] {
        let answer = app.gql(Some(&hc1), LIST, json!({ "filter": { "ageBand": age_band }, "first": 500 })).await;
        assert!(band(inside, &answer), "{age_band}: {answer}");
        for other in outside {
            assert!(!band(other, &answer), "{age_band} lists {other}: {answer}");
        }
        // The filter agrees with the field it is named after.
        let nodes = app
            .gql(
                Some(&hc1),
                "query($f: PatientFilterInput) { patients(filter: $f, first: 500) { nodes { ageBand } } }",
                json!({ "f": { "ageBand": age_band } }),
            )
            .await;
        let bands = nodes["data"]["patients"]["nodes"].as_array().cloned().unwrap_or_default();
        assert!(bands.iter().all(|n| n["ageBand"] == age_band), "{age_band}: {nodes}");
    }

    // Severity: the stay not ended yet, as its latest condition says.
    let tested = app
        .gql(
            Some(&clinic),
            "mutation($p: ID!) { recordTest(input: { patientId: $p, kind: PCR, result: POSITIVE }) { id } }",
            json!({ "p": forty }),
        )
        .await;
    assert!(tested["errors"].is_null(), "{tested}");
    let hospital = app.gql(Some(&hc1), "{ facilities { id code } }", json!({})).await["data"]["facilities"]
        .as_array()
        .and_then(|all| all.iter().find(|f| f["code"] == "F13-0002"))
        .and_then(|f| f["id"].as_str())
        .map(str::to_owned)
        .expect("the demo hospital");
    let admitted = app
        .gql(
            Some(&hc1),
            "mutation($p: ID!, $f: ID!) { admitPatient(patientId: $p, facilityId: $f, severity: MODERATE_I) { id } }",
            json!({ "p": forty, "f": hospital }),
        )
        .await;
    let stay = admitted["data"]["admitPatient"]["id"].as_str().unwrap_or_else(|| panic!("{admitted}")).to_owned();
    let severe = json!({ "filter": { "severity": "SEVERE" }, "first": 0 });
    let moderate = json!({ "filter": { "severity": "MODERATE_I" }, "first": 500 });
    assert!(band(&forty, &app.gql(Some(&hc1), LIST, moderate.clone()).await));
    assert_eq!(listed(&app.gql(Some(&hc1), LIST, severe.clone()).await).1, 0);
    let hospital1 = app.login("hospital1").await;
    let worse = app
        .gql(
            Some(&hospital1),
            "mutation($h: ID!) { recordCondition(hospitalisationId: $h, severity: SEVERE, icu: true) { id } }",
            json!({ "h": stay }),
        )
        .await;
    assert!(worse["errors"].is_null(), "{worse}");
    assert_eq!(listed(&app.gql(Some(&hc1), LIST, severe).await).1, 1);
    assert!(!band(&forty, &app.gql(Some(&hc1), LIST, moderate).await));

    let wrong = app.gql(Some(&hc1), LIST, json!({ "filter": { "ageBand": "FORTIES" } })).await;
    assert!(wrong["errors"].is_array() && wrong["data"].is_null(), "{wrong}");
}

const TESTS: &str = "query($result: TestResult, $kind: TestKind, $from: DateTime, $first: Int, $after: String) {
    labTests(result: $result, kind: $kind, sampledFrom: $from, first: $first, after: $after) {
        totalCount nodes { id result kind patient { id } } pageInfo { hasNextPage endCursor } } }";

async fn the_root_list_of_tests_filters_and_counts_within_the_callers_reach(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hc2 = app.login("hc2").await;
    let record = |patient: String, kind: &'static str, result: &'static str| {
        let (app, clinic) = (&app, &clinic);
        async move {
            let answer = app
                .gql(
                    Some(clinic),
                    "mutation($i: RecordTestInput!) { recordTest(input: $i) { id } }",
                    json!({ "i": { "patientId": patient, "kind": kind, "result": result } }),
                )
                .await;
            answer["data"]["recordTest"]["id"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
        }
    };
    let (patient, _) = app.register_patient(&clinic, "ケンサ イチ", json!({})).await;
    let started = chrono::Utc::now() - chrono::Duration::seconds(5);
    let positive = record(patient.clone(), "PCR", "POSITIVE").await;
    let negative = record(patient.clone(), "PCR", "NEGATIVE").await;
    let antigen = record(patient.clone(), "ANTIGEN_QUANTITATIVE", "POSITIVE").await;

    let ids = |answer: &Value| -> Vec<String> {
        assert!(answer["errors"].is_null(), "{answer}");
        answer["data"]["labTests"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["id"].as_str().map(str::to_owned))
            .collect()
    };
    let count =
        |answer: &Value| answer["data"]["labTests"]["totalCount"].as_u64().unwrap_or_else(|| panic!("{answer}"));

    // Today's positives by PCR, newest first, with the count.
    let pcr = app.gql(Some(&hc1), TESTS, json!({ "result": "POSITIVE", "kind": "PCR", "from": started })).await;
    assert_eq!(ids(&pcr), vec![positive.clone()]);
    assert_eq!(count(&pcr), 1);
    let all = app.gql(Some(&hc1), TESTS, json!({ "from": started })).await;
    assert_eq!(ids(&all), vec![antigen.clone(), negative.clone(), positive.clone()], "newest first");
    let alone = app.gql(Some(&hc1), TESTS, json!({ "from": started, "first": 0 })).await;
    assert_eq!((ids(&alone).len(), count(&alone)), (0, 3));

    // Pages follow one another.
    let first = app.gql(Some(&hc1), TESTS, json!({ "from": started, "first": 2 })).await;
    assert_eq!(ids(&first), vec![antigen, negative]);
    let cursor = first["data"]["labTests"]["pageInfo"]["endCursor"].clone();
    let second = app.gql(Some(&hc1), TESTS, json!({ "from": started, "first": 2, "after": cursor })).await;
    assert_eq!(ids(&second), vec![positive]);
    assert_eq!(second["data"]["labTests"]["pageInfo"]["hasNextPage"], false);

    // Another centre reaches none of them.
    let theirs = app.gql(Some(&hc2), TESTS, json!({ "from": started })).await;
    assert!(ids(&theirs).is_empty() && count(&theirs) == 0, "{theirs}");

    for (variables, field) in [(json!({ "first": -1 }), "first"), (json!({ "after": "not-a-cursor" }), "after")] {
        let refused = app.gql(Some(&hc1), TESTS, variables).await;
        assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{refused}");
        assert_eq!(error_field(&refused), Some(field), "{refused}");
    }
}
