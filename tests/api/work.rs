//! The health centre's day: typed case events pushed live (`caseEvents`
//! over graphql-transport-ws and Server-Sent Events), the watch that puts
//! patients not reported and positives still undecided on the queues, the
//! work queue (`workQueue`) with its counts and filters, and the actions on
//! its items (acknowledge, assign, complete, reopen) that the centre's
//! other staff see live.

use std::sync::Arc;
use std::time::Duration;

use chrono::{FixedOffset, NaiveTime};
use futures_util::SinkExt;
use hersys::clock::{Clock, ManualClock};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::both;
use crate::helpers::{
    Backend, PATIENCE, Socket, TestApp, error_code, error_field, next_ws_message, record_test as record,
    spawn_app_configured, ws_text,
};

both!(
    emergency_signs_reach_the_patients_centre_only,
    warning_signs_alert_once_for_each_new_reason,
    a_transfer_in_reaches_the_receiving_centre_only,
    the_watch_announces_each_patient_not_reported_once_a_day,
    the_watch_announces_each_positive_still_undecided_once,
    the_watch_puts_notifications_to_accept_and_releases_due_on_the_queue,
    the_watch_closes_the_items_whose_cause_ended,
    changes_to_an_item_reach_the_centres_other_staff_live,
    a_resumed_subscription_replays_what_was_missed_across_a_restart,
    a_replayed_event_shows_its_item_as_it_stands,
    the_queue_counts_pages_and_filters_the_items_made,
    bad_arguments_are_refused_naming_the_argument,
    server_sent_events_deliver_case_events,
    a_prefecture_receives_case_events_without_personal_data,
);

/// The fields of a case event every test reads.
macro_rules! event_fields {
    () => {
        "cursor kind occurredAt
        patient { id nameKanji responsibleHealthCentre { code } }
        test { id result } healthReport { id emergencySigns }
        emergencySigns warningReasons day
        item { id state assigneeId version updatedAt }"
    };
}

const CASE_EVENTS: &str = concat!(
    "subscription($after: String, $kinds: [CaseEventKind!]) { caseEvents(after: $after, kinds: $kinds) { ",
    event_fields!(),
    " } }"
);

const ACKNOWLEDGE: &str = concat!(
    "mutation($id: ID!, $v: Int) { acknowledgeWorkItem(id: $id, expectedVersion: $v) { ",
    event_fields!(),
    " } }"
);
const COMPLETE: &str =
    concat!("mutation($id: ID!, $v: Int) { completeWorkItem(id: $id, expectedVersion: $v) { ", event_fields!(), " } }");
const REOPEN: &str =
    concat!("mutation($id: ID!, $v: Int) { reopenWorkItem(id: $id, expectedVersion: $v) { ", event_fields!(), " } }");
const ASSIGN: &str = concat!(
    "mutation($id: ID!, $a: ID!, $v: Int) { assignWorkItem(id: $id, accountId: $a, expectedVersion: $v) { ",
    event_fields!(),
    " } }"
);

/// The code of the first Tokyo health centre (hc1, hc1b).
const HC1_CODE: &str = "131032";
/// The code of the second Tokyo health centre (hc2).
const HC2_CODE: &str = "131041";

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// The gateway with the watch quiet (one round at start, the next an hour
/// later), for tests that make every event themselves.
async fn spawn(backend: Backend) -> TestApp {
    spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.watch_interval = Duration::from_secs(3600);
    })
    .await
}

fn ok(response: Value) -> Value {
    assert!(response["errors"].is_null(), "{response}");
    response["data"].clone()
}

/// A subscription over graphql-transport-ws.
struct Subscriber {
    socket: Socket,
}

impl Subscriber {
    /// Connects as `token`, waits for the ack and subscribes to `query`.
    async fn open(app: &TestApp, token: &str, query: &str, variables: Value) -> Subscriber {
        let mut request = format!("ws://{}/graphql/ws", app.addr).into_client_request().expect("a request");
        request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().expect("header"));
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("the upgrade");
        let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
        socket.send(ws_text(init)).await.expect("init sent");
        let ack = next_ws_message(&mut socket).await;
        assert_eq!(ack.as_ref().map(|a| a["type"].clone()), Some(json!("connection_ack")), "{ack:?}");
        let subscribe =
            json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } });
        socket.send(ws_text(subscribe)).await.expect("subscribe sent");
        // Give the server a moment to register before the test writes.
        tokio::time::sleep(Duration::from_millis(150)).await;
        Subscriber { socket }
    }

    /// `caseEvents(after, kinds)` with the fields of [`CASE_EVENTS`].
    async fn case_events(app: &TestApp, token: &str, after: Option<&str>, kinds: Option<&[&str]>) -> Subscriber {
        Subscriber::open(app, token, CASE_EVENTS, json!({ "after": after, "kinds": kinds })).await
    }

    /// The next message of the subscription (next, error, complete).
    async fn next(&mut self) -> Value {
        loop {
            let message = next_ws_message(&mut self.socket).await.unwrap_or_else(|| panic!("the stream ended"));
            if matches!(message["type"].as_str(), Some("ping" | "pong")) {
                continue;
            }
            return message;
        }
    }

    /// The next case event, which must come without errors.
    async fn next_event(&mut self) -> Value {
        let message = self.next().await;
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        message["payload"]["data"]["caseEvents"].clone()
    }

    /// Nothing arrives for a while.
    async fn expect_silence(&mut self) {
        let quiet = tokio::time::timeout(Duration::from_millis(700), self.next()).await;
        assert!(quiet.is_err(), "unexpected message: {:?}", quiet.ok());
    }
}

/// A subscription over Server-Sent Events (`POST /graphql/stream`).
struct EventStream {
    response: reqwest::Response,
    received: Vec<u8>,
}

impl EventStream {
    async fn open(app: &TestApp, token: &str, query: &str, variables: Value) -> EventStream {
        let response = app
            .client
            .post(app.url("/graphql/stream"))
            .bearer_auth(token)
            .header("Accept", "text/event-stream")
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("the stream opens");
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap_or_default().to_owned();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        tokio::time::sleep(Duration::from_millis(150)).await;
        EventStream { response, received: Vec::new() }
    }

    /// The payload (`data`, `errors`) of the next `next` event.
    async fn next(&mut self) -> Value {
        let read = async {
            loop {
                if let Some(end) = self.received.windows(2).position(|pair| pair == b"\n\n") {
                    let block: Vec<u8> = self.received.drain(..end + 2).collect();
                    let block = String::from_utf8(block).expect("UTF-8 events");
                    if block.lines().any(|line| line.trim_end() == "event: next") {
                        let data: Vec<&str> = block
                            .lines()
                            .filter_map(|line| line.strip_prefix("data:").map(|data| data.trim_start()))
                            .collect();
                        return serde_json::from_str::<Value>(&data.join("\n")).expect("JSON data");
                    }
                    continue;
                }
                let chunk = self.response.chunk().await.expect("the stream").expect("the stream went on");
                self.received.extend_from_slice(&chunk);
            }
        };
        tokio::time::timeout(PATIENCE, read).await.expect("an event in time")
    }
}

// ---------------------------------------------------------------------------
// What the tests do through the API
// ---------------------------------------------------------------------------

/// Submits a health report on the patient's behalf and returns its ID.
async fn report(
    app: &TestApp,
    token: &str,
    patient: &str,
    temperature: f64,
    spo2: i64,
    symptoms: &[&str],
    signs: &[&str],
) -> String {
    let input = json!({
        "patientId": patient,
        "bodyTemperature": temperature,
        "spo2": spo2,
        "symptoms": symptoms,
        "emergencySigns": signs,
    });
    let response = app
        .gql(
            Some(token),
            "mutation($input: HealthReportInput!) { submitHealthReport(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await;
    response["data"]["submitHealthReport"]["id"].as_str().unwrap_or_else(|| panic!("{response}")).to_owned()
}

async fn set_care(app: &TestApp, token: &str, patient: &str, setting: &str) {
    ok(app
        .gql(
            Some(token),
            "mutation($p: ID!, $s: CareSetting!) { setCareSetting(patientId: $p, setting: $s) { id } }",
            json!({ "p": patient, "s": setting }),
        )
        .await);
}

async fn transfer(app: &TestApp, token: &str, patient: &str, to_centre: &str) {
    ok(app
        .gql(
            Some(token),
            "mutation($p: ID!, $to: ID!) { transferPatient(patientId: $p, toHealthCentreId: $to) { id } }",
            json!({ "p": patient, "to": to_centre }),
        )
        .await);
}

/// Runs one of the item mutations (`ACKNOWLEDGE`, `COMPLETE`, `REOPEN`).
async fn act(app: &TestApp, token: &str, mutation: &str, item: &str, version: Option<i64>) -> Value {
    app.gql(Some(token), mutation, json!({ "id": item, "v": version })).await
}

async fn assign(app: &TestApp, token: &str, item: &str, account: &str, version: Option<i64>) -> Value {
    app.gql(Some(token), ASSIGN, json!({ "id": item, "a": account, "v": version })).await
}

/// `workQueue(args)` as `token`: totalCount, the nodes and pageInfo.
async fn queue(app: &TestApp, token: &str, args: &str) -> Value {
    let args = if args.is_empty() { String::new() } else { format!("({args})") };
    let query = format!(
        "{{ workQueue{args} {{ totalCount
            edges {{ cursor node {{ kind patient {{ id }} item {{ id state assigneeId version }} }} }}
            nodes {{ kind patient {{ id }} test {{ id }} item {{ id state assigneeId version }} }}
            pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }}"
    );
    ok(app.gql(Some(token), &query, json!({})).await)["workQueue"].clone()
}

