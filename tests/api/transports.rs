//! Every promise of the request pipeline holds on every transport: `POST
//! /graphql`, WebSocket with `graphql-transport-ws` and with the legacy
//! `graphql-ws`, and Server-Sent Events. Each test below walks
//! `Transport::ALL` through one client that speaks all of them, and both
//! that client and the table of stages below match on the library's own
//! enums without a catch-all arm: a transport or a stage added to the
//! pipeline does not compile here until a test covers it, so the table
//! cannot silently miss one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hersys::clock::ManualClock;
use hersys::pipeline::persisted::sha256_hex;
use hersys::pipeline::ratelimit::Rate;
use hersys::pipeline::{Stage, Transport};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::both;
use crate::helpers::{Backend, DEMO_PASSWORD, TestApp, record_test, spawn_app, spawn_app_configured};

/// Declares the tests (on both backends) and keeps their names, so that
/// the table of stages can be checked against them.
macro_rules! transport_tests {
    ($($name:ident),* $(,)?) => {
        both!($($name),*);

        /// The tests of this module that run on every transport.
        const TESTS: &[&str] = &[$(stringify!($name)),*];
    };
}

transport_tests!(
    a_session_ended_any_way_is_refused_on_every_transport,
    personal_reads_are_audited_on_every_transport,
    denied_fields_are_null_in_place_and_objects_stay_objects_on_every_transport,
    the_safelist_holds_on_every_transport,
    persisted_queries_follow_the_same_rules_on_every_transport,
    the_per_account_limit_holds_on_every_transport,
    the_per_address_limit_holds_on_every_transport,
    the_deadline_holds_on_every_transport,
    limits_hold_on_every_transport,
    stream_and_batch_bounds_hold,
    operations_are_counted_on_every_transport,
    break_glass_is_told_live_and_its_reads_audited_as_such_on_every_transport,
    a_contact_handed_over_is_told_live_to_the_receiving_centre_on_every_transport,
    the_work_queue_and_its_actions_hold_on_every_transport,
);

/// The tests that prove a stage's promise on every transport. A stage that
/// only one transport has names the test of that transport.
fn promise_of(stage: Stage) -> &'static [&'static str] {
    match stage {
        Stage::Caller => &["a_session_ended_any_way_is_refused_on_every_transport"],
        Stage::Persisted => {
            &["persisted_queries_follow_the_same_rules_on_every_transport", "the_safelist_holds_on_every_transport"]
        }
        Stage::Admission => &["limits_hold_on_every_transport", "stream_and_batch_bounds_hold"],
        Stage::RateLimit => {
            &["the_per_account_limit_holds_on_every_transport", "the_per_address_limit_holds_on_every_transport"]
        }
        // Only `POST` carries the `Idempotency-Key` header, so only `POST`
        // has this stage to prove.
        Stage::Idempotency => &[
            "lifecycle::a_retried_mutation_with_the_same_idempotency_key_writes_once",
            "stores::a_replay_is_answered_only_to_the_first_session_and_audited_as_a_read",
            "stores::sign_in_and_password_changes_take_no_idempotency_key_and_nothing_is_stored",
        ],
        Stage::Deadline => &["the_deadline_holds_on_every_transport"],
        Stage::Execution | Stage::ReadAudit => &["personal_reads_are_audited_on_every_transport"],
        Stage::Shaping => &["denied_fields_are_null_in_place_and_objects_stay_objects_on_every_transport"],
        Stage::Metrics => &["operations_are_counted_on_every_transport"],
    }
}

#[test]
fn every_stage_of_the_pipeline_names_a_test_that_covers_it() {
    let stages: HashSet<Stage> = Stage::ALL.into_iter().collect();
    assert_eq!(stages.len(), Stage::ALL.len(), "each stage is listed once");
    for stage in Stage::ALL {
        let tests = promise_of(stage);
        assert!(!tests.is_empty(), "{stage:?} names no test");
        for test in tests {
            // A test of another module is named with its module.
            assert!(test.contains("::") || TESTS.contains(test), "{stage:?} names {test}, which is not a test here");
        }
    }
}

/// How long a test waits for something that should come.
const PATIENCE: Duration = Duration::from_secs(10);

/// How soon a stream must learn that its session has ended.
pub(crate) const PROMPTLY: Duration = Duration::from_secs(2);

/// What a client is told when its token's session has ended.
const ENDED: &str = "the session has ended";

/// What a client is told when its token was never a session here.
const UNKNOWN: &str = "not a session of this server";

/// A subscription that runs until it is stopped.
const POSITIVES: &str = "subscription { positiveResults { cursor } }";

/// JSON as it was sent, objects with their members in order: the tests
/// compare key orders, and serde_json's `Value` keeps its keys sorted.
#[derive(Debug, Clone, PartialEq)]
enum Ordered {
    Null,
    Scalar,
    List(Vec<Ordered>),
    Object(Vec<(String, Ordered)>),
}

static NULL: Ordered = Ordered::Null;

