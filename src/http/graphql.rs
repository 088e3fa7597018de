//! GraphQL over HTTP: `POST /graphql` and the IDE on `GET /graphql`.
//!
//! The body is read and parsed here rather than by an extractor so that
//! every refusal (malformed JSON, oversized body, unknown token) is itself
//! a GraphQL response with `extensions.code`, never a bare status.

use async_graphql::dataloader::{DataLoader, HashMapCache};
use async_graphql::http::GraphiQLSource;
use async_graphql::{BatchRequest, BatchResponse, Value};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::HttpState;
use super::persisted::Refusal;
use crate::auth::principal::Caller;
use crate::auth::session::bearer;
use crate::error::AppError;
use crate::graphql::loaders::AppLoader;
use crate::services::audit::{self, ReadTrail};
use crate::services::idempotency::{self, Claim};
use std::sync::Arc;

/// The in-browser IDE.
pub async fn ide(State(state): State<HttpState>) -> Response {
    if !state.app.config.ide {
        return (StatusCode::NOT_FOUND, "the IDE is switched off\n").into_response();
    }
    Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql/ws").title("HER-SYS").finish())
        .into_response()
}

/// Executes a query or mutation (or a batch of them).
pub async fn execute(State(state): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    let started = std::time::Instant::now();
    let bytes = match axum::body::to_bytes(body, state.app.config.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BAD_USER_INPUT",
                &format!("the request body is larger than {} bytes", state.app.config.max_body_bytes),
            );
        }
    };
    let batch = match parse_body(&headers, &bytes) {
        Ok(batch) => batch,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", &message),
    };

    let caller = match caller_from_headers(&state, &headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    if let (Some(limiter), Some(account)) =
        (&state.limits.per_account, caller.principal.as_ref().and_then(|p| p.account_id))
        && let Err(wait) = limiter.check(&account)
    {
        state.metrics.rate_limited();
        return super::rate_limited(wait, "this account");
    }
    let mut batch = batch;
    let resolved = match &mut batch {
        BatchRequest::Single(request) => state.persisted.resolve(request),
        BatchRequest::Batch(requests) => requests.iter_mut().try_for_each(|r| state.persisted.resolve(r)),
    };
    if let Err(refusal) = resolved {
        return persisted_refusal(refusal);
    }
    let operation_name = match &batch {
        BatchRequest::Single(request) => {
            request.operation_name.clone().or_else(|| first_operation_name(&request.query).map(str::to_owned))
        }
        BatchRequest::Batch(_) => Some("batch".to_owned()),
    };

    let idempotency_key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => match value.to_str().map_err(|_| ()).and_then(|v| idempotency::parse_key(v).map_err(|_| ())) {
            Ok(key) => Some(key),
            Err(()) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "BAD_USER_INPUT",
                    "Idempotency-Key: must be 1 to 200 visible ASCII characters",
                );
            }
        },
    };
    let claim = match (&idempotency_key, &caller.principal, &batch) {
        (Some(_), _, BatchRequest::Batch(_)) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "Idempotency-Key: applies to a single operation, not to a batch",
            );
        }
        (Some(key), Some(principal), BatchRequest::Single(_)) => {
            match idempotency::claim(&state.app, principal, key, &bytes).await {
                Ok(Claim::Run(id)) => Some(id),
                Ok(Claim::Replay(stored)) => {
                    return (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], stored).into_response();
                }
                Err(error) => return app_error_response(error),
            }
        }
        _ => None,
    };

    // Personal fields read by each request of the batch, audited below.
    let mut trails = Vec::new();
    let (requests, is_batch) = match batch {
        BatchRequest::Single(request) => (vec![request], false),
        BatchRequest::Batch(requests) => (requests, true),
    };
    let mut prepared = Vec::with_capacity(requests.len());
    for mut request in requests {
        // Parsed here (or found parsed) to check the operation limits before
        // anything runs; execution reuses the parsed document (and reports
        // a parse error).
        let documents = &state.schemas.documents;
        match documents.get(&request.query) {
            Some(document) => request.set_parsed_query(document),
            None => {
                let text = request.query.clone();
                if let Ok(document) = request.parsed_query() {
                    if let Err(refused) = state.schemas.check.check(document) {
                        prepared.push(Err(refused));
                        continue;
                    }
                    documents.keep(&text, document);
                }
            }
        }
        let mut caller = caller.clone();
        if let Some(principal) = &mut caller.principal {
            principal.operation = request.operation_name.clone();
        }
        let trail = Arc::new(ReadTrail::default());
        trails.push((caller.principal.clone(), trail.clone()));
        let loader = DataLoader::with_cache(
            AppLoader { db: state.app.db.clone(), principal: caller.principal.clone() },
            tokio::spawn,
            HashMapCache::default(),
        );
        // A router's entity batch: load every representation's row up
        // front, a statement per type, whatever the batch size.
        if caller.principal.is_some()
            && request.query.contains("_entities")
            && let Err(error) = crate::graphql::prefetch::entities(&loader, &request.variables).await
        {
            return app_error_response(error);
        }
        prepared.push(Ok(request.data(caller).data(loader).data(trail)));
    }
    let schema = &state.schemas.requests;
    // The requests of a batch run one after another, as async-graphql runs
    // a batch.
    let run = async move {
        let mut responses = Vec::with_capacity(prepared.len());
        for request in prepared {
            responses.push(match request {
                Ok(request) => schema.execute(request).await,
                Err(refused) => async_graphql::Response::from_errors(vec![refused]),
            });
        }
        responses
    };
    let deadline = state.app.config.request_deadline;
    let Ok(mut responses) = tokio::time::timeout(deadline, run).await else {
        // Dropping the execution rolled back any transaction it had open.
        state.metrics.deadline_exceeded();
        state.metrics.record(operation_name.as_deref(), "QUERY_TOO_COMPLEX", started.elapsed());
        if let Some(id) = claim
            && let Err(error) = idempotency::release(&state.app, id).await
        {
            tracing::error!(code = error.code(), "releasing an idempotency key failed");
        }
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            error_json(
                "QUERY_TOO_COMPLEX",
                &format!(
                    "the operation did not finish within its deadline of {} ms and was stopped (a mutation \
                     changed nothing); ask for less, e.g. a shorter range or a smaller page",
                    deadline.as_millis()
                ),
            ),
        )
            .into_response();
    };
    responses.iter_mut().for_each(ensure_codes);
    let response = match (is_batch, responses.pop()) {
        (false, Some(one)) => BatchResponse::Single(one),
        (_, last) => {
            responses.extend(last);
            BatchResponse::Batch(responses)
        }
    };
    // Every read of personal data is audited before the data leaves; if the
    // audit cannot be written, the data does not leave either.
    let mut audit_failure = None;
    for (principal, trail) in &trails {
        if let Some(principal) = principal
            && let Err(error) = audit::flush_reads(&state.app, principal, trail).await
        {
            state.metrics.audit_failed();
            audit_failure = Some(error);
            break;
        }
    }
    let succeeded = matches!(&response, BatchResponse::Single(one) if one.errors.is_empty());
    let outcome = match (&audit_failure, &response) {
        (Some(error), _) => error.code(),
        (None, BatchResponse::Single(one)) => first_code(&one.errors),
        (None, BatchResponse::Batch(many)) => {
            many.iter().map(|one| first_code(&one.errors)).find(|c| *c != "OK").unwrap_or("OK")
        }
    };
    state.metrics.record(operation_name.as_deref(), outcome, started.elapsed());
    let (status, body) = match audit_failure {
        Some(error) => error_body(&error),
        None => match serde_json::to_string(&response) {
            Ok(body) => (StatusCode::OK, body),
            Err(_) => error_body(&AppError::Internal(anyhow::anyhow!("response serialisation failed"))),
        },
    };
    if let Some(id) = claim {
        // A mutation that ran is remembered with whatever answer it got, so
        // a retry never runs it twice; a refused one wrote nothing and is
        // forgotten, so the corrected retry runs.
        let stored = if succeeded {
            idempotency::complete(&state.app, id, &body).await
        } else {
            idempotency::release(&state.app, id).await
        };
        if let Err(error) = stored {
            tracing::error!(code = error.code(), "storing an idempotent response failed");
        }
    }
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The name of the document's first operation (`query Name …`), read from
/// the text before its first selection set, for the metrics.
fn first_operation_name(document: &str) -> Option<&str> {
    let head = &document[..document.find('{').unwrap_or(document.len())];
    let mut words = head
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|word| !word.is_empty());
    while let Some(word) = words.next() {
        if matches!(word, "query" | "mutation" | "subscription") {
            return words.next().filter(|name| !name.starts_with(|c: char| c.is_ascii_digit()));
        }
    }
    None
}

