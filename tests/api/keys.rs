//! Machine clients: service accounts and their API keys. A key acts like
//! staff of its service account's organisation, within its scope, on every
//! transport; it is stored only as its SHA-256, refused once expired or
//! revoked (its open WebSockets closing at once), rotated by holding two at
//! a time, managed by system administrators only, and named by the audit
//! entries of what it does.

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};
use hersys::clock::ManualClock;
use hersys::pipeline::Transport;
use hersys::pipeline::ratelimit::Rate;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::both;
use crate::helpers::{
    Backend, TestApp, captured_logs, error_code, error_field, spawn_app, spawn_app_configured, spawn_app_with_clock,
};
use crate::transports::{PROMPTLY, Socket, send};

both!(
    a_read_only_key_reads_statistics_on_every_transport_and_changes_nothing,
    a_named_operation_key_runs_its_operation_and_nothing_else,
    a_key_is_stored_only_as_its_hash_and_never_logged,
    expired_and_revoked_keys_are_refused_on_every_transport,
    a_revoked_key_closes_its_open_websockets,
    two_keys_are_valid_at_once_for_rotation,
    only_administrators_manage_service_accounts_and_keys,
    the_keys_of_a_service_account_share_its_rate_limit,
);

const STATISTICS: &str = "{ statistics { daily(from: \"2026-06-01\", to: \"2026-06-02\") { tests } } }";

const KEY_ENDED: &str = "the API key has expired or was revoked";

/// The organisation of a demo account.
async fn organisation_of(app: &TestApp, admin: &str, username: &str) -> String {
    let response =
        app.gql(Some(admin), "{ accounts(first: 500) { nodes { username organisation { id } } } }", json!({})).await;
    let accounts = response["data"]["accounts"]["nodes"].as_array().unwrap_or_else(|| panic!("{response}"));
    let account = accounts.iter().find(|a| a["username"] == username).unwrap_or_else(|| panic!("no {username}"));
    account["organisation"]["id"].as_str().expect("an ID").to_owned()
}

async fn account_id(app: &TestApp, admin: &str, username: &str) -> String {
    let response = app.gql(Some(admin), "{ accounts(first: 500) { nodes { id username } } }", json!({})).await;
    let accounts = response["data"]["accounts"]["nodes"].as_array().unwrap_or_else(|| panic!("{response}"));
    let account = accounts.iter().find(|a| a["username"] == username).unwrap_or_else(|| panic!("no {username}"));
    account["id"].as_str().expect("an ID").to_owned()
}

async fn create_service_account(app: &TestApp, token: &str, name: &str, organisation: &str) -> Value {
    app.gql(
        Some(token),
        "mutation($n: String!, $o: ID!) { createServiceAccount(name: $n, organisationId: $o) { id name organisation { id } } }",
        json!({ "n": name, "o": organisation }),
    )
    .await
}

async fn service_account(app: &TestApp, admin: &str, name: &str, organisation: &str) -> String {
    let response = create_service_account(app, admin, name, organisation).await;
    response["data"]["createServiceAccount"]["id"].as_str().unwrap_or_else(|| panic!("{response}")).to_owned()
}

async fn create_key(app: &TestApp, token: &str, owner: &str, expires_at: &str, scope: Value) -> Value {
    app.gql(
        Some(token),
        "mutation($s: ID!, $e: DateTime!, $scope: ApiKeyScopeInput!) { \
         createApiKey(serviceAccountId: $s, name: \"dashboard\", expiresAt: $e, scope: $scope) { \
         key apiKey { id name scope { readOnly operations } expiresAt lastUsedAt revokedAt } } }",
        json!({ "s": owner, "e": expires_at, "scope": scope }),
    )
    .await
}

/// A new key of `owner`: its text and its ID.
async fn key(app: &TestApp, admin: &str, owner: &str, days: i64, scope: Value) -> (String, String) {
    let expires_at = (Utc::now() + Duration::days(days)).to_rfc3339();
    let response = create_key(app, admin, owner, &expires_at, scope).await;
    let created = &response["data"]["createApiKey"];
    let text = created["key"].as_str().unwrap_or_else(|| panic!("{response}")).to_owned();
    (text, created["apiKey"]["id"].as_str().expect("an ID").to_owned())
}

