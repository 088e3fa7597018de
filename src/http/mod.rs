//! The HTTP surface (axum only): routes, layers, health and metrics.

mod access;
mod console;
pub mod graphql;
mod health;
mod ide;
mod import;
mod metrics;
mod opendata;
pub mod shutdown;
mod sse;
mod websocket;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::pipeline::Pipeline;
use crate::state::AppState;

/// State of the HTTP handlers.
#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    /// The one pipeline every GraphQL operation goes through.
    pub pipeline: Arc<Pipeline>,
    /// The open-data files of recent publications.
    pub opendata: Arc<opendata::Publications>,
    /// Imports running at once ([`import::AT_ONCE`]).
    pub imports: Arc<tokio::sync::Semaphore>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole router (without `/metrics` when a metrics address is set).
/// Tests serve it on port 0.
pub fn router(app: AppState) -> Router {
    routers(app).0
}

/// The router of the main address, and, when `metrics_addr` is set, the
/// router of that address: `/metrics` is then served only there.
pub fn routers(app: AppState) -> (Router, Option<Router>) {
    let config = app.config.clone();
    let state = HttpState {
        pipeline: Arc::new(Pipeline::new(app.clone())),
        opendata: Arc::new(opendata::Publications::default()),
        imports: Arc::new(tokio::sync::Semaphore::new(import::AT_ONCE)),
        app,
    };
    // What clients call is limited per address; probes and metrics are not.
    // GraphQL operations take their tokens in the pipeline (one per
    // operation, on every transport); the other routes here, and each
    // WebSocket connection, take one per request.
    let limited = Router::new()
        .route("/graphql", get(ide::page))
        .route("/ide/ide.js", get(ide::script))
        .route("/ide/ide.css", get(ide::stylesheet))
        .route("/console", get(console::page))
        .route("/console/console.js", get(console::script))
        .route("/console/console.css", get(console::stylesheet))
        .route("/graphql/ws", get(websocket::upgrade))
        .route("/opendata/{file}", get(opendata::file))
        .route("/import/csv", axum::routing::post(import::csv))
        .route("/import/fhir", axum::routing::post(import::fhir))
        .route_layer(middleware::from_fn_with_state(state.clone(), limit_by_address));
    let operations = Router::new()
        .route("/graphql", axum::routing::post(graphql::execute))
        .route("/graphql/stream", axum::routing::post(sse::stream));
    let metrics = Router::new().route("/metrics", get(metrics::metrics));
    let (router, metrics) = match config.metrics_addr {
        None => (Router::new().merge(metrics), None),
        Some(_) => {
            let separate = metrics
                .fallback(not_found)
                .with_state(state.clone())
                .layer(CatchPanicLayer::custom(graphql::panic_response))
                .layer(middleware::from_fn_with_state(state.clone(), access::log));
            (Router::new(), Some(separate))
        }
    };
    let router = router
        .merge(limited)
        .merge(operations)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(not_found)
        .with_state(state.clone());
    let router = match cors(&config.cors_allowed_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    let router = router
        .layer(CatchPanicLayer::custom(graphql::panic_response))
        .layer(middleware::from_fn_with_state(state, access::log))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            // Method, path and request id only: no headers (tokens) and
            // no query string (it could carry values).
            let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid));
    (router, metrics)
}

/// CORS for the allowed browser origins only; none configured, no CORS
/// headers at all (browsers then refuse cross-site calls).
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("idempotency-key")])
            .expose_headers([REQUEST_ID, header::RETRY_AFTER])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// The client's address: the peer, or behind a trusted proxy the last
/// `X-Forwarded-For` entry.
pub(crate) fn client_address(
    state: &HttpState,
    headers: &axum::http::HeaderMap,
    peer: Option<SocketAddr>,
) -> Option<IpAddr> {
    if state.app.config.trust_forwarded_for
        && let Some(forwarded) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok())
        && let Some(last) = forwarded.rsplit(',').next().and_then(|a| a.trim().parse().ok())
    {
        return Some(last);
    }
    peer.map(|peer| peer.ip())
}

/// The `User-Agent` header, if it is visible text.
pub(crate) fn user_agent(headers: &axum::http::HeaderMap) -> Option<String> {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Refuses a request over its address's rate with `RATE_LIMITED`.
async fn limit_by_address(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    if let (Some(limiter), Some(address)) =
        (&state.pipeline.rate_limits.per_address, client_address(&state, request.headers(), peer))
        && let Err(wait) = limiter.check(&address)
    {
        state.pipeline.metrics.rate_limited();
        return rate_limited(wait, "this address");
    }
    next.run(request).await
}

/// `429` with `Retry-After` and a GraphQL error body.
pub(crate) fn rate_limited(wait: std::time::Duration, whom: &str) -> Response {
    let seconds = crate::pipeline::ratelimit::retry_after_seconds(wait);
    let body = serde_json::json!({
        "data": null,
        "errors": [{
            "message": format!("too many requests from {whom}: retry after {seconds} s"),
            "extensions": { "code": "RATE_LIMITED", "retryAfterSeconds": seconds },
        }],
    });
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, seconds.to_string()), (header::CONTENT_TYPE, "application/json".to_owned())],
        body.to_string(),
    )
        .into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found: the GraphQL endpoint is /graphql\n").into_response()
}
