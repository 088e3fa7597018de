//! The gateway as an Apollo Federation v2 subgraph: `_service` and
//! `_entities`, with the same row and field rules as every query.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, spawn_app};

both!(
    the_service_sdl_links_federation_v2_and_declares_the_entities,
    a_mixed_batch_of_entities_resolves_for_a_caller_who_may_reach_them,
    an_entity_out_of_reach_is_null_with_forbidden,
    personal_fields_of_an_entity_follow_the_field_rules,
    a_batch_of_500_entities_costs_the_same_statements_as_a_batch_of_50,
);

const ENTITIES: &str = "query($representations: [_Any!]!) { _entities(representations: $representations) {
    __typename
    ... on Patient { id caseType nameKanji }
    ... on LabTest { id result }
    ... on Hospitalisation { id severity }
    ... on HealthCentre { id code name }
    ... on Facility { id code }
    ... on Prefecture { id code name }
} }";

async fn entities(app: &TestApp, token: &str, representations: Value) -> Value {
    app.gql(Some(token), ENTITIES, json!({ "representations": representations })).await
}

async fn the_service_sdl_links_federation_v2_and_declares_the_entities(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.login("hc1").await;
    let response = app.gql(Some(&token), "{ _service { sdl } }", json!({})).await;
    let sdl = response["data"]["_service"]["sdl"].as_str().unwrap_or_else(|| panic!("{response}"));
    assert!(sdl.contains("https://specs.apollo.dev/federation/v2"), "links federation v2");
    assert!(sdl.contains("type Patient implements Node @key(fields: \"id\")"), "{sdl}");
    assert!(sdl.contains("@key(fields: \"code\") @shareable"));
    assert!(sdl.contains("positiveResults"), "subscriptions pass through the router");
}

