//! Live positive results over real WebSocket connections and Server-Sent
//! Events.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::both;
use crate::helpers::{Backend, PATIENCE, Socket, TestApp, next_ws_message, record_test as record, spawn_app, ws_text};

both!(
    a_health_centre_receives_its_own_positives_and_nothing_else,
    resuming_with_after_replays_exactly_the_missed_events_in_order,
    a_server_crash_in_the_middle_loses_no_event,
    the_legacy_graphql_ws_protocol_delivers_too,
    connections_without_a_valid_session_or_role_are_refused,
    logout_ends_an_open_subscription,
    a_prefecture_receives_its_positives_without_personal_data,
    server_sent_events_deliver_positives_where_websocket_is_blocked,
    subscriptions_over_a_limit_are_refused_on_both_transports,
    concurrent_positives_arrive_each_once_in_cursor_order,
    a_malformed_cursor_is_refused_naming_after,
    a_replay_skips_a_patient_who_has_left_the_subscribers_reach,
    no_event_reaches_a_session_after_its_logout_returned,
    a_cursor_beyond_the_replay_window_is_sent_to_the_history_query,
);

/// Logout through one replica closes a WebSocket and an SSE stream of the
/// same session on another within two seconds, by notification: both
/// replicas look sessions up on their own only once a minute here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_replica_closes_the_streams_on_another_within_two_seconds() {
    let slow_check = |config: &mut hersys::config::Config| config.session_check_interval = Duration::from_secs(60);
    let first = crate::helpers::spawn_app_configured(
        Backend::Postgres,
        std::sync::Arc::new(hersys::clock::ManualClock::default()),
        slow_check,
    )
    .await;
    let second = first.another_on_the_same_database_configured(slow_check).await;
    let token = first.login("hc1").await;
    let mut socket = Subscriber::connect(&second, Protocol::Transport, &token, None).await;
    let mut legacy = Subscriber::connect(&second, Protocol::Legacy, &token, None).await;
    let mut sse = second
        .client
        .post(second.url("/graphql/stream"))
        .bearer_auth(&token)
        .json(&json!({ "query": SUBSCRIPTION }))
        .send()
        .await
        .expect("the stream opens");
    tokio::time::sleep(Duration::from_millis(150)).await;

    let out = first.gql(Some(&token), "mutation { logout }", json!({})).await;
    assert!(out["errors"].is_null(), "{out}");
    let logged_out = std::time::Instant::now();
    for subscriber in [&mut socket, &mut legacy] {
        let ended = subscriber.next().await;
        assert!(matches!(ended["type"].as_str(), Some("next" | "data")), "{ended}");
        assert_eq!(ended["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{ended}");
        assert_eq!(subscriber.next().await["type"], "complete");
        assert_eq!(subscriber.next().await, json!({ "type": "close", "code": 4401 }));
    }
    let mut body = String::new();
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_secs(2), sse.chunk()).await {
        body.push_str(&String::from_utf8_lossy(&chunk));
        if body.contains("event: complete") {
            break;
        }
    }
    assert!(body.contains("UNAUTHENTICATED") && body.contains("event: complete"), "{body}");
    let took = logged_out.elapsed();
    assert!(took < Duration::from_secs(2), "the other replica closed its streams after {took:?}");
}

