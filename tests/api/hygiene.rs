//! Input hygiene: names, addresses and every other text refuse control
//! characters and the characters that change the direction of text; notes
//! are bounded; clinical dates lie between December 2019 and now, dates of
//! birth between 1900 and today. Every refusal is `BAD_USER_INPUT` naming
//! the field, and writes nothing.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, error_field, spawn_app};

both!(
    names_addresses_and_contacts_refuse_control_and_direction_characters,
    notes_are_bounded_and_refuse_direction_characters,
    dates_lie_within_a_plausible_range,
);

const REGISTER: &str = "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { id } }";

/// The characters no name or address may hold: the bidirectional
/// embeddings, overrides, isolates and marks, a control character, a line
/// break and a line separator.
const REFUSED: &[char] = &[
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
    '\u{200E}', '\u{200F}', '\u{061C}', '\u{0007}', '\u{001B}', '\n', '\u{2028}',
];

/// A valid registration with `field` set to `value`.
fn registration(field: &str, value: Value) -> Value {
    let mut input = json!({
        "caseType": "CONFIRMED", "nameKanji": "山田 太郎", "nameKana": "ヤマダ タロウ", "sex": "MALE",
        "birthDate": "1980-04-01", "address": "東京都港区芝公園4-2-8", "email": "taro@example.jp",
    });
    input[field] = value;
    json!({ "input": input })
}

/// How many patients there are in all (an analyst reaches every one).
async fn patients_in_all(app: &TestApp, analyst: &str) -> u64 {
    let response = app.gql(Some(analyst), "{ patients { totalCount } }", json!({})).await;
    response["data"]["patients"]["totalCount"].as_u64().unwrap_or_else(|| panic!("{response}"))
}

/// Sends `query` and expects `BAD_USER_INPUT` naming `field`.
async fn refused(app: &TestApp, token: &str, query: &str, variables: Value, field: &str) {
    let response = app.gql(Some(token), query, variables.clone()).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{field} {variables}: {response}");
    assert_eq!(error_field(&response), Some(field), "{variables}: {response}");
    let data = &response["data"];
    assert!(data.is_null() || data.as_object().is_some_and(|d| d.values().all(Value::is_null)), "{response}");
}

async fn names_addresses_and_contacts_refuse_control_and_direction_characters(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let analyst = app.login("analyst1").await;
    let before = patients_in_all(&app, &analyst).await;
    for c in REFUSED {
        for (field, value) in [
            ("nameKanji", format!("山田{c}太郎")),
            ("address", format!("東京都港区{c}芝公園4-2-8")),
            ("email", format!("taro{c}@example.jp")),
        ] {
            refused(&app, &clinic, REGISTER, registration(field, json!(value)), &format!("input.{field}")).await;
        }
    }
    // A name reading is katakana only, so none of them passes there either.
    refused(&app, &clinic, REGISTER, registration("nameKana", json!("ヤマダ\u{202E}タロウ")), "input.nameKana").await;
    assert_eq!(patients_in_all(&app, &analyst).await, before, "nothing was registered");
    // Names in other scripts, and spaces, are fine.
    for name in ["Tanaka-Müller Anna", "김 민준", "山田　太郎"] {
        // The same reading and birth date each time: registered knowingly.
        let mut input = registration("nameKanji", json!(name));
        input["input"]["confirmNewPerson"] = json!(true);
        let response = app.gql(Some(&clinic), REGISTER, input).await;
        assert!(response["errors"].is_null(), "{name}: {response}");
    }

    // The name of the institution of a medical visit.
    let (patient, _) = app.register_patient(&clinic, "ジュシン", json!({})).await;
    let hc1 = app.login("hc1").await;
    let visit = "mutation($input: MedicalVisitInput!) { recordMedicalVisit(input: $input) { id institutionName } }";
    for c in REFUSED {
        let input =
            json!({ "patientId": patient, "visitedOn": "2026-06-01", "institutionName": format!("港{c}クリニック") });
        refused(&app, &hc1, visit, json!({ "input": input }), "input.institutionName").await;
    }
    let visits = app
        .gql(Some(&hc1), "query($id: ID!) { patient(id: $id) { medicalVisits { id } } }", json!({ "id": patient }))
        .await;
    assert_eq!(visits["data"]["patient"]["medicalVisits"], json!([]), "{visits}");
}