/// Polls `workQueue(args) { totalCount }` until it is `expected` (or
/// patience runs out) and asserts it, so that a watch that writes nothing
/// fails with the count rather than a socket timeout.
async fn wait_for_count(app: &TestApp, token: &str, args: &str, expected: u64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let count = queue(app, token, args).await["totalCount"].as_u64().unwrap_or_default();
        if count == expected || tokio::time::Instant::now() >= deadline {
            assert_eq!(count, expected, "workQueue({args}) after waiting");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The item IDs of a queue's page, in its order.
fn item_ids(queue: &Value) -> Vec<String> {
    queue["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no nodes in {queue}"))
        .iter()
        .map(|node| node["item"]["id"].as_str().unwrap_or_else(|| panic!("{node}")).to_owned())
        .collect()
}

/// The account ID of `username` among the caller's colleagues.
async fn colleague_id(app: &TestApp, token: &str, username: &str) -> String {
    let list = ok(app.gql(Some(token), "{ colleagues { id username } }", json!({})).await);
    list["colleagues"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["username"] == username))
        .and_then(|c| c["id"].as_str())
        .unwrap_or_else(|| panic!("no colleague {username}: {list}"))
        .to_owned()
}

/// A cursor as numbers, to compare: `tx:id`, or the ID alone.
fn position(event: &Value) -> (i64, i64) {
    let cursor = event["cursor"].as_str().unwrap_or_else(|| panic!("a cursor in {event}"));
    let number = |n: &str| n.parse::<i64>().unwrap_or_else(|_| panic!("a number in {cursor}"));
    match cursor.split_once(':') {
        Some((tx, id)) => (number(tx), number(id)),
        None => (0, number(cursor)),
    }
}

/// Asserts that the event's item is untouched: open, version 0.
fn assert_open_item(event: &Value) {
    let item = &event["item"];
    assert!(item["id"].is_string(), "{event}");
    assert_eq!(item["state"], "OPEN", "{event}");
    assert_eq!(item["version"], 0, "{event}");
    assert_eq!(item["assigneeId"], Value::Null, "{event}");
    assert_eq!(item["updatedAt"], Value::Null, "{event}");
}

// ---------------------------------------------------------------------------
// Each kind of event, live
// ---------------------------------------------------------------------------