impl Ordered {
    fn parse(text: &str) -> Ordered {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    fn get(&self, key: &str) -> &Ordered {
        match self {
            Ordered::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    fn at(&self, index: usize) -> &Ordered {
        match self {
            Ordered::List(items) => items.get(index).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            Ordered::Object(members) => members.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Ordered, D::Error> {
        deserializer.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> serde::de::Visitor<'de> for OrderedVisitor {
    type Value = Ordered;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Ordered, E> {
        Ok(Ordered::Scalar)
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Ordered, E> {
        Ok(Ordered::Scalar)
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Ordered, E> {
        Ok(Ordered::Scalar)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Ordered, E> {
        Ok(Ordered::Scalar)
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Ordered, E> {
        Ok(Ordered::Scalar)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Ordered, E> {
        Ok(Ordered::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Ordered::List(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry::<String, Ordered>()? {
            members.push(member);
        }
        Ok(Ordered::Object(members))
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// What one operation got back, whatever carried it.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    /// The HTTP status (`POST`, and Server-Sent Events).
    status: Option<u16>,
    retry_after: Option<String>,
    /// Each result: the body of a `POST`, a `next` (legacy `data`)
    /// message, a `next` event. Each is a GraphQL response.
    payloads: Vec<Value>,
    /// The same results, their members in the order they were sent.
    ordered: Vec<Ordered>,
    /// The errors of an operation refused before it ran: a WebSocket
    /// `error` (or legacy `connection_error`), or the JSON answer that
    /// refused to start a Server-Sent Events stream.
    refusal: Vec<Value>,
    /// The operation ended with `complete`.
    completed: bool,
    /// The code the WebSocket was closed with.
    pub(crate) close: Option<u16>,
}

impl Reply {
    /// The refusal's errors, then those of the first result.
    pub(crate) fn errors(&self) -> Vec<&Value> {
        let first = self.payloads.first().and_then(|p| p["errors"].as_array()).into_iter().flatten();
        self.refusal.iter().chain(first).collect()
    }

    pub(crate) fn first_error(&self) -> Value {
        self.errors().first().map(|error| (*error).clone()).unwrap_or(Value::Null)
    }

    pub(crate) fn first_code(&self) -> Option<String> {
        self.errors().iter().find_map(|error| error["extensions"]["code"].as_str().map(str::to_owned))
    }

    pub(crate) fn first_message(&self) -> String {
        self.first_error()["message"].as_str().unwrap_or_default().to_owned()
    }

    /// The data of the first result.
    pub(crate) fn data(&self) -> &Value {
        self.payloads.first().map(|p| &p["data"]).unwrap_or(&Value::Null)
    }

    /// The first result as sent.
    fn ordered_data(&self) -> &Ordered {
        self.ordered.first().map(|p| p.get("data")).unwrap_or(&NULL)
    }
}

/// Sends one operation over `transport` and waits for all of its answer;
/// over a WebSocket on a connection of its own.
pub(crate) async fn send(app: &TestApp, transport: Transport, token: Option<&str>, body: Value) -> Reply {
    match transport {
        Transport::Http => post(app, token, &body).await,
        Transport::TransportWs | Transport::LegacyWs => match Socket::open(app, transport, token).await {
            Ok(mut socket) => socket.run("1", &body).await,
            Err(refused) => refused,
        },
        Transport::ServerSentEvents => match EventStream::open(app, token, &body).await {
            Ok(stream) => stream.collect().await,
            Err(refused) => refused,
        },
    }
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn post(app: &TestApp, token: Option<&str>, body: &Value) -> Reply {
    let mut request = app.client.post(app.url("/graphql")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let retry_after = header(&response, "retry-after");
    let text = response.text().await.expect("a body");
    Reply {
        status: Some(status),
        retry_after,
        payloads: vec![parse(&text)],
        ordered: vec![Ordered::parse(&text)],
        ..Reply::default()
    }
}

type WebSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A message from the server.
enum Incoming {
    Text(String),
    /// The connection closed, with its close code if it sent one.
    Closed(Option<u16>),
}

/// A GraphQL WebSocket connection, in either sub-protocol.
pub(crate) struct Socket {
    socket: WebSocket,
    legacy: bool,
}

impl Socket {
    /// Connects and authenticates in `connection_init`; the refusal if the
    /// server does not acknowledge.
    async fn open(app: &TestApp, transport: Transport, token: Option<&str>) -> Result<Socket, Reply> {
        let (protocol, legacy) = match transport {
            Transport::TransportWs => ("graphql-transport-ws", false),
            Transport::LegacyWs => ("graphql-ws", true),
            Transport::Http | Transport::ServerSentEvents => panic!("{transport:?} is not a WebSocket"),
        };
        let mut request = format!("ws://{}/graphql/ws", app.addr).into_client_request().expect("a request");
        request.headers_mut().insert("Sec-WebSocket-Protocol", protocol.parse().expect("a header value"));
        let socket = match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => socket,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                // The upgrade itself was refused, with an HTTP answer.
                let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
                let refusal = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|body| body["errors"].as_array().cloned())
                    .unwrap_or_default();
                let retry_after =
                    response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                return Err(Reply {
                    status: Some(response.status().as_u16()),
                    retry_after,
                    refusal,
                    ..Reply::default()
                });
            }
            Err(e) => panic!("the upgrade failed: {e}"),
        };
        let mut socket = Socket { socket, legacy };
        let payload = match token {
            Some(token) => json!({ "authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        socket.send(json!({ "type": "connection_init", "payload": payload })).await;
        let mut refused = Reply::default();
        loop {
            match socket.receive(PATIENCE).await {
                Incoming::Text(text) => {
                    let message = parse(&text);
                    match message["type"].as_str() {
                        Some("connection_ack") => return Ok(socket),
                        Some("connection_error") => refused.refusal.push(message["payload"].clone()),
                        _ => {}
                    }
                }
                Incoming::Closed(code) => {
                    refused.close = code;
                    return Err(refused);
                }
            }
        }
    }

    /// Connects, expecting the server to acknowledge.
    pub(crate) async fn connect(app: &TestApp, transport: Transport, token: &str) -> Socket {
        Socket::open(app, transport, Some(token))
            .await
            .unwrap_or_else(|refused| panic!("{transport:?}: the connection was refused: {refused:?}"))
    }

    async fn send(&mut self, message: Value) {
        self.socket.send(Message::Text(message.to_string().into())).await.expect("sent");
    }

    /// The type of the messages that carry results.
    fn result_type(&self) -> &'static str {
        if self.legacy { "data" } else { "next" }
    }

    pub(crate) async fn start(&mut self, id: &str, body: &Value) {
        let kind = if self.legacy { "start" } else { "subscribe" };
        self.send(json!({ "id": id, "type": kind, "payload": body })).await;
    }

    async fn stop(&mut self, id: &str) {
        let kind = if self.legacy { "stop" } else { "complete" };
        self.send(json!({ "id": id, "type": kind })).await;
    }

    /// The next text or the end of the connection, within `within`.
    async fn receive(&mut self, within: Duration) -> Incoming {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no message from the server within {within:?}"));
            match message {
                Some(Ok(Message::Text(text))) => return Incoming::Text(text.as_str().to_owned()),
                Some(Ok(Message::Close(frame))) => return Incoming::Closed(frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Incoming::Closed(None),
            }
        }
    }

    /// The next protocol message as JSON, keep-alives skipped; the end of
    /// the connection as `{"type": "close", "code": …}`.
    pub(crate) async fn next_within(&mut self, within: Duration) -> Value {
        loop {
            match self.receive(within).await {
                Incoming::Text(text) => {
                    let message = parse(&text);
                    if !matches!(message["type"].as_str(), Some("ka" | "ping" | "pong")) {
                        return message;
                    }
                }
                Incoming::Closed(code) => return json!({ "type": "close", "code": code }),
            }
        }
    }

    async fn next(&mut self) -> Value {
        self.next_within(PATIENCE).await
    }

    /// Runs one operation on this connection and reads it to its end.
    pub(crate) async fn run(&mut self, id: &str, body: &Value) -> Reply {
        self.start(id, body).await;
        let mut reply = Reply::default();
        loop {
            let text = match self.receive(PATIENCE).await {
                Incoming::Text(text) => text,
                Incoming::Closed(code) => {
                    reply.close = code;
                    return reply;
                }
            };
            let message = parse(&text);
            if message["id"] != id {
                continue;
            }
            match message["type"].as_str() {
                Some(kind) if kind == self.result_type() => {
                    reply.payloads.push(message["payload"].clone());
                    reply.ordered.push(Ordered::parse(&text).get("payload").clone());
                }
                Some("error") => {
                    reply.refusal = match &message["payload"] {
                        Value::Array(errors) => errors.clone(),
                        other => vec![other.clone()],
                    };
                    // graphql-transport-ws ends an operation with its error;
                    // the legacy protocol sends `complete` after it.
                    if !self.legacy {
                        return reply;
                    }
                }
                Some("complete") => {
                    reply.completed = true;
                    return reply;
                }
                _ => panic!("unexpected message for operation {id}: {text}"),
            }
        }
    }

    /// Closes the connection and waits until the server has let it go.
    async fn close(mut self) {
        let _ = self.socket.close(None).await;
        while let Ok(Some(Ok(_))) = tokio::time::timeout(PATIENCE, self.socket.next()).await {}
    }
}

/// A `POST /graphql/stream` response being read.
struct EventStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl EventStream {
    /// Starts the stream; the JSON answer if the server refused to.
    async fn open(app: &TestApp, token: Option<&str>, body: &Value) -> Result<EventStream, Reply> {
        let mut request = app.client.post(app.url("/graphql/stream")).header("accept", "text/event-stream").json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("answered");
        let streaming = header(&response, "content-type").is_some_and(|t| t.starts_with("text/event-stream"));
        if streaming && response.status() == 200 {
            return Ok(EventStream { response, buffer: Vec::new() });
        }
        let status = response.status().as_u16();
        let retry_after = header(&response, "retry-after");
        let body = parse(&response.text().await.expect("a body"));
        let refusal = body["errors"].as_array().cloned().unwrap_or_default();
        Err(Reply { status: Some(status), retry_after, refusal, ..Reply::default() })
    }

    /// The next event's name and data, within `within`; `None` once the
    /// stream has ended.
    async fn next_event(&mut self, within: Duration) -> Option<(String, String)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.windows(2).position(|pair| pair == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let block = String::from_utf8_lossy(&block);
                let mut name = None;
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        name = Some(value.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push(value.strip_prefix(' ').unwrap_or(value).to_owned());
                    }
                }
                // A block of comments only is a keep-alive.
                if name.is_some() || !data.is_empty() {
                    return Some((name.unwrap_or_else(|| "message".to_owned()), data.join("\n")));
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no event within {within:?}"));
            match chunk {
                Ok(Some(bytes)) => self.buffer.extend_from_slice(&bytes),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Reads the stream to its end.
    async fn collect(mut self) -> Reply {
        let mut reply = Reply { status: Some(200), ..Reply::default() };
        while let Some((name, data)) = self.next_event(PATIENCE).await {
            match name.as_str() {
                "next" => {
                    reply.payloads.push(parse(&data));
                    reply.ordered.push(Ordered::parse(&data));
                }
                "complete" => {
                    reply.completed = true;
                    break;
                }
                other => panic!("unexpected event {other}: {data}"),
            }
        }
        reply
    }

    /// The payload of the next `next` event.
    async fn next_result(&mut self) -> Value {
        match self.next_event(PATIENCE).await {
            Some((name, data)) if name == "next" => parse(&data),
            other => panic!("expected a next event, got {other:?}"),
        }
    }
}

/// An operation left running on a streaming transport.
enum Listener {
    Socket(Box<Socket>),
    Events(Box<EventStream>),
}

/// Starts `body` on `transport` and leaves it running; `None` on `POST`,
/// which holds nothing open.
async fn listen(app: &TestApp, transport: Transport, token: &str, body: &Value) -> Option<Listener> {
    match transport {
        Transport::Http => None,
        Transport::TransportWs | Transport::LegacyWs => {
            let mut socket = Socket::connect(app, transport, token).await;
            socket.start("1", body).await;
            Some(Listener::Socket(Box::new(socket)))
        }
        Transport::ServerSentEvents => {
            let stream = EventStream::open(app, Some(token), body)
                .await
                .unwrap_or_else(|refused| panic!("the stream was refused: {refused:?}"));
            Some(Listener::Events(Box::new(stream)))
        }
    }
}

impl Listener {
    /// The payload of the next result.
    async fn next_result(&mut self) -> Value {
        match self {
            Listener::Socket(socket) => {
                let message = socket.next().await;
                assert_eq!(message["type"], socket.result_type(), "{message}");
                message["payload"].clone()
            }
            Listener::Events(stream) => stream.next_result().await,
        }
    }
}

fn ok(response: Value) -> Value {
    assert!(response["errors"].is_null(), "{response}");
    response["data"].clone()
}

/// Operations that ran answer once: a `POST` with 200, a stream with one
/// result and then `complete`.
fn assert_answered_once(transport: Transport, reply: &Reply) {
    match transport {
        Transport::Http => assert_eq!(reply.status, Some(200), "{reply:?}"),
        Transport::TransportWs | Transport::LegacyWs | Transport::ServerSentEvents => {
            assert_eq!(reply.payloads.len(), 1, "{transport:?}: {reply:?}");
            assert!(reply.completed, "{transport:?}: {reply:?}");
        }
    }
}

/// An operation refused before it ran, each transport in its own way:
/// `POST` answers 200 (`application/json`) with no data, Server-Sent Events
/// a JSON answer with the status of a request error, a WebSocket an `error`
/// message (followed by `complete` in the legacy protocol).
pub(crate) fn assert_refused_before_running(transport: Transport, reply: &Reply, stream_status: u16) {
    match transport {
        Transport::Http => {
            assert_eq!(reply.status, Some(200), "{reply:?}");
            assert!(reply.data().is_null(), "{reply:?}");
        }
        Transport::ServerSentEvents => {
            assert_eq!(reply.status, Some(stream_status), "{reply:?}");
            assert!(reply.payloads.is_empty() && !reply.refusal.is_empty(), "{reply:?}");
        }
        Transport::TransportWs => {
            assert!(reply.payloads.is_empty() && !reply.refusal.is_empty(), "{transport:?}: {reply:?}");
            assert_eq!(reply.close, None, "the connection stays open: {reply:?}");
        }
        Transport::LegacyWs => {
            assert!(reply.payloads.is_empty() && !reply.refusal.is_empty(), "{transport:?}: {reply:?}");
            assert!(reply.completed, "{reply:?}");
        }
    }
}

/// Each account's ID and its organisation's ID, by username.
async fn accounts(app: &TestApp, admin: &str) -> HashMap<String, (String, String)> {
    let response =
        app.gql(Some(admin), "{ accounts(first: 500) { nodes { id username organisation { id } } } }", json!({})).await;
    response["data"]["accounts"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .filter_map(|account| {
            Some((
                account["username"].as_str()?.to_owned(),
                (account["id"].as_str()?.to_owned(), account["organisation"]["id"].as_str()?.to_owned()),
            ))
        })
        .collect()
}

/// The audit entries about a patient, as an administrator reads them.
async fn audit_entries(app: &TestApp, admin: &str, patient: &str) -> Vec<Value> {
    let response = app
        .gql(
            Some(admin),
            "query($p: ID) { auditLog(patientId: $p, first: 500) {
                edges { node { action account { username } fields operation } } } }",
            json!({ "p": patient }),
        )
        .await;
    response["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

/// Opens a `positiveResults` subscription of `token` on each streaming
/// transport, and gives the server a moment to start them.
async fn watch(app: &TestApp, token: &str) -> Vec<(Transport, Listener)> {
    let mut listeners = Vec::new();
    for transport in Transport::ALL {
        if let Some(listener) = listen(app, transport, token, &json!({ "query": POSITIVES })).await {
            listeners.push((transport, listener));
        }
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    listeners
}

/// The streams of a session that ended at `since` were told so and closed
/// within two seconds.
async fn assert_streams_ended(way: &str, listeners: Vec<(Transport, Listener)>, since: Instant) {
    for (transport, listener) in listeners {
        match listener {
            Listener::Socket(mut socket) => {
                let notice = socket.next_within(PROMPTLY).await;
                assert_eq!(notice["type"], socket.result_type(), "{way}, {transport:?}: {notice}");
                let error = &notice["payload"]["errors"][0];
                assert_eq!(error["extensions"]["code"], "UNAUTHENTICATED", "{way}, {transport:?}: {notice}");
                assert!(notice["payload"]["data"].is_null(), "{way}, {transport:?}: {notice}");
                let complete = socket.next_within(PROMPTLY).await;
                assert_eq!(complete, json!({ "type": "complete", "id": "1" }), "{way}, {transport:?}");
                let closed = socket.next_within(PROMPTLY).await;
                assert_eq!(closed, json!({ "type": "close", "code": 4401 }), "{way}, {transport:?}");
            }
            Listener::Events(mut stream) => {
                let event = stream.next_event(PROMPTLY).await;
                let (name, data) = event.unwrap_or_else(|| panic!("{way}, {transport:?}: the stream ended silently"));
                assert_eq!(name, "next", "{way}, {transport:?}: {data}");
                let notice = parse(&data);
                assert_eq!(
                    notice["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
                    "{way}, {transport:?}: {data}"
                );
                assert!(notice["data"].is_null(), "{way}, {transport:?}: {data}");
            }
        }
        let took = since.elapsed();
        assert!(took < PROMPTLY, "{way}, {transport:?}: the stream learned of the end after {took:?}");
    }
}

/// An ended session's token is refused on every transport, with the
/// message of an ended session, and reads nothing.
async fn assert_refused_as_ended(app: &TestApp, way: &str, token: &str) {
    for transport in Transport::ALL {
        let reply = send(app, transport, Some(token), json!({ "query": "{ me { username } }" })).await;
        assert!(
            reply.payloads.iter().all(|payload| payload["data"].is_null()),
            "{way}, {transport:?}: data for an ended session: {reply:?}"
        );
        match transport {
            // The protocol refuses `connection_init` with a close code only.
            Transport::TransportWs => assert_eq!(reply.close, Some(4403), "{way}, {transport:?}: {reply:?}"),
            Transport::Http | Transport::LegacyWs | Transport::ServerSentEvents => {
                assert_eq!(reply.first_code().as_deref(), Some("UNAUTHENTICATED"), "{way}, {transport:?}: {reply:?}");
                assert!(reply.first_message().contains(ENDED), "{way}, {transport:?}: {reply:?}");
            }
        }
    }
}

async fn a_session_ended_any_way_is_refused_on_every_transport(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let clinic = app.login("clinic1").await;
    let accounts = accounts(&app, &admin).await;
    let account = |username: &str| accounts.get(username).cloned().unwrap_or_else(|| panic!("no {username}"));

    let token = app.login("hc1").await;
    let streams = watch(&app, &token).await;
    ok(app.gql(Some(&token), "mutation { logout }", json!({})).await);
    assert_streams_ended("logout", streams, Instant::now()).await;
    assert_refused_as_ended(&app, "logout", &token).await;

    // Ended from another session of the same account.
    let token = app.login("hc1").await;
    let other = app.login("hc1").await;
    let streams = watch(&app, &token).await;
    ok(app.gql(Some(&other), "mutation { logoutEverywhere }", json!({})).await);
    assert_streams_ended("logoutEverywhere", streams, Instant::now()).await;
    assert_refused_as_ended(&app, "logoutEverywhere", &token).await;
    assert_refused_as_ended(&app, "logoutEverywhere", &other).await;

    // Ended by its owner from another session, one session only.
    let token = app.login("hc1").await;
    let other = app.login("hc1").await;
    let streams = watch(&app, &token).await;
    let sessions = ok(app.gql(Some(&other), "{ mySessions { id current } }", json!({})).await);
    let id = sessions["mySessions"]
        .as_array()
        .and_then(|list| list.iter().find(|session| session["current"] == false))
        .map(|session| session["id"].clone())
        .unwrap_or_else(|| panic!("the other session is listed: {sessions}"));
    ok(app.gql(Some(&other), "mutation($id: ID!) { endSession(id: $id) }", json!({ "id": id })).await);
    assert_streams_ended("endSession", streams, Instant::now()).await;
    assert_refused_as_ended(&app, "endSession", &token).await;
    assert_eq!(ok(app.gql(Some(&other), "{ me { username } }", json!({})).await)["me"]["username"], "hc1");

    // A password change ends the account's other sessions, not the one
    // that changed it.
    let changing = app.login("pref13").await;
    let token = app.login("pref13").await;
    let streams = watch(&app, &token).await;
    let changed = ok(app
        .gql(
            Some(&changing),
            "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }",
            json!({ "c": DEMO_PASSWORD, "n": "Kanagawa-Fuji-2031" }),
        )
        .await);
    assert_eq!(changed["changePassword"], true);
    assert_streams_ended("changePassword", streams, Instant::now()).await;
    assert_refused_as_ended(&app, "changePassword", &token).await;
    assert_eq!(ok(app.gql(Some(&changing), "{ me { username } }", json!({})).await)["me"]["username"], "pref13");

    let token = app.login("hc3").await;
    let streams = watch(&app, &token).await;
    ok(app
        .gql(
            Some(&admin),
            "mutation($a: ID!) { disableAccount(accountId: $a) { id } }",
            json!({ "a": account("hc3").0 }),
        )
        .await);
    assert_streams_ended("disableAccount", streams, Instant::now()).await;
    assert_refused_as_ended(&app, "disableAccount", &token).await;

    let token = app.login("hc2").await;
    let streams = watch(&app, &token).await;
    ok(app
        .gql(
            Some(&admin),
            "mutation($a: ID!, $o: ID!) { assignOrganisation(accountId: $a, organisationId: $o) { id } }",
            json!({ "a": account("hc2").0, "o": account("hc1").1 }),
        )
        .await);
    // A move into a health centre takes effect when a second administrator
    // approves it: that is when the sessions end.
    let admin2 = app.login("admin2").await;
    let pending = ok(app.gql(Some(&admin2), "{ accountChanges { id } }", json!({})).await);
    ok(app
        .gql(
            Some(&admin2),
            "mutation($c: ID!) { approveAccountChange(changeId: $c) { id } }",
            json!({ "c": pending["accountChanges"][0]["id"] }),
        )
        .await);
    assert_streams_ended("assignOrganisation", streams, Instant::now()).await;
    assert_refused_as_ended(&app, "assignOrganisation", &token).await;

    // A patient receives no positive results, so a patient's connections
    // run no operation; they must close all the same.
    let (patient, phone) = app.register_patient(&clinic, "シュウリョウ タロウ", json!({})).await;
    let login = app
        .gql(
            None,
            "mutation($s: String!) { patientLogin(smartphoneId: $s, birthDate: \"1980-04-01\") { token } }",
            json!({ "s": phone }),
        )
        .await;
    let token = ok(login)["patientLogin"]["token"].as_str().expect("a patient token").to_owned();
    let mut sockets = Vec::new();
    for transport in [Transport::TransportWs, Transport::LegacyWs] {
        sockets.push((transport, Socket::connect(&app, transport, &token).await));
    }
    let hc1 = app.login("hc1").await;
    ok(app
        .gql(
            Some(&hc1),
            "mutation($p: ID!) { recordOutcome(patientId: $p, outcome: RECOVERED) { id } }",
            json!({ "p": patient }),
        )
        .await);
    let since = Instant::now();
    for (transport, mut socket) in sockets {
        let closed = socket.next_within(PROMPTLY).await;
        assert_eq!(closed, json!({ "type": "close", "code": 4401 }), "recordOutcome, {transport:?}");
        assert!(since.elapsed() < PROMPTLY, "recordOutcome, {transport:?}: closed after {:?}", since.elapsed());
    }
    assert_refused_as_ended(&app, "recordOutcome", &token).await;

    // Tokens this server never issued are not ended sessions, and the
    // client is told which it is. Over `POST` and Server-Sent Events the
    // operation runs without a caller; a WebSocket opens only for one.
    for garbage in ["null", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJoYzEifQ.c2lnbmF0dXJl"] {
        for transport in Transport::ALL {
            let body = json!({ "query": "{ __typename patient(id: \"1\") { id } }" });
            let reply = send(&app, transport, Some(garbage), body).await;
            match transport {
                Transport::Http | Transport::ServerSentEvents => {
                    assert_eq!(reply.data(), &json!({ "__typename": "Query", "patient": null }), "{reply:?}");
                }
                Transport::TransportWs => assert_eq!(reply.close, Some(4403), "{garbage}: {reply:?}"),
                Transport::LegacyWs => assert!(reply.payloads.is_empty(), "{garbage}: {reply:?}"),
            }
            if transport != Transport::TransportWs {
                assert_eq!(reply.first_code().as_deref(), Some("UNAUTHENTICATED"), "{transport:?}: {reply:?}");
                let message = reply.first_message();
                assert!(message.contains(UNKNOWN) && !message.contains("ended"), "{garbage}, {transport:?}: {reply:?}");
            }
        }
    }
}

async fn personal_reads_are_audited_on_every_transport(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let admin = app.login("admin1").await;
    let address = "東京都港区芝公園一丁目一番一号";
    let (patient, _) =
        app.register_patient(&clinic, "カンサ ヨミ", json!({ "phone": "03-1234-5678", "address": address })).await;
    record_test(&app, &clinic, &patient, "NEGATIVE").await;

    for transport in Transport::ALL {
        let name = format!("ReadOver{transport:?}");
        let body = json!({
            "query": format!("query {name}($id: ID!) {{ patient(id: $id) {{ nameKanji phone }} }}"),
            "operationName": name,
            "variables": { "id": patient },
        });
        let top = send(&app, transport, Some(&hc1), body).await;
        assert_eq!(top.data()["patient"]["phone"], "03-1234-5678", "{transport:?}: {top:?}");
        let name = format!("NestedReadOver{transport:?}");
        let body = json!({
            "query": format!("query {name}($id: ID!) {{ patient(id: $id) {{ tests {{ patient {{ address }} }} }} }}"),
            "operationName": name,
            "variables": { "id": patient },
        });
        let nested = send(&app, transport, Some(&hc1), body).await;
        assert_eq!(nested.data()["patient"]["tests"][0]["patient"]["address"], address, "{transport:?}: {nested:?}");
        // The same record by its global identity is the same read.
        let name = format!("NodeReadOver{transport:?}");
        let body = json!({
            "query": format!(
                "query {name}($id: ID!) {{ patient(id: $id) {{ nodeId }} }}"
            ),
            "operationName": name,
            "variables": { "id": patient },
        });
        let node_id = send(&app, transport, Some(&hc1), body.clone()).await.data()["patient"]["nodeId"].clone();
        let body = json!({
            "query": format!("query {name}($n: ID!) {{ node(nodeId: $n) {{ ... on Patient {{ id phone }} }} }}"),
            "operationName": name,
            "variables": { "n": node_id },
        });
        let read = send(&app, transport, Some(&hc1), body).await;
        assert_eq!(read.data()["node"], json!({ "id": patient, "phone": "03-1234-5678" }), "{transport:?}: {read:?}");
    }
    let log = audit_entries(&app, &admin, &patient).await;
    for transport in Transport::ALL {
        for (name, fields) in [
            (format!("ReadOver{transport:?}"), json!(["nameKanji", "phone"])),
            (format!("NestedReadOver{transport:?}"), json!(["address"])),
            (format!("NodeReadOver{transport:?}"), json!(["phone"])),
        ] {
            let entries: Vec<&Value> = log.iter().filter(|entry| entry["operation"] == name.as_str()).collect();
            assert_eq!(entries.len(), 1, "one entry for {name}: {log:?}");
            assert_eq!(entries[0]["action"], "READ_PERSONAL", "{name}: {entries:?}");
            assert_eq!(entries[0]["account"]["username"], "hc1", "{name}: {entries:?}");
            assert_eq!(entries[0]["fields"], fields, "{name}: {entries:?}");
        }
    }

    // A search's match is a read of the items searched by, on every
    // transport.
    for transport in Transport::ALL {
        let name = format!("SearchOver{transport:?}");
        let body = json!({
            "query": format!("query {name} {{ searchPatients(phone: \"0312345678\") {{ nodes {{ id }} }} }}"),
            "operationName": name,
        });
        let found = send(&app, transport, Some(&hc1), body).await;
        assert_eq!(found.data()["searchPatients"]["nodes"], json!([{ "id": patient }]), "{transport:?}: {found:?}");
    }
    let log = audit_entries(&app, &admin, &patient).await;
    for transport in Transport::ALL {
        let name = format!("SearchOver{transport:?}");
        let entries: Vec<&Value> = log.iter().filter(|entry| entry["operation"] == name.as_str()).collect();
        assert_eq!(entries.len(), 1, "one entry for {name}: {log:?}");
        assert_eq!(entries[0]["action"], "READ_PERSONAL", "{name}: {entries:?}");
        assert_eq!(entries[0]["fields"], json!(["phone"]), "{name}: {entries:?}");
    }

    // Each item of a subscription is a read of its own.
    let mut listeners = Vec::new();
    for transport in Transport::ALL {
        let name = format!("PositivesOver{transport:?}");
        let body = json!({
            "query": format!(
                "subscription {name} {{ positiveResults {{ patient {{ id nameKanji }} test {{ patient {{ address }} }} }} }}"
            ),
            "operationName": name,
        });
        if let Some(listener) = listen(&app, transport, &hc1, &body).await {
            listeners.push((transport, name, listener));
        }
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    record_test(&app, &clinic, &patient, "POSITIVE").await;
    for (transport, _, listener) in &mut listeners {
        let item = listener.next_result().await;
        assert_eq!(item["data"]["positiveResults"]["patient"]["id"], patient.as_str(), "{transport:?}: {item}");
        assert_eq!(item["data"]["positiveResults"]["test"]["patient"]["address"], address, "{transport:?}: {item}");
    }
    let log = audit_entries(&app, &admin, &patient).await;
    for (transport, name, _) in &listeners {
        let entries: Vec<&Value> = log.iter().filter(|entry| entry["operation"] == name.as_str()).collect();
        assert_eq!(entries.len(), 1, "{transport:?}: one entry for the item: {log:?}");
        assert_eq!(entries[0]["action"], "READ_PERSONAL", "{transport:?}: {entries:?}");
        assert_eq!(entries[0]["account"]["username"], "hc1", "{transport:?}: {entries:?}");
        let fields: Vec<&str> =
            entries[0]["fields"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        assert!(fields.contains(&"nameKanji") && fields.contains(&"address"), "{transport:?}: {entries:?}");
    }
}

async fn denied_fields_are_null_in_place_and_objects_stay_objects_on_every_transport(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let analyst = app.login("analyst1").await;
    let hc1 = app.login("hc1").await;
    let hc2 = app.login("hc2").await;
    let (patient, _) = app.register_patient(&clinic, "カタチ タロウ", json!({})).await;

    for transport in Transport::ALL {
        let body = json!({ "query": "{ patients(first: 1) { nodes { id nameKanji ageBand } } }" });
        let paths = app.list_paths().await;
        let list = send(&app, transport, Some(&analyst), body).await;
        // The page was answered by plan (`graphql::planned`): its rules are
        // the same on every transport.
        let planned = app.list_paths().await.0 - paths.0;
        assert_eq!(planned, 1, "{transport:?}: the page was not planned: {list:?}");
        let node = list.ordered_data().get("patients").get("nodes").at(0);
        assert_eq!(node.keys(), ["id", "nameKanji", "ageBand"], "{transport:?}: {list:?}");
        assert!(list.data()["patients"]["nodes"][0]["nameKanji"].is_null(), "{transport:?}: {list:?}");
        let denied =
            list.errors().into_iter().find(|error| error["path"] == json!(["patients", "nodes", 0, "nameKanji"]));
        let denied = denied.unwrap_or_else(|| panic!("{transport:?}: no error at the denied field: {list:?}"));
        assert_eq!(denied["extensions"]["code"], "FORBIDDEN", "{transport:?}: {list:?}");

        let body = json!({
            "query": "query($id: ID!) { a: patient(id: $id) { nameKanji } }",
            "variables": { "id": patient },
        });
        let aliased = send(&app, transport, Some(&analyst), body).await;
        assert_eq!(aliased.data()["a"], json!({ "nameKanji": null }), "{transport:?}: {aliased:?}");

        let body = json!({
            "query": "query($id: ID!) { patient(id: $id) { tests { id } id outcome hospitalisations { id } nameKanji } }",
            "variables": { "id": patient },
        });
        let full = send(&app, transport, Some(&hc1), body).await;
        assert_eq!(
            full.ordered_data().get("patient").keys(),
            ["tests", "id", "outcome", "hospitalisations", "nameKanji"],
            "{transport:?}: {full:?}"
        );
        assert_eq!(full.data()["patient"]["nameKanji"], "試験 太郎", "{transport:?}: {full:?}");

        // `node` answers under the same rules: the analyst's personal field
        // is null in place, another centre's staff get no record at all.
        let body = json!({
            "query": "query($id: ID!) { patient(id: $id) { nodeId } }",
            "variables": { "id": patient },
        });
        let node_id = send(&app, transport, Some(&hc1), body).await.data()["patient"]["nodeId"].clone();
        let body = json!({
            "query": "query($n: ID!) { node(nodeId: $n) { nodeId ... on Patient { id nameKanji } } }",
            "variables": { "n": node_id },
        });
        let de_identified = send(&app, transport, Some(&analyst), body.clone()).await;
        assert_eq!(
            de_identified.data()["node"],
            json!({ "nodeId": node_id, "id": patient, "nameKanji": null }),
            "{transport:?}: {de_identified:?}"
        );
        let denied = de_identified.errors().into_iter().find(|error| error["path"] == json!(["node", "nameKanji"]));
        let denied = denied.unwrap_or_else(|| panic!("{transport:?}: no error at the denied field: {de_identified:?}"));
        assert_eq!(denied["extensions"]["code"], "FORBIDDEN", "{transport:?}: {de_identified:?}");
        let elsewhere = send(&app, transport, Some(&hc2), body).await;
        assert!(elsewhere.data()["node"].is_null(), "{transport:?}: {elsewhere:?}");
        assert!(elsewhere.errors().is_empty(), "out of reach looks like absent: {transport:?}: {elsewhere:?}");
    }
}

fn persisted(query: Option<&str>, hash: &str) -> Value {
    let mut body = json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
    if let Some(query) = query {
        body["query"] = json!(query);
    }
    body
}

async fn the_safelist_holds_on_every_transport(backend: Backend) {
    let listed = "query Listed { me { username } }";
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.safelist = Some(Arc::new(HashMap::from([(sha256_hex(listed), listed.to_owned())])));
    })
    .await;
    // Signing in is not a listed operation: a gateway without a safelist
    // on the same database serves it.
    let open = app.another_on_the_same_database().await;
    let hc1 = open.login("hc1").await;
    for transport in Transport::ALL {
        let by_text = send(&app, transport, Some(&hc1), json!({ "query": listed })).await;
        assert_eq!(by_text.data()["me"]["username"], "hc1", "{transport:?}: {by_text:?}");
        assert_answered_once(transport, &by_text);
        let by_hash = send(&app, transport, Some(&hc1), persisted(None, &sha256_hex(listed))).await;
        assert_eq!(by_hash.data()["me"]["username"], "hc1", "{transport:?}: {by_hash:?}");
        for unlisted in
            ["{ __schema { queryType { name } } }", "mutation { login(username: \"hc1\", password: \"x\") { token } }"]
        {
            let refused = send(&app, transport, Some(&hc1), json!({ "query": unlisted })).await;
            assert_eq!(refused.first_code().as_deref(), Some("FORBIDDEN"), "{transport:?}, {unlisted}: {refused:?}");
            assert_refused_before_running(transport, &refused, 403);
        }
    }
}

async fn persisted_queries_follow_the_same_rules_on_every_transport(backend: Backend) {
    let app = spawn_app(backend).await;
    let hc1 = app.login("hc1").await;
    let query = "query Persisted { me { username } }";
    let hash = sha256_hex(query);
    for transport in Transport::ALL {
        let unknown = send(&app, transport, Some(&hc1), persisted(None, &hash)).await;
        assert_eq!(unknown.first_message(), "PersistedQueryNotFound", "{transport:?}: {unknown:?}");
        assert_eq!(unknown.first_code().as_deref(), Some("BAD_USER_INPUT"), "{transport:?}: {unknown:?}");
    }
    let registered = send(&app, Transport::Http, Some(&hc1), persisted(Some(query), &hash)).await;
    assert_eq!(registered.data()["me"]["username"], "hc1", "{registered:?}");
    for transport in Transport::ALL {
        let by_hash = send(&app, transport, Some(&hc1), persisted(None, &hash)).await;
        assert_eq!(by_hash.data()["me"]["username"], "hc1", "{transport:?}: {by_hash:?}");
        assert_answered_once(transport, &by_hash);
        let mismatched = send(&app, transport, Some(&hc1), persisted(Some("{ __typename }"), &hash)).await;
        assert_eq!(mismatched.first_code().as_deref(), Some("BAD_USER_INPUT"), "{transport:?}: {mismatched:?}");
        assert_refused_before_running(transport, &mismatched, 400);
    }
}

/// `count` operations over one transport; over a WebSocket, all on one
/// connection.
async fn operations(
    app: &TestApp,
    transport: Transport,
    token: Option<&str>,
    body: &Value,
    count: usize,
) -> Vec<Reply> {
    let mut replies = Vec::new();
    match transport {
        Transport::Http | Transport::ServerSentEvents => {
            for _ in 0..count {
                replies.push(send(app, transport, token, body.clone()).await);
            }
        }
        Transport::TransportWs | Transport::LegacyWs => {
            let token = token.unwrap_or_else(|| panic!("a WebSocket needs a session"));
            let mut socket = Socket::connect(app, transport, token).await;
            for id in 0..count {
                replies.push(socket.run(&id.to_string(), body).await);
            }
        }
    }
    replies
}

/// Refused for its rate: `429` with `Retry-After` where there is a status,
/// an `error` message on a WebSocket.
fn assert_rate_limited(transport: Transport, reply: &Reply) {
    assert_eq!(reply.first_code().as_deref(), Some("RATE_LIMITED"), "{transport:?}: {reply:?}");
    match transport {
        Transport::Http | Transport::ServerSentEvents => {
            assert_eq!(reply.status, Some(429), "{transport:?}: {reply:?}");
            assert!(reply.retry_after.is_some(), "{transport:?}: no Retry-After: {reply:?}");
        }
        Transport::TransportWs | Transport::LegacyWs => {
            assert!(reply.payloads.is_empty() && !reply.refusal.is_empty(), "{transport:?}: {reply:?}");
        }
    }
}

async fn the_per_account_limit_holds_on_every_transport(backend: Backend) {
    for transport in Transport::ALL {
        let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
            config.rate_limit_per_account = Some(Rate { per_second: 0.01, burst: 3.0 });
        })
        .await;
        let hc1 = app.login("hc1").await;
        let replies = operations(&app, transport, Some(&hc1), &json!({ "query": "{ me { username } }" }), 4).await;
        for reply in &replies[..3] {
            assert_eq!(reply.data()["me"]["username"], "hc1", "{transport:?}: {reply:?}");
        }
        assert_rate_limited(transport, &replies[3]);
    }
}

async fn the_per_address_limit_holds_on_every_transport(backend: Backend) {
    for transport in Transport::ALL {
        // Opening a WebSocket takes a token of its own; three operations
        // run on every transport.
        let burst = match transport {
            Transport::Http | Transport::ServerSentEvents => 3.0,
            Transport::TransportWs | Transport::LegacyWs => 4.0,
        };
        let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
            config.rate_limit_per_address = Some(Rate { per_second: 0.01, burst });
        })
        .await;
        // A WebSocket opens only for a session. It is signed in through a
        // gateway without the limit, so that signing in spends none of
        // this address's tokens.
        let token = match transport {
            Transport::Http | Transport::ServerSentEvents => None,
            Transport::TransportWs | Transport::LegacyWs => {
                Some(app.another_on_the_same_database().await.login("hc1").await)
            }
        };
        let replies = operations(&app, transport, token.as_deref(), &json!({ "query": "{ __typename }" }), 4).await;
        for reply in &replies[..3] {
            assert_eq!(reply.data()["__typename"], "Query", "{transport:?}: {reply:?}");
        }
        assert_rate_limited(transport, &replies[3]);
    }
}

async fn patient_count(app: &TestApp) -> i64 {
    let db = Database::connect(app.database_url.as_str()).await.expect("connect");
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT COUNT(*) AS n FROM patients"))
        .await
        .expect("count")
        .expect("a row");
    let count = row.try_get::<i64>("", "n").expect("n");
    let _ = db.close().await;
    count
}

/// A session of its own that holds the lock a registration needs. One
/// connection, so that the statement that lets it go runs on the
/// connection that took it.
async fn hold_registration_lock(app: &TestApp) -> DatabaseConnection {
    let mut options = ConnectOptions::new(app.database_url.clone());
    options.max_connections(1);
    let db = Database::connect(options).await.expect("connect");
    let lock = match app.backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN; LOCK TABLE patients IN EXCLUSIVE MODE",
    };
    db.execute_unprepared(lock).await.expect("lock");
    db
}

async fn the_deadline_holds_on_every_transport(backend: Backend) {
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.request_deadline = Duration::from_millis(700);
    })
    .await;
    let clinic = app.login("clinic1").await;
    let before = patient_count(&app).await;
    for transport in Transport::ALL {
        let blocker = hold_registration_lock(&app).await;
        let started = Instant::now();
        let body = json!({
            "query": "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { id } }",
            "variables": { "input": { "caseType": "CONFIRMED", "nameKanji": "期限 太郎", "nameKana": "キゲン タロウ",
                "sex": "MALE", "birthDate": "1980-01-01" } },
        });
        let reply = send(&app, transport, Some(&clinic), body).await;
        let waited = started.elapsed();
        blocker.execute_unprepared("ROLLBACK").await.expect("unlock");
        let _ = blocker.close().await;
        assert_eq!(reply.first_code().as_deref(), Some("DEADLINE_EXCEEDED"), "{transport:?}: {reply:?}");
        assert!(reply.first_message().contains("deadline of 700 ms"), "{transport:?}: {reply:?}");
        assert!(waited < Duration::from_secs(5), "{transport:?}: answered after {waited:?}, not at the deadline");
        match transport {
            Transport::Http => {
                assert_eq!(reply.status, Some(503), "{reply:?}");
                assert_eq!(reply.retry_after.as_deref(), Some("1"), "{reply:?}");
            }
            // The stream has started when the deadline passes: the
            // error is its one result.
            Transport::TransportWs | Transport::LegacyWs | Transport::ServerSentEvents => {
                assert_answered_once(transport, &reply);
                assert!(reply.data().is_null(), "{transport:?}: {reply:?}");
            }
        }
        assert_eq!(patient_count(&app).await, before, "{transport:?}: the stopped registration wrote nothing");
    }
    // The server is fine afterwards.
    assert!(ok(app.gql(Some(&clinic), "{ me { id } }", json!({})).await)["me"]["id"].is_string());
}

fn aliases(count: usize) -> String {
    (0..count).map(|i| format!("u{i}: username")).collect::<Vec<_>>().join(" ")
}

async fn limits_hold_on_every_transport(backend: Backend) {
    let app = spawn_app(backend).await;
    let hc1 = app.login("hc1").await;
    let too_many_aliases = format!("{{ me {{ {} }} }}", aliases(51));
    let two_sign_ins = "mutation { a: login(username: \"hc1\", password: \"x\") { token } \
                        b: login(username: \"hc1\", password: \"y\") { token } }";
    for transport in Transport::ALL {
        for (query, limit) in [(too_many_aliases.as_str(), "maxAliases"), (two_sign_ins, "maxSignInsPerRequest")] {
            let reply = send(&app, transport, Some(&hc1), json!({ "query": query })).await;
            assert_eq!(reply.first_code().as_deref(), Some("QUERY_TOO_COMPLEX"), "{transport:?}: {reply:?}");
            assert_eq!(reply.first_error()["extensions"]["limit"], limit, "{transport:?}: {reply:?}");
            assert_refused_before_running(transport, &reply, 400);
        }
        for name in ["a b".to_owned(), "a".repeat(200)] {
            let body = json!({ "query": "query Fine { __typename }", "operationName": name });
            let reply = send(&app, transport, Some(&hc1), body).await;
            assert_eq!(reply.first_code().as_deref(), Some("BAD_USER_INPUT"), "{transport:?}: {reply:?}");
            assert_eq!(reply.first_error()["extensions"]["field"], "operationName", "{transport:?}: {reply:?}");
            assert_refused_before_running(transport, &reply, 400);
        }
    }

    // Depth and complexity are limits of admission too: an operation over
    // them never starts, on a stream as on `POST`.
    let too_deep = format!(
        "{{ patients {{ edges {{ node {{ {} id {} }} }} }} }}",
        "tests { patient { ".repeat(8),
        "} } ".repeat(8)
    );
    let fields = "id caseType nameKanji nameKana sex birthDate ageBand address phone email smartphoneId \
                  previousSmartphoneId priorInfection careSetting outcome registeredAt version";
    let node = format!("edges {{ node {{ {fields} tests {{ id kind result }} responsibleHealthCentre {{ code }} }} }}");
    let node = node.replace(" tests {", " hospitalisations { conditions { id } } tests {");
    let too_complex = format!(
        "{{ {} }}",
        (0..4).map(|i| format!("p{i}: patients(first: 500) {{ {node} }}")).collect::<Vec<_>>().join(" ")
    );
    for transport in Transport::ALL {
        for query in [&too_deep, &too_complex] {
            let reply = send(&app, transport, Some(&hc1), json!({ "query": query })).await;
            assert_eq!(reply.first_code().as_deref(), Some("QUERY_TOO_COMPLEX"), "{transport:?}: {reply:?}");
            assert_refused_before_running(transport, &reply, 400);
        }
    }
}

async fn post_batch(app: &TestApp, token: &str, batch: Vec<Value>) -> (u16, Value) {
    let response = app.client.post(app.url("/graphql")).bearer_auth(token).json(&batch).send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// The refusal of a WebSocket connection that should not open.
async fn refused_socket(app: &TestApp, transport: Transport, token: &str) -> Reply {
    match Socket::open(app, transport, Some(token)).await {
        Ok(_) => panic!("{transport:?}: the connection was accepted"),
        Err(refused) => refused,
    }
}

async fn stream_and_batch_bounds_hold(backend: Backend) {
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.max_streams_per_socket = 2;
    })
    .await;
    let hc1 = app.login("hc1").await;
    let clinic = app.login("clinic1").await;

    let typename = json!({ "query": "{ __typename }" });
    let (status, eleven) = post_batch(&app, &hc1, vec![typename.clone(); 11]).await;
    assert_eq!(status, 200, "{eleven}");
    assert_eq!(eleven["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{eleven}");
    assert_eq!(eleven["errors"][0]["extensions"]["limit"], "maxBatchOperations", "{eleven}");
    let sign_ins = vec![
        json!({ "query": "mutation { login(username: \"hc1\", password: \"x\") { token } }" }),
        json!({ "query": "mutation { login(username: \"hc2\", password: \"x\") { token } }" }),
    ];
    let (_, two) = post_batch(&app, &hc1, sign_ins).await;
    assert_eq!(two["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{two}");
    assert_eq!(two["errors"][0]["extensions"]["limit"], "maxSignInsPerRequest", "{two}");
    let (status, ten) = post_batch(&app, &hc1, vec![typename; 10]).await;
    assert_eq!(status, 200, "{ten}");
    let answers = ten.as_array().unwrap_or_else(|| panic!("a list of answers: {ten}"));
    assert_eq!(answers.len(), 10, "{ten}");
    assert!(answers.iter().all(|answer| answer["data"]["__typename"] == "Query"), "{ten}");

    let (patient, _) = app.register_patient(&clinic, "ソケット タロウ", json!({})).await;
    let positives = json!({ "query": POSITIVES });
    for transport in Transport::ALL {
        match transport {
            // Only a WebSocket runs several operations on one connection.
            Transport::Http | Transport::ServerSentEvents => continue,
            Transport::TransportWs | Transport::LegacyWs => {}
        }
        let mut socket = Socket::connect(&app, transport, &hc1).await;
        for id in ["1", "2", "3"] {
            socket.start(id, &positives).await;
        }
        let refused = socket.next().await;
        assert_eq!((&refused["type"], &refused["id"]), (&json!("error"), &json!("3")), "{transport:?}: {refused}");
        assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED", "{transport:?}: {refused}");
        assert_eq!(refused["payload"][0]["extensions"]["limit"], "maxStreamsPerSocket", "{transport:?}: {refused}");
        if socket.legacy {
            assert_eq!(socket.next().await, json!({ "type": "complete", "id": "3" }), "{transport:?}");
        }
        socket.stop("1").await;
        if socket.legacy {
            assert_eq!(socket.next().await, json!({ "type": "complete", "id": "1" }), "{transport:?}");
        }
        socket.start("4", &positives).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        record_test(&app, &clinic, &patient, "POSITIVE").await;
        let mut delivered = HashSet::new();
        for _ in 0..2 {
            let message = socket.next().await;
            assert_eq!(message["type"], socket.result_type(), "{transport:?}: {message}");
            assert!(message["payload"]["data"]["positiveResults"]["cursor"].is_string(), "{transport:?}: {message}");
            delivered.insert(message["id"].as_str().unwrap_or_default().to_owned());
        }
        assert_eq!(delivered, HashSet::from(["2".to_owned(), "4".to_owned()]), "{transport:?}");
        socket.close().await;
    }

    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.max_sockets_per_account = 2;
    })
    .await;
    let hc1 = app.login("hc1").await;
    let first = Socket::connect(&app, Transport::TransportWs, &hc1).await;
    let stream = EventStream::open(&app, Some(&hc1), &positives)
        .await
        .unwrap_or_else(|refused| panic!("the second connection was refused: {refused:?}"));
    for transport in Transport::ALL {
        match transport {
            // A `POST` holds no connection open.
            Transport::Http => {}
            Transport::TransportWs => {
                let third = refused_socket(&app, transport, &hc1).await;
                assert_eq!(third.close, Some(4429), "{transport:?}: {third:?}");
            }
            Transport::LegacyWs => {
                let third = refused_socket(&app, transport, &hc1).await;
                assert_eq!(third.first_code().as_deref(), Some("RATE_LIMITED"), "{transport:?}: {third:?}");
                assert_eq!(third.close, Some(4429), "{transport:?}: {third:?}");
            }
            Transport::ServerSentEvents => {
                let Err(third) = EventStream::open(&app, Some(&hc1), &positives).await else {
                    panic!("a third stream was accepted");
                };
                assert_eq!(third.status, Some(429), "{third:?}");
                assert_eq!(third.first_code().as_deref(), Some("RATE_LIMITED"), "{third:?}");
                assert_eq!(third.first_error()["extensions"]["limit"], "maxSocketsPerAccount", "{third:?}");
            }
        }
    }
    // Another account has places of its own.
    let hc2 = app.login("hc2").await;
    Socket::connect(&app, Transport::LegacyWs, &hc2).await.close().await;
    // Closing a connection gives its place back.
    first.close().await;
    let waiting = Instant::now();
    loop {
        match Socket::open(&app, Transport::LegacyWs, Some(&hc1)).await {
            Ok(socket) => {
                socket.close().await;
                break;
            }
            Err(refused) if waiting.elapsed() > PROMPTLY => panic!("the place was not given back: {refused:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    drop(stream);
}

async fn operations_are_counted_on_every_transport(backend: Backend) {
    let app = spawn_app(backend).await;
    let hc1 = app.login("hc1").await;
    for transport in Transport::ALL {
        let name = format!("CountedOver{transport:?}");
        let body = json!({ "query": format!("query {name} {{ __typename }}"), "operationName": name });
        let counted = send(&app, transport, Some(&hc1), body).await;
        assert_eq!(counted.data()["__typename"], "Query", "{transport:?}: {counted:?}");
        assert_answered_once(transport, &counted);
        let name = format!("RefusedOver{transport:?}");
        let body = json!({ "query": format!("query {name} {{ me {{ {} }} }}", aliases(51)) });
        let refused = send(&app, transport, Some(&hc1), body).await;
        assert_eq!(refused.first_code().as_deref(), Some("QUERY_TOO_COMPLEX"), "{transport:?}: {refused:?}");
    }
    let metrics = app.client.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("text");
    for transport in Transport::ALL {
        for line in [
            format!("hersys_graphql_requests_total{{operation=\"CountedOver{transport:?}\",code=\"OK\"}} 1"),
            format!(
                "hersys_graphql_requests_total{{operation=\"RefusedOver{transport:?}\",code=\"QUERY_TOO_COMPLEX\"}} 1"
            ),
        ] {
            assert!(metrics.lines().any(|l| l == line), "{transport:?}: no `{line}` in {metrics}");
        }
    }
}

const BREAK_GLASS: &str = "mutation($p: ID!) { breakGlass(patientId: $p, reason: EMERGENCY_TREATMENT, \
    explanation: \"unconscious at the emergency department, allergies unknown\") { id } }";

/// Every alert a break-glass access sends reaches the patient's responsible
/// health centre on each streaming transport (and no other centre), and
/// every personal read through the access, on each transport, is audited
/// as a break-glass read naming the access.
async fn break_glass_is_told_live_and_its_reads_audited_as_such_on_every_transport(backend: Backend) {
    let app = spawn_app(backend).await;
    let hospital = app.login("hospital1").await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hc2 = app.login("hc2").await;
    let admin = app.login("admin1").await;
    // One patient of hc2's, one of hc1's; neither is the hospital's.
    let (of_hc2, _) = app.register_patient(&hc2, "キンキュウ ハナコ", json!({ "phone": "03-5555-0101" })).await;
    let (of_hc1, _) = app.register_patient(&clinic, "キンキュウ タロウ", json!({ "phone": "03-5555-0202" })).await;

    let alerts = json!({ "query": "subscription { breakGlassAlerts { cursor access { id reason openedBy \
        organisation { kind } explanation } patient { id nameKana phone } } }" });
    let mut told = Vec::new();
    let mut elsewhere = Vec::new();
    for transport in Transport::ALL {
        if let Some(listener) = listen(&app, transport, &hc2, &alerts).await {
            told.push((transport, listener));
        }
        if let Some(listener) = listen(&app, transport, &hc1, &alerts).await {
            elsewhere.push((transport, listener));
        }
    }
    // The positive results of hc1 carry no break-glass event.
    let positives_body = json!({ "query": "subscription { positiveResults { patient { id } test { id } } }" });
    let mut positives = listen(&app, Transport::TransportWs, &hc1, &positives_body).await;
    tokio::time::sleep(Duration::from_millis(150)).await;

    let opened = ok(app.gql(Some(&hospital), BREAK_GLASS, json!({ "p": of_hc2 })).await);
    let access = opened["breakGlass"]["id"].as_str().unwrap_or_else(|| panic!("{opened}")).to_owned();
    for (transport, listener) in &mut told {
        let item = listener.next_result().await;
        let alert = &item["data"]["breakGlassAlerts"];
        assert_eq!(alert["access"]["id"], access.as_str(), "{transport:?}: {item}");
        assert_eq!(alert["access"]["reason"], "EMERGENCY_TREATMENT", "{transport:?}: {item}");
        assert_eq!(alert["access"]["openedBy"], "hospital1", "{transport:?}: {item}");
        assert_eq!(alert["access"]["organisation"]["kind"], "MEDICAL_INSTITUTION", "{transport:?}: {item}");
        assert_eq!(alert["patient"]["id"], of_hc2.as_str(), "{transport:?}: {item}");
        // The responsible centre reads its patient's personal fields.
        assert_eq!(alert["patient"]["phone"], "03-5555-0101", "{transport:?}: {item}");
    }
    // hc1 is told only of its own patient: the first alert it receives is
    // the second access.
    let second = ok(app.gql(Some(&hospital), BREAK_GLASS, json!({ "p": of_hc1 })).await);
    let second = second["breakGlass"]["id"].as_str().unwrap_or_default().to_owned();
    for (transport, listener) in &mut elsewhere {
        let item = listener.next_result().await;
        let alert = &item["data"]["breakGlassAlerts"];
        assert_eq!(alert["access"]["id"], second.as_str(), "{transport:?}: hc1 was told of hc2's patient: {item}");
        assert_eq!(alert["patient"]["id"], of_hc1.as_str(), "{transport:?}: {item}");
    }
    record_test(&app, &clinic, &of_hc1, "POSITIVE").await;
    if let Some(listener) = &mut positives {
        let item = listener.next_result().await;
        let event = &item["data"]["positiveResults"];
        assert_eq!(event["patient"]["id"], of_hc1.as_str(), "a positive, not the access: {item}");
        assert!(event["test"]["id"].is_string(), "{item}");
    }

    // Reads through the access, on every transport, audited as such.
    for transport in Transport::ALL {
        let name = format!("EmergencyReadOver{transport:?}");
        let body = json!({
            "query": format!("query {name}($id: ID!) {{ patient(id: $id) {{ nameKana phone }} }}"),
            "operationName": name,
            "variables": { "id": of_hc2 },
        });
        let reply = send(&app, transport, Some(&hospital), body).await;
        assert_eq!(reply.data()["patient"]["phone"], "03-5555-0101", "{transport:?}: {reply:?}");
    }
    let response = app
        .gql(
            Some(&admin),
            "query($p: ID) { auditLog(patientId: $p, first: 500) {
                edges { node { action account { username } fields operation detail } } } }",
            json!({ "p": of_hc2 }),
        )
        .await;
    let log: Vec<Value> = response["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|edge| edge["node"].clone())
        .collect();
    let opening: Vec<&Value> = log.iter().filter(|entry| entry["action"] == "BREAK_GLASS").collect();
    assert_eq!(opening.len(), 1, "{log:?}");
    assert_eq!(opening[0]["account"]["username"], "hospital1", "{log:?}");
    let detail = opening[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&format!("access {access}")) && detail.contains("EMERGENCY_TREATMENT"), "{detail}");
    for transport in Transport::ALL {
        let name = format!("EmergencyReadOver{transport:?}");
        let entries: Vec<&Value> = log.iter().filter(|entry| entry["operation"] == name.as_str()).collect();
        assert_eq!(entries.len(), 1, "one entry for {name}: {log:?}");
        assert_eq!(entries[0]["action"], "READ_PERSONAL_BREAK_GLASS", "{name}: {entries:?}");
        assert_eq!(entries[0]["detail"], format!("break-glass access {access}"), "{name}: {entries:?}");
        assert_eq!(entries[0]["fields"], json!(["nameKana", "phone"]), "{name}: {entries:?}");
    }
    // The responsible centre's own reads stay ordinary ones.
    let own = log
        .iter()
        .filter(|entry| entry["account"]["username"] == "hc2" && entry["action"] == "READ_PERSONAL_BREAK_GLASS")
        .count();
    assert_eq!(own, 0, "{log:?}");
}

/// A health centre hands a close contact living in Osaka to the Osaka
/// centre: every transport's subscriber there receives the record live
/// (under the field rules: the responsible centre reads its name), the
/// centre handing over is told nothing and no longer reads the record,
/// and the link to its case stays by ID. A resumed subscription replays
/// the event after its cursor.
async fn a_contact_handed_over_is_told_live_to_the_receiving_centre_on_every_transport(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let osaka = app.login("hc3").await;
    let (case, _) = app.register_patient(&clinic, "ヒキツギ モト", json!({})).await;
    let osaka_centre = app.health_centre_id(&hc1, "271004").await;
    let exposure = (chrono::Utc::now().date_naive() - chrono::Duration::days(1)).to_string();
    let register = "mutation($input: RegisterContactInput!) { registerContact(input: $input) { id version } }";
    let input = json!({ "input": {
        "indexPatientId": case, "lastExposureOn": exposure, "setting": "WORKPLACE",
        "nameKanji": "引継 花子", "nameKana": "ヒキツギ ハナコ", "sex": "FEMALE", "birthDate": "1990-02-03",
    } });
    let contact = ok(app.gql(Some(&hc1), register, input).await)["registerContact"].clone();
    let contact_id = contact["id"].as_str().unwrap_or_else(|| panic!("{contact}")).to_owned();

    let body = json!({ "query": "subscription { contactHandovers { cursor patient { id nameKana caseType \
        contactLinks { indexPatientId } } } }" });
    let mut receiving = Vec::new();
    for transport in Transport::ALL {
        if let Some(listener) = listen(&app, transport, &osaka, &body).await {
            receiving.push((transport, listener));
        }
    }
    let mut handing = listen(&app, Transport::TransportWs, &hc1, &body).await;
    tokio::time::sleep(Duration::from_millis(150)).await;

    // Only a contact is handed over; a bad centre changes nothing.
    let hand = "mutation($p: ID!, $to: ID!) { handOverContact(patientId: $p, toHealthCentreId: $to) }";
    let refused = app.gql(Some(&hc1), hand, json!({ "p": case, "to": osaka_centre })).await;
    assert_eq!(crate::helpers::error_field(&refused), Some("patientId"), "{refused}");
    let refused = app.gql(Some(&hc1), hand, json!({ "p": contact_id, "to": "999999" })).await;
    assert_eq!(crate::helpers::error_field(&refused), Some("toHealthCentreId"), "{refused}");
    // Osaka cannot take over someone else's contact itself.
    let refused = app.gql(Some(&osaka), hand, json!({ "p": contact_id, "to": osaka_centre })).await;
    assert!(refused["errors"].is_array() && refused["data"].is_null(), "{refused}");

    let handed = ok(app.gql(Some(&hc1), hand, json!({ "p": contact_id, "to": osaka_centre })).await);
    assert_eq!(handed["handOverContact"], contact_id.as_str());
    let mut cursor = String::new();
    for (transport, listener) in &mut receiving {
        let item = listener.next_result().await;
        let event = &item["data"]["contactHandovers"];
        assert_eq!(event["patient"]["id"], contact_id.as_str(), "{transport:?}: {item}");
        assert_eq!(event["patient"]["nameKana"], "ヒキツギ ハナコ", "{transport:?}: {item}");
        assert_eq!(event["patient"]["caseType"], "CLOSE_CONTACT", "{transport:?}: {item}");
        assert_eq!(event["patient"]["contactLinks"][0]["indexPatientId"], case.as_str(), "{transport:?}: {item}");
        cursor = event["cursor"].as_str().unwrap_or_default().to_owned();
    }

    // The centre that handed over was told nothing (its next event is a
    // contact handed to it), reads the contact no more, and keeps the link.
    let back = app.login("hc3").await;
    let hc1_centre = app.health_centre_id(&hc1, "131032").await;
    let register_back = json!({ "input": {
        "indexPatientId": contact_id, "lastExposureOn": exposure, "setting": "HOUSEHOLD",
        "nameKanji": "戻 次郎", "nameKana": "モドリ ジロウ", "sex": "MALE", "birthDate": "1980-04-05",
        "healthCentreId": hc1_centre,
    } });
    let returned = ok(app.gql(Some(&back), register, register_back).await)["registerContact"]["id"].clone();
    if let Some(listener) = &mut handing {
        let item = listener.next_result().await;
        let event = &item["data"]["contactHandovers"];
        assert_eq!(event["patient"]["id"], returned, "registered straight to hc1, not the handover: {item}");
    }
    let gone =
        app.gql(Some(&hc1), "query($id: ID!) { patient(id: $id) { id nameKana } }", json!({ "id": contact_id })).await;
    assert!(gone["data"]["patient"].is_null(), "no access kept after a handover: {gone}");
    let links = ok(app
        .gql(
            Some(&hc1),
            "query($id: ID!) { patient(id: $id) { contacts { id } contactLinks { contactPatientId } } }",
            json!({ "id": case }),
        )
        .await);
    assert_eq!(links["patient"]["contacts"], json!([]), "{links}");
    assert_eq!(links["patient"]["contactLinks"][0]["contactPatientId"], contact_id.as_str(), "{links}");

    // Resuming before the handover replays it, once.
    let from_start = json!({ "query": "subscription($a: String) { contactHandovers(after: $a) { cursor patient { id } } }",
        "variables": { "a": "0" } });
    if let Some(mut resumed) = listen(&app, Transport::TransportWs, &osaka, &from_start).await {
        let item = resumed.next_result().await;
        assert_eq!(item["data"]["contactHandovers"]["cursor"], cursor.as_str(), "{item}");
        assert_eq!(item["data"]["contactHandovers"]["patient"]["id"], contact_id.as_str(), "{item}");
    }
}

/// Whatever carries the operation, the work queue lists only what the row
/// scope lets through (with the field rules of a query), another centre
/// cannot act on an item, and an action is audited once and told live to
/// a colleague listening on the same transport (over `POST`, which holds
/// nothing open, the colleague listens on a WebSocket).
async fn the_work_queue_and_its_actions_hold_on_every_transport(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    let hc1 = app.login("hc1").await;
    let hc1b = app.login("hc1b").await;
    let hc2 = app.login("hc2").await;
    let admin = app.login("admin1").await;
    let hc2_centre = app.health_centre_id(&hc1, "131041").await;
    let (theirs, _) = app.register_patient(&clinic, "ホカノ タロウ", json!({ "healthCentreId": hc2_centre })).await;
    record_test(&app, &clinic, &theirs, "POSITIVE").await;
    let queue = json!({ "query": "{ workQueue(kinds: [POSITIVE_RESULT], first: 500) {
        nodes { patient { id nameKanji } item { id } } } }" });
    let live = json!({ "query": "subscription { caseEvents(kinds: [WORK_ITEM_UPDATED]) { item { id state } } }" });
    let acknowledge = "mutation($id: ID!) { acknowledgeWorkItem(id: $id) { item { id state } } }";
    for transport in Transport::ALL {
        let (ours, _) = app.register_patient(&clinic, "キュー タロウ", json!({})).await;
        record_test(&app, &clinic, &ours, "POSITIVE").await;
        let mut colleague = match listen(&app, transport, &hc1b, &live).await {
            Some(listener) => listener,
            None => listen(&app, Transport::TransportWs, &hc1b, &live).await.expect("a WebSocket listens"),
        };
        tokio::time::sleep(Duration::from_millis(150)).await;

        let read = send(&app, transport, Some(&hc1), queue.clone()).await;
        let nodes = read.data()["workQueue"]["nodes"].as_array().cloned().unwrap_or_default();
        let ours_node = nodes.iter().find(|node| node["patient"]["id"] == ours.as_str());
        let ours_node = ours_node.unwrap_or_else(|| panic!("{transport:?}: the item is not listed: {read:?}"));
        assert_eq!(ours_node["patient"]["nameKanji"], "試験 太郎", "{transport:?}: {read:?}");
        assert!(!nodes.iter().any(|node| node["patient"]["id"] == theirs.as_str()), "{transport:?}: {read:?}");
        let item = ours_node["item"]["id"].as_str().unwrap_or_default().to_owned();

        let body = json!({ "query": acknowledge, "variables": { "id": item } });
        let refused = send(&app, transport, Some(&hc2), body.clone()).await;
        assert_eq!(refused.first_code().as_deref(), Some("NOT_FOUND"), "{transport:?}: {refused:?}");
        let done = send(&app, transport, Some(&hc1), body).await;
        assert_eq!(done.data()["acknowledgeWorkItem"]["item"]["state"], "ACKNOWLEDGED", "{transport:?}: {done:?}");
        let told = colleague.next_result().await;
        assert_eq!(told["data"]["caseEvents"]["item"]["id"], item.as_str(), "{transport:?}: {told}");
        assert_eq!(told["data"]["caseEvents"]["item"]["state"], "ACKNOWLEDGED", "{transport:?}: {told}");

        let log = ok(app
            .gql(
                Some(&admin),
                "query($p: ID) { auditLog(patientId: $p, first: 50) { edges { node { action } } } }",
                json!({ "p": ours }),
            )
            .await);
        let actions: Vec<&Value> =
            log["auditLog"]["edges"].as_array().into_iter().flatten().map(|e| &e["node"]["action"]).collect();
        let acknowledged = actions.iter().filter(|action| **action == "ACKNOWLEDGE_WORK_ITEM").count();
        assert_eq!(
            acknowledged, 1,
            "{transport:?}: the refused attempt is not audited as done, the action once: {log}"
        );
    }
}
