//! Signing in and out.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::both;
use crate::helpers::{Backend, DEMO_PASSWORD, error_code, spawn_app, spawn_app_configured};

both!(
    every_demo_account_signs_in_with_its_role,
    logout_makes_the_token_useless,
    a_session_resolved_a_moment_ago_is_not_looked_up_again,
);

async fn every_demo_account_signs_in_with_its_role(backend: Backend) {
    let app = spawn_app(backend).await;
    let accounts = [
        ("clinic1", "MEDICAL_STAFF"),
        ("hospital1", "MEDICAL_STAFF"),
        ("hc1", "HEALTH_CENTRE_STAFF"),
        ("hc2", "HEALTH_CENTRE_STAFF"),
        ("hc3", "HEALTH_CENTRE_STAFF"),
        ("pref13", "PREFECTURE_STAFF"),
        ("analyst1", "NATIONAL_ANALYST"),
        ("admin1", "SYSTEM_ADMIN"),
    ];
    for (username, role) in accounts {
        let token = app.login(username).await;
        let me = app.gql(Some(&token), "{ me { username role organisation { id name } } }", json!({})).await;
        assert_eq!(me["data"]["me"]["username"], username, "{me}");
        assert_eq!(me["data"]["me"]["role"], role, "{me}");
        assert!(me["data"]["me"]["organisation"]["name"].as_str().is_some_and(|n| !n.is_empty()), "{me}");
    }
    let wrong = app
        .gql(None, "mutation { login(username: \"hc1\", password: \"not-the-password\") { token } }", json!({}))
        .await;
    assert_eq!(error_code(&wrong), Some("UNAUTHENTICATED"));
    let unknown = app
        .gql(
            None,
            "mutation($p: String!) { login(username: \"nobody\", password: $p) { token } }",
            json!({ "p": DEMO_PASSWORD }),
        )
        .await;
    assert_eq!(error_code(&unknown), Some("UNAUTHENTICATED"));
    assert_eq!(wrong["errors"][0]["message"], unknown["errors"][0]["message"], "same answer for both");
}

async fn logout_makes_the_token_useless(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.login("hc1").await;
    let before = app.gql(Some(&token), "{ me { username } }", json!({})).await;
    assert_eq!(before["data"]["me"]["username"], "hc1");

    let out = app.gql(Some(&token), "mutation { logout }", json!({})).await;
    assert_eq!(out["data"]["logout"], true, "{out}");

    let after = app.gql(Some(&token), "{ me { username } }", json!({})).await;
    assert_eq!(error_code(&after), Some("UNAUTHENTICATED"), "{after}");
    let listing = app.gql(Some(&token), "{ patients { totalCount } }", json!({})).await;
    assert_eq!(error_code(&listing), Some("UNAUTHENTICATED"), "{listing}");
}

async fn a_session_resolved_a_moment_ago_is_not_looked_up_again(backend: Backend) {
    let app = spawn_app_configured(backend, Default::default(), |config| {
        config.session_cache = Duration::from_secs(60);
    })
    .await;
    let token = app.login("hc1").await;
    let first = statements_of_me(&app, &token).await;
    let again = statements_of_me(&app, &token).await;
    assert_eq!(again + 1, first, "the second request skips the session lookup");
    // Ending the session here takes effect at once, however long entries live.
    let out = app.gql(Some(&token), "mutation { logout }", json!({})).await;
    assert!(out["errors"].is_null(), "{out}");
    let after = app.gql(Some(&token), "{ me { username } }", json!({})).await;
    assert_eq!(error_code(&after), Some("UNAUTHENTICATED"), "{after}");
}

/// The SQL statements `{ me { username } }` costs.
async fn statements_of_me(app: &crate::helpers::TestApp, token: &str) -> u64 {
    let before = app.query_count().await;
    let me = app.gql(Some(token), "{ me { username } }", json!({})).await;
    assert_eq!(me["data"]["me"]["username"], "hc1", "{me}");
    app.query_count().await - before
}

/// A session ended through one replica stops working on another within the
/// lifetime of its entries there (one second by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_on_one_replica_ends_on_the_other_within_a_second() {
    let first = spawn_app(Backend::Postgres).await;
    let second = first.another_on_the_same_database().await;
    let token = first.login("hc1").await;
    for app in [&first, &second] {
        let me = app.gql(Some(&token), "{ me { username } }", json!({})).await;
        assert_eq!(me["data"]["me"]["username"], "hc1", "{me}");
    }
    let out = first.gql(Some(&token), "mutation { logout }", json!({})).await;
    assert!(out["errors"].is_null(), "{out}");
    let ended = Instant::now();
    loop {
        let me = second.gql(Some(&token), "{ me { username } }", json!({})).await;
        if error_code(&me) == Some("UNAUTHENTICATED") {
            break;
        }
        assert_eq!(me["data"]["me"]["username"], "hc1", "{me}");
        assert!(ended.elapsed() < Duration::from_millis(2500), "still signed in on the other replica");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
