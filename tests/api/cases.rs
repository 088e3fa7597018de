//! The case flow: registering patients, recording tests and results, and
//! reading them back.

use chrono::{Datelike, Duration, Utc};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, error_field, spawn_app};

both!(
    a_clinic_registers_a_patient_records_two_tests_and_reads_them_back,
    a_pending_test_shows_its_result_once_recorded,
    a_health_centre_enters_a_patient_and_a_test_on_behalf_of_a_facility,
    a_health_centre_must_name_the_facility_it_enters_a_test_for,
    a_clinic_may_name_another_responsible_health_centre,
);

/// Everything a patient record shows to someone with a care relationship.
const PATIENT_FIELDS: &str = "id caseType nameKanji nameKana sex birthDate ageBand address phone email
    smartphoneId previousSmartphoneId priorInfection prefecture { code }
    responsibleHealthCentre { id code name } registeringFacility { id name } careSetting outcome
    registeredAt version
    tests { id kind result sampledAt resultedAt facility { name } patient { id } }
    hospitalisations { id severity } healthReports { id } followUpCalls { id }";

const RECORD_TEST: &str = "mutation($input: RecordTestInput!) {
    recordTest(input: $input) { id kind result sampledAt resultedAt facility { name } patient { id } } }";

const CLINIC: &str = "Minato Fever Clinic";
const TESTING_CENTRE: &str = "Shiba Community Testing Centre";

async fn patient_by_id(app: &TestApp, token: &str, id: &str) -> Value {
    let query = format!("query($id: ID!) {{ patient(id: $id) {{ {PATIENT_FIELDS} }} }}");
    let response = app.gql(Some(token), &query, json!({ "id": id })).await;
    assert!(response["errors"].is_null(), "patient({id}) failed: {response}");
    response["data"]["patient"].clone()
}

async fn patient_from_list(app: &TestApp, token: &str, id: &str) -> Value {
    let query = format!("{{ patients(first: 500) {{ edges {{ cursor node {{ {PATIENT_FIELDS} }} }} totalCount }} }}");
    let response = app.gql(Some(token), &query, json!({})).await;
    assert!(response["errors"].is_null(), "patients failed: {response}");
    response["data"]["patients"]["edges"]
        .as_array()
        .and_then(|edges| edges.iter().find(|edge| edge["node"]["id"] == id))
        .map(|edge| edge["node"].clone())
        .unwrap_or_else(|| panic!("patient {id} is not in the list: {response}"))
}

async fn record_test(app: &TestApp, token: &str, input: Value) -> Value {
    let response = app.gql(Some(token), RECORD_TEST, json!({ "input": input })).await;
    assert!(response["errors"].is_null(), "recordTest failed: {response}");
    response["data"]["recordTest"].clone()
}

async fn facility_id(app: &TestApp, token: &str, code: &str) -> String {
    let response = app.gql(Some(token), "{ facilities { id code } }", json!({})).await;
    response["data"]["facilities"]
        .as_array()
        .and_then(|list| list.iter().find(|f| f["code"] == code))
        .and_then(|f| f["id"].as_str())
        .unwrap_or_else(|| panic!("no facility {code}: {response}"))
        .to_owned()
}

/// Whether `id` is 12 digits shown in groups of four: `dddd-dddd-dddd`.
fn is_grouped_smartphone_id(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 3 && groups.iter().all(|g| g.len() == 4 && g.chars().all(|c| c.is_ascii_digit()))
}

