//! The one request pipeline. Every GraphQL operation, whatever carried it
//! (`POST /graphql`, either WebSocket sub-protocol, Server-Sent Events),
//! goes through the same [`Stage`]s in the same order; the transports in
//! `http/` only turn their bytes into an [`Origin`] and a request, and the
//! pipeline's answers back into bytes. The schema is private to this
//! module: there is no way to run an operation that skips a stage.
//!
//! ```text
//! caller ─► persisted ─► admission ─► rate limit ─► idempotency ─► deadline(execution)
//!        ─► read audit ─► shaping ─► metrics ─► transport
//! ```
//!
//! A stream (a subscription, or any operation sent over a streaming
//! transport) runs the same stages once when it starts, and then for each
//! item it yields: the read audit of that item before it leaves, shaping,
//! and the check that its session is still alive (see [`stream`]).

pub mod admission;
mod json;
pub mod persisted;
pub mod polish;
pub mod ratelimit;
pub mod shape;
pub mod stream;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use async_graphql::dataloader::DataLoader;
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, Response, ServerError, Value};

use crate::auth::principal::{Caller, Client, Refused};
use crate::error::AppError;
use crate::graphql::loaders::{AppLoader, RequestCache};
use crate::graphql::{HersysSchema, documents::DocumentCache, limits::DocumentCheck};
use crate::metrics::Metrics;
use crate::services::accounts::Lookup;
use crate::services::audit::{self, ReadTrail};
use crate::services::idempotency::{self, Claim};
use crate::state::AppState;

use self::admission::Admitted;
use self::persisted::{PersistedQueries, Refusal};
use self::ratelimit::RateLimits;
use self::shape::TypeIndex;

/// The ways an operation reaches the gateway. Every rule of the pipeline
/// holds on each; `tests/api/transports.rs` walks every promise over every
/// one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `POST /graphql` (one operation or a JSON batch).
    Http,
    /// `/graphql/ws` with the `graphql-transport-ws` sub-protocol.
    TransportWs,
    /// `/graphql/ws` with the legacy `graphql-ws` sub-protocol of
    /// subscriptions-transport-ws.
    LegacyWs,
    /// `POST /graphql/stream`: GraphQL over Server-Sent Events.
    ServerSentEvents,
}

impl Transport {
    /// Every transport.
    pub const ALL: [Transport; 4] =
        [Transport::Http, Transport::TransportWs, Transport::LegacyWs, Transport::ServerSentEvents];
}

/// The stages every operation passes, in order. Each is a module (or a
/// function of this one) with its own configuration; this list is what
/// the transport tests walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Who is calling, resolved from the session or API key at every
    /// operation (on a WebSocket too, not once per connection); an API
    /// key's scope is checked once the operation is admitted.
    Caller,
    /// Automatic persisted queries and the safelist (`persisted`).
    Persisted,
    /// Parsing and the operation limits: depth, complexity, aliases, root
    /// fields, batch length, sign-in fields, introspection (`admission`).
    Admission,
    /// Requests per client address and per account (`ratelimit`).
    RateLimit,
    /// `Idempotency-Key` (only `POST` carries the header).
    Idempotency,
    /// The deadline around execution.
    Deadline,
    /// Execution, noting every personal field read (the read trail).
    Execution,
    /// The read trail written to the audit log before anything leaves.
    ReadAudit,
    /// Errors given codes and readable messages (`polish`); the data
    /// shaped as the specification requires (`shape`).
    Shaping,
    /// Request counts and latencies for `/metrics`.
    Metrics,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 10] = [
        Stage::Caller,
        Stage::Persisted,
        Stage::Admission,
        Stage::RateLimit,
        Stage::Idempotency,
        Stage::Deadline,
        Stage::Execution,
        Stage::ReadAudit,
        Stage::Shaping,
        Stage::Metrics,
    ];
}

/// What a transport says of how an operation arrived.
#[derive(Debug, Clone)]
pub struct Origin {
    pub transport: Transport,
    /// The client's address (behind a trusted proxy, the forwarded one).
    pub address: Option<IpAddr>,
    /// The `User-Agent` header of the request (of a WebSocket's upgrade).
    pub user_agent: Option<String>,
    pub credentials: Credentials,
    /// The `Idempotency-Key` header (`POST` only).
    pub idempotency_key: Option<String>,
}

/// The credentials sent with an operation.
#[derive(Debug, Clone, Default)]
pub enum Credentials {
    #[default]
    None,
    /// Something that is not `Bearer <token>`.
    Malformed,
    Bearer(String),
}

