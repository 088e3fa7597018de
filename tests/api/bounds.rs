//! Bounds on what one operation may cost the server: lists weigh by their
//! size in the complexity count (so a cycle through a patient's lists is
//! refused before it runs, on every transport), the lists of a record
//! answer at most their latest 100 items, no answer larger than the
//! response size limit is sent, a cross-tabulation has at most so many
//! cells, and a patient sends at most so many health reports a day.

use std::sync::Arc;

use hersys::clock::ManualClock;
use hersys::pipeline::Transport;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, error_field, spawn_app, spawn_app_configured};
use crate::transports::{assert_refused_before_running, send};

/// The dashboard's operations, as `hersys-tools bench load` sends them:
/// the list of one health centre's patients, and one patient's record.
const DASHBOARD: &str = include_str!("../../tools/src/bench/dashboard.graphql");
const RECORD: &str = include_str!("../../tools/src/bench/record.graphql");
const PERSONAL_PAGE: &str = include_str!("../../tools/src/bench/personal.graphql");
const DEIDENTIFIED_PAGE: &str = include_str!("../../tools/src/bench/deidentified.graphql");
const WORK_QUEUE: &str = include_str!("../../tools/src/bench/queue.graphql");

both!(
    a_cycle_through_a_patients_lists_is_refused_before_it_runs_on_every_transport,
    the_dashboards_operations_stay_within_the_limits,
    the_lists_of_a_record_answer_their_latest_items,
    every_health_report_of_a_patient_can_be_paged,
    an_answer_over_the_response_size_limit_is_not_sent_on_any_transport,
    a_cross_tabulation_over_the_cell_limit_is_refused,
    a_patient_submits_at_most_so_many_health_reports_a_day,
);

/// The resident memory of this process (the gateway runs in it), in KiB.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// `{ patients { nodes { tests { patient { … tests { <leaf> } … } } } } }`
/// nested exactly `depth` levels deep (an even number from 4), each list
/// with `arguments`.
fn cycle(depth: usize, arguments: &str) -> String {
    assert!(depth >= 4 && depth.is_multiple_of(2), "an even depth from 4");
    let rounds = (depth - 4) / 2;
    format!(
        "{{ patients{arguments} {{ nodes {{ {} tests{arguments} {{ id }} {} }} }} }}",
        format!("tests{arguments} {{ patient {{ ").repeat(rounds),
        "} } ".repeat(rounds)
    )
}

/// Records `count` tests of `patient` as `token`, twenty per request (the root-field limit).
async fn record_tests(app: &TestApp, token: &str, patient: &str, count: usize) {
    let mut left = count;
    while left > 0 {
        let now = left.min(20);
        let fields: Vec<String> = (0..now)
            .map(|i| {
                format!("t{i}: recordTest(input: {{ patientId: \"{patient}\", kind: PCR, result: NEGATIVE }}) {{ id }}")
            })
            .collect();
        let response = app.gql(Some(token), &format!("mutation {{ {} }}", fields.join(" ")), json!({})).await;
        assert!(response["errors"].is_null(), "{response}");
        left -= now;
    }
}

async fn a_cycle_through_a_patients_lists_is_refused_before_it_runs_on_every_transport(backend: Backend) {
    // Every request looks its session up once, so that the statements a
    // request runs are the same whenever it is sent.
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.session_cache = std::time::Duration::ZERO;
    })
    .await;
    let clinic = app.login("clinic1").await;
    for name in ["ジュンカン イチ", "ジュンカン ニ"] {
        let (patient, _) = app.register_patient(&clinic, name, json!({})).await;
        record_tests(&app, &clinic, &patient, 3).await;
    }
    let hc1 = app.login("hc1").await;
    let floor = {
        let before = app.query_count().await;
        let response = app.gql(Some(&hc1), "{ __typename }", json!({})).await;
        assert_eq!(response["data"]["__typename"], "Query", "{response}");
        app.query_count().await - before
    };
    let resident = resident_kib();
    for depth in [14, 16] {
        let query = cycle(depth, "");
        for transport in Transport::ALL {
            let before = app.query_count().await;
            let reply = send(&app, transport, Some(&hc1), json!({ "query": query })).await;
            let ran = app.query_count().await - before;
            assert_eq!(reply.first_code().as_deref(), Some("QUERY_TOO_COMPLEX"), "{depth} {transport:?}: {reply:?}");
            assert_eq!(reply.first_error()["extensions"]["limit"], "maxComplexity", "{transport:?}: {reply:?}");
            assert_refused_before_running(transport, &reply, 400);
            // The session lookup, and nothing of the operation.
            if transport == Transport::Http {
                assert_eq!(ran, floor, "{depth}: no statement of the operation ran");
            }
        }
        // The same cycle one item per list costs what it answers, and runs.
        let before = app.query_count().await;
        let narrow = cycle(depth, "(last: 1)").replacen("patients(last: 1)", "patients(first: 1)", 1);
        let reply = send(&app, Transport::Http, Some(&hc1), json!({ "query": narrow })).await;
        assert!(reply.errors().is_empty(), "{depth}: {reply:?}");
        assert!(reply.data()["patients"]["nodes"][0]["tests"][0]["patient"].is_object(), "{reply:?}");
        assert!(app.query_count().await - before > floor, "the narrow cycle ran");
    }
    let grown = resident_kib().saturating_sub(resident);
    // The whole test process is measured, with other tests running beside
    // this one: the bound is loose, but the cycle it refuses took gigabytes
    // (1.1 GB at depth 14, past 4 GiB at 16) when it ran.
    assert!(grown < 512 * 1024, "the refused cycles left the memory flat: grew by {grown} KiB");
}

