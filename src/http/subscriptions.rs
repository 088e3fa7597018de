//! Subscriptions over WebSocket (`/graphql/ws`, both `graphql-transport-ws`
//! and the legacy `graphql-ws` sub-protocol of subscriptions-transport-ws)
//! and over Server-Sent Events (`POST /graphql/stream`), for networks that
//! block WebSocket.
//!
//! On WebSocket the client authenticates in `connection_init`
//! (`{"authorization": "Bearer <token>"}`). That first message is read here,
//! before the GraphQL protocol handler runs, so that a refusal closes the
//! connection with the protocol's own code: 4403 Forbidden on
//! `graphql-transport-ws`, a `connection_error` message on `graphql-ws`.
//!
//! When the server shuts down, every open WebSocket is closed with 1001
//! (going away), so that clients reconnect elsewhere and resume with their
//! cursor.

use std::time::Duration;

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};

use super::HttpState;
use super::graphql::{caller_from_headers, error_response};
use crate::auth::principal::Caller;
use crate::auth::session::bearer;
use crate::graphql::loaders::{AppLoader, RequestLoader};
use crate::startup::Shutdown;

/// How long a client has to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a closing server waits for the client to answer its close frame.
const CLOSE_REPLY_TIMEOUT: Duration = Duration::from_secs(1);

/// `GET /graphql/ws`.
pub async fn websocket(
    State(state): State<HttpState>,
    shutdown: Option<Extension<Shutdown>>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    // The legacy protocol unless the client offered graphql-transport-ws,
    // which is what the extractor negotiates too.
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let legacy = !offered.split(',').any(|p| p.trim() == "graphql-transport-ws");
    // Subscribers send little and receive small events: small buffers keep
    // an idle connection cheap (tungstenite's defaults are 128 KiB each);
    // events are written out as they come.
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| {
            let shutdown = shutdown.map(|Extension(shutdown)| shutdown).unwrap_or_default();
            serve(state, protocol, legacy, socket, shutdown)
        })
}

async fn serve(state: HttpState, protocol: GraphQLProtocol, legacy: bool, socket: WebSocket, shutdown: Shutdown) {
    // The server waits for this connection to close before it exits.
    let _open = shutdown.hold();
    let (mut sink, mut stream) = socket.split();
    let first = tokio::select! {
        first = tokio::time::timeout(INIT_TIMEOUT, async {
            while let Some(Ok(message)) = stream.next().await {
                match message {
                    Message::Text(_) | Message::Binary(_) => return Some(message),
                    Message::Close(_) => return None,
                    _ => continue,
                }
            }
            None
        }) => first,
        () = shutdown.begun() => {
            going_away(&mut sink, &mut stream).await;
            return;
        }
    };
    let first = match first {
        Ok(Some(message)) => message,
        Ok(None) => return,
        Err(_) => {
            let _ = sink.send(close(4408, "Connection initialisation timeout")).await;
            return;
        }
    };
    let init: serde_json::Value = match &first {
        Message::Text(text) => serde_json::from_str(text.as_str()).unwrap_or_default(),
        Message::Binary(bytes) => serde_json::from_slice(bytes).unwrap_or_default(),
        _ => serde_json::Value::Null,
    };
    if init["type"] != "connection_init" {
        let _ = sink.send(close(4401, "Unauthorized: send connection_init first")).await;
        return;
    }
    let payload = &init["payload"];
    let token = ["authorization", "Authorization"]
        .iter()
        .find_map(|key| payload[*key].as_str())
        .and_then(bearer)
        .map(str::to_owned);
    let principal = match token {
        Some(token) => crate::services::accounts::resolve(&state.app, &token).await.ok().flatten(),
        None => None,
    };
    let Some(principal) = principal else {
        tracing::info!("subscription connection refused: no valid session");
        if legacy {
            let refusal = serde_json::json!({
                "type": "connection_error",
                "payload": { "message": "sign in first: no valid session", "extensions": { "code": "UNAUTHENTICATED" } },
            });
            let _ = sink.send(Message::Text(refusal.to_string().into())).await;
        }
        let _ = sink.send(close(4403, "Forbidden")).await;
        return;
    };
    let mut data = Data::default();
    data.insert(connection_loader(&state, Some(&principal)));
    data.insert(Caller { principal: Some(principal), stale_token: false });
    // The init message goes on to the protocol handler, which answers it.
    // The handler borrows both halves, so that a shutdown can take them back
    // to close the connection itself.
    let rest = futures_util::stream::once(async move { Ok(first) }).chain(&mut stream);
    let protocol_handler = GraphQLWebSocket::new_with_pair(&mut sink, rest, state.schemas.streams.clone(), protocol)
        .on_connection_init(move |_| async move { Ok(data) })
        .serve();
    let shut_down = tokio::select! {
        () = protocol_handler => false,
        () = shutdown.begun() => true,
    };
    if shut_down {
        // The subscriptions end with the handler (dropped above).
        going_away(&mut sink, &mut stream).await;
    }
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

/// Closes the connection because the server is shutting down: 1001 (going
/// away), then a short wait for the client's close frame so that the
/// connection ends cleanly.
async fn going_away<S, R>(sink: &mut S, stream: &mut R)
where
    S: futures_util::Sink<Message> + Unpin,
    R: futures_util::Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    if sink.send(close(1001, "server shutting down")).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_REPLY_TIMEOUT, async {
        while let Some(Ok(message)) = stream.next().await {
            if let Message::Close(_) = message {
                break;
            }
        }
    })
    .await;
}

/// A loader for a long-lived connection: batching, but no cache, so that
/// every event shows the data as it is when it is sent.
fn connection_loader(state: &HttpState, principal: Option<&crate::auth::Principal>) -> RequestLoader {
    let principal = principal.cloned();
    let loader = RequestLoader::with_cache(
        AppLoader { db: state.app.db.clone(), principal: principal.clone() },
        tokio::spawn,
        async_graphql::dataloader::HashMapCache::default(),
    );
    loader.enable_all_cache(false);
    loader
}

/// `POST /graphql/stream`: GraphQL over Server-Sent Events (distinct
/// connections mode). Each result is a `next` event; the end is a
/// `complete` event. Authentication as on `POST /graphql`.
pub async fn server_sent_events(
    State(state): State<HttpState>,
    shutdown: Option<Extension<Shutdown>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match axum::body::to_bytes(body, state.app.config.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, "BAD_USER_INPUT", "the request body is too large");
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                &format!("the body is not a GraphQL request in JSON: {e}"),
            );
        }
    };
    let caller = match caller_from_headers(&state, &headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let loader = connection_loader(&state, caller.principal.as_ref());
    let request = request.data(caller).data(loader);
    let results = state.schemas.streams.execute_stream(request).map(|mut response| {
        super::graphql::ensure_codes(&mut response);
        let json = serde_json::to_string(&response).unwrap_or_else(|_| "{}".to_owned());
        Ok::<_, std::convert::Infallible>(Event::default().event("next").data(json))
    });
    let complete = futures_util::stream::once(async { Ok(Event::default().event("complete").data("")) });
    // On shutdown the stream ends without `complete`: the client reconnects
    // (to another replica) with its last cursor.
    let shutdown = shutdown.map(|Extension(shutdown)| shutdown).unwrap_or_default();
    let stopped = async move { shutdown.begun().await };
    let events = results.chain(complete).take_until(stopped);
    let mut response = Sse::new(events).keep_alive(KeepAlive::default()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
    response
}
