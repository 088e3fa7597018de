//! The HTTP surface (axum only): routes, layers, health and metrics.

mod graphql;
mod health;
mod metrics;
mod opendata;
pub mod persisted;
mod subscriptions;

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

use crate::graphql::Schemas;
use crate::ratelimit::RateLimits;
use crate::state::AppState;

/// State of the HTTP handlers.
#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    /// The schema of `POST /graphql` and that of subscriptions.
    pub schemas: Schemas,
    /// Request counters and latencies for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Token buckets per client address and per account.
    pub limits: Arc<RateLimits>,
    /// Automatic persisted queries and the safelist.
    pub persisted: Arc<persisted::PersistedQueries>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole router. Tests serve it on port 0.
pub fn router(app: AppState) -> Router {
    let config = app.config.clone();
    let state = HttpState {
        schemas: Schemas::new(app.clone()),
        app,
        metrics: Arc::new(crate::metrics::Metrics::default()),
        limits: Arc::new(RateLimits::new(config.rate_limit_per_address, config.rate_limit_per_account)),
        persisted: Arc::new(persisted::PersistedQueries::new(config.persisted_queries, config.safelist.clone())),
    };
    // What clients call is limited per address; probes and metrics are not.
    let api = Router::new()
        .route("/graphql", get(graphql::ide).post(graphql::execute))
        .route("/graphql/ws", get(subscriptions::websocket))
        .route("/graphql/stream", axum::routing::post(subscriptions::server_sent_events))
        .route("/opendata/{file}", get(opendata::file))
        .route_layer(middleware::from_fn_with_state(state.clone(), limit_by_address));
    let router = Router::new()
        .merge(api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .fallback(not_found)
        .with_state(state);
    let router = match cors(&config.cors_allowed_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
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
pub(crate) fn client_address(state: &HttpState, request: &Request) -> Option<IpAddr> {
    if state.app.config.trust_forwarded_for
        && let Some(forwarded) = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok())
        && let Some(last) = forwarded.rsplit(',').next().and_then(|a| a.trim().parse().ok())
    {
        return Some(last);
    }
    request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip())
}

/// Refuses a request over its address's rate with `RATE_LIMITED`.
async fn limit_by_address(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    if let (Some(limiter), Some(address)) = (&state.limits.per_address, client_address(&state, &request))
        && let Err(wait) = limiter.check(&address)
    {
        state.metrics.rate_limited();
        return rate_limited(wait, "this address");
    }
    next.run(request).await
}

/// `429` with `Retry-After` and a GraphQL error body.
pub(crate) fn rate_limited(wait: std::time::Duration, whom: &str) -> Response {
    let seconds = crate::ratelimit::retry_after_seconds(wait);
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
