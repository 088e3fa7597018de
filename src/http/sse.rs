//! `POST /graphql/stream`: GraphQL over Server-Sent Events (the distinct
//! connections mode), for networks that block WebSocket. The body and the
//! `Authorization` header are those of `POST /graphql`; each result is a
//! `next` event and the end a `complete` event. A refusal before the stream
//! starts is an ordinary GraphQL-over-HTTP answer with its status.
//!
//! A thin adapter: the operation runs through the pipeline's stream
//! stages, which end it when its session ends. On shutdown the stream ends
//! without `complete`, so that the client reconnects (to another replica)
//! with its last cursor.

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::HttpState;
use super::graphql::{Media, respond};
use super::shutdown::Shutdown;
use crate::pipeline::{Credentials, Origin, Transport};

/// `POST /graphql/stream`.
pub async fn stream(
    State(state): State<HttpState>,
    shutdown: Option<Extension<Shutdown>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    // A refusal before the stream starts is a GraphQL-over-HTTP answer with
    // a 4xx status for a request error, as the GraphQL over SSE protocol
    // asks.
    let media = Media::GraphqlResponse;
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    let bytes = match axum::body::to_bytes(body, state.app.config.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let message = format!("the request body is larger than {} bytes", state.app.config.max_body_bytes);
            return super::graphql::malformed(StatusCode::PAYLOAD_TOO_LARGE, &message, media);
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(e) => {
            let message = format!("the body is not one GraphQL request in JSON: {e}");
            return super::graphql::malformed(StatusCode::BAD_REQUEST, &message, media);
        }
    };
    let origin = Origin {
        transport: Transport::ServerSentEvents,
        address: super::client_address(&state, &parts.headers, peer),
        user_agent: super::user_agent(&parts.headers),
        credentials: Credentials::from_authorization(
            parts.headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}")),
        ),
        idempotency_key: None,
    };
    let operation = crate::pipeline::admission::operation_label(&request).map(super::access::Operation);
    let deliveries = match state.pipeline.stream(&origin, request, None).await {
        Ok(deliveries) => deliveries,
        Err(answer) => {
            let mut response = respond(answer, media);
            if let Some(operation) = operation {
                response.extensions_mut().insert(operation);
            }
            return response;
        }
    };
    // A delivery's permit is kept until the next item is asked for, by
    // which time the body has taken the previous one.
    let results = deliveries
        .scan(None, |held, delivery| {
            let event = Event::default().event("next").data(delivery.payload);
            *held = delivery.permit;
            std::future::ready(Some(Ok::<_, std::convert::Infallible>(event)))
        })
        .boxed();
    let complete = futures_util::stream::once(async { Ok(Event::default().event("complete").data("")) });
    let shutdown = shutdown.map(|Extension(shutdown)| shutdown).unwrap_or_default();
    let stopped = async move { shutdown.begun().await };
    let events = results.chain(complete).take_until(stopped);
    let mut response = Sse::new(events).keep_alive(KeepAlive::default()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
    // nginx buffers proxied responses unless told not to: an event would
    // wait in its buffer.
    response
        .headers_mut()
        .insert(header::HeaderName::from_static("x-accel-buffering"), header::HeaderValue::from_static("no"));
    if let Some(operation) = operation {
        response.extensions_mut().insert(operation);
    }
    response
}