async fn a_clinic_registers_a_patient_records_two_tests_and_reads_them_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    // Born on 1 January 35 years ago: in the thirties whatever today's date.
    let birth_date = format!("{}-01-01", Utc::now().year() - 35);
    let (id, smartphone_id) = app
        .register_patient(
            &clinic,
            "ヤマダ タロウ",
            json!({ "nameKanji": "山田 太郎", "birthDate": birth_date, "phone": "03-1234-5678" }),
        )
        .await;
    let pcr_sampled = (Utc::now() - Duration::hours(2)).to_rfc3339();
    let antigen_sampled = (Utc::now() - Duration::hours(1)).to_rfc3339();

    let pcr = record_test(
        &app,
        &clinic,
        json!({ "patientId": id, "kind": "PCR", "result": "POSITIVE", "sampledAt": pcr_sampled }),
    )
    .await;
    let antigen = record_test(
        &app,
        &clinic,
        json!({ "patientId": id, "kind": "ANTIGEN_QUALITATIVE", "result": "NEGATIVE", "sampledAt": antigen_sampled }),
    )
    .await;

    assert!(is_grouped_smartphone_id(&smartphone_id), "smartphoneId {smartphone_id}");
    for (test, kind, result) in [(&pcr, "PCR", "POSITIVE"), (&antigen, "ANTIGEN_QUALITATIVE", "NEGATIVE")] {
        assert_eq!(test["kind"], kind, "{test}");
        assert_eq!(test["result"], result, "{test}");
        assert!(test["resultedAt"].is_string(), "a known result has a time: {test}");
        assert_eq!(test["facility"]["name"], CLINIC, "{test}");
        assert_eq!(test["patient"]["id"], id.as_str(), "{test}");
    }
    let by_id = patient_by_id(&app, &clinic, &id).await;
    let listed = patient_from_list(&app, &clinic, &id).await;
    assert_eq!(by_id, listed, "the list shows the same record as patient(id)");
    let patient = by_id;
    assert_eq!(patient["id"], id.as_str());
    assert_eq!(patient["caseType"], "CONFIRMED");
    assert_eq!(patient["nameKanji"], "山田 太郎");
    assert_eq!(patient["nameKana"], "ヤマダ タロウ");
    assert_eq!(patient["sex"], "MALE");
    assert_eq!(patient["birthDate"], birth_date.as_str());
    assert_eq!(patient["ageBand"], "AGE_30_TO_39");
    assert_eq!(patient["phone"], "03-1234-5678");
    assert!(patient["address"].is_null() && patient["email"].is_null(), "{patient}");
    assert_eq!(patient["smartphoneId"], smartphone_id.as_str());
    assert!(patient["previousSmartphoneId"].is_null(), "{patient}");
    assert_eq!(patient["priorInfection"], false);
    assert_eq!(patient["prefecture"]["code"], "13");
    assert_eq!(patient["responsibleHealthCentre"]["code"], "131032", "default: the clinic's health centre");
    assert_eq!(patient["registeringFacility"]["name"], CLINIC);
    assert_eq!(patient["careSetting"], "UNDECIDED");
    assert!(patient["outcome"].is_null(), "{patient}");
    assert_eq!(patient["version"], 1);
    assert!(patient["registeredAt"].is_string(), "{patient}");
    let tests = patient["tests"].as_array().cloned().unwrap_or_default();
    assert_eq!(tests.len(), 2, "{patient}");
    // Oldest sample first.
    assert_eq!(tests[0]["id"], pcr["id"]);
    assert_eq!(tests[0]["kind"], "PCR");
    assert_eq!(tests[0]["result"], "POSITIVE");
    assert_eq!(tests[1]["id"], antigen["id"]);
    assert_eq!(tests[1]["kind"], "ANTIGEN_QUALITATIVE");
    assert_eq!(tests[1]["result"], "NEGATIVE");
    for test in &tests {
        assert_eq!(test["facility"]["name"], CLINIC, "{test}");
        assert_eq!(test["patient"]["id"], id.as_str(), "{test}");
        assert!(test["resultedAt"].is_string(), "{test}");
    }
    assert_eq!(patient["hospitalisations"], json!([]));
    assert_eq!(patient["healthReports"], json!([]));
    assert_eq!(patient["followUpCalls"], json!([]));
}

async fn a_pending_test_shows_its_result_once_recorded(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let (id, _) = app.register_patient(&clinic, "サトウ ハナコ", json!({ "sex": "FEMALE" })).await;
    let pending = record_test(&app, &clinic, json!({ "patientId": id, "kind": "LAMP" })).await;
    assert_eq!(pending["result"], "PENDING", "PENDING by default: {pending}");
    assert!(pending["resultedAt"].is_null(), "no result time while pending: {pending}");

    let response = app
        .gql(
            Some(&clinic),
            "mutation($t: ID!) { recordTestResult(testId: $t, result: POSITIVE) { id kind result resultedAt } }",
            json!({ "t": pending["id"] }),
        )
        .await;

    let updated = &response["data"]["recordTestResult"];
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(updated["id"], pending["id"]);
    assert_eq!(updated["kind"], "LAMP");
    assert_eq!(updated["result"], "POSITIVE");
    assert!(updated["resultedAt"].is_string(), "{response}");
    let patient = patient_by_id(&app, &clinic, &id).await;
    assert_eq!(patient["tests"].as_array().map(Vec::len), Some(1), "{patient}");
    assert_eq!(patient["tests"][0]["id"], pending["id"]);
    assert_eq!(patient["tests"][0]["result"], "POSITIVE");
    assert_eq!(patient["tests"][0]["resultedAt"], updated["resultedAt"]);
}

