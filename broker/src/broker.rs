//! What every request handler shares: the validated settings, the catalog of
//! topics, the storage handle, the group coordinator, the shutdown token and
//! the metrics. Built once by `start` and handed around as `Arc<Broker>`.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, Topic};
use crate::config::Config;
use crate::coordinator::Coordinator;
use crate::refusals;
use crate::storage::{over_partition_limit, Storage, WriteError, PARTITION_LIMIT};
use crate::topic_config::validate_name;

pub struct Broker {
    pub config: Config,
    pub catalog: Arc<Catalog>,
    pub storage: Storage,
    /// Consumer groups and their committed offsets.
    pub coordinator: Coordinator,
    /// Cancelled on SIGTERM/SIGINT (`Running::stop`): the accept loop and
    /// the connections stop reading, long polls and group waits end.
    pub shutdown: CancellationToken,
    /// Bytes of large frames and responses in flight (`budget.rs`).
    pub budget: crate::budget::Budget,
    pub metrics: crate::metrics::Metrics,
    /// Incremental fetch sessions (KIP-227).
    pub fetch_sessions: crate::fetch_sessions::FetchSessions,
    /// TLS, SASL, users and ACLs.
    pub security: crate::security::context::Security,
}

impl Broker {
    /// The topic, created with the default settings if auto-creation is on
    /// and it does not exist yet (a concurrent creation is not an error).
    pub async fn topic_or_create(&self, name: &str) -> Result<Arc<Topic>, WriteError> {
        if let Some(t) = self.catalog.get(name) {
            return Ok(t);
        }
        if !self.config.auto_create_topics || validate_name(name).is_err() {
            return Err(WriteError::UnknownTopicOrPartition);
        }
        if let Some(message) = over_partition_limit(
            self.catalog.partition_count(),
            self.config.num_partitions as i64,
            self.config.max_partitions,
        ) {
            refusals::refused(PARTITION_LIMIT, None, &message);
            return Err(WriteError::PolicyViolation(message));
        }
        match self
            .storage
            .create_topic(name, self.config.num_partitions, BTreeMap::new())
            .await
        {
            Ok(t) => Ok(t),
            Err(WriteError::PolicyViolation(m)) => {
                refusals::refused(PARTITION_LIMIT, None, &m);
                Err(WriteError::PolicyViolation(m))
            }
            Err(WriteError::TopicExists) => self
                .catalog
                .get(name)
                .ok_or(WriteError::UnknownTopicOrPartition),
            Err(e) => Err(e),
        }
    }
}
