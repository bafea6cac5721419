//! What every request handler shares: the validated settings, the catalog of
//! topics, the storage handle and the group coordinator.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::catalog::{Catalog, Topic};
use crate::config::Config;
use crate::coordinator::Coordinator;
use crate::shutdown::Shutdown;
use crate::storage::{Command, Storage, WriteError};

pub struct Broker {
    pub config: Config,
    pub catalog: Arc<Catalog>,
    pub storage: Storage,
    /// Consumer groups and their committed offsets.
    pub coordinator: Coordinator,
    /// Flips on SIGTERM/SIGINT: long polls end early, connections stop reading.
    pub shutdown: Shutdown,
    /// Bytes of large requests in flight across all connections
    /// (`max_inflight_bytes` permits).
    pub inflight: Arc<tokio::sync::Semaphore>,
    pub metrics: crate::metrics::Metrics,
}

impl Broker {
    /// Creates a topic through the writer.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        overrides: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, WriteError> {
        let name = name.to_string();
        self.storage
            .call(|reply| Command::CreateTopic {
                name,
                partitions,
                overrides,
                reply,
            })
            .await
    }

    /// The topic, created with the default settings if auto-creation is on
    /// and it does not exist yet (a concurrent creation is not an error).
    pub async fn topic_or_create(&self, name: &str) -> Result<Arc<Topic>, WriteError> {
        if let Some(t) = self.catalog.get(name) {
            return Ok(t);
        }
        if !self.config.auto_create_topics || crate::handlers::validate_topic_name(name).is_err() {
            return Err(WriteError::UnknownTopicOrPartition);
        }
        match self
            .create_topic(name, self.config.num_partitions, BTreeMap::new())
            .await
        {
            Ok(t) => Ok(t),
            Err(WriteError::TopicExists) => self
                .catalog
                .get(name)
                .ok_or(WriteError::UnknownTopicOrPartition),
            Err(e) => Err(e),
        }
    }
}
