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
    let app = &state.app;
    let body = format!(
        "# HELP hersys_db_queries_total SQL statements run since the process started, by what ran them.\n\
         # TYPE hersys_db_queries_total counter\n\
         hersys_db_queries_total{{source=\"requests\"}} {}\n\
         hersys_db_queries_total{{source=\"background\"}} {}\n\
         # HELP hersys_subscriptions_open Open positiveResults subscriptions.\n\
         # TYPE hersys_subscriptions_open gauge\n\
         hersys_subscriptions_open {}\n\
         # HELP hersys_outbox_dispatched_cursor The last outbox event this server dispatched.\n\
         # TYPE hersys_outbox_dispatched_cursor gauge\n\
         hersys_outbox_dispatched_cursor {}\n",
        app.queries.get(),
        app.background_queries.get(),
        app.hub.subscribers(),
        app.hub.dispatched(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
