//! Break-glass access: a record outside the caller's reach opens only with
//! a stated reason, for reading, for a limited time; administrators review
//! every access. (Alerts and audit on every transport: `transports.rs`.)

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hersys::clock::ManualClock;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, error_field, spawn_app_with_clock};

both!(
    a_record_out_of_reach_opens_with_a_reason_for_reading_only_until_the_access_expires,
    only_clinical_staff_break_the_glass_and_only_with_a_reason_and_a_bounded_time,
    administrators_review_every_access_once_and_health_centres_see_those_to_their_patients,
    a_page_mixing_opened_records_with_those_in_care_is_audited_per_access_and_as_one_group,
);

const BREAK_GLASS: &str = "mutation($p: ID!, $r: BreakGlassReason!, $e: String!, $m: Int) {
    breakGlass(patientId: $p, reason: $r, explanation: $e, minutes: $m) {
        id reason explanation grantedAt expiresAt openedBy patient { id nameKana phone } } }";
const READ: &str = "query($id: ID!) { patient(id: $id) { id nameKana phone } }";
const LIST: &str = "query($u: Boolean! = false, $first: Int) { breakGlassAccesses(unreviewedOnly: $u, first: $first) {
    totalCount nodes { id patientId openedBy reason finding reviewedBy reviewNote } pageInfo { hasNextPage } } }";
const REVIEW: &str = "mutation($a: ID!, $f: BreakGlassFinding!, $n: String) {
    reviewBreakGlassAccess(accessId: $a, finding: $f, note: $n) { id finding reviewedBy reviewedAt reviewNote } }";
const WHY: &str = "brought in by ambulance with low oxygen saturation";

fn ok(response: Value) -> Value {
    assert!(response["errors"].is_null(), "{response}");
    response["data"].clone()
}

async fn break_glass(app: &TestApp, token: &str, patient: &str, explanation: &str, minutes: Option<i64>) -> Value {
    let vars = json!({ "p": patient, "r": "EMERGENCY_TREATMENT", "e": explanation, "m": minutes });
    app.gql(Some(token), BREAK_GLASS, vars).await
}

async fn count_accesses(app: &TestApp, admin: &str) -> usize {
    let list = ok(app.gql(Some(admin), LIST, json!({})).await);
    list["breakGlassAccesses"]["nodes"].as_array().map(Vec::len).unwrap_or_default()
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().and_then(|text| text.parse().ok()).unwrap_or_else(|| panic!("not a moment: {value}"))
}

async fn a_record_out_of_reach_opens_with_a_reason_for_reading_only_until_the_access_expires(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let hc2 = app.login("hc2").await;
    let hospital = app.login("hospital1").await;
    let (patient, _) = app.register_patient(&hc2, "ヒジョウ ジロウ", json!({ "phone": "03-7777-0001" })).await;

    // Out of reach: the hospital has no care relationship.
    let before = ok(app.gql(Some(&hospital), READ, json!({ "id": patient })).await);
    assert!(before["patient"].is_null(), "{before}");

    let opened = ok(break_glass(&app, &hospital, &patient, WHY, Some(20)).await);
    let access = &opened["breakGlass"];
    assert_eq!(access["reason"], "EMERGENCY_TREATMENT", "{opened}");
    assert_eq!(access["explanation"], WHY, "{opened}");
    assert_eq!(access["openedBy"], "hospital1", "{opened}");
    assert_eq!(at(&access["expiresAt"]) - at(&access["grantedAt"]), chrono::Duration::minutes(20), "{opened}");
    // The mutation's own answer shows the record it opened.
    assert_eq!(access["patient"]["phone"], "03-7777-0001", "{opened}");

    let during = ok(app.gql(Some(&hospital), READ, json!({ "id": patient })).await);
    assert_eq!(during["patient"]["nameKana"], "ヒジョウ ジロウ", "{during}");
    let listed = ok(app.gql(Some(&hospital), "{ patients(first: 100) { nodes { id } } }", json!({})).await);
    let ids: Vec<&str> =
        listed["patients"]["nodes"].as_array().into_iter().flatten().filter_map(|node| node["id"].as_str()).collect();
    assert!(ids.contains(&patient.as_str()), "the patient is in the caller's lists meanwhile: {listed}");
    // Every session of the account reaches it, not only the one that broke
    // the glass.
    let other_session = app.login("hospital1").await;
    let elsewhere = ok(app.gql(Some(&other_session), READ, json!({ "id": patient })).await);
    assert_eq!(elsewhere["patient"]["id"], patient.as_str(), "{elsewhere}");

    // For reading only: writes stay refused.
    let write = app
        .gql(
            Some(&hospital),
            "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
            json!({ "input": { "patientId": patient, "kind": "PCR", "result": "POSITIVE" } }),
        )
        .await;
    assert!(write["data"].is_null() || write["data"]["recordTest"].is_null(), "{write}");
    assert!(matches!(error_code(&write), Some("FORBIDDEN" | "NOT_FOUND")), "{write}");
    let care = app
        .gql(
            Some(&hospital),
            "mutation($p: ID!) { setCareSetting(patientId: $p, setting: HOME) { careSetting } }",
            json!({ "p": patient }),
        )
        .await;
    assert!(matches!(error_code(&care), Some("FORBIDDEN" | "NOT_FOUND")), "{care}");

    // Once it expires, the record is out of reach again.
    clock.advance(chrono::Duration::minutes(21));
    let after = ok(app.gql(Some(&hospital), READ, json!({ "id": patient })).await);
    assert!(after["patient"].is_null(), "{after}");
    let hospital_again = app.login("hospital1").await;
    let after = ok(app.gql(Some(&hospital_again), READ, json!({ "id": patient })).await);
    assert!(after["patient"].is_null(), "{after}");
    // The responsible centre is unaffected throughout.
    let own = ok(app.gql(Some(&hc2), READ, json!({ "id": patient })).await);
    assert_eq!(own["patient"]["phone"], "03-7777-0001", "{own}");
}