/// The code of the first error, `OK` without errors.
fn first_code(errors: &[async_graphql::ServerError]) -> &'static str {
    let Some(first) = errors.first() else { return "OK" };
    let code = first.extensions.as_ref().and_then(|e| e.get("code")).and_then(|v| match v {
        Value::String(code) => Some(code.as_str()),
        _ => None,
    });
    code.and_then(|c| crate::error::CODES.iter().copied().find(|known| *known == c)).unwrap_or("INTERNAL")
}

/// The answer to a request whose persisted query cannot run.
fn persisted_refusal(refusal: Refusal) -> Response {
    let (status, code, message) = match refusal {
        // Apollo clients look for this message, then resend the query text
        // with its hash; the code stays one of the contract's.
        Refusal::NotFound => (StatusCode::OK, "BAD_USER_INPUT", "PersistedQueryNotFound".to_owned()),
        Refusal::BadInput(why) => {
            (StatusCode::BAD_REQUEST, "BAD_USER_INPUT", format!("extensions.persistedQuery: {why}"))
        }
        Refusal::Unsupported => (
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "extensions.persistedQuery: persisted queries are switched off".to_owned(),
        ),
        Refusal::NotListed => (
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "only registered operations run on this server (safelist): this operation is not one of them".to_owned(),
        ),
    };
    (status, [(header::CONTENT_TYPE, "application/json")], error_json(code, &message)).into_response()
}

