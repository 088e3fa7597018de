//! What an operator relies on: one access line per request that carries no
//! personal data or token.

use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::both;
use crate::helpers::{Backend, captured_logs, spawn_app};

both!(every_request_writes_one_access_line_without_personal_data_or_tokens);

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
    let response =
        app.client.get(app.url("/no/such/page?name=secret")).header("x-request-id", &missing).send().await.expect("sent");
    assert_eq!(response.status(), 404);
    let line = access_line(&missing).await;
    assert!(line.contains("status=404") && line.contains("path=/no/such/page"), "{line}");
    assert!(!line.contains("secret"), "no query string: {line}");

    let logs = captured_logs();
    for secret in [name, kana, "03-7777-1234", clinic.as_str()] {
        assert!(!logs.contains(secret), "the logs hold a personal value or a token");
    }
}