/// A report with emergency signs is an `EMERGENCY_SIGNS` event at the
/// patient's centre, naming the signs and the report (also when its SpO2
/// is low: emergency signs come first); the other centre hears nothing.
async fn emergency_signs_reach_the_patients_centre_only(backend: Backend) {
    let app = spawn(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let mut at_hc1 = Subscriber::case_events(&app, &hc1, None, None).await;
    let mut at_hc2 = Subscriber::case_events(&app, &app.login("hc2").await, None, None).await;
    let (patient, _) = app.register_patient(&clinic, "キンキュウ タロウ", json!({})).await;

    let sent = report(&app, &hc1, &patient, 37.9, 91, &["SHORTNESS_OF_BREATH"], &["PURPLE_LIPS", "CHEST_PAIN"]).await;
    let event = at_hc1.next_event().await;
    assert_eq!(event["kind"], "EMERGENCY_SIGNS", "{event}");
    assert_eq!(event["patient"]["id"], patient.as_str(), "{event}");
    assert_eq!(event["patient"]["nameKanji"], "試験 太郎", "the centre sees personal data: {event}");
    assert_eq!(event["patient"]["responsibleHealthCentre"]["code"], HC1_CODE, "{event}");
    assert_eq!(event["healthReport"]["id"], sent.as_str(), "{event}");
    assert_eq!(event["healthReport"]["emergencySigns"], json!(["CHEST_PAIN", "PURPLE_LIPS"]), "{event}");
    assert_eq!(event["emergencySigns"], json!(["CHEST_PAIN", "PURPLE_LIPS"]), "{event}");
    assert_eq!(event["warningReasons"], json!([]), "emergency signs come first: {event}");
    assert_eq!((&event["test"], &event["day"]), (&Value::Null, &Value::Null), "{event}");
    assert!(event["occurredAt"].is_string(), "{event}");
    assert_open_item(&event);
    at_hc1.expect_silence().await;
    at_hc2.expect_silence().await;

    // The same item is on hc1's queue, and not on hc2's.
    let own = queue(&app, &hc1, "kinds: [EMERGENCY_SIGNS]").await;
    assert_eq!(own["totalCount"], 1, "{own}");
    assert_eq!(item_ids(&own), vec![event["item"]["id"].as_str().unwrap_or_default().to_owned()], "{own}");
    let other = queue(&app, &app.login("hc2").await, "kinds: [EMERGENCY_SIGNS]").await;
    assert_eq!(other["totalCount"], 0, "{other}");
}

/// Reports past a threshold or markedly worse than the previous one are
/// `WARNING_SIGNS` events with their reasons, each only when a reason is
/// new: a normal report and an unchanged low reading are silent.
async fn warning_signs_alert_once_for_each_new_reason(backend: Backend) {
    let app = spawn(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let mut at_hc1 = Subscriber::case_events(&app, &hc1, None, None).await;
    let mut at_hc2 = Subscriber::case_events(&app, &app.login("hc2").await, None, None).await;
    let (patient, _) = app.register_patient(&clinic, "ケイコク ハナコ", json!({})).await;
    set_care(&app, &hc1, &patient, "HOME").await;

    // Normal: nothing.
    report(&app, &hc1, &patient, 36.6, 95, &[], &[]).await;
    at_hc1.expect_silence().await;

    // SpO2 at the threshold (two points lower: not falling).
    let low = report(&app, &hc1, &patient, 36.8, 93, &[], &[]).await;
    let event = at_hc1.next_event().await;
    assert_eq!(event["kind"], "WARNING_SIGNS", "{event}");
    assert_eq!(event["patient"]["id"], patient.as_str(), "{event}");
    assert_eq!(event["healthReport"]["id"], low.as_str(), "{event}");
    assert_eq!(event["warningReasons"], json!(["LOW_SPO2"]), "{event}");
    assert_eq!(event["emergencySigns"], json!([]), "{event}");
    assert_eq!(event["healthReport"]["emergencySigns"], json!([]), "{event}");
    assert_eq!((&event["test"], &event["day"]), (&Value::Null, &Value::Null), "{event}");
    assert_open_item(&event);

    // The same low reading again: no second alert.
    report(&app, &hc1, &patient, 36.8, 93, &[], &[]).await;
    at_hc1.expect_silence().await;

    // A fever is new: all current reasons are named.
    let fever = report(&app, &hc1, &patient, 38.6, 93, &[], &[]).await;
    let event = at_hc1.next_event().await;
    assert_eq!(event["kind"], "WARNING_SIGNS", "{event}");
    assert_eq!(event["healthReport"]["id"], fever.as_str(), "{event}");
    assert_eq!(event["warningReasons"], json!(["LOW_SPO2", "HIGH_TEMPERATURE"]), "{event}");

    // Breathlessness the previous report did not have.
    let breathless = report(&app, &hc1, &patient, 38.6, 93, &["SHORTNESS_OF_BREATH"], &[]).await;
    let event = at_hc1.next_event().await;
    assert_eq!(event["healthReport"]["id"], breathless.as_str(), "{event}");
    assert_eq!(event["warningReasons"], json!(["LOW_SPO2", "HIGH_TEMPERATURE", "NEW_BREATHLESSNESS"]), "{event}");
    // Still breathless, still the same readings: nothing new.
    report(&app, &hc1, &patient, 38.6, 93, &["SHORTNESS_OF_BREATH"], &[]).await;
    at_hc1.expect_silence().await;

    // Recovered, then SpO2 three points down (above the threshold).
    report(&app, &hc1, &patient, 36.5, 98, &[], &[]).await;
    at_hc1.expect_silence().await;
    let falling = report(&app, &hc1, &patient, 36.5, 95, &[], &[]).await;
    let event = at_hc1.next_event().await;
    assert_eq!(event["healthReport"]["id"], falling.as_str(), "{event}");
    assert_eq!(event["warningReasons"], json!(["SPO2_FALLING"]), "{event}");
    at_hc1.expect_silence().await;
    at_hc2.expect_silence().await;

    let warnings = queue(&app, &hc1, "kinds: [WARNING_SIGNS], first: 0").await;
    assert_eq!(warnings["totalCount"], 4, "{warnings}");
}

/// A transfer is a `TRANSFER_IN` event at the centre taking the case over,
/// never at the one handing it over; it lands on the receiver's queue.
async fn a_transfer_in_reaches_the_receiving_centre_only(backend: Backend) {
    let app = spawn(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hc2 = app.login("hc2").await;
    let (patient, _) = app.register_patient(&clinic, "イカン ジロウ", json!({})).await;
    let mut at_hc1 = Subscriber::case_events(&app, &hc1, None, None).await;
    let mut at_hc2 = Subscriber::case_events(&app, &hc2, None, None).await;
    let mut osaka = Subscriber::case_events(&app, &app.login("hc3").await, None, None).await;

    let shinjuku = app.health_centre_id(&hc1, HC2_CODE).await;
    transfer(&app, &hc1, &patient, &shinjuku).await;
    let event = at_hc2.next_event().await;
    assert_eq!(event["kind"], "TRANSFER_IN", "{event}");
    assert_eq!(event["patient"]["id"], patient.as_str(), "{event}");
    assert_eq!(event["patient"]["responsibleHealthCentre"]["code"], HC2_CODE, "{event}");
    assert_eq!(event["patient"]["nameKanji"], "試験 太郎", "the new centre sees personal data: {event}");
    assert_eq!((&event["test"], &event["healthReport"]), (&Value::Null, &Value::Null), "{event}");
    assert_eq!((&event["emergencySigns"], &event["warningReasons"]), (&json!([]), &json!([])), "{event}");
    assert_open_item(&event);
    at_hc2.expect_silence().await;
    at_hc1.expect_silence().await;
    osaka.expect_silence().await;

    let received = queue(&app, &hc2, "kinds: [TRANSFER_IN]").await;
    assert_eq!(received["totalCount"], 1, "{received}");
    assert_eq!(received["nodes"][0]["patient"]["id"], patient.as_str(), "{received}");
    let sent = queue(&app, &hc1, "kinds: [TRANSFER_IN]").await;
    assert_eq!(sent["totalCount"], 0, "{sent}");
}

/// From `not_reported_by`, each patient in home or accommodation care
/// without a report that day is one `NOT_REPORTED` event, however many
/// rounds the watch runs; the next day, each once again.
async fn the_watch_announces_each_patient_not_reported_once_a_day(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_configured(backend, clock.clone(), |config| {
        config.watch_interval = Duration::from_millis(200);
        config.not_reported_by = NaiveTime::from_hms_opt(0, 0, 0).expect("midnight");
    })
    .await;
    let jst = FixedOffset::east_opt(9 * 3600).expect("offset");
    let today = clock.now().with_timezone(&jst).date_naive();
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (home, _) = app.register_patient(&clinic, "ミホウコク イチ", json!({})).await;
    let (reported, _) = app.register_patient(&clinic, "ホウコクズミ ニ", json!({})).await;
    let (hotel, _) = app.register_patient(&clinic, "シュクハク サン", json!({})).await;
    let (undecided, _) = app.register_patient(&clinic, "ミテイ ヨン", json!({})).await;
    report(&app, &hc1, &reported, 36.5, 98, &[], &[]).await;
    let kinds: &[&str] = &["NOT_REPORTED"];
    let mut at_hc1 = Subscriber::case_events(&app, &hc1, None, Some(kinds)).await;
    let mut at_hc2 = Subscriber::case_events(&app, &app.login("hc2").await, None, Some(kinds)).await;

    set_care(&app, &hc1, &home, "HOME").await;
    set_care(&app, &hc1, &reported, "HOME").await;
    set_care(&app, &hc1, &hotel, "ACCOMMODATION").await;
    wait_for_count(&app, &hc1, "kinds: [NOT_REPORTED], first: 0", 2).await;
    let mut first_day = [at_hc1.next_event().await, at_hc1.next_event().await];
    first_day.sort_by_key(|event| event["patient"]["id"].as_str().unwrap_or_default().parse::<i64>().unwrap_or(0));
    let mut expected = vec![home.clone(), hotel.clone()];
    expected.sort_by_key(|id| id.parse::<i64>().unwrap_or(0));
    for (event, patient) in first_day.iter().zip(&expected) {
        assert_eq!(event["kind"], "NOT_REPORTED", "{event}");
        assert_eq!(event["patient"]["id"], patient.as_str(), "{event}");
        assert_eq!(event["day"], today.to_string(), "{event}");
        assert_eq!((&event["test"], &event["healthReport"]), (&Value::Null, &Value::Null), "{event}");
        assert_open_item(event);
    }
    // Several more rounds: no repeat, and nothing about `undecided`.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    at_hc1.expect_silence().await;
    at_hc2.expect_silence().await;
    let listed = queue(&app, &hc1, "kinds: [NOT_REPORTED]").await;
    assert_eq!(listed["totalCount"], 2, "{listed}");
    assert!(!listed.to_string().contains(&format!("\"id\":\"{undecided}\"")), "{listed}");
    let cursor = first_day.iter().max_by_key(|event| position(event)).map(|event| event["cursor"].clone());
    let cursor = cursor.and_then(|c| c.as_str().map(str::to_owned)).expect("a cursor");
    drop((at_hc1, at_hc2));

    // The next day (sessions have lapsed meanwhile): each patient in care
    // once more, `reported` too, whose report was yesterday's.
    clock.advance(chrono::Duration::days(1));
    let hc1 = app.login("hc1").await;
    let mut resumed = Subscriber::case_events(&app, &hc1, Some(&cursor), Some(&["NOT_REPORTED"])).await;
    let mut next_day = Vec::new();
    for _ in 0..3 {
        let event = resumed.next_event().await;
        assert_eq!(event["kind"], "NOT_REPORTED", "{event}");
        assert_eq!(event["day"], (today + chrono::Duration::days(1)).to_string(), "{event}");
        next_day.push(event["patient"]["id"].as_str().unwrap_or_default().to_owned());
    }
    next_day.sort();
    let mut expected = vec![home, reported, hotel];
    expected.sort();
    assert_eq!(next_day, expected);
    tokio::time::sleep(Duration::from_millis(600)).await;
    resumed.expect_silence().await;
    let listed = queue(&app, &hc1, "kinds: [NOT_REPORTED], first: 0").await;
    assert_eq!(listed["totalCount"], 5, "{listed}");
}

/// A positive whose care setting is still undecided `undecided_after`
/// after the result is one `UNDECIDED_POSITIVE` event naming the test, not
/// before that time and not again; one decided meanwhile is not announced.
async fn the_watch_announces_each_positive_still_undecided_once(backend: Backend) {
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.watch_interval = Duration::from_millis(200);
        config.undecided_after = Duration::from_secs(3);
    })
    .await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let kinds: &[&str] = &["POSITIVE_RESULT", "UNDECIDED_POSITIVE"];
    let mut at_hc1 = Subscriber::case_events(&app, &hc1, None, Some(kinds)).await;
    let mut at_hc2 = Subscriber::case_events(&app, &app.login("hc2").await, None, Some(kinds)).await;
    let (waiting, _) = app.register_patient(&clinic, "チョウセイチュウ タロウ", json!({})).await;
    let (decided, _) = app.register_patient(&clinic, "ケッテイ ハナコ", json!({})).await;

    let positive = record(&app, &clinic, &waiting, "POSITIVE").await;
    let decided_positive = record(&app, &clinic, &decided, "POSITIVE").await;
    set_care(&app, &hc1, &decided, "HOME").await;
    assert_eq!(at_hc1.next_event().await["test"]["id"], positive.as_str());
    assert_eq!(at_hc1.next_event().await["test"]["id"], decided_positive.as_str());
    // Not yet due.
    at_hc1.expect_silence().await;
    wait_for_count(&app, &hc1, "kinds: [UNDECIDED_POSITIVE], first: 0", 1).await;

    let event = at_hc1.next_event().await;
    assert_eq!(event["kind"], "UNDECIDED_POSITIVE", "{event}");
    assert_eq!(event["patient"]["id"], waiting.as_str(), "{event}");
    assert_eq!(event["test"]["id"], positive.as_str(), "{event}");
    assert_eq!(event["test"]["result"], "POSITIVE", "{event}");
    assert_eq!((&event["healthReport"], &event["day"]), (&Value::Null, &Value::Null), "{event}");
    assert_open_item(&event);
    // Many rounds later, still once; nothing about the decided patient.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    at_hc1.expect_silence().await;
    at_hc2.expect_silence().await;

    // Another positive of the same patient is another item, once.
    let again = record(&app, &clinic, &waiting, "POSITIVE").await;
    assert_eq!(at_hc1.next_event().await["test"]["id"], again.as_str());
    let event = at_hc1.next_event().await;
    assert_eq!((&event["kind"], &event["test"]["id"]), (&json!("UNDECIDED_POSITIVE"), &json!(again)), "{event}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    at_hc1.expect_silence().await;

    let listed = queue(&app, &hc1, "kinds: [UNDECIDED_POSITIVE]").await;
    assert_eq!(listed["totalCount"], 2, "{listed}");
    let tests: Vec<&Value> = listed["nodes"].as_array().into_iter().flatten().map(|n| &n["test"]["id"]).collect();
    assert_eq!(tests, vec![&json!(again), &json!(positive)], "newest first: {listed}");
}

/// An item whose cause ends is marked done by the watch with the reason
/// and no staff account, announced live like a staff action: an
/// undecided positive once its care setting is decided (also when
/// acknowledged before), a notification once accepted, a patient not
/// reported once they report. Items that need a person (the positive
/// itself) stay, and an item someone reopened is theirs.
async fn the_watch_closes_the_items_whose_cause_ended(backend: Backend) {
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.watch_interval = Duration::from_millis(200);
        config.undecided_after = Duration::from_secs(1);
    })
    .await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let mut colleague =
        Subscriber::case_events(&app, &app.login("hc1b").await, None, Some(&["WORK_ITEM_UPDATED"])).await;
    let (first, _) = app.register_patient(&clinic, "ミテイ イチ", json!({})).await;
    let (second, _) = app.register_patient(&clinic, "ミテイ ニ", json!({})).await;
    record(&app, &clinic, &first, "POSITIVE").await;
    record(&app, &clinic, &second, "POSITIVE").await;
    wait_for_count(&app, &hc1, "kinds: [UNDECIDED_POSITIVE], first: 0", 2).await;
    let undecided = |patient: &str| {
        let patient = patient.to_owned();
        let app = &app;
        let hc1 = &hc1;
        async move {
            let listed = queue(app, hc1, "kinds: [UNDECIDED_POSITIVE], states: [OPEN, ACKNOWLEDGED, DONE]").await;
            listed["nodes"]
                .as_array()
                .and_then(|nodes| nodes.iter().find(|node| node["patient"]["id"] == patient.as_str()))
                .map(|node| node["item"].clone())
                .unwrap_or_else(|| panic!("no item of {patient}: {listed}"))
        }
    };
    // One acknowledged first, the other left open: both close.
    let acknowledged = undecided(&second).await;
    let acknowledged_id = acknowledged["id"].as_str().unwrap_or_default().to_owned();
    ok(act(&app, &hc1, ACKNOWLEDGE, &acknowledged_id, Some(0)).await);
    assert_eq!(colleague.next_event().await["item"]["state"], "ACKNOWLEDGED");
    set_care(&app, &hc1, &first, "HOME").await;
    set_care(&app, &hc1, &second, "ACCOMMODATION").await;
    let mut closed = Vec::new();
    for _ in 0..2 {
        let update = colleague.next_event().await;
        assert_eq!(update["kind"], "WORK_ITEM_UPDATED", "{update}");
        assert_eq!(update["item"]["state"], "DONE", "{update}");
        closed.push(update["patient"]["id"].as_str().unwrap_or_default().to_owned());
    }
    closed.sort();
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(closed, expected);
    wait_for_count(&app, &hc1, "kinds: [UNDECIDED_POSITIVE], first: 0", 0).await;
    let details = "{ workQueue(kinds: [UNDECIDED_POSITIVE], states: [DONE]) { nodes { patient { id } \
                   item { state updatedById closedBecause version } } } }";
    let done = ok(app.gql(Some(&hc1), details, json!({})).await);
    for node in done["workQueue"]["nodes"].as_array().into_iter().flatten() {
        let item = &node["item"];
        assert_eq!((&item["updatedById"], &item["closedBecause"]), (&Value::Null, &json!("CARE_SETTING_DECIDED")));
        let version = if node["patient"]["id"] == second.as_str() { 2 } else { 1 };
        assert_eq!(item["version"], version, "{node}");
    }
    // The positives themselves need a person: still open.
    wait_for_count(&app, &hc1, "kinds: [POSITIVE_RESULT], first: 0", 2).await;

    // Reopened by staff, the item stays open though its cause has ended.
    let item = undecided(&first).await;
    let item_id = item["id"].as_str().unwrap_or_default().to_owned();
    let reopened = ok(act(&app, &hc1, REOPEN, &item_id, item["version"].as_i64()).await);
    assert_eq!(reopened["reopenWorkItem"]["item"]["state"], "OPEN", "{reopened}");
    assert_eq!(colleague.next_event().await["item"]["state"], "OPEN");
    colleague.expect_silence().await;
    assert_eq!(undecided(&first).await["state"], "OPEN");

    // A notification accepted closes its item.
    let (notified, _) = app.register_patient(&clinic, "ジュリ サン", json!({})).await;
    wait_for_count(&app, &hc1, "kinds: [NOTIFICATION_RECEIVED], first: 0", 3).await;
    let read = app.gql(Some(&hc1), "query($p: ID!) { patient(id: $p) { version } }", json!({ "p": notified })).await;
    let accepted = app
        .gql(
            Some(&hc1),
            "mutation($p: ID!, $v: Int!) { acceptNotification(patientId: $p, expectedVersion: $v) { notificationStatus } }",
            json!({ "p": notified, "v": read["data"]["patient"]["version"] }),
        )
        .await;
    assert_eq!(accepted["data"]["acceptNotification"]["notificationStatus"], "ACCEPTED", "{accepted}");
    let update = colleague.next_event().await;
    assert_eq!((&update["patient"]["id"], &update["item"]["state"]), (&json!(notified), &json!("DONE")), "{update}");
    let done = "{ workQueue(kinds: [NOTIFICATION_RECEIVED], states: [DONE]) { nodes { patient { id } item { closedBecause } } } }";
    let done = ok(app.gql(Some(&hc1), done, json!({})).await);
    let node = done["workQueue"]["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|node| node["patient"]["id"] == notified.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("{done}"));
    assert_eq!(node["item"]["closedBecause"], "NOTIFICATION_DECIDED", "{node}");
}

/// A facility's notification waiting for acceptance is one
/// `NOTIFICATION_RECEIVED` item, and one more when it is sent again after
/// a return (the first closes once returned: its cause ended); a centre's
/// own registration needs no acceptance. A case in
/// home care whose release is due is one `RELEASE_DUE` item.
async fn the_watch_puts_notifications_to_accept_and_releases_due_on_the_queue(backend: Backend) {
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.watch_interval = Duration::from_millis(200);
    })
    .await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let kinds: &[&str] = &["NOTIFICATION_RECEIVED", "RELEASE_DUE"];
    let mut at_hc1 = Subscriber::case_events(&app, &hc1, None, Some(kinds)).await;
    let mut at_hc2 = Subscriber::case_events(&app, &app.login("hc2").await, None, Some(kinds)).await;

    let (notified, _) = app.register_patient(&clinic, "トドケデ イチ", json!({})).await;
    let (own, _) = app.register_patient(&hc1, "ホケンジョ ニ", json!({})).await;
    let event = at_hc1.next_event().await;
    assert_eq!((&event["kind"], &event["patient"]["id"]), (&json!("NOTIFICATION_RECEIVED"), &json!(notified)));
    assert_open_item(&event);
    tokio::time::sleep(Duration::from_millis(800)).await;
    at_hc1.expect_silence().await;

    // Returned, corrected by the clinic, and so sent again: a second item.
    let version =
        |answer: &Value, root: &str| answer["data"][root]["version"].as_i64().unwrap_or_else(|| panic!("{answer}"));
    let read = app.gql(Some(&hc1), "query($p: ID!) { patient(id: $p) { version } }", json!({ "p": notified })).await;
    let returned = app
        .gql(
            Some(&hc1),
            "mutation($p: ID!, $v: Int!) { returnNotification(patientId: $p, expectedVersion: $v, reason: \"発症日を\") { version } }",
            json!({ "p": notified, "v": version(&read, "patient") }),
        )
        .await;
    // Returned is decided: the watch closes the first item.
    wait_for_count(&app, &hc1, "kinds: [NOTIFICATION_RECEIVED], states: [DONE], first: 0", 1).await;
    let corrected = app
        .gql(
            Some(&clinic),
            "mutation($p: ID!, $v: Int!) { updatePatient(patientId: $p, expectedVersion: $v, input: { onsetDate: \"2022-09-01\" }) { version notificationStatus } }",
            json!({ "p": notified, "v": version(&returned, "returnNotification") }),
        )
        .await;
    assert_eq!(corrected["data"]["updatePatient"]["notificationStatus"], "RECEIVED", "{corrected}");
    let again = at_hc1.next_event().await;
    assert_eq!((&again["kind"], &again["patient"]["id"]), (&json!("NOTIFICATION_RECEIVED"), &json!(notified)));
    assert_ne!(again["item"]["id"], event["item"]["id"], "another item: {again}");

    // The centre's own registration, in home care since an onset long ago:
    // its release is due, once.
    let onset = app
        .gql(
            Some(&hc1),
            "mutation($p: ID!) { updatePatient(patientId: $p, expectedVersion: 1, input: { onsetDate: \"2022-09-01\" }) { version } }",
            json!({ "p": own }),
        )
        .await;
    assert!(onset["errors"].is_null(), "{onset}");
    set_care(&app, &hc1, &own, "HOME").await;
    let due = at_hc1.next_event().await;
    assert_eq!((&due["kind"], &due["patient"]["id"]), (&json!("RELEASE_DUE"), &json!(own)), "{due}");
    assert_open_item(&due);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    at_hc1.expect_silence().await;
    at_hc2.expect_silence().await;
    let listed = queue(&app, &hc1, "kinds: [NOTIFICATION_RECEIVED, RELEASE_DUE], first: 0").await;
    assert_eq!(listed["totalCount"], 2, "the second sending and the release: {listed}");
    let every = "kinds: [NOTIFICATION_RECEIVED, RELEASE_DUE], states: [OPEN, ACKNOWLEDGED, DONE], first: 0";
    assert_eq!(queue(&app, &hc1, every).await["totalCount"], 3);
}

