//! Operation limits: refused with a code before any resolver or SQL runs.

use std::sync::Arc;

use hersys::clock::ManualClock;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, error_code, spawn_app, spawn_app_configured};

both!(
    too_deep_too_complex_or_too_wide_operations_are_refused_before_any_sql,
    oversized_and_non_json_bodies_are_refused_with_a_graphql_error,
    introspection_can_be_switched_off,
    in_a_batch_only_the_operation_over_a_limit_is_refused,
    a_repeated_document_is_parsed_once_and_runs_with_each_requests_variables,
);

async fn post_raw(app: &TestApp, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn too_deep_too_complex_or_too_wide_operations_are_refused_before_any_sql(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.login("hc1").await;
    let fields = "id caseType nameKanji nameKana sex birthDate ageBand address phone email smartphoneId \
                  previousSmartphoneId priorInfection careSetting outcome registeredAt version";
    let node = format!("edges {{ node {{ {fields} tests {{ id kind result }} responsibleHealthCentre {{ code }} }} }}");
    let refused = [
        // Nested deeper than 16 levels.
        format!(
            "{{ patients {{ edges {{ node {{ {} id {} }} }} }} }}",
            "tests { patient { ".repeat(8),
            "} } ".repeat(8)
        ),
        // Four pages of 500 with many fields and every stay's conditions:
        // the lists weigh by their size, the nested ones multiplied.
        format!(
            "{{ {} }}",
            (0..4)
                .map(|i| format!(
                    "p{i}: patients(first: 500) {{ {} }}",
                    node.replace(" tests {", " hospitalisations { conditions { id } } tests {")
                ))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        // 21 root fields.
        format!("{{ {} }}", (0..21).map(|i| format!("f{i}: me {{ username }}")).collect::<Vec<_>>().join(" ")),
        // 51 aliases.
        format!("{{ me {{ {} }} }}", (0..51).map(|i| format!("u{i}: username")).collect::<Vec<_>>().join(" ")),
    ];
    for query in refused {
        let before = app.query_count().await;
        let response = app.gql(None, &query, json!({})).await;
        let after = app.query_count().await;
        assert_eq!(error_code(&response), Some("QUERY_TOO_COMPLEX"), "{response}");
        assert_eq!(after, before, "no SQL ran for a refused operation");
        let signed_in = app.gql(Some(&token), &query, json!({})).await;
        assert_eq!(error_code(&signed_in), Some("QUERY_TOO_COMPLEX"), "{signed_in}");
    }
    // Within the limits, the same shapes run.
    let fine = app.gql(Some(&token), &format!("{{ patients(first: 100) {{ {node} }} }}"), json!({})).await;
    assert!(fine["errors"].is_null(), "{fine}");
    let page = app.gql(Some(&token), "{ patients(first: 501) { totalCount } }", json!({})).await;
    assert_eq!(error_code(&page), Some("BAD_USER_INPUT"));
}

async fn oversized_and_non_json_bodies_are_refused_with_a_graphql_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let huge = json!({ "query": format!("{{ me {{ username }} }} # {}", "x".repeat(300 * 1024)) }).to_string();
    let (status, body) = post_raw(&app, "application/json", huge.into_bytes()).await;
    assert_eq!(status, 413);
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    // Requests a browser may send cross-site without a preflight (CSRF).
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let (status, body) = post_raw(&app, content_type, br#"{"query":"mutation { logout }"}"#.to_vec()).await;
        assert_eq!(status, 400, "{content_type}");
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{content_type}: {body}");
    }
}

async fn introspection_can_be_switched_off(backend: Backend) {
    let app = spawn_app_configured(backend, Arc::new(ManualClock::default()), |config| {
        config.introspection = false;
        config.ide = false;
        config.console = false;
    })
    .await;
    let token = app.login("hc1").await;
    let introspection = app.gql(Some(&token), "{ __schema { types { name } } }", json!({})).await;
    assert!(introspection["data"]["__schema"].is_null(), "{introspection}");
    for path in ["/graphql", "/ide/ide.js", "/ide/ide.css", "/console", "/console/console.js", "/console/console.css"] {
        let ide = app.client.get(app.url(path)).send().await.expect("sent");
        assert_eq!(ide.status().as_u16(), 404, "{path}");
    }
    let normal = app.gql(Some(&token), "{ me { username } }", json!({})).await;
    assert_eq!(normal["data"]["me"]["username"], "hc1");
}

async fn in_a_batch_only_the_operation_over_a_limit_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.login("hc1").await;
    let aliases =
        format!("{{ me {{ {} }} }}", (0..51).map(|i| format!("u{i}: username")).collect::<Vec<_>>().join(" "));
    let unknown_type = "query($x: [NoSuchType] = [1]) { me { username } }";
    let batch = json!([
        { "query": "{ me { username } }" },
        { "query": aliases },
        { "query": unknown_type },
        { "query": "{ me { role } }" },
    ]);
    let before = app.query_count().await;
    let response = app.client.post(app.url("/graphql")).bearer_auth(&token).json(&batch).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    let answers: Value = response.json().await.expect("JSON");
    let after = app.query_count().await;
    assert_eq!(answers[0]["data"]["me"]["username"], "hc1", "{answers}");
    assert_eq!(answers[1]["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{answers}");
    assert!(answers[1]["data"].is_null(), "{answers}");
    assert_eq!(answers[2]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{answers}");
    assert_eq!(answers[3]["data"]["me"]["role"], "HEALTH_CENTRE_STAFF", "{answers}");
    // The session lookup and the two operations that ran, nothing for the
    // refused ones.
    assert!(after - before <= 3, "{} statements", after - before);
}

/// `hersys_documents_total{cache="…"}` from `/metrics`.
async fn documents(app: &TestApp, cache: &str) -> u64 {
    let metrics = app.client.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("text");
    let series = format!("hersys_documents_total{{cache=\"{cache}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {metrics}"))
}

async fn a_repeated_document_is_parsed_once_and_runs_with_each_requests_variables(backend: Backend) {
    let app = spawn_app(backend).await;
    let clinic = app.login("clinic1").await;
    for name in ["キャッシュ イチ", "キャッシュ ニ"] {
        app.register_patient(&clinic, name, json!({})).await;
    }
    let token = app.login("hc1").await;
    let page = "query Page($n: Int) { patients(first: $n) { edges { node { id } } } }";
    let (hits, misses) = (documents(&app, "hit").await, documents(&app, "miss").await);
    for n in [1, 2, 1] {
        let response = app.gql(Some(&token), page, json!({ "n": n })).await;
        let edges = response["data"]["patients"]["edges"].as_array().map(Vec::len);
        assert_eq!(edges, Some(n), "the page size of this request's variables: {response}");
    }
    assert_eq!(documents(&app, "miss").await - misses, 1, "parsed the first time only");
    assert_eq!(documents(&app, "hit").await - hits, 2, "found parsed the second and third time");

    // One document, two operations: each request runs the one it names.
    let two = "query Name { me { username } } query Role { me { role } }";
    for (name, field) in [("Name", "username"), ("Role", "role"), ("Name", "username")] {
        let body = json!({ "query": two, "operationName": name });
        let response: Value = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        let me = response["data"]["me"].as_object().expect("me");
        assert_eq!(me.keys().map(String::as_str).collect::<Vec<_>>(), vec![field], "{response}");
    }

    // A document over a limit is not kept: refused, before any SQL, every time.
    let wide = format!("{{ me {{ {} }} }}", (0..51).map(|i| format!("u{i}: username")).collect::<Vec<_>>().join(" "));
    let hits = documents(&app, "hit").await;
    for _ in 0..2 {
        let before = app.query_count().await;
        let response = app.gql(Some(&token), &wide, json!({})).await;
        assert_eq!(error_code(&response), Some("QUERY_TOO_COMPLEX"), "{response}");
        assert_eq!(app.query_count().await, before, "no SQL ran for a refused operation");
    }
    assert_eq!(documents(&app, "hit").await, hits, "a refused document is never found parsed");
}
