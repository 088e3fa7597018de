//! Sessions resolved in the last moment, so that a client's burst of
//! requests does not look its token up once per request.
//!
//! An entry lives for the configured time (one second by default;
//! `--session-cache-ms 0` turns this off) and is used only while the session
//! is still within its lifetime and idle limit at the moment of the request,
//! and only until its last use needs recording. Ending a session on this
//! server (logout, password change, disabled account, new organisation,
//! recorded outcome) forgets every entry at once; a session ended through
//! another replica stops working here within the entry's lifetime.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::Principal;

/// Most entries kept; past it, stale ones are dropped first, and if none
/// is stale, all.
const MOST: usize = 10_000;

/// A resolved session.
#[derive(Debug, Clone)]
pub struct Recent {
    pub principal: Principal,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    resolved: Instant,
}

impl Recent {
    pub fn new(principal: Principal, expires_at: DateTime<Utc>, last_seen_at: DateTime<Utc>) -> Self {
        Recent { principal, expires_at, last_seen_at, resolved: Instant::now() }
    }
}

#[derive(Debug, Default)]
struct Entries {
    /// Raised by every `forget_all`: an entry read from the database before
    /// it is not kept.
    generation: u64,
    by_token_hash: HashMap<String, Recent>,
}

/// The recently resolved sessions of this server, by token hash.
#[derive(Debug)]
pub struct RecentSessions {
    ttl: Duration,
    entries: Mutex<Entries>,
}

impl RecentSessions {
    pub fn new(ttl: Duration) -> Self {
        RecentSessions { ttl, entries: Mutex::default() }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The entry of a token hash, if resolved within the entry lifetime.
    pub fn get(&self, token_hash: &str) -> Option<Recent> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries();
        entries.by_token_hash.get(token_hash).filter(|recent| recent.resolved.elapsed() < self.ttl).cloned()
    }

    /// The generation to pass to `keep` for a lookup starting now.
    pub fn generation(&self) -> u64 {
        self.entries().generation
    }

    /// Keeps an entry read from the database, unless sessions were ended
    /// since the read began.
    pub fn keep(&self, token_hash: String, recent: Recent, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if entries.generation != generation {
            return;
        }
        if entries.by_token_hash.len() >= MOST {
            let ttl = self.ttl;
            entries.by_token_hash.retain(|_, recent| recent.resolved.elapsed() < ttl);
            if entries.by_token_hash.len() >= MOST {
                entries.by_token_hash.clear();
            }
        }
        entries.by_token_hash.insert(token_hash, recent);
    }

    /// Forgets every entry: called after a change that ends sessions.
    pub fn forget_all(&self) {
        let mut entries = self.entries();
        entries.generation += 1;
        entries.by_token_hash.clear();
    }
}
