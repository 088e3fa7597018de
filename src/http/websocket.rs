//! `/graphql/ws`: GraphQL over WebSocket, with the `graphql-transport-ws`
//! sub-protocol (the `graphql-ws` library) and the legacy `graphql-ws` one
//! (subscriptions-transport-ws).
//!
//! A thin adapter that speaks both protocols itself: every operation a
//! client sends (`subscribe`, or `start` in the legacy protocol; queries
//! and mutations too) goes through the pipeline as an operation of its own,
//! so its caller is looked up again, and the persisted-query, limit and
//! rate rules, the read audit and the shaping apply to it as on `POST`.
//!
//! - The client authenticates in `connection_init`
//!   (`{"authorization": "Bearer <token>"}`); without a live session the
//!   connection is refused: 4403 on `graphql-transport-ws`, a
//!   `connection_error` on `graphql-ws`.
//! - When the connection's session ends (logout, logout everywhere, a
//!   password change, a disabled account, a new organisation, the patient's
//!   outcome, expiry), every running operation gets an `UNAUTHENTICATED`
//!   error and `complete`, and the connection closes with 4401; no payload
//!   leaves after the change that ended the session returned.
//! - At most `max_streams_per_socket` operations run at once (the next is
//!   refused with `RATE_LIMITED`), and an account holds at most
//!   `max_sockets_per_account` connections (the next closes with 4429).
//! - When the server shuts down, the connection closes with 1001 (going
//!   away), so that clients reconnect elsewhere and resume with their
//!   cursor.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures_util::StreamExt;
use futures_util::stream::{AbortHandle, Abortable, BoxStream, SelectAll};
use serde_json::Value;

use super::HttpState;
use super::shutdown::Shutdown;
use crate::auth::revocation::SessionWatch;
use crate::pipeline::stream::Delivery;
use crate::pipeline::{Answer, Credentials, Origin, Pipeline, Transport};

/// How long a client has to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a closing server waits for the client to answer its close frame.
const CLOSE_REPLY_TIMEOUT: Duration = Duration::from_secs(1);

/// `GET /graphql/ws`.
pub async fn upgrade(
    State(state): State<HttpState>,
    shutdown: Option<Extension<Shutdown>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
    // graphql-transport-ws when offered; the legacy protocol otherwise
    // (also when a client names none).
    let transport =
        if offered.contains(&"graphql-transport-ws") { Transport::TransportWs } else { Transport::LegacyWs };
    let peer = peer.map(|Extension(ConnectInfo(peer))| peer);
    let address = super::client_address(&state, &headers, peer);
    let user_agent = super::user_agent(&headers);
    // Subscribers send little and receive small events: small buffers keep
    // an idle connection cheap (tungstenite's defaults are 128 KiB each);
    // events are written out as they come.
    upgrade
        .protocols(["graphql-transport-ws", "graphql-ws"])
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| {
            let shutdown = shutdown.map(|Extension(shutdown)| shutdown).unwrap_or_default();
            Connection { pipeline: state.pipeline.clone(), transport, address, user_agent, socket, shutdown }.serve()
        })
}

/// One WebSocket connection.
struct Connection {
    pipeline: Arc<Pipeline>,
    transport: Transport,
    address: Option<std::net::IpAddr>,
    /// The `User-Agent` of the upgrade request.
    user_agent: Option<String>,
    socket: WebSocket,
    shutdown: Shutdown,
}

/// The running operations of a connection: their items, with the
/// operation ID (and `None` once an operation has finished).
type Running = SelectAll<Abortable<BoxStream<'static, (String, Option<Delivery>)>>>;

impl Connection {
    fn legacy(&self) -> bool {
        self.transport == Transport::LegacyWs
    }

    async fn serve(mut self) {
        // The server waits for this connection to close before it exits.
        let _open = self.shutdown.hold();
        let shutdown = self.shutdown.clone();
        let first = tokio::select! {
            first = tokio::time::timeout(INIT_TIMEOUT, next_payload(&mut self.socket)) => first,
            () = shutdown.begun() => {
                going_away(&mut self.socket).await;
                return;
            }
        };
        let init = match first {
            Ok(Some(Ok(init))) => init,
            Ok(Some(Err(()))) => return self.close(4400, "Invalid message").await,
            Ok(None) => return,
            Err(_) => return self.close(4408, "Connection initialisation timeout").await,
        };
        if init["type"] != "connection_init" {
            return self.close(4401, "Unauthorized: send connection_init first").await;
        }
        let payload = &init["payload"];
        let token = ["authorization", "Authorization"].iter().find_map(|key| payload[*key].as_str());
        let credentials = Credentials::from_authorization(token);
        // The connection's task lives as long as the connection: the
        // futures of its rare steps (the session's lookup, an operation's
        // start) are boxed so that they do not size every idle connection.
        let (principal, refused) = match Box::pin(self.pipeline.caller(&credentials)).await {
            Ok(caller) => (caller.principal, caller.refused),
            Err(_) => (None, None),
        };
        let Some(principal) = principal else {
            tracing::info!("WebSocket connection refused: no valid session");
            let message = refused.map(|r| r.message()).unwrap_or("sign in first: no valid session");
            return self.refuse_init(message, "UNAUTHENTICATED", 4403, "Forbidden").await;
        };
        let _slot = match self.pipeline.open_connection(&principal) {
            Ok(slot) => slot,
            Err(refused) => {
                let message = refused.message.clone();
                return self.refuse_init(&message, "RATE_LIMITED", 4429, "Too many connections").await;
            }
        };
        if self.send_json(serde_json::json!({ "type": "connection_ack" })).await.is_err() {
            return;
        }
        let watch = self.pipeline.app().revocations.watch(principal.session_id);
        let origin = Origin {
            transport: self.transport,
            address: self.address,
            user_agent: self.user_agent.clone(),
            credentials,
            idempotency_key: None,
        };
        let lifetime = (principal.session_expires_at - self.pipeline.app().now()).to_std().unwrap_or_default();
        self.run(origin, watch, lifetime).await;
    }