impl Credentials {
    /// From the value of an `Authorization` header (or the `authorization`
    /// of a WebSocket's `connection_init`).
    pub fn from_authorization(value: Option<&str>) -> Self {
        match value {
            None => Credentials::None,
            Some(value) => match crate::auth::session::bearer(value) {
                Some(token) => Credentials::Bearer(token.to_owned()),
                None => Credentials::Malformed,
            },
        }
    }
}

/// How the answer of a request is to be understood by a transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The operations ran (the data may still be partial or null).
    Executed,
    /// Refused as a whole before anything ran, or failed as a whole; the
    /// code is the first error's.
    Refused(&'static str),
}

/// The answer to a request: its JSON body and how to frame it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub verdict: Verdict,
    /// Seconds after which a retry may succeed (`Retry-After`).
    pub retry_after: Option<u64>,
    pub body: String,
    /// The code of the body's first error, if it has one (the metrics'
    /// outcome).
    pub first_error: Option<&'static str>,
}

impl Answer {
    /// A request-level refusal with one error.
    pub fn refusal(error: ServerError) -> Answer {
        let code = code_of(&error);
        let retry_after = retry_after_of(&error);
        let response = Response::from_errors(vec![error]);
        Answer { verdict: Verdict::Refused(code), retry_after, body: to_json(&response), first_error: Some(code) }
    }

    fn from_app_error(error: &AppError) -> Answer {
        Answer::refusal(server_error(error))
    }
}

/// A request-level error from an application error.
pub fn server_error(error: &AppError) -> ServerError {
    let mut server = ServerError::new(error.message(), None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", error.code());
    if let Some(field) = error.field() {
        extensions.set("field", field);
    }
    if let Some(limit) = error.limit() {
        extensions.set("limit", limit);
    }
    if let Some(seconds) = error.retry_after() {
        extensions.set("retryAfterSeconds", seconds);
    }
    server.extensions = Some(extensions);
    server
}

/// The `extensions.code` of an error (`INTERNAL` when it has none).
pub fn code_of(error: &ServerError) -> &'static str {
    let code = error.extensions.as_ref().and_then(|e| e.get("code")).and_then(|v| match v {
        Value::String(code) => Some(code.as_str()),
        _ => None,
    });
    code.and_then(|c| crate::error::CODES.iter().copied().find(|known| *known == c)).unwrap_or("INTERNAL")
}

fn retry_after_of(error: &ServerError) -> Option<u64> {
    match error.extensions.as_ref().and_then(|e| e.get("retryAfterSeconds")) {
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    }
}

fn to_json(response: &impl serde::Serialize) -> String {
    serde_json::to_string(response).unwrap_or_else(|_| {
        r#"{"data":null,"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#.to_owned()
    })
}

/// Stage [`Stage::Shaping`], last step: the response as JSON, or, when it
/// would take more than `limit` bytes (`maxResponseBytes`), an answer that
/// says so in its place. The operation has run (a mutation made its
/// change); only its answer is withheld.
fn to_json_capped(response: &Response, limit: usize) -> String {
    capped(response, limit, limit).0
}

/// The response as JSON if it takes at most `room` bytes, else the refusal
/// of an answer over `limit`; with the code of what is sent's first error.
fn capped(response: &Response, room: usize, limit: usize) -> (String, Option<&'static str>) {
    match json::response_within(response, room) {
        Some(json) => (json, response.errors.first().map(code_of)),
        None => {
            let error = too_large(limit);
            let code = code_of(&error);
            (to_json(&Response::from_errors(vec![error])), Some(code))
        }
    }
}

/// The error of an answer over the response size limit.
fn too_large(limit: usize) -> ServerError {
    server_error(&AppError::TooComplex {
        limit: "maxResponseBytes",
        message: format!(
            "the answer would be larger than {limit} bytes (maxResponseBytes) and was not sent (the operation ran: \
             a mutation made its change); ask for less, e.g. smaller pages (first, last) or fewer fields"
        ),
    })
}

/// A batch's answers as one JSON array of at most `limit` bytes: an answer
/// that does not fit in what the earlier ones left is replaced by the
/// refusal that says so.
fn batch_json_capped(responses: &[Response], limit: usize) -> (String, Option<&'static str>) {
    let mut body = String::from("[");
    let mut first_error = None;
    for (index, response) in responses.iter().enumerate() {
        if index > 0 {
            body.push(',');
        }
        let left = limit.saturating_sub(body.len() + 1);
        let (json, error) = capped(response, left, limit);
        body.push_str(&json);
        first_error = first_error.or(error);
    }
    body.push(']');
    (body, first_error)
}

