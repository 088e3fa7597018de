//! Password hashing with argon2id (PHC strings, per-hash random salt), and
//! the [`Gate`] every hash and verification of a request passes.

use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::Semaphore;

use crate::error::{AppError, AppResult};

/// Hashes a password with argon2id and the crate's recommended parameters.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

/// Whether `password` matches the stored PHC hash. A malformed hash never
/// matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the username is
/// unknown so that unknown users and wrong passwords take the same time.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let random: [u8; 16] = rand::random();
        hash(&hex::encode(random)).unwrap_or_default()
    })
}

/// The bound on password work. argon2id takes a core and 19 MiB for tens of
/// milliseconds per hash, so a burst of sign-ins (or of guesses) could hold
/// every core and crowd out everything else. At most `concurrency` hashes
/// or verifications run at once, each off the async workers; a caller waits
/// at most `wait` for its turn, and is then refused with `RATE_LIMITED`
/// (retry after a second) before anything about its attempt is counted.
#[derive(Debug)]
pub struct Gate {
    permits: Arc<Semaphore>,
    wait: Duration,
}

impl Gate {
    pub fn new(concurrency: usize, wait: Duration) -> Self {
        Gate { permits: Arc::new(Semaphore::new(concurrency.max(1))), wait }
    }

    /// Hashes `password` once a turn is free.
    pub async fn hash(&self, password: String) -> AppResult<String> {
        self.run(move || hash(&password)).await?.map_err(AppError::Internal)
    }

    /// Verifies `password` against `stored` once a turn is free.
    pub async fn verify(&self, password: String, stored: String) -> AppResult<bool> {
        self.run(move || verify(&password, &stored)).await
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
        let Ok(Ok(permit)) = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await else {
            tracing::warn!("password work refused: no turn within the wait");
            return Err(AppError::RetryLater {
                message: "the server is busy checking passwords: retry in a moment".to_owned(),
                seconds: 1,
            });
        };
        // The permit goes with the work: a request dropped at its deadline
        // does not free a turn while its hash still runs.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("password task failed: {e}")))
    }
}
