//! What an operator relies on: one access line per request that carries no
//! personal data or token, and `/metrics` behind a token or on an address
//! of its own.

use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::both;
use crate::helpers::{Backend, TestApp, captured_logs, spawn_app, spawn_app_configured};

both!(
    every_request_writes_one_access_line_without_personal_data_or_tokens,
    metrics_need_the_token_when_one_is_set,
    metrics_on_their_own_address_are_served_only_there,
    the_ide_and_the_console_are_served_from_the_gateway_alone_under_a_strict_policy,
);

/// The access lines (target `hersys::access`) of the request with this
/// `x-request-id`.
fn access_lines(request_id: &str) -> Vec<String> {
    captured_logs()
        .lines()
        .filter(|line| line.contains(request_id) && line.contains("hersys::access"))
        .map(str::to_owned)
        .collect()
}

/// Waits (briefly) for the access line of a request: a stream's is written
/// when its first bytes go out, which may follow the client's read.
async fn access_line(request_id: &str) -> String {
    for _ in 0..50 {
        if let [line] = access_lines(request_id).as_slice() {
            return line.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("not exactly one access line for {request_id}: {:?}", access_lines(request_id));
}

fn request_id(what: &str) -> String {
    format!("access-{what}-{}", hex::encode(rand::random::<[u8; 6]>()))
}

async fn every_request_writes_one_access_line_without_personal_data_or_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    // A personal value sent as a variable, by a named operation.
    let name = "記録 花子";
    let kana = "キロク ハナコ";
    let posted = request_id("post");
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&clinic)
        .header("x-request-id", &posted)
        .json(&json!({
            "query": "mutation RegisterForTheAccessLog($input: RegisterPatientInput!) { registerPatient(input: $input) { id } }",
            "variables": { "input": {
                "caseType": "CONFIRMED", "nameKanji": name, "nameKana": kana, "sex": "FEMALE",
                "birthDate": "1977-07-07", "phone": "03-7777-1234",
            } },
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert!(body["errors"].is_null(), "{body}");

    let line = access_line(&posted).await;
    for expected in [
        "method=POST",
        "path=/graphql",
        "status=200",
        "duration_ms=",
        "transport=\"http\"",
        "operation=\"RegisterForTheAccessLog\"",
        "client=127.0.0.1",
    ] {
        assert!(line.contains(expected), "{expected} in the access line: {line}");
    }
    for secret in [name, kana, "1977-07-07", "03-7777-1234", clinic.as_str(), "registerPatient", "nameKanji"] {
        assert!(!line.contains(secret), "the access line holds a value or the query text: {line}");
    }

    // A batch is named as one.
    let batch = request_id("batch");
    app.client
        .post(app.url("/graphql"))
        .header("x-request-id", &batch)
        .json(&json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]))
        .send()
        .await
        .expect("sent");
    assert!(access_line(&batch).await.contains("operation=\"batch\""));

    // A Server-Sent Events stream: one line, with its transport.
    let sse = request_id("sse");
    let response = app
        .client
        .post(app.url("/graphql/stream"))
        .bearer_auth(&clinic)
        .header("x-request-id", &sse)
        .json(&json!({ "query": "query ReadOverEvents { __typename }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get("x-accel-buffering").and_then(|v| v.to_str().ok()),
        Some("no"),
        "a proxy is told not to buffer the stream"
    );
    let _ = response.text().await;
    let line = access_line(&sse).await;
    for expected in ["path=/graphql/stream", "status=200", "transport=\"sse\"", "operation=\"ReadOverEvents\""] {
        assert!(line.contains(expected), "{expected} in the access line: {line}");
    }
    assert!(!line.contains(clinic.as_str()), "{line}");

    // A WebSocket: one line when the upgrade is answered.
    let socket = request_id("ws");
    let mut request = format!("ws://{}/graphql/ws", app.addr).into_client_request().expect("a request");
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().expect("a header"));
    request.headers_mut().insert("x-request-id", socket.parse().expect("a header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("the upgrade");
    let line = access_line(&socket).await;
    for expected in ["method=GET", "path=/graphql/ws", "status=101", "transport=\"graphql-transport-ws\""] {
        assert!(line.contains(expected), "{expected} in the access line: {line}");
    }
    let _ = ws.close(None).await;

    // Not found, the probes and the rest get theirs too.
    let missing = request_id("missing");
    let response = app
        .client
        .get(app.url("/no/such/page?name=secret"))
        .header("x-request-id", &missing)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 404);
    let line = access_line(&missing).await;
    assert!(line.contains("status=404") && line.contains("path=/no/such/page"), "{line}");
    assert!(!line.contains("secret"), "no query string: {line}");

    let logs = captured_logs();
    for secret in [name, kana, "03-7777-1234", clinic.as_str()] {
        assert!(!logs.contains(secret), "the logs hold a personal value or a token");
    }
}

const TOKEN: &str = "scrape-me-with-this-long-token-1";

async fn metrics_need_the_token_when_one_is_set(backend: Backend) {
    let app = spawn_app_configured(backend, Default::default(), |config| {
        config.metrics_token = Some(hersys::config::Secret::new(TOKEN));
    })
    .await;
    let get = |token: Option<&str>| {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let refused = get(None).await.expect("sent");
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
    let body = refused.text().await.expect("text");
    assert!(!body.contains("hersys_"), "no series without the token: {body}");
    assert_eq!(get(Some("scrape-me-with-this-long-token-2")).await.expect("sent").status(), 401);
    assert_eq!(get(Some(&TOKEN[..TOKEN.len() - 1])).await.expect("sent").status(), 401);

    let served = get(Some(TOKEN)).await.expect("sent");
    assert_eq!(served.status(), 200);
    let text = served.text().await.expect("text");
    for series in ["hersys_db_queries_total", "hersys_build_info{version=\"", "process_resident_memory_bytes "] {
        assert!(text.contains(series), "{series} in {text}");
    }
    assert!(!captured_logs().contains(TOKEN), "the metrics token reached the logs");
}

async fn metrics_on_their_own_address_are_served_only_there(backend: Backend) {
    let app: TestApp = spawn_app_configured(backend, Default::default(), |config| {
        config.metrics_addr = Some(([127, 0, 0, 1], 0).into());
    })
    .await;
    let metrics_addr = app.metrics_addr.expect("the metrics address is bound");
    assert_ne!(metrics_addr, app.addr);
    let main = app.client.get(app.url("/metrics")).send().await.expect("sent");
    assert_eq!(main.status(), 404, "the main address does not serve /metrics");
    let own = app.client.get(format!("http://{metrics_addr}/metrics")).send().await.expect("sent");
    assert_eq!(own.status(), 200);
    let text = own.text().await.expect("text");
    assert!(text.contains("hersys_graphql_requests_total") || text.contains("hersys_db_queries_total"), "{text}");
    // Only /metrics there: the API is not.
    let api = app.client.post(format!("http://{metrics_addr}/graphql")).json(&json!({ "query": "{ __typename }" }));
    assert_eq!(api.send().await.expect("sent").status(), 404);
    // The gateway itself still answers on its address.
    assert_eq!(app.client.get(app.url("/healthz")).send().await.expect("sent").status(), 200);
}

/// `GET /graphql` is the IDE from the gateway's own files: the page names
/// only same-origin paths, every part of it carries the policy that keeps
/// the browser to this origin, and a file the browser holds is revalidated
/// by its tag. (The browser check in `tests/js/ide-browser.mjs` runs it in
/// Chromium with other origins blocked.)
async fn the_ide_and_the_console_are_served_from_the_gateway_alone_under_a_strict_policy(backend: Backend) {
    let app = spawn_app(backend).await;
    for (page, files) in [
        ("/graphql", [("/ide/ide.js", "text/javascript"), ("/ide/ide.css", "text/css")]),
        ("/console", [("/console/console.js", "text/javascript"), ("/console/console.css", "text/css")]),
    ] {
        let answer = app.client.get(app.url(page)).header("accept", "text/html").send().await.expect("sent");
        assert_eq!(answer.status().as_u16(), 200, "{page}");
        let policy = answer.headers()["content-security-policy"].to_str().expect("text").to_owned();
        for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'"] {
            assert!(policy.contains(directive), "{page}: {directive} missing from {policy}");
        }
        assert!(!policy.contains("unsafe"), "{page}: {policy}");
        assert_eq!(answer.headers()["x-frame-options"], "DENY", "{page}");
        let html = answer.text().await.expect("a page");
        assert!(!html.contains("http:") && !html.contains("https:") && !html.contains("//"), "another origin: {html}");
        assert!(!html.contains("<script>") && !html.contains("<style"), "inline code: {html}");
        for (path, media) in files {
            assert!(html.contains(path), "{page} does not load {path}");
            let file = app.client.get(app.url(path)).send().await.expect("sent");
            assert_eq!(file.status().as_u16(), 200, "{path}");
            assert!(file.headers()["content-type"].to_str().expect("text").starts_with(media), "{path}");
            assert_eq!(file.headers()["content-security-policy"].to_str().expect("text"), policy, "{path}");
            assert_eq!(file.headers()["x-content-type-options"], "nosniff", "{path}");
            let tag = file.headers()["etag"].clone();
            assert!(file.bytes().await.expect("a body").len() > 3_000, "{path} is the built file");
            let again = app.client.get(app.url(path)).header("if-none-match", tag).send().await.expect("sent");
            assert_eq!(again.status().as_u16(), 304, "{path} revalidated");
        }
    }
}