async fn revoke(app: &TestApp, admin: &str, key_id: &str) -> Value {
    app.gql(Some(admin), "mutation($k: ID!) { revokeApiKey(keyId: $k) { id revokedAt } }", json!({ "k": key_id })).await
}

fn assert_reads_statistics(response: &Value) {
    assert!(response["errors"].is_null(), "{response}");
    assert!(response["data"]["statistics"]["daily"].is_array(), "{response}");
}

/// A dashboard's key: read-only, in analyst1's (national) organisation.
async fn dashboard(app: &TestApp, admin: &str) -> (String, String, String) {
    let national = organisation_of(app, admin, "analyst1").await;
    let owner = service_account(app, admin, "dashboard", &national).await;
    let (text, id) = key(app, admin, &owner, 90, json!({ "readOnly": true })).await;
    (owner, text, id)
}

async fn a_read_only_key_reads_statistics_on_every_transport_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let (_, dashboard, _) = dashboard(&app, &admin).await;
    let national = organisation_of(&app, &admin, "analyst1").await;
    for transport in Transport::ALL {
        let reply = send(&app, transport, Some(&dashboard), json!({ "query": STATISTICS })).await;
        assert_eq!(reply.first_code(), None, "{transport:?}: {reply:?}");
        assert!(reply.data()["statistics"]["daily"].is_array(), "{transport:?}: {reply:?}");
        let mutation = json!({
            "query": "mutation($o: ID!) { createServiceAccount(name: \"more\", organisationId: $o) { id } }",
            "variables": { "o": national },
        });
        let reply = send(&app, transport, Some(&dashboard), mutation).await;
        assert_eq!(reply.first_code().as_deref(), Some("FORBIDDEN"), "{transport:?}: {reply:?}");
        assert!(reply.first_message().contains("READ_ONLY"), "{transport:?}: {reply:?}");
        assert!(reply.data().is_null(), "{transport:?}: {reply:?}");
    }
    // A key has no session of a person to end or password to change.
    let logout = app.gql(Some(&dashboard), "mutation { logout }", json!({})).await;
    assert_eq!(error_code(&logout), Some("FORBIDDEN"), "{logout}");
    assert_reads_statistics(&app.gql(Some(&dashboard), STATISTICS, json!({})).await);
    // Nothing was created by the refused mutations.
    let listed = app.gql(Some(&admin), "{ serviceAccounts { name } }", json!({})).await;
    assert_eq!(listed["data"]["serviceAccounts"], json!([{ "name": "dashboard" }]), "{listed}");
}

async fn a_named_operation_key_runs_its_operation_and_nothing_else(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let operator = organisation_of(&app, &admin, "admin1").await;
    let owner = service_account(&app, &admin, "provisioning", &operator).await;
    let (provisioning, key_id) = key(&app, &admin, &owner, 30, json!({ "operations": ["enableAccount"] })).await;
    let analyst = account_id(&app, &admin, "analyst1").await;
    let enabled = app
        .gql(
            Some(&provisioning),
            "mutation Provision($a: ID!) { enableAccount(accountId: $a) { username } }",
            json!({ "a": analyst }),
        )
        .await;
    assert_eq!(enabled["data"]["enableAccount"]["username"], "analyst1", "{enabled}");
    for (query, variables) in [
        ("mutation($a: ID!) { disableAccount(accountId: $a) { username } }", json!({ "a": analyst })),
        ("{ accounts { nodes { username } } }", json!({})),
        (
            "mutation($a: ID!) { enableAccount(accountId: $a) { username } x: disableAccount(accountId: $a) { username } }",
            json!({ "a": analyst }),
        ),
    ] {
        let refused = app.gql(Some(&provisioning), query, variables).await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{query}: {refused}");
        let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("[enableAccount]"), "the refusal names the scope: {refused}");
        assert!(refused["data"].is_null(), "{refused}");
    }
    // analyst1 is still enabled: the refused disableAccount did not run.
    let analyst_token = app.login("analyst1").await;
    assert_reads_statistics(&app.gql(Some(&analyst_token), STATISTICS, json!({})).await);
    // The audit entry of the key's action names the service account and key.
    let log = app
        .gql(
            Some(&admin),
            "{ auditLog(first: 50) { edges { node { action account { username } operation serviceAccountId apiKeyId targetAccount { username } } } } }",
            json!({}),
        )
        .await;
    let entries = log["data"]["auditLog"]["edges"].as_array().unwrap_or_else(|| panic!("{log}"));
    let by_key: Vec<&Value> =
        entries.iter().map(|edge| &edge["node"]).filter(|node| node["apiKeyId"] == json!(key_id)).collect();
    assert_eq!(by_key.len(), 1, "{log}");
    assert_eq!(by_key[0]["action"], "ENABLE_ACCOUNT", "{log}");
    assert_eq!(by_key[0]["serviceAccountId"], json!(owner), "{log}");
    assert_eq!(by_key[0]["operation"], "Provision", "{log}");
    assert!(by_key[0]["account"].is_null(), "no person acted: {log}");
    assert_eq!(by_key[0]["targetAccount"]["username"], "analyst1", "{log}");
    let people: Vec<&Value> =
        entries.iter().map(|edge| &edge["node"]).filter(|node| node["apiKeyId"].is_null()).collect();
    assert!(people.iter().any(|node| node["action"] == "CREATE_API_KEY"), "{log}");
    assert!(people.iter().all(|node| node["serviceAccountId"].is_null()), "{log}");
}

