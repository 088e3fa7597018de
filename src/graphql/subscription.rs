//! The root `Subscription`: live positive results with resume.

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, Object, Result, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::context::{signed_in, state};
use super::types::{LabTest, Patient};
use crate::auth::{Principal, Role, policy};
use crate::error::AppError;
use crate::events::{Audience, Cursor, Loaded, PositiveEvent, load_events};
use crate::state::AppState;

pub struct Subscription;

/// The patient fields whose reading is audited when an event carries them.
const PERSONAL: [&str; 8] =
    ["nameKanji", "nameKana", "birthDate", "address", "phone", "email", "smartphoneId", "previousSmartphoneId"];

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
    /// A subscriber that falls too far behind receives a `RATE_LIMITED`
    /// error carrying `extensions.lastCursor` and is disconnected; it
    /// resumes with that cursor.
    async fn positive_results(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `cursor` of the last event received; omitted, only new events are sent.")] after: Option<
            String,
        >,
    ) -> Result<impl Stream<Item = Result<PositiveResultEvent>> + use<>> {
        let principal = signed_in(ctx)?.clone();
        let audience = match (principal.role, principal.health_centre_id, principal.prefecture_id) {
            (Role::HealthCentreStaff, Some(centre), _) => Audience::HealthCentre(centre),
            (Role::PrefectureStaff, _, Some(prefecture)) => Audience::Prefecture(prefecture),
            _ => {
                return Err(AppError::forbidden("positive results are pushed to health centres and prefectures").into());
            }
        };
        let after = after.as_deref().map(parse_cursor).transpose()?;
        let state = state(ctx).clone();
        let look_ahead = ctx.look_ahead();
        let personal: Vec<&'static str> =
            PERSONAL.iter().copied().filter(|field| look_ahead.field("patient").field(field).exists()).collect();
        // Listen before replaying, so that nothing falls between the two.
        let mut live = state.hub.subscribe(audience);
        let guard = state.hub.track();
        tracing::info!(session_id = principal.session_id, ?audience, "subscribed to positive results");
        Ok(async_stream::stream! {
            let _guard = guard;
            let mut last = after.unwrap_or_default();
            if after.is_some() {
                loop {
                    // Settled events only: one not settled yet comes live.
                    let batch = match load_events(&state.db, last, Some(audience), REPLAY_BATCH).await {
                        Ok(Loaded { events, .. }) => events,
                        Err(error) => {
                            yield Err(error.into());
                            return;
                        }
                    };
                    let full = batch.len() as u64 == REPLAY_BATCH;
                    for event in batch {
                        last = Cursor::of(&event.event);
                        let delivered = deliver(&state, &principal, Arc::new(event), &personal).await;
                        let failed = delivered.is_err();
                        yield delivered;
                        if failed {
                            return;
                        }
                    }
                    if !full {
                        break;
                    }
                }
            }
            let mut check = tokio::time::interval(state.config.session_check_interval);
            check.tick().await;
            loop {
                let next = tokio::select! {
                    received = live.recv() => Next::Event(received),
                    _ = check.tick() => Next::Check,
                };
                match next {
                    Next::Event(Ok(event)) => {
                        let cursor = Cursor::of(&event.event);
                        if cursor <= last {
                            continue;
                        }
                        last = cursor;
                        let delivered = deliver(&state, &principal, event, &personal).await;
                        let failed = delivered.is_err();
                        yield delivered;
                        if failed {
                            return;
                        }
                    }
                    Next::Event(Err(RecvError::Lagged(missed))) => {
                        tracing::warn!(session_id = principal.session_id, missed, "subscriber fell behind; disconnected");
                        yield Err(lagged(last));
                        return;
                    }
                    Next::Event(Err(RecvError::Closed)) => return,
                    Next::Check => match crate::services::accounts::session_alive(&state, principal.session_id).await {
                        Ok(true) => {}
                        Ok(false) => {
                            yield Err(AppError::Unauthenticated("the session has ended: sign in again and resume with `after`").into());
                            return;
                        }
                        Err(error) => {
                            yield Err(error.into());
                            return;
                        }
                    },
                }
            }
        })
    }
}

const REPLAY_BATCH: u64 = 500;

enum Next {
    Event(std::result::Result<Arc<PositiveEvent>, RecvError>),
    Check,
}

fn parse_cursor(cursor: &str) -> Result<Cursor, AppError> {
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

/// Audits the personal fields an event will show, then hands it out. If
/// the audit cannot be written, the event is not delivered.
async fn deliver(
    state: &AppState,
    principal: &Principal,
    event: Arc<PositiveEvent>,
    personal: &[&'static str],
) -> Result<PositiveResultEvent> {
    if !personal.is_empty() && policy::may_read_personal(principal, &event.patient) {
        crate::services::audit::record(
            &state.db,
            principal,
            "READ_PERSONAL",
            Some(event.patient.id),
            personal,
            state.now(),
        )
        .await?;
    }
    Ok(PositiveResultEvent(event))
}

/// A positive result pushed to a health centre or prefecture.
pub struct PositiveResultEvent(pub Arc<PositiveEvent>);

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
    async fn test(&self) -> LabTest {
        LabTest(self.0.test.clone())
    }
    /// The patient. Field rules apply here as in queries.
    async fn patient(&self) -> Patient {
        Patient(self.0.patient.clone())
    }
}
