//! The state shared by every request: the database pool, configuration and
//! counters. Owned by the server, never global.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::events::EventHub;
use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::db::QueryCounter;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    /// SQL statements run for requests so far
    /// (`hersys_db_queries_total{source="requests"}`).
    pub queries: Arc<QueryCounter>,
    /// SQL statements run by background work: the outbox dispatcher
    /// (`hersys_db_queries_total{source="background"}`).
    pub background_queries: Arc<QueryCounter>,
    /// The one clock; see `now`.
    pub clock: Arc<dyn Clock>,
    /// The live broadcast of positive results.
    pub hub: Arc<EventHub>,
    /// Sessions resolved in the last moment.
    pub sessions: Arc<crate::auth::recent::RecentSessions>,
    /// The session watches of open streams, ended at once by revocation.
    pub revocations: Arc<crate::auth::revocation::Revocations>,
    /// The bound on password hashing and verification.
    pub passwords: Arc<crate::auth::password::Gate>,
    /// Read replicas for figures as of a past moment and analysts' lists
    /// (none unless configured).
    pub replicas: Arc<crate::db::replicas::Replicas>,
    /// Lists of patients answered, by the path they took
    /// (`hersys_patient_lists_total`).
    pub lists: Arc<crate::metrics::ListPaths>,
}

impl AppState {
    /// The current time. The one clock every service reads, so that it can
    /// be replaced in one place.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("config", &self.config).finish_non_exhaustive()
    }
}