async fn a_key_is_stored_only_as_its_hash_and_never_logged(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let (_, text, key_id) = dashboard(&app, &admin).await;
    assert!(text.starts_with("hak_") && text.len() == 47, "{text}");
    assert_reads_statistics(&app.gql(Some(&text), STATISTICS, json!({})).await);
    let db = Database::connect(app.database_url.as_str()).await.expect("connected");
    let backend = db.get_database_backend();
    let secret = &text["hak_".len()..];
    let mut seen = 0;
    for sql in [
        "SELECT id, name, token_hash, scope FROM api_keys",
        "SELECT id, token_hash, client_address, user_agent FROM sessions",
        "SELECT id, action, fields, operation, detail FROM audit_entries",
    ] {
        for row in db.query_all_raw(Statement::from_string(backend, sql)).await.expect("read") {
            for column in 1..=3 {
                let name = sql.split([' ', ',']).filter(|w| !w.is_empty()).nth(column + 1).expect("a column");
                let value: Option<String> = row.try_get("", name).expect("a text column");
                assert!(!value.unwrap_or_default().contains(secret), "{sql}: the key's text is stored");
                seen += 1;
            }
        }
    }
    assert!(seen > 0);
    let stored: Option<String> = db
        .query_one_raw(Statement::from_string(backend, format!("SELECT token_hash FROM api_keys WHERE id = {key_id}")))
        .await
        .expect("read")
        .and_then(|row| row.try_get("", "token_hash").ok());
    assert_eq!(stored, Some(hex::encode(Sha256::digest(text.as_bytes()))));
    assert!(!captured_logs().contains(secret), "the key's text reached the log");
    // Listing keys never shows a text again.
    let listed = app.gql(Some(&admin), "{ serviceAccounts { keys { id name } } }", json!({})).await;
    assert!(!listed.to_string().contains(secret), "{listed}");
}

