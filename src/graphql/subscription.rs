//! Live events: the root `Subscription` (positive results, break-glass
//! alerts and contacts handed over, with resume) and `positiveResultHistory`, the pages of the same
//! events for a client further behind than the replay window.

use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};

use super::break_glass::BreakGlassAlert;
use super::care::LabTest;
use super::context::{signed_in, state};
use super::pages::page_size;
use super::patients::Patient;
use crate::auth::{Principal, policy};
use crate::error::AppError;
use crate::events::{BREAK_GLASS, CONTACT_HANDED_OVER, CaseEvent, Cursor, Loaded, POSITIVE_RESULT, load_events};
use crate::state::AppState;
use async_graphql::{ErrorExtensions, Subscription};
use futures_util::{Stream, StreamExt};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

pub struct Subscription;

/// Live updates. Subscribe over WebSocket (`/graphql/ws`, both the
/// `graphql-transport-ws` and the legacy `graphql-ws` sub-protocol) or
/// Server-Sent Events (`/graphql/stream`).
#[Subscription]
impl Subscription {
    /// Every new positive result (陽性) of the patients whose responsible
    /// health centre is the caller's (health centre staff) or lies in the
    /// caller's prefecture (prefecture staff), at the moment the result was
    /// recorded. With `after`, every event after that cursor is replayed
    /// first, then the stream continues live, with no gap and no duplicate.
    /// An event is sent only while its patient is within the caller's reach
    /// at the moment it is sent (a patient transferred out of the caller's
    /// area since is skipped, in the replay too), under the same field
    /// rules and read audit as a query. At most `replayWindow` (10,000 by
    /// default) events are replayed: a client further behind is told to
    /// read them with `positiveResultHistory` first. A subscriber that
    /// falls too far behind receives a `RATE_LIMITED` error carrying
    /// `extensions.lastCursor` and is disconnected; it resumes with that
    /// cursor.
    async fn positive_results(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `cursor` of the last event received; omitted, only new events are sent.")] after: Option<
            String,
        >,
    ) -> Result<impl Stream<Item = Result<PositiveResultEvent>> + use<>> {
        let principal = signed_in(ctx)?.clone();
        policy::may_receive_positive_results(&principal)?;
        let events = live_events(state(ctx), principal, vec![POSITIVE_RESULT], after.as_deref()).await?;
        Ok(events.map(|event| event.map(PositiveResultEvent)))
    }