async fn only_clinical_staff_break_the_glass_and_only_with_a_reason_and_a_bounded_time(backend: Backend) {
    let app = spawn_app_with_clock(backend, Arc::new(ManualClock::default())).await;
    let hc2 = app.login("hc2").await;
    let (patient, _) = app.register_patient(&hc2, "ヒジョウ サブロウ", json!({})).await;
    let admin = app.login("admin1").await;

    for username in ["analyst1", "admin1", "pref13"] {
        let token = app.login(username).await;
        let refused = break_glass(&app, &token, &patient, WHY, None).await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{username}: {refused}");
    }
    let hospital = app.login("hospital1").await;
    for (explanation, minutes, field) in [
        ("", None, "explanation"),
        ("urgent", None, "explanation"),
        ("   needed    ", None, "explanation"),
        ("line one\u{202E}reversed text here", None, "explanation"),
        (&"x".repeat(1_001)[..], None, "explanation"),
        (WHY, Some(0), "minutes"),
        (WHY, Some(241), "minutes"),
        (WHY, Some(-5), "minutes"),
    ] {
        let refused = break_glass(&app, &hospital, &patient, explanation, minutes).await;
        assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{explanation:?} {minutes:?}: {refused}");
        assert_eq!(error_field(&refused), Some(field), "{refused}");
    }
    let unknown = break_glass(&app, &hospital, "999999999", WHY, None).await;
    assert_eq!(error_code(&unknown), Some("NOT_FOUND"), "{unknown}");
    assert_eq!(error_field(&unknown), Some("patientId"), "{unknown}");
    // A patient already in reach needs no broken glass.
    let own = break_glass(&app, &hc2, &patient, WHY, None).await;
    assert_eq!(error_code(&own), Some("BAD_USER_INPUT"), "{own}");
    assert_eq!(error_field(&own), Some("patientId"), "{own}");
    assert_eq!(count_accesses(&app, &admin).await, 0, "refused attempts open nothing");
    let still = ok(app.gql(Some(&hospital), READ, json!({ "id": patient })).await);
    assert!(still["patient"].is_null(), "{still}");

    // The default lasts an hour.
    let opened = ok(break_glass(&app, &hospital, &patient, WHY, None).await);
    let access = &opened["breakGlass"];
    assert_eq!(at(&access["expiresAt"]) - at(&access["grantedAt"]), chrono::Duration::minutes(60), "{opened}");
    assert_eq!(count_accesses(&app, &admin).await, 1);
}