async fn expired_and_revoked_keys_are_refused_on_every_transport(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with_clock(backend, clock.clone()).await;
    let admin = app.login("admin1").await;
    let national = organisation_of(&app, &admin, "analyst1").await;
    let owner = service_account(&app, &admin, "dashboard", &national).await;
    let (short, _) = key(&app, &admin, &owner, 1, json!({ "readOnly": true })).await;
    let (long, long_id) = key(&app, &admin, &owner, 30, json!({ "readOnly": true })).await;
    assert_reads_statistics(&app.gql(Some(&short), STATISTICS, json!({})).await);
    clock.advance(Duration::days(2));
    let admin = app.login("admin1").await;
    assert_reads_statistics(&app.gql(Some(&long), STATISTICS, json!({})).await);
    assert_eq!(revoke(&app, &admin, &long_id).await["errors"], Value::Null);
    for (way, text) in [("expired", &short), ("revoked", &long)] {
        for transport in Transport::ALL {
            let reply = send(&app, transport, Some(text), json!({ "query": STATISTICS })).await;
            assert!(reply.data().is_null(), "{way}, {transport:?}: {reply:?}");
            match transport {
                // The protocol refuses `connection_init` with a close code only.
                Transport::TransportWs => assert_eq!(reply.close, Some(4403), "{way}, {transport:?}: {reply:?}"),
                Transport::Http | Transport::LegacyWs | Transport::ServerSentEvents => {
                    assert_eq!(
                        reply.first_code().as_deref(),
                        Some("UNAUTHENTICATED"),
                        "{way}, {transport:?}: {reply:?}"
                    );
                    assert!(reply.first_message().contains(KEY_ENDED), "{way}, {transport:?}: {reply:?}");
                }
            }
        }
    }
    // A key that was never issued is an unknown token, and never locks.
    let (unknown, _) = hersys::auth::keys::new_key();
    for _ in 0..3 {
        let refused = app.gql(Some(&unknown), STATISTICS, json!({})).await;
        assert_eq!(error_code(&refused), Some("UNAUTHENTICATED"), "{refused}");
        assert!(!refused.to_string().contains(KEY_ENDED), "{refused}");
    }
    let past = (Utc::now() + Duration::days(400)).to_rfc3339();
    let too_long = create_key(&app, &admin, &owner, &past, json!({ "readOnly": true })).await;
    assert_eq!(
        (error_code(&too_long), error_field(&too_long)),
        (Some("BAD_USER_INPUT"), Some("expiresAt")),
        "{too_long}"
    );
}

async fn a_revoked_key_closes_its_open_websockets(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let (_, dashboard, key_id) = dashboard(&app, &admin).await;
    let mut sockets = Vec::new();
    for transport in [Transport::TransportWs, Transport::LegacyWs] {
        let mut socket = Socket::connect(&app, transport, &dashboard).await;
        let reply = socket.run("1", &json!({ "query": STATISTICS })).await;
        assert!(reply.data()["statistics"]["daily"].is_array(), "{transport:?}: {reply:?}");
        sockets.push((transport, socket));
    }
    let since = Instant::now();
    assert_eq!(revoke(&app, &admin, &key_id).await["errors"], Value::Null);
    for (transport, mut socket) in sockets {
        let closed = socket.next_within(PROMPTLY).await;
        assert_eq!(closed, json!({ "type": "close", "code": 4401 }), "{transport:?}");
        assert!(since.elapsed() < PROMPTLY, "{transport:?}: closed after {:?}", since.elapsed());
    }
}

async fn two_keys_are_valid_at_once_for_rotation(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let (owner, old, old_id) = dashboard(&app, &admin).await;
    let (new, new_id) = key(&app, &admin, &owner, 90, json!({ "readOnly": true })).await;
    assert_ne!(old, new);
    assert_reads_statistics(&app.gql(Some(&old), STATISTICS, json!({})).await);
    assert_reads_statistics(&app.gql(Some(&new), STATISTICS, json!({})).await);
    assert_eq!(revoke(&app, &admin, &old_id).await["errors"], Value::Null);
    let refused = app.gql(Some(&old), STATISTICS, json!({})).await;
    assert_eq!(error_code(&refused), Some("UNAUTHENTICATED"), "{refused}");
    assert_reads_statistics(&app.gql(Some(&new), STATISTICS, json!({})).await);
    let listed = app
        .gql(
            Some(&admin),
            "{ serviceAccounts { id name keys { id scope { readOnly operations } lastUsedAt revokedAt } } }",
            json!({}),
        )
        .await;
    let keys = &listed["data"]["serviceAccounts"][0]["keys"];
    assert_eq!(listed["data"]["serviceAccounts"][0]["id"], json!(owner), "{listed}");
    assert_eq!(keys[0]["id"], json!(old_id), "{listed}");
    assert!(keys[0]["revokedAt"].is_string(), "{listed}");
    assert_eq!(keys[1]["id"], json!(new_id), "{listed}");
    assert!(keys[1]["revokedAt"].is_null() && keys[1]["lastUsedAt"].is_string(), "{listed}");
    assert_eq!(keys[1]["scope"], json!({ "readOnly": true, "operations": [] }), "{listed}");
}

