//! Operations over the streaming transports (WebSocket, Server-Sent
//! Events): a subscription, or a query or mutation that answers once.
//!
//! A stream passes the same stages as a request when it starts (the caller
//! looked up now, persisted queries and safelist, admission, rate limits),
//! and then, for every item it yields:
//!
//! - the personal fields the item read are audited before it leaves
//!   (the read trail is taken after each item; if the audit cannot be
//!   written the stream ends with an error instead of the item);
//! - the item is shaped and its errors polished as any response;
//! - it leaves only with a permit of its session's [`SessionWatch`]: a
//!   session that has ended (revoked on this server or another, or past its
//!   absolute expiry) ends its streams at once with an `UNAUTHENTICATED`
//!   notice, and a revocation waits for a delivery under way;
//! - a query or mutation must answer within the deadline.
//!
//! Every so often (`session_check_interval`) an open stream looks its
//! session up again: the safety net for a session ended by other means, and
//! the use that keeps an idle session open while a stream runs.
//!
//! Streams are bounded: at most `max_sockets_per_account` connections (and
//! Server-Sent Events responses) per account or patient, and at most
//! `max_streams_per_socket` operations at once on one WebSocket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::dataloader::DataLoader;
use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response, ServerError};
use futures_util::stream::{BoxStream, StreamExt};
use tokio::sync::OwnedRwLockReadGuard;

use super::admission::{self, Admitted};
use super::{Answer, Origin, Pipeline, Verdict, code_of, persisted_refusal, server_error, to_json, to_json_capped};
use crate::auth::Principal;
use crate::auth::revocation::SessionWatch;
use crate::error::AppError;
use crate::graphql::loaders::{AppLoader, RequestCache};
use crate::services::audit::{self, ReadTrail};

/// One item of a stream, ready to leave.
#[derive(Debug)]
pub struct Delivery {
    /// The GraphQL response, as JSON (`{"data":…,"errors":[…]}`).
    pub payload: String,
    /// Held until the payload has been handed to the connection: a
    /// revocation of the session waits for it.
    pub permit: Option<OwnedRwLockReadGuard<()>>,
    /// This is the notice that the session has ended, the stream's last
    /// item; the connection closes after it.
    pub session_ended: bool,
}

/// The items of one stream.
pub type Deliveries = BoxStream<'static, Delivery>;

/// Who holds streams open, for the per-account bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Holder {
    Account(i64),
    Patient(i64),
    Session(i64),
}

impl Holder {
    fn of(principal: &Principal) -> Holder {
        match (principal.account_id, principal.patient_id) {
            (Some(account), _) => Holder::Account(account),
            (None, Some(patient)) => Holder::Patient(patient),
            (None, None) => Holder::Session(principal.session_id),
        }
    }
}

/// Open connections per holder.
#[derive(Debug, Default)]
pub(crate) struct SocketCounts(Mutex<HashMap<Holder, usize>>);

impl SocketCounts {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<Holder, usize>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A connection's place in its holder's count, given back when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    pipeline: Arc<Pipeline>,
    holder: Holder,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.pipeline.sockets.counts();
        if let Some(open) = counts.get_mut(&self.holder) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                counts.remove(&self.holder);
            }
        }
    }
}

/// A refusal for being over a stream bound; `limit` names it.
pub fn over_bound(message: String, limit: &str) -> ServerError {
    let mut error = server_error(&AppError::RateLimited(message));
    error.extensions.get_or_insert_with(Default::default).set("limit", limit);
    error
}

/// What the stage loop waits for next.
enum Step {
    Item(Option<Box<Response>>),
    SessionEnded,
    Check,
    Deadline,
}

impl Pipeline {
    /// Counts a new connection (a WebSocket, or a Server-Sent Events
    /// response) of `principal`, or refuses it past the per-account bound.
    pub fn open_connection(self: &Arc<Self>, principal: &Principal) -> Result<ConnectionSlot, ServerError> {
        let most = self.app.config.max_sockets_per_account;
        let holder = Holder::of(principal);
        let mut counts = self.sockets.counts();
        let open = counts.entry(holder).or_default();
        if *open >= most {
            self.metrics.rate_limited();
            return Err(over_bound(
                format!("at most {most} connections may be open at once per account (maxSocketsPerAccount)"),
                "maxSocketsPerAccount",
            ));
        }
        *open += 1;
        Ok(ConnectionSlot { pipeline: self.clone(), holder })
    }

