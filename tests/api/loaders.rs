//! Batch loading: the number of SQL statements a page of patients costs
//! does not grow with the page.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, spawn_app};

both!(a_page_of_patients_with_relations_costs_the_same_statements_whatever_its_size);

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