async fn only_administrators_manage_service_accounts_and_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login("admin1").await;
    let (owner, dashboard, key_id) = dashboard(&app, &admin).await;
    let national = organisation_of(&app, &admin, "analyst1").await;
    let operator = organisation_of(&app, &admin, "admin1").await;
    let manager_owner = service_account(&app, &admin, "manager", &operator).await;
    let all = json!({ "operations": ["createServiceAccount", "createApiKey", "revokeApiKey", "serviceAccounts"] });
    let (manager, _) = key(&app, &admin, &manager_owner, 30, all).await;
    let expires_at = (Utc::now() + Duration::days(10)).to_rfc3339();
    for username in ["analyst1", "hc1"] {
        let token = app.login(username).await;
        for response in [
            create_service_account(&app, &token, "mine", &national).await,
            create_key(&app, &token, &owner, &expires_at, json!({ "readOnly": true })).await,
            revoke(&app, &token, &key_id).await,
            app.gql(Some(&token), "{ serviceAccounts { id } }", json!({})).await,
        ] {
            assert_eq!(error_code(&response), Some("FORBIDDEN"), "{username}: {response}");
        }
    }
    // A key, even an operator's with these operations in its scope, makes
    // no keys.
    for response in [
        create_service_account(&app, &manager, "mine", &national).await,
        create_key(&app, &manager, &owner, &expires_at, json!({ "readOnly": true })).await,
        revoke(&app, &manager, &key_id).await,
        app.gql(Some(&manager), "{ serviceAccounts { id } }", json!({})).await,
    ] {
        assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response}");
    }
    assert_reads_statistics(&app.gql(Some(&dashboard), STATISTICS, json!({})).await);
    // Organisations whose staff read personal data get no service accounts.
    let clinic = organisation_of(&app, &admin, "hc1").await;
    let refused = create_service_account(&app, &admin, "lab system", &clinic).await;
    assert_eq!(
        (error_code(&refused), error_field(&refused)),
        (Some("BAD_USER_INPUT"), Some("organisationId")),
        "{refused}"
    );
    let both = create_key(&app, &admin, &owner, &expires_at, json!({ "readOnly": true, "operations": ["x"] })).await;
    assert_eq!((error_code(&both), error_field(&both)), (Some("BAD_USER_INPUT"), Some("scope")), "{both}");
    let typo = create_key(&app, &admin, &owner, &expires_at, json!({ "operations": ["statistcs"] })).await;
    assert_eq!((error_code(&typo), error_field(&typo)), (Some("BAD_USER_INPUT"), Some("scope.operations")), "{typo}");
    let fine =
        create_key(&app, &admin, &owner, &expires_at, json!({ "operations": ["statistics", "recordTest"] })).await;
    assert_eq!(
        fine["data"]["createApiKey"]["apiKey"]["scope"]["operations"],
        json!(["statistics", "recordTest"]),
        "{fine}"
    );
}

async fn the_keys_of_a_service_account_share_its_rate_limit(backend: Backend) {
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.rate_limit_per_account = Some(Rate { per_second: 0.01, burst: 5.0 });
    })
    .await;
    let admin = app.login("admin1").await;
    let national = organisation_of(&app, &admin, "analyst1").await;
    let owner = service_account(&app, &admin, "dashboard", &national).await;
    let (first, _) = key(&app, &admin, &owner, 30, json!({ "readOnly": true })).await;
    let (second, _) = key(&app, &admin, &owner, 30, json!({ "readOnly": true })).await;
    for text in [&first, &first, &first, &second, &second] {
        assert_reads_statistics(&app.gql(Some(text), STATISTICS, json!({})).await);
    }
    for text in [&second, &first] {
        let refused = app.gql(Some(text), STATISTICS, json!({})).await;
        assert_eq!(error_code(&refused), Some("RATE_LIMITED"), "{refused}");
    }
    // Another caller of the same organisation has a bucket of its own.
    let analyst = app.login("analyst1").await;
    assert_reads_statistics(&app.gql(Some(&analyst), STATISTICS, json!({})).await);
}