/// Events keep coming while the session signs out: none recorded after the
/// logout returned arrives, and the socket closes.
async fn no_event_reaches_a_session_after_its_logout_returned(backend: Backend) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let app = crate::helpers::spawn_app_configured(
        backend,
        std::sync::Arc::new(hersys::clock::ManualClock::default()),
        |config| config.session_check_interval = Duration::from_secs(60),
    )
    .await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (patient, _) = app.register_patient(&clinic, "タイミング タロウ", json!({})).await;
    let mut subscriber = Subscriber::connect(&app, Protocol::Transport, &hc1, None).await;
    let app = std::sync::Arc::new(app);
    let logged_out = std::sync::Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (app, logged_out, clinic, patient) = (app.clone(), logged_out.clone(), clinic.clone(), patient.clone());
        async move {
            // (test ID, recorded after the logout had returned)
            let mut written = Vec::new();
            for _ in 0..40 {
                let after = logged_out.load(Ordering::SeqCst);
                written.push((record(&app, &clinic, &patient, "POSITIVE").await, after));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            written
        }
    });
    // Some events arrive while the session lives.
    for _ in 0..3 {
        subscriber.next_event().await;
    }
    let out = app.gql(Some(&hc1), "mutation { logout }", json!({})).await;
    assert!(out["errors"].is_null(), "{out}");
    logged_out.store(true, Ordering::SeqCst);
    let written = writer.await.expect("the writer finished");
    let late: Vec<&String> = written.iter().filter(|(_, after)| *after).map(|(id, _)| id).collect();
    assert!(!late.is_empty(), "positives were recorded after the logout");
    loop {
        let message = subscriber.next().await;
        match message["type"].as_str() {
            Some("next") if message["payload"]["errors"].is_null() => {
                let test = message["payload"]["data"]["positiveResults"]["test"]["id"].as_str().unwrap_or_default();
                assert!(!late.iter().any(|id| id.as_str() == test), "test {test} arrived after the logout");
            }
            Some("next") => {
                assert_eq!(message["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{message}");
            }
            Some("complete") => {}
            Some("close") => {
                assert_eq!(message["code"], 4401, "{message}");
                break;
            }
            _ => panic!("unexpected {message}"),
        }
    }
}

