//! Housekeeping: what the gateway keeps only for a while is forgotten on a
//! timer, so that a quiet server forgets it too (expired idempotency keys,
//! stale counts of failed patient sign-ins).

use crate::state::AppState;

/// Runs [`sweep`] every `config.housekeeping_interval`.
pub fn start(state: AppState) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(state.config.housekeeping_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            sweep(&state).await;
        }
    });
}

/// One round: each store forgets what has expired; a failure is logged and
/// retried at the next round.
pub async fn sweep(state: &AppState) {
    let now = state.now();
    match super::idempotency::purge_expired(&state.db, now).await {
        Ok(0) => {}
        Ok(purged) => tracing::debug!(purged, "expired idempotency keys purged"),
        Err(error) => tracing::warn!(code = error.code(), "purging idempotency keys failed"),
    }
    match super::lockout::forget_stale(&state.db, &state.config, now).await {
        Ok(0) => {}
        Ok(forgotten) => tracing::debug!(forgotten, "stale sign-in failure counts forgotten"),
        Err(error) => tracing::warn!(code = error.code(), "forgetting sign-in failure counts failed"),
    }
}