// ---------------------------------------------------------------------------
// Two staff members of one centre
// ---------------------------------------------------------------------------

/// hc1 and hc1b share a queue: each change hc1 makes to an item reaches
/// hc1b live as `WORK_ITEM_UPDATED` (not hc2), the queues follow, every
/// change is audited, and a change on a stale version is refused and
/// changes nothing.
async fn changes_to_an_item_reach_the_centres_other_staff_live(backend: Backend) {
    let app = spawn(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hc1b = app.login("hc1b").await;
    let admin = app.login("admin1").await;
    let mut at_hc1 = Subscriber::case_events(&app, &hc1, None, None).await;
    let mut at_hc1b = Subscriber::case_events(&app, &hc1b, None, None).await;
    let mut at_hc2 = Subscriber::case_events(&app, &app.login("hc2").await, None, None).await;

    let colleagues = ok(app.gql(Some(&hc1), "{ colleagues { id username } }", json!({})).await);
    let names: Vec<&Value> =
        colleagues["colleagues"].as_array().into_iter().flatten().map(|c| &c["username"]).collect();
    assert_eq!(names, vec!["hc1", "hc1b"], "{colleagues}");
    let hc1b_id = colleague_id(&app, &hc1, "hc1b").await;

    let (patient, _) = app.register_patient(&clinic, "キョウユウ タロウ", json!({})).await;
    let test = record(&app, &clinic, &patient, "POSITIVE").await;
    let seen = at_hc1.next_event().await;
    let seen_b = at_hc1b.next_event().await;
    assert_eq!((&seen["kind"], &seen["test"]["id"]), (&json!("POSITIVE_RESULT"), &json!(test)), "{seen}");
    assert_eq!(seen["item"], seen_b["item"], "one item for both");
    assert_open_item(&seen);
    let item = seen["item"]["id"].as_str().expect("an item").to_owned();

    // hc1 acknowledges it.
    let acknowledged = ok(act(&app, &hc1, ACKNOWLEDGE, &item, Some(0)).await)["acknowledgeWorkItem"].clone();
    assert_eq!(acknowledged["kind"], "POSITIVE_RESULT", "the answer is the item's event: {acknowledged}");
    assert_eq!(acknowledged["test"]["id"], test.as_str(), "{acknowledged}");
    assert_eq!(acknowledged["item"]["id"], item.as_str(), "{acknowledged}");
    assert_eq!(acknowledged["item"]["state"], "ACKNOWLEDGED", "{acknowledged}");
    assert_eq!(acknowledged["item"]["version"], 1, "{acknowledged}");
    assert!(acknowledged["item"]["updatedAt"].is_string(), "{acknowledged}");
    let update = at_hc1b.next_event().await;
    assert_eq!(update["kind"], "WORK_ITEM_UPDATED", "{update}");
    assert_eq!(update["patient"]["id"], patient.as_str(), "{update}");
    assert_eq!(update["item"]["id"], item.as_str(), "{update}");
    assert_eq!(update["item"]["state"], "ACKNOWLEDGED", "{update}");
    assert_eq!(update["item"]["version"], 1, "{update}");
    assert!(position(&update) > position(&seen_b), "{update}");

    // hc1 gives it to hc1b, who finds it among their own.
    let given = ok(assign(&app, &hc1, &item, &hc1b_id, Some(1)).await)["assignWorkItem"].clone();
    assert_eq!(given["item"]["assigneeId"], hc1b_id.as_str(), "{given}");
    assert_eq!((&given["item"]["state"], &given["item"]["version"]), (&json!("ACKNOWLEDGED"), &json!(2)), "{given}");
    let update = at_hc1b.next_event().await;
    assert_eq!(update["kind"], "WORK_ITEM_UPDATED", "{update}");
    assert_eq!(update["item"]["id"], item.as_str(), "{update}");
    assert_eq!(update["item"]["assigneeId"], hc1b_id.as_str(), "{update}");
    assert_eq!(update["item"]["version"], 2, "{update}");
    let mine = queue(&app, &hc1b, &format!("assigneeId: \"{hc1b_id}\"")).await;
    assert_eq!(item_ids(&mine), vec![item.clone()], "{mine}");

    // hc1 completes it: hc1b sees it done, and their open queue is empty.
    let done = ok(act(&app, &hc1, COMPLETE, &item, Some(2)).await)["completeWorkItem"].clone();
    assert_eq!((&done["item"]["state"], &done["item"]["version"]), (&json!("DONE"), &json!(3)), "{done}");
    let update = at_hc1b.next_event().await;
    assert_eq!(update["kind"], "WORK_ITEM_UPDATED", "{update}");
    assert_eq!(update["item"]["id"], item.as_str(), "{update}");
    assert_eq!(update["item"]["state"], "DONE", "{update}");
    assert_eq!(update["item"]["version"], 3, "{update}");
    let open = queue(&app, &hc1b, "").await;
    assert_eq!(open["totalCount"], 0, "{open}");
    assert_eq!(item_ids(&open), Vec::<String>::new(), "{open}");
    let finished = queue(&app, &hc1b, "states: [DONE]").await;
    assert_eq!(item_ids(&finished), vec![item.clone()], "{finished}");
    assert_eq!(finished["nodes"][0]["item"]["state"], "DONE", "{finished}");

    // A stale version is refused and changes nothing; so is acknowledging
    // a done item.
    for (token, mutation) in [(&hc1b, REOPEN), (&hc1b, ACKNOWLEDGE), (&hc1, COMPLETE)] {
        let stale = act(&app, token, mutation, &item, Some(2)).await;
        assert_eq!(error_code(&stale), Some("CONFLICT"), "{stale}");
    }
    let stale = assign(&app, &hc1b, &item, &hc1b_id, Some(1)).await;
    assert_eq!(error_code(&stale), Some("CONFLICT"), "{stale}");
    let on_done = act(&app, &hc1b, ACKNOWLEDGE, &item, Some(3)).await;
    assert_eq!((error_code(&on_done), error_field(&on_done)), (Some("BAD_USER_INPUT"), Some("id")), "{on_done}");
    let unchanged = queue(&app, &hc1b, "states: [DONE]").await;
    assert_eq!(
        unchanged["nodes"][0]["item"],
        json!({ "id": item, "state": "DONE", "assigneeId": hc1b_id, "version": 3 })
    );
    at_hc1b.expect_silence().await;

    // hc1b reopens it: unassigned and open, and hc1 sees it.
    let reopened = ok(act(&app, &hc1b, REOPEN, &item, Some(3)).await)["reopenWorkItem"].clone();
    assert_eq!(reopened["item"]["state"], "OPEN", "{reopened}");
    assert_eq!(reopened["item"]["assigneeId"], Value::Null, "{reopened}");
    assert_eq!(reopened["item"]["version"], 4, "{reopened}");
    let mut seen_by_hc1 = Vec::new();
    loop {
        let event = at_hc1.next_event().await;
        if event["kind"] == "WORK_ITEM_UPDATED" && event["item"]["version"] == 4 {
            assert_eq!((&event["item"]["id"], &event["item"]["state"]), (&json!(item), &json!("OPEN")), "{event}");
            break;
        }
        seen_by_hc1.push(event);
        assert!(seen_by_hc1.len() <= 3, "hc1 did not see the reopening: {seen_by_hc1:?}");
    }
    assert_eq!(queue(&app, &hc1, "").await["totalCount"], 1);
    at_hc2.expect_silence().await;

    // Every change is audited once, by whoever made it; refusals are not.
    let log = ok(app
        .gql(
            Some(&admin),
            "query($p: ID) { auditLog(patientId: $p, first: 500) { edges { node { action detail account { username } } } } }",
            json!({ "p": patient }),
        )
        .await);
    let entries: Vec<Value> = log["auditLog"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|edge| edge["node"].clone())
        .filter(|node| node["action"].as_str().is_some_and(|action| action.ends_with("_WORK_ITEM")))
        .collect();
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|node| {
            (node["action"].as_str().unwrap_or_default(), node["account"]["username"].as_str().unwrap_or_default())
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("REOPEN_WORK_ITEM", "hc1b"),
            ("COMPLETE_WORK_ITEM", "hc1"),
            ("ASSIGN_WORK_ITEM", "hc1"),
            ("ACKNOWLEDGE_WORK_ITEM", "hc1"),
        ],
        "newest first: {log}"
    );
    let completed = entries[1]["detail"].as_str().unwrap_or_default();
    assert!(completed.starts_with(&format!("work item {item} (POSITIVE_RESULT): ACKNOWLEDGED -> DONE")), "{completed}");
}

