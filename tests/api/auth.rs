//! Signing in and out.

use serde_json::json;

use crate::both;
use crate::helpers::{Backend, DEMO_PASSWORD, error_code, spawn_app};

both!(every_demo_account_signs_in_with_its_role, logout_makes_the_token_useless);

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