async fn notes_are_bounded_and_refuse_direction_characters(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let (patient, _) = app.register_patient(&clinic, "メモ", json!({})).await;
    let hc1 = app.login("hc1").await;
    let report = "mutation($input: HealthReportInput!) { submitHealthReport(input: $input) { id note } }";
    let call = "mutation($input: FollowUpCallInput!) { recordFollowUpCall(input: $input) { id note } }";
    let condition = "mutation($h: ID!, $note: String) { recordCondition(hospitalisationId: $h, severity: MILD, \
                     note: $note) { id } }";
    let admitted = app
        .gql(
            Some(&hc1),
            "mutation($p: ID!) { admitPatient(patientId: $p, facilityId: \"2\", severity: MILD) { id } }",
            json!({ "p": patient }),
        )
        .await;
    let stay = admitted["data"]["admitPatient"]["id"].as_str().unwrap_or_else(|| panic!("{admitted}")).to_owned();
    let hospital = app.login("hospital1").await;
    let report_input = |note: &str| json!({ "input": { "patientId": patient, "bodyTemperature": 36.5, "symptoms": [], "note": note } });
    let call_input = |note: &str| json!({ "input": { "patientId": patient, "reached": true, "note": note } });
    for (over, direction) in [("あ".repeat(1001), "熱\u{202E}なし"), ("あ".repeat(4001), "熱\u{2067}なし")] {
        refused(&app, &hc1, report, report_input(&over), "input.note").await;
        refused(&app, &hc1, report, report_input(direction), "input.note").await;
        refused(&app, &hc1, call, call_input(&over.repeat(2)), "input.note").await;
        refused(&app, &hc1, call, call_input(direction), "input.note").await;
        refused(&app, &hospital, condition, json!({ "h": stay, "note": over.repeat(2) }), "note").await;
        refused(&app, &hospital, condition, json!({ "h": stay, "note": direction }), "note").await;
    }
    let record = "query($id: ID!) { patient(id: $id) { healthReports { id } followUpCalls { id } \
                  hospitalisations { conditions { id } } } }";
    let nothing = app.gql(Some(&hc1), record, json!({ "id": patient })).await;
    assert_eq!(nothing["data"]["patient"]["healthReports"], json!([]), "{nothing}");
    assert_eq!(nothing["data"]["patient"]["followUpCalls"], json!([]), "{nothing}");
    assert_eq!(nothing["data"]["patient"]["hospitalisations"][0]["conditions"].as_array().map(Vec::len), Some(1));
    // Line breaks and tabs are part of a note; the longest note passes.
    let response = app.gql(Some(&hc1), report, report_input("咳は軽快\n\t熱なし")).await;
    assert_eq!(response["data"]["submitHealthReport"]["note"], "咳は軽快\n\t熱なし", "{response}");
    let response = app.gql(Some(&hc1), call, call_input(&"あ".repeat(2000))).await;
    assert!(response["errors"].is_null(), "{response}");
}

