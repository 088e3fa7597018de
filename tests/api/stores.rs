//! What the idempotency store keeps, and to whom it answers: no secrets,
//! only the session that sent a request first, every replay audited as a
//! read, and expired keys purged whoever sent them.

use std::sync::Arc;

use chrono::Duration;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{
    Backend, DEMO_PASSWORD, TestApp, error_code, error_field, spawn_app, spawn_app_configured, spawn_app_with_clock,
};

both!(
    sign_in_and_password_changes_take_no_idempotency_key_and_nothing_is_stored,
    a_replay_is_answered_only_to_the_first_session_and_audited_as_a_read,
    expired_keys_are_purged_whoever_sent_them,
    a_quiet_server_forgets_expired_keys_and_stale_sign_in_counts,
);

async fn post_with_key(app: &TestApp, token: Option<&str>, key: &str, body: Value) -> Value {
    let mut request = app.client.post(app.url("/graphql")).header("Idempotency-Key", key).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("sent").json().await.expect("json")
}

async fn stored_keys(app: &TestApp) -> i64 {
    rows(app, "idempotency_keys").await
}

async fn rows(app: &TestApp, table: &str) -> i64 {
    let db = Database::connect(app.database_url.as_str()).await.expect("direct connection");
    let sql = format!("SELECT COUNT(*) AS n FROM {table}");
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await;
    let count = row.ok().flatten().and_then(|row| row.try_get("", "n").ok()).expect("a count");
    let _ = db.close().await;
    count
}

async fn sign_in_and_password_changes_take_no_idempotency_key_and_nothing_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let hc1 = app.login("hc1").await;
    let login = json!({
        "query": "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
        "variables": { "u": "hc1", "p": DEMO_PASSWORD },
    });
    // Anonymous, and signed in (a signed-in caller may sign in again).
    for token in [None, Some(hc1.as_str())] {
        let refused = post_with_key(&app, token, "sign-in-1", login.clone()).await;
        assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{refused}");
        assert_eq!(error_field(&refused), Some("Idempotency-Key"), "{refused}");
        assert!(refused["data"].is_null() || refused["data"]["login"].is_null(), "no token given: {refused}");
    }
    let change = json!({
        "query": "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }",
        "variables": { "c": DEMO_PASSWORD, "n": "a-much-longer-passphrase-2026" },
    });
    let refused = post_with_key(&app, Some(&hc1), "password-1", change).await;
    assert_eq!(error_field(&refused), Some("Idempotency-Key"), "{refused}");
    // An API key is shown once: its answer is never kept either.
    let admin = app.login("admin1").await;
    let key = json!({
        "query": "mutation { createApiKey(serviceAccountId: \"1\", name: \"k\", expiresAt: \"2999-01-01T00:00:00Z\", scope: { readOnly: true }) { key } }",
    });
    let refused = post_with_key(&app, Some(&admin), "key-1", key).await;
    assert_eq!(error_field(&refused), Some("Idempotency-Key"), "{refused}");
    for mutation in ["mutation { logout }", "mutation { logoutEverywhere }"] {
        let refused = post_with_key(&app, Some(&hc1), "session-1", json!({ "query": mutation })).await;
        assert_eq!(error_field(&refused), Some("Idempotency-Key"), "{mutation}: {refused}");
    }
    // The session is still there, its password unchanged, nothing kept.
    let me = app.gql(Some(&hc1), "{ me { username } }", json!({})).await;
    assert_eq!(me["data"]["me"]["username"], "hc1", "{me}");
    app.login("hc1").await;
    // A query with a key is simply run, and nothing is kept for it either.
    let query = post_with_key(&app, Some(&hc1), "query-1", json!({ "query": "{ me { username } }" })).await;
    assert_eq!(query["data"]["me"]["username"], "hc1", "{query}");
    assert_eq!(stored_keys(&app).await, 0);
}

async fn read_entries(app: &TestApp, admin: &str, patient: &str) -> usize {
    let log = app
        .gql(
            Some(admin),
            "query($p: ID) { auditLog(patientId: $p, first: 100) { edges { node { action } } } }",
            json!({ "p": patient }),
        )
        .await;
    log["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{log}"))
        .iter()
        .filter(|edge| edge["node"]["action"] == "READ_PERSONAL")
        .count()
}

