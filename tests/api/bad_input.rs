//! Refused input: each refusal names its code (and the field at fault) and
//! writes nothing. Then requests that are broken at the HTTP level.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, error_field, spawn_app};

both!(
    a_name_reading_that_is_not_katakana_is_refused,
    an_empty_kanji_name_is_refused,
    a_birth_date_in_the_future_is_refused,
    an_unknown_health_centre_is_not_found,
    malformed_ids_are_refused_naming_their_field,
    a_test_of_an_unknown_patient_is_not_found,
    a_result_for_an_unknown_test_is_not_found,
    a_result_cannot_be_set_back_to_pending,
    a_sample_taken_in_the_future_is_refused,
    a_clinic_cannot_record_a_test_on_a_patient_out_of_its_reach,
    a_clinic_cannot_set_the_result_of_a_test_another_facility_took,
    an_analyst_cannot_register_patients,
    broken_requests_get_a_coded_json_answer,
    requests_without_a_valid_bearer_token_are_unauthenticated,
    inputs_the_fuzzer_found_are_the_clients_fault_not_the_servers,
);

const REGISTER: &str = "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { id } }";
const RECORD_TEST: &str = "mutation($input: RecordTestInput!) { recordTest(input: $input) { id result } }";
const RECORD_RESULT: &str =
    "mutation($t: ID!, $r: TestResult!) { recordTestResult(testId: $t, result: $r) { id result resultedAt } }";

/// A valid registration with `changes` applied.
fn registration(changes: Value) -> Value {
    let mut input = json!({
        "caseType": "CONFIRMED",
        "nameKanji": "山田 太郎",
        "nameKana": "ヤマダ タロウ",
        "sex": "MALE",
        "birthDate": "1980-04-01",
    });
    if let (Some(input), Some(changes)) = (input.as_object_mut(), changes.as_object()) {
        for (key, value) in changes {
            input.insert(key.clone(), value.clone());
        }
    }
    input
}

/// How many patients there are in all (an analyst reaches every one).
async fn patients_in_all(app: &TestApp, analyst: &str) -> u64 {
    let response = app.gql(Some(analyst), "{ patients { totalCount } }", json!({})).await;
    response["data"]["patients"]["totalCount"].as_u64().unwrap_or_else(|| panic!("no totalCount: {response}"))
}

/// `totalCount` as seen by each of `tokens`.
async fn totals(app: &TestApp, tokens: &[&str]) -> Vec<u64> {
    let mut out = Vec::new();
    for token in tokens {
        out.push(patients_in_all(app, token).await);
    }
    out
}

/// The tests of a patient as `token` sees them.
async fn tests_of(app: &TestApp, token: &str, patient_id: &str) -> Vec<Value> {
    let response = app
        .gql(
            Some(token),
            "query($id: ID!) { patient(id: $id) { tests { id result resultedAt facility { name } } } }",
            json!({ "id": patient_id }),
        )
        .await;
    response["data"]["patient"]["tests"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("patient {patient_id} not readable: {response}"))
}

/// Signed-in clinic1, hc1 and analyst1: the clinic registers, and all three
/// count the patients they reach (the analyst reaches every one).
struct Observers {
    clinic: String,
    hc1: String,
    analyst: String,
}

impl Observers {
    async fn sign_in(app: &TestApp) -> Observers {
        Observers {
            clinic: app.login("clinic1").await,
            hc1: app.login("hc1").await,
            analyst: app.login("analyst1").await,
        }
    }

    async fn totals(&self, app: &TestApp) -> Vec<u64> {
        totals(app, &[&self.clinic, &self.hc1, &self.analyst]).await
    }
}

/// Asserts that clinic1's registration with `changes` is refused with
/// `code` at `field` and that no patient appears to any observer.
async fn assert_registration_refused(app: &TestApp, observers: &Observers, changes: Value, code: &str, field: &str) {
    let before = observers.totals(app).await;

    let response = app.gql(Some(&observers.clinic), REGISTER, json!({ "input": registration(changes.clone()) })).await;

    assert_eq!(error_code(&response), Some(code), "{changes}: {response}");
    assert_eq!(error_field(&response), Some(field), "{changes}: {response}");
    assert!(response["data"].is_null(), "{response}");
    assert_eq!(observers.totals(app).await, before, "{changes} wrote nothing");
}

