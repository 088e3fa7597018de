//! Batch loading: the number of SQL statements a page of patients costs
//! does not grow with the page.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, spawn_app};

both!(
    a_page_of_patients_with_relations_costs_the_same_statements_whatever_its_size,
    a_page_shows_each_patients_latest_health_report,
    a_page_shows_personal_fields_however_they_are_selected,
    a_reference_that_asks_only_its_id_is_answered_without_loading_it,
);

async fn a_reference_that_asks_only_its_id_is_answered_without_loading_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    for _ in 0..3 {
        patient_with_a_test(&app, &clinic).await;
    }
    let hc1 = app.login("hc1").await;
    let page = |selection: &str| {
        format!("{{ patients(first: 10) {{ nodes {{ id tests {{ id facility {{ {selection} }} }} }} }} }}")
    };
    let run = async |query: String| {
        let before = app.query_count().await;
        let response = app.gql(Some(&hc1), &query, json!({})).await;
        let statements = app.query_count().await - before;
        assert!(response["errors"].is_null(), "{response}");
        (statements, response["data"]["patients"]["nodes"].clone())
    };
    let _ = run(page("id")).await;
    let (by_id, ids) = run(page("id")).await;
    let (named, with_names) = run(page("id name")).await;
    let (fragment, through_fragment) = run(page("...on Facility { id __typename }")).await;
    // The same facilities, one statement fewer when only the ID is asked
    // for (through a fragment too).
    assert_eq!(by_id + 1, named, "{ids} / {with_names}");
    assert_eq!(fragment, by_id, "{through_fragment}");
    let facility_ids = |nodes: &Value| -> Vec<Value> {
        nodes
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|node| node["tests"].as_array().cloned().unwrap_or_default())
            .map(|test| test["facility"]["id"].clone())
            .collect()
    };
    assert_eq!(facility_ids(&ids), facility_ids(&with_names));
    assert!(facility_ids(&ids).iter().all(Value::is_string) && !facility_ids(&ids).is_empty());
    assert!(with_names[0]["tests"][0]["facility"]["name"].is_string(), "{with_names}");
    assert_eq!(through_fragment[0]["tests"][0]["facility"]["__typename"], "Facility");
}

const PAGE: &str = "query($first: Int!) { patients(first: $first) { edges { node {
    id
    tests { id result facility { name } }
    hospitalisations { id severity }
    responsibleHealthCentre { name prefecture { code } }
} } } }";

/// Registers a patient as `token` with one positive PCR test.
async fn patient_with_a_test(app: &TestApp, token: &str) -> String {
    let (id, _) = app.register_patient(token, "ヤマダ タロウ", json!({})).await;
    let response = app
        .gql(
            Some(token),
            "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
            json!({ "input": { "patientId": id, "kind": "PCR", "result": "POSITIVE" } }),
        )
        .await;
    assert!(response["data"]["recordTest"]["id"].is_string(), "recordTest failed: {response}");
    id
}

/// Runs the page query with `first` and returns (statements run, edges).
async fn measured_page(app: &TestApp, token: &str, first: u64) -> (u64, Vec<Value>) {
    let before = app.query_count().await;
    let response = app.gql(Some(token), PAGE, json!({ "first": first })).await;
    let after = app.query_count().await;
    assert!(response["errors"].is_null(), "{response}");
    let edges = response["data"]["patients"]["edges"].as_array().cloned().unwrap_or_default();
    (after - before, edges)
}

async fn a_page_of_patients_with_relations_costs_the_same_statements_whatever_its_size(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    for _ in 0..10 {
        let chunk = join_all((0..10).map(|_| patient_with_a_test(&app, &clinic))).await;
        assert_eq!(chunk.iter().collect::<std::collections::BTreeSet<_>>().len(), 10, "ten new patients");
    }
    // A fresh session is not touched again within 60 s, so no session
    // write falls into one measurement only; the warm-up makes sure.
    let hc1 = app.login("hc1").await;
    let _ = measured_page(&app, &hc1, 10).await;

    let (ten, ten_edges) = measured_page(&app, &hc1, 10).await;
    let (hundred, hundred_edges) = measured_page(&app, &hc1, 100).await;
    let (ten_again, _) = measured_page(&app, &hc1, 10).await;

    println!("SQL statements: page of 10 = {ten}, page of 100 = {hundred} ({:?})", app.backend);
    assert_eq!(ten_edges.len(), 10);
    assert_eq!(hundred_edges.len(), 100);
    for edge in &hundred_edges {
        let node = &edge["node"];
        assert_eq!(node["tests"].as_array().map(Vec::len), Some(1), "{node}");
        assert_eq!(node["tests"][0]["result"], "POSITIVE", "{node}");
        assert_eq!(node["tests"][0]["facility"]["name"], "Minato Fever Clinic", "{node}");
        assert_eq!(node["hospitalisations"], json!([]), "{node}");
        assert_eq!(node["responsibleHealthCentre"]["name"], "Minato City Health Centre", "{node}");
        assert_eq!(node["responsibleHealthCentre"]["prefecture"]["code"], "13", "{node}");
    }
    assert_eq!(ten, hundred, "a page of 100 costs as many statements as a page of 10");
    assert_eq!(ten_again, ten, "the count is stable");
    assert!(ten <= 10, "a handful of statements per page, not one per row: {ten}");
}