/// The pipeline of one server.
pub struct Pipeline {
    app: AppState,
    /// The served schema. Private: operations run only through the stages.
    schema: HersysSchema,
    /// What the schema's types are, for shaping and error messages.
    types: TypeIndex,
    /// The operation limits checked on each parsed document.
    check: DocumentCheck,
    /// Documents of recent requests that passed the limits, parsed.
    pub documents: DocumentCache,
    pub persisted: PersistedQueries,
    pub rate_limits: RateLimits,
    pub metrics: Metrics,
    /// Open streams per account, for the per-account bound.
    pub(crate) sockets: stream::SocketCounts,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish_non_exhaustive()
    }
}

impl Pipeline {
    pub fn new(app: AppState) -> Self {
        let config = app.config.clone();
        let (schema, limits) = crate::graphql::build_served(app.clone());
        let sdl = schema.sdl();
        Pipeline {
            types: TypeIndex::from_sdl(&sdl),
            check: DocumentCheck::new(limits, &sdl),
            schema,
            documents: DocumentCache::default(),
            persisted: PersistedQueries::new(config.persisted_queries, config.safelist.clone()),
            rate_limits: RateLimits::new(config.rate_limit_per_address, config.rate_limit_per_account),
            metrics: Metrics::default(),
            sockets: stream::SocketCounts::default(),
            app,
        }
    }

    pub fn app(&self) -> &AppState {
        &self.app
    }

    /// Stage [`Stage::Caller`]: who the credentials name, looked up now.
    pub async fn caller(&self, credentials: &Credentials) -> Result<Caller, AppError> {
        let refused = |why| Caller { refused: Some(why), ..Caller::default() };
        Ok(match credentials {
            Credentials::None => Caller::default(),
            Credentials::Malformed => refused(Refused::Malformed),
            // An API key of a service account: its scope is checked once
            // the operation is admitted (`within_scope`).
            Credentials::Bearer(token) if crate::auth::keys::looks_like_key(token) => {
                match crate::services::service_accounts::resolve(&self.app, token).await? {
                    Lookup::Live(principal) => Caller { principal: Some(principal), ..Caller::default() },
                    Lookup::Ended => refused(Refused::KeyEnded),
                    Lookup::Unknown => refused(Refused::Unknown),
                }
            }
            Credentials::Bearer(token) => match crate::services::accounts::resolve(&self.app, token).await? {
                Lookup::Live(principal) => Caller { principal: Some(principal), ..Caller::default() },
                Lookup::Ended => refused(Refused::Ended),
                Lookup::Unknown => refused(Refused::Unknown),
            },
        })
    }

    /// [`Stage::Caller`] for an operation from `origin`: the caller, with
    /// where the operation comes from (for sessions it opens and the audit
    /// entries it writes).
    async fn caller_from(&self, origin: &Origin) -> Result<Caller, AppError> {
        let mut caller = self.caller(&origin.credentials).await?;
        caller.client = Client::new(origin.address, origin.user_agent.as_deref());
        if let Some(principal) = &mut caller.principal {
            principal.address = origin.address;
            principal.at = self.app.now();
        }
        Ok(caller)
    }

    /// Stage [`Stage::RateLimit`]: takes `operations` tokens for the
    /// client's address and for the caller's account.
    fn rate_limit(&self, origin: &Origin, caller: &Caller, operations: usize) -> Result<(), ServerError> {
        let refused = |wait: std::time::Duration, whom: &str| {
            self.metrics.rate_limited();
            let seconds = ratelimit::retry_after_seconds(wait);
            server_error(&AppError::RateLimited(format!("too many requests from {whom}: retry after {seconds} s")))
                .with_retry_after(seconds)
        };
        if let (Some(limiter), Some(address)) = (&self.rate_limits.per_address, origin.address)
            && let Err(wait) = limiter.take(&address, operations)
        {
            return Err(refused(wait, "this address"));
        }
        self.rate_limits
            .take_account(caller.principal.as_ref(), operations)
            .map_err(|wait| refused(wait, "this account"))
    }

