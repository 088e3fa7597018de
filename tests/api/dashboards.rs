//! What dashboards ask of the patient list in one query: filters on the
//! fields they group by (sex, prefecture, open or ended, with the others of
//! `PatientFilterInput`), the order of registration, and the count, all
//! within the caller's row scope.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, error_code, error_field, spawn_app};

both!(a_dashboard_filters_orders_and_counts_patients_in_one_query);

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
