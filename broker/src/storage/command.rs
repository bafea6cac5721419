//! The messages from the `Storage` handle to the writer thread: one
//! `Command` per write, carrying its arguments and the channel its answer
//! goes back on. Private to `storage/`: the rest of the broker calls
//! `Storage`'s typed methods and never builds a command or a reply channel.
//! Also the public types those methods take and give.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{OffsetRow, WriteResult};
use crate::batch::BatchHeader;
use crate::catalog::{Partition, Topic};
use crate::config::MAX_PARTITIONS_CEILING;

/// Writes rows of the security tables in the open transaction.
pub type SecurityWrite = Box<dyn FnOnce(&rusqlite::Connection) -> rusqlite::Result<()> + Send>;

/// Where a command's answer goes.
pub(super) type Reply<T> = oneshot::Sender<WriteResult<T>>;

pub(super) enum Command {
    Append {
        partition: Arc<Partition>,
        /// One batch: Produce v3+ carries exactly one per partition, so an
        /// append is all or nothing.
        batch: (BatchHeader, Bytes),
        log_append_time: bool,
        reply: Reply<Appended>,
    },
    CreateTopic {
        name: String,
        partitions: i32,
        overrides: BTreeMap<String, String>,
        reply: Reply<Arc<Topic>>,
    },
    DeleteTopic {
        name: String,
        reply: Reply<Uuid>,
    },
    CreatePartitions {
        name: String,
        count: i32,
        reply: Reply<()>,
    },
    AlterConfig {
        name: String,
        change: ConfigChange,
        reply: Reply<()>,
    },
    AllocateProducerId {
        reply: Reply<i64>,
    },
    TxnInit {
        id: String,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        max_ids: usize,
        reply: Reply<(i64, i16)>,
    },
    TxnAddPartitions {
        id: String,
        producer: (i64, i16),
        partitions: Vec<Arc<Partition>>,
        reply: Reply<()>,
    },
    TxnAddOffsets {
        id: String,
        producer: (i64, i16),
        group: String,
        reply: Reply<()>,
    },
    TxnOffsetCommit {
        id: String,
        producer: (i64, i16),
        group: String,
        offsets: Vec<OffsetRow>,
        reply: Reply<()>,
    },
    TxnEnd {
        id: String,
        producer: (i64, i16),
        commit: bool,
        reply: Reply<Vec<(String, Vec<OffsetRow>)>>,
    },
    TxnExpire {
        now_ms: i64,
        expiration_ms: i64,
        reply: Reply<usize>,
    },
    CommitOffsets {
        group: String,
        offsets: Vec<OffsetRow>,
        reply: Reply<()>,
    },
    DeleteGroupOffsets {
        group: String,
        reply: Reply<()>,
    },
    DeleteOffsets {
        group: String,
        partitions: Vec<(String, i32)>,
        reply: Reply<()>,
    },
    /// Offsets retention: the groups' offsets go unless one is recent.
    ExpireOffsets {
        groups: Vec<String>,
        cutoff_ms: i64,
        reply: Reply<()>,
    },
    EnforceRetention {
        now_ms: i64,
        reply: Reply<usize>,
    },
    DeleteRecords {
        partition: Arc<Partition>,
        offset: i64,
        reply: Reply<i64>,
    },
    /// A change to users or ACLs (`security::persist`), applied inside the
    /// group's transaction; the caller updates its in-memory tables once
    /// the answer says it committed.
    Security {
        apply: SecurityWrite,
        growth: u64,
        reply: Reply<()>,
    },
    /// Answered by the writer's next group: proves it is alive and not stuck.
    Ping {
        reply: Reply<()>,
    },
    /// Finish what is queued, close the file.
    Shutdown,
}

impl Command {
    /// The record bytes a command brings, which bound a commit group.
    pub(super) fn payload_bytes(&self) -> usize {
        match self {
            Command::Append { batch, .. } => batch.1.len(),
            _ => 0,
        }
    }

