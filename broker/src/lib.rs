//! skiff-broker: a Kafka-compatible broker that keeps all its data in one
//! SQLite file. See ARCHITECTURE.md at the repository root for the map.
//!
//! [`start`] is the one way to run a broker, for the binary and the tests
//! alike: it binds the listeners, opens the database and spawns every task
//! (accept loop, retention, metrics endpoint, memory trim) under one
//! cancellation token and one task tracker. [`Running::stop`] cancels the
//! token, waits until every connection has finished its in-flight requests
//! and every task has ended, then checkpoints and closes the database.
//!
//! The public modules are what the binary, the tests and the fuzz target
//! use; everything else is private to the broker.

pub mod backup;
mod batch;
mod broker;
pub mod budget;
mod catalog;
mod clock;
pub mod config;
mod connection;
mod coordinator;
mod decompress;
mod fetch_sessions;
mod handlers;
pub mod healthcheck;
pub mod memory;
mod metrics;
mod protocol;
mod refusals;
pub mod retention;
/// Public for its benchmark (examples/) and the `user` subcommand.
pub mod security;
mod server;
mod storage;
mod tail;
mod topic_config;
mod transactions;

pub use broker::Broker;
pub use handlers::decode_request;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use crate::config::{Config, SettingError};
use crate::coordinator::Coordinator;
use crate::storage::{DiskLimits, OpenError, Storage, StorageError};

/// How often freed heap memory is handed back to the OS.
const MEMORY_TRIM_PERIOD: Duration = Duration::from_secs(10);

const LISTENER_SETTING: &str = "LISTENER_URL (--listener-url)";
const METRICS_SETTING: &str = "SKIFF_METRICS_LISTENER_URL (--metrics-listener-url)";
const STORAGE_SETTING: &str = "STORAGE_ENGINE (--storage-engine)";

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting cannot be used (an address that cannot be bound, a
    /// database that cannot be opened or is in use); the message names it.
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// The database opened, but what it holds could not be loaded.
    #[error("cannot load the database at '{path}': {source}")]
    Load { path: String, source: StorageError },
}

/// A broker serving clients until [`Running::stop`].
pub struct Running {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    broker: Arc<Broker>,
    tasks: TaskTracker,
}

async fn bind(setting: &'static str, addr: SocketAddr) -> Result<TcpListener, SettingError> {
    TcpListener::bind(addr).await.map_err(|e| SettingError {
        setting,
        message: format!("cannot listen on {addr}: {e}"),
    })
}