/// `pref13` reaches a patient only while the patient's health centre lies
/// in Tokyo: after a transfer to Osaka, a replay leaves that patient's
/// events out (the previous health centre, which keeps read access, still
/// gets them), and an event about a patient still in Tokyo arrives.
async fn a_replay_skips_a_patient_who_has_left_the_subscribers_reach(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let pref13 = app.login("pref13").await;
    let (moved, _) = app.register_patient(&clinic, "テンシュツ タロウ", json!({})).await;
    let (stayed, _) = app.register_patient(&clinic, "トドマル ハナコ", json!({})).await;
    let moved_test = record(&app, &clinic, &moved, "POSITIVE").await;
    let stayed_test = record(&app, &clinic, &stayed, "POSITIVE").await;
    let osaka = app.health_centre_id(&hc1, "271004").await;
    let transferred = app
        .gql(
            Some(&hc1),
            "mutation($p: ID!, $to: ID!) { transferPatient(patientId: $p, toHealthCentreId: $to) { id } }",
            json!({ "p": moved, "to": osaka }),
        )
        .await;
    assert!(transferred["errors"].is_null(), "{transferred}");
    let direct = app.gql(Some(&pref13), "query($id: ID!) { patient(id: $id) { id } }", json!({ "id": moved })).await;
    assert_eq!(direct["data"]["patient"], Value::Null, "pref13 no longer reaches the patient: {direct}");

    for protocol in [Protocol::Transport, Protocol::Legacy] {
        let mut tokyo = Subscriber::connect(&app, protocol, &pref13, Some("0")).await;
        let event = tokyo.next_event().await;
        assert_eq!(event["test"]["id"], stayed_test.as_str(), "{event}");
        tokyo.expect_silence().await;
    }
    let sse = app
        .client
        .post(app.url("/graphql/stream"))
        .bearer_auth(&pref13)
        .json(&json!({ "query": SUBSCRIPTION, "variables": { "after": "0" } }))
        .send()
        .await
        .expect("the stream opens");
    let mut body = String::new();
    let mut chunks = sse;
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_millis(1500), chunks.chunk()).await {
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(body.contains(&format!("\"id\":\"{stayed_test}\"")), "{body}");
    assert!(!body.contains(&format!("\"id\":\"{moved_test}\"")), "{body}");
    assert!(!body.contains("テンシュツ") && !body.contains(&format!("\"id\":\"{moved}\"")), "{body}");

    let history = app
        .gql(
            Some(&pref13),
            "{ positiveResultHistory(after: \"0\") { totalCount nodes { test { id } patient { id } } pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let nodes = history["data"]["positiveResultHistory"]["nodes"].as_array().cloned().unwrap_or_default();
    assert_eq!(nodes.len(), 1, "{history}");
    // The count leaves out what the page leaves out.
    assert_eq!(history["data"]["positiveResultHistory"]["totalCount"], 1, "{history}");
    assert_eq!(nodes[0]["test"]["id"], stayed_test.as_str(), "{history}");

    // The previous health centre keeps read access: both replay.
    let mut previous = Subscriber::connect(&app, Protocol::Transport, &hc1, Some("0")).await;
    let first = previous.next_event().await;
    let second = previous.next_event().await;
    assert_eq!(first["test"]["id"], moved_test.as_str(), "{first}");
    assert_eq!(second["test"]["id"], stayed_test.as_str(), "{second}");
}

/// A client too far behind is not replayed thousands of events with an
/// audit row each: it is told to page through the history query, which
/// gives the same events, and then resumes live from its last cursor.
async fn a_cursor_beyond_the_replay_window_is_sent_to_the_history_query(backend: Backend) {
    let app = crate::helpers::spawn_app_configured(
        backend,
        std::sync::Arc::new(hersys::clock::ManualClock::default()),
        |config| config.replay_window = 3,
    )
    .await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (patient, _) = app.register_patient(&clinic, "マドガイ タロウ", json!({})).await;
    let mut written = Vec::new();
    for _ in 0..5 {
        written.push(record(&app, &clinic, &patient, "POSITIVE").await);
    }
    let mut subscriber = Subscriber::connect(&app, Protocol::Transport, &hc1, Some("0")).await;
    let refused = subscriber.next().await;
    assert_eq!(refused["type"], "next", "{refused}");
    let error = &refused["payload"]["errors"][0];
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert_eq!(error["extensions"]["field"], "after", "{refused}");
    assert!(error["message"].as_str().unwrap_or_default().contains("positiveResultHistory"), "{refused}");

    let mut after = "0".to_owned();
    let mut paged = Vec::new();
    for _ in 0..100 {
        // A page may come back empty while another transaction on the
        // server is still open; it then ends at the cursor it began with.
        let page = app
            .gql(
                Some(&hc1),
                "query($after: String) { positiveResultHistory(after: $after, first: 2) {
                    edges { cursor node { test { id } } } pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await;
        let connection = &page["data"]["positiveResultHistory"];
        for edge in connection["edges"].as_array().cloned().unwrap_or_default() {
            paged.push(edge["node"]["test"]["id"].as_str().unwrap_or_default().to_owned());
        }
        after = connection["pageInfo"]["endCursor"].as_str().unwrap_or_else(|| panic!("{page}")).to_owned();
        if connection["pageInfo"]["hasNextPage"] != true {
            break;
        }
    }
    assert_eq!(paged, written, "every event once, in order");
    let counted = app.gql(Some(&hc1), "{ positiveResultHistory(after: \"0\") { totalCount } }", json!({})).await;
    assert_eq!(counted["data"]["positiveResultHistory"]["totalCount"], written.len(), "{counted}");
    let mut resumed = Subscriber::connect(&app, Protocol::Transport, &hc1, Some(&after)).await;
    resumed.expect_silence().await;
    let next = record(&app, &clinic, &patient, "POSITIVE").await;
    assert_eq!(resumed.next_event().await["test"]["id"], next.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_both_deliver_every_event() {
    let first = spawn_app(Backend::Postgres).await;
    let second = first.another_on_the_same_database().await;
    let clinic = first.login("clinic1").await;
    let mut on_first = Subscriber::connect(&first, Protocol::Transport, &first.login("hc1").await, None).await;
    let mut on_second = Subscriber::connect(&second, Protocol::Transport, &second.login("hc1").await, None).await;
    let (patient, _) = first.register_patient(&clinic, "フクセイ タロウ", json!({})).await;
    let via_first = record(&first, &clinic, &patient, "POSITIVE").await;
    let via_second = record(&second, &clinic, &patient, "POSITIVE").await;
    for subscriber in [&mut on_first, &mut on_second] {
        let a = subscriber.next_event().await;
        let b = subscriber.next_event().await;
        assert_eq!(a["test"]["id"], via_first.as_str());
        assert_eq!(b["test"]["id"], via_second.as_str());
        subscriber.expect_silence().await;
    }
}

/// An outbox event whose transaction began before a positive result and
/// commits after it: the positive result is held back until the older one
/// has committed, and then both arrive, the older first. (Events take their
/// IDs in insertion order but become visible in commit order; a reader in
/// ID order would dispatch the later one and then skip the older.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_late_is_neither_skipped_nor_overtaken() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = spawn_app(Backend::Postgres).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (patient, _) = app.register_patient(&clinic, "オクレ タロウ", json!({})).await;
    let mut subscriber = Subscriber::connect(&app, Protocol::Transport, &hc1, None).await;
    let first = record(&app, &clinic, &patient, "POSITIVE").await;
    let seen = subscriber.next_event().await;
    assert_eq!(seen["test"]["id"], first.as_str());

    // A slow writer: its outbox row is inserted, not yet committed.
    let db = sea_orm::Database::connect(app.database_url.clone()).await.expect("a direct connection");
    let slow = db.begin().await.expect("a transaction");
    slow.execute_unprepared(&format!(
        "INSERT INTO outbox_events (kind, lab_test_id, patient_id, occurred_at, health_centre_id, prefecture_id) \
         SELECT 'POSITIVE_RESULT', t.id, t.patient_id, now(), p.responsible_health_centre_id, hc.prefecture_id \
         FROM lab_tests t JOIN patients p ON p.id = t.patient_id \
         JOIN health_centres hc ON hc.id = p.responsible_health_centre_id WHERE t.id = {first}"
    ))
    .await
    .expect("the slow event");
    let later = record(&app, &clinic, &patient, "POSITIVE").await;
    subscriber.expect_silence().await;
    assert_eq!(outbox_lag(&app).await, 1, "the later event is committed, and waits");
    slow.commit().await.expect("committed");

    let older = subscriber.next_event().await;
    let newer = subscriber.next_event().await;
    assert_eq!(older["test"]["id"], first.as_str(), "the slow writer's event first: {older}");
    assert_eq!(newer["test"]["id"], later.as_str(), "{newer}");
    subscriber.expect_silence().await;
    assert_eq!(outbox_lag(&app).await, 0, "both dispatched");

    // Resuming after the first event replays the same two, in that order.
    let cursor = seen["cursor"].as_str().expect("a cursor").to_owned();
    let mut resumed = Subscriber::connect(&app, Protocol::Transport, &hc1, Some(&cursor)).await;
    assert_eq!(resumed.next_event().await["cursor"], older["cursor"]);
    assert_eq!(resumed.next_event().await["cursor"], newer["cursor"]);
    resumed.expect_silence().await;
}

/// `hersys_outbox_lag_events` from `/metrics`.
async fn outbox_lag(app: &TestApp) -> u64 {
    let metrics = app.client.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("text");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("hersys_outbox_lag_events "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no outbox lag in {metrics}"))
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

async fn concurrent_positives_arrive_each_once_in_cursor_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let mut patients = Vec::new();
    for name in ["ヘイコウ イチ", "ヘイコウ ニ", "ヘイコウ サン", "ヘイコウ ヨン"] {
        patients.push(app.register_patient(&clinic, name, json!({})).await.0);
    }
    let mut subscriber = Subscriber::connect(&app, Protocol::Transport, &hc1, None).await;
    let writes = (0..24).map(|n| record(&app, &clinic, &patients[n % patients.len()], "POSITIVE"));
    let mut written: Vec<String> = futures_util::future::join_all(writes).await;

    let mut received = Vec::new();
    for _ in 0..written.len() {
        received.push(subscriber.next_event().await);
    }
    subscriber.expect_silence().await;
    let positions: Vec<(i64, i64)> = received.iter().map(position).collect();
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "in cursor order: {positions:?}");
    let mut delivered: Vec<String> =
        received.iter().map(|event| event["test"]["id"].as_str().expect("a test").to_owned()).collect();
    delivered.sort();
    written.sort();
    assert_eq!(delivered, written, "every positive once");

    // Resuming after the first replays the others, in the same order.
    let cursor = received[0]["cursor"].as_str().expect("a cursor").to_owned();
    let mut resumed = Subscriber::connect(&app, Protocol::Transport, &hc1, Some(&cursor)).await;
    for expected in &received[1..] {
        assert_eq!(resumed.next_event().await["cursor"], expected["cursor"]);
    }
    resumed.expect_silence().await;
}

async fn a_malformed_cursor_is_refused_naming_after(backend: Backend) {
    let app = spawn_app(backend).await;
    let hc1 = app.login("hc1").await;
    for cursor in ["1:x", "-4", "1:2:3", ""] {
        let mut subscriber = Subscriber::connect(&app, Protocol::Transport, &hc1, Some(cursor)).await;
        // An execution error: a `next` with errors and no data.
        let message = subscriber.next().await;
        assert_eq!(message["type"], "next", "{cursor:?}: {message}");
        assert!(message["payload"]["data"].is_null(), "{message}");
        let error = &message["payload"]["errors"][0]["extensions"];
        assert_eq!((&error["code"], &error["field"]), (&json!("BAD_USER_INPUT"), &json!("after")), "{message}");
    }
}

const SUBSCRIPTION: &str = "subscription($after: String) { positiveResults(after: $after) {
    cursor occurredAt test { id kind result } patient { id nameKanji ageBand responsibleHealthCentre { code } } } }";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// graphql-transport-ws (the `graphql-ws` library).
    Transport,
    /// The legacy graphql-ws of subscriptions-transport-ws.
    Legacy,
}

