//! Guessing credentials: what bounds it, and that the rightful owner still
//! signs in. Staff lockout counted in one statement, the password work
//! under its bound, a password change that is no oracle, patients' sign-in
//! locks per smartphone ID and per address, and each account's own
//! sessions.

use std::sync::Arc;
use std::time::Duration;

use hersys::clock::ManualClock;

use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, DEMO_PASSWORD, TestApp, error_code, error_field, spawn_app_configured};

both!(
    a_hundred_concurrent_wrong_passwords_all_count_and_lock_the_account,
    a_password_change_checks_the_new_password_first_and_counts_a_wrong_current_one,
    audit_entries_and_sessions_record_where_each_request_came_from,
    password_work_beyond_its_bound_is_refused_with_rate_limited_and_counts_nothing,
);

const LOGIN: &str = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }";

/// A direct connection to the gateway's database, to read what the API
/// does not show.
async fn database(app: &TestApp) -> DatabaseConnection {
    Database::connect(app.database_url.as_str()).await.expect("direct connection")
}

/// One integer the statement `sql` selects as `n`.
async fn number(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await;
    row.ok().flatten().and_then(|row| row.try_get::<i64>("", "n").ok()).unwrap_or_else(|| panic!("no number: {sql}"))
}

async fn failed_logins(db: &DatabaseConnection, username: &str) -> i64 {
    number(db, &format!("SELECT CAST(failed_logins AS BIGINT) AS n FROM accounts WHERE username = '{username}'")).await
}

/// Posts a sign-in and answers the status, the `Retry-After` header and the
/// body.
async fn post_login(app: &TestApp, username: &str, password: &str) -> (u16, Option<String>, Value) {
    let body = json!({ "query": LOGIN, "variables": { "u": username, "p": password } });
    let response = app.client.post(app.url("/graphql")).json(&body).send().await.expect("sent");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, retry_after, response.json().await.expect("a JSON body"))
}

async fn password_work_beyond_its_bound_is_refused_with_rate_limited_and_counts_nothing(backend: Backend) {
    let app = spawn_app_configured(backend, Default::default(), |config| {
        config.password_concurrency = 1;
        config.password_wait = Duration::from_millis(1);
        config.lockout_threshold = 1_000;
    })
    .await;
    let answers = join_all((0..30).map(|_| post_login(&app, "hc2", "not-the-password"))).await;
    let checked = answers.iter().filter(|(_, _, body)| error_code(body) == Some("UNAUTHENTICATED")).count();
    let busy: Vec<_> = answers.iter().filter(|(_, _, body)| error_code(body) == Some("RATE_LIMITED")).collect();
    assert_eq!(checked + busy.len(), answers.len(), "{answers:?}");
    assert!(checked >= 1, "the first in line is checked: {answers:?}");
    assert!(!busy.is_empty(), "one turn at a time, one millisecond of waiting: some are refused: {answers:?}");
    for (status, retry_after, body) in busy {
        assert_eq!(*status, 429, "{body}");
        assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
        assert_eq!(body["errors"][0]["extensions"]["retryAfterSeconds"], 1, "{body}");
        assert!(body["data"].is_null(), "{body}");
    }
    // Only the attempts that were checked count towards the lock.
    let db = database(&app).await;
    assert_eq!(failed_logins(&db, "hc2").await, checked as i64);
    // The turns are free again afterwards.
    let (_, _, fine) = post_login(&app, "hc2", DEMO_PASSWORD).await;
    assert!(fine["data"]["login"]["token"].is_string(), "{fine}");
    assert_eq!(failed_logins(&db, "hc2").await, 0, "a sign-in resets the count");
}

/// The `lockedUntil` of a staff account, as administrators see it.
async fn locked_until(app: &TestApp, username: &str) -> Value {
    let admin = app.login("admin1").await;
    let accounts = app.gql(Some(&admin), "{ accounts { username lockedUntil } }", json!({})).await;
    accounts["data"]["accounts"]
        .as_array()
        .and_then(|list| list.iter().find(|a| a["username"] == username))
        .map(|a| a["lockedUntil"].clone())
        .unwrap_or_else(|| panic!("no account {username}: {accounts}"))
}