/// async-graphql's own refusals of argument values carry the field's path
/// but no code; they are the client's input, not a fault.
fn is_input_value_error(message: &str) -> bool {
    [
        "Failed to parse",
        "Invalid value for argument",
        "Expected input type",
        "Internal error occurred while parsing",
        // A variable the operation uses but the request did not send.
        "Variable ",
    ]
    .iter()
    .any(|prefix| message.starts_with(prefix))
}

fn app_error_response(error: AppError) -> Response {
    let (status, body) = error_body(&error);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The status and body of a request-level error.
fn error_body(error: &AppError) -> (StatusCode, String) {
    let status = match error {
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::BadInput { .. } => StatusCode::BAD_REQUEST,
        AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if let AppError::Internal(cause) = error {
        tracing::error!(error = %format!("{cause:#}"), "internal error");
    }
    (status, error_json(error.code(), &error.message()))
}

fn error_json(code: &str, message: &str) -> String {
    serde_json::json!({
        "data": Value::Null,
        "errors": [{ "message": message, "extensions": { "code": code } }],
    })
    .to_string()
}

/// The caller named by the `Authorization` header (none without one), or
/// the response refusing a malformed header.
pub async fn caller_from_headers(state: &HttpState, headers: &HeaderMap) -> Result<Caller, Response> {
    let mut caller = Caller::default();
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        match value.to_str().ok().and_then(bearer) {
            Some(token) => match crate::services::accounts::resolve(&state.app, token).await {
                Ok(Some(principal)) => caller.principal = Some(principal),
                Ok(None) => caller.stale_token = true,
                Err(error) => return Err(app_error_response(error)),
            },
            None => {
                return Err(error_response(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    "the Authorization header must be `Bearer <token>`",
                ));
            }
        }
    }
    Ok(caller)
}

fn parse_body(headers: &HeaderMap, bytes: &Bytes) -> Result<BatchRequest, String> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    if !content_type.starts_with("application/json") && !content_type.starts_with("application/graphql-response+json") {
        return Err("send the request as JSON (Content-Type: application/json)".to_owned());
    }
    serde_json::from_slice::<BatchRequest>(bytes).map_err(|e| {
        // serde's message names the position and what was expected, never
        // the request's values.
        format!("the body is not a GraphQL request in JSON: {e}")
    })
}

/// Every error leaves with a code. Errors without one come from parsing and
/// validation (the client's document: `BAD_USER_INPUT`) or, if they carry a
/// path, from a resolver fault that escaped `AppError` (`INTERNAL`, and its
/// message is hidden).
pub fn ensure_codes(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let has_code = error.extensions.as_ref().is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if error.message == "Query is too complex." || error.message == "Query is nested too deep." {
            extensions.set("code", "QUERY_TOO_COMPLEX");
        } else if error.path.is_empty() || is_input_value_error(&error.message) {
            extensions.set("code", "BAD_USER_INPUT");
        } else {
            tracing::error!(error = %error.message, "resolver error without a code");
            error.message = "internal error".to_owned();
            extensions.set("code", "INTERNAL");
        }
    }
}

/// A response with one request-level error.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], error_json(code, message)).into_response()
}

/// A panic anywhere below answers like any other server fault.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error")
}

#[cfg(test)]
mod tests {
    use super::first_operation_name;

    #[test]
    fn the_first_named_operation_is_found_before_any_selection() {
        assert_eq!(first_operation_name("query Dashboard($id: ID!) { patient(id: $id) { id } }"), Some("Dashboard"));
        assert_eq!(first_operation_name("# a comment with query Fake\nmutation Save { x }"), Some("Save"));
        assert_eq!(first_operation_name("{ __typename }"), None);
        assert_eq!(first_operation_name("query { me { id } }"), None);
    }
}