async fn dates_lie_within_a_plausible_range(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let analyst = app.login("analyst1").await;
    let before = patients_in_all(&app, &analyst).await;
    let tomorrow = (Utc::now() + Duration::days(2)).date_naive().to_string();
    for birth in ["1899-12-31", "1066-10-14", tomorrow.as_str()] {
        refused(&app, &clinic, REGISTER, registration("birthDate", json!(birth)), "input.birthDate").await;
    }
    assert_eq!(patients_in_all(&app, &analyst).await, before, "nothing was registered");
    let oldest = app.gql(Some(&clinic), REGISTER, registration("birthDate", json!("1900-01-01"))).await;
    assert!(oldest["errors"].is_null(), "{oldest}");

    let (patient, _) = app.register_patient(&clinic, "ヒヅケ", json!({})).await;
    let hc1 = app.login("hc1").await;
    let admitted = app
        .gql(
            Some(&hc1),
            "mutation($p: ID!) { admitPatient(patientId: $p, facilityId: \"2\", severity: MILD) { id } }",
            json!({ "p": patient }),
        )
        .await;
    let stay = admitted["data"]["admitPatient"]["id"].as_str().unwrap_or_else(|| panic!("{admitted}")).to_owned();
    let hospital = app.login("hospital1").await;
    // Before the first cases (a moment of 30 November 2019 in Japan), and
    // far in the future.
    let early = "2019-11-30T14:00:00Z";
    let late = (Utc::now() + Duration::days(2)).to_rfc3339();
    for at in [early, late.as_str()] {
        let day = &at[..10];
        let cases: [(&str, Value, &str); 8] = [
            (
                "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
                json!({ "input": { "patientId": patient, "kind": "PCR", "sampledAt": at } }),
                "input.sampledAt",
            ),
            (
                "mutation($input: HealthReportInput!) { submitHealthReport(input: $input) { id } }",
                json!({ "input": { "patientId": patient, "bodyTemperature": 36.5, "symptoms": [], "reportedAt": at } }),
                "input.reportedAt",
            ),
            (
                "mutation($input: FollowUpCallInput!) { recordFollowUpCall(input: $input) { id } }",
                json!({ "input": { "patientId": patient, "reached": true, "calledAt": at } }),
                "input.calledAt",
            ),
            (
                "mutation($input: MedicalVisitInput!) { recordMedicalVisit(input: $input) { id } }",
                json!({ "input": { "patientId": patient, "visitedOn": day, "institutionName": "港クリニック" } }),
                "input.visitedOn",
            ),
            (
                "mutation($p: ID!, $at: DateTime) { admitPatient(patientId: $p, facilityId: \"2\", severity: MILD, \
                 admittedAt: $at) { id } }",
                json!({ "p": patient, "at": at }),
                "admittedAt",
            ),
            (
                "mutation($h: ID!, $at: DateTime) { recordCondition(hospitalisationId: $h, severity: MILD, \
                 observedAt: $at) { id } }",
                json!({ "h": stay, "at": at }),
                "observedAt",
            ),
            (
                "mutation($h: ID!, $at: DateTime) { dischargePatient(hospitalisationId: $h, dischargedAt: $at) { id } }",
                json!({ "h": stay, "at": at }),
                "dischargedAt",
            ),
            (
                "mutation($p: ID!, $at: DateTime) { recordOutcome(patientId: $p, outcome: RECOVERED, outcomeAt: $at) \
                 { id } }",
                json!({ "p": patient, "at": at }),
                "outcomeAt",
            ),
        ];
        for (query, variables, field) in cases {
            let token = match field {
                "input.sampledAt" => &clinic,
                "observedAt" | "dischargedAt" => &hospital,
                _ => &hc1,
            };
            refused(&app, token, query, variables, field).await;
        }
    }
    // None of it was written.
    let record = "query($id: ID!) { patient(id: $id) { outcome tests { id } healthReports { id } followUpCalls { id } \
                  medicalVisits { id } hospitalisations { dischargedAt conditions { id } } } }";
    let nothing = app.gql(Some(&hc1), record, json!({ "id": patient })).await;
    let p = &nothing["data"]["patient"];
    assert!(p["outcome"].is_null(), "{nothing}");
    for list in ["tests", "healthReports", "followUpCalls", "medicalVisits"] {
        assert_eq!(p[list], json!([]), "{list}: {nothing}");
    }
    assert_eq!(p["hospitalisations"].as_array().map(Vec::len), Some(1), "{nothing}");
    assert!(p["hospitalisations"][0]["dischargedAt"].is_null(), "{nothing}");
    assert_eq!(p["hospitalisations"][0]["conditions"].as_array().map(Vec::len), Some(1), "{nothing}");
    // The first day of the range is within it.
    let first = json!({ "input": { "patientId": patient, "kind": "PCR", "sampledAt": "2019-11-30T15:00:00Z" } });
    let response =
        app.gql(Some(&clinic), "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }", first).await;
    assert!(response["errors"].is_null(), "{response}");
}