async fn a_hundred_concurrent_wrong_passwords_all_count_and_lock_the_account(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_configured(backend, clock.clone(), |config| {
        // Every attempt reaches the check: no rate limit, and a long wait
        // for a turn at the password work.
        config.rate_limit_per_address = None;
        config.rate_limit_per_account = None;
        config.password_wait = Duration::from_secs(120);
    })
    .await;
    let answers = join_all((0..100).map(|_| post_login(&app, "hc2", "not-the-password"))).await;
    let first = &answers[0].2;
    for (_, _, body) in &answers {
        assert_eq!(error_code(body), Some("UNAUTHENTICATED"), "{body}");
        assert_eq!(body["errors"][0]["message"], first["errors"][0]["message"], "{body}");
    }
    let db = database(&app).await;
    assert_eq!(failed_logins(&db, "hc2").await, 100, "every failure counted, none lost");
    assert!(locked_until(&app, "hc2").await.is_string(), "locked");
    // The right password is refused now, with the same answer.
    let (_, _, right) = post_login(&app, "hc2", DEMO_PASSWORD).await;
    assert_eq!(error_code(&right), Some("UNAUTHENTICATED"), "{right}");
    assert_eq!(right["errors"][0]["message"], first["errors"][0]["message"]);
    assert_eq!(failed_logins(&db, "hc2").await, 100, "the right password is not a failure");
    // The lock runs out: a failure then starts a new count (one, not the
    // hundred-and-first, so no lock), and the right password signs in.
    clock.advance(chrono::Duration::minutes(16));
    post_login(&app, "hc2", "not-the-password").await;
    assert_eq!(failed_logins(&db, "hc2").await, 1);
    assert!(locked_until(&app, "hc2").await.is_null());
    let (_, _, later) = post_login(&app, "hc2", DEMO_PASSWORD).await;
    assert!(later["data"]["login"]["token"].is_string(), "{later}");
    assert_eq!(failed_logins(&db, "hc2").await, 0);
}

const CHANGE: &str = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";

