//! The in-memory view of what the database holds: topics, their partitions,
//! configs, and each partition's log start offset and high watermark.
//!
//! Handlers read it without touching SQLite (Metadata, the fetch fast path,
//! long-poll wake-ups). Only the storage writer changes it, and only after the
//! transaction that made the change has committed, so nothing a client sees
//! here can be lost by a crash.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::Notify;
use uuid::Uuid;

use crate::topic_config::TopicConfig;

/// Woken whenever any partition's high watermark moves or a partition is
/// deleted: an incremental fetch session waits on this one notification
/// instead of one per partition (waking, it checks its partitions' atomics).
/// Process-wide: several brokers in one test process only cause extra checks.
pub static ANY_APPEND: Notify = Notify::const_new();

/// One partition of a topic.
#[derive(Debug)]
pub struct Partition {
    pub topic: String,
    pub index: i32,
    /// Row id in the `partitions` table; keys its batches.
    pub db_id: i64,
    high_watermark: AtomicI64,
    /// The last stable offset: the first offset of the oldest open
    /// transaction on the partition, else the high watermark.
    last_stable: AtomicI64,
    log_start: AtomicI64,
    /// Set when the partition's topic is deleted, so parked fetches end.
    deleted: AtomicBool,
    /// Woken when the high watermark moves, for long-polling fetches.
    pub appended: Notify,
    /// The newest committed batches, served to fetches without SQLite.
    pub tail: crate::tail::Tail,
    /// The newest aborted transactions, for read_committed fetches.
    pub aborted: crate::transactions::AbortIndex,
}

impl Partition {
    pub fn new(topic: &str, index: i32, db_id: i64, log_start: i64, high_watermark: i64) -> Self {
        Partition {
            topic: topic.to_string(),
            index,
            db_id,
            high_watermark: AtomicI64::new(high_watermark),
            last_stable: AtomicI64::new(high_watermark),
            log_start: AtomicI64::new(log_start),
            deleted: AtomicBool::new(false),
            appended: Notify::new(),
            tail: crate::tail::Tail::default(),
            aborted: Default::default(),
        }
    }
    /// One past the last committed offset.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }
    /// What a read_committed consumer may read up to (exclusive).
    pub fn last_stable(&self) -> i64 {
        self.last_stable.load(Ordering::Acquire)
    }
    /// Sets the last stable offset (writer only, after commit, before
    /// `advance` wakes the readers).
    pub fn set_last_stable(&self, offset: i64) {
        self.last_stable.store(offset, Ordering::Release);
    }
    pub fn log_start(&self) -> i64 {
        self.log_start.load(Ordering::Acquire)
    }
    /// Publishes a new high watermark (writer only, after commit).
    pub fn advance(&self, high_watermark: i64) {
        self.high_watermark.store(high_watermark, Ordering::Release);
        self.appended.notify_waiters();
        ANY_APPEND.notify_waiters();
    }
    /// Marks the partition gone (writer only, after the deleting commit) and
    /// wakes its long polls.
    pub fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
        self.tail.clear();
        self.appended.notify_waiters();
        ANY_APPEND.notify_waiters();
    }
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }
    pub fn set_log_start(&self, log_start: i64) {
        self.log_start.store(log_start, Ordering::Release);
    }
}

/// A topic and its partitions.
#[derive(Debug)]
pub struct Topic {
    pub db_id: i64,
    pub name: String,
    pub id: Uuid,
    config: RwLock<Arc<TopicConfig>>,
    partitions: RwLock<Arc<Vec<Arc<Partition>>>>,
}

impl Topic {
    pub fn new(
        db_id: i64,
        name: String,
        id: Uuid,
        config: TopicConfig,
        partitions: Vec<Arc<Partition>>,
    ) -> Self {
        Topic {
            db_id,
            name,
            id,
            config: RwLock::new(Arc::new(config)),
            partitions: RwLock::new(Arc::new(partitions)),
        }
    }
    pub fn config(&self) -> Arc<TopicConfig> {
        self.config.read().expect("config lock").clone()
    }
    pub fn set_config(&self, config: TopicConfig) {
        *self.config.write().expect("config lock") = Arc::new(config);
    }
    pub fn partitions(&self) -> Arc<Vec<Arc<Partition>>> {
        self.partitions.read().expect("partitions lock").clone()
    }
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions().get(i).cloned())
    }
    pub fn add_partitions(&self, more: Vec<Arc<Partition>>) {
        let mut guard = self.partitions.write().expect("partitions lock");
        let mut all: Vec<_> = guard.iter().cloned().collect();
        all.extend(more);
        *guard = Arc::new(all);
    }
}

/// All topics by name.
#[derive(Debug, Default)]
pub struct Catalog {
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// The transactions as last committed (the writer publishes them).
    pub transactions: crate::transactions::Transactions,
}

impl Catalog {
    /// Every partition by its row id.
    pub fn partitions_by_id(&self) -> HashMap<i64, Arc<Partition>> {
        self.topics
            .read()
            .expect("catalog lock")
            .values()
            .flat_map(|t| t.partitions().iter().cloned().collect::<Vec<_>>())
            .map(|p| (p.db_id, p))
            .collect()
    }
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().expect("catalog lock").get(name).cloned()
    }
    pub fn get_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .expect("catalog lock")
            .values()
            .find(|t| t.id == id)
            .cloned()
    }
    /// All topics, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut v: Vec<_> = self
            .topics
            .read()
            .expect("catalog lock")
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
    /// Partitions summed over all topics.
    pub fn partition_count(&self) -> usize {
        self.topics
            .read()
            .expect("catalog lock")
            .values()
            .map(|t| t.partitions().len())
            .sum()
    }
    pub fn insert(&self, topic: Arc<Topic>) {
        self.topics
            .write()
            .expect("catalog lock")
            .insert(topic.name.clone(), topic);
    }
    pub fn remove(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.write().expect("catalog lock").remove(name)
    }
}