    /// Runs a request (one operation or a batch) through every stage.
    pub async fn execute(&self, origin: &Origin, batch: BatchRequest, body: &[u8]) -> Answer {
        let started = Instant::now();
        let (requests, is_batch) = match batch {
            BatchRequest::Single(request) => (vec![request], false),
            BatchRequest::Batch(requests) => (requests, true),
        };
        let operation_name = match (is_batch, requests.first()) {
            (false, Some(request)) => admission::operation_label(request),
            _ => Some("batch".to_owned()),
        };
        let answer = self.execute_requests(origin, requests, is_batch, body).await;
        let outcome = match answer.verdict {
            Verdict::Refused(code) => code,
            Verdict::Executed => answer.first_error.unwrap_or("OK"),
        };
        self.metrics.record(operation_name.as_deref(), outcome, started.elapsed());
        answer
    }

    async fn execute_requests(
        &self,
        origin: &Origin,
        requests: Vec<async_graphql::Request>,
        is_batch: bool,
        body: &[u8],
    ) -> Answer {
        let config = &self.app.config;
        if requests.is_empty() {
            return Answer::from_app_error(&AppError::bad_input("body", "a batch needs at least one operation"));
        }
        if requests.len() > config.max_batch_operations {
            return Answer::refusal(admission::too_complex(
                format!(
                    "the batch holds {} operations; at most {} are allowed (maxBatchOperations)",
                    requests.len(),
                    config.max_batch_operations
                ),
                "maxBatchOperations",
            ));
        }
        // Stage: caller.
        let caller = match self.caller_from(origin).await {
            Ok(caller) => caller,
            Err(error) => return Answer::from_app_error(&error),
        };
        // Stage: rate limit (one token per operation of the batch).
        if let Err(refused) = self.rate_limit(origin, &caller, requests.len()) {
            return Answer::refusal(refused);
        }
        // Stages: persisted queries, then admission.
        let mut admitted = Vec::with_capacity(requests.len());
        let mut sign_ins = 0;
        for mut request in requests {
            let register = match self.persisted.resolve(&mut request) {
                Ok(register) => register,
                Err(refusal) => {
                    let refused = persisted_refusal(refusal);
                    if is_batch {
                        admitted.push(Err(refused));
                        continue;
                    }
                    return Answer::refusal(refused);
                }
            };
            match self.admit(request).and_then(|one| self.within_scope(&caller, one)) {
                Ok(one) => {
                    if let (Some(hash), Some(_)) = (register, &caller.principal) {
                        self.persisted.remember(hash, &one.request.query);
                    }
                    sign_ins += one.sign_ins;
                    admitted.push(Ok(one));
                }
                Err(refused) if is_batch => admitted.push(Err(refused)),
                Err(refused) => return Answer::refusal(refused),
            }
        }
        if sign_ins > admission::MAX_SIGN_INS {
            return Answer::refusal(admission::too_complex(
                format!(
                    "the request signs in {sign_ins} times; at most {} sign-in is allowed per request",
                    admission::MAX_SIGN_INS
                ),
                "maxSignInsPerRequest",
            ));
        }
        // Stage: idempotency (a single mutation with the header; a query
        // changes nothing and is simply run).
        let claim = match (&origin.idempotency_key, &caller.principal, admitted.as_slice()) {
            (Some(_), _, _) if is_batch => {
                return Answer::from_app_error(&AppError::bad_input(
                    "Idempotency-Key",
                    "applies to a single operation, not to a batch",
                ));
            }
            (Some(_), _, [Ok(one)]) if one.unrepeatable => {
                return Answer::from_app_error(&AppError::bad_input(
                    "Idempotency-Key",
                    "does not apply to signing in, changing a password or ending sessions: their answers are never \
                     stored",
                ));
            }
            (Some(key), Some(principal), [Ok(one)]) if one.kind == OperationType::Mutation => {
                match idempotency::claim(&self.app, principal, key, body).await {
                    Ok(Claim::Run(id)) => Some(id),
                    Ok(Claim::Replay { response, reads }) => {
                        // The stored answer is read again: audited again,
                        // or not answered.
                        if let Err(error) = audit::record_reads_again(&self.app, principal, &reads).await {
                            self.metrics.audit_failed();
                            return Answer::from_app_error(&error);
                        }
                        let first_error = stored_first_error(&response);
                        return Answer { verdict: Verdict::Executed, retry_after: None, body: response, first_error };
                    }
                    Err(error) => return Answer::from_app_error(&error),
                }
            }
            _ => None,
        };
        // Stages: deadline around execution (the requests of a batch run one
        // after another, as async-graphql runs a batch).
        let mut trails = Vec::with_capacity(admitted.len());
        let run = async {
            let mut responses = Vec::with_capacity(admitted.len());
            for one in admitted {
                let response = match one {
                    Ok(one) => {
                        let (response, reader, trail) = self.run_one(&caller, one).await;
                        trails.push((reader, trail));
                        response
                    }
                    Err(refused) => Response::from_errors(vec![refused]),
                };
                responses.push(response);
            }
            responses
        };
        let deadline = config.request_deadline;
        let Ok(responses) = tokio::time::timeout(deadline, run).await else {
            // Dropping the execution rolled back any transaction it had open.
            self.metrics.deadline_exceeded();
            if let Some(id) = claim
                && let Err(error) = idempotency::release(&self.app, id).await
            {
                tracing::error!(code = error.code(), "releasing an idempotency key failed");
            }
            return Answer::from_app_error(&AppError::DeadlineExceeded(deadline));
        };
        // What a stored answer will carry, for its replays' audit.
        let reads = match (claim, trails.first()) {
            (Some(_), Some((_, trail))) => trail.entries(),
            _ => Vec::new(),
        };
        // The answer is written while its values are still in this thread's
        // cache (the audit's statement below may resume the request on
        // another worker); it is only a buffer until the audit is durable.
        let succeeded = !is_batch && responses.iter().all(|r| r.errors.is_empty());
        let max_bytes = config.max_response_bytes;
        let answer = if is_batch {
            let (body, first_error) = batch_json_capped(&responses, max_bytes);
            Answer { verdict: Verdict::Executed, retry_after: None, body, first_error }
        } else {
            match responses.into_iter().next() {
                Some(response) => single_answer(response, max_bytes),
                None => Answer::from_app_error(&AppError::Internal(anyhow::anyhow!("no response"))),
            }
        };
        // Stage: read audit. Every read of personal data is audited before
        // the data leaves; if the audit cannot be written, the data does not
        // leave either.
        for (reader, trail) in &trails {
            if let Some(principal) = reader
                && let Err(error) = audit::flush_reads(&self.app, principal, trail).await
            {
                self.metrics.audit_failed();
                if let Some(id) = claim {
                    let _ = idempotency::release(&self.app, id).await;
                }
                return Answer::from_app_error(&error);
            }
        }
        if let Some(id) = claim {
            // A mutation that ran is remembered with whatever answer it got,
            // so a retry never runs it twice; a refused one wrote nothing and
            // is forgotten, so the corrected retry runs.
            let stored = if succeeded {
                idempotency::complete(&self.app, id, &answer.body, &reads).await
            } else {
                idempotency::release(&self.app, id).await
            };
            if let Err(error) = stored {
                tracing::error!(code = error.code(), "storing an idempotent response failed");
            }
        }
        answer
    }