    /// Starts one operation over a streaming transport. `watch` is the
    /// connection's session watch (a WebSocket's); without one, the
    /// session's is taken.
    pub async fn stream(
        self: &Arc<Self>,
        origin: &Origin,
        request: Request,
        watch: Option<Arc<SessionWatch>>,
    ) -> Result<Deliveries, Answer> {
        let started = Instant::now();
        let label = admission::operation_label(&request);
        let result = self.start(origin, request, watch, label.clone(), started).await;
        if let Err(answer) = &result
            && let Verdict::Refused(code) = answer.verdict
        {
            self.metrics.record(label.as_deref(), code, started.elapsed());
        }
        result
    }

    async fn start(
        self: &Arc<Self>,
        origin: &Origin,
        mut request: Request,
        watch: Option<Arc<SessionWatch>>,
        label: Option<String>,
        started: Instant,
    ) -> Result<Deliveries, Answer> {
        // Stage: caller, looked up now (not when the connection opened).
        let mut caller = self.caller_from(origin).await.map_err(|e| Answer::from_app_error(&e))?;
        if watch.is_some() && caller.principal.is_none() {
            // The connection's session has ended since it opened.
            let refused = caller.refused.map(|r| r.message()).unwrap_or("sign in first: no valid session");
            return Err(Answer::from_app_error(&AppError::Unauthenticated(refused)));
        }
        // A stream without a connection of its own (Server-Sent Events)
        // counts as one.
        let slot = match (&watch, &caller.principal) {
            (None, Some(principal)) => Some(self.open_connection(principal).map_err(Answer::refusal)?),
            _ => None,
        };
        self.rate_limit(origin, &caller, 1).map_err(Answer::refusal)?;
        let register = self.persisted.resolve(&mut request).map_err(|r| Answer::refusal(persisted_refusal(r)))?;
        let admitted = self.admit(request).and_then(|one| self.within_scope(&caller, one)).map_err(Answer::refusal)?;
        if admitted.sign_ins > admission::MAX_SIGN_INS {
            return Err(Answer::refusal(admission::too_complex(
                format!(
                    "the request signs in {} times; at most {} sign-in is allowed per request",
                    admitted.sign_ins,
                    admission::MAX_SIGN_INS
                ),
                "maxSignInsPerRequest",
            )));
        }
        if let (Some(hash), Some(_)) = (register, &caller.principal) {
            self.persisted.remember(hash, &admitted.request.query);
        }
        let Admitted { request, document, operation_name, variables, kind, .. } = admitted;
        if let Some(principal) = &mut caller.principal {
            principal.operation = operation_name.clone();
        }
        let watch = match (&caller.principal, watch) {
            (Some(principal), Some(watch)) if watch.session_id() == principal.session_id => Some(watch),
            (Some(principal), _) => Some(self.app.revocations.watch(principal.session_id)),
            (None, _) => None,
        };
        let trail = Arc::new(ReadTrail::default());
        let loader = DataLoader::with_cache(
            AppLoader { db: self.app.db.clone(), principal: caller.principal.clone() },
            tokio::spawn,
            RequestCache::new(),
        );
        // A subscription's items show the data as it is when each is sent.
        if kind == OperationType::Subscription {
            loader.enable_all_cache(false);
        }
        let principal = caller.principal.clone();
        let request = request.data(caller).data(loader).data(trail.clone());
        let mut inner = self.schema.execute_stream(request).peekable();
        // The first poll validates the document (depth, complexity and the
        // rest): a document that does not validate is refused as on POST,
        // before the stream starts, instead of being its first item.
        if let std::task::Poll::Ready(Some(first)) = futures_util::poll!(std::pin::Pin::new(&mut inner).peek())
            && first.data == async_graphql::Value::Null
            && !first.errors.is_empty()
            && first.errors.iter().all(|error| error.path.is_empty())
        {
            let mut errors = first.errors.clone();
            self.finish_errors(&document, &variables, &mut errors);
            let code = errors.first().map(code_of).unwrap_or("BAD_USER_INPUT");
            self.metrics.record(label.as_deref(), code, started.elapsed());
            return Err(Answer {
                verdict: Verdict::Refused(code),
                retry_after: None,
                body: to_json(&Response::from_errors(errors)),
                first_error: Some(code),
            });
        }
        if kind == OperationType::Subscription {
            self.metrics.record(label.as_deref(), "OK", started.elapsed());
        }
        let pipeline = self.clone();
        // Every statement the stream awaits is boxed: the stream lives as
        // long as its subscription, and a future held inline would size it
        // (and every idle subscription) for its largest step.
        let items = async_stream::stream! {
            let _slot = slot;
            let app = pipeline.app.clone();
            let mut inner = inner;
            let deadline = (kind != OperationType::Subscription)
                .then(|| tokio::time::Instant::now() + app.config.request_deadline);
            let mut check = tokio::time::interval(app.config.session_check_interval);
            check.reset();
            // The session's absolute end, by the server's clock.
            let expiry = principal.as_ref().map(|p| (p.session_expires_at - app.now()).to_std().unwrap_or_default());
            let expires = tokio::time::sleep(expiry.unwrap_or(std::time::Duration::from_secs(365 * 24 * 3600)));
            tokio::pin!(expires);
            loop {
                let step = tokio::select! {
                    biased;
                    () = ended(watch.as_deref()) => Step::SessionEnded,
                    () = &mut expires, if expiry.is_some() => Step::SessionEnded,
                    _ = check.tick(), if principal.is_some() => Step::Check,
                    () = until(deadline) => Step::Deadline,
                    item = inner.next() => Step::Item(item.map(Box::new)),
                };
                match step {
                    Step::Item(None) => break,
                    Step::Item(Some(mut response)) => {
                        let response = &mut *response;
                        // Stage: read audit, before the item leaves.
                        if let Some(principal) = &principal
                            && let Err(error) = Box::pin(audit::flush_reads(&app, principal, &trail)).await
                        {
                            pipeline.metrics.audit_failed();
                            yield plain(Response::from_errors(vec![server_error(&error)]));
                            break;
                        }
                        // Stage: shaping.
                        pipeline.finish(&document, operation_name.as_deref(), &variables, response);
                        if kind != OperationType::Subscription {
                            let outcome = response.errors.first().map(code_of).unwrap_or("OK");
                            pipeline.metrics.record(label.as_deref(), outcome, started.elapsed());
                        }
                        let permit = match &watch {
                            Some(watch) => match watch.permit_owned().await {
                                Some(permit) => Some(permit),
                                None => {
                                    yield session_ended();
                                    break;
                                }
                            },
                            None => None,
                        };
                        let payload = to_json_capped(response, app.config.max_response_bytes);
                        yield Delivery { payload, permit, session_ended: false };
                    }
                    Step::SessionEnded => {
                        if let Some(watch) = &watch {
                            Box::pin(app.revocations.revoke(&[watch.session_id()])).await;
                        }
                        yield session_ended();
                        break;
                    }
                    Step::Check => {
                        let Some(principal) = &principal else { continue };
                        match Box::pin(crate::services::accounts::session_alive(&app, principal.session_id)).await {
                            Ok(true) => {}
                            Ok(false) => {
                                Box::pin(app.revocations.revoke(&[principal.session_id])).await;
                                yield session_ended();
                                break;
                            }
                            Err(error) => {
                                yield plain(Response::from_errors(vec![server_error(&error)]));
                                break;
                            }
                        }
                    }
                    Step::Deadline => {
                        pipeline.metrics.deadline_exceeded();
                        let deadline = app.config.request_deadline;
                        pipeline.metrics.record(label.as_deref(), "DEADLINE_EXCEEDED", started.elapsed());
                        yield plain(Response::from_errors(vec![server_error(&AppError::DeadlineExceeded(deadline))]));
                        break;
                    }
                }
            }
        };
        Ok(items.boxed())
    }
}

/// Resolves when the watched session has ended; never without a watch.
async fn ended(watch: Option<&SessionWatch>) {
    match watch {
        Some(watch) => watch.ended().await,
        None => std::future::pending().await,
    }
}

/// Resolves at the deadline; never without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn plain(response: Response) -> Delivery {
    Delivery { payload: to_json(&response), permit: None, session_ended: false }
}

/// The last item of a stream whose session has ended.
fn session_ended() -> Delivery {
    Delivery { payload: session_ended_payload(), permit: None, session_ended: true }
}

/// The response that tells a stream its session has ended, as JSON.
pub fn session_ended_payload() -> String {
    let error =
        server_error(&AppError::Unauthenticated("the session has ended: sign in again and resume with `after`"));
    to_json(&Response::from_errors(vec![error]))
}
