//! Sending the same thing twice changes nothing: a test carries the
//! facility's own specimen ID, the natural key by which a result sent
//! again (a re-sent file, a retried request) is recognised.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, error_code, error_field, spawn_app};

both!(a_specimen_sent_twice_is_one_test_and_its_id_is_the_facility_s_own);

const RECORD: &str = "mutation($input: RecordTestInput!) { recordTest(input: $input) { id specimenId result } }";

/// A clinic records a specimen, sends it again (same test back, nothing
/// written, no second positive for the health centre), may not reuse the
/// ID for another result or person, and another facility has IDs of its
/// own. Bad IDs are refused by field.
async fn a_specimen_sent_twice_is_one_test_and_its_id_is_the_facility_s_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hospital = app.login("hospital1").await;
    let (patient, _) = app.register_patient(&clinic, "ケンタイ タロウ", json!({})).await;
    let (other, _) = app.register_patient(&clinic, "ケンタイ ハナコ", json!({})).await;
    let input = |p: &str, result: &str, specimen: Value| json!({ "input": { "patientId": p, "kind": "PCR", "result": result, "specimenId": specimen } });
    let first = app.gql(Some(&clinic), RECORD, input(&patient, "POSITIVE", json!("S-0001"))).await;
    assert_eq!(first["data"]["recordTest"]["specimenId"], "S-0001", "{first}");
    let again = app.gql(Some(&clinic), RECORD, input(&patient, "POSITIVE", json!(" S-0001 "))).await;
    assert_eq!(again["data"]["recordTest"]["id"], first["data"]["recordTest"]["id"], "the same test: {again}");
    let tests =
        app.gql(Some(&clinic), "query($id: ID!) { patient(id: $id) { tests { id } } }", json!({ "id": patient })).await;
    assert_eq!(tests["data"]["patient"]["tests"].as_array().map(Vec::len), Some(1), "{tests}");
    let history = app
        .gql(Some(&app.login("hc1").await), "{ positiveResultHistory { edges { node { test { id } } } } }", json!({}))
        .await;
    assert_eq!(
        history["data"]["positiveResultHistory"]["edges"].as_array().map(Vec::len),
        Some(1),
        "one positive: {history}"
    );

    for variables in [input(&patient, "NEGATIVE", json!("S-0001")), input(&other, "POSITIVE", json!("S-0001"))] {
        let refused = app.gql(Some(&clinic), RECORD, variables).await;
        assert_eq!(error_code(&refused), Some("CONFLICT"), "{refused}");
        assert!(refused["errors"][0]["message"].as_str().is_some_and(|m| m.contains("input.specimenId")), "{refused}");
    }
    let tests =
        app.gql(Some(&clinic), "query($id: ID!) { patient(id: $id) { tests { id } } }", json!({ "id": other })).await;
    assert_eq!(tests["data"]["patient"]["tests"], json!([]), "nothing written: {tests}");
    for bad in [json!("S\u{202E}1"), json!("x".repeat(65))] {
        let refused = app.gql(Some(&clinic), RECORD, input(&other, "NEGATIVE", bad)).await;
        assert_eq!(error_field(&refused), Some("input.specimenId"), "{refused}");
    }

    // Another facility's IDs are its own.
    let (at_hospital, _) = app.register_patient(&hospital, "ケンタイ ジロウ", json!({})).await;
    let own = app.gql(Some(&hospital), RECORD, input(&at_hospital, "NEGATIVE", json!("S-0001"))).await;
    assert_eq!(own["data"]["recordTest"]["specimenId"], "S-0001", "{own}");
}