    /// Stages persisted-query resolution happened before; this is
    /// [`Stage::Admission`] for one request.
    fn admit(&self, request: async_graphql::Request) -> Result<Admitted, ServerError> {
        admission::admit(self, request)
    }

    /// For a caller with an API key: the admitted operation, if it is
    /// within the key's scope; otherwise `FORBIDDEN` naming the scope.
    fn within_scope(&self, caller: &Caller, admitted: Admitted) -> Result<Admitted, ServerError> {
        let Some(key) = caller.principal.as_ref().and_then(|p| p.key.as_ref()) else { return Ok(admitted) };
        match key.scope.permits(admitted.kind == OperationType::Mutation, &admitted.root_fields) {
            Ok(()) => Ok(admitted),
            Err(why) => Err(server_error(&AppError::forbidden(why))),
        }
    }

    /// Executes one admitted request with its read trail; the response
    /// comes back polished and shaped, with the caller as this operation
    /// (its name set) and the personal fields it read.
    async fn run_one(
        &self,
        caller: &Caller,
        admitted: Admitted,
    ) -> (Response, Option<crate::auth::Principal>, Arc<ReadTrail>) {
        let Admitted { request, document, operation_name, variables, kind, .. } = admitted;
        let mut caller = caller.clone();
        if let Some(principal) = &mut caller.principal {
            principal.operation = operation_name.clone();
        }
        let trail = Arc::new(ReadTrail::default());
        let loader = DataLoader::with_cache(
            AppLoader { db: self.app.db.clone(), principal: caller.principal.clone() },
            tokio::spawn,
            RequestCache::new(),
        );
        // A router's entity batch: load every representation's row up
        // front, a statement per type, whatever the batch size.
        if caller.principal.is_some()
            && kind == OperationType::Query
            && request.query.contains("_entities")
            && let Err(error) = crate::graphql::prefetch::entities(&loader, &request.variables).await
        {
            return (Response::from_errors(vec![server_error(&error)]), caller.principal, trail);
        }
        let reader = caller.principal.clone();
        let request = request.data(caller).data(loader).data(trail.clone());
        let mut response = self.schema.execute(request).await;
        self.finish(&document, operation_name.as_deref(), &variables, &mut response);
        (response, reader, trail)
    }

