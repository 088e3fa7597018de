//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the gateway exports its spans
//! over OTLP/HTTP: the test plays the collector, runs the real binary, sends
//! a request, stops the gateway (which flushes) and looks for the spans.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

#[tokio::test]
async fn spans_of_requests_resolver_groups_and_statements_reach_the_collector() {
    // The collector: keeps every body posted to /v1/traces.
    let received: Arc<Mutex<Vec<u8>>> = Arc::default();
    let sink = received.clone();
    let collector = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().expect("lock").extend_from_slice(&body);
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let collector_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let dir = tempfile::tempdir().expect("temporary directory");
    let port = free_port();
    let mut gateway = tokio::process::Command::new(env!("CARGO_BIN_EXE_hersys"))
        .args(["serve", "--demo", "--addr", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", format!("sqlite://{}?mode=rwc", dir.path().join("hersys.db").display()))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector_addr}"))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("the gateway starts");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..200 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the gateway did not become ready");
    let response = client
        .post(format!("{base}/graphql"))
        .json(&serde_json::json!({ "query": "query Refs { prefectures { code } }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);

    // SIGTERM: the gateway stops and flushes its spans.
    let pid = gateway.id().expect("pid");
    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill");
    assert!(status.success());
    let exited = tokio::time::timeout(Duration::from_secs(20), gateway.wait()).await;
    assert!(exited.is_ok(), "the gateway did not stop");

    let bytes = received.lock().expect("lock").clone();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!bytes.is_empty(), "nothing reached the collector");
    for name in ["request", "graphql.execute", "graphql.resolve"] {
        assert!(text.contains(name), "no {name} span in what was exported");
    }
    // A statement's span carries its text (placeholders only).
    assert!(text.contains("db.statement") && text.contains("FROM \"prefectures\""), "no SQL statement span");
    assert!(text.contains("hersys"), "the service name");
    assert!(text.contains("prefectures"), "the root field's name");
}
