//! The edge of the service: rate limits per account and per address
//! (`RATE_LIMITED` with `Retry-After`), the per-request deadline, CORS,
//! automatic persisted queries and the safelist, and the request metrics.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hersys::clock::ManualClock;
use hersys::pipeline::persisted::sha256_hex;
use hersys::pipeline::ratelimit::Rate;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, spawn_app, spawn_app_configured};

both!(
    an_account_over_its_rate_is_told_when_to_retry,
    an_address_over_its_rate_is_refused_everywhere_but_the_probes,
    an_operation_past_its_deadline_is_stopped_and_changes_nothing,
    only_allowed_origins_get_cors_headers,
    a_persisted_query_runs_by_its_hash_once_registered,
    in_safelist_mode_only_listed_operations_run,
    metrics_count_operations_by_name_and_outcome,
);

async fn post(app: &TestApp, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = app.client.post(app.url("/graphql")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("sent")
}

async fn an_account_over_its_rate_is_told_when_to_retry(backend: Backend) {
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.rate_limit_per_account = Some(Rate { per_second: 0.5, burst: 3.0 });
    })
    .await;
    let hc1 = app.login("hc1").await;
    let hc2 = app.login("hc2").await;
    for _ in 0..3 {
        let ok = post(&app, Some(&hc1), json!({ "query": "{ me { id } }" })).await;
        assert_eq!(ok.status().as_u16(), 200);
    }
    let refused = post(&app, Some(&hc1), json!({ "query": "{ me { id } }" })).await;
    assert_eq!(refused.status().as_u16(), 429);
    // One token comes back every two seconds.
    assert_eq!(refused.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    let body: Value = refused.json().await.expect("json");
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
    // Another account has its own bucket.
    let other = app.gql(Some(&hc2), "{ me { id } }", json!({})).await;
    assert!(other["errors"].is_null(), "{other}");
}

async fn an_address_over_its_rate_is_refused_everywhere_but_the_probes(backend: Backend) {
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.rate_limit_per_address = Some(Rate { per_second: 0.2, burst: 4.0 });
    })
    .await;
    // Four requests of any kind spend the burst: GraphQL and open data.
    for _ in 0..3 {
        assert_eq!(post(&app, None, json!({ "query": "{ __typename }" })).await.status().as_u16(), 200);
    }
    let csv = app.client.get(app.url("/opendata/newly_confirmed_cases_daily.csv")).send().await.expect("sent");
    assert_eq!(csv.status().as_u16(), 200);
    let refused = post(&app, None, json!({ "query": "{ __typename }" })).await;
    assert_eq!(refused.status().as_u16(), 429);
    assert_eq!(refused.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("5"));
    let csv = app.client.get(app.url("/opendata/newly_confirmed_cases_daily.csv")).send().await.expect("sent");
    assert_eq!(csv.status().as_u16(), 429);
    // Probes and metrics stay reachable for the operators.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let probe = app.client.get(app.url(path)).send().await.expect("sent");
        assert_eq!(probe.status().as_u16(), 200, "{path}");
    }
    let metrics = app.client.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("text");
    assert!(metrics.contains("hersys_rate_limited_total 2"), "{metrics}");
}

async fn patient_count(app: &TestApp) -> i64 {
    let db = Database::connect(app.database_url.as_str()).await.expect("connect");
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT COUNT(*) AS n FROM patients"))
        .await
        .expect("count")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

async fn an_operation_past_its_deadline_is_stopped_and_changes_nothing(backend: Backend) {
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.request_deadline = Duration::from_millis(700);
    })
    .await;
    let clinic = app.login("clinic1").await;
    let before = patient_count(&app).await;
    // Another session holds the lock the registration needs, for longer
    // than the deadline.
    let blocker = Database::connect(app.database_url.as_str()).await.expect("connect");
    let lock = match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN; LOCK TABLE patients IN EXCLUSIVE MODE",
    };
    blocker.execute_unprepared(lock).await.expect("lock");
    let started = std::time::Instant::now();
    let response = post(
        &app,
        Some(&clinic),
        json!({
            "query": "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { id } }",
            "variables": { "input": { "caseType": "CONFIRMED", "nameKanji": "期限 太郎", "nameKana": "キゲン タロウ",
                "sex": "MALE", "birthDate": "1980-01-01" } },
        }),
    )
    .await;
    let waited = started.elapsed();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let body: Value = response.json().await.expect("json");
    // A retryable code: the operation needs a retry, not a rewrite.
    assert_eq!(error_code(&body), Some("DEADLINE_EXCEEDED"), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains("deadline of 700 ms"), "{body}");
    assert!(waited < Duration::from_secs(5), "answered at the deadline, not when the lock went: {waited:?}");
    blocker.execute_unprepared("ROLLBACK").await.expect("unlock");
    assert_eq!(patient_count(&app).await, before, "the stopped mutation wrote nothing");
    // The server is fine afterwards.
    let again = app.gql(Some(&clinic), "{ me { id } }", json!({})).await;
    assert!(again["errors"].is_null(), "{again}");
    let metrics = app.client.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("text");
    assert!(metrics.contains("hersys_deadline_exceeded_total 1"), "{metrics}");
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .expect("sent")
}