    /// Stage [`Stage::Shaping`]: codes and messages on every error, the
    /// data in the shape the specification requires.
    fn finish(
        &self,
        document: &async_graphql::parser::types::ExecutableDocument,
        operation_name: Option<&str>,
        variables: &async_graphql::Variables,
        response: &mut Response,
    ) {
        shape::shape_response(&self.types, document, operation_name, variables, response);
        polish::polish_operation_errors(&self.types, document, variables, &mut response.errors);
    }

    /// Polishes the errors of an operation that never ran.
    fn finish_errors(
        &self,
        document: &async_graphql::parser::types::ExecutableDocument,
        variables: &async_graphql::Variables,
        errors: &mut [ServerError],
    ) {
        polish::polish_operation_errors(&self.types, document, variables, errors);
    }

    /// Polishes errors of a response that did not come from execution.
    pub fn polish(&self, errors: &mut [ServerError]) {
        polish::polish_errors(&self.types, errors);
    }
}

/// The answer to one operation: refused as a whole when it has no data and
/// either never ran (its errors have no path: the document did not
/// validate) or its first error is the server's (an outage, the deadline, a
/// fault), or all its errors are a rate's (a sign-in waiting too long for
/// the password work, an address locked out), so that transports can say so
/// (a 400, a 503 or a 429 with `Retry-After`).
fn single_answer(response: Response, max_bytes: usize) -> Answer {
    let never_ran = !response.errors.is_empty() && response.errors.iter().all(|e| e.path.is_empty());
    let server_failed =
        response.errors.first().is_some_and(|e| matches!(code_of(e), "UNAVAILABLE" | "DEADLINE_EXCEEDED" | "INTERNAL"));
    let rate_limited = !response.errors.is_empty() && response.errors.iter().all(|e| code_of(e) == "RATE_LIMITED");
    let failed = response.data == Value::Null && (never_ran || server_failed || rate_limited);
    let verdict = match response.errors.first() {
        Some(first) if failed => Verdict::Refused(code_of(first)),
        _ => Verdict::Executed,
    };
    let retry_after = response.errors.first().and_then(retry_after_of);
    let (body, first_error) = capped(&response, max_bytes, max_bytes);
    Answer { verdict, retry_after, body, first_error }
}

/// The code of a stored answer's first error, if it has one.
fn stored_first_error(body: &str) -> Option<&'static str> {
    #[derive(serde::Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<ServerError>,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Body {
        One(Errors),
        Many(Vec<Errors>),
    }
    // Only answers without errors are stored: most replays are not parsed.
    if !body.contains("\"errors\"") {
        return None;
    }
    match serde_json::from_str::<Body>(body) {
        Ok(Body::One(one)) => one.errors.first().map(code_of),
        Ok(Body::Many(many)) => many.iter().filter_map(|one| one.errors.first()).map(code_of).next(),
        Err(_) => Some("INTERNAL"),
    }
}

/// The error of a request whose persisted query cannot run.
fn persisted_refusal(refusal: Refusal) -> ServerError {
    let error = match refusal {
        // Apollo clients look for this message, then resend the query text
        // with its hash; the code stays one of the contract's.
        Refusal::NotFound => AppError::PersistedQueryNotFound,
        Refusal::BadInput(why) => AppError::bad_input("extensions.persistedQuery", why),
        Refusal::Unsupported => AppError::bad_input("extensions.persistedQuery", "persisted queries are switched off"),
        Refusal::NotListed => AppError::forbidden(
            "only registered operations run on this server (safelist): this operation is not one of them",
        ),
    };
    server_error(&error)
}

trait WithRetryAfter {
    fn with_retry_after(self, seconds: u64) -> Self;
}

impl WithRetryAfter for ServerError {
    fn with_retry_after(mut self, seconds: u64) -> Self {
        self.extensions.get_or_insert_with(Default::default).set("retryAfterSeconds", seconds);
        self
    }
}
