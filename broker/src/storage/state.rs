//! What the writer owns besides its connection: its view of every
//! partition's log (next offset, idempotent producers), the next producer id,
//! and the catalog it publishes to. One method per command: each applies its
//! command inside the group's open transaction and says what to publish
//! once that transaction has committed. Nothing here commits, and nothing a
//! client can see changes before the commit.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::command::{Appended, ConfigChange};
use super::disk::{disk_refusal, Room, METADATA_RESERVE};
use super::partition_log::PartitionLog;
use super::producers::{RecentBatch, Verdict};
use super::retention::{retention_point, truncate_head};
use super::schema::{batch_key, MAX_OFFSET};
use super::schema::{normalised_name, MAX_PARTITION_ID};
use super::txn::Txns;
use super::{
    load, offsets, over_partition_limit, OffsetRow, StorageError, WriteError, WriteResult,
};
use crate::batch::{self, BatchHeader};
use crate::catalog::{Catalog, Partition, Topic};
use crate::clock::now_ms;
use crate::topic_config::TopicConfig;

/// Makes a written change visible (catalog, high watermarks, log starts)
/// and gives the caller's answer; run only after the commit.
pub(super) type Publish<T> = Box<dyn FnOnce() -> WriteResult<T> + Send>;

/// A command applied inside the open transaction.
pub(super) enum Staged<T> {
    /// Refused before anything was written: the answer stands whatever
    /// becomes of the transaction.
    Refused(WriteError),
    /// Written in the transaction. If it commits, `Publish` runs; if not,
    /// the caller gets the storage failure and nothing is published.
    Written(Publish<T>),
}

/// Applying one command: `Err` is a database failure, which aborts the
/// whole group (every command in it gets the failure).
pub(super) type Applied<T> = Result<Staged<T>, StorageError>;

/// A step inside a command: `Err` aborts the group as above, `Ok(Err(_))`
/// refuses this one command.
type Outcome<T> = Result<WriteResult<T>, StorageError>;

/// The limit's name in logs.
pub const PRODUCER_LIMIT: &str = "SKIFF_MAX_PRODUCER_IDS";

fn count_producers(logs: &HashMap<i64, PartitionLog>) -> usize {
    logs.values().map(|l| l.producers.len()).sum()
}

fn written<T>(publish: impl FnOnce() -> WriteResult<T> + Send + 'static) -> Staged<T> {
    Staged::Written(Box::new(publish))
}

pub(super) struct WriterState {
    pub(super) catalog: Arc<Catalog>,
    pub(super) logs: HashMap<i64, PartitionLog>,
    pub(super) next_producer_id: i64,
    /// The transaction coordinator's state (`txn.rs`).
    pub(super) txns: Txns,
    /// Partitions summed over all topics (`SKIFF_MAX_PARTITIONS`), checked
    /// against `logs`, which also holds the partitions of this group's
    /// earlier commands.
    max_partitions: u32,
    /// `SKIFF_PRODUCER_ID_EXPIRATION_MS`.
    producer_expiration_ms: i64,
    /// `SKIFF_MAX_PRODUCER_IDS`: most (partition, producer id) states held.
    max_producers: usize,
    /// (partition, producer id) states held, summed over `logs`.
    pub(super) producers: usize,
}

