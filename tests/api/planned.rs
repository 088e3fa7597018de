//! The planned path for pages of patients answers exactly what resolving
//! field by field answers: the same data, the same errors at the same
//! paths, the same read audit, for every caller.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, record_test, spawn_app};

both!(a_planned_page_answers_what_field_by_field_answers, a_selection_beyond_the_plan_is_resolved_field_by_field,);

/// Every field a plan knows, through a named fragment, an inline fragment
/// on the `Node` interface, aliases, a repeated key, arguments and
/// `__typename` at every level.
const ROW: &str = "fragment Row on Patient {
    __typename id nodeId caseType nameKanji nameKana birthDate sex ageBand address phone email
    smartphoneId previousSmartphoneId occupation guardianName currentLocation infectionRoute
    infectionRouteCategory infectionRouteCertainty priorInfectionNote notes onsetDate diagnosisDate
    diagnosisMethod specimen firstVisitDate estimatedInfectionDate symptoms spo2AtDiagnosis
    severityAtDiagnosis needsAdmission riskFactors vaccinationDoses notificationStatus
    notificationReason notificationDecidedAt missingItems notificationGroup outcomeRule recordStatus
    statusReason withdrawnIntoPatientId priorInfection previousPatientId careSetting
    inWelfareFacility outcome outcomeAt registeredAt version
    again: id name: nameKanji id
    ... on Node { nodeId }
    tests { __typename id nodeId kind specimenId result sampledAt resultedAt recordedAt version
            facility { id __typename } }
    newest: tests(last: 1) { id result facility { ... on Facility { id } } }
    hospitalisations { __typename id nodeId admittedAt dischargedAt severity icu ventilator ecmo version
                       hospital { id } }
    latestHealthReport { __typename id bodyTemperature spo2 symptoms emergencySigns note byPatient reportedAt }
}";

/// The page as `operation`, as `nodes` or as `edges`, with `extra`
/// selected beside the row.
fn page(operation: &str, edges: bool, extra: &str) -> String {
    let list = if edges {
        format!("edges {{ __typename cursor node {{ ...Row {extra} }} c: cursor }}")
    } else {
        format!("nodes {{ ...Row {extra} }}")
    };
    format!("query {operation} {{ patients(first: 20) {{ {list} }} }} {ROW}")
}

/// The patients of a page, from its nodes or its edges (with each edge's
/// cursor kept beside the patient's fields).
fn rows(response: &Value) -> Vec<Value> {
    let page = &response["data"]["patients"];
    if let Some(nodes) = page["nodes"].as_array() {
        return nodes.clone();
    }
    let edges = page["edges"].as_array().unwrap_or_else(|| panic!("{response}"));
    edges
        .iter()
        .map(|edge| {
            let mut node = edge["node"].clone();
            for key in ["__typename", "cursor", "c"] {
                if let Some(value) = edge.get(key) {
                    node[format!("edge {key}")] = value.clone();
                }
            }
            node
        })
        .collect()
}

/// The errors of a response as (path, code, message), sorted.
fn errors(response: &Value) -> Vec<(String, String, String)> {
    let mut errors: Vec<_> = response["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|error| (error["path"].to_string(), error["extensions"]["code"].to_string(), error["message"].to_string()))
        .collect();
    errors.sort();
    errors
}

/// The READ_PERSONAL entries of `operation`: (patients, fields).
async fn reads(app: &TestApp, admin: &str, operation: &str) -> Vec<(Value, Value)> {
    let log = app
        .gql(
            Some(admin),
            "{ auditLog(first: 500) { edges { node { action operation patientId patientIds fields } } } }",
            json!({}),
        )
        .await;
    assert!(log["errors"].is_null(), "{log}");
    let mut entries: Vec<(Value, Value)> = log["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{log}"))
        .iter()
        .map(|edge| &edge["node"])
        .filter(|node| node["action"] == "READ_PERSONAL" && node["operation"] == operation)
        .map(|node| {
            let patients = if node["patientIds"].is_array() { &node["patientIds"] } else { &node["patientId"] };
            (patients.clone(), node["fields"].clone())
        })
        .collect();
    entries.sort_by_key(|entry| entry.0.to_string());
    entries
}