/// Binds the listeners, then opens the database (so a bad listener leaves
/// no file behind), loads it and starts serving.
pub async fn start(mut config: Config) -> Result<Running, StartError> {
    let listener = bind(LISTENER_SETTING, config.bind_addr()?).await?;
    let metrics_listener = match &config.metrics_listen {
        None => None,
        Some(endpoint) => {
            Some(bind(METRICS_SETTING, config::resolve(METRICS_SETTING, endpoint)?).await?)
        }
    };
    let addr = listener.local_addr().map_err(|e| SettingError {
        setting: LISTENER_SETTING,
        message: format!("cannot read the bound address: {e}"),
    })?;
    let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
    let path = config.database.display().to_string();
    let limits = DiskLimits::new(
        &config.database,
        config.max_db_bytes,
        config.min_free_disk_bytes,
    );
    let (storage, catalog) = Storage::open(
        &config.database,
        config.durability,
        limits,
        config.max_partitions,
        config.producer_id_expiration,
        config.max_producer_ids,
        config.test_writer_panic_topic.clone(),
    )
    .map_err(|e| match e {
        OpenError::Open(e) => StartError::Setting(SettingError {
            setting: STORAGE_SETTING,
            message: format!("cannot open the database at '{path}': {e}"),
        }),
        OpenError::Load(source) => StartError::Load {
            path: path.clone(),
            source,
        },
    })?;
    // Committed offsets are loaded before any connection is served, so no
    // client sees the coordinator without them (no COORDINATOR_LOAD_IN_PROGRESS).
    let committed = storage
        .committed_offsets()
        .await
        .map_err(|source| StartError::Load {
            path: path.clone(),
            source,
        })?;
    let coordinator = Coordinator::new(config.groups, committed);
    let security = load_security(&config, &storage)
        .await
        .map_err(|e| match e {
            SecurityLoadError::Tls(e) => StartError::Setting(SettingError {
                setting: "SKIFF_TLS_CERT_FILE / SKIFF_TLS_KEY_FILE",
                message: e.to_string(),
            }),
            SecurityLoadError::Storage(source) => StartError::Load {
                path: path.clone(),
                source,
            },
        })?;
    // Listening on port 0 (tests) advertises the port actually bound.
    if config.advertised.port == 0 {
        config.advertised.port = addr.port();
    }
    info!(
        listen = %addr,
        advertised = %format!("{}:{}", config.advertised.host, config.advertised.port),
        database = %path,
        topics = catalog.all().len(),
        "skiff-broker ready"
    );
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let fetch_session_slots = config.fetch_session_cache_slots;
    let broker = Arc::new(Broker {
        budget: budget::Budget::new(config.max_inflight_bytes),
        config,
        catalog,
        storage,
        coordinator,
        shutdown: shutdown.clone(),
        metrics: metrics::Metrics::default(),
        security,
        fetch_sessions: fetch_sessions::FetchSessions::new(fetch_session_slots),
    });
    if let Some(cert) = broker.security.cert() {
        let stop = shutdown.clone();
        let reloader =
            security::tls::spawn_reloader(cert, security::tls::DEFAULT_POLL, async move {
                stop.cancelled().await
            })
            .map_err(|e| SettingError {
                setting: "SKIFF_TLS_CERT_FILE",
                message: format!("cannot watch for SIGHUP to reload the certificate: {e}"),
            })?;
        tasks.spawn(async move {
            let _ = reloader.await;
        });
    }
    tasks.spawn(security::context::follow_changes(broker.clone()));
    tasks.spawn(server::run(listener, broker.clone(), tasks.clone()));
    if let Some(listener) = metrics_listener {
        tasks.spawn(metrics::serve(listener, broker.clone()));
    }
    tasks.spawn(retention::run(broker.clone()));
    tasks.spawn(transactions::watch_timeouts(broker.clone()));
    tasks.spawn(memory::trim_periodically(MEMORY_TRIM_PERIOD, shutdown));
    Ok(Running {
        addr,
        metrics_addr,
        broker,
        tasks,
    })
}

#[derive(Debug, thiserror::Error)]
enum SecurityLoadError {
    #[error(transparent)]
    Tls(#[from] security::tls::TlsError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Creates the bootstrap user if it has no credential of its mechanism yet
/// (an existing one is kept, so a password changed since is not reverted),
/// then loads users, ACLs and the certificate.
async fn load_security(
    config: &Config,
    storage: &Storage,
) -> Result<security::context::Security, SecurityLoadError> {
    let mut snapshot = storage.read_security().await?;
    if let Some(user) = config.security.bootstrap_user.clone() {
        let exists = snapshot
            .credentials
            .iter()
            .any(|(name, m, _)| *name == user.username && *m == user.mechanism);
        if !exists {
            let name = user.username.clone();
            let mechanism = user.mechanism;
            storage
                .security_write(
                    256,
                    Box::new(move |c| {
                        security::persist::upsert_credential(
                            c,
                            &user.username,
                            user.mechanism,
                            &user.credential,
                        )
                    }),
                )
                .await
                .map_err(|e| {
                    StorageError::Corrupt(format!("cannot store the bootstrap user: {e}"))
                })?;
            info!(user = %name, %mechanism, "bootstrap user created (SKIFF_BOOTSTRAP_USER)");
            snapshot = storage.read_security().await?;
        }
    }
    Ok(security::context::Security::new(
        &config.security,
        snapshot,
    )?)
}

impl Running {
    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `/metrics` address, when SKIFF_METRICS_LISTENER_URL is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The shared state the broker serves from.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Completes if the storage writer thread ends before `stop` (it
    /// panicked): the broker can no longer store anything, and the binary
    /// exits non-zero so that its supervisor restarts it.
    pub async fn writer_stopped(&self) {
        self.broker.storage.writer_stopped().await
    }

    /// Graceful stop: no new connections or requests are taken, long polls
    /// and group waits end, every connection finishes the requests it has
    /// in flight (a produce until its commit), the background tasks end,
    /// then the writer commits what is queued, checkpoints the WAL and
    /// closes the file.
    pub async fn stop(self) {
        self.broker.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        let broker = self.broker;
        let _ = tokio::task::spawn_blocking(move || broker.storage.close()).await;
    }
}