/// A patient registered by the clinic with a positive test, admitted by hc1.
async fn case_with_everything(app: &TestApp) -> (String, String, String) {
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (patient, _) = app.register_patient(&clinic, "レンポウ タロウ", json!({})).await;
    let test = app
        .gql(
            Some(&clinic),
            "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
            json!({ "input": { "patientId": patient, "kind": "PCR", "result": "POSITIVE" } }),
        )
        .await["data"]["recordTest"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let facilities = app.gql(Some(&hc1), "{ facilities { id code } }", json!({})).await;
    let hospital = facilities["data"]["facilities"]
        .as_array()
        .and_then(|l| l.iter().find(|f| f["code"] == "F13-0002"))
        .and_then(|f| f["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let stay = app
        .gql(
            Some(&hc1),
            "mutation($p: ID!, $f: ID!) { admitPatient(patientId: $p, facilityId: $f, severity: MILD) { id } }",
            json!({ "p": patient, "f": hospital }),
        )
        .await["data"]["admitPatient"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (patient, test, stay)
}

async fn a_mixed_batch_of_entities_resolves_for_a_caller_who_may_reach_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let (patient, test, stay) = case_with_everything(&app).await;
    let hc1 = app.login("hc1").await;
    let response = entities(
        &app,
        &hc1,
        json!([
            { "__typename": "Patient", "id": patient },
            { "__typename": "LabTest", "id": test },
            { "__typename": "Hospitalisation", "id": stay },
            { "__typename": "HealthCentre", "code": "131032" },
            { "__typename": "Facility", "id": "1" },
            { "__typename": "Prefecture", "code": "13" },
            { "__typename": "Prefecture", "id": "27" },
        ]),
    )
    .await;
    assert!(response["errors"].is_null(), "{response}");
    let list = &response["data"]["_entities"];
    assert_eq!(list[0]["__typename"], "Patient");
    assert_eq!(list[0]["nameKanji"], "試験 太郎");
    assert_eq!(list[1]["result"], "POSITIVE");
    assert_eq!(list[2]["severity"], "MILD");
    assert_eq!(list[3]["name"], "Minato City Health Centre");
    assert_eq!(list[4]["code"], "F13-0001");
    assert_eq!(list[5]["name"], "Tokyo");
    assert_eq!(list[6]["name"], "Osaka");
}

async fn an_entity_out_of_reach_is_null_with_forbidden(backend: Backend) {
    let app = spawn_app(backend).await;
    let (patient, test, stay) = case_with_everything(&app).await;
    let osaka = app.login("hc3").await;
    let response = entities(
        &app,
        &osaka,
        json!([
            { "__typename": "Patient", "id": patient },
            { "__typename": "LabTest", "id": test },
            { "__typename": "Hospitalisation", "id": stay },
            { "__typename": "Prefecture", "code": "27" },
        ]),
    )
    .await;
    let list = &response["data"]["_entities"];
    for index in 0..3 {
        assert_eq!(list[index], Value::Null, "{response}");
        let error = response["errors"]
            .as_array()
            .and_then(|errors| errors.iter().find(|e| e["path"] == json!(["_entities", index])))
            .unwrap_or_else(|| panic!("an error at _entities.{index}: {response}"));
        assert_eq!(error["extensions"]["code"], "FORBIDDEN");
    }
    assert_eq!(list[3]["name"], "Osaka", "reference data stays readable");
    let anonymous =
        app.gql(None, ENTITIES, json!({ "representations": [{ "__typename": "Patient", "id": patient }] })).await;
    assert_eq!(anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{anonymous}");
}

async fn personal_fields_of_an_entity_follow_the_field_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let (patient, _, _) = case_with_everything(&app).await;
    let analyst = app.login("analyst1").await;
    let response = entities(&app, &analyst, json!([{ "__typename": "Patient", "id": patient }])).await;
    let entity = &response["data"]["_entities"][0];
    assert_eq!(entity["caseType"], "CONFIRMED", "de-identified fields stay: {response}");
    assert_eq!(entity["nameKanji"], Value::Null);
    let error = &response["errors"][0];
    assert_eq!(error["extensions"]["code"], "FORBIDDEN");
    assert_eq!(error["path"], json!(["_entities", 0, "nameKanji"]));
}

const CENTRES: [&str; 3] = ["131032", "131041", "271004"];

async fn a_batch_of_500_entities_costs_the_same_statements_as_a_batch_of_50(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let mut patients = Vec::new();
    for _ in 0..10 {
        let chunk = join_all((0..10).map(|_| app.register_patient(&clinic, "タイリョウ タロウ", json!({})))).await;
        patients.extend(chunk.into_iter().map(|(id, _)| id));
    }
    let mut tests = Vec::new();
    for chunk in patients.chunks(10) {
        let recorded = join_all(chunk.iter().map(|p| {
            app.gql(
                Some(&clinic),
                "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
                json!({ "input": { "patientId": p, "kind": "PCR", "result": "NEGATIVE" } }),
            )
        }))
        .await;
        tests.extend(recorded.iter().map(|r| r["data"]["recordTest"]["id"].as_str().unwrap_or_default().to_owned()));
    }
    // 500 representations of every kind: 100 patients, 100 tests, and
    // reference data by ID and by code.
    let mut representations = Vec::new();
    for (index, (patient, test)) in patients.iter().zip(&tests).enumerate() {
        representations.push(json!({ "__typename": "Patient", "id": patient }));
        representations.push(json!({ "__typename": "LabTest", "id": test }));
        representations.push(json!({ "__typename": "Prefecture", "code": format!("{:02}", index % 47 + 1) }));
        representations.push(json!({ "__typename": "HealthCentre", "code": CENTRES[index % 3] }));
        representations.push(json!({ "__typename": "Facility", "id": (index % 3 + 1).to_string() }));
    }
    assert_eq!(representations.len(), 500);
    let hc1 = app.login("hc1").await;
    let measure = |batch: Vec<Value>| {
        let app = &app;
        let hc1 = &hc1;
        async move {
            let before = app.query_count().await;
            let response = entities(app, hc1, json!(batch)).await;
            let after = app.query_count().await;
            assert!(response["errors"].is_null(), "{response}");
            assert_eq!(response["data"]["_entities"].as_array().map(Vec::len), Some(batch.len()));
            after - before
        }
    };
    let _warm = measure(representations[..50].to_vec()).await;
    let fifty = measure(representations[..50].to_vec()).await;
    let five_hundred = measure(representations.clone()).await;
    println!("SQL statements: _entities batch of 50 = {fifty}, of 500 = {five_hundred} ({backend:?})");
    assert_eq!(fifty, five_hundred, "the statements do not grow with the batch");
    assert!(five_hundred <= 10, "one statement per type and key, not per entity: {five_hundred}");
}