    /// An upper estimate of the bytes a command other than an append adds
    /// to the file (rows, index entries), for the disk guard; 0 for the
    /// commands that only delete. Appends are checked by their batch size.
    pub(super) fn growth_bytes(&self) -> u64 {
        /// A row's key, header and share of its B-tree pages.
        const ROW: u64 = 128;
        let len = |s: &str| s.len() as u64;
        match self {
            Command::CreateTopic {
                name,
                partitions,
                overrides,
                ..
            } => {
                let parts = (*partitions).clamp(0, MAX_PARTITIONS_CEILING as i32) as u64;
                let configs: u64 = overrides.iter().map(|(k, v)| ROW + len(k) + len(v)).sum();
                ROW + 2 * len(name) + parts * ROW + configs
            }
            Command::CreatePartitions { count, .. } => {
                (*count).clamp(0, MAX_PARTITIONS_CEILING as i32) as u64 * ROW
            }
            Command::AlterConfig { change, .. } => match change {
                ConfigChange::Replace(all) => all.iter().map(|(k, v)| ROW + len(k) + len(v)).sum(),
                ConfigChange::Incremental(ops) => ops
                    .iter()
                    .map(|(k, v)| ROW + len(k) + v.as_deref().map_or(0, len))
                    .sum(),
            },
            Command::AllocateProducerId { .. } => ROW,
            Command::TxnInit { id, .. } => 2 * ROW + len(id),
            Command::TxnAddPartitions { id, partitions, .. } => {
                partitions.len() as u64 * (ROW + len(id)) + ROW
            }
            Command::TxnAddOffsets { id, group, .. } => 2 * ROW + len(id) + len(group),
            Command::TxnOffsetCommit {
                id, group, offsets, ..
            } => offsets
                .iter()
                .map(|r| ROW + len(id) + len(group) + len(&r.topic) + len(&r.metadata))
                .sum(),
            // Markers: one small batch per partition, and an abort row.
            Command::TxnEnd { .. } => 64 * ROW,
            Command::TxnExpire { .. } => 64 * ROW,
            Command::Security { growth, .. } => *growth,
            Command::CommitOffsets { group, offsets, .. } => offsets
                .iter()
                .map(|r| ROW + len(group) + len(&r.topic) + len(&r.metadata))
                .sum(),
            Command::Append { .. }
            | Command::DeleteTopic { .. }
            | Command::DeleteGroupOffsets { .. }
            | Command::DeleteOffsets { .. }
            | Command::ExpireOffsets { .. }
            | Command::EnforceRetention { .. }
            | Command::DeleteRecords { .. }
            | Command::Ping { .. }
            | Command::Shutdown => 0,
        }
    }

    /// What the command is, for log lines.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Command::Append { .. } => "a produced batch",
            Command::CreateTopic { .. } => "a topic creation",
            Command::DeleteTopic { .. } => "a topic deletion",
            Command::CreatePartitions { .. } => "a partition creation",
            Command::AlterConfig { .. } => "a config change",
            Command::AllocateProducerId { .. } => "a producer id",
            Command::TxnInit { .. } => "a transactional producer id",
            Command::TxnAddPartitions { .. } | Command::TxnAddOffsets { .. } => {
                "a transaction's partitions"
            }
            Command::TxnOffsetCommit { .. } => "a transactional offset commit",
            Command::TxnEnd { .. } => "a transaction's end",
            Command::TxnExpire { .. } => "transaction timeouts",
            Command::CommitOffsets { .. } => "an offset commit",
            Command::DeleteGroupOffsets { .. } | Command::DeleteOffsets { .. } => {
                "an offset deletion"
            }
            Command::ExpireOffsets { .. } => "offsets retention",
            Command::EnforceRetention { .. } => "retention",
            Command::DeleteRecords { .. } => "a record deletion",
            Command::Security { .. } => "a user or ACL change",
            Command::Ping { .. } => "a ping",
            Command::Shutdown => "shutdown",
        }
    }
}

/// Result of an accepted append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    /// The time stamped on the batch for LogAppendTime topics, else -1.
    pub log_append_time: i64,
    pub log_start: i64,
}

/// A change to a topic's config overrides.
#[derive(Debug, Clone)]
pub enum ConfigChange {
    /// AlterConfigs: the given set replaces all overrides.
    Replace(BTreeMap<String, String>),
    /// IncrementalAlterConfigs: set (Some) or delete (None) single keys.
    Incremental(Vec<(String, Option<String>)>),
}

impl ConfigChange {
    /// The overrides that result from applying this change to `current`.
    pub fn apply(&self, current: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        match self {
            ConfigChange::Replace(all) => all.clone(),
            ConfigChange::Incremental(ops) => {
                let mut out = current.clone();
                for (k, v) in ops {
                    match v {
                        Some(v) => out.insert(k.clone(), v.clone()),
                        None => out.remove(k),
                    };
                }
                out
            }
        }
    }
}