/// The actions of the audit entries of an account, oldest first.
async fn audited_actions(app: &TestApp, username: &str) -> Vec<String> {
    let admin = app.login("admin1").await;
    let accounts = app.gql(Some(&admin), "{ accounts { id username } }", json!({})).await;
    let id = accounts["data"]["accounts"]
        .as_array()
        .and_then(|list| list.iter().find(|a| a["username"] == username))
        .map(|a| a["id"].clone())
        .unwrap_or_else(|| panic!("no account {username}: {accounts}"));
    let log = app
        .gql(
            Some(&admin),
            "query($a: ID) { auditLog(accountId: $a, first: 500) { edges { node { action } } } }",
            json!({ "a": id }),
        )
        .await;
    let mut actions: Vec<String> = log["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("an audit log: {log}"))
        .iter()
        .filter_map(|edge| edge["node"]["action"].as_str().map(str::to_owned))
        .collect();
    actions.reverse();
    actions
}

async fn a_password_change_checks_the_new_password_first_and_counts_a_wrong_current_one(backend: Backend) {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_configured(backend, clock.clone(), |_| {}).await;
    let db = database(&app).await;
    let session = app.login("hc3").await;
    // A new password against the rules is refused for that, whatever the
    // current password: the answer tells nothing about it, and nothing is
    // counted.
    for current in [DEMO_PASSWORD, "a wrong guess"] {
        let refused = app.gql(Some(&session), CHANGE, json!({ "c": current, "n": "short" })).await;
        assert_eq!((error_code(&refused), error_field(&refused)), (Some("BAD_USER_INPUT"), Some("newPassword")));
        assert!(refused["errors"][0]["message"].as_str().is_some_and(|m| m.starts_with("newPassword:")), "{refused}");
    }
    assert_eq!(failed_logins(&db, "hc3").await, 0);

    // A wrong current password is a failed sign-in, audited, with an
    // answer that does not say more.
    let new = json!({ "c": "a wrong guess", "n": "a long and unusual phrase" });
    let wrong = app.gql(Some(&session), CHANGE, new.clone()).await;
    assert_eq!(error_code(&wrong), Some("FORBIDDEN"), "{wrong}");
    assert_eq!(error_field(&wrong), None, "{wrong}");
    assert_eq!(failed_logins(&db, "hc3").await, 1);
    assert!(audited_actions(&app, "hc3").await.contains(&"CHANGE_PASSWORD_REFUSED".to_owned()));

    // Five lock the account: the right current password is then refused
    // with the same answer, and so is signing in.
    for _ in 0..4 {
        app.gql(Some(&session), CHANGE, new.clone()).await;
    }
    assert_eq!(failed_logins(&db, "hc3").await, 5);
    assert!(locked_until(&app, "hc3").await.is_string());
    let right = app.gql(Some(&session), CHANGE, json!({ "c": DEMO_PASSWORD, "n": "a long and unusual phrase" })).await;
    assert_eq!(error_code(&right), Some("FORBIDDEN"), "{right}");
    assert_eq!(right["errors"][0]["message"], wrong["errors"][0]["message"]);
    let (_, _, signing_in) = post_login(&app, "hc3", DEMO_PASSWORD).await;
    assert_eq!(error_code(&signing_in), Some("UNAUTHENTICATED"), "{signing_in}");

    // Once the lock has run out, the owner changes the password.
    clock.advance(chrono::Duration::minutes(16));
    let changed =
        app.gql(Some(&session), CHANGE, json!({ "c": DEMO_PASSWORD, "n": "a long and unusual phrase" })).await;
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
    assert_eq!(failed_logins(&db, "hc3").await, 0);
    let (_, _, fine) = post_login(&app, "hc3", "a long and unusual phrase").await;
    assert!(fine["data"]["login"]["token"].is_string(), "{fine}");
}

/// Posts an operation as if from `address` (the gateway trusts
/// `X-Forwarded-For` in these tests) with a `User-Agent`.
async fn post_from(app: &TestApp, address: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .header("x-forwarded-for", address)
        .header("user-agent", "HER-SYS desk client/2.1")
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("sent").json().await.expect("a JSON body")
}

/// Signs a demo account in from `address`.
async fn login_from(app: &TestApp, address: &str, username: &str) -> String {
    let signed_in = post_from(app, address, None, LOGIN, json!({ "u": username, "p": DEMO_PASSWORD })).await;
    signed_in["data"]["login"]["token"].as_str().unwrap_or_else(|| panic!("{signed_in}")).to_owned()
}

async fn audit_entries(app: &TestApp) -> Vec<Value> {
    let admin = app.login("admin1").await;
    let log = app
        .gql(
            Some(&admin),
            "{ auditLog(first: 500) { edges { node { action clientAddress patientId account { username } } } } }",
            json!({}),
        )
        .await;
    log["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("an audit log: {log}"))
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

async fn audit_entries_and_sessions_record_where_each_request_came_from(backend: Backend) {
    let app = spawn_app_configured(backend, Default::default(), |config| config.trust_forwarded_for = true).await;
    let hc1 = login_from(&app, "203.0.113.7", "hc1").await;
    let register = "mutation { registerPatient(input: { caseType: CONFIRMED, nameKanji: \"所在 太郎\", \
                    nameKana: \"ショザイ タロウ\", sex: MALE, birthDate: \"1980-04-01\" }) { id } }";
    let registered = post_from(&app, "203.0.113.7", Some(&hc1), register, json!({})).await;
    let patient = registered["data"]["registerPatient"]["id"].clone();
    assert!(patient.is_string(), "{registered}");
    // The same session from elsewhere: each entry has its request's address.
    let read = post_from(
        &app,
        "2001:db8::5",
        Some(&hc1),
        "query($id: ID!) { patient(id: $id) { nameKanji } }",
        json!({ "id": patient }),
    )
    .await;
    assert!(read["errors"].is_null(), "{read}");
    post_from(&app, "198.51.100.9", None, LOGIN, json!({ "u": "hc2", "p": "not-the-password" })).await;
    let other = login_from(&app, "198.51.100.10", "hc3").await;
    let out = post_from(&app, "198.51.100.11", Some(&other), "mutation { logoutEverywhere }", json!({})).await;
    assert!(out["errors"].is_null(), "{out}");

    let entries = audit_entries(&app).await;
    let address_of = |action: &str, username: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["account"]["username"] == username)
            .map(|e| e["clientAddress"].clone())
            .unwrap_or_else(|| panic!("no {action} of {username}: {entries:?}"))
    };
    assert_eq!(address_of("LOGIN", "hc1"), "203.0.113.7");
    assert_eq!(address_of("REGISTER_PATIENT", "hc1"), "203.0.113.7");
    assert_eq!(address_of("READ_PERSONAL", "hc1"), "2001:db8::5");
    assert_eq!(address_of("LOGIN_REFUSED", "hc2"), "198.51.100.9");
    assert_eq!(address_of("LOGIN", "hc3"), "198.51.100.10");
    assert_eq!(address_of("LOGOUT_EVERYWHERE", "hc3"), "198.51.100.11");
    // Without a forwarded address, the peer's.
    assert_eq!(address_of("LOGIN", "admin1"), "127.0.0.1");

    // The session keeps where it was opened from, and the client it was
    // opened with.
    let db = database(&app).await;
    let sessions = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT s.client_address, s.user_agent FROM sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE a.username = 'hc1'",
        ))
        .await
        .expect("sessions");
    assert_eq!(sessions.len(), 1);
    let address: Option<String> = sessions[0].try_get("", "client_address").expect("client_address");
    let agent: Option<String> = sessions[0].try_get("", "user_agent").expect("user_agent");
    assert_eq!(address.as_deref(), Some("203.0.113.7"));
    assert_eq!(agent.as_deref(), Some("HER-SYS desk client/2.1"));
}