async fn administrators_review_every_access_once_and_health_centres_see_those_to_their_patients(backend: Backend) {
    let app = spawn_app_with_clock(backend, Arc::new(ManualClock::default())).await;
    let hc2 = app.login("hc2").await;
    let hc1 = app.login("hc1").await;
    let hospital = app.login("hospital1").await;
    let admin = app.login("admin1").await;
    let (patient, _) = app.register_patient(&hc2, "ヒジョウ シロウ", json!({})).await;
    let opened = ok(break_glass(&app, &hospital, &patient, WHY, None).await);
    let access = opened["breakGlass"]["id"].as_str().unwrap_or_default().to_owned();

    let pending = ok(app.gql(Some(&admin), LIST, json!({ "u": true })).await);
    let nodes = pending["breakGlassAccesses"]["nodes"].as_array().cloned().unwrap_or_default();
    assert_eq!(nodes.len(), 1, "{pending}");
    assert_eq!(nodes[0]["id"], access.as_str());
    assert_eq!(nodes[0]["patientId"], patient.as_str());
    assert_eq!(nodes[0]["openedBy"], "hospital1");
    assert!(nodes[0]["finding"].is_null(), "{pending}");

    // The patient's centre sees it; another centre and the opener do not list.
    let theirs = ok(app.gql(Some(&hc2), LIST, json!({})).await);
    assert_eq!(theirs["breakGlassAccesses"]["nodes"].as_array().map(Vec::len), Some(1), "{theirs}");
    let others = ok(app.gql(Some(&hc1), LIST, json!({})).await);
    assert_eq!(others["breakGlassAccesses"]["nodes"].as_array().map(Vec::len), Some(0), "{others}");
    // Counted as listed, over every page; `first: 0` for the count alone.
    assert_eq!(theirs["breakGlassAccesses"]["totalCount"], 1, "{theirs}");
    assert_eq!(others["breakGlassAccesses"]["totalCount"], 0, "{others}");
    let count = ok(app.gql(Some(&admin), LIST, json!({ "u": true, "first": 0 })).await);
    assert_eq!(count["breakGlassAccesses"]["totalCount"], 1, "{count}");
    assert_eq!(count["breakGlassAccesses"]["nodes"], json!([]), "{count}");
    assert_eq!(count["breakGlassAccesses"]["pageInfo"]["hasNextPage"], true, "{count}");
    let refused = app.gql(Some(&hospital), LIST, json!({})).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");

    // Only an administrator reviews, once.
    let vars = json!({ "a": access, "f": "JUSTIFIED", "n": "confirmed with the emergency department" });
    let not_admin = app.gql(Some(&hc2), REVIEW, vars.clone()).await;
    assert_eq!(error_code(&not_admin), Some("FORBIDDEN"), "{not_admin}");
    let reviewed = ok(app.gql(Some(&admin), REVIEW, vars.clone()).await);
    let review = &reviewed["reviewBreakGlassAccess"];
    assert_eq!(review["finding"], "JUSTIFIED", "{reviewed}");
    assert_eq!(review["reviewedBy"], "admin1", "{reviewed}");
    assert_eq!(review["reviewNote"], "confirmed with the emergency department", "{reviewed}");
    let admin2 = app.login("admin2").await;
    let again = app.gql(Some(&admin2), REVIEW, json!({ "a": access, "f": "UNJUSTIFIED" })).await;
    assert_eq!(error_code(&again), Some("BAD_USER_INPUT"), "{again}");
    assert_eq!(error_field(&again), Some("accessId"), "{again}");
    let unknown = app.gql(Some(&admin), REVIEW, json!({ "a": "987654321", "f": "JUSTIFIED" })).await;
    assert_eq!(error_code(&unknown), Some("NOT_FOUND"), "{unknown}");

    let pending = ok(app.gql(Some(&admin), LIST, json!({ "u": true })).await);
    assert_eq!(pending["breakGlassAccesses"]["nodes"].as_array().map(Vec::len), Some(0), "{pending}");
    assert_eq!(pending["breakGlassAccesses"]["totalCount"], 0, "{pending}");
    let all = ok(app.gql(Some(&admin), LIST, json!({ "u": false })).await);
    assert_eq!(all["breakGlassAccesses"]["totalCount"], 1, "{all}");
    assert_eq!(all["breakGlassAccesses"]["nodes"][0]["finding"], "JUSTIFIED", "{all}");

    // The review is audited.
    let log = ok(app
        .gql(
            Some(&admin),
            "query($p: ID) { auditLog(patientId: $p) { edges { node { action detail account { username } } } } }",
            json!({ "p": patient }),
        )
        .await);
    let entries = log["auditLog"]["edges"].as_array().cloned().unwrap_or_default();
    let review = entries
        .iter()
        .find(|edge| edge["node"]["action"] == "REVIEW_BREAK_GLASS")
        .unwrap_or_else(|| panic!("no review entry: {log}"));
    assert_eq!(review["node"]["account"]["username"], "admin1", "{log}");
    assert_eq!(review["node"]["detail"], format!("break-glass access {access}: justified"), "{log}");
}