    /// Every break-glass access opened to a patient of the caller's health
    /// centre (health centre staff only): who opened the record, why, and
    /// until when. Resumes with `after` and skips patients who have left
    /// the caller's reach, exactly as `positiveResults`.
    async fn break_glass_alerts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `cursor` of the last event received; omitted, only new events are sent.")] after: Option<
            String,
        >,
    ) -> Result<impl Stream<Item = Result<BreakGlassAlert>> + use<>> {
        let principal = signed_in(ctx)?.clone();
        policy::may_receive_break_glass_alerts(&principal)?;
        let events = live_events(state(ctx), principal, vec![BREAK_GLASS], after.as_deref()).await?;
        Ok(events.map(|event| event.map(BreakGlassAlert)))
    }

    /// Every case event of the caller's health centre (health centre
    /// staff) or of the centres of the caller's prefecture (prefecture
    /// staff), typed by `kind`: new positives, positives still undecided,
    /// emergency and warning signs in health reports, patients not
    /// reported, transfers in, contacts handed over, break-glass accesses
    /// (health centre staff only) and changes to the work queue's items
    /// by colleagues. Resumes with `after` and skips patients who have left
    /// the caller's reach, exactly as `positiveResults`, under the same
    /// field rules and read audit. With `kinds`, only those.
    async fn case_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `cursor` of the last event received; omitted, only new events are sent.")] after: Option<
            String,
        >,
        #[graphql(desc = "Only these kinds; every kind the caller receives when omitted.")] kinds: Option<
            Vec<super::work::CaseEventKind>,
        >,
    ) -> Result<impl Stream<Item = Result<super::work::CaseEvent>> + use<>> {
        let principal = signed_in(ctx)?.clone();
        policy::may_receive_positive_results(&principal)?;
        let named = super::work::named_kinds(kinds, super::work::ALL_KINDS.map(|kind| kind.stored()), "kinds")?;
        let kinds = crate::services::case_events::receivable(&principal, named);
        if kinds.is_empty() {
            return Err(AppError::forbidden("break-glass alerts are pushed to the patients' health centres").into());
        }
        let events = live_events(state(ctx), principal, kinds, after.as_deref()).await?;
        Ok(events.map(|event| event.map(super::work::CaseEvent)))
    }

    /// Every close contact handed to the caller's health centre (health
    /// centre staff) or to a centre in the caller's prefecture (prefecture
    /// staff) by the centre that registered them (`handOverContact`).
    /// Resumes with `after` and skips records that have left the caller's
    /// reach since, exactly as `positiveResults`, under the same field
    /// rules and read audit.
    async fn contact_handovers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `cursor` of the last event received; omitted, only new events are sent.")] after: Option<
            String,
        >,
    ) -> Result<impl Stream<Item = Result<super::contacts::ContactHandover>> + use<>> {
        let principal = signed_in(ctx)?.clone();
        policy::may_receive_positive_results(&principal)?;
        let events = live_events(state(ctx), principal, vec![CONTACT_HANDED_OVER], after.as_deref()).await?;
        Ok(events.map(|event| event.map(super::contacts::ContactHandover)))
    }
}