async fn the_dashboards_operations_stay_within_the_limits(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let (patient, _) = app.register_patient(&clinic, "ダッシュボード", json!({})).await;
    record_tests(&app, &clinic, &patient, 2).await;
    let hc1 = app.login("hc1").await;
    let centre = app.health_centre_id(&hc1, "131032").await;
    let dashboard = app.gql(Some(&hc1), DASHBOARD, json!({ "centre": centre })).await;
    assert!(dashboard["errors"].is_null(), "{dashboard}");
    let edges = dashboard["data"]["patients"]["edges"].as_array().cloned().unwrap_or_default();
    assert!(edges.iter().any(|edge| edge["node"]["id"] == patient.as_str()), "{dashboard}");
    let record = app.gql(Some(&hc1), RECORD, json!({ "id": patient })).await;
    assert!(record["errors"].is_null(), "{record}");
    // The health centre's page by name, and the analyst's de-identified
    // page of the same shape, answer without an error for their callers.
    let personal = app.gql(Some(&hc1), PERSONAL_PAGE, json!({ "centre": centre })).await;
    assert!(personal["errors"].is_null(), "{personal}");
    let nodes = personal["data"]["patients"]["nodes"].as_array().cloned().unwrap_or_default();
    let listed = nodes.iter().find(|node| node["id"] == patient.as_str()).cloned().unwrap_or_default();
    assert_eq!(listed["nameKana"], "ダッシュボード", "{personal}");
    assert_eq!(listed["tests"].as_array().map(Vec::len), Some(2), "{personal}");
    let analyst = app.login("analyst1").await;
    let deidentified = app.gql(Some(&analyst), DEIDENTIFIED_PAGE, json!({ "centre": centre })).await;
    assert!(deidentified["errors"].is_null(), "{deidentified}");
    let nodes = deidentified["data"]["patients"]["nodes"].as_array().cloned().unwrap_or_default();
    assert!(nodes.iter().any(|node| node["id"] == patient.as_str()), "{deidentified}");
    assert_eq!(record["data"]["patient"]["tests"].as_array().map(Vec::len), Some(2), "{record}");
    // The queue as the console opens it: the patient's positive is there.
    let positive = app
        .gql(
            Some(&clinic),
            "mutation($p: ID!) { recordTest(input: { patientId: $p, kind: PCR, result: POSITIVE }) { id } }",
            json!({ "p": patient }),
        )
        .await;
    assert!(positive["errors"].is_null(), "{positive}");
    let queue = app.gql(Some(&hc1), WORK_QUEUE, json!({})).await;
    assert!(queue["errors"].is_null(), "{queue}");
    assert!(queue["data"]["open"]["totalCount"].as_u64() >= Some(1), "{queue}");
    let nodes = queue["data"]["page"]["nodes"].as_array().cloned().unwrap_or_default();
    let item = nodes.iter().find(|node| node["kind"] == "POSITIVE_RESULT").cloned().unwrap_or_default();
    assert_eq!(item["patient"]["id"], patient.as_str(), "{queue}");
    assert_eq!(item["patient"]["nameKanji"], "試験 太郎", "{queue}");
    // A page of 500 with each patient's tests, stays, reports and calls
    // (up to 100 of each) is within the limit too.
    let page = "{ patients(first: 500) { edges { cursor node { id nameKanji careSetting \
                tests { id kind result sampledAt facility { name } patient { id } } hospitalisations { id severity } \
                healthReports { id } followUpCalls { id } } } totalCount } }";
    let page = app.gql(Some(&hc1), page, json!({})).await;
    assert!(page["errors"].is_null(), "{page}");
    // The same dashboard with every condition of every stay asks for up to
    // 100 conditions of each of 100 stays of each of 500 patients: over
    // the limit, refused with what to do.
    let wide = DASHBOARD
        .replace("first: 100", "first: 500")
        .replace("ventilator ecmo }", "ventilator ecmo conditions { severity observedAt } }");
    let refused = app.gql(Some(&hc1), &wide, json!({ "centre": centre })).await;
    assert_eq!(error_code(&refused), Some("QUERY_TOO_COMPLEX"), "{refused}");
    let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("maxComplexity") && message.contains("page size"), "{message}");
    // Asking for the latest condition of each brings it back within.
    let narrow = wide.replace("conditions {", "conditions(last: 1) {");
    let page = app.gql(Some(&hc1), &narrow, json!({ "centre": centre })).await;
    assert!(page["errors"].is_null(), "{page}");
}