async fn a_page_shows_each_patients_latest_health_report(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let report = "mutation($input: HealthReportInput!) { submitHealthReport(input: $input) { id } }";
    // Three patients: with no report, with three (the latest not the last
    // entered), and with two reported for the same moment (the later ID
    // counts as the latest).
    let mut patients = Vec::new();
    for name in ["レポート ナシ", "レポート サン", "レポート ドウジ"] {
        patients.push(app.register_patient(&clinic, name, json!({})).await.0);
    }
    let mut expected = vec![Value::Null];
    for (patient, reports) in [
        (
            &patients[1],
            vec![("2026-11-20T09:00:00Z", 36.5), ("2026-11-22T09:00:00Z", 38.2), ("2026-11-21T09:00:00Z", 37.0)],
        ),
        (&patients[2], vec![("2026-11-22T08:00:00Z", 36.9), ("2026-11-22T08:00:00Z", 37.4)]),
    ] {
        let mut entered = Vec::new();
        for (at, temperature) in reports {
            let input = json!({ "patientId": patient, "bodyTemperature": temperature, "spo2": 97,
                                "symptoms": [], "reportedAt": at });
            let answer = app.gql(Some(&hc1), report, json!({ "input": input })).await;
            assert!(answer["errors"].is_null(), "{answer}");
            entered.push((at, temperature));
        }
        // The last of the latest moment, in entry order.
        let latest = entered.iter().max_by(|a, b| a.0.cmp(b.0)).map(|(_, t)| *t);
        expected.push(json!(latest));
    }
    let page = app
        .gql(
            Some(&hc1),
            "{ patients(first: 3) { edges { node { id latestHealthReport { bodyTemperature } } } } }",
            json!({}),
        )
        .await;
    assert!(page["errors"].is_null(), "{page}");
    let edges = page["data"]["patients"]["edges"].as_array().cloned().unwrap_or_default();
    for (patient, latest) in patients.iter().zip(expected) {
        let node = edges.iter().map(|e| &e["node"]).find(|n| n["id"] == patient.as_str()).expect("on the page");
        assert_eq!(node["latestHealthReport"]["bodyTemperature"], latest, "{page}");
    }
}

/// A page reads the personal text columns only when its selection shows
/// them; whichever way they are selected (directly, through a fragment,
/// under an alias, in `nodes` or `edges`, next to a list that shows none),
/// they are the patient's own.
async fn a_page_shows_personal_fields_however_they_are_selected(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let contact = json!({ "address": "東京都新宿区西新宿2-8-1", "phone": "03-5321-1111", "email": "taro@example.jp" });
    let (id, smartphone_id) = app.register_patient(&clinic, "コジン タロウ", contact).await;
    let hc1 = app.login("hc1").await;
    let fields = "nameKanji nameKana address phone email smartphoneId previousSmartphoneId";
    let one = app
        .gql(Some(&hc1), &format!("query($id: ID!) {{ patient(id: $id) {{ {fields} }} }}"), json!({ "id": id }))
        .await;
    let expected = one["data"]["patient"].clone();
    assert_eq!(expected["nameKana"], "コジン タロウ", "{one}");
    assert_eq!(expected["phone"], "03-5321-1111", "{one}");
    assert_eq!(expected["smartphoneId"].as_str().map(|s| s.replace('-', "")), Some(smartphone_id.replace('-', "")));

    let pages = [
        format!("{{ patients(first: 5) {{ edges {{ node {{ id {fields} }} }} }} }}"),
        format!(
            "{{ patients(first: 5) {{ nodes {{ id ...Personal }} }} }} fragment Personal on Patient {{ {fields} }}"
        ),
        format!("{{ patients(first: 5) {{ edges {{ node {{ id ... on Patient {{ {fields} }} }} }} }} }}"),
        format!(
            "{{ bare: patients(first: 5) {{ nodes {{ id careSetting }} }} patients(first: 5) {{ nodes {{ id {fields} }} }} }}"
        ),
    ];
    for page in pages {
        let response = app.gql(Some(&hc1), &page, json!({})).await;
        assert!(response["errors"].is_null(), "{response}");
        let list = &response["data"]["patients"];
        let nodes: Vec<Value> = match list["nodes"].as_array() {
            Some(nodes) => nodes.clone(),
            None => list["edges"].as_array().expect("edges").iter().map(|e| e["node"].clone()).collect(),
        };
        let node = nodes.iter().find(|n| n["id"] == id.as_str()).unwrap_or_else(|| panic!("{response}"));
        for field in fields.split(' ') {
            assert_eq!(node[field], expected[field], "{field} in {page}");
        }
    }
    // Aliased: the value under the alias is the field's.
    let aliased =
        app.gql(Some(&hc1), "{ patients(first: 5) { nodes { id kana: nameKana tel: phone } } }", json!({})).await;
    let nodes = aliased["data"]["patients"]["nodes"].as_array().cloned().unwrap_or_default();
    let node = nodes.iter().find(|n| n["id"] == id.as_str()).unwrap_or_else(|| panic!("{aliased}"));
    assert_eq!((&node["kana"], &node["tel"]), (&expected["nameKana"], &expected["phone"]), "{aliased}");
}