async fn a_name_reading_that_is_not_katakana_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let observers = Observers::sign_in(&app).await;
    for kana in ["山田", "Yamada", "やまだ たろう", "ヤマダ太郎"] {
        assert_registration_refused(&app, &observers, json!({ "nameKana": kana }), "BAD_USER_INPUT", "input.nameKana")
            .await;
    }
}

async fn an_empty_kanji_name_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let observers = Observers::sign_in(&app).await;
    for name in ["", "  ", "\u{3000}"] {
        assert_registration_refused(
            &app,
            &observers,
            json!({ "nameKanji": name }),
            "BAD_USER_INPUT",
            "input.nameKanji",
        )
        .await;
    }
}

async fn a_birth_date_in_the_future_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let observers = Observers::sign_in(&app).await;
    // Tomorrow even where the day starts earliest (UTC+14).
    let tomorrow = (Utc::now() + Duration::hours(14)).date_naive() + Duration::days(1);
    for date in [tomorrow.to_string(), "2999-01-01".to_owned()] {
        assert_registration_refused(
            &app,
            &observers,
            json!({ "birthDate": date }),
            "BAD_USER_INPUT",
            "input.birthDate",
        )
        .await;
    }
}

async fn an_unknown_health_centre_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let observers = Observers::sign_in(&app).await;
    assert_registration_refused(
        &app,
        &observers,
        json!({ "healthCentreId": "999999" }),
        "NOT_FOUND",
        "input.healthCentreId",
    )
    .await;
}

async fn malformed_ids_are_refused_naming_their_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let observers = Observers::sign_in(&app).await;
    for id in ["abc", "-1", "0", "1.5"] {
        assert_registration_refused(
            &app,
            &observers,
            json!({ "healthCentreId": id }),
            "BAD_USER_INPUT",
            "input.healthCentreId",
        )
        .await;
    }
    let clinic = observers.clinic;
    let (patient_id, _) = app.register_patient(&clinic, "ヤマダ タロウ", json!({})).await;

    let test = app.gql(Some(&clinic), RECORD_TEST, json!({ "input": { "patientId": "abc", "kind": "PCR" } })).await;
    let result = app.gql(Some(&clinic), RECORD_RESULT, json!({ "t": "abc", "r": "POSITIVE" })).await;
    let lookup = app.gql(Some(&clinic), "{ patient(id: \"abc\") { id } }", json!({})).await;

    assert_eq!(error_code(&test), Some("BAD_USER_INPUT"), "{test}");
    assert_eq!(error_field(&test), Some("input.patientId"), "{test}");
    assert_eq!(error_code(&result), Some("BAD_USER_INPUT"), "{result}");
    assert_eq!(error_field(&result), Some("testId"), "{result}");
    assert_eq!(error_code(&lookup), Some("BAD_USER_INPUT"), "{lookup}");
    assert_eq!(error_field(&lookup), Some("id"), "{lookup}");
    assert!(tests_of(&app, &clinic, &patient_id).await.is_empty(), "no test was written");
}

async fn a_test_of_an_unknown_patient_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let (patient_id, _) = app.register_patient(&clinic, "ヤマダ タロウ", json!({})).await;
    let unknown = (patient_id.parse::<i64>().expect("numeric id") + 1000).to_string();

    let response = app
        .gql(
            Some(&clinic),
            RECORD_TEST,
            json!({ "input": { "patientId": unknown, "kind": "PCR", "result": "POSITIVE" } }),
        )
        .await;

    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response}");
    assert_eq!(error_field(&response), Some("input.patientId"), "{response}");
    assert!(response["data"].is_null(), "{response}");
    assert!(tests_of(&app, &clinic, &patient_id).await.is_empty(), "no test was written anywhere near");
}

async fn a_result_for_an_unknown_test_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let (patient_id, _) = app.register_patient(&clinic, "ヤマダ タロウ", json!({})).await;
    let test =
        app.gql(Some(&clinic), RECORD_TEST, json!({ "input": { "patientId": patient_id, "kind": "PCR" } })).await;
    let test_id = test["data"]["recordTest"]["id"].as_str().unwrap_or_else(|| panic!("{test}")).to_owned();
    let unknown = (test_id.parse::<i64>().expect("numeric id") + 1000).to_string();

    let response = app.gql(Some(&clinic), RECORD_RESULT, json!({ "t": unknown, "r": "POSITIVE" })).await;

    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response}");
    assert_eq!(error_field(&response), Some("testId"), "{response}");
    let tests = tests_of(&app, &clinic, &patient_id).await;
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0]["result"], "PENDING", "the existing test is untouched");
}