async fn the_lists_of_a_record_answer_their_latest_items(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let (patient, _) = app.register_patient(&clinic, "サイシン", json!({})).await;
    record_tests(&app, &clinic, &patient, 101).await;
    let hc1 = app.login("hc1").await;
    let ids = |response: &Value| -> Vec<i64> {
        response["data"]["patient"]["tests"]
            .as_array()
            .map(|tests| tests.iter().filter_map(|t| t["id"].as_str()?.parse().ok()).collect())
            .unwrap_or_default()
    };
    let all =
        app.gql(Some(&hc1), "query($id: ID!) { patient(id: $id) { tests { id } } }", json!({ "id": patient })).await;
    let all = ids(&all);
    assert_eq!(all.len(), 100, "the latest 100 of 101");
    let mut sorted = all.clone();
    sorted.sort_unstable();
    assert_eq!(all, sorted, "earliest first");
    let last = app
        .gql(Some(&hc1), "query($id: ID!) { patient(id: $id) { tests(last: 3) { id } } }", json!({ "id": patient }))
        .await;
    assert_eq!(ids(&last), all[97..].to_vec(), "the latest three, in order");
    for bad in [0, 101, -1] {
        let response = app
            .gql(
                Some(&hc1),
                "query($id: ID!, $n: Int) { patient(id: $id) { id tests(last: $n) { id } } }",
                json!({ "id": patient, "n": bad }),
            )
            .await;
        assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{bad}: {response}");
        assert_eq!(error_field(&response), Some("last"), "{bad}: {response}");
    }
    // Every list of a record takes `last`.
    let lists = "query($id: ID!) { patient(id: $id) { tests(last: 1) { id } hospitalisations(last: 1) { id \
                 conditions(last: 1) { id } } healthReports(last: 1) { id } medicalVisits(last: 1) { id } \
                 transfers(last: 1) { id } followUpCalls(last: 1) { id } } }";
    let response = app.gql(Some(&hc1), lists, json!({ "id": patient })).await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(ids(&response), all[99..].to_vec());
}

