//! Building and running the application: connect, migrate, build the
//! schema and router, bind. Tests call `Application::build` with port 0 and
//! read the bound address back.
//!
//! Shutting down (SIGTERM or SIGINT): stop accepting, let in-flight
//! requests finish, close open WebSockets with 1001 (going away), all
//! within `DRAIN_DEADLINE`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::{self, QueryCounter};
use crate::events::EventHub;
use crate::http::shutdown::{Shutdown, shutdown_signal};
use crate::state::AppState;

/// How long a shutdown waits for in-flight requests and the closing of
/// WebSockets before the process ends anyway: longer than a GraphQL request
/// may run by default, shorter than the 30 s an orchestrator (Kubernetes'
/// default grace period) waits before SIGKILL. (A constant: the
/// configuration has no knob for it.)
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(20);

/// A bound, ready-to-run gateway.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    /// The listener and router of `/metrics` when it has an address of
    /// its own (`metrics_addr`).
    metrics: Option<(TcpListener, axum::Router)>,
    pub state: AppState,
    shutdown: Shutdown,
}

impl Application {
    /// Connects to the database, applies migrations and binds the address.
    /// (The demo data set is loaded apart: `services::demo::seed_demo` on
    /// `state.db`.)
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As `build`, with the clock every service reads (tests pass a
    /// `ManualClock`).
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        let queries = Arc::new(QueryCounter::default());
        let db = db::connect(&config, queries.clone()).await?;
        db::migrate(&db).await?;
        crate::services::demo::ensure_prefectures(&db).await?;
        let listener =
            TcpListener::bind(config.addr).await.with_context(|| format!("cannot listen on {}", config.addr))?;
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (the metrics address)"))?,
            ),
            None => None,
        };
        let hub = Arc::new(EventHub::new(config.subscriber_buffer));
        let background_queries = Arc::new(QueryCounter::default());
        let sessions = Arc::new(crate::auth::recent::RecentSessions::new(config.session_cache));
        let revocations = Arc::new(crate::auth::revocation::Revocations::default());
        let passwords = Arc::new(crate::auth::password::Gate::new(config.password_concurrency, config.password_wait));
        let replica_urls: Vec<String> = config.read_database_urls.iter().map(|url| url.expose().to_owned()).collect();
        let replicas = Arc::new(
            crate::db::replicas::Replicas::connect(
                &replica_urls,
                config.db_max_connections,
                config.request_deadline,
                config.replica_list_lag,
                queries.clone(),
            )
            .await?,
        );
        replicas.start_tracking(db.clone(), clock.clone());
        let state = AppState {
            replicas,
            db,
            config: Arc::new(config),
            queries,
            background_queries,
            clock,
            hub,
            sessions,
            revocations,
            passwords,
            lists: Default::default(),
        };
        // Sessions ended through another replica: forget them here, and end
        // their streams.
        let sessions_ended: crate::events::SessionsEnded = {
            let state = state.clone();
            Arc::new(move |ended: Vec<i64>| {
                state.sessions.forget_all();
                let state = state.clone();
                tokio::spawn(async move { state.revocations.revoke(&ended).await });
            })
        };
        crate::events::start_dispatcher(
            db::counted(&state.db, state.background_queries.clone()),
            state.config.database_url.expose().to_owned(),
            state.hub.clone(),
            state.config.outbox_poll_interval,
            sessions_ended,
        )
        .await?;
        crate::services::statistics::ledger::start_folding(
            db::counted(&state.db, state.background_queries.clone()),
            state.config.statistics_fold_interval,
        );
        crate::services::housekeeping::start(state.clone());
        crate::services::watch::start(state.clone());
        let shutdown = Shutdown::default();
        // Long-lived connections (WebSockets) learn of the shutdown from the
        // request's extensions.
        let (router, metrics_router) = crate::http::routers(state.clone());
        let router = router.layer(axum::Extension(shutdown.clone()));
        let metrics = metrics_listener.zip(metrics_router);
        Ok(Application { listener, router, metrics, state, shutdown })
    }

    /// The address actually bound (port 0 resolved).
    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.state.config.addr)
    }

    /// The address `/metrics` is served on when it has its own (port 0
    /// resolved).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// The router `run` serves (a clone), for tests that send requests
    /// in-process.
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// The shutdown of this server: `begin` it to stop the server as
    /// SIGTERM would.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves until SIGINT or SIGTERM (or `shutdown().begin()`), then stops
    /// accepting, finishes in-flight requests and closes open WebSockets
    /// with 1001, for at most `DRAIN_DEADLINE`.
    pub async fn run(self) -> anyhow::Result<()> {
        let shutdown = self.shutdown;
        let signal = {
            let shutdown = shutdown.clone();
            async move {
                tokio::select! {
                    () = shutdown_signal() => shutdown.begin(),
                    () = shutdown.begun() => {}
                }
                tracing::info!("shutting down: finishing in-flight requests, closing WebSockets");
            }
        };
        // The metrics address, if any, stops with the main one.
        let metrics = async {
            let Some((listener, router)) = self.metrics else { return Ok(()) };
            let stop = shutdown.clone();
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async move { stop.begun().await })
                .await
        };
        let main = async {
            let served = axum::serve(self.listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(signal)
                .await;
            // However the main address stopped, the metrics address stops.
            shutdown.begin();
            served
        };
        // Served in this task (not spawned), so that aborting the task stops
        // the server at once, as a crash would.
        let mut server = std::pin::pin!(async {
            let (main, metrics) = tokio::join!(main, metrics);
            main.and(metrics)
        });
        tokio::select! {
            result = &mut server => return result.context("server error"),
            () = shutdown.begun() => {}
        }
        let deadline = tokio::time::Instant::now() + DRAIN_DEADLINE;
        match tokio::time::timeout_at(deadline, &mut server).await {
            Ok(result) => result.context("server error")?,
            Err(_) => tracing::warn!(
                deadline_seconds = DRAIN_DEADLINE.as_secs(),
                "requests still in flight at the shutdown deadline are cut off"
            ),
        }
        // Upgraded connections are not the HTTP server's any more: wait for
        // the WebSockets to send their close frames.
        if tokio::time::timeout_at(deadline, shutdown.closed()).await.is_err() {
            tracing::warn!(open = shutdown.open(), "WebSockets still open at the shutdown deadline are cut off");
        }
        tracing::info!("shut down");
        Ok(())
    }
}
