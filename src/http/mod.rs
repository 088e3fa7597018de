//! The HTTP surface (axum only): routes, layers, health and metrics.

mod graphql;
mod health;
mod opendata;
mod subscriptions;

use axum::Router;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::graphql::HersysSchema;
use crate::state::AppState;

/// State of the HTTP handlers.
#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: HersysSchema,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole router. Tests serve it on port 0.
pub fn router(app: AppState, schema: HersysSchema) -> Router {
    let state = HttpState { app, schema };
    Router::new()
        .route("/graphql", get(graphql::ide).post(graphql::execute))
        .route("/graphql/ws", get(subscriptions::websocket))
        .route("/graphql/stream", axum::routing::post(subscriptions::server_sent_events))
        .route("/opendata/{file}", get(opendata::file))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(not_found)
        .with_state(state)
        .layer(CatchPanicLayer::custom(graphql::panic_response))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            // Method, path and request id only: no headers (tokens) and
            // no query string (it could carry values).
            let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found: the GraphQL endpoint is /graphql\n").into_response()
}