async fn every_health_report_of_a_patient_can_be_paged(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let (patient, _) = app.register_patient(&clinic, "ホウコク レキ", json!({})).await;
    let hc1 = app.login("hc1").await;
    let report = "mutation($input: HealthReportInput!) { submitHealthReport(input: $input) { id } }";
    let mut ids = Vec::new();
    for (n, temperature) in [36.5, 36.9, 37.4].into_iter().enumerate() {
        let input = json!({ "patientId": patient, "bodyTemperature": temperature, "symptoms": [],
                            "note": format!("報告 {n}") });
        let response = app.gql(Some(&hc1), report, json!({ "input": input })).await;
        ids.push(
            response["data"]["submitHealthReport"]["id"].as_str().unwrap_or_else(|| panic!("{response}")).to_owned(),
        );
    }
    let history = "query($p: ID!, $n: Int, $after: String) { healthReportHistory(patientId: $p, first: $n, \
                   after: $after) { edges { cursor node { id bodyTemperature note } } \
                   pageInfo { hasNextPage hasPreviousPage endCursor } totalCount } }";
    let first = app.gql(Some(&hc1), history, json!({ "p": patient, "n": 2 })).await;
    let page = &first["data"]["healthReportHistory"];
    let seen: Vec<&str> = page["edges"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["node"]["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(seen, vec![ids[2].as_str(), ids[1].as_str()], "newest first: {first}");
    assert_eq!(page["edges"][0]["node"]["note"], "報告 2", "{first}");
    assert_eq!(page["pageInfo"]["hasNextPage"], true, "{first}");
    let after = page["pageInfo"]["endCursor"].clone();
    let second = app.gql(Some(&hc1), history, json!({ "p": patient, "n": 2, "after": after })).await;
    let page = &second["data"]["healthReportHistory"];
    assert_eq!(page["edges"].as_array().map(Vec::len), Some(1), "{second}");
    assert_eq!(page["edges"][0]["node"]["id"], ids[0].as_str(), "{second}");
    assert_eq!(page["pageInfo"]["hasNextPage"], false, "{second}");
    assert_eq!(page["pageInfo"]["hasPreviousPage"], true, "{second}");
    // Every page counts all three; `first: 0` asks for the count alone.
    assert_eq!(first["data"]["healthReportHistory"]["totalCount"], 3, "{first}");
    assert_eq!(page["totalCount"], 3, "{second}");
    let count = app.gql(Some(&hc1), history, json!({ "p": patient, "n": 0 })).await;
    let page = &count["data"]["healthReportHistory"];
    assert_eq!(page["totalCount"], 3, "{count}");
    assert_eq!(page["edges"], json!([]), "{count}");
    assert_eq!(page["pageInfo"]["hasNextPage"], true, "{count}");
    // Out of reach: null, as `patient` is.
    let hc3 = app.login("hc3").await;
    let away = app.gql(Some(&hc3), history, json!({ "p": patient })).await;
    assert!(away["data"]["healthReportHistory"].is_null() && away["errors"].is_null(), "{away}");
    for (variables, field) in [
        (json!({ "p": patient, "after": "not-a-cursor" }), "after"),
        (json!({ "p": patient, "n": 501 }), "first"),
        (json!({ "p": patient, "n": -1 }), "first"),
        (json!({ "p": "x" }), "patientId"),
    ] {
        let refused = app.gql(Some(&hc1), history, variables).await;
        assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{refused}");
        assert_eq!(error_field(&refused), Some(field), "{refused}");
    }
}

async fn an_answer_over_the_response_size_limit_is_not_sent_on_any_transport(backend: Backend) {
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.max_response_bytes = 1024;
    })
    .await;
    let hc1 = app.login("hc1").await;
    // The 47 prefectures with their names take about 2.5 KB.
    let large = json!({ "query": "{ prefectures { code name nameJa } }" });
    let small = json!({ "query": "{ me { username } }" });
    for transport in Transport::ALL {
        let reply = send(&app, transport, Some(&hc1), large.clone()).await;
        assert_eq!(reply.first_code().as_deref(), Some("QUERY_TOO_COMPLEX"), "{transport:?}: {reply:?}");
        let error = reply.first_error();
        assert_eq!(error["extensions"]["limit"], "maxResponseBytes", "{transport:?}: {reply:?}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains("1024 bytes") && message.contains("maxResponseBytes"), "{message}");
        assert!(reply.data().is_null(), "nothing of the answer is sent: {reply:?}");
        assert!(!format!("{reply:?}").contains("Hokkaido"), "{transport:?}: {reply:?}");
        let reply = send(&app, transport, Some(&hc1), small.clone()).await;
        assert_eq!(reply.data()["me"]["username"], "hc1", "{transport:?}: {reply:?}");
    }
    // In a batch, the answers that fit are sent, the one that does not is
    // replaced, and the whole body stays within the limit.
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&hc1)
        .json(&json!([small, large, small]))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("a body");
    assert!(body.len() <= 1024, "{} bytes", body.len());
    let answers: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(answers[0]["data"]["me"]["username"], "hc1", "{answers}");
    assert_eq!(answers[1]["errors"][0]["extensions"]["limit"], "maxResponseBytes", "{answers}");
    assert_eq!(answers[2]["data"]["me"]["username"], "hc1", "{answers}");
    // The metrics count the batch by the code of the answer put in place.
    let metrics = app.client.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("text");
    let counted = "hersys_graphql_requests_total{operation=\"batch\",code=\"QUERY_TOO_COMPLEX\"} 1";
    assert!(metrics.contains(counted), "{metrics}");
}