/// Patients with what a page shows: tests with results, a stay, health
/// reports with a note, and one registered by a health centre for a
/// facility's test.
pub(crate) async fn patients(app: &TestApp) {
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    for (n, kana) in ["ケイカク イチ", "ケイカク ニ", "ケイカク サン"].into_iter().enumerate() {
        let extra = json!({ "address": format!("東京都 {n}"), "phone": "03-1234-5678" });
        let (patient, _) = app.register_patient(&clinic, kana, extra).await;
        record_test(app, &clinic, &patient, "POSITIVE").await;
        if n == 0 {
            continue;
        }
        record_test(app, &clinic, &patient, "NEGATIVE").await;
        let admitted = app
            .gql(
                Some(&hc1),
                "mutation($p: ID!) { admitPatient(patientId: $p, facilityId: \"2\", severity: MODERATE_I) { id } }",
                json!({ "p": patient }),
            )
            .await;
        assert!(admitted["data"]["admitPatient"]["id"].is_string(), "{admitted}");
        for temperature in [37.8, 36.9] {
            let input = json!({ "patientId": patient, "bodyTemperature": temperature, "symptoms": ["COUGH"],
                                "note": "咳が続く" });
            let reported = app
                .gql(
                    Some(&hc1),
                    "mutation($input: HealthReportInput!) { submitHealthReport(input: $input) { id } }",
                    json!({ "input": input }),
                )
                .await;
            assert!(reported["data"]["submitHealthReport"]["id"].is_string(), "{reported}");
        }
    }
}

async fn a_planned_page_answers_what_field_by_field_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    patients(&app).await;
    let admin = app.login("admin1").await;
    // A health centre and the facility that registered them read names; an
    // analyst is refused every personal field, at its path.
    let callers = [("hc1", true), ("clinic1", true), ("analyst1", false)];
    for ((caller, personal), edges) in callers.into_iter().flat_map(|caller| [(caller, false), (caller, true)]) {
        let token = app.login(caller).await;
        let shape = if edges { "edges" } else { "nodes" };
        let planned_name = format!("Planned_{caller}_{shape}");
        let by_field_name = format!("ByField_{caller}_{shape}");
        let caller = format!("{caller} ({shape})");

        let before = app.list_paths().await;
        let planned = app.gql(Some(&token), &page(&planned_name, edges, ""), json!({})).await;
        let middle = app.list_paths().await;
        // A field no plan knows: the same page, field by field.
        let unplanned = page(&by_field_name, edges, "responsibleHealthCentre { id }");
        let by_field = app.gql(Some(&token), &unplanned, json!({})).await;
        let after = app.list_paths().await;
        assert_eq!((middle.0 - before.0, middle.1 - before.1), (1, 0), "{caller}: the page was planned");
        assert_eq!((after.0 - middle.0, after.1 - middle.1), (0, 1), "{caller}: the page went field by field");

        let nodes = rows(&planned);
        let mut expected = rows(&by_field);
        for node in &mut expected {
            node.as_object_mut().map(|node| node.remove("responsibleHealthCentre"));
        }
        assert!(nodes.len() >= 3, "{caller}: {planned}");
        assert_eq!(nodes, expected, "{caller}: the planned page differs");
        assert_eq!(errors(&planned), errors(&by_field), "{caller}: the errors differ");

        // What the page shows, so that the comparison compares something.
        let with_stay = nodes.iter().find(|node| node["hospitalisations"].as_array().is_some_and(|s| !s.is_empty()));
        let with_stay = with_stay.unwrap_or_else(|| panic!("{caller}: no stay on the page: {planned}"));
        assert_eq!(with_stay["hospitalisations"][0]["hospital"]["id"], "2", "{caller}");
        assert_eq!(with_stay["newest"].as_array().map(Vec::len), Some(1), "{caller}: {with_stay}");
        assert_eq!(with_stay["tests"][0]["facility"]["__typename"], "Facility", "{caller}");
        assert_eq!(with_stay["latestHealthReport"]["bodyTemperature"], 36.9, "{caller}: {with_stay}");
        assert_eq!(with_stay["__typename"], "Patient");
        if edges {
            assert_eq!(with_stay["edge __typename"], "PatientEdge", "{caller}: {with_stay}");
            assert!(with_stay["edge cursor"].is_string(), "{caller}: {with_stay}");
            assert_eq!(with_stay["edge c"], with_stay["edge cursor"], "{caller}: {with_stay}");
        }
        assert_eq!(with_stay["again"], with_stay["id"]);
        if personal {
            assert!(planned["errors"].is_null(), "{caller}: {planned}");
            assert_eq!(with_stay["name"], "試験 太郎", "{caller}");
            assert_eq!(with_stay["latestHealthReport"]["note"], "咳が続く", "{caller}");
        } else {
            assert!(with_stay["nameKanji"].is_null() && with_stay["name"].is_null(), "{caller}: {with_stay}");
            assert!(with_stay["latestHealthReport"]["note"].is_null(), "{caller}: {with_stay}");
            let denied = errors(&planned);
            let at = |field: &str| {
                denied
                    .iter()
                    .any(|(path, code, _)| path.ends_with(&format!(",\"{field}\"]")) && code == "\"FORBIDDEN\"")
            };
            assert!(at("nameKanji") && at("name") && at("birthDate") && at("address"), "{caller}: {denied:?}");
        }

        // The same read audit: the same patients and fields, one entry per
        // set of fields.
        let planned_reads = reads(&app, &admin, &planned_name).await;
        let by_field_reads = reads(&app, &admin, &by_field_name).await;
        assert_eq!(planned_reads, by_field_reads, "{caller}: the read audit differs");
        assert_eq!(planned_reads.is_empty(), !personal, "{caller}: {planned_reads:?}");
    }
}

