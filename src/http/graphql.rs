//! GraphQL over HTTP: `POST /graphql` (the IDE on `GET /graphql` is `ide.rs`).
//!
//! A thin adapter: the body is read and parsed here (so that a malformed
//! one is itself a GraphQL response with `extensions.code`, never a bare
//! status), then the request goes through the pipeline, and its answer is
//! framed as the GraphQL-over-HTTP specification says:
//!
//! - with `Accept: application/graphql-response+json`, that media type, and
//!   a request refused before it ran gets a 4xx status (400 for a document
//!   that does not parse, validate or fit the limits; 401, 403, 409 by its
//!   code);
//! - otherwise `application/json`, and 200 for every well-formed request
//!   whatever its GraphQL errors;
//! - in both, 429 with `Retry-After` when a rate limit refuses it, 503 with
//!   `Retry-After` when the database is unavailable or the deadline passed
//!   and nothing ran to the end, 500 for a fault of the server, 400 for a
//!   body that is not a GraphQL request and 413 for one too large.

use std::net::SocketAddr;

use async_graphql::BatchRequest;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::HttpState;
use crate::pipeline::{Answer, Credentials, Origin, Transport, Verdict};

/// The media type of GraphQL responses in the current specification.
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// How the client wants its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/json`: 200 for every well-formed request.
    Json,
    /// `application/graphql-response+json`: 4xx for a refused request.
    GraphqlResponse,
}

impl Media {
    pub fn of(headers: &HeaderMap) -> Media {
        let accepts = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if accepts.contains(GRAPHQL_RESPONSE) { Media::GraphqlResponse } else { Media::Json }
    }

    fn content_type(self) -> &'static str {
        match self {
            Media::Json => "application/json",
            Media::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        }
    }
}

/// Executes a query or mutation (or a batch of them).
pub async fn execute(State(state): State<HttpState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let media = Media::of(&parts.headers);
    let connection = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    let address = super::client_address(&state, &parts.headers, connection);
    let bytes = match axum::body::to_bytes(body, state.app.config.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let message = format!("the request body is larger than {} bytes", state.app.config.max_body_bytes);
            return malformed(StatusCode::PAYLOAD_TOO_LARGE, &message, media);
        }
    };
    let batch = match parse_body(&parts.headers, &bytes) {
        Ok(batch) => batch,
        Err(message) => return malformed(StatusCode::BAD_REQUEST, &message, media),
    };
    let idempotency_key = match parts.headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => {
            match value
                .to_str()
                .map_err(|_| ())
                .and_then(|v| crate::services::idempotency::parse_key(v).map_err(|_| ()))
            {
                Ok(key) => Some(key),
                Err(()) => {
                    let error = crate::error::AppError::bad_input(
                        "Idempotency-Key",
                        "must be 1 to 200 visible ASCII characters",
                    );
                    return respond(Answer::refusal(crate::pipeline::server_error(&error)), media);
                }
            }
        }
    };
    let credentials = Credentials::from_authorization(
        parts.headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}")),
    );
    let user_agent = super::user_agent(&parts.headers);
    let origin = Origin { transport: Transport::Http, address, user_agent, credentials, idempotency_key };
    let operation = match &batch {
        BatchRequest::Single(request) => crate::pipeline::admission::operation_label(request),
        BatchRequest::Batch(_) => Some("batch".to_owned()),
    };
    let answer = state.pipeline.execute(&origin, batch, &bytes).await;
    let mut response = respond(answer, media);
    if let Some(name) = operation {
        response.extensions_mut().insert(super::access::Operation(name));
    }
    response
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The HTTP status of an answer.
pub fn status(verdict: Verdict, media: Media) -> StatusCode {
    let Verdict::Refused(code) = verdict else { return StatusCode::OK };
    match code {
        "RATE_LIMITED" => StatusCode::TOO_MANY_REQUESTS,
        "UNAVAILABLE" | "DEADLINE_EXCEEDED" => StatusCode::SERVICE_UNAVAILABLE,
        "INTERNAL" => StatusCode::INTERNAL_SERVER_ERROR,
        _ if media == Media::Json => StatusCode::OK,
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "FORBIDDEN" => StatusCode::FORBIDDEN,
        "CONFLICT" => StatusCode::CONFLICT,
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Frames an answer.
pub fn respond(answer: Answer, media: Media) -> Response {
    // Apollo clients resend the text on this message whatever the status;
    // it stays a 200 in both media types, as they expect.
    let not_found = matches!(answer.verdict, Verdict::Refused(_)) && answer.body.contains("\"PersistedQueryNotFound\"");
    let status = if not_found { StatusCode::OK } else { status(answer.verdict, media) };
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media.content_type()));
    if let Some(seconds) = answer.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// A body that is not a GraphQL request at all.
pub fn malformed(status: StatusCode, message: &str, media: Media) -> Response {
    let body = serde_json::json!({
        "data": null,
        "errors": [{ "message": message, "extensions": { "code": "BAD_USER_INPUT" } }],
    });
    (status, [(header::CONTENT_TYPE, media.content_type())], body.to_string()).into_response()
}

fn parse_body(headers: &HeaderMap, bytes: &Bytes) -> Result<BatchRequest, String> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    if !content_type.starts_with("application/json") && !content_type.starts_with(GRAPHQL_RESPONSE) {
        return Err("send the request as JSON (Content-Type: application/json)".to_owned());
    }
    serde_json::from_slice::<BatchRequest>(bytes).map_err(|e| {
        // serde's message names the position and what was expected, never
        // the request's values.
        format!("the body is not a GraphQL request in JSON: {e}")
    })
}

/// A response with one request-level error.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "data": null, "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// A panic anywhere below answers like any other server fault.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error")
}