async fn a_cross_tabulation_over_the_cell_limit_is_refused(backend: Backend) {
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.max_crosstab_cells = 2;
    })
    .await;
    let clinic = app.login("clinic1").await;
    for sex in ["MALE", "FEMALE", "UNKNOWN"] {
        let (patient, _) = app.register_patient(&clinic, "シュウケイ", json!({ "sex": sex })).await;
        let input = json!({ "patientId": patient, "kind": "PCR", "result": "POSITIVE",
                            "sampledAt": "2026-06-02T01:00:00Z" });
        let response = app
            .gql(
                Some(&clinic),
                "mutation($i: RecordTestInput!) { recordTest(input: $i) { id } }",
                json!({ "i": input }),
            )
            .await;
        assert!(response["errors"].is_null(), "{response}");
    }
    let analyst = app.login("analyst1").await;
    let table = "query($d: [CrossTabDimension!]!) { statistics { crossTab(dimensions: $d, from: \"2026-06-01\", \
                 to: \"2026-06-30\") { cells { sex count suppressed } } } }";
    // One cell per sex: three, over the limit of two.
    let refused = app.gql(Some(&analyst), table, json!({ "d": ["SEX"] })).await;
    assert_eq!(error_code(&refused), Some("QUERY_TOO_COMPLEX"), "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["limit"], "maxCrossTabCells", "{refused}");
    let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("more than 2 cells"), "{message}");
    assert!(refused["data"]["statistics"].is_null(), "{refused}");
    // The total alone is one cell.
    let total = app.gql(Some(&analyst), table, json!({ "d": [] })).await;
    assert!(total["errors"].is_null(), "{total}");
    assert_eq!(total["data"]["statistics"]["crossTab"]["cells"].as_array().map(Vec::len), Some(1), "{total}");
}

/// Signs the patient in with their smartphone input ID and date of birth.
async fn patient_login(app: &TestApp, smartphone_id: &str) -> String {
    let login = app
        .gql(
            None,
            "mutation($s: String!, $b: Date!) { patientLogin(smartphoneId: $s, birthDate: $b) { token } }",
            json!({ "s": smartphone_id, "b": "1980-04-01" }),
        )
        .await;
    login["data"]["patientLogin"]["token"].as_str().unwrap_or_else(|| panic!("{login}")).to_owned()
}

/// How many health reports of `patient` there are, as staff see them.
async fn report_count(app: &TestApp, token: &str, patient: &str) -> usize {
    let response = app
        .gql(Some(token), "query($id: ID!) { patient(id: $id) { healthReports { id } } }", json!({ "id": patient }))
        .await;
    response["data"]["patient"]["healthReports"].as_array().map(Vec::len).unwrap_or_else(|| panic!("{response}"))
}

async fn a_patient_submits_at_most_so_many_health_reports_a_day(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_configured(backend, clock.clone(), |config| {
        config.max_health_reports_per_day = 3;
    })
    .await;
    let clinic = app.login("clinic1").await;
    let (patient, smartphone_id) = app.register_patient(&clinic, "ホウコク", json!({})).await;
    let token = patient_login(&app, &smartphone_id).await;
    let report = "mutation($input: HealthReportInput!) { submitHealthReport(input: $input) { id byPatient } }";
    let own = json!({ "input": { "bodyTemperature": 36.8, "spo2": 97, "symptoms": [] } });
    for _ in 0..3 {
        let response = app.gql(Some(&token), report, own.clone()).await;
        assert_eq!(response["data"]["submitHealthReport"]["byPatient"], true, "{response}");
    }
    let refused = app.gql(Some(&token), report, own.clone()).await;
    assert_eq!(error_code(&refused), Some("RATE_LIMITED"), "{refused}");
    let error = &refused["errors"][0];
    assert_eq!(error["extensions"]["limit"], "maxHealthReportsPerDay", "{refused}");
    let retry = error["extensions"]["retryAfterSeconds"].as_u64().unwrap_or(0);
    assert!((1..=24 * 3600).contains(&retry), "until midnight: {refused}");
    assert!(error["message"].as_str().unwrap_or_default().contains("at most 3 health reports a day"), "{refused}");
    let hc1 = app.login("hc1").await;
    assert_eq!(report_count(&app, &hc1, &patient).await, 3, "the refused report was not kept");
    // Staff entering a report after a call are not counted.
    let staff = json!({ "input": { "patientId": patient, "bodyTemperature": 37.1, "symptoms": [] } });
    let response = app.gql(Some(&hc1), report, staff).await;
    assert_eq!(response["data"]["submitHealthReport"]["byPatient"], false, "{response}");
    // The next day, the patient reports again.
    clock.advance(chrono::Duration::days(1));
    let token = patient_login(&app, &smartphone_id).await;
    let response = app.gql(Some(&token), report, own).await;
    assert!(response["errors"].is_null(), "{response}");
    let hc1 = app.login("hc1").await;
    assert_eq!(report_count(&app, &hc1, &patient).await, 5);
}
