//! The shapes of errors, as a table: for each way a request can go wrong,
//! the HTTP status (with `application/json` and with
//! `application/graphql-response+json`), the code, what the message says
//! and the field it names. Every transport shapes errors in the same place
//! (`pipeline::polish`); the transport tests show the codes arrive there
//! too.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_configured};

both!(every_kind_of_error_has_its_status_code_message_and_field, a_refused_introspection_says_so);

/// One row of the table.
struct Case {
    name: &'static str,
    /// The `Authorization` header, if any.
    authorization: Option<String>,
    body: Value,
    /// Status with `application/json`, and with the GraphQL response type.
    status: (u16, u16),
    code: &'static str,
    /// Words the message must contain.
    says: &'static str,
    field: Option<&'static str>,
}

async fn send(app: &TestApp, case: &Case, strict: bool) -> (u16, Value, String) {
    let mut request = app.client.post(app.url("/graphql")).json(&case.body);
    if let Some(authorization) = &case.authorization {
        request = request.header("authorization", authorization);
    }
    if strict {
        request = request.header("accept", "application/graphql-response+json");
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, response.json().await.expect("a JSON body"), content_type)
}

async fn every_kind_of_error_has_its_status_code_message_and_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let ended = app.login("hc2").await;
    let out = app.gql(Some(&ended), "mutation { logout }", json!({})).await;
    assert!(out["errors"].is_null(), "{out}");
    let hc1 = app.login("hc1").await;
    let bearer = |token: &str| Some(format!("Bearer {token}"));
    let me = json!({ "query": "{ me { username } }" });
    let unissued = format!("hst_{}", "A".repeat(43));
    let cases = vec![
        Case {
            name: "no credentials",
            authorization: None,
            body: me.clone(),
            status: (200, 200),
            code: "UNAUTHENTICATED",
            says: "sign in first",
            field: None,
        },
        Case {
            name: "a token this server never issued",
            authorization: bearer(&unissued),
            body: me.clone(),
            status: (200, 200),
            code: "UNAUTHENTICATED",
            says: "not a session of this server",
            field: None,
        },
        Case {
            name: "Bearer null",
            authorization: bearer("null"),
            body: me.clone(),
            status: (200, 200),
            code: "UNAUTHENTICATED",
            says: "not a session of this server",
            field: None,
        },
        Case {
            name: "a JWT",
            authorization: bearer("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"),
            body: me.clone(),
            status: (200, 200),
            code: "UNAUTHENTICATED",
            says: "not a session of this server",
            field: None,
        },
        Case {
            name: "a session that has ended",
            authorization: bearer(&ended),
            body: me.clone(),
            status: (200, 200),
            code: "UNAUTHENTICATED",
            says: "the session has ended",
            field: None,
        },
        Case {
            name: "a malformed Authorization header",
            authorization: Some("Basic aGMxOnBhc3N3b3Jk".to_owned()),
            body: me.clone(),
            status: (200, 200),
            code: "UNAUTHENTICATED",
            says: "must be `Bearer <token>`",
            field: None,
        },
        Case {
            name: "a syntax error",
            authorization: bearer(&hc1),
            body: json!({ "query": "{ me { username }" }),
            status: (200, 400),
            code: "BAD_USER_INPUT",
            says: "syntax error at line 1, column",
            field: None,
        },
        Case {
            name: "an enum value that does not exist",
            authorization: bearer(&hc1),
            body: json!({ "query": "mutation { setCareSetting(patientId: \"1\", setting: CASTLE) { id } }" }),
            status: (200, 400),
            code: "BAD_USER_INPUT",
            says: "expected one of UNDECIDED, HOSPITAL, ACCOMMODATION, HOME, NONE",
            field: Some("setting"),
        },
        Case {
            name: "a date that is not one, in a variable's input object",
            authorization: bearer(&hc1),
            body: json!({
                "query": "mutation($i: RegisterPatientInput!) { registerPatient(input: $i) { id } }",
                "variables": { "i": { "caseType": "CONFIRMED", "nameKanji": "誤日 太郎", "nameKana": "ゴジツ タロウ",
                    "sex": "MALE", "birthDate": "1980-13-01" } },
            }),
            // A variable's value is read when its field runs: an error of
            // that field, so the operation was executed.
            status: (200, 200),
            code: "BAD_USER_INPUT",
            says: "YYYY-MM-DD",
            field: Some("input.birthDate"),
        },
        Case {
            name: "an Int that is a string",
            authorization: bearer(&hc1),
            body: json!({ "query": "{ patients(first: \"ten\") { totalCount } }" }),
            status: (200, 400),
            code: "BAD_USER_INPUT",
            says: "expected an Int",
            field: Some("first"),
        },
        Case {
            name: "a date-time that is not one",
            authorization: bearer(&hc1),
            body: json!({ "query": "{ statistics { careStatus(asOf: \"yesterday\") { asOf } } }" }),
            // A custom scalar is read when its field runs.
            status: (200, 200),
            code: "BAD_USER_INPUT",
            says: "DateTime",
            field: Some("asOf"),
        },
        Case {
            name: "an operationName that is not a name",
            authorization: bearer(&hc1),
            body: json!({ "query": "query A { me { username } }", "operationName": "A; DROP" }),
            status: (200, 400),
            code: "BAD_USER_INPUT",
            says: "GraphQL name",
            field: Some("operationName"),
        },
        Case {
            name: "too many aliases",
            authorization: bearer(&hc1),
            body: json!({ "query": format!("{{ {} }}", (0..51).map(|n| format!("a{n}: __typename")).collect::<Vec<_>>().join(" ")) }),
            status: (200, 400),
            code: "QUERY_TOO_COMPLEX",
            says: "maxAliases",
            field: None,
        },
        Case {
            name: "two sign-ins in one request",
            authorization: None,
            body: json!({ "query": "mutation { a: login(username: \"hc1\", password: \"x\") { token } b: login(username: \"hc1\", password: \"y\") { token } }" }),
            status: (200, 400),
            code: "QUERY_TOO_COMPLEX",
            says: "sign-in",
            field: None,
        },
        Case {
            name: "a field the caller may not see",
            authorization: bearer(&hc1),
            body: json!({ "query": "{ auditLog(first: 1) { edges { node { action } } } }" }),
            status: (200, 200),
            code: "FORBIDDEN",
            says: "system administrators",
            field: None,
        },
    ];
    for case in &cases {
        for strict in [false, true] {
            let (status, body, content_type) = send(&app, case, strict).await;
            let expected = if strict { case.status.1 } else { case.status.0 };
            let name = case.name;
            assert_eq!(status, expected, "{name} (strict: {strict}): {body}");
            let wanted_type = if strict { "application/graphql-response+json" } else { "application/json" };
            assert!(content_type.starts_with(wanted_type), "{name}: {content_type}");
            let error = &body["errors"][0];
            assert_eq!(error["extensions"]["code"], case.code, "{name}: {body}");
            let message = error["message"].as_str().unwrap_or_default();
            assert!(message.contains(case.says), "{name}: the message says {message:?}");
            assert!(!message.contains('\n'), "{name}: one line: {message:?}");
            assert_eq!(error["extensions"]["field"].as_str(), case.field, "{name}: {body}");
        }
    }
}

async fn a_refused_introspection_says_so(backend: Backend) {
    let app = spawn_app_configured(backend, std::sync::Arc::new(hersys::clock::ManualClock::default()), |config| {
        config.introspection = false;
    })
    .await;
    let body = app.gql(None, "{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains("introspection"), "{body}");
    assert!(body["data"].is_null(), "{body}");
    // The type name of a result is not introspection.
    let typename = app.gql(None, "{ __typename }", json!({})).await;
    assert_eq!(typename["data"]["__typename"], "Query", "{typename}");
}
