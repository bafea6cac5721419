//! The storage writer: the one thread that writes to SQLite.
//!
//! Commands arrive on a channel; the writer takes everything queued (up to a
//! byte budget), applies it in one transaction and commits once: concurrent
//! producers share a commit (group commit) instead of paying one each. Only
//! after the commit does it publish the effects (high watermarks, catalog
//! changes) and answer the callers, so acks=1/all are never sent for data a
//! crash could lose. Offsets are assigned here, in commit order.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;
use tracing::{debug, error, info};
use uuid::Uuid;

use super::producers::{Producers, RecentBatch, Verdict};
use super::schema::{batch_key, MAX_OFFSET};
use super::StorageError;
use crate::batch::{self, BatchHeader};
use crate::catalog::{Catalog, Partition, Topic};
use crate::topic_config::{ConfigError, TopicConfig};

/// Stop gathering a group once this many payload bytes are queued in it.
const GROUP_BYTES: usize = 4 * 1024 * 1024;

pub type Reply<T> = oneshot::Sender<Result<T, WriteError>>;

/// Why a write was refused. Each maps to one Kafka error code.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum WriteError {
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    #[error("topic already exists")]
    TopicExists,
    #[error("{0}")]
    InvalidTopic(String),
    #[error("the disk guard refuses new data: the database reached its size cap or the volume its free-space margin; retention or DeleteRecords will make room")]
    StorageFull,
    #[error("offset is beyond the high watermark")]
    OffsetOutOfRange,
    #[error("out of order sequence number")]
    OutOfOrderSequence,
    #[error("producer epoch is fenced by a newer one")]
    InvalidProducerEpoch,
    #[error("{0}")]
    InvalidConfig(String),
    #[error("invalid partition count: {0}")]
    InvalidPartitions(String),
    #[error("storage failure: {0}")]
    Storage(String),
}