// ---------------------------------------------------------------------------
// Resuming
// ---------------------------------------------------------------------------

/// After a crash and a restart, `after` replays every kind of event written
/// meanwhile, in order, then goes on live with no duplicate.
async fn a_resumed_subscription_replays_what_was_missed_across_a_restart(backend: Backend) {
    let app = spawn(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hc2 = app.login("hc2").await;
    let (patient, _) = app.register_patient(&clinic, "フッキ タロウ", json!({})).await;
    let hc2_centre = app.health_centre_id(&hc2, HC2_CODE).await;
    let (incoming, _) =
        app.register_patient(&clinic, "テンニュウ ハナコ", json!({ "healthCentreId": hc2_centre })).await;
    let mut first = Subscriber::case_events(&app, &hc1, None, None).await;
    let positive = record(&app, &clinic, &patient, "POSITIVE").await;
    let seen = first.next_event().await;
    assert_eq!(seen["test"]["id"], positive.as_str(), "{seen}");
    let cursor = seen["cursor"].as_str().expect("a cursor").to_owned();
    let positive_item = seen["item"]["id"].as_str().expect("an item").to_owned();

    app.kill();
    drop(first);
    let restarted = app.another_on_the_same_database().await;
    let hc1 = restarted.login("hc1").await;
    let hc1b = restarted.login("hc1b").await;
    let hc2 = restarted.login("hc2").await;
    // Written while nobody listened.
    let emergency = report(&restarted, &hc1, &patient, 37.0, 95, &[], &["RAPID_BREATHING"]).await;
    let warning = report(&restarted, &hc1, &patient, 38.7, 96, &[], &[]).await;
    let hc1_centre = restarted.health_centre_id(&hc1, HC1_CODE).await;
    transfer(&restarted, &hc2, &incoming, &hc1_centre).await;
    ok(act(&restarted, &hc1b, ACKNOWLEDGE, &positive_item, Some(0)).await);

    // The restarted gateway's watch runs at once and finds the clinic's
    // notifications waiting: left out here, they have their own test.
    let kinds: &[&str] = &["POSITIVE_RESULT", "EMERGENCY_SIGNS", "WARNING_SIGNS", "TRANSFER_IN", "WORK_ITEM_UPDATED"];
    let mut resumed = Subscriber::case_events(&restarted, &hc1, Some(&cursor), Some(kinds)).await;
    let replayed = [
        resumed.next_event().await,
        resumed.next_event().await,
        resumed.next_event().await,
        resumed.next_event().await,
    ];
    let kinds: Vec<&Value> = replayed.iter().map(|event| &event["kind"]).collect();
    assert_eq!(kinds, vec!["EMERGENCY_SIGNS", "WARNING_SIGNS", "TRANSFER_IN", "WORK_ITEM_UPDATED"], "{replayed:?}");
    assert_eq!(replayed[0]["healthReport"]["id"], emergency.as_str(), "{replayed:?}");
    assert_eq!(replayed[0]["emergencySigns"], json!(["RAPID_BREATHING"]), "{replayed:?}");
    assert_eq!(replayed[1]["healthReport"]["id"], warning.as_str(), "{replayed:?}");
    assert_eq!(replayed[1]["warningReasons"], json!(["HIGH_TEMPERATURE"]), "{replayed:?}");
    assert_eq!(replayed[2]["patient"]["id"], incoming.as_str(), "{replayed:?}");
    assert_eq!(replayed[3]["item"]["id"], positive_item.as_str(), "{replayed:?}");
    assert_eq!(replayed[3]["item"]["state"], "ACKNOWLEDGED", "{replayed:?}");
    assert_eq!(replayed[3]["item"]["version"], 1, "{replayed:?}");
    let positions: Vec<(i64, i64)> = replayed.iter().map(position).collect();
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "in cursor order: {positions:?}");
    assert!(position(&seen) < positions[0], "after the cursor: {positions:?}");

    // Then live, with nothing replayed twice.
    let emergency_item = replayed[0]["item"]["id"].as_str().expect("an item").to_owned();
    ok(act(&restarted, &hc1b, COMPLETE, &emergency_item, Some(0)).await);
    let live = resumed.next_event().await;
    assert_eq!(live["kind"], "WORK_ITEM_UPDATED", "{live}");
    assert_eq!((&live["item"]["id"], &live["item"]["state"]), (&json!(emergency_item), &json!("DONE")), "{live}");
    assert!(position(&live) > positions[3], "{live}");
    resumed.expect_silence().await;
}