/// The outbox events of `kinds` for the caller's audience: those after
/// `after` replayed first (at most `replayWindow`), then the live ones,
/// with no gap and no duplicate, each only while its patient is within
/// the caller's reach at the moment it is sent.
pub(super) async fn live_events(
    state: &AppState,
    principal: Principal,
    kinds: Vec<&'static str>,
    after: Option<&str>,
) -> Result<impl Stream<Item = Result<Arc<CaseEvent>>> + use<>, AppError> {
    let audience = policy::live_audience(&principal)?;
    let after = after.map(parse_cursor).transpose()?;
    let state = state.clone();
    if let Some(after) = after {
        let window = state.config.replay_window;
        if Box::pin(crate::events::more_than(&state.db, after, audience, &kinds, window)).await? {
            return Err(replay_window_exceeded(window));
        }
    }
    // Listen before replaying, so that nothing falls between the two.
    let mut live = state.hub.subscribe(audience);
    let guard = state.hub.track();
    tracing::info!(session_id = principal.session_id, ?audience, ?kinds, "subscribed");
    Ok(async_stream::stream! {
        let _guard = guard;
        let mut last = after.unwrap_or_default();
        if after.is_some() {
            loop {
                // Settled events only: one not settled yet comes live.
                // Boxed, as every statement awaited in a stream: a future
                // held inline would size the stream, and so every idle
                // subscription, for its largest step.
                let batch = match Box::pin(load_events(&state.db, last, Some(audience), Some(&kinds), REPLAY_BATCH)).await {
                    Ok(Loaded { events, .. }) => events,
                    Err(error) => {
                        yield Err(error.into());
                        return;
                    }
                };
                let full = batch.len() as u64 == REPLAY_BATCH;
                for event in batch {
                    last = Cursor::of(&event.event);
                    match in_reach(&state, &principal, &event).await {
                        Ok(true) => yield Ok(Arc::new(event)),
                        Ok(false) => continue,
                        Err(error) => {
                            yield Err(error.into());
                            return;
                        }
                    }
                }
                if !full {
                    break;
                }
            }
        }
        loop {
            match live.recv().await {
                Ok(event) => {
                    state.hub.taken(&event);
                    let cursor = Cursor::of(&event.event);
                    if cursor <= last || !kinds.contains(&event.event.kind.as_str()) {
                        continue;
                    }
                    last = cursor;
                    match in_reach(&state, &principal, &event).await {
                        Ok(true) => yield Ok(event),
                        Ok(false) => continue,
                        Err(error) => {
                            yield Err(error.into());
                            return;
                        }
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(session_id = principal.session_id, missed, "subscriber fell behind; disconnected");
                    yield Err(lagged(last));
                    return;
                }
                Err(RecvError::Closed) => return,
            }
        }
    })
}

const REPLAY_BATCH: u64 = 500;

/// How long a history page waits for an unsettled event before answering.
const HISTORY_PATIENCE: std::time::Duration = std::time::Duration::from_millis(500);

/// A page of `positiveResultHistory`: the events after `after` that the
/// caller receives, oldest first.
pub async fn history(
    state: &AppState,
    principal: &Principal,
    after: Option<&str>,
    first: u64,
) -> Result<PositiveResultEventConnection, AppError> {
    policy::may_receive_positive_results(principal)?;
    let audience = policy::live_audience(principal)?;
    let after = after.map(parse_cursor).transpose()?.unwrap_or_default();
    // An event whose transaction is still open elsewhere holds back the
    // ones after it. Such a transaction usually commits within
    // milliseconds, so a page that would otherwise be empty waits for it a
    // little before answering "more to come" with nothing in it.
    let patience = tokio::time::Instant::now() + HISTORY_PATIENCE;
    let Loaded { events, pending } = loop {
        let loaded = load_events(&state.db, after, Some(audience), Some(&[POSITIVE_RESULT]), first + 1).await?;
        if !loaded.events.is_empty() || !loaded.pending || tokio::time::Instant::now() >= patience {
            break loaded;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let has_next_page = events.len() as u64 > first || pending;
    // Without an event, the page ends where it began: the client asks again
    // from the same cursor.
    let mut end_cursor = (after != Cursor::default()).then(|| after.to_string());
    let mut page = Vec::new();
    for event in events.into_iter().take(first as usize) {
        end_cursor = Some(Cursor::of(&event.event).to_string());
        if in_reach(state, principal, &event).await? {
            page.push(PositiveResultEvent(Arc::new(event)));
        }
    }
    Ok(PositiveResultEventConnection { events: page, has_next_page, end_cursor, after })
}

/// A page of positive results (Relay connection), oldest first.
pub struct PositiveResultEventConnection {
    events: Vec<PositiveResultEvent>,
    has_next_page: bool,
    end_cursor: Option<String>,
    after: Cursor,
}

/// A page of positive results (Relay connection), oldest first.
#[Object]
impl PositiveResultEventConnection {
    /// The events of the page, each with its cursor.
    async fn edges(&self) -> Vec<PositiveResultEventEdge> {
        self.events.iter().map(|event| PositiveResultEventEdge(PositiveResultEvent(event.0.clone()))).collect()
    }
    /// The events of the page.
    async fn nodes(&self) -> Vec<PositiveResultEvent> {
        self.events.iter().map(|event| PositiveResultEvent(event.0.clone())).collect()
    }
    /// How many positive results after `after` the caller receives (this
    /// page and the ones after it): those of patients within the caller's
    /// reach now, as each delivery checks. Costs one counting statement,
    /// run only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        let principal = signed_in(ctx)?;
        Ok(crate::services::case_events::count(state(ctx), principal, &[POSITIVE_RESULT], self.after).await?)
    }
    /// Whether more events follow `endCursor`, and the cursor to continue
    /// from: the next page's `after`, or `positiveResults(after:)` to
    /// continue live.
    async fn page_info(&self) -> super::pages::PageInfo {
        super::pages::PageInfo {
            has_next_page: self.has_next_page,
            has_previous_page: false,
            start_cursor: self.events.first().map(|event| Cursor::of(&event.0.event).to_string()),
            end_cursor: self.end_cursor.clone(),
        }
    }
}

/// A positive result with its cursor.
pub struct PositiveResultEventEdge(PositiveResultEvent);

/// A positive result with its cursor.
#[Object]
impl PositiveResultEventEdge {
    /// The event's cursor.
    async fn cursor(&self) -> String {
        Cursor::of(&self.0.0.event).to_string()
    }
    /// The event.
    async fn node(&self) -> &PositiveResultEvent {
        &self.0
    }
}

/// Whether the event's patient is within the subscriber's reach now.
pub(super) async fn in_reach(state: &AppState, principal: &Principal, event: &CaseEvent) -> Result<bool, AppError> {
    match policy::reaches_row(principal, &event.patient, event.patient_prefecture_id) {
        Some(answer) => Ok(answer),
        // Judged now, not when the subscription began: a break-glass access
        // may have expired since. Boxed: only this branch reads the
        // database, and its future should not size every subscription.
        None => Box::pin(reaches_now(state, principal, event.patient.id)).await,
    }
}

async fn reaches_now(state: &AppState, principal: &Principal, patient_id: i64) -> Result<bool, AppError> {
    let mut now = principal.clone();
    now.at = state.now();
    crate::services::patients::reaches(&state.db, &now, patient_id).await
}

fn replay_window_exceeded(window: u64) -> AppError {
    AppError::bad_input(
        "after",
        format!(
            "more than {window} events follow this cursor (replayWindow): read them with \
             `positiveResultHistory(after:)` first, then subscribe with its last cursor"
        ),
    )
}

pub(super) fn parse_cursor(cursor: &str) -> Result<Cursor, AppError> {
    Cursor::parse(cursor).ok_or_else(|| AppError::bad_input("after", "is not a cursor of this subscription"))
}

fn lagged(last: Cursor) -> async_graphql::Error {
    let error: async_graphql::Error = AppError::RateLimited(
        "the subscriber fell too far behind and is disconnected; resubscribe with `after` set to extensions.lastCursor"
            .to_owned(),
    )
    .into();
    error.extend_with(|_, extensions| extensions.set("lastCursor", last.to_string()))
}

/// A positive result pushed to a health centre or prefecture.
pub struct PositiveResultEvent(pub Arc<CaseEvent>);

/// A new positive result (陽性), as pushed to the responsible health centre.
#[Object]
impl PositiveResultEvent {
    /// The event's cursor: pass it as `after` to resume after this event.
    async fn cursor(&self) -> String {
        Cursor::of(&self.0.event).to_string()
    }
    /// When the result was recorded as positive.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.event.occurred_at
    }
    /// The positive test.
    async fn test(&self) -> Result<LabTest> {
        let test = self.0.test.clone();
        Ok(LabTest(test.ok_or_else(|| AppError::Internal(anyhow::anyhow!("positive result without test")))?))
    }
    /// The patient. Field rules apply here as in queries.
    async fn patient(&self) -> Patient {
        Patient(self.0.patient.clone())
    }
}

/// This area's part of the root `Query` (merged in `graphql/mod.rs`).
#[derive(Default)]
pub struct LiveQuery;

#[Object]
impl LiveQuery {
    /// The positive results that `positiveResults` pushes to the caller,
    /// oldest first, after a cursor (Relay connection): for a client that
    /// was away longer than the subscription replays. Continue live with
    /// `positiveResults(after:)` and the last `endCursor`. The same reach,
    /// field rules and read audit as the subscription.
    #[graphql(complexity = "super::limits::list_cost(first, 100, child_complexity)")]
    async fn positive_result_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cursor after which the page starts; omitted, from the first event.")] after: Option<
            String,
        >,
        #[graphql(desc = "Page size: 1 to 500, 100 by default.")] first: Option<i32>,
    ) -> Result<super::subscription::PositiveResultEventConnection> {
        let principal = signed_in(ctx)?;
        let state = state(ctx);
        let first = page_size(first, 100, state.config.max_page_size)?;
        Ok(super::subscription::history(state, principal, after.as_deref(), first).await?)
    }
}
