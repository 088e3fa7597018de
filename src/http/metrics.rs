//! `GET /metrics`: the Prometheus text format.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use sea_orm::{ConnectionTrait, DbBackend};

use super::HttpState;

/// Every series of this server.
pub async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    let app = &state.app;
    let (pool_size, pool_idle) = match app.db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = app.db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        _ => {
            let pool = app.db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
    };
    // The newest event in the outbox, and how many are after the last one
    // dispatched; counted as background work, not as a request's statement.
    let dispatched = app.hub.dispatched();
    let backend = app.db.get_database_backend();
    // Each part reads an index: the newest ID, and the range after the
    // cursor (not the whole table).
    let mut sql = crate::db::Sql::new(backend);
    sql.push(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM outbox_events) AS newest, \
         (SELECT COUNT(*) FROM outbox_events WHERE (tx_id, id) > (",
    );
    sql.bind(dispatched.tx_id).push(", ").bind(dispatched.id).push(")) AS lag");
    let outbox = crate::db::counted(&app.db, app.background_queries.clone())
        .query_one_raw(sql.build())
        .await
        .ok()
        .flatten()
        .and_then(|row| Some((row.try_get::<i64>("", "newest").ok()?, row.try_get::<i64>("", "lag").ok()?)));
    let dispatched = dispatched.id;
    let mut body = format!(
        "# HELP hersys_db_queries_total SQL statements run since the process started, by what ran them.\n\
         # TYPE hersys_db_queries_total counter\n\
         hersys_db_queries_total{{source=\"requests\"}} {}\n\
         hersys_db_queries_total{{source=\"background\"}} {}\n\
         # HELP hersys_db_pool_connections Open database connections, by state.\n\
         # TYPE hersys_db_pool_connections gauge\n\
         hersys_db_pool_connections{{state=\"in_use\"}} {}\n\
         hersys_db_pool_connections{{state=\"idle\"}} {}\n\
         # HELP hersys_db_pool_max_connections Largest number of pooled connections.\n\
         # TYPE hersys_db_pool_max_connections gauge\n\
         hersys_db_pool_max_connections {}\n\
         # HELP hersys_subscriptions_open Open positiveResults subscriptions.\n\
         # TYPE hersys_subscriptions_open gauge\n\
         hersys_subscriptions_open {}\n\
         # HELP hersys_outbox_dispatched_cursor The last outbox event this server dispatched.\n\
         # TYPE hersys_outbox_dispatched_cursor gauge\n\
         hersys_outbox_dispatched_cursor {dispatched}\n",
        app.queries.get(),
        app.background_queries.get(),
        pool_size.saturating_sub(pool_idle),
        pool_idle,
        app.config.db_max_connections,
        app.hub.subscribers(),
    );
    if let Some((newest, lag)) = outbox {
        body.push_str(&format!(
            "# HELP hersys_outbox_newest_event The newest event in the outbox.\n\
             # TYPE hersys_outbox_newest_event gauge\n\
             hersys_outbox_newest_event {newest}\n\
             # HELP hersys_outbox_lag_events Events in the outbox not yet dispatched by this server.\n\
             # TYPE hersys_outbox_lag_events gauge\n\
             hersys_outbox_lag_events {lag}\n"
        ));
    }
    let (hits, misses) = state.pipeline.documents.counts();
    body.push_str(&format!(
        "# HELP hersys_documents_total Requests by whether their document was found already parsed.\n\
         # TYPE hersys_documents_total counter\n\
         hersys_documents_total{{cache=\"hit\"}} {hits}\n\
         hersys_documents_total{{cache=\"miss\"}} {misses}\n"
    ));
    state.pipeline.metrics.render(&mut body);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