async fn a_health_centre_enters_a_patient_and_a_test_on_behalf_of_a_facility(backend: Backend) {
    let app = spawn_app(backend).await;
    let hc1 = app.login("hc1").await;
    let centre = facility_id(&app, &hc1, "F13-0003").await;
    let (id, smartphone_id) = app.register_patient(&hc1, "スズキ イチロウ", json!({ "facilityId": centre })).await;

    let test = record_test(
        &app,
        &hc1,
        json!({ "patientId": id, "kind": "ANTIGEN_QUANTITATIVE", "result": "POSITIVE", "facilityId": centre }),
    )
    .await;

    assert_eq!(test["facility"]["name"], TESTING_CENTRE, "{test}");
    assert_eq!(test["result"], "POSITIVE", "{test}");
    let patient = patient_by_id(&app, &hc1, &id).await;
    assert_eq!(patient["registeringFacility"]["id"], centre.as_str());
    assert_eq!(patient["registeringFacility"]["name"], TESTING_CENTRE);
    assert_eq!(patient["responsibleHealthCentre"]["code"], "131032");
    assert_eq!(patient["smartphoneId"], smartphone_id.as_str());
    assert!(is_grouped_smartphone_id(&smartphone_id), "smartphoneId {smartphone_id}");
    assert_eq!(patient["tests"].as_array().map(Vec::len), Some(1), "{patient}");
    assert_eq!(patient["tests"][0]["id"], test["id"]);
    assert_eq!(patient["tests"][0]["kind"], "ANTIGEN_QUANTITATIVE");
    assert_eq!(patient["tests"][0]["facility"]["name"], TESTING_CENTRE);
}

async fn a_health_centre_must_name_the_facility_it_enters_a_test_for(backend: Backend) {
    let app = spawn_app(backend).await;
    let hc1 = app.login("hc1").await;
    let (id, _) = app.register_patient(&hc1, "タナカ ジロウ", json!({})).await;

    let response = app.gql(Some(&hc1), RECORD_TEST, json!({ "input": { "patientId": id, "kind": "PCR" } })).await;

    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
    assert_eq!(error_field(&response), Some("input.facilityId"), "{response}");
    assert!(response["data"].is_null(), "{response}");
    let patient = patient_by_id(&app, &hc1, &id).await;
    assert_eq!(patient["tests"], json!([]), "nothing was recorded: {patient}");
    assert!(patient["registeringFacility"].is_null(), "registered on its own account: {patient}");
    assert_eq!(patient["responsibleHealthCentre"]["code"], "131032");
}

async fn a_clinic_may_name_another_responsible_health_centre(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hc2 = app.login("hc2").await;
    let shinjuku = app.health_centre_id(&clinic, "131041").await;

    let (id, _) = app.register_patient(&clinic, "ヤマダ ハナコ", json!({ "healthCentreId": shinjuku })).await;

    let patient = patient_by_id(&app, &hc2, &id).await;
    assert_eq!(patient["responsibleHealthCentre"]["id"], shinjuku.as_str(), "{patient}");
    assert_eq!(patient["responsibleHealthCentre"]["code"], "131041", "{patient}");
    assert_eq!(patient["registeringFacility"]["name"], CLINIC, "{patient}");
    assert_eq!(patient["nameKana"], "ヤマダ ハナコ", "the responsible centre reads personal data");
    let by_clinic = patient_by_id(&app, &clinic, &id).await;
    assert_eq!(by_clinic["id"], id.as_str(), "the registering clinic keeps its reach");
    let by_hc1 = app.gql(Some(&hc1), "query($id: ID!) { patient(id: $id) { id } }", json!({ "id": id })).await;
    assert!(by_hc1["data"]["patient"].is_null(), "the clinic's own centre is not responsible: {by_hc1}");
}
