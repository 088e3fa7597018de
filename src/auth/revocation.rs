//! Ending sessions at once, everywhere they are in use.
//!
//! A stream (a WebSocket connection, a Server-Sent Events response) holds a
//! [`SessionWatch`] of the session it runs for. Every change that ends
//! sessions (logout, logout everywhere, ending one's own session, a
//! password change, a disabled account, a new organisation, a patient's
//! recorded outcome) names the ended sessions to [`Revocations::revoke`]
//! before it returns: each watch is marked, its streams learn of it and
//! close, and `revoke` waits until a delivery that was under way when the
//! mark was set has finished (bounded by [`DRAIN`]). A delivery asks [`SessionWatch::permit`] first, so no
//! payload leaves for a session after the change that ended it returned.
//!
//! Other replicas learn of ended sessions through PostgreSQL `NOTIFY` on
//! [`CHANNEL`], sent in the transaction that ended them, and revoke their
//! own watches the same way. On SQLite (one process) the local call is
//! all there is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{OwnedRwLockReadGuard, RwLock, RwLockReadGuard, watch};

/// The PostgreSQL notification channel of ended sessions; the payload is
/// their IDs, comma-separated.
pub const CHANNEL: &str = "hersys_sessions";

/// Longest a revocation waits for a delivery under way to finish (a client
/// that does not read can hold a send for a while; its stream is closed
/// anyway).
pub const DRAIN: Duration = Duration::from_secs(1);

/// The watch of one session, held by the streams that run for it.
#[derive(Debug)]
pub struct SessionWatch {
    session_id: i64,
    ended: watch::Sender<bool>,
    /// Deliveries hold it shared; a revocation takes it exclusively, after
    /// marking the watch, to wait for the deliveries under way.
    gate: Arc<RwLock<()>>,
}

impl SessionWatch {
    fn new(session_id: i64) -> Self {
        SessionWatch { session_id, ended: watch::channel(false).0, gate: Arc::new(RwLock::new(())) }
    }

    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// Whether the session has been ended.
    pub fn is_ended(&self) -> bool {
        *self.ended.borrow()
    }

    /// Resolves once the session has been ended (at once if it has).
    pub async fn ended(&self) {
        let mut ended = self.ended.subscribe();
        // The sender lives as long as `self`.
        let _ = ended.wait_for(|ended| *ended).await;
    }

    /// Leave to deliver one payload: `None` once the session has ended.
    /// Hold the permit until the payload is handed to the connection.
    pub async fn permit(&self) -> Option<RwLockReadGuard<'_, ()>> {
        let guard = self.gate.read().await;
        (!self.is_ended()).then_some(guard)
    }

    /// As [`permit`](Self::permit), owned, to travel with the payload.
    pub async fn permit_owned(&self) -> Option<OwnedRwLockReadGuard<()>> {
        let guard = self.gate.clone().read_owned().await;
        (!self.is_ended()).then_some(guard)
    }

    /// Marks the watch, then waits (at most `DRAIN`) for deliveries under
    /// way.
    async fn end(&self) {
        self.ended.send_replace(true);
        let _ = tokio::time::timeout(DRAIN, self.gate.write()).await;
    }
}

/// The watches of this server, by session.
#[derive(Debug, Default)]
pub struct Revocations {
    watches: Mutex<HashMap<i64, Weak<SessionWatch>>>,
}

impl Revocations {
    fn watches(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Weak<SessionWatch>>> {
        self.watches.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The watch of a session: shared by every stream of that session on
    /// this server, dropped with the last of them.
    pub fn watch(&self, session_id: i64) -> Arc<SessionWatch> {
        let mut watches = self.watches();
        if let Some(existing) = watches.get(&session_id).and_then(Weak::upgrade)
            && !existing.is_ended()
        {
            return existing;
        }
        // Forget the watches nobody holds any more, now and then.
        if watches.len() > 1024 && watches.len().is_power_of_two() {
            watches.retain(|_, watch| watch.strong_count() > 0);
        }
        let created = Arc::new(SessionWatch::new(session_id));
        watches.insert(session_id, Arc::downgrade(&created));
        created
    }

    /// Ends the streams of these sessions on this server; returns once no
    /// delivery for them is under way.
    pub async fn revoke(&self, session_ids: &[i64]) {
        let ended: Vec<Arc<SessionWatch>> = {
            let mut watches = self.watches();
            session_ids.iter().filter_map(|id| watches.remove(id)).filter_map(|watch| watch.upgrade()).collect()
        };
        if !ended.is_empty() {
            tracing::info!(streams = ended.len(), "ending the streams of ended sessions");
        }
        futures_util::future::join_all(ended.iter().map(|watch| watch.end())).await;
    }

    /// Open watches (sessions with a stream on this server).
    pub fn open(&self) -> usize {
        self.watches().values().filter(|watch| watch.strong_count() > 0).count()
    }
}

/// The IDs of a notification's payload.
pub fn parse_payload(payload: &str) -> Vec<i64> {
    payload.split(',').filter_map(|id| id.trim().parse().ok()).collect()
}

/// Payloads for these IDs, each within PostgreSQL's notification size.
pub fn payloads(session_ids: &[i64]) -> Vec<String> {
    session_ids.chunks(500).map(|chunk| chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(",")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_revoked_session_refuses_permits_and_wakes_its_streams() {
        let revocations = Revocations::default();
        let watch = revocations.watch(7);
        let other = revocations.watch(8);
        assert!(Arc::ptr_eq(&watch, &revocations.watch(7)), "one watch per session");
        assert!(watch.permit().await.is_some());
        let waiting = tokio::spawn({
            let watch = watch.clone();
            async move { watch.ended().await }
        });
        revocations.revoke(&[7]).await;
        assert!(watch.permit().await.is_none());
        tokio::time::timeout(Duration::from_secs(1), waiting).await.expect("woken").expect("joined");
        assert!(other.permit().await.is_some(), "another session is untouched");
        assert!(!Arc::ptr_eq(&watch, &revocations.watch(7)), "a new stream of an ended session starts afresh");
    }

    #[tokio::test]
    async fn a_revocation_waits_for_the_delivery_under_way() {
        let revocations = Arc::new(Revocations::default());
        let watch = revocations.watch(1);
        let permit = watch.permit().await.expect("live");
        let revoking = tokio::spawn({
            let revocations = revocations.clone();
            async move { revocations.revoke(&[1]).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!revoking.is_finished(), "the delivery under way is waited for");
        drop(permit);
        tokio::time::timeout(Duration::from_millis(500), revoking).await.expect("returns").expect("joined");
    }

    #[test]
    fn payloads_carry_the_ids_and_read_back() {
        let ids: Vec<i64> = (1..=1200).collect();
        let payloads = payloads(&ids);
        assert_eq!(payloads.len(), 3);
        assert!(payloads.iter().all(|p| p.len() < 8000));
        let back: Vec<i64> = payloads.iter().flat_map(|p| parse_payload(p)).collect();
        assert_eq!(back, ids);
    }
}
