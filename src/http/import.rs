//! `POST /import/csv` and `POST /import/fhir`: a facility system sends a
//! file of registrations and test results with the bearer token of a
//! staff account's session; `?dryRun=true` checks it without writing. The answer is
//! the import's report (JSON). A CSV body is read as it arrives and never
//! held whole; a FHIR bundle, one JSON document, is read up to
//! [`MAX_FHIR_BYTES`].

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::HttpState;
use crate::auth::Principal;
use crate::error::AppError;
use crate::pipeline::Credentials;
use crate::services::import::{self, Format, Import};

/// Imports a gateway runs at once: each keeps its workers' database
/// connections busy, so more would take the pool from everyone else. A
/// further upload is refused with `RATE_LIMITED` and `Retry-After` before
/// its body is read.
pub const AT_ONCE: usize = 2;

/// Seconds after which a refused upload may try again.
const RETRY_AFTER: u64 = 30;

/// Largest FHIR bundle accepted; larger exports are sent as several
/// bundles (or as CSV, which has no bound).
pub const MAX_FHIR_BYTES: usize = 64 * 1024 * 1024;

pub async fn csv(State(state): State<HttpState>, request: Request) -> Response {
    run(state, request, Format::Csv).await
}

pub async fn fhir(State(state): State<HttpState>, request: Request) -> Response {
    run(state, request, Format::Fhir).await
}

async fn run(state: HttpState, request: Request, format: Format) -> Response {
    let dry_run = match dry_run(request.uri().query()) {
        Ok(dry_run) => dry_run,
        Err(error) => return refusal(&error),
    };
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    let (parts, body) = request.into_parts();
    let principal = match caller(&state, &parts.headers, peer).await {
        Ok(principal) => principal,
        Err(error) => return refusal(&error),
    };
    let Ok(_running) = state.imports.clone().try_acquire_owned() else {
        let why = format!("{AT_ONCE} imports are running on this gateway: retry after {RETRY_AFTER} s");
        let mut refused = refusal(&AppError::RateLimited(why));
        refused.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from(RETRY_AFTER));
        return refused;
    };
    let import = match Import::start(&state.app, &principal, format, dry_run).await {
        Ok(import) => import,
        Err(error) => return refusal(&error),
    };
    let report = match format {
        Format::Csv => import::read_csv(import, body.into_data_stream()).await,
        Format::Fhir => match whole(body).await {
            Ok(bytes) => import::read_fhir(import, &bytes).await,
            Err(why) => import.finish(Some(&why)).await,
        },
    };
    match report {
        Ok(report) => {
            let body = serde_json::to_string(&report).unwrap_or_default();
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(error) => refusal(&error),
    }
}

/// The whole body, up to [`MAX_FHIR_BYTES`].
async fn whole(body: Body) -> Result<Vec<u8>, String> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| "the upload broke off".to_owned())?;
        if bytes.len() + chunk.len() > MAX_FHIR_BYTES {
            return Err(format!("the bundle is larger than {} MiB: send it as several bundles", MAX_FHIR_BYTES >> 20));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// `dryRun` of the query string: `true` or `false` (absent: false).
fn dry_run(query: Option<&str>) -> Result<bool, AppError> {
    let mut dry_run = false;
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (name, value) {
            ("dryRun", "true" | "1") => dry_run = true,
            ("dryRun", "false" | "0") => dry_run = false,
            ("dryRun", _) => return Err(AppError::bad_input("dryRun", "must be true or false")),
            _ => return Err(AppError::bad_input("query", "the only parameter is dryRun")),
        }
    }
    Ok(dry_run)
}

/// The caller the bearer token names, with its address; a request under
/// the account's rate limit.
async fn caller(
    state: &HttpState,
    headers: &axum::http::HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<Principal, AppError> {
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("?"));
    let credentials = Credentials::from_authorization(authorization);
    let caller = state.pipeline.caller(&credentials).await?;
    let Some(mut principal) = caller.principal else {
        return Err(AppError::Unauthenticated(
            caller.refused.map_or("an import needs the bearer token of the importing account's session", |refused| {
                refused.message()
            }),
        ));
    };
    principal.address = super::client_address(state, headers, peer);
    principal.at = state.app.now();
    if let Err(wait) = state.pipeline.rate_limits.take_account(Some(&principal), 1) {
        state.pipeline.metrics.rate_limited();
        let seconds = crate::pipeline::ratelimit::retry_after_seconds(wait);
        return Err(AppError::RateLimited(format!("too many requests from this account: retry after {seconds} s")));
    }
    Ok(principal)
}

/// A refusal of the whole upload, in the report's shape.
fn refusal(error: &AppError) -> Response {
    error.log_fault();
    let status = match error.code() {
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "FORBIDDEN" => StatusCode::FORBIDDEN,
        "RATE_LIMITED" => StatusCode::TOO_MANY_REQUESTS,
        "INTERNAL" => StatusCode::INTERNAL_SERVER_ERROR,
        "UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = serde_json::json!({
        "accepted": 0,
        "refused": 0,
        "errors": [{ "field": error.field(), "code": error.code(), "message": error.message() }],
    });
    (status, [(header::CONTENT_TYPE, "application/json")], Body::from(body.to_string())).into_response()
}
