//! `GET /metrics`: the Prometheus text format. Served on the main address,
//! or only on `--metrics-addr` when one is set; with `--metrics-token`,
//! only to requests that send it (`Authorization: Bearer …`), others get
//! `401`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{ConnectionTrait, DbBackend};
use sha2::{Digest, Sha256};

use super::HttpState;

/// Every series of this server, to a caller with the token if one is set.
pub async fn metrics(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.app.config.metrics_token {
        let sent =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(crate::auth::session::bearer);
        if !sent.is_some_and(|sent| same_secret(sent, token.expose())) {
            let mut response =
                (StatusCode::UNAUTHORIZED, "the metrics need the token: Authorization: Bearer <token>\n")
                    .into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    render(&state).await.into_response()
}

/// Whether two secrets are equal, in a time that does not depend on where
/// they differ (nor on their lengths): their SHA-256 digests are compared
/// byte by byte without stopping early.
fn same_secret(sent: &str, expected: &str) -> bool {
    let (sent, expected) = (Sha256::digest(sent.as_bytes()), Sha256::digest(expected.as_bytes()));
    let difference = sent.iter().zip(expected.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(difference) == 0
}

async fn render(state: &HttpState) -> impl IntoResponse + use<> {
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
    app.lists.render(&mut body);
    if !app.replicas.is_empty() {
        body.push_str(
            "# HELP hersys_db_replica_reads_total Reads a read replica served, by replica (in the order configured).\n\
             # TYPE hersys_db_replica_reads_total counter\n",
        );
        for (n, reads) in app.replicas.reads().iter().enumerate() {
            body.push_str(&format!("hersys_db_replica_reads_total{{replica=\"{}\"}} {reads}\n", n + 1));
        }
    }
    app.hub.stages.render(&mut body);
    state.pipeline.metrics.render(&mut body);
    crate::metrics::render_process(&mut body);
    crate::metrics::render_build_info(&mut body);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_are_compared_whole() {
        assert!(same_secret("s3cret-token-of-the-scraper", "s3cret-token-of-the-scraper"));
        assert!(!same_secret("s3cret-token-of-the-scraper", "s3cret-token-of-the-scrapex"));
        assert!(!same_secret("s3cret", "s3cret-token-of-the-scraper"));
        assert!(!same_secret("", "s3cret-token-of-the-scraper"));
    }
}
