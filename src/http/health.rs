//! Liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::HttpState;

/// The process is alive.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The database answers.
pub async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    if crate::db::ping(&state.app.db).await {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    let body = format!(
        "# HELP hersys_db_queries_total SQL statements run since the process started.\n\
         # TYPE hersys_db_queries_total counter\n\
         hersys_db_queries_total {}\n",
        state.app.queries.get()
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