async fn only_allowed_origins_get_cors_headers(backend: Backend) {
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.cors_allowed_origins = vec!["https://dashboard.example.jp".to_owned()];
    })
    .await;
    let allowed = preflight(&app, "https://dashboard.example.jp").await;
    assert_eq!(
        allowed.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
        Some("https://dashboard.example.jp")
    );
    let methods = allowed.headers().get("access-control-allow-methods").and_then(|v| v.to_str().ok());
    assert!(methods.is_some_and(|m| m.contains("POST")), "{methods:?}");
    let headers = allowed.headers().get("access-control-allow-headers").and_then(|v| v.to_str().ok());
    assert!(headers.is_some_and(|h| h.contains("authorization")), "{headers:?}");
    let other = preflight(&app, "https://evil.example").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // Without an allow-list there are no CORS headers at all.
    let default = spawn_app(backend).await;
    let refused = preflight(&default, "https://dashboard.example.jp").await;
    assert!(refused.headers().get("access-control-allow-origin").is_none());
}

fn persisted(query: Option<&str>, hash: &str) -> Value {
    let mut body = json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
    if let Some(query) = query {
        body["query"] = json!(query);
    }
    body
}

async fn a_persisted_query_runs_by_its_hash_once_registered(backend: Backend) {
    let app = spawn_app(backend).await;
    let hc1 = app.login("hc1").await;
    let query = "query Me { me { username } }";
    let hash = sha256_hex(query);
    let unknown: Value = post(&app, Some(&hc1), persisted(None, &hash)).await.json().await.expect("json");
    assert_eq!(unknown["errors"][0]["message"], "PersistedQueryNotFound", "{unknown}");
    assert_eq!(error_code(&unknown), Some("BAD_USER_INPUT"));
    let wrong: Value =
        post(&app, Some(&hc1), persisted(Some("{ __typename }"), &hash)).await.json().await.expect("json");
    assert_eq!(error_code(&wrong), Some("BAD_USER_INPUT"), "a hash that is not the text's is refused: {wrong}");
    let registered: Value = post(&app, Some(&hc1), persisted(Some(query), &hash)).await.json().await.expect("json");
    assert_eq!(registered["data"]["me"]["username"], "hc1", "{registered}");
    let by_hash: Value = post(&app, Some(&hc1), persisted(None, &hash)).await.json().await.expect("json");
    assert_eq!(by_hash["data"]["me"]["username"], "hc1", "{by_hash}");
    // Operation limits apply to persisted documents as to any other.
    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {}{{ name }}{} }} }} }} }}",
        "{ ofType ".repeat(20),
        " }".repeat(20)
    );
    let too_deep: Value =
        post(&app, Some(&hc1), persisted(Some(&deep), &sha256_hex(&deep))).await.json().await.expect("json");
    assert_eq!(error_code(&too_deep), Some("QUERY_TOO_COMPLEX"), "{too_deep}");
}

async fn in_safelist_mode_only_listed_operations_run(backend: Backend) {
    let listed = "query Dashboard { me { username } }";
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.safelist = Some(Arc::new(HashMap::from([(sha256_hex(listed), listed.to_owned())])));
    })
    .await;
    // Signing in is itself an operation: list it or sign in elsewhere. Here
    // a second gateway without a safelist serves the sign-in.
    let open = app.another_on_the_same_database().await;
    let hc1 = open.login("hc1").await;
    let by_hash: Value = post(&app, Some(&hc1), persisted(None, &sha256_hex(listed))).await.json().await.expect("json");
    assert_eq!(by_hash["data"]["me"]["username"], "hc1", "{by_hash}");
    let by_text: Value = post(&app, Some(&hc1), json!({ "query": listed })).await.json().await.expect("json");
    assert_eq!(by_text["data"]["me"]["username"], "hc1", "{by_text}");
    let other = post(&app, Some(&hc1), json!({ "query": "{ me { id } }" })).await;
    // A request error: 200 with `application/json`, 403 with the GraphQL
    // response media type.
    assert_eq!(other.status().as_u16(), 200);
    let body: Value = other.json().await.expect("json");
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let strict = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&hc1)
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(strict.status().as_u16(), 403);
    let new = "{ __typename }";
    let registering: Value =
        post(&app, Some(&hc1), persisted(Some(new), &sha256_hex(new))).await.json().await.expect("json");
    assert_eq!(error_code(&registering), Some("FORBIDDEN"), "nothing can be added at run time: {registering}");
}

async fn metrics_count_operations_by_name_and_outcome(backend: Backend) {
    let app = spawn_app(backend).await;
    let hc1 = app.login("hc1").await;
    for _ in 0..2 {
        let me = app.gql(Some(&hc1), "query Me { me { id } }", json!({})).await;
        assert!(me["errors"].is_null(), "{me}");
    }
    let refused = app.gql(None, "query Me { me { id } }", json!({})).await;
    assert_eq!(error_code(&refused), Some("UNAUTHENTICATED"), "{refused}");
    let metrics = app.client.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("text");
    assert!(metrics.contains("hersys_graphql_requests_total{operation=\"Me\",code=\"OK\"} 2"), "{metrics}");
    assert!(
        metrics.contains("hersys_graphql_requests_total{operation=\"Me\",code=\"UNAUTHENTICATED\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("hersys_graphql_request_duration_seconds_count{operation=\"Me\"} 3"), "{metrics}");
    assert!(metrics.contains("hersys_db_pool_connections{state=\"idle\"}"), "{metrics}");
    assert!(metrics.contains("hersys_outbox_lag_events 0"), "{metrics}");
    assert!(metrics.contains("hersys_audit_write_failures_total 0"), "{metrics}");
}