struct Subscriber {
    socket: Socket,
    protocol: Protocol,
}

impl Subscriber {
    /// Connects, authenticates in connection_init and waits for the ack.
    async fn open(app: &TestApp, protocol: Protocol, token: Option<&str>) -> (Socket, Option<Value>) {
        let mut request = format!("ws://{}/graphql/ws", app.addr).into_client_request().expect("a request");
        let name = match protocol {
            Protocol::Transport => "graphql-transport-ws",
            Protocol::Legacy => "graphql-ws",
        };
        request.headers_mut().insert("Sec-WebSocket-Protocol", name.parse().expect("header"));
        let (mut socket, response) = tokio_tungstenite::connect_async(request).await.expect("the upgrade");
        assert_eq!(response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()), Some(name));
        let payload = match token {
            Some(token) => json!({ "authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        socket.send(ws_text(json!({ "type": "connection_init", "payload": payload }))).await.expect("init sent");
        let answer = next_ws_message(&mut socket).await;
        (socket, answer)
    }

    async fn connect(app: &TestApp, protocol: Protocol, token: &str, after: Option<&str>) -> Subscriber {
        let (mut socket, ack) = Subscriber::open(app, protocol, Some(token)).await;
        assert_eq!(ack.as_ref().map(|a| a["type"].clone()), Some(json!("connection_ack")), "{ack:?}");
        let start = match protocol {
            Protocol::Transport => "subscribe",
            Protocol::Legacy => "start",
        };
        let message =
            json!({ "id": "1", "type": start, "payload": { "query": SUBSCRIPTION, "variables": { "after": after } } });
        socket.send(ws_text(message)).await.expect("subscribe sent");
        // Give the server a moment to register before the test records.
        tokio::time::sleep(Duration::from_millis(150)).await;
        Subscriber { socket, protocol }
    }

    /// The next message of the subscription (next/data, error, complete).
    async fn next(&mut self) -> Value {
        loop {
            let message = next_ws_message(&mut self.socket).await.unwrap_or_else(|| panic!("the stream ended"));
            if matches!(message["type"].as_str(), Some("ka" | "ping" | "pong")) {
                continue;
            }
            return message;
        }
    }

    /// The payload of the next event, which must be a positive result.
    async fn next_event(&mut self) -> Value {
        let message = self.next().await;
        let data_type = match self.protocol {
            Protocol::Transport => "next",
            Protocol::Legacy => "data",
        };
        assert_eq!(message["type"], data_type, "{message}");
        message["payload"]["data"]["positiveResults"].clone()
    }

    /// Nothing arrives for a while.
    async fn expect_silence(&mut self) {
        let quiet = tokio::time::timeout(Duration::from_millis(700), self.next()).await;
        assert!(quiet.is_err(), "unexpected message: {:?}", quiet.ok());
    }
}

async fn a_health_centre_receives_its_own_positives_and_nothing_else(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc2 = app.login("hc2").await;
    let mut hc1 = Subscriber::connect(&app, Protocol::Transport, &app.login("hc1").await, None).await;
    let mut osaka = Subscriber::connect(&app, Protocol::Transport, &app.login("hc3").await, None).await;

    let (patient, _) = app.register_patient(&clinic, "ヨウセイ イチロウ", json!({})).await;
    record(&app, &clinic, &patient, "NEGATIVE").await;
    hc1.expect_silence().await;

    let positive = record(&app, &clinic, &patient, "POSITIVE").await;
    let event = hc1.next_event().await;
    assert_eq!(event["test"]["id"], positive.as_str());
    assert_eq!(event["test"]["result"], "POSITIVE");
    assert_eq!(event["patient"]["id"], patient.as_str());
    assert_eq!(event["patient"]["nameKanji"], "試験 太郎", "the responsible centre sees personal data");
    assert_eq!(event["patient"]["responsibleHealthCentre"]["code"], "131032");
    assert!(event["cursor"].is_string());

    // A pending test turning positive is an event too.
    let pending = record(&app, &clinic, &patient, "PENDING").await;
    hc1.expect_silence().await;
    app.gql(
        Some(&clinic),
        "mutation($t: ID!) { recordTestResult(testId: $t, result: POSITIVE) { id } }",
        json!({ "t": pending }),
    )
    .await;
    assert_eq!(hc1.next_event().await["test"]["id"], pending.as_str());

    // A positive of another centre's patient reaches that centre only: not
    // hc1, and Osaka hears nothing at all.
    let mut shinjuku = Subscriber::connect(&app, Protocol::Transport, &hc2, None).await;
    let hc2_id = app.health_centre_id(&hc2, "131041").await;
    let (theirs, _) = app.register_patient(&clinic, "タニン ジロウ", json!({ "healthCentreId": hc2_id })).await;
    let their_positive = record(&app, &clinic, &theirs, "POSITIVE").await;
    assert_eq!(shinjuku.next_event().await["test"]["id"], their_positive.as_str());
    hc1.expect_silence().await;
    osaka.expect_silence().await;
}

async fn resuming_with_after_replays_exactly_the_missed_events_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (patient, _) = app.register_patient(&clinic, "サイカイ ハナコ", json!({})).await;
    let mut first = Subscriber::connect(&app, Protocol::Transport, &hc1, None).await;
    record(&app, &clinic, &patient, "POSITIVE").await;
    let seen = first.next_event().await;
    let cursor = seen["cursor"].as_str().expect("a cursor").to_owned();
    drop(first);

    // Missed while disconnected (a laptop asleep).
    let mut missed = Vec::new();
    for _ in 0..3 {
        missed.push(record(&app, &clinic, &patient, "POSITIVE").await);
    }
    let mut resumed = Subscriber::connect(&app, Protocol::Transport, &hc1, Some(&cursor)).await;
    for expected in &missed {
        assert_eq!(resumed.next_event().await["test"]["id"], expected.as_str(), "replayed in order");
    }
    let live = record(&app, &clinic, &patient, "POSITIVE").await;
    assert_eq!(resumed.next_event().await["test"]["id"], live.as_str(), "then live, no duplicate at the seam");
    resumed.expect_silence().await;
}

async fn a_server_crash_in_the_middle_loses_no_event(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (patient, _) = app.register_patient(&clinic, "テイシ タロウ", json!({})).await;
    let mut subscriber = Subscriber::connect(&app, Protocol::Transport, &hc1, None).await;
    record(&app, &clinic, &patient, "POSITIVE").await;
    let cursor = subscriber.next_event().await["cursor"].as_str().expect("a cursor").to_owned();

    app.kill();
    let restarted = app.another_on_the_same_database().await;
    let clinic = restarted.login("clinic1").await;
    let during = [
        record(&restarted, &clinic, &patient, "POSITIVE").await,
        record(&restarted, &clinic, &patient, "POSITIVE").await,
    ];
    let hc1 = restarted.login("hc1").await;
    let mut resumed = Subscriber::connect(&restarted, Protocol::Transport, &hc1, Some(&cursor)).await;
    for expected in &during {
        assert_eq!(resumed.next_event().await["test"]["id"], expected.as_str());
    }
    resumed.expect_silence().await;
}

async fn the_legacy_graphql_ws_protocol_delivers_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let mut legacy = Subscriber::connect(&app, Protocol::Legacy, &app.login("hc1").await, None).await;
    let (patient, _) = app.register_patient(&clinic, "キュウシキ サブロウ", json!({})).await;
    let positive = record(&app, &clinic, &patient, "POSITIVE").await;
    assert_eq!(legacy.next_event().await["test"]["id"], positive.as_str());
}