/// A page whose patients are partly in the caller's care and partly opened
/// by break-glass is audited as both: each opened record an entry of its
/// own naming the latest access, the rest one ordinary entry naming them
/// all; an access that has expired no longer counts.
async fn a_page_mixing_opened_records_with_those_in_care_is_audited_per_access_and_as_one_group(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let hc2 = app.login("hc2").await;
    let hospital = app.login("hospital1").await;
    let admin = app.login("admin1").await;
    let (opened, _) = app.register_patient(&hc2, "ヒジョウ ゴロウ", json!({})).await;
    let (expired, _) = app.register_patient(&hc2, "ヒジョウ ロクロウ", json!({})).await;
    let (first, _) = app.register_patient(&hospital, "ナイブ イチロウ", json!({})).await;
    let (second, _) = app.register_patient(&hospital, "ナイブ ジロウ", json!({})).await;
    ok(break_glass(&app, &hospital, &expired, WHY, Some(5)).await);
    ok(break_glass(&app, &hospital, &opened, WHY, Some(30)).await);
    let latest = ok(break_glass(&app, &hospital, &opened, WHY, Some(30)).await);
    let latest = latest["breakGlass"]["id"].as_str().unwrap_or_default().to_owned();
    clock.advance(chrono::Duration::minutes(10));

    let page = ok(app
        .gql(Some(&hospital), "query MixedPage { patients(first: 100) { nodes { id nameKana } } }", json!({}))
        .await);
    let ids: Vec<&str> =
        page["patients"]["nodes"].as_array().into_iter().flatten().filter_map(|node| node["id"].as_str()).collect();
    for patient in [&opened, &first, &second] {
        assert!(ids.contains(&patient.as_str()), "{patient} listed: {page}");
    }
    assert!(!ids.contains(&expired.as_str()), "an expired access reaches nothing: {page}");

    let read_by_page = |patient: &str| {
        let app = &app;
        let admin = admin.clone();
        let patient = patient.to_owned();
        async move {
            let log = ok(app
                .gql(
                    Some(&admin),
                    "query($p: ID) { auditLog(patientId: $p, first: 100) {
                        edges { node { action detail fields operation account { username } } } } }",
                    json!({ "p": patient }),
                )
                .await);
            log["auditLog"]["edges"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|edge| edge["node"].clone())
                .filter(|node| node["operation"] == "MixedPage")
                .collect::<Vec<Value>>()
        }
    };
    let entries = read_by_page(&opened).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["action"], "READ_PERSONAL_BREAK_GLASS", "{entries:?}");
    assert_eq!(entries[0]["detail"], format!("break-glass access {latest}"), "{entries:?}");
    assert_eq!(entries[0]["fields"], json!(["nameKana"]), "{entries:?}");
    assert_eq!(entries[0]["account"]["username"], "hospital1", "{entries:?}");
    for patient in [&first, &second] {
        let entries = read_by_page(patient).await;
        assert_eq!(entries.len(), 1, "{patient}: {entries:?}");
        assert_eq!(entries[0]["action"], "READ_PERSONAL", "{patient}: {entries:?}");
        assert_eq!(entries[0]["fields"], json!(["nameKana"]), "{patient}: {entries:?}");
        assert!(entries[0]["detail"].is_null(), "{patient}: {entries:?}");
    }
    assert!(read_by_page(&expired).await.is_empty(), "nothing of it was read");
}
