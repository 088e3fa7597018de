//! Liveness and readiness.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::HttpState;
use super::shutdown::Shutdown;

/// The process is alive.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The database answers within `db::PING_TIMEOUT`, and the server is not
/// shutting down. A database outage turns this false within about a second
/// (a request taking a connection then fails after `SERVER_ACQUIRE_TIMEOUT`),
/// and true again as soon as the database answers: the pool reconnects by
/// itself.
pub async fn readyz(State(state): State<HttpState>, shutdown: Option<Extension<Shutdown>>) -> impl IntoResponse {
    if shutdown.is_some_and(|Extension(shutdown)| shutdown.has_begun()) {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
    } else if crate::db::ping(&state.app.db).await {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
    }
}
