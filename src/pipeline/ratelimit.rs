//! Stage [`RateLimit`](super::Stage::RateLimit): token buckets per client
//! address and per account, one token per operation (a batch of n takes
//! n). Each key may spend
//! `burst` requests at once and earns `per_second` back; a request without
//! a token is refused with the time until the next one (`Retry-After`).
//!
//! The buckets live in this process: behind N replicas a client gets up to N
//! times the rate, which the limits are sized for. Memory is bounded: full
//! buckets are forgotten when the table grows past `MAX_KEYS`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys kept before full (idle) buckets are dropped.
const MAX_KEYS: usize = 100_000;

pub use crate::config::Rate;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets of one kind of key.
#[derive(Debug)]
pub struct Limiter<K> {
    rate: Rate,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(rate: Rate) -> Self {
        Limiter { rate, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token for `key` at `now`; `Err(wait)` when there is none.
    pub fn check_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        self.take_at(key, 1, now)
    }

    /// Takes `count` tokens for `key` now, all or none.
    pub fn take(&self, key: &K, count: usize) -> Result<(), Duration> {
        self.take_at(key, count, Instant::now())
    }

    /// Takes `count` tokens for `key` at `now`, all or none; `Err(wait)`
    /// when there are not enough (a count above the burst never succeeds,
    /// and waits as long as a full burst takes).
    pub fn take_at(&self, key: &K, count: usize, now: Instant) -> Result<(), Duration> {
        let wanted = count as f64;
        let Rate { per_second, burst } = self.rate;
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_second < burst);
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket { tokens: burst, at: now });
        let refilled = bucket.tokens + now.saturating_duration_since(bucket.at).as_secs_f64() * per_second;
        bucket.tokens = refilled.min(burst);
        bucket.at = now;
        if bucket.tokens >= wanted {
            bucket.tokens -= wanted;
            Ok(())
        } else {
            let missing = wanted.min(burst) - bucket.tokens;
            Err(Duration::from_secs_f64(missing.max(0.0) / per_second.max(f64::MIN_POSITIVE)))
        }
    }

    /// Takes a token for `key` now.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }
}

/// The limits of a server: per client address and per account, each
/// optional (off when not configured).
#[derive(Debug)]
pub struct RateLimits {
    pub per_address: Option<Limiter<std::net::IpAddr>>,
    pub per_account: Option<Limiter<i64>>,
}

impl RateLimits {
    pub fn new(per_address: Option<Rate>, per_account: Option<Rate>) -> Self {
        RateLimits { per_address: per_address.map(Limiter::new), per_account: per_account.map(Limiter::new) }
    }

    /// Takes `count` tokens from the bucket of the caller's account; `Err`
    /// is how long to wait. A service account is limited like an account;
    /// its bucket is numbered below zero so that it never shares one with
    /// an account. No limit, or nobody signed in: nothing to take.
    pub fn take_account(&self, principal: Option<&crate::auth::Principal>, count: usize) -> Result<(), Duration> {
        let holder = principal.and_then(|p| p.account_id.or_else(|| p.key.as_ref().map(|key| -key.service_account_id)));
        match (&self.per_account, holder) {
            (Some(limiter), Some(account)) => limiter.take(&account, count),
            _ => Ok(()),
        }
    }
}

/// Whole seconds to wait, at least one, as `Retry-After` wants them.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_rate_and_the_wait_is_until_the_next_token() {
        let limiter = Limiter::new(Rate { per_second: 2.0, burst: 3.0 });
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check_at(&"a", start), Ok(()));
        }
        let wait = limiter.check_at(&"a", start).expect_err("the burst is spent");
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(retry_after_seconds(wait), 1);
        // Another key has its own bucket.
        assert_eq!(limiter.check_at(&"b", start), Ok(()));
        // Half a second later one token is back, and only one.
        let later = start + Duration::from_millis(500);
        assert_eq!(limiter.check_at(&"a", later), Ok(()));
        assert!(limiter.check_at(&"a", later).is_err());
        // Long idle: back to the burst, not more.
        let idle = later + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.check_at(&"a", idle), Ok(()));
        }
        assert!(limiter.check_at(&"a", idle).is_err());
    }
}
