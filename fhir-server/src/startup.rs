//! Building and running the application: open the store, bind the listener, serve until a
//! shutdown signal, finish the requests in flight, close the store.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use fhir_core::ResourceStore;
use fhir_core::index::SearchIndex;
use fhir_core::store::StoreError;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::dispatch;
use crate::state::AppState;

/// Errors of start-up.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The store could not be opened or migrated.
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    /// The search index could not be opened or brought up to date.
    #[error("cannot open the search index: {0}")]
    Index(#[from] fhir_core::index::IndexError),
    /// The authorization server could not be prepared.
    #[error("cannot prepare authorization: {0}")]
    Auth(#[from] smart_auth::AuthError),
    /// The listener could not be bound, or serving failed.
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
}

/// Opens the store the configuration names, creating the data directory for SQLite.
pub async fn open_store(config: &Config) -> Result<Arc<dyn ResourceStore>, StoreError> {
    let url = config.database_url();
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", config.data_dir.display()))
        })?;
    }
    let sqlite = fhir_core::store::sqlite::SqliteOptions {
        synchronous: config.sqlite_synchronous,
    };
    fhir_core::store::open_with(&url, sqlite).await
}

/// The router: `/healthz`, and every other path to the FHIR dispatcher.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(dispatch::healthz))
        .fallback(dispatch::handle)
        .with_state(state)
        .layer(CatchPanicLayer::custom(crate::error::panic_response))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}

/// A bound, ready server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Arc<dyn ResourceStore>,
    follower: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Opens the store and binds the listener (port 0 picks a free port).
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        let store = open_store(&config).await?;
        Application::with_store(config, store).await
    }

    /// Binds the listener over an already open store.
    pub async fn with_store(
        config: Config,
        store: Arc<dyn ResourceStore>,
    ) -> Result<Application, StartupError> {
        let listener = TcpListener::bind(config.listen).await?;
        let started = std::time::Instant::now();
        let index = SearchIndex::open(config.index_location(), store.clone()).await?;
        tracing::info!(
            seq = index.visible_seq(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "search index up to date"
        );
        let follower = index.spawn_follower();
        let auth = if config.auth_enabled() {
            let auth = smart_auth::AuthServer::new(store.clone(), smart_auth::Settings::default());
            crate::first_start::ensure_admin(&auth).await?;
            Some(auth)
        } else {
            tracing::warn!(
                "authorization is OFF (--auth=off): anyone who can reach this port can read and change every resource"
            );
            None
        };
        let state = AppState::new(
            store.clone(),
            index,
            config.search_options(),
            config.base_url.clone(),
            config.max_body_bytes,
            config.bundle_max_entries,
            auth,
        );
        Ok(Application {
            listener,
            router: router(state),
            store,
            follower,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then lets the requests in flight finish and closes
    /// the store.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let address = self.listener.local_addr()?;
        tracing::info!(%address, backend = self.store.backend(), "fhir-server listening");
        // The peer address reaches handlers as `ConnectInfo` (rate limits of the authorization
        // server are per client IP).
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        self.follower.abort();
        self.store.close().await;
        tracing::info!("fhir-server stopped");
        Ok(())
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}
