//! Building and running the application: connect, migrate, build the
//! schema and router, bind. Tests call `Application::build` with port 0 and
//! read the bound address back.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::{self, QueryCounter};
use crate::events::EventHub;
use crate::state::AppState;

/// A bound, ready-to-run gateway.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    pub state: AppState,
}

impl Application {
    /// Connects to the database, applies migrations (and the demo data set
    /// when `demo`), and binds the address.
    pub async fn build(config: Config, demo: bool) -> anyhow::Result<Application> {
        Self::build_with_clock(config, demo, Arc::new(SystemClock)).await
    }

    /// As `build`, with the clock every service reads (tests pass a
    /// `ManualClock`).
    pub async fn build_with_clock(config: Config, demo: bool, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        let queries = Arc::new(QueryCounter::default());
        let db = db::connect(&config, queries.clone()).await?;
        db::migrate(&db).await?;
        crate::services::demo::ensure_prefectures(&db).await?;
        if demo {
            crate::services::demo::seed_demo(&db).await.context("loading the demo data set")?;
        }
        let listener =
            TcpListener::bind(config.addr).await.with_context(|| format!("cannot listen on {}", config.addr))?;
        let hub = Arc::new(EventHub::new(config.subscriber_buffer));
        let background_queries = Arc::new(QueryCounter::default());
        let state = AppState { db, config: Arc::new(config), queries, background_queries, clock, hub };
        crate::events::start_dispatcher(
            db::counted(&state.db, state.background_queries.clone()),
            state.config.database_url.expose().to_owned(),
            state.hub.clone(),
            state.config.outbox_poll_interval,
        )
        .await?;
        crate::services::statistics::ledger::start_folding(
            db::counted(&state.db, state.background_queries.clone()),
            state.config.statistics_fold_interval,
        );
        let schema = crate::graphql::build(Some(state.clone()));
        let router = crate::http::router(state.clone(), schema);
        Ok(Application { listener, router, state })
    }

    /// The address actually bound (port 0 resolved).
    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.state.config.addr)
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests.
    pub async fn run(self) -> anyhow::Result<()> {
        axum::serve(self.listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("server error")
    }
}

async fn shutdown_signal() {
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
    tracing::info!("shutting down: finishing in-flight requests");
}