async fn a_result_cannot_be_set_back_to_pending(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let (patient_id, _) = app.register_patient(&clinic, "ヤマダ タロウ", json!({})).await;
    let test = app
        .gql(
            Some(&clinic),
            RECORD_TEST,
            json!({ "input": { "patientId": patient_id, "kind": "PCR", "result": "NEGATIVE" } }),
        )
        .await;
    let test_id = test["data"]["recordTest"]["id"].as_str().unwrap_or_else(|| panic!("{test}")).to_owned();
    let before = tests_of(&app, &clinic, &patient_id).await;

    let response = app.gql(Some(&clinic), RECORD_RESULT, json!({ "t": test_id, "r": "PENDING" })).await;

    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
    assert_eq!(error_field(&response), Some("result"), "{response}");
    let after = tests_of(&app, &clinic, &patient_id).await;
    assert_eq!(after, before, "the test is untouched");
    assert_eq!(after[0]["result"], "NEGATIVE");
}

async fn a_sample_taken_in_the_future_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let (patient_id, _) = app.register_patient(&clinic, "ヤマダ タロウ", json!({})).await;
    let tomorrow = (Utc::now() + Duration::days(1)).to_rfc3339();

    let response = app
        .gql(
            Some(&clinic),
            RECORD_TEST,
            json!({ "input": { "patientId": patient_id, "kind": "PCR", "result": "POSITIVE", "sampledAt": tomorrow } }),
        )
        .await;

    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
    assert_eq!(error_field(&response), Some("input.sampledAt"), "{response}");
    assert!(tests_of(&app, &clinic, &patient_id).await.is_empty(), "no test was written");
}

async fn a_clinic_cannot_record_a_test_on_a_patient_out_of_its_reach(backend: Backend) {
    let app = spawn_app(backend).await;
    let hc2 = app.login("hc2").await;
    let clinic = app.login("clinic1").await;
    let (patient_id, _) = app.register_patient(&hc2, "ヤマダ タロウ", json!({})).await;

    let response = app
        .gql(
            Some(&clinic),
            RECORD_TEST,
            json!({ "input": { "patientId": patient_id, "kind": "PCR", "result": "POSITIVE" } }),
        )
        .await;

    assert_eq!(error_code(&response), Some("NOT_FOUND"), "out of reach looks like unknown: {response}");
    assert_eq!(error_field(&response), Some("input.patientId"), "{response}");
    assert!(tests_of(&app, &hc2, &patient_id).await.is_empty(), "hc2 sees no test on its patient");
    let reach = app.gql(Some(&clinic), "{ patients { totalCount } }", json!({})).await;
    assert_eq!(reach["data"]["patients"]["totalCount"], 0, "the refused test gave the clinic no reach: {reach}");
}

async fn a_clinic_cannot_set_the_result_of_a_test_another_facility_took(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let facilities = app.gql(Some(&hc1), "{ facilities { id code } }", json!({})).await;
    let centre = facilities["data"]["facilities"]
        .as_array()
        .and_then(|list| list.iter().find(|f| f["code"] == "F13-0003"))
        .and_then(|f| f["id"].as_str())
        .unwrap_or_else(|| panic!("no F13-0003: {facilities}"))
        .to_owned();
    let (patient_id, _) = app.register_patient(&clinic, "ヤマダ タロウ", json!({})).await;
    let test = app
        .gql(
            Some(&hc1),
            RECORD_TEST,
            json!({ "input": { "patientId": patient_id, "kind": "PCR", "facilityId": centre } }),
        )
        .await;
    let test_id = test["data"]["recordTest"]["id"].as_str().unwrap_or_else(|| panic!("{test}")).to_owned();

    let response = app.gql(Some(&clinic), RECORD_RESULT, json!({ "t": test_id, "r": "POSITIVE" })).await;

    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response}");
    let tests = tests_of(&app, &hc1, &patient_id).await;
    assert_eq!(tests.len(), 1, "{tests:?}");
    assert_eq!(tests[0]["result"], "PENDING", "the result is unchanged");
    assert!(tests[0]["resultedAt"].is_null(), "{tests:?}");
    assert_eq!(tests[0]["facility"]["name"], "Shiba Community Testing Centre");
}