async fn a_selection_beyond_the_plan_is_resolved_field_by_field(backend: Backend) {
    let app = spawn_app(backend).await;
    patients(&app).await;
    let hc1 = app.login("hc1").await;
    let mut cases: Vec<(String, bool)> = [
        // A field that awaits a load, a relation the plan does not know,
        // an object selected twice under one key, nested fields no plan
        // knows.
        ("{ patients { nodes { id expectedReleaseDate } } }", false),
        ("{ patients { nodes { id registeringFacility { id } } } }", false),
        ("{ patients { nodes { tests { id } tests { kind } } } }", false),
        ("{ patients { nodes { tests { id facility { name } } } } }", false),
        ("{ patients { nodes { hospitalisations { conditions { id } } } } }", false),
        // Planned: skipped fields are gone before the plan reads the page.
        ("{ patients { nodes { id expectedReleaseDate @skip(if: true) } } }", true),
        ("{ patients { nodes { ... on Patient { id } tests { facility { id } } } } }", true),
        ("{ patients { edges { node { id expectedReleaseDate } } } }", false),
        ("{ patients { edges { cursor node { id } } } }", true),
    ]
    .into_iter()
    .map(|(query, planned)| (query.to_owned(), planned))
    .collect();
    // More fields on one object than a plan holds (bounding the work of
    // reading a selection): field by field, and still answered.
    let leaves = "id nodeId caseType sex ageBand careSetting registeredAt version recordStatus \
                  notificationStatus priorInfection inWelfareFacility outcome outcomeAt onsetDate \
                  diagnosisDate symptoms riskFactors missingItems vaccinationDoses needsAdmission \
                  specimen firstVisitDate estimatedInfectionDate diagnosisMethod";
    let many: Vec<String> = (0..45).map(|n| format!("a{n}: id")).collect();
    cases.push((format!("{{ patients {{ nodes {{ {leaves} {} }} }} }}", many.join(" ")), false));
    let within: Vec<String> = (0..40).map(|n| format!("a{n}: id")).collect();
    cases.push((format!("{{ patients {{ nodes {{ {} }} }} }}", within.join(" ")), true));
    for (query, planned) in cases {
        let before = app.list_paths().await;
        let response = app.gql(Some(&hc1), &query, json!({})).await;
        assert!(response["errors"].is_null(), "{query}: {response}");
        assert!(rows(&response).len() >= 3, "{response}");
        let after = app.list_paths().await;
        let expected = if planned { (1, 0) } else { (0, 1) };
        assert_eq!((after.0 - before.0, after.1 - before.1), expected, "{query}");
    }
}