impl From<ConfigError> for WriteError {
    fn from(e: ConfigError) -> Self {
        WriteError::InvalidConfig(e.to_string())
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

pub enum Command {
    Append {
        partition: Arc<Partition>,
        batches: Vec<(BatchHeader, Bytes)>,
        log_append_time: bool,
        reply: Option<Reply<Appended>>,
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
    /// Stores a group's committed offsets (insert or replace).
    CommitOffsets {
        group: String,
        offsets: Vec<super::OffsetRow>,
        reply: Reply<()>,
    },
    /// Deletes all of a group's committed offsets (DeleteGroups).
    DeleteGroupOffsets {
        group: String,
        reply: Reply<()>,
    },
    /// Deletes some partitions' committed offsets of a group (OffsetDelete).
    DeleteOffsets {
        group: String,
        partitions: Vec<(String, i32)>,
        reply: Reply<()>,
    },
    /// Removes whole batches from the head of every partition whose topic's
    /// retention.ms or retention.bytes they exceed; replies with the number
    /// of batches removed.
    EnforceRetention {
        now_ms: i64,
        reply: Reply<usize>,
    },
    /// DeleteRecords: the partition's log starts at `offset` (-1: the high
    /// watermark); replies with the new log start.
    DeleteRecords {
        partition: Arc<Partition>,
        offset: i64,
        reply: Reply<i64>,
    },
    Shutdown,
}

impl Command {
    fn payload_bytes(&self) -> usize {
        match self {
            Command::Append { batches, .. } => batches.iter().map(|(_, b)| b.len()).sum(),
            _ => 0,
        }
    }
}

/// The writer's own view of each partition's log.
#[derive(Debug, Clone, Default)]
pub struct PartitionLog {
    pub next_offset: i64,
    pub producers: Producers,
}

type AfterCommit = Box<dyn FnOnce(Result<(), &StorageError>) + Send>;

/// How much room appends have on disk.
#[derive(Debug, Clone)]
pub struct DiskLimits {
    /// Largest database (pages in use) appends may grow to; 0: no cap.
    pub max_db_bytes: u64,
    /// Free space to leave on the database's file system.
    pub min_free_bytes: u64,
    /// The database's directory, whose file system is watched.
    pub dir: std::path::PathBuf,
}

impl DiskLimits {
    /// Bytes of batches that may still be appended, or None without limit.
    fn room(&self, conn: &Connection) -> Result<Option<u64>, StorageError> {
        let mut room: Option<u64> = None;
        if self.max_db_bytes > 0 {
            let (pages, free, size): (i64, i64, i64) = conn.query_row(
                "SELECT (SELECT page_count FROM pragma_page_count()),
                        (SELECT freelist_count FROM pragma_freelist_count()),
                        (SELECT page_size FROM pragma_page_size())",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let used = ((pages - free).max(0) * size) as u64;
            room = Some(self.max_db_bytes.saturating_sub(used));
        }
        if self.min_free_bytes > 0 {
            if let Some(free) = free_disk_bytes(&self.dir) {
                let left = free.saturating_sub(self.min_free_bytes);
                room = Some(room.map_or(left, |r| r.min(left)));
            }
        }
        Ok(room)
    }
}

/// Free bytes for unprivileged writers on the file system holding `dir`.
fn free_disk_bytes(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a statvfs we own.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

pub struct Writer {
    conn: Connection,
    limits: DiskLimits,
    catalog: Arc<Catalog>,
    logs: HashMap<i64, PartitionLog>,
    next_producer_id: i64,
}

/// Deletes the batches of a partition that lie wholly below `log_start` and
/// records the new log start. Returns the number of batches removed.
fn truncate_head(tx: &Connection, partition: i64, log_start: i64) -> Result<usize, StorageError> {
    let removed = if log_start > 0 {
        tx.prepare_cached("DELETE FROM batches WHERE id BETWEEN ?1 AND ?2")?
            .execute(params![
                batch_key(partition, 0),
                batch_key(partition, (log_start - 1).min(MAX_OFFSET))
            ])?
    } else {
        0
    };
    tx.prepare_cached("UPDATE partitions SET log_start = ?1 WHERE id = ?2")?
        .execute(params![log_start, partition])?;
    Ok(removed)
}

/// The offset the log may start at under the topic's retention: past every
/// head batch older than retention.ms, and past as many head batches as
/// keep the partition within retention.bytes. Whole batches only.
fn retention_point(
    tx: &Connection,
    p: &Partition,
    high_watermark: i64,
    config: &TopicConfig,
    now_ms: i64,
) -> Result<i64, StorageError> {
    let (lo, hi) = super::schema::partition_range(p.db_id, 0);
    let mut up_to = p.log_start();
    if config.retention_ms >= 0 {
        let cutoff = now_ms.saturating_sub(config.retention_ms);
        let first_kept: Option<i64> = tx
            .prepare_cached(
                "SELECT base_offset FROM batches WHERE id BETWEEN ?1 AND ?2
                 AND max_timestamp >= ?3 ORDER BY id LIMIT 1",
            )?
            .query_row(params![lo, hi, cutoff], |r| r.get(0))
            .optional()?;
        up_to = up_to.max(first_kept.unwrap_or(high_watermark));
    }
    if config.retention_bytes >= 0 {
        let mut total: i64 = tx
            .prepare_cached(
                "SELECT COALESCE(SUM(length(data)), 0) FROM batches WHERE id BETWEEN ?1 AND ?2",
            )?
            .query_row(params![lo, hi], |r| r.get(0))?;
        if total > config.retention_bytes {
            let mut stmt = tx.prepare_cached(
                "SELECT base_offset, length(data) FROM batches WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
            )?;
            let mut rows = stmt.query(params![lo, hi])?;
            let mut bytes_point = high_watermark;
            while let Some(r) = rows.next()? {
                if total <= config.retention_bytes {
                    bytes_point = r.get(0)?;
                    break;
                }
                total -= r.get::<_, i64>(1)?;
            }
            up_to = up_to.max(bytes_point);
        }
    }
    Ok(up_to.min(high_watermark))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn reply_with<T: Send + 'static>(reply: Reply<T>, value: T) -> AfterCommit {
    Box::new(move |committed| {
        let _ = reply.send(
            committed
                .map(|_| value)
                .map_err(|e| WriteError::Storage(e.to_string())),
        );
    })
}

impl Writer {
    pub fn new(
        conn: Connection,
        limits: DiskLimits,
        catalog: Arc<Catalog>,
        logs: HashMap<i64, PartitionLog>,
        next_producer_id: i64,
    ) -> Self {
        Writer {
            conn,
            limits,
            catalog,
            logs,
            next_producer_id,
        }
    }

    /// Runs until a Shutdown command arrives or every sender is gone, then
    /// checkpoints the WAL into the main file and closes the database.
    pub fn run(mut self, rx: Receiver<Command>) {
        let mut stop = false;
        while !stop {
            let Ok(first) = rx.recv() else { break };
            let mut bytes = first.payload_bytes();
            let mut group = vec![first];
            while bytes < GROUP_BYTES {
                match rx.try_recv() {
                    Ok(cmd) => {
                        bytes += cmd.payload_bytes();
                        group.push(cmd);
                    }
                    Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
                }
            }
            if group.iter().any(|c| matches!(c, Command::Shutdown)) {
                stop = true;
            }
            self.apply_group(group);
        }
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            error!(error = %e, "final checkpoint failed");
        }
        match self.conn.close() {
            Ok(()) => info!("database closed"),
            Err((_, e)) => error!(error = %e, "closing the database failed"),
        }
    }

    fn apply_group(&mut self, group: Vec<Command>) {
        let mut after: Vec<AfterCommit> = Vec::with_capacity(group.len());
        let result = (|| -> Result<(), StorageError> {
            let mut room = self.limits.room(&self.conn)?;
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            for cmd in group {
                let done = Self::apply(
                    &tx,
                    &self.catalog,
                    &mut self.logs,
                    &mut self.next_producer_id,
                    &mut room,
                    cmd,
                )?;
                after.push(done);
            }
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = &result {
            error!(error = %e, "group commit failed; the group is refused");
            // Offsets and producer state were advanced for writes that did
            // not happen: take them back from the file, the source of truth.
            match super::load::partition_logs(&self.conn) {
                Ok((logs, next_pid)) => {
                    self.logs = logs;
                    self.next_producer_id = next_pid;
                }
                Err(e) => error!(error = %e, "reloading partition state failed"),
            }
        }
        debug!(commands = after.len(), "group committed");
        for done in after {
            done(result.as_ref().map(|_| ()));
        }
    }

    /// Applies one command inside the group's transaction and returns what to
    /// do once the group has committed (or failed).
    fn apply(
        tx: &Connection,
        catalog: &Arc<Catalog>,
        logs: &mut HashMap<i64, PartitionLog>,
        next_producer_id: &mut i64,
        room: &mut Option<u64>,
        cmd: Command,
    ) -> Result<AfterCommit, StorageError> {
        Ok(match cmd {
            Command::Append {
                partition,
                batches,
                log_append_time,
                reply,
            } => {
                let bytes: u64 = batches.iter().map(|(_, b)| b.len() as u64).sum();
                let outcome = match room {
                    Some(left) if bytes > *left => Ok(Err(WriteError::StorageFull)),
                    _ => Self::append(tx, logs, &partition, batches, log_append_time),
                }?;
                if let (Some(left), Ok(_)) = (room.as_mut(), &outcome) {
                    *left -= bytes;
                }
                let high_watermark = logs.get(&partition.db_id).map(|l| l.next_offset);
                Box::new(move |committed| {
                    if committed.is_ok() {
                        if let Some(hw) = high_watermark {
                            if hw != partition.high_watermark() {
                                partition.advance(hw);
                            }
                        }
                    }
                    if let Some(reply) = reply {
                        let result = match committed {
                            Ok(()) => outcome.map(|mut a| {
                                a.log_start = partition.log_start();
                                a
                            }),
                            Err(e) => Err(WriteError::Storage(e.to_string())),
                        };
                        let _ = reply.send(result);
                    }
                })
            }
            Command::CreateTopic {
                name,
                partitions,
                overrides,
                reply,
            } => match Self::create_topic(tx, catalog, logs, &name, partitions, overrides)? {
                Ok(topic) => {
                    let catalog = catalog.clone();
                    Box::new(move |committed| {
                        if committed.is_ok() {
                            catalog.insert(topic.clone());
                        }
                        let _ = reply.send(
                            committed
                                .map(|_| topic)
                                .map_err(|e| WriteError::Storage(e.to_string())),
                        );
                    })
                }
                Err(e) => Box::new(move |_| {
                    let _ = reply.send(Err(e));
                }),
            },
            Command::DeleteTopic { name, reply } => match catalog.get(&name) {
                None => Box::new(move |_| {
                    let _ = reply.send(Err(WriteError::UnknownTopicOrPartition));
                }),
                Some(topic) => {
                    for p in topic.partitions().iter() {
                        tx.execute(
                            "DELETE FROM batches WHERE id BETWEEN ?1 AND ?2",
                            params![batch_key(p.db_id, 0), batch_key(p.db_id, MAX_OFFSET)],
                        )?;
                        tx.execute(
                            "DELETE FROM producers WHERE partition_id = ?1",
                            params![p.db_id],
                        )?;
                        logs.remove(&p.db_id);
                    }
                    tx.execute("DELETE FROM topics WHERE id = ?1", params![topic.db_id])?;
                    super::offsets::delete_topic(tx, &topic.name)?;
                    let catalog = catalog.clone();
                    Box::new(move |committed| {
                        if committed.is_ok() {
                            catalog.remove(&topic.name);
                            // Parked long polls end with UNKNOWN_TOPIC_OR_PARTITION.
                            for p in topic.partitions().iter() {
                                p.mark_deleted();
                            }
                        }
                        let _ = reply.send(
                            committed
                                .map(|_| topic.id)
                                .map_err(|e| WriteError::Storage(e.to_string())),
                        );
                    })
                }
            },
            Command::CreatePartitions { name, count, reply } => match catalog.get(&name) {
                None => Box::new(move |_| {
                    let _ = reply.send(Err(WriteError::UnknownTopicOrPartition));
                }),
                Some(topic) => {
                    // Counted in the transaction: an earlier command of this
                    // group may have added partitions the catalog lacks yet.
                    let existing: i32 = tx.query_row(
                        "SELECT COUNT(*) FROM partitions WHERE topic_id = ?1",
                        params![topic.db_id],
                        |r| r.get(0),
                    )?;
                    if count <= existing {
                        let msg = format!(
                            "topic '{name}' has {existing} partitions; the new count must be larger"
                        );
                        Box::new(move |_| {
                            let _ = reply.send(Err(WriteError::InvalidPartitions(msg)));
                        })
                    } else {
                        let added = Self::insert_partitions(
                            tx,
                            logs,
                            &topic.name,
                            topic.db_id,
                            existing,
                            count,
                        )?;
                        Box::new(move |committed| {
                            if committed.is_ok() {
                                topic.add_partitions(added);
                            }
                            let _ = reply
                                .send(committed.map_err(|e| WriteError::Storage(e.to_string())));
                        })
                    }
                }
            },
            Command::AlterConfig {
                name,
                change,
                reply,
            } => match catalog.get(&name) {
                None => Box::new(move |_| {
                    let _ = reply.send(Err(WriteError::UnknownTopicOrPartition));
                }),
                Some(topic) => {
                    // Read in the transaction, so two changes in one group compose.
                    let current: BTreeMap<String, String> = tx
                        .prepare_cached(
                            "SELECT name, value FROM topic_configs WHERE topic_id = ?1",
                        )?
                        .query_map(params![topic.db_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<Result<_, _>>()?;
                    let overrides = change.apply(&current);
                    match TopicConfig::from_overrides(overrides) {
                        Err(e) => Box::new(move |_| {
                            let _ = reply.send(Err(e.into()));
                        }),
                        Ok(config) => {
                            tx.execute(
                                "DELETE FROM topic_configs WHERE topic_id = ?1",
                                params![topic.db_id],
                            )?;
                            for (k, v) in &config.overrides {
                                tx.execute(
                                    "INSERT INTO topic_configs (topic_id, name, value) VALUES (?1, ?2, ?3)",
                                    params![topic.db_id, k, v],
                                )?;
                            }
                            Box::new(move |committed| {
                                if committed.is_ok() {
                                    topic.set_config(config);
                                }
                                let _ = reply.send(
                                    committed.map_err(|e| WriteError::Storage(e.to_string())),
                                );
                            })
                        }
                    }
                }
            },
            Command::AllocateProducerId { reply } => {
                let id = *next_producer_id;
                *next_producer_id += 1;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('next_producer_id', ?1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![*next_producer_id],
                )?;
                reply_with(reply, id)
            }
            Command::CommitOffsets {
                group,
                offsets,
                reply,
            } => {
                super::offsets::commit(tx, &group, &offsets)?;
                reply_with(reply, ())
            }
            Command::DeleteGroupOffsets { group, reply } => {
                super::offsets::delete_group(tx, &group)?;
                reply_with(reply, ())
            }
            Command::DeleteOffsets {
                group,
                partitions,
                reply,
            } => {
                super::offsets::delete_partitions(tx, &group, &partitions)?;
                reply_with(reply, ())
            }
            Command::EnforceRetention { now_ms, reply } => {
                let mut moved = Vec::new();
                let mut removed = 0;
                for topic in catalog.all() {
                    let config = topic.config();
                    for p in topic.partitions().iter() {
                        let Some(log) = logs.get(&p.db_id) else {
                            continue;
                        };
                        let up_to = retention_point(tx, p, log.next_offset, &config, now_ms)?;
                        if up_to > p.log_start() {
                            removed += truncate_head(tx, p.db_id, up_to)?;
                            moved.push((p.clone(), up_to));
                        }
                    }
                }
                Box::new(move |committed| {
                    if committed.is_ok() {
                        for (p, log_start) in &moved {
                            p.set_log_start(*log_start);
                        }
                    }
                    let _ = reply.send(
                        committed
                            .map(|_| removed)
                            .map_err(|e| WriteError::Storage(e.to_string())),
                    );
                })
            }
            Command::DeleteRecords {
                partition,
                offset,
                reply,
            } => {
                let Some(log) = logs.get(&partition.db_id) else {
                    return Ok(Box::new(move |_| {
                        let _ = reply.send(Err(WriteError::UnknownTopicOrPartition));
                    }));
                };
                let hw = log.next_offset;
                let target = if offset == -1 { hw } else { offset };
                if target < 0 || target > hw {
                    return Ok(Box::new(move |_| {
                        let _ = reply.send(Err(WriteError::OffsetOutOfRange));
                    }));
                }
                let log_start = target.max(partition.log_start());
                if log_start > partition.log_start() {
                    truncate_head(tx, partition.db_id, log_start)?;
                }
                Box::new(move |committed| {
                    if committed.is_ok() {
                        partition.set_log_start(log_start);
                    }
                    let _ = reply.send(
                        committed
                            .map(|_| log_start)
                            .map_err(|e| WriteError::Storage(e.to_string())),
                    );
                })
            }
            Command::Shutdown => Box::new(|_| {}),
        })
    }

    fn append(
        tx: &Connection,
        logs: &mut HashMap<i64, PartitionLog>,
        partition: &Partition,
        batches: Vec<(BatchHeader, Bytes)>,
        log_append_time: bool,
    ) -> Result<Result<Appended, WriteError>, StorageError> {
        let Some(log) = logs.get_mut(&partition.db_id) else {
            return Ok(Err(WriteError::UnknownTopicOrPartition));
        };
        let mut first: Option<Appended> = None;
        let append_time = if log_append_time { now_ms() } else { -1 };
        for (header, bytes) in batches {
            if header.has_producer_id() {
                match log.producers.check(&header) {
                    Verdict::Append => {}
                    Verdict::Duplicate { base_offset } => {
                        first.get_or_insert(Appended {
                            base_offset,
                            log_append_time: append_time,
                            log_start: 0,
                        });
                        continue;
                    }
                    Verdict::OutOfOrder => return Ok(Err(WriteError::OutOfOrderSequence)),
                    Verdict::Fenced => return Ok(Err(WriteError::InvalidProducerEpoch)),
                }
            }
            let base_offset = log.next_offset;
            let last_offset = base_offset + header.last_offset_delta as i64;
            if last_offset > MAX_OFFSET {
                return Err(StorageError::Full(
                    "partition offset space exhausted".into(),
                ));
            }
            let mut max_timestamp = header.max_timestamp;
            let mut stamped;
            let data: &[u8] = if log_append_time {
                stamped = bytes.to_vec();
                batch::set_log_append_time(&mut stamped, append_time);
                max_timestamp = append_time;
                &stamped
            } else {
                &bytes
            };
            tx.prepare_cached(
                "INSERT INTO batches (id, base_offset, max_timestamp, data) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                batch_key(partition.db_id, last_offset),
                base_offset,
                max_timestamp,
                data
            ])?;
            if header.has_producer_id() {
                let recent: RecentBatch = log.producers.record(&header, base_offset);
                tx.prepare_cached(
                    "INSERT INTO producers (partition_id, producer_id, epoch, first_seq, last_seq, base_offset)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (partition_id, producer_id) DO UPDATE SET
                       epoch = excluded.epoch, first_seq = excluded.first_seq,
                       last_seq = excluded.last_seq, base_offset = excluded.base_offset",
                )?
                .execute(params![
                    partition.db_id,
                    header.producer_id,
                    header.producer_epoch,
                    recent.first_seq,
                    recent.last_seq,
                    base_offset
                ])?;
            }
            log.next_offset = last_offset + 1;
            first.get_or_insert(Appended {
                base_offset,
                log_append_time: append_time,
                log_start: 0,
            });
        }
        Ok(first.ok_or(WriteError::UnknownTopicOrPartition))
    }

    fn create_topic(
        tx: &Connection,
        catalog: &Catalog,
        logs: &mut HashMap<i64, PartitionLog>,
        name: &str,
        partitions: i32,
        overrides: BTreeMap<String, String>,
    ) -> Result<Result<Arc<Topic>, WriteError>, StorageError> {
        // The transaction also sees topics created earlier in this group.
        let in_file: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM topics WHERE name = ?1)")?
            .query_row(params![name], |r| r.get(0))?;
        if catalog.get(name).is_some() || in_file {
            return Ok(Err(WriteError::TopicExists));
        }
        // Kafka refuses names that differ only by '.' versus '_' (they map to
        // the same metric names).
        let colliding: Option<String> = tx
            .prepare_cached(
                "SELECT name FROM topics WHERE replace(name, '.', '_') = replace(?1, '.', '_') LIMIT 1",
            )?
            .query_row(params![name], |r| r.get(0))
            .optional()?;
        if let Some(other) = colliding {
            return Ok(Err(WriteError::InvalidTopic(format!(
                "topic '{name}' collides with existing topic '{other}' ('.' and '_' are interchangeable)"
            ))));
        }
        if partitions < 1 {
            return Ok(Err(WriteError::InvalidPartitions(format!(
                "{partitions} (must be at least 1)"
            ))));
        }
        let config = match TopicConfig::from_overrides(overrides) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e.into())),
        };
        let id = Uuid::new_v4();
        tx.execute(
            "INSERT INTO topics (name, uuid, created_ms) VALUES (?1, ?2, ?3)",
            params![name, id.as_bytes().as_slice(), now_ms()],
        )?;
        let topic_db_id = tx.last_insert_rowid();
        for (k, v) in &config.overrides {
            tx.execute(
                "INSERT INTO topic_configs (topic_id, name, value) VALUES (?1, ?2, ?3)",
                params![topic_db_id, k, v],
            )?;
        }
        let parts = Self::insert_partitions(tx, logs, name, topic_db_id, 0, partitions)?;
        Ok(Ok(Arc::new(Topic::new(
            topic_db_id,
            name.to_string(),
            id,
            config,
            parts,
        ))))
    }

    fn insert_partitions(
        tx: &Connection,
        logs: &mut HashMap<i64, PartitionLog>,
        topic: &str,
        topic_db_id: i64,
        from: i32,
        to: i32,
    ) -> Result<Vec<Arc<Partition>>, StorageError> {
        let mut out = Vec::with_capacity((to - from) as usize);
        for idx in from..to {
            tx.execute(
                "INSERT INTO partitions (topic_id, idx, log_start) VALUES (?1, ?2, 0)",
                params![topic_db_id, idx],
            )?;
            let db_id = tx.last_insert_rowid();
            logs.insert(db_id, PartitionLog::default());
            out.push(Arc::new(Partition::new(topic, idx, db_id, 0, 0)));
        }
        Ok(out)
    }
}
