//! The shutdown of a server as its long-lived connections (WebSockets,
//! Server-Sent Events) and its health check see it; `startup` begins it on
//! a signal and waits for the connections to close.

use std::sync::Arc;

use tokio::sync::watch;

/// The shutdown of one server, as its long-lived connections see it: begun
/// once (by a signal, or by `begin`); each open WebSocket holds a
/// `ShutdownHold` so that the server waits for it to close. A clone is the
/// same shutdown. The default one is never begun unless asked to.
#[derive(Clone, Debug, Default)]
pub struct Shutdown(Arc<ShutdownState>);

#[derive(Debug)]
struct ShutdownState {
    begun: watch::Sender<bool>,
    open: watch::Sender<usize>,
}

impl Default for ShutdownState {
    fn default() -> Self {
        ShutdownState { begun: watch::channel(false).0, open: watch::channel(0).0 }
    }
}

impl Shutdown {
    /// Begins the shutdown (idempotent).
    pub fn begin(&self) {
        self.0.begun.send_replace(true);
    }

    /// Whether the shutdown has begun.
    pub fn has_begun(&self) -> bool {
        *self.0.begun.borrow()
    }

    /// Resolves once the shutdown has begun (at once if it has).
    pub async fn begun(&self) {
        let mut begun = self.0.begun.subscribe();
        // The sender lives as long as `self`: this cannot fail.
        let _ = begun.wait_for(|begun| *begun).await;
    }

    /// Counts a long-lived connection as open until the hold is dropped.
    pub fn hold(&self) -> ShutdownHold {
        self.0.open.send_modify(|open| *open += 1);
        ShutdownHold(self.clone())
    }

    /// Long-lived connections still open.
    pub fn open(&self) -> usize {
        *self.0.open.borrow()
    }

    /// Resolves once no long-lived connection is open.
    pub(crate) async fn closed(&self) {
        let mut open = self.0.open.subscribe();
        let _ = open.wait_for(|open| *open == 0).await;
    }
}

/// An open long-lived connection; see `Shutdown::hold`.
#[derive(Debug)]
pub struct ShutdownHold(Shutdown);

impl Drop for ShutdownHold {
    fn drop(&mut self) {
        self.0.0.open.send_modify(|open| *open = open.saturating_sub(1));
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