/// A replayed event carries its item as it stands when it is sent, so that
/// its `version` is the one to act on: acknowledged, done, or untouched.
async fn a_replayed_event_shows_its_item_as_it_stands(backend: Backend) {
    let app = spawn(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (patient, _) = app.register_patient(&clinic, "イマノ ジョウタイ", json!({})).await;
    let positive = record(&app, &clinic, &patient, "POSITIVE").await;
    report(&app, &hc1, &patient, 37.0, 96, &[], &["CANNOT_LIE_DOWN"]).await;
    let later = record(&app, &clinic, &patient, "POSITIVE").await;
    let items = item_ids(&queue(&app, &hc1, "").await);
    let (later_item, emergency_item, positive_item) = (&items[0], &items[1], &items[2]);
    ok(act(&app, &hc1, ACKNOWLEDGE, positive_item, Some(0)).await);
    ok(act(&app, &hc1, COMPLETE, emergency_item, Some(0)).await);

    let mut replay =
        Subscriber::case_events(&app, &hc1, Some("0"), Some(&["POSITIVE_RESULT", "EMERGENCY_SIGNS"])).await;
    let first = replay.next_event().await;
    assert_eq!(first["test"]["id"], positive.as_str(), "{first}");
    assert_eq!(first["item"]["id"], positive_item.as_str(), "{first}");
    assert_eq!((&first["item"]["state"], &first["item"]["version"]), (&json!("ACKNOWLEDGED"), &json!(1)), "{first}");
    assert!(first["item"]["updatedAt"].is_string(), "{first}");
    let second = replay.next_event().await;
    assert_eq!(second["kind"], "EMERGENCY_SIGNS", "{second}");
    assert_eq!(second["item"]["id"], emergency_item.as_str(), "{second}");
    assert_eq!((&second["item"]["state"], &second["item"]["version"]), (&json!("DONE"), &json!(1)), "{second}");
    let third = replay.next_event().await;
    assert_eq!(third["test"]["id"], later.as_str(), "{third}");
    assert_eq!(third["item"]["id"], later_item.as_str(), "{third}");
    assert_open_item(&third);
    replay.expect_silence().await;
}

// ---------------------------------------------------------------------------
// The queue
// ---------------------------------------------------------------------------

/// Against cases made by hand (three positives, one emergency, one
/// warning): counts overall and per kind in one query, the count alone,
/// pages, the state and assignee filters; another centre does not see
/// them, the prefecture does but may not act.
async fn the_queue_counts_pages_and_filters_the_items_made(backend: Backend) {
    let app = spawn(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hc2 = app.login("hc2").await;
    let pref13 = app.login("pref13").await;
    let mut patients = Vec::new();
    for name in ["キュー イチ", "キュー ニ", "キュー サン"] {
        patients.push(app.register_patient(&clinic, name, json!({})).await.0);
    }
    for patient in &patients {
        record(&app, &clinic, patient, "POSITIVE").await;
    }
    report(&app, &hc1, &patients[0], 37.2, 96, &[], &["DAZED"]).await;
    report(&app, &hc1, &patients[1], 38.8, 96, &[], &[]).await;
    // A positive of hc2's, on its queue only.
    let hc2_centre = app.health_centre_id(&hc2, HC2_CODE).await;
    let (theirs, _) = app.register_patient(&clinic, "タニン サブロウ", json!({ "healthCentreId": hc2_centre })).await;
    record(&app, &clinic, &theirs, "POSITIVE").await;

    let counts = ok(app
        .gql(
            Some(&hc1),
            "{ all: workQueue { totalCount }
               positives: workQueue(kinds: [POSITIVE_RESULT], first: 0) { totalCount nodes { kind } pageInfo { hasNextPage } }
               emergency: workQueue(kinds: [EMERGENCY_SIGNS], first: 0) { totalCount }
               warning: workQueue(kinds: [WARNING_SIGNS], first: 0) { totalCount }
               alerts: workQueue(kinds: [EMERGENCY_SIGNS, WARNING_SIGNS], first: 0) { totalCount }
               unreported: workQueue(kinds: [NOT_REPORTED], first: 0) { totalCount pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await);
    assert_eq!(counts["all"]["totalCount"], 5, "{counts}");
    assert_eq!(counts["positives"]["totalCount"], 3, "{counts}");
    assert_eq!(counts["positives"]["nodes"], json!([]), "the count alone: {counts}");
    assert_eq!(counts["positives"]["pageInfo"]["hasNextPage"], true, "{counts}");
    assert_eq!(counts["emergency"]["totalCount"], 1, "{counts}");
    assert_eq!(counts["warning"]["totalCount"], 1, "{counts}");
    assert_eq!(counts["alerts"]["totalCount"], 2, "{counts}");
    assert_eq!(counts["unreported"]["totalCount"], 0, "{counts}");
    assert_eq!(counts["unreported"]["pageInfo"]["hasNextPage"], false, "{counts}");

    // Newest first, page by page.
    let whole = queue(&app, &hc1, "").await;
    let kinds: Vec<&Value> = whole["nodes"].as_array().into_iter().flatten().map(|n| &n["kind"]).collect();
    assert_eq!(
        kinds,
        vec!["WARNING_SIGNS", "EMERGENCY_SIGNS", "POSITIVE_RESULT", "POSITIVE_RESULT", "POSITIVE_RESULT"],
        "{whole}"
    );
    let owners: Vec<&Value> = whole["nodes"].as_array().into_iter().flatten().map(|n| &n["patient"]["id"]).collect();
    assert_eq!(owners, vec![&patients[1], &patients[0], &patients[2], &patients[1], &patients[0]], "{whole}");
    let all_items = item_ids(&whole);
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    for (page_number, expected_len) in [(1, 2), (2, 2), (3, 1)] {
        let args = match &after {
            Some(cursor) => format!("first: 2, after: \"{cursor}\""),
            None => "first: 2".to_owned(),
        };
        let page = queue(&app, &hc1, &args).await;
        assert_eq!(page["totalCount"], 5, "page {page_number}: {page}");
        assert_eq!(item_ids(&page).len(), expected_len, "page {page_number}: {page}");
        assert_eq!(page["pageInfo"]["hasNextPage"], page_number < 3, "page {page_number}: {page}");
        assert_eq!(page["pageInfo"]["hasPreviousPage"], page_number > 1, "page {page_number}: {page}");
        let edges = page["edges"].as_array().cloned().unwrap_or_default();
        assert_eq!(edges.last().map(|edge| edge["cursor"].clone()), Some(page["pageInfo"]["endCursor"].clone()));
        paged.extend(item_ids(&page));
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(paged, all_items, "every item once, in order");

    // The newest positive acknowledged, the next done, the emergency
    // assigned to hc1b.
    let (warning_item, emergency_item, newest, middle) = (&all_items[0], &all_items[1], &all_items[2], &all_items[3]);
    ok(act(&app, &hc1, ACKNOWLEDGE, newest, None).await);
    ok(act(&app, &hc1, COMPLETE, middle, None).await);
    let hc1b_id = colleague_id(&app, &hc1, "hc1b").await;
    let hc1_id = colleague_id(&app, &hc1, "hc1").await;
    ok(assign(&app, &hc1, emergency_item, &hc1b_id, Some(0)).await);
    let by_state = ok(app
        .gql(
            Some(&hc1),
            "query($b: ID!, $a: ID!) {
               standing: workQueue(first: 0) { totalCount }
               open: workQueue(states: [OPEN]) { totalCount nodes { item { id } } }
               acknowledged: workQueue(states: [ACKNOWLEDGED]) { totalCount nodes { item { id state } } }
               done: workQueue(states: [DONE]) { totalCount nodes { item { id state } } }
               every: workQueue(states: [OPEN, ACKNOWLEDGED, DONE], first: 0) { totalCount }
               hc1b: workQueue(assigneeId: $b) { totalCount nodes { item { id assigneeId } } }
               hc1: workQueue(assigneeId: $a, states: [OPEN, ACKNOWLEDGED, DONE]) { totalCount } }",
            json!({ "b": hc1b_id, "a": hc1_id }),
        )
        .await);
    let ids = |list: &Value| -> Vec<String> {
        list["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["item"]["id"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(by_state["standing"]["totalCount"], 4, "{by_state}");
    assert_eq!(by_state["open"]["totalCount"], 2, "{by_state}");
    assert_eq!(ids(&by_state["open"]), vec![warning_item.clone(), all_items[4].clone()], "{by_state}");
    assert_eq!(by_state["acknowledged"]["totalCount"], 2, "{by_state}");
    assert_eq!(ids(&by_state["acknowledged"]), vec![emergency_item.clone(), newest.clone()], "{by_state}");
    assert_eq!(by_state["done"]["totalCount"], 1, "{by_state}");
    assert_eq!(ids(&by_state["done"]), vec![middle.clone()], "{by_state}");
    assert_eq!(by_state["every"]["totalCount"], 5, "{by_state}");
    assert_eq!(by_state["hc1b"]["totalCount"], 1, "{by_state}");
    assert_eq!(by_state["hc1b"]["nodes"][0]["item"], json!({ "id": emergency_item, "assigneeId": hc1b_id }));
    assert_eq!(by_state["hc1"]["totalCount"], 0, "{by_state}");

    // hc2 sees its own item only, and cannot act on hc1's.
    let other = queue(&app, &hc2, "states: [OPEN, ACKNOWLEDGED, DONE]").await;
    assert_eq!(other["totalCount"], 1, "{other}");
    assert_eq!(other["nodes"][0]["patient"]["id"], theirs.as_str(), "{other}");
    assert!(item_ids(&other).iter().all(|id| !all_items.contains(id)), "{other}");
    let foreign = act(&app, &hc2, ACKNOWLEDGE, warning_item, None).await;
    assert_eq!((error_code(&foreign), error_field(&foreign)), (Some("NOT_FOUND"), Some("id")), "{foreign}");

    // pref13 oversees both centres of Tokyo, read-only.
    let tokyo = queue(&app, &pref13, "states: [OPEN, ACKNOWLEDGED, DONE]").await;
    assert_eq!(tokyo["totalCount"], 6, "{tokyo}");
    let seen = item_ids(&tokyo);
    assert!(all_items.iter().all(|id| seen.contains(id)), "{tokyo}");
    assert_eq!(queue(&app, &pref13, "first: 0").await["totalCount"], 5);
    for mutation in [ACKNOWLEDGE, COMPLETE] {
        let refused = act(&app, &pref13, mutation, warning_item, None).await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    }
    let refused = assign(&app, &pref13, warning_item, &hc1b_id, None).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    let still = queue(&app, &hc1, "states: [OPEN]").await;
    assert_eq!(item_ids(&still)[0], *warning_item, "{still}");
    assert_eq!(still["nodes"][0]["item"]["version"], 0, "{still}");
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

/// Arguments out of their domain are refused with BAD_USER_INPUT naming
/// the argument; an unknown item is NOT_FOUND; roles without a queue are
/// FORBIDDEN.
async fn bad_arguments_are_refused_naming_the_argument(backend: Backend) {
    let app = spawn(backend).await;
    let hc1 = app.login("hc1").await;

    // The subscription's `kinds: []` and a malformed `after`.
    for (variables, field) in [(json!({ "kinds": [] }), "kinds"), (json!({ "after": "1:x" }), "after")] {
        let mut subscriber = Subscriber::open(&app, &hc1, CASE_EVENTS, variables.clone()).await;
        let message = subscriber.next().await;
        assert_eq!(message["type"], "next", "{variables}: {message}");
        assert!(message["payload"]["data"].is_null(), "{message}");
        let error = &message["payload"]["errors"][0]["extensions"];
        assert_eq!((&error["code"], &error["field"]), (&json!("BAD_USER_INPUT"), &json!(field)), "{message}");
    }

    let cases = [
        ("kinds: []", "kinds"),
        ("kinds: [WORK_ITEM_UPDATED]", "kinds"),
        ("states: []", "states"),
        ("after: \"not a cursor\"", "after"),
        // A cursor of another list.
        ("after: \"cGF0aWVudDoz\"", "after"),
        ("first: -1", "first"),
        ("first: 501", "first"),
        ("assigneeId: \"nobody\"", "assigneeId"),
    ];
    for (args, field) in cases {
        let response = app.gql(Some(&hc1), &format!("{{ workQueue({args}) {{ totalCount }} }}"), json!({})).await;
        assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{args}: {response}");
        assert_eq!(error_field(&response), Some(field), "{args}: {response}");
    }

    for mutation in [ACKNOWLEDGE, COMPLETE, REOPEN] {
        let unknown = act(&app, &hc1, mutation, "987654321", None).await;
        assert_eq!((error_code(&unknown), error_field(&unknown)), (Some("NOT_FOUND"), Some("id")), "{unknown}");
        let malformed = act(&app, &hc1, mutation, "item-1", None).await;
        assert_eq!(
            (error_code(&malformed), error_field(&malformed)),
            (Some("BAD_USER_INPUT"), Some("id")),
            "{malformed}"
        );
    }

    // Assigning outside the centre: an account of another centre.
    let clinic = app.login("clinic1").await;
    let (patient, _) = app.register_patient(&clinic, "ワリアテ タロウ", json!({})).await;
    record(&app, &clinic, &patient, "POSITIVE").await;
    let item = item_ids(&queue(&app, &hc1, "").await)[0].clone();
    let stranger = colleague_id(&app, &app.login("hc2").await, "hc2").await;
    let refused = assign(&app, &hc1, &item, &stranger, None).await;
    assert_eq!((error_code(&refused), error_field(&refused)), (Some("NOT_FOUND"), Some("accountId")), "{refused}");
    let unchanged = queue(&app, &hc1, "").await;
    assert_eq!(unchanged["nodes"][0]["item"]["version"], 0, "{unchanged}");

    for username in ["clinic1", "analyst1", "admin1"] {
        let token = app.login(username).await;
        let refused = app.gql(Some(&token), "{ workQueue { totalCount } }", json!({})).await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{username}: {refused}");
    }
    let refused = app.gql(Some(&app.login("pref13").await), "{ colleagues { id } }", json!({})).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
}

// ---------------------------------------------------------------------------
// Server-Sent Events and the prefecture
// ---------------------------------------------------------------------------

/// The same subscription over Server-Sent Events delivers an emergency to
/// the centre with personal data, and to the prefecture without it.
async fn server_sent_events_deliver_case_events(backend: Backend) {
    let app = spawn(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (patient, _) = app.register_patient(&clinic, "エスエスイー キンキュウ", json!({})).await;
    let mut centre = EventStream::open(&app, &hc1, CASE_EVENTS, json!({ "kinds": ["EMERGENCY_SIGNS"] })).await;
    let mut tokyo = EventStream::open(&app, &app.login("pref13").await, CASE_EVENTS, json!({})).await;

    let sent = report(&app, &hc1, &patient, 36.9, 97, &[], &["SUDDEN_BREATHLESSNESS"]).await;
    let payload = centre.next().await;
    assert!(payload["errors"].is_null(), "{payload}");
    let event = &payload["data"]["caseEvents"];
    assert_eq!(event["kind"], "EMERGENCY_SIGNS", "{payload}");
    assert_eq!(event["patient"]["id"], patient.as_str(), "{payload}");
    assert_eq!(event["patient"]["nameKanji"], "試験 太郎", "{payload}");
    assert_eq!(event["healthReport"]["id"], sent.as_str(), "{payload}");
    assert_eq!(event["emergencySigns"], json!(["SUDDEN_BREATHLESSNESS"]), "{payload}");
    assert_open_item(event);

    let payload = tokyo.next().await;
    let event = &payload["data"]["caseEvents"];
    assert_eq!(event["kind"], "EMERGENCY_SIGNS", "{payload}");
    assert_eq!(event["patient"]["id"], patient.as_str(), "{payload}");
    assert_eq!(event["patient"]["nameKanji"], Value::Null, "{payload}");
    assert_eq!(event["emergencySigns"], json!(["SUDDEN_BREATHLESSNESS"]), "{payload}");
    let errors = payload["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 1, "{payload}");
    assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN", "{payload}");
    assert_eq!(errors[0]["path"], json!(["caseEvents", "patient", "nameKanji"]), "{payload}");
}

/// pref13 receives its prefecture's case events with personal fields
/// refused exactly as for `positiveResults`, and never a break-glass
/// access, which the patient's centre does receive.
async fn a_prefecture_receives_case_events_without_personal_data(backend: Backend) {
    let app = spawn(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let pref13 = app.login("pref13").await;
    let positives = "subscription { positiveResults {
        patient { id nameKanji responsibleHealthCentre { code } } } }";
    let mut legacy_view = Subscriber::open(&app, &pref13, positives, json!({})).await;
    let mut tokyo = Subscriber::case_events(&app, &pref13, None, None).await;
    let mut at_hc1 = Subscriber::case_events(&app, &hc1, None, None).await;
    let (patient, _) = app.register_patient(&clinic, "トチョウ ジロウ", json!({})).await;

    // A positive: the same refusals on both subscriptions.
    let test = record(&app, &clinic, &patient, "POSITIVE").await;
    let old = legacy_view.next().await;
    let new = tokyo.next().await;
    assert_eq!(new["type"], "next", "{new}");
    let event = &new["payload"]["data"]["caseEvents"];
    assert_eq!((&event["kind"], &event["test"]["id"]), (&json!("POSITIVE_RESULT"), &json!(test)), "{new}");
    assert_eq!(event["patient"], old["payload"]["data"]["positiveResults"]["patient"], "{new} / {old}");
    assert_eq!(event["patient"]["id"], patient.as_str(), "{new}");
    assert_eq!(event["patient"]["nameKanji"], Value::Null, "{new}");
    assert_eq!(event["patient"]["responsibleHealthCentre"]["code"], HC1_CODE, "{new}");
    let refusals = |message: &Value, root: &str| -> Vec<(Value, Value)> {
        message["payload"]["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|error| {
                let mut path = error["path"].clone();
                if let Some(steps) = path.as_array_mut() {
                    assert_eq!(steps.first(), Some(&json!(root)), "{message}");
                    steps.remove(0);
                }
                (error["extensions"]["code"].clone(), path)
            })
            .collect()
    };
    assert_eq!(refusals(&new, "caseEvents"), vec![(json!("FORBIDDEN"), json!(["patient", "nameKanji"]))], "{new}");
    assert_eq!(refusals(&new, "caseEvents"), refusals(&old, "positiveResults"), "{new} / {old}");
    assert_eq!(at_hc1.next_event().await["test"]["id"], test.as_str());

    // An emergency: the signs, not the name.
    report(&app, &hc1, &patient, 37.0, 96, &[], &["PALE_FACE"]).await;
    let message = tokyo.next().await;
    let event = &message["payload"]["data"]["caseEvents"];
    assert_eq!(event["kind"], "EMERGENCY_SIGNS", "{message}");
    assert_eq!(event["emergencySigns"], json!(["PALE_FACE"]), "{message}");
    assert_eq!(event["patient"]["nameKanji"], Value::Null, "{message}");
    assert_eq!(refusals(&message, "caseEvents"), vec![(json!("FORBIDDEN"), json!(["patient", "nameKanji"]))]);
    assert_eq!(at_hc1.next_event().await["kind"], "EMERGENCY_SIGNS");

    // A break-glass access reaches hc1, never the prefecture.
    let (own, _) = app.register_patient(&hc1, "ヒジョウ サブロウ", json!({})).await;
    let hospital = app.login("hospital1").await;
    ok(app
        .gql(
            Some(&hospital),
            "mutation($p: ID!) { breakGlass(patientId: $p, reason: EMERGENCY_TREATMENT,
                explanation: \"brought in unconscious, no relatives reachable\") { id } }",
            json!({ "p": own }),
        )
        .await);
    let alert = at_hc1.next_event().await;
    assert_eq!((&alert["kind"], &alert["patient"]["id"]), (&json!("BREAK_GLASS"), &json!(own)), "{alert}");
    tokyo.expect_silence().await;
    let mut only_break_glass = Subscriber::open(&app, &pref13, CASE_EVENTS, json!({ "kinds": ["BREAK_GLASS"] })).await;
    let refused = only_break_glass.next().await;
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    let tokyo_queue = queue(&app, &pref13, "kinds: [BREAK_GLASS], first: 0").await;
    assert_eq!(tokyo_queue["totalCount"], 0, "{tokyo_queue}");
    let own_queue = queue(&app, &hc1, "kinds: [BREAK_GLASS], first: 0").await;
    assert_eq!(own_queue["totalCount"], 1, "{own_queue}");
}