async fn connections_without_a_valid_session_or_role_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    for token in [None, Some("hst_not-a-real-token")] {
        let (_, answer) = Subscriber::open(&app, Protocol::Transport, token).await;
        assert_eq!(answer, Some(json!({ "type": "close", "code": 4403 })), "graphql-transport-ws closes with 4403");
        let (_, legacy) = Subscriber::open(&app, Protocol::Legacy, token).await;
        let legacy = legacy.expect("an answer");
        assert_eq!(legacy["type"], "connection_error", "{legacy}");
        assert_eq!(legacy["payload"]["extensions"]["code"], "UNAUTHENTICATED");
    }
    // Signed in, but not a role that receives positives.
    for username in ["clinic1", "analyst1", "admin1"] {
        let mut subscriber = Subscriber::connect(&app, Protocol::Transport, &app.login(username).await, None).await;
        let refused = subscriber.next().await;
        assert_eq!(refused["type"], "next", "{refused}");
        assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
        assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
        assert_eq!(subscriber.next().await["type"], "complete");
    }
}

async fn logout_ends_an_open_subscription(backend: Backend) {
    let app = spawn_app(backend).await;
    let hc1 = app.login("hc1").await;
    let mut subscriber = Subscriber::connect(&app, Protocol::Transport, &hc1, None).await;
    app.gql(Some(&hc1), "mutation { logout }", json!({})).await;
    let ended = subscriber.next().await;
    assert_eq!(ended["type"], "next", "{ended}");
    assert_eq!(ended["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{ended}");
    assert_eq!(subscriber.next().await["type"], "complete");
}

async fn a_prefecture_receives_its_positives_without_personal_data(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let mut tokyo = Subscriber::connect(&app, Protocol::Transport, &app.login("pref13").await, None).await;
    let (patient, _) = app.register_patient(&clinic, "トチョウ ハナ", json!({})).await;
    record(&app, &clinic, &patient, "POSITIVE").await;
    let message = tokyo.next().await;
    assert_eq!(message["payload"]["data"]["positiveResults"]["patient"]["id"], patient.as_str(), "{message}");
    assert_eq!(message["payload"]["data"]["positiveResults"]["patient"]["nameKanji"], Value::Null);
    let error = &message["payload"]["errors"][0];
    assert_eq!(error["extensions"]["code"], "FORBIDDEN", "{message}");
    assert_eq!(error["path"], json!(["positiveResults", "patient", "nameKanji"]));
}

async fn server_sent_events_deliver_positives_where_websocket_is_blocked(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let (patient, _) = app.register_patient(&clinic, "エスエスイー タロウ", json!({})).await;
    let response = app
        .client
        .post(app.url("/graphql/stream"))
        .bearer_auth(&hc1)
        .header("Accept", "text/event-stream")
        .json(&json!({ "query": SUBSCRIPTION }))
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/event-stream"));
    let mut response = response;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let positive = record(&app, &clinic, &patient, "POSITIVE").await;
    let mut received = String::new();
    let event = tokio::time::timeout(PATIENCE, async {
        while let Ok(Some(chunk)) = response.chunk().await {
            received.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(data) = received.split("\n\n").find(|block| block.contains("event: next")) {
                let json = data.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or_default();
                return serde_json::from_str::<Value>(json).ok();
            }
        }
        None
    })
    .await
    .expect("an event in time")
    .expect("a next event");
    assert_eq!(event["data"]["positiveResults"]["test"]["id"], positive.as_str());
}

async fn subscriptions_over_a_limit_are_refused_on_both_transports(backend: Backend) {
    let app = spawn_app(backend).await;
    let hc1 = app.login("hc1").await;
    let aliases = (0..51).map(|i| format!("c{i}: cursor")).collect::<Vec<_>>().join(" ");
    let query = format!("subscription {{ positiveResults {{ {aliases} }} }}");

    let (mut socket, ack) = Subscriber::open(&app, Protocol::Transport, Some(&hc1)).await;
    assert_eq!(ack.as_ref().map(|a| a["type"].clone()), Some(json!("connection_ack")), "{ack:?}");
    socket
        .send(ws_text(json!({ "id": "1", "type": "subscribe", "payload": { "query": query } })))
        .await
        .expect("subscribe sent");
    let answer = next_ws_message(&mut socket).await.expect("an answer");
    // An operation refused before it runs gets the protocol's `error`
    // message with the GraphQL errors.
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["id"], "1", "{answer}");
    assert_eq!(answer["payload"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{answer}");
    assert_eq!(answer["payload"][0]["extensions"]["limit"], "maxAliases", "{answer}");

    let response = app
        .client
        .post(app.url("/graphql/stream"))
        .bearer_auth(&hc1)
        .header("Accept", "text/event-stream")
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("answered");
    // Refused before the stream starts: a GraphQL-over-HTTP answer.
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["limit"], "maxAliases", "{body}");
}
