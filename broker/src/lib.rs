//! skiff-broker: a Kafka-compatible broker that keeps all its data in one
//! SQLite file. See ARCHITECTURE.md at the repository root for the map.

pub mod backup;
pub mod batch;
pub mod broker;
pub mod catalog;
pub mod config;
pub mod connection;
pub mod coordinator;
pub mod decompress;
pub mod handlers;
pub mod healthcheck;
pub mod memory;
pub mod metrics;
pub mod protocol;
pub mod retention;
pub mod security;
pub mod server;
pub mod shutdown;
pub mod storage;
pub mod topic_config;

use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::info;

use crate::broker::Broker;
use crate::config::{Config, SettingError};
use crate::storage::Storage;

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Setting(#[from] SettingError),
}

fn disk_limits(config: &Config) -> storage::DiskLimits {
    let dir = match config.database.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    storage::DiskLimits {
        max_db_bytes: config.max_db_bytes,
        min_free_bytes: config.min_free_disk_bytes,
        dir,
    }
}

/// A started broker: the shared state, its listener, and the trigger that
/// begins a graceful shutdown.
pub struct Started {
    pub broker: Arc<Broker>,
    pub listener: TcpListener,
    /// The `/metrics` listener, when SKIFF_METRICS_LISTENER_URL is set.
    pub metrics_listener: Option<TcpListener>,
    pub shutdown: shutdown::Trigger,
}

/// Binds the listener, then opens the database (so a bad listener leaves no
/// file behind); both failures name the setting.
pub async fn start(mut config: Config) -> Result<Started, StartError> {
    let addr = config.bind_addr()?;
    let listener = TcpListener::bind(addr).await.map_err(|e| SettingError {
        setting: "LISTENER_URL (--listener-url)",
        message: format!("cannot listen on {addr}: {e}"),
    })?;
    let (storage, catalog) =
        Storage::open(&config.database, config.durability, disk_limits(&config)).map_err(|e| {
            SettingError {
                setting: "STORAGE_ENGINE (--storage-engine)",
                message: format!(
                    "cannot open the database at '{}': {e}",
                    config.database.display()
                ),
            }
        })?;
    // Committed offsets are loaded before any connection is served, so no
    // client sees the coordinator without them (no COORDINATOR_LOAD_IN_PROGRESS).
    let committed = storage
        .committed_offsets()
        .await
        .map_err(|e| SettingError {
            setting: "STORAGE_ENGINE (--storage-engine)",
            message: format!("cannot read committed offsets: {e}"),
        })?;
    let coordinator = crate::coordinator::Coordinator::new(config.groups, committed);
    // Listening on port 0 (tests) advertises the port actually bound.
    if config.advertised.port == 0 {
        if let Ok(local) = listener.local_addr() {
            config.advertised.port = local.port();
        }
    }
    info!(
        listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        advertised = %format!("{}:{}", config.advertised.host, config.advertised.port),
        database = %config.database.display(),
        topics = catalog.all().len(),
        "skiff-broker ready"
    );
    let (trigger, stop) = shutdown::channel();
    let inflight = Arc::new(tokio::sync::Semaphore::new(config.max_inflight_bytes));
    let metrics_listener = match &config.metrics_listen {
        None => None,
        Some(endpoint) => {
            let addr = config::resolve(
                "SKIFF_METRICS_LISTENER_URL (--metrics-listener-url)",
                endpoint,
            )?;
            Some(TcpListener::bind(addr).await.map_err(|e| SettingError {
                setting: "SKIFF_METRICS_LISTENER_URL (--metrics-listener-url)",
                message: format!("cannot listen on {addr}: {e}"),
            })?)
        }
    };
    Ok(Started {
        broker: Arc::new(Broker {
            config,
            catalog,
            storage,
            coordinator,
            shutdown: stop,
            inflight,
            metrics: metrics::Metrics::default(),
        }),
        listener,
        metrics_listener,
        shutdown: trigger,
    })
}