async fn a_replay_is_answered_only_to_the_first_session_and_audited_as_a_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let clinic = app.login("clinic1").await;
    let (id, _) = app.register_patient(&clinic, "サイセイ ハナコ", json!({})).await;
    let body = json!({
        "query": "mutation($input: RecordTestInput!) { recordTest(input: $input) { id patient { nameKana phone } } }",
        "variables": { "input": { "patientId": id, "kind": "PCR", "result": "POSITIVE" } },
    });
    let first = post_with_key(&app, Some(&clinic), "sample-1", body.clone()).await;
    assert_eq!(first["data"]["recordTest"]["patient"]["nameKana"], "サイセイ ハナコ", "{first}");
    let reads_after_first = read_entries(&app, &admin, &id).await;
    assert!(reads_after_first >= 1, "the first answer's personal fields were audited");

    // The same session: the first answer again, audited again.
    let replay = post_with_key(&app, Some(&clinic), "sample-1", body.clone()).await;
    assert_eq!(replay, first);
    assert_eq!(read_entries(&app, &admin, &id).await, reads_after_first + 1, "the replay is audited as a read");

    // Another session of the same account, or the first one once it has
    // ended: the stored answer is not theirs.
    let other_session = app.login("clinic1").await;
    let refused = post_with_key(&app, Some(&other_session), "sample-1", body.clone()).await;
    assert_eq!(error_code(&refused), Some("CONFLICT"), "{refused}");
    assert!(refused["data"].is_null() || refused["data"]["recordTest"].is_null(), "{refused}");
    app.gql(Some(&clinic), "mutation { logout }", json!({})).await;
    let after_logout = post_with_key(&app, Some(&clinic), "sample-1", body).await;
    assert_eq!(error_code(&after_logout), Some("UNAUTHENTICATED"), "{after_logout}");
    assert_eq!(read_entries(&app, &admin, &id).await, reads_after_first + 1, "nothing more was read");
    // Exactly one test was written through all of this.
    let hc1 = app.login("hc1").await;
    let tests = app.gql(Some(&hc1), "query($id: ID!) { patient(id: $id) { tests { id } } }", json!({ "id": id })).await;
    assert_eq!(tests["data"]["patient"]["tests"].as_array().map(Vec::len), Some(1), "{tests}");
}

async fn expired_keys_are_purged_whoever_sent_them(backend: Backend) {
    let clock = Arc::new(hersys::clock::ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let clinic = app.login("clinic1").await;
    let (id, _) = app.register_patient(&clinic, "キゲン ギレ", json!({})).await;
    let body = |kind: &str| {
        json!({
            "query": "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
            "variables": { "input": { "patientId": id, "kind": kind, "result": "NEGATIVE" } },
        })
    };
    let first = post_with_key(&app, Some(&clinic), "old-key", body("PCR")).await;
    assert!(first["data"]["recordTest"]["id"].is_string(), "{first}");
    assert_eq!(stored_keys(&app).await, 1);
    // A day later another account sends a key: the clinic's is gone.
    clock.advance(Duration::hours(25));
    let hospital = app.login("hospital1").await;
    let (other, _) = app.register_patient(&hospital, "ベツノ ヒト", json!({})).await;
    let second = post_with_key(
        &app,
        Some(&hospital),
        "new-key",
        json!({
            "query": "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
            "variables": { "input": { "patientId": other, "kind": "PCR", "result": "NEGATIVE" } },
        }),
    )
    .await;
    assert!(second["data"]["recordTest"]["id"].is_string(), "{second}");
    assert_eq!(stored_keys(&app).await, 1, "only the new key is kept");
}

async fn a_quiet_server_forgets_expired_keys_and_stale_sign_in_counts(backend: Backend) {
    let clock = Arc::new(hersys::clock::ManualClock::default());
    let app = spawn_app_configured(backend, clock.clone(), |config| {
        config.housekeeping_interval = std::time::Duration::from_millis(200);
    })
    .await;
    let clinic = app.login("clinic1").await;
    let (id, smartphone) = app.register_patient(&clinic, "シズカ ナ ヒ", json!({})).await;
    let body = json!({
        "query": "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
        "variables": { "input": { "patientId": id, "kind": "PCR", "result": "NEGATIVE" } },
    });
    assert!(post_with_key(&app, Some(&clinic), "quiet-1", body).await["data"]["recordTest"]["id"].is_string());
    let wrong = app
        .gql(
            None,
            "mutation($s: String!) { patientLogin(smartphoneId: $s, birthDate: \"1901-01-01\") { token } }",
            json!({ "s": smartphone }),
        )
        .await;
    assert_eq!(error_code(&wrong), Some("UNAUTHENTICATED"), "{wrong}");
    assert_eq!(stored_keys(&app).await, 1);
    assert!(rows(&app, "sign_in_failures").await >= 1, "the failure is counted");
    // A day later, with no request at all, both are forgotten.
    clock.advance(Duration::hours(25));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while (stored_keys(&app).await, rows(&app, "sign_in_failures").await) != (0, 0) {
        assert!(std::time::Instant::now() < deadline, "nothing was forgotten within 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