    /// Answers a refused `connection_init` in the protocol's way.
    async fn refuse_init(&mut self, message: &str, code: &str, close: u16, reason: &'static str) {
        if self.legacy() {
            let refusal = serde_json::json!({
                "type": "connection_error",
                "payload": { "message": message, "extensions": { "code": code } },
            });
            let _ = self.send_json(refusal).await;
        }
        self.close(close, reason).await;
    }

    /// The acknowledged connection: operations until the client leaves, the
    /// session ends or the server shuts down.
    async fn run(&mut self, origin: Origin, watch: Arc<SessionWatch>, lifetime: Duration) {
        let mut running: Running = SelectAll::new();
        let mut handles: HashMap<String, AbortHandle> = HashMap::new();
        let shutdown = self.shutdown.clone();
        // The session's absolute end closes the connection, operations or
        // not.
        let expires = tokio::time::sleep(lifetime);
        tokio::pin!(expires);
        loop {
            tokio::select! {
                biased;
                () = shutdown.begun() => {
                    going_away(&mut self.socket).await;
                    return;
                }
                () = watch.ended() => {
                    self.session_ended(&handles).await;
                    return;
                }
                () = &mut expires => {
                    self.session_ended(&handles).await;
                    return;
                }
                item = running.next(), if !running.is_empty() => {
                    let Some((id, delivery)) = item else { continue };
                    match delivery {
                        Some(delivery) => {
                            let ended = delivery.session_ended;
                            // The permit travels with the payload and is let go once it
                            // has been handed to the connection.
                            let sent = self.send_text(frame(self.next_type(), &id, &delivery.payload)).await;
                            drop(delivery);
                            if sent.is_err() {
                                return;
                            }
                            if ended {
                                handles.remove(&id);
                                let _ = self.send_json(complete(&id)).await;
                                self.session_ended(&handles).await;
                                return;
                            }
                        }
                        None => {
                            handles.remove(&id);
                            if self.send_json(complete(&id)).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                message = next_payload(&mut self.socket) => {
                    let message = match message {
                        Some(Ok(message)) => message,
                        Some(Err(())) => return self.close(4400, "Invalid message").await,
                        None => return,
                    };
                    if !self.handle(message, &origin, &watch, &mut running, &mut handles).await {
                        return;
                    }
                }
            }
        }
    }

    /// One message from the client; `false` when the connection is done.
    async fn handle(
        &mut self,
        message: Value,
        origin: &Origin,
        watch: &Arc<SessionWatch>,
        running: &mut Running,
        handles: &mut HashMap<String, AbortHandle>,
    ) -> bool {
        match message["type"].as_str().unwrap_or_default() {
            "subscribe" | "start" => {
                let Some(id) = message["id"].as_str().map(str::to_owned) else {
                    self.close(4400, "Invalid message: an operation needs an id").await;
                    return false;
                };
                if let Some(previous) = handles.get(&id) {
                    if !self.legacy() {
                        self.close(4409, "Subscriber for this id already exists").await;
                        return false;
                    }
                    // subscriptions-transport-ws replaces an operation that
                    // reuses its ID.
                    previous.abort();
                    handles.remove(&id);
                }
                let most = self.pipeline.app().config.max_streams_per_socket;
                if handles.len() >= most {
                    let refused = crate::pipeline::stream::over_bound(
                        format!("at most {most} operations may run at once on one connection (maxStreamsPerSocket)"),
                        "maxStreamsPerSocket",
                    );
                    self.pipeline.metrics.rate_limited();
                    return self.send_error(&id, Answer::refusal(refused)).await;
                }
                let request: async_graphql::Request = match serde_json::from_value(message["payload"].clone()) {
                    Ok(request) => request,
                    Err(e) => {
                        let error =
                            crate::error::AppError::bad_input("payload", format!("is not a GraphQL request: {e}"));
                        return self.send_error(&id, Answer::refusal(crate::pipeline::server_error(&error))).await;
                    }
                };
                match Box::pin(self.pipeline.stream(origin, request, Some(watch.clone()))).await {
                    Ok(deliveries) => {
                        let (handle, registration) = AbortHandle::new_pair();
                        let tagged = {
                            let id = id.clone();
                            let end = id.clone();
                            deliveries
                                .map(move |delivery| (id.clone(), Some(delivery)))
                                .chain(futures_util::stream::once(async move { (end, None) }))
                                .boxed()
                        };
                        running.push(Abortable::new(tagged, registration));
                        handles.insert(id, handle);
                        true
                    }
                    Err(answer) => {
                        let ended = answer.verdict == crate::pipeline::Verdict::Refused("UNAUTHENTICATED");
                        let sent = self.send_error(&id, answer).await;
                        if ended {
                            self.session_ended(handles).await;
                            return false;
                        }
                        sent
                    }
                }
            }
            "complete" | "stop" => {
                if let Some(id) = message["id"].as_str()
                    && let Some(handle) = handles.remove(id)
                {
                    handle.abort();
                    if self.legacy() {
                        return self.send_json(complete(id)).await.is_ok();
                    }
                }
                true
            }
            "ping" if !self.legacy() => {
                let mut pong = serde_json::json!({ "type": "pong" });
                if !message["payload"].is_null() {
                    pong["payload"] = message["payload"].clone();
                }
                self.send_json(pong).await.is_ok()
            }
            "pong" => true,
            "connection_init" => {
                if self.legacy() {
                    return true;
                }
                self.close(4429, "Too many initialisation requests").await;
                false
            }
            "connection_terminate" if self.legacy() => {
                self.close(1000, "terminated").await;
                false
            }
            _ if self.legacy() => true,
            _ => {
                self.close(4400, "Invalid message: unknown type").await;
                false
            }
        }
    }

    /// Tells every running operation that the session has ended, then
    /// closes with 4401.
    async fn session_ended(&mut self, handles: &HashMap<String, AbortHandle>) {
        let notice = crate::pipeline::stream::session_ended_payload();
        let ids: Vec<String> = handles.keys().cloned().collect();
        for id in ids {
            if self.send_text(frame(self.next_type(), &id, &notice)).await.is_err()
                || self.send_json(complete(&id)).await.is_err()
            {
                return;
            }
        }
        for handle in handles.values() {
            handle.abort();
        }
        self.close(4401, "Unauthorized: the session has ended").await;
    }

    /// Refuses one operation: an `error` message with the GraphQL errors.
    async fn send_error(&mut self, id: &str, answer: Answer) -> bool {
        let errors = serde_json::from_str::<Value>(&answer.body)
            .ok()
            .map(|body| body["errors"].clone())
            .unwrap_or(Value::Array(Vec::new()));
        let sent = self.send_json(serde_json::json!({ "type": "error", "id": id, "payload": errors })).await.is_ok();
        if sent && self.legacy() {
            // subscriptions-transport-ws clients expect the end of the
            // operation after its error.
            return self.send_json(complete(id)).await.is_ok();
        }
        sent
    }

    fn next_type(&self) -> &'static str {
        if self.legacy() { "data" } else { "next" }
    }

    async fn send_json(&mut self, message: Value) -> Result<(), axum::Error> {
        self.send_text(message.to_string()).await
    }

    async fn send_text(&mut self, text: String) -> Result<(), axum::Error> {
        self.socket.send(Message::Text(text.into())).await
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let _ = self.socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
    }
}

/// A `next` (or legacy `data`) message around a payload already in JSON.
fn frame(kind: &str, id: &str, payload: &str) -> String {
    let id = serde_json::to_string(id).unwrap_or_else(|_| "\"\"".to_owned());
    format!(r#"{{"type":"{kind}","id":{id},"payload":{payload}}}"#)
}

fn complete(id: &str) -> Value {
    serde_json::json!({ "type": "complete", "id": id })
}

/// The next message of the client as JSON: `None` when the connection
/// closed, `Err` for something that is not a JSON object.
async fn next_payload(socket: &mut WebSocket) -> Option<Result<Value, ()>> {
    while let Some(Ok(message)) = socket.next().await {
        let parsed: Result<Value, _> = match &message {
            Message::Text(text) => serde_json::from_str(text.as_str()),
            Message::Binary(bytes) => serde_json::from_slice(bytes),
            Message::Close(_) => return None,
            _ => continue,
        };
        return Some(parsed.ok().filter(Value::is_object).ok_or(()));
    }
    None
}

/// Closes the connection because the server is shutting down: 1001 (going
/// away), then a short wait for the client's close frame so that the
/// connection ends cleanly.
async fn going_away(socket: &mut WebSocket) {
    let frame = Message::Close(Some(CloseFrame { code: 1001, reason: "server shutting down".into() }));
    if socket.send(frame).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_REPLY_TIMEOUT, async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Close(_) = message {
                break;
            }
        }
    })
    .await;
}