async fn an_analyst_cannot_register_patients(backend: Backend) {
    let app = spawn_app(backend).await;
    let analyst = app.login("analyst1").await;
    let hc1 = app.login("hc1").await;
    let before = totals(&app, &[&analyst, &hc1]).await;

    let response = app.gql(Some(&analyst), REGISTER, json!({ "input": registration(json!({})) })).await;

    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response}");
    assert!(response["data"].is_null(), "{response}");
    assert_eq!(totals(&app, &[&analyst, &hc1]).await, before, "nothing was written");
}

/// Posts `body` as JSON to `/graphql`; returns the status and JSON body.
async fn post_raw(app: &TestApp, body: &'static str) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{body}: not a JSON answer ({e}): {text}"));
    (status, json)
}

async fn broken_requests_get_a_coded_json_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let bodies = [
        "{bad",
        "[1,2]",
        "{\"foo\":1}",
        "\"query\"",
        "{\"query\": \"{ patients {\"}",
        "{\"query\": \"{ patients { totalCount noSuchField } }\"}",
        "{\"query\": \"{ noSuchQuery }\"}",
    ];
    for body in bodies {
        let (status, json) = post_raw(&app, body).await;

        assert!(status < 500, "{body}: status {status}: {json}");
        assert_eq!(error_code(&json), Some("BAD_USER_INPUT"), "{body}: {json}");
        assert!(json["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}: {json}");
        assert!(json["data"].is_null(), "{body}: {json}");
    }
}

async fn requests_without_a_valid_bearer_token_are_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.login("hc1").await;
    let query = json!({ "query": "{ patients { totalCount } }" });

    let anonymous = app.gql(None, "{ patients { totalCount } }", json!({})).await;
    let mut answers = Vec::new();
    for header in [format!("Basic {token}"), token.clone(), "Bearer not-a-token".to_owned(), "Bearer".to_owned()] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .header("authorization", &header)
            .json(&query)
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        answers.push((header, status, response.json::<Value>().await.expect("a JSON body")));
    }
    let signed_in = app.gql(Some(&token), "{ patients { totalCount } }", json!({})).await;

    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"), "{anonymous}");
    assert!(anonymous["data"].is_null(), "{anonymous}");
    for (header, status, json) in answers {
        assert!(status < 500, "{header}: {status}");
        assert_eq!(error_code(&json), Some("UNAUTHENTICATED"), "{header}: {json}");
        assert!(json["data"].is_null(), "{header}: {json}");
    }
    assert_eq!(signed_in["data"]["patients"]["totalCount"], 0, "the same token as Bearer works: {signed_in}");
}

/// Inputs that once answered `INTERNAL` (or panicked): each is the
/// client's mistake and answers with the client's code.
async fn inputs_the_fuzzer_found_are_the_clients_fault_not_the_servers(backend: Backend) {
    let app = spawn_app(backend).await;
    let hc1 = app.login("hc1").await;
    let admin = app.login("admin1").await;
    // A declared variable that was not sent.
    let missing = app.gql(Some(&hc1), "query($v: ID!) { patient(id: $v) { id } }", json!({})).await;
    assert_eq!(error_code(&missing), Some("BAD_USER_INPUT"), "{missing}");
    // A list of an unknown type with a default value (async-graphql's
    // validation panicked on it).
    for query in ["query($v: [Unknown] = 1) { __typename }", "query($v: [Unknown!]! = [\"a\"]) { __typename }"] {
        let response =
            app.client.post(app.url("/graphql")).json(&json!({ "query": query })).send().await.expect("sent");
        assert_eq!(response.status().as_u16(), 200, "{query}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    }
    // The audit log of a patient who does not exist.
    let audit = app.gql(Some(&admin), "{ auditLog(patientId: \"999999\") { edges { cursor } } }", json!({})).await;
    assert_eq!(error_code(&audit), Some("NOT_FOUND"), "{audit}");
    assert_eq!(error_field(&audit), Some("patientId"), "{audit}");
}