impl WriterState {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        catalog: Arc<Catalog>,
        logs: HashMap<i64, PartitionLog>,
        txns: Txns,
        next_producer_id: i64,
        max_partitions: u32,
        producer_expiration_ms: i64,
        max_producers: usize,
    ) -> Self {
        let producers = count_producers(&logs);
        WriterState {
            catalog,
            logs,
            next_producer_id,
            txns,
            max_partitions,
            producer_expiration_ms,
            max_producers,
            producers,
        }
    }

    /// Producers that last wrote before this are expired.
    pub(super) fn producer_cutoff(&self, now_ms: i64) -> i64 {
        now_ms.saturating_sub(self.producer_expiration_ms)
    }

    /// The refusal of `adding` more partitions, if the broker-wide limit
    /// forbids them.
    fn over_limit(&self, adding: i64) -> Option<WriteError> {
        over_partition_limit(self.logs.len(), adding, self.max_partitions)
            .map(WriteError::PolicyViolation)
    }

    /// After a failed commit: the offsets and producer state advanced for
    /// writes that did not happen are taken back from the file, the source
    /// of truth. (The catalog changes only after a commit, so it is right.)
    pub(super) fn reload(&mut self, conn: &Connection) -> Result<(), StorageError> {
        let (mut logs, next_producer_id) =
            load::partition_logs(conn, self.producer_cutoff(now_ms()))?;
        self.txns = super::txn::load(conn, &mut logs, &self.catalog.partitions_by_id())?;
        self.producers = count_producers(&logs);
        self.logs = logs;
        self.next_producer_id = next_producer_id;
        Ok(())
    }

    /// Appends one batch to a partition (its offsets assigned here, in
    /// commit order), unless the disk guard's `room` (bytes left for this
    /// group) is too small. All or nothing: a refused batch writes nothing.
    pub(super) fn append(
        &mut self,
        tx: &Connection,
        room: &mut Option<Room>,
        partition: Arc<Partition>,
        batch: (BatchHeader, Bytes),
        log_append_time: bool,
    ) -> Applied<Appended> {
        let bytes = batch.1.len() as u64;
        let next_before = self.logs.get(&partition.db_id).map(|l| l.next_offset);
        let arrived = batch.1.clone();
        let outcome = match room {
            Some(r) if bytes.saturating_add(METADATA_RESERVE) > r.bytes => {
                disk_refusal(r, "a produced batch", bytes);
                Err(WriteError::StorageFull)
            }
            _ => self.write_batch(tx, &partition, batch, log_append_time)?,
        };
        if let (Some(r), Ok(_)) = (room.as_mut(), &outcome) {
            r.bytes = r.bytes.saturating_sub(bytes);
        }
        // Earlier appends of this group may have moved the high watermark:
        // it is published whatever this one's outcome.
        let high_watermark = self.logs.get(&partition.db_id).map(|l| l.next_offset);
        let last_stable = self.logs.get(&partition.db_id).map(|l| l.last_stable());
        // Stored (not a duplicate): the batch joins the in-memory tail.
        let stored = match (&outcome, next_before, high_watermark) {
            (Ok(a), Some(before), Some(after)) if after > before && a.base_offset == before => {
                Some((before, after, a.log_append_time))
            }
            _ => None,
        };
        Ok(written(move || {
            if let Some((base, end, append_time)) = stored {
                let served = batch::served_form(&arrived, base, append_time);
                partition.tail.push(base, end, served);
            }
            if let Some(lso) = last_stable {
                partition.set_last_stable(lso);
            }
            if let Some(hw) = high_watermark {
                if hw != partition.high_watermark() {
                    partition.advance(hw);
                }
            }
            outcome.map(|mut a| {
                a.log_start = partition.log_start();
                a
            })
        }))
    }

    fn write_batch(
        &mut self,
        tx: &Connection,
        partition: &Partition,
        (header, bytes): (BatchHeader, Bytes),
        log_append_time: bool,
    ) -> Outcome<Appended> {
        if !self.logs.contains_key(&partition.db_id) {
            return Ok(Err(WriteError::UnknownTopicOrPartition));
        }
        if let Some(refused) = self.txns.check_append(partition.db_id, &header) {
            return Ok(Err(refused));
        }
        let log = self.logs.get_mut(&partition.db_id).expect("checked");
        let append_time = if log_append_time { now_ms() } else { -1 };
        if header.has_producer_id() {
            match log.producers.check(&header) {
                Verdict::Append => {}
                Verdict::Duplicate { base_offset } => {
                    return Ok(Ok(Appended {
                        base_offset,
                        log_append_time: append_time,
                        log_start: 0,
                    }))
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
            let now = now_ms();
            let held = log.producers.len();
            let recent: RecentBatch = log.producers.record(&header, base_offset, now);
            self.producers += log.producers.len() - held;
            tx.prepare_cached(
                "INSERT INTO producers
                   (partition_id, producer_id, epoch, first_seq, last_seq, base_offset, last_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (partition_id, producer_id) DO UPDATE SET
                   epoch = excluded.epoch, first_seq = excluded.first_seq,
                   last_seq = excluded.last_seq, base_offset = excluded.base_offset,
                   last_ms = excluded.last_ms",
            )?
            .execute(params![
                partition.db_id,
                header.producer_id,
                header.producer_epoch,
                recent.first_seq,
                recent.last_seq,
                base_offset,
                now
            ])?;
        }
        log.next_offset = last_offset + 1;
        self.txn_appended(tx, partition.db_id, &header, base_offset)?;
        if self.producers > self.max_producers {
            self.evict_producers(tx)?;
        }
        Ok(Ok(Appended {
            base_offset,
            log_append_time: append_time,
            log_start: 0,
        }))
    }

    pub(super) fn create_topic(
        &mut self,
        tx: &Connection,
        name: &str,
        partitions: i32,
        overrides: BTreeMap<String, String>,
    ) -> Applied<Arc<Topic>> {
        // The transaction also sees topics created earlier in this group.
        let in_file: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM topics WHERE name = ?1)")?
            .query_row(params![name], |r| r.get(0))?;
        if self.catalog.get(name).is_some() || in_file {
            return Ok(Staged::Refused(WriteError::TopicExists));
        }
        // Kafka refuses names that differ only by '.' versus '_' (they map to
        // the same metric names): one lookup in the UNIQUE index.
        let norm = normalised_name(name);
        let colliding: Option<String> = tx
            .prepare_cached("SELECT name FROM topics WHERE norm_name = ?1")?
            .query_row(params![norm], |r| r.get(0))
            .optional()?;
        if let Some(other) = colliding {
            return Ok(Staged::Refused(WriteError::InvalidTopic(format!(
                "topic '{name}' collides with existing topic '{other}' ('.' and '_' are interchangeable)"
            ))));
        }
        if partitions < 1 {
            return Ok(Staged::Refused(WriteError::InvalidPartitions(format!(
                "{partitions} (must be at least 1)"
            ))));
        }
        if let Some(e) = self.over_limit(partitions as i64) {
            return Ok(Staged::Refused(e));
        }
        let config = match TopicConfig::from_overrides(overrides) {
            Ok(c) => c,
            Err(e) => return Ok(Staged::Refused(e.into())),
        };
        let Some(ids) = free_partition_ids(tx, partitions as usize)? else {
            return Ok(Staged::Refused(id_space_exhausted()));
        };
        let id = Uuid::new_v4();
        tx.execute(
            "INSERT INTO topics (name, norm_name, uuid, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![name, norm, id.as_bytes().as_slice(), now_ms()],
        )?;
        let topic_db_id = tx.last_insert_rowid();
        for (k, v) in &config.overrides {
            tx.execute(
                "INSERT INTO topic_configs (topic_id, name, value) VALUES (?1, ?2, ?3)",
                params![topic_db_id, k, v],
            )?;
        }
        let parts = self.insert_partitions(tx, name, topic_db_id, 0, &ids)?;
        let topic = Arc::new(Topic::new(topic_db_id, name.to_string(), id, config, parts));
        let catalog = self.catalog.clone();
        Ok(written(move || {
            catalog.insert(topic.clone());
            Ok(topic)
        }))
    }

    /// Deletes a topic with its batches, producer state and committed
    /// group offsets.
    pub(super) fn delete_topic(&mut self, tx: &Connection, name: &str) -> Applied<Uuid> {
        let Some(topic) = self.catalog.get(name) else {
            return Ok(Staged::Refused(WriteError::UnknownTopicOrPartition));
        };
        for p in topic.partitions().iter() {
            tx.execute(
                "DELETE FROM batches WHERE id BETWEEN ?1 AND ?2",
                params![batch_key(p.db_id, 0), batch_key(p.db_id, MAX_OFFSET)],
            )?;
            tx.execute(
                "DELETE FROM producers WHERE partition_id = ?1",
                params![p.db_id],
            )?;
            if let Some(log) = self.logs.remove(&p.db_id) {
                self.producers -= log.producers.len();
            }
        }
        tx.execute("DELETE FROM topics WHERE id = ?1", params![topic.db_id])?;
        offsets::delete_topic(tx, &topic.name)?;
        let ids: Vec<i64> = topic.partitions().iter().map(|p| p.db_id).collect();
        self.txn_forget_partitions(tx, &ids)?;
        let catalog = self.catalog.clone();
        Ok(written(move || {
            catalog.remove(&topic.name);
            // Parked long polls end with UNKNOWN_TOPIC_OR_PARTITION.
            for p in topic.partitions().iter() {
                p.mark_deleted();
            }
            Ok(topic.id)
        }))
    }

    pub(super) fn create_partitions(
        &mut self,
        tx: &Connection,
        name: &str,
        count: i32,
    ) -> Applied<()> {
        let Some(topic) = self.catalog.get(name) else {
            return Ok(Staged::Refused(WriteError::UnknownTopicOrPartition));
        };
        // Counted in the transaction: an earlier command of this group may
        // have added partitions the catalog lacks yet.
        let existing: i32 = tx.query_row(
            "SELECT COUNT(*) FROM partitions WHERE topic_id = ?1",
            params![topic.db_id],
            |r| r.get(0),
        )?;
        if count <= existing {
            return Ok(Staged::Refused(WriteError::InvalidPartitions(format!(
                "topic '{name}' has {existing} partitions; the new count must be larger"
            ))));
        }
        if let Some(e) = self.over_limit(count as i64 - existing as i64) {
            return Ok(Staged::Refused(e));
        }
        let Some(ids) = free_partition_ids(tx, (count - existing) as usize)? else {
            return Ok(Staged::Refused(id_space_exhausted()));
        };
        let added = self.insert_partitions(tx, &topic.name, topic.db_id, existing, &ids)?;
        Ok(written(move || {
            topic.add_partitions(added);
            Ok(())
        }))
    }

    pub(super) fn alter_config(
        &mut self,
        tx: &Connection,
        name: &str,
        change: ConfigChange,
    ) -> Applied<()> {
        let Some(topic) = self.catalog.get(name) else {
            return Ok(Staged::Refused(WriteError::UnknownTopicOrPartition));
        };
        // Read in the transaction, so two changes in one group compose.
        let current: BTreeMap<String, String> = tx
            .prepare_cached("SELECT name, value FROM topic_configs WHERE topic_id = ?1")?
            .query_map(params![topic.db_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let config = match TopicConfig::from_overrides(change.apply(&current)) {
            Ok(c) => c,
            Err(e) => return Ok(Staged::Refused(e.into())),
        };
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
        Ok(written(move || {
            topic.set_config(config);
            Ok(())
        }))
    }

    /// A new producer id from the persistent counter, never reused.
    pub(super) fn allocate_producer_id(&mut self, tx: &Connection) -> Applied<i64> {
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('next_producer_id', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![self.next_producer_id],
        )?;
        Ok(written(move || Ok(id)))
    }

    /// Stores a group's committed offsets (insert or replace).
    pub(super) fn commit_offsets(
        &mut self,
        tx: &Connection,
        group: &str,
        rows: &[OffsetRow],
    ) -> Applied<()> {
        offsets::commit(tx, group, rows)?;
        Ok(written(|| Ok(())))
    }

    /// Deletes all of a group's committed offsets (DeleteGroups).
    pub(super) fn delete_group_offsets(&mut self, tx: &Connection, group: &str) -> Applied<()> {
        offsets::delete_group(tx, group)?;
        Ok(written(|| Ok(())))
    }

    /// Deletes some partitions' committed offsets of a group (OffsetDelete).
    pub(super) fn delete_offsets(
        &mut self,
        tx: &Connection,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Applied<()> {
        offsets::delete_partitions(tx, group, partitions)?;
        Ok(written(|| Ok(())))
    }

    /// Removes whole batches from the head of every partition whose topic's
    /// retention.ms or retention.bytes they exceed; answers the number of
    /// batches removed.
    pub(super) fn enforce_retention(&mut self, tx: &Connection, now_ms: i64) -> Applied<usize> {
        self.expire_producers(tx, now_ms)?;
        let mut moved = Vec::new();
        let mut removed = 0;
        for topic in self.catalog.all() {
            let config = topic.config();
            for p in topic.partitions().iter() {
                let Some(log) = self.logs.get(&p.db_id) else {
                    continue;
                };
                let up_to =
                    retention_point(tx, p.db_id, p.log_start(), log.next_offset, &config, now_ms)?;
                if up_to > p.log_start() {
                    removed += truncate_head(tx, p.db_id, up_to)?;
                    super::txn::truncate_aborts(tx, p.db_id, up_to)?;
                    moved.push((p.clone(), up_to));
                }
            }
        }
        Ok(written(move || {
            for (p, log_start) in &moved {
                p.set_log_start(*log_start);
                p.aborted.truncate(*log_start);
            }
            Ok(removed)
        }))
    }

    /// Forgets, in memory and in the file, the producers that have not
    /// written for `SKIFF_PRODUCER_ID_EXPIRATION_MS`. (If the transaction
    /// fails, `reload` reads them back from the file.)
    fn expire_producers(&mut self, tx: &Connection, now_ms: i64) -> Result<usize, StorageError> {
        let cutoff = self.producer_cutoff(now_ms);
        let expired = self.drop_producers_before(tx, cutoff)?;
        if expired > 0 {
            tracing::info!(producers = expired, "idle producer ids expired");
        }
        Ok(expired)
    }

    /// Forgets, in memory and in the file, every producer that last wrote
    /// before `cutoff`; answers how many went.
    fn drop_producers_before(
        &mut self,
        tx: &Connection,
        cutoff: i64,
    ) -> Result<usize, StorageError> {
        let mut dropped = 0;
        for log in self.logs.values_mut() {
            dropped += log.producers.expire(cutoff);
        }
        if dropped > 0 {
            tx.prepare_cached("DELETE FROM producers WHERE last_ms < ?1")?
                .execute(params![cutoff])?;
        }
        self.producers -= dropped;
        Ok(dropped)
    }

    /// Past `SKIFF_MAX_PRODUCER_IDS`: the least recently written tenth of
    /// the producers is forgotten at once (so the pass, linear in the
    /// producers held, runs once per tenth of the limit of new ids). A
    /// forgotten producer is treated as new again: its next batch is
    /// accepted at any sequence, as after Kafka's expiration.
    fn evict_producers(&mut self, tx: &Connection) -> Result<(), StorageError> {
        let mut times = Vec::with_capacity(self.producers);
        for log in self.logs.values() {
            log.producers.last_writes(&mut times);
        }
        let nth = (self.max_producers / 10).min(times.len().saturating_sub(1));
        let (_, &mut at, _) = times.select_nth_unstable(nth);
        let dropped = self.drop_producers_before(tx, at.saturating_add(1))?;
        crate::refusals::refused(
            PRODUCER_LIMIT,
            None,
            &format!(
                "{dropped} least recently written producer ids forgotten: more than {} held \
                 (SKIFF_MAX_PRODUCER_IDS)",
                self.max_producers
            ),
        );
        Ok(())
    }

    /// Deletes the committed offsets of each of `groups` whose every offset
    /// was committed before `cutoff_ms` (a group that committed since
    /// keeps all of its offsets).
    pub(super) fn expire_offsets(
        &mut self,
        tx: &Connection,
        groups: &[String],
        cutoff_ms: i64,
    ) -> Applied<()> {
        for g in groups {
            offsets::expire_group(tx, g, cutoff_ms)?;
        }
        Ok(written(|| Ok(())))
    }

    /// DeleteRecords: the partition's log starts at `offset` (-1: the high
    /// watermark); answers the new log start.
    pub(super) fn delete_records(
        &mut self,
        tx: &Connection,
        partition: Arc<Partition>,
        offset: i64,
    ) -> Applied<i64> {
        let Some(log) = self.logs.get(&partition.db_id) else {
            return Ok(Staged::Refused(WriteError::UnknownTopicOrPartition));
        };
        let hw = log.next_offset;
        let target = if offset == -1 { hw } else { offset };
        if target < 0 || target > hw {
            return Ok(Staged::Refused(WriteError::OffsetOutOfRange));
        }
        let log_start = target.max(partition.log_start());
        if log_start > partition.log_start() {
            truncate_head(tx, partition.db_id, log_start)?;
            super::txn::truncate_aborts(tx, partition.db_id, log_start)?;
        }
        Ok(written(move || {
            partition.set_log_start(log_start);
            partition.aborted.truncate(log_start);
            Ok(log_start)
        }))
    }

    /// Inserts partitions `from..` of a topic under the row ids `ids`
    /// (from `free_partition_ids`, whose length the caller has checked
    /// against the partition limit).
    fn insert_partitions(
        &mut self,
        tx: &Connection,
        topic: &str,
        topic_db_id: i64,
        from: i32,
        ids: &[i64],
    ) -> Result<Vec<Arc<Partition>>, StorageError> {
        let mut out = Vec::with_capacity(ids.len());
        let mut insert = tx.prepare_cached(
            "INSERT INTO partitions (id, topic_id, idx, log_start) VALUES (?1, ?2, ?3, 0)",
        )?;
        for (idx, &db_id) in (from..).zip(ids) {
            insert.execute(params![db_id, topic_db_id, idx])?;
            self.logs.insert(db_id, PartitionLog::default());
            out.push(Arc::new(Partition::new(topic, idx, db_id, 0, 0)));
        }
        Ok(out)
    }
}

/// Row ids for `n` new partitions, all at most `MAX_PARTITION_ID` (so
/// `batch_key` never overflows into another partition's keys): the ids after
/// the largest one in use, or, once those run out, the lowest free ones
/// (ids freed by deleted topics, whose batches and producer state were
/// deleted with them). None if fewer than `n` ids are free.
fn free_partition_ids(tx: &Connection, n: usize) -> Result<Option<Vec<i64>>, StorageError> {
    let max: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) FROM partitions", [], |r| {
        r.get(0)
    })?;
    if max + (n as i64) <= MAX_PARTITION_ID {
        return Ok(Some((max + 1..=max + n as i64).collect()));
    }
    // Rare (after millions of topics created and deleted): walk the ids in
    // use, at most the partition limit of them, for the gaps.
    let mut stmt = tx.prepare("SELECT id FROM partitions WHERE id >= 1 ORDER BY id")?;
    let used = stmt.query_map([], |r| r.get::<_, i64>(0))?;
    let mut out = Vec::with_capacity(n);
    let mut candidate = 1;
    for id in used {
        let id = id?;
        while candidate < id && out.len() < n {
            out.push(candidate);
            candidate += 1;
        }
        if out.len() == n {
            break;
        }
        candidate = id + 1;
    }
    while out.len() < n && candidate <= MAX_PARTITION_ID {
        out.push(candidate);
        candidate += 1;
    }
    Ok((out.len() == n && out.iter().all(|&id| id <= MAX_PARTITION_ID)).then_some(out))
}

// The partition limit's ceiling is far below the id space, so while the
// limit holds there is always a free id.
const _: () = assert!((crate::config::MAX_PARTITIONS_CEILING as i64) < MAX_PARTITION_ID);

fn id_space_exhausted() -> WriteError {
    WriteError::PolicyViolation(format!(
        "no partition id is free: ids stop at {MAX_PARTITION_ID} (2^23-1), the largest whose \
         batch keys fit the row id"
    ))
}

#[cfg(test)]
impl WriterState {
    /// Each partition's next offset, and the next producer id under key -1.
    pub(super) fn next_offsets(&self) -> BTreeMap<i64, i64> {
        let mut out: BTreeMap<i64, i64> =
            self.logs.iter().map(|(p, l)| (*p, l.next_offset)).collect();
        out.insert(-1, self.next_producer_id);
        out
    }
}
