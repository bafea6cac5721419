//! Transactions (KIP-98) on the storage writer's side: the transaction
//! coordinator's state and rules, its tables, and the markers it writes.
//!
//! Every change is a command applied inside the writer's group-commit
//! transaction, so each step of a transaction is atomic and durable with
//! the commit that acknowledges it: in particular EndTxn writes every
//! partition's COMMIT/ABORT marker, the aborted-transactions index and the
//! committed group offsets in one SQLite transaction. There is therefore no
//! PrepareCommit/PrepareAbort state to recover: after a crash a transaction
//! is either complete (EndTxn was acknowledged) or still open, and an open
//! one is aborted when it times out (or when its producer re-initialises).
//!
//! Tables: `transactions` (one row per transactional id), `txn_partitions`
//! and `txn_groups` (what the open transaction spans), `txn_offsets` (group
//! offsets committed in it, visible only once it commits), `txn_open`
//! (per partition, the first offset of each open transaction: the last
//! stable offset is the smallest), `aborted_txns` (per partition, each
//! aborted transaction's first offset and marker, for read_committed).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rusqlite::{params, Connection};

use super::offsets::{self, OffsetRow};
use super::partition_log::PartitionLog;
use super::schema::batch_key;
use super::state::{Applied, Staged, WriterState};
use super::{StorageError, WriteError, WriteResult};
use crate::batch::{self, BatchHeader};
use crate::catalog::Partition;
use crate::clock::now_ms;
use crate::transactions::{expired, Aborted, TxnState, TxnSummary, ABORTS_IN_MEMORY};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS transactions (
    transactional_id TEXT PRIMARY KEY,
    producer_id      INTEGER NOT NULL,
    epoch            INTEGER NOT NULL,
    prev_epoch       INTEGER NOT NULL,
    timeout_ms       INTEGER NOT NULL,
    state            INTEGER NOT NULL,
    started_ms       INTEGER NOT NULL,
    last_ms          INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS txn_partitions (
    transactional_id TEXT NOT NULL,
    partition_id     INTEGER NOT NULL,
    PRIMARY KEY (transactional_id, partition_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS txn_groups (
    transactional_id TEXT NOT NULL,
    group_id         TEXT NOT NULL,
    PRIMARY KEY (transactional_id, group_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS txn_offsets (
    transactional_id TEXT NOT NULL,
    group_id     TEXT NOT NULL,
    topic        TEXT NOT NULL,
    partition    INTEGER NOT NULL,
    offset       INTEGER NOT NULL,
    leader_epoch INTEGER NOT NULL,
    metadata     TEXT NOT NULL,
    commit_ms    INTEGER NOT NULL,
    PRIMARY KEY (transactional_id, group_id, topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS txn_open (
    partition_id INTEGER NOT NULL,
    producer_id  INTEGER NOT NULL,
    first_offset INTEGER NOT NULL,
    PRIMARY KEY (partition_id, producer_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aborted_txns (
    partition_id INTEGER NOT NULL,
    last_offset  INTEGER NOT NULL,
    producer_id  INTEGER NOT NULL,
    first_offset INTEGER NOT NULL,
    PRIMARY KEY (partition_id, last_offset)
) WITHOUT ROWID;
";

/// Most groups one transaction may commit offsets for.
pub const MAX_GROUPS_PER_TXN: usize = 64;
/// Most pending offsets one transaction may hold.
pub const MAX_OFFSETS_PER_TXN: usize = 10_000;

/// One transactional id in the writer.
#[derive(Debug, Clone)]
pub(super) struct TxnEntry {
    producer_id: i64,
    epoch: i16,
    /// The epoch before a timeout's bump: its producer may still ask for a
    /// new epoch with InitProducerId v3+ (KIP-360) instead of being fenced.
    prev_epoch: i16,
    timeout_ms: i32,
    state: TxnState,
    started_ms: i64,
    last_ms: i64,
    partitions: Vec<Arc<Partition>>,
    groups: BTreeSet<String>,
    pending: BTreeMap<(String, String, i32), OffsetRow>,
}

impl TxnEntry {
    fn summary(&self) -> TxnSummary {
        TxnSummary {
            producer_id: self.producer_id,
            epoch: self.epoch,
            timeout_ms: self.timeout_ms,
            state: self.state,
            started_ms: self.started_ms,
            partitions: self
                .partitions
                .iter()
                .map(|p| (p.topic.clone(), p.index))
                .collect(),
            pending: self.pending.keys().cloned().collect(),
        }
    }
}

/// The writer's transactional ids.
#[derive(Debug, Default)]
pub(super) struct Txns {
    by_id: HashMap<String, TxnEntry>,
    /// Producer id → transactional id.
    by_pid: HashMap<i64, String>,
}

/// A marker written to a partition: its offset, served form, the
/// partition's new last stable offset and, for an abort, the aborted range.
struct Marker {
    partition: Arc<Partition>,
    offset: i64,
    data: bytes::Bytes,
    last_stable: i64,
    aborted: Option<Aborted>,
}

/// What a finished transaction publishes after the commit.
struct Finished {
    markers: Vec<Marker>,
    offsets: Vec<(String, Vec<OffsetRow>)>,
}

impl Finished {
    fn publish(self) {
        for m in self.markers {
            let p = m.partition;
            p.tail.push(m.offset, m.offset + 1, m.data);
            if let Some(a) = m.aborted {
                p.aborted.push(a);
            }
            p.set_last_stable(m.last_stable);
            p.advance(m.offset + 1);
        }
    }
}

/// Loads the transactions, each partition's open transactions and its
/// newest aborts from the file (start-up and after a failed commit).
pub(super) fn load(
    conn: &Connection,
    logs: &mut HashMap<i64, PartitionLog>,
    partitions: &HashMap<i64, Arc<Partition>>,
) -> Result<Txns, StorageError> {
    let mut open = conn.prepare("SELECT partition_id, producer_id, first_offset FROM txn_open")?;
    let rows: Vec<(i64, i64, i64)> = open
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (partition, pid, first) in rows {
        if let Some(log) = logs.get_mut(&partition) {
            log.open_txns.insert(pid, first);
        }
    }
    let mut aborted = conn.prepare(
        "SELECT producer_id, first_offset, last_offset FROM aborted_txns
         WHERE partition_id = ?1 ORDER BY last_offset DESC LIMIT ?2",
    )?;
    for (id, p) in partitions {
        let mut newest: Vec<Aborted> = aborted
            .query_map(params![id, ABORTS_IN_MEMORY as i64 + 1], |r| {
                Ok(Aborted {
                    producer_id: r.get(0)?,
                    first_offset: r.get(1)?,
                    last_offset: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let complete = newest.len() <= ABORTS_IN_MEMORY;
        newest.truncate(ABORTS_IN_MEMORY);
        newest.reverse();
        p.aborted.load(newest, complete);
        if let Some(log) = logs.get(id) {
            p.set_last_stable(log.last_stable());
        }
    }
    let mut txns = Txns::default();
    let mut stmt = conn.prepare(
        "SELECT transactional_id, producer_id, epoch, prev_epoch, timeout_ms, state, started_ms, last_ms
         FROM transactions",
    )?;
    type Row = (String, i64, i16, i16, i32, i64, i64, i64);
    let rows: Vec<Row> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut parts =
        conn.prepare("SELECT partition_id FROM txn_partitions WHERE transactional_id = ?1")?;
    let mut groups = conn.prepare("SELECT group_id FROM txn_groups WHERE transactional_id = ?1")?;
    let mut pending = conn.prepare(
        "SELECT group_id, topic, partition, offset, leader_epoch, metadata, commit_ms
         FROM txn_offsets WHERE transactional_id = ?1",
    )?;
    for (id, pid, epoch, prev_epoch, timeout_ms, state, started_ms, last_ms) in rows {
        let ps: Vec<i64> = parts
            .query_map(params![id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let gs: BTreeSet<String> = groups
            .query_map(params![id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut offsets = BTreeMap::new();
        let mut rows = pending.query(params![id])?;
        while let Some(r) = rows.next()? {
            let group: String = r.get(0)?;
            let row = OffsetRow {
                topic: r.get(1)?,
                partition: r.get(2)?,
                offset: r.get(3)?,
                leader_epoch: r.get(4)?,
                metadata: r.get(5)?,
                commit_ms: r.get(6)?,
            };
            offsets.insert((group, row.topic.clone(), row.partition), row);
        }
        txns.by_pid.insert(pid, id.clone());
        txns.by_id.insert(
            id,
            TxnEntry {
                producer_id: pid,
                epoch,
                prev_epoch,
                timeout_ms,
                state: TxnState::from_code(state),
                started_ms,
                last_ms,
                partitions: ps
                    .iter()
                    .filter_map(|p| partitions.get(p).cloned())
                    .collect(),
                groups: gs,
                pending: offsets,
            },
        );
    }
    Ok(txns)
}

impl Txns {
    /// Publishes every id (start-up).
    pub(super) fn publish_all(&self, view: &crate::transactions::Transactions) {
        for (id, e) in &self.by_id {
            view.publish(id, Some(e.summary()));
        }
    }

    /// Why a batch of this producer may not be appended to `partition`, if
    /// it may not: a transactional batch needs its producer's transaction
    /// open, at its epoch, with the partition added (as Kafka's
    /// transaction.partition.verification).
    pub(super) fn check_append(&self, partition: i64, h: &BatchHeader) -> Option<WriteError> {
        if !h.is_transactional() {
            return None;
        }
        let Some(e) = self
            .by_pid
            .get(&h.producer_id)
            .and_then(|id| self.by_id.get(id))
        else {
            return Some(WriteError::InvalidTxnState(
                "transactional batch from a producer id with no transaction".into(),
            ));
        };
        if h.producer_epoch < e.epoch {
            return Some(WriteError::InvalidProducerEpoch);
        }
        if h.producer_epoch > e.epoch
            || e.state != TxnState::Ongoing
            || !e.partitions.iter().any(|p| p.db_id == partition)
        {
            return Some(WriteError::InvalidTxnState(
                "the partition is not part of the producer's ongoing transaction \
                 (AddPartitionsToTxn first)"
                    .into(),
            ));
        }
        None
    }

    /// The number of transactional ids.
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }
}

/// Saves one transactional id's row (not its partitions, groups or offsets).
fn save(tx: &Connection, id: &str, e: &TxnEntry) -> Result<(), StorageError> {
    tx.prepare_cached(
        "INSERT INTO transactions
           (transactional_id, producer_id, epoch, prev_epoch, timeout_ms, state, started_ms, last_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (transactional_id) DO UPDATE SET
           producer_id = excluded.producer_id, epoch = excluded.epoch,
           prev_epoch = excluded.prev_epoch, timeout_ms = excluded.timeout_ms,
           state = excluded.state, started_ms = excluded.started_ms, last_ms = excluded.last_ms",
    )?
    .execute(params![
        id,
        e.producer_id,
        e.epoch,
        e.prev_epoch,
        e.timeout_ms,
        e.state.code(),
        e.started_ms,
        e.last_ms
    ])?;
    Ok(())
}

fn clear_members(tx: &Connection, id: &str) -> Result<(), StorageError> {
    tx.prepare_cached("DELETE FROM txn_partitions WHERE transactional_id = ?1")?
        .execute(params![id])?;
    tx.prepare_cached("DELETE FROM txn_groups WHERE transactional_id = ?1")?
        .execute(params![id])?;
    tx.prepare_cached("DELETE FROM txn_offsets WHERE transactional_id = ?1")?
        .execute(params![id])?;
    Ok(())
}

fn publish_one(view: Arc<crate::catalog::Catalog>, id: String, summary: Option<TxnSummary>) {
    view.transactions.publish(&id, summary);
}

impl WriterState {
    /// The entry of `id` if `pid`/`epoch` are its current producer:
    /// PRODUCER_FENCED for an older epoch, INVALID_PRODUCER_ID_MAPPING for
    /// another producer id.
    fn current(&self, id: &str, pid: i64, epoch: i16) -> WriteResult<()> {
        match self.txns.by_id.get(id) {
            None => Err(WriteError::InvalidProducerIdMapping),
            Some(e) if e.producer_id != pid => Err(WriteError::InvalidProducerIdMapping),
            Some(e) if epoch < e.epoch => Err(WriteError::ProducerFenced),
            Some(e) if epoch > e.epoch => Err(WriteError::InvalidProducerEpoch),
            Some(_) => Ok(()),
        }
    }

    /// InitProducerId with a transactional id: a new producer id (epoch 0)
    /// for a new id, else the same id with the epoch bumped (a new producer
    /// id once the epoch would overflow), aborting a transaction left open,
    /// so the previous producer of this id is fenced. With `expected`
    /// (v3+, KIP-360) the caller must be the current producer or the one a
    /// timeout fenced.
    pub(super) fn txn_init(
        &mut self,
        tx: &Connection,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        max_ids: usize,
    ) -> Applied<(i64, i16)> {
        let now = now_ms();
        let finished = match self.txns.by_id.get(id) {
            None => {
                if self.txns.len() >= max_ids {
                    return Ok(Staged::Refused(WriteError::PolicyViolation(format!(
                        "more than {max_ids} transactional ids (SKIFF_MAX_TRANSACTIONAL_IDS)"
                    ))));
                }
                if expected.is_some_and(|(pid, _)| pid >= 0) {
                    return Ok(Staged::Refused(WriteError::InvalidProducerIdMapping));
                }
                let pid = self.next_pid(tx)?;
                let e = TxnEntry {
                    producer_id: pid,
                    epoch: 0,
                    prev_epoch: -1,
                    timeout_ms,
                    state: TxnState::Empty,
                    started_ms: -1,
                    last_ms: now,
                    partitions: Vec::new(),
                    groups: BTreeSet::new(),
                    pending: BTreeMap::new(),
                };
                save(tx, id, &e)?;
                self.txns.by_pid.insert(pid, id.to_string());
                self.txns.by_id.insert(id.to_string(), e);
                None
            }
            Some(e) => {
                if let Some((pid, epoch)) = expected.filter(|(pid, _)| *pid >= 0) {
                    if pid != e.producer_id {
                        return Ok(Staged::Refused(WriteError::InvalidProducerIdMapping));
                    }
                    if epoch != e.epoch && epoch != e.prev_epoch {
                        return Ok(Staged::Refused(WriteError::ProducerFenced));
                    }
                }
                // A transaction left open is aborted with its markers at the
                // new epoch, which fences the previous producer everywhere
                // (as Kafka's coordinator does).
                let ongoing = e.state == TxnState::Ongoing;
                let overflow = e.epoch >= i16::MAX - 1;
                let e = self.txns.by_id.get_mut(id).expect("entry");
                if !overflow {
                    e.epoch += 1;
                }
                let finished = if ongoing {
                    Some(self.finish(tx, id, false)?)
                } else {
                    None
                };
                if overflow {
                    let pid = self.next_pid(tx)?;
                    let e = self.txns.by_id.get_mut(id).expect("entry");
                    self.txns.by_pid.remove(&e.producer_id);
                    self.txns.by_pid.insert(pid, id.to_string());
                    e.producer_id = pid;
                    e.epoch = 0;
                }
                let e = self.txns.by_id.get_mut(id).expect("entry");
                e.prev_epoch = -1;
                e.timeout_ms = timeout_ms;
                e.last_ms = now;
                let e = e.clone();
                save(tx, id, &e)?;
                finished
            }
        };
        let e = self.txns.by_id.get(id).expect("entry");
        let answer = (e.producer_id, e.epoch);
        let summary = e.summary();
        let catalog = self.catalog.clone();
        let id = id.to_string();
        Ok(Staged::Written(Box::new(move || {
            if let Some(f) = finished {
                f.publish();
            }
            publish_one(catalog, id, Some(summary));
            Ok(answer)
        })))
    }

    fn next_pid(&mut self, tx: &Connection) -> Result<i64, StorageError> {
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('next_producer_id', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![self.next_producer_id],
        )?;
        Ok(id)
    }

    /// Marks the transaction ongoing (from its first addition on, its
    /// timeout runs).
    fn begin(&mut self, tx: &Connection, id: &str) -> Result<(), StorageError> {
        let e = self.txns.by_id.get_mut(id).expect("checked entry");
        let now = now_ms();
        if e.state != TxnState::Ongoing {
            e.state = TxnState::Ongoing;
            e.started_ms = now;
        }
        e.last_ms = now;
        let e = e.clone();
        save(tx, id, &e)
    }

    fn published(&self, id: &str) -> Staged<()> {
        let summary = self.txns.by_id.get(id).map(TxnEntry::summary);
        let catalog = self.catalog.clone();
        let id = id.to_string();
        Staged::Written(Box::new(move || {
            publish_one(catalog, id, summary);
            Ok(())
        }))
    }

    /// AddPartitionsToTxn: the partitions join the ongoing transaction.
    pub(super) fn txn_add_partitions(
        &mut self,
        tx: &Connection,
        id: &str,
        pid: i64,
        epoch: i16,
        partitions: Vec<Arc<Partition>>,
    ) -> Applied<()> {
        if let Err(e) = self.current(id, pid, epoch) {
            return Ok(Staged::Refused(e));
        }
        self.begin(tx, id)?;
        let e = self.txns.by_id.get_mut(id).expect("checked entry");
        for p in partitions {
            if p.is_deleted() || e.partitions.iter().any(|q| q.db_id == p.db_id) {
                continue;
            }
            tx.prepare_cached(
                "INSERT OR IGNORE INTO txn_partitions (transactional_id, partition_id) VALUES (?1, ?2)",
            )?
            .execute(params![id, p.db_id])?;
            e.partitions.push(p);
        }
        Ok(self.published(id))
    }

    /// AddOffsetsToTxn: the group's offsets may be committed in the
    /// transaction.
    pub(super) fn txn_add_offsets(
        &mut self,
        tx: &Connection,
        id: &str,
        pid: i64,
        epoch: i16,
        group: String,
    ) -> Applied<()> {
        if let Err(e) = self.current(id, pid, epoch) {
            return Ok(Staged::Refused(e));
        }
        let e = self.txns.by_id.get(id).expect("checked entry");
        if !e.groups.contains(&group) && e.groups.len() >= MAX_GROUPS_PER_TXN {
            return Ok(Staged::Refused(WriteError::PolicyViolation(format!(
                "a transaction may commit offsets for at most {MAX_GROUPS_PER_TXN} groups"
            ))));
        }
        self.begin(tx, id)?;
        tx.prepare_cached(
            "INSERT OR IGNORE INTO txn_groups (transactional_id, group_id) VALUES (?1, ?2)",
        )?
        .execute(params![id, group])?;
        let e = self.txns.by_id.get_mut(id).expect("checked entry");
        e.groups.insert(group);
        Ok(self.published(id))
    }

    /// TxnOffsetCommit: the offsets wait in the transaction until it ends.
    pub(super) fn txn_offset_commit(
        &mut self,
        tx: &Connection,
        id: &str,
        pid: i64,
        epoch: i16,
        group: &str,
        rows: Vec<OffsetRow>,
    ) -> Applied<()> {
        if let Err(e) = self.current(id, pid, epoch) {
            return Ok(Staged::Refused(e));
        }
        let e = self.txns.by_id.get_mut(id).expect("checked entry");
        if e.state != TxnState::Ongoing || !e.groups.contains(group) {
            return Ok(Staged::Refused(WriteError::InvalidTxnState(format!(
                "group '{group}' was not added to the transaction (AddOffsetsToTxn first)"
            ))));
        }
        if e.pending.len() + rows.len() > MAX_OFFSETS_PER_TXN {
            return Ok(Staged::Refused(WriteError::PolicyViolation(format!(
                "a transaction may hold at most {MAX_OFFSETS_PER_TXN} offsets"
            ))));
        }
        let mut insert = tx.prepare_cached(
            "INSERT INTO txn_offsets
               (transactional_id, group_id, topic, partition, offset, leader_epoch, metadata, commit_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (transactional_id, group_id, topic, partition) DO UPDATE SET
               offset = excluded.offset, leader_epoch = excluded.leader_epoch,
               metadata = excluded.metadata, commit_ms = excluded.commit_ms",
        )?;
        for r in rows {
            insert.execute(params![
                id,
                group,
                r.topic,
                r.partition,
                r.offset,
                r.leader_epoch,
                r.metadata,
                r.commit_ms
            ])?;
            e.pending
                .insert((group.to_string(), r.topic.clone(), r.partition), r);
        }
        e.last_ms = now_ms();
        Ok(self.published(id))
    }

    /// EndTxn: commits or aborts the ongoing transaction; answers the group
    /// offsets that became visible.
    pub(super) fn txn_end(
        &mut self,
        tx: &Connection,
        id: &str,
        pid: i64,
        epoch: i16,
        commit: bool,
    ) -> Applied<Vec<(String, Vec<OffsetRow>)>> {
        if let Err(e) = self.current(id, pid, epoch) {
            return Ok(Staged::Refused(e));
        }
        let e = self.txns.by_id.get(id).expect("checked entry");
        match (e.state, commit) {
            (TxnState::Ongoing, _) => {}
            // A retry of the EndTxn that completed it: the same answer.
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                return Ok(Staged::Written(Box::new(|| Ok(Vec::new()))))
            }
            // Nothing was added: an empty transaction ends at once (as
            // clients end one that only began).
            (TxnState::Empty, _) => return Ok(Staged::Written(Box::new(|| Ok(Vec::new())))),
            _ => {
                return Ok(Staged::Refused(WriteError::InvalidTxnState(format!(
                    "the transaction already ended ({}); EndTxn({}) does not apply",
                    e.state.name(),
                    if commit { "commit" } else { "abort" }
                ))))
            }
        }
        let finished = self.finish(tx, id, commit)?;
        let offsets = finished.offsets.clone();
        let summary = self.txns.by_id.get(id).map(TxnEntry::summary);
        let catalog = self.catalog.clone();
        let id = id.to_string();
        Ok(Staged::Written(Box::new(move || {
            finished.publish();
            publish_one(catalog, id, summary);
            Ok(offsets)
        })))
    }

    /// Aborts every transaction past its timeout, bumping its epoch so its
    /// producer is fenced; forgets ids idle past `expiration_ms`.
    pub(super) fn txn_expire(
        &mut self,
        tx: &Connection,
        now: i64,
        expiration_ms: i64,
    ) -> Applied<usize> {
        let timed_out: Vec<String> = self
            .txns
            .by_id
            .iter()
            .filter(|(_, e)| expired(e.state, e.started_ms, e.timeout_ms, now))
            .map(|(id, _)| id.clone())
            .collect();
        let mut publish = Vec::new();
        for id in &timed_out {
            // The markers carry the bumped epoch: the producer is fenced.
            let e = self.txns.by_id.get_mut(id).expect("entry");
            if e.epoch < i16::MAX - 1 {
                e.prev_epoch = e.epoch;
                e.epoch += 1;
            }
            let finished = self.finish(tx, id, false)?;
            let e = self.txns.by_id.get(id).expect("entry").clone();
            save(tx, id, &e)?;
            tracing::info!(transactional_id = %id, producer_id = e.producer_id,
                "transaction timed out after {} ms: aborted, producer fenced", e.timeout_ms);
            publish.push((finished, id.clone(), Some(e.summary())));
        }
        let cutoff = now.saturating_sub(expiration_ms);
        let idle: Vec<String> = self
            .txns
            .by_id
            .iter()
            .filter(|(_, e)| e.state != TxnState::Ongoing && e.last_ms < cutoff)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &idle {
            if let Some(e) = self.txns.by_id.remove(id) {
                self.txns.by_pid.remove(&e.producer_id);
            }
            tx.prepare_cached("DELETE FROM transactions WHERE transactional_id = ?1")?
                .execute(params![id])?;
            clear_members(tx, id)?;
            publish.push((
                Finished {
                    markers: Vec::new(),
                    offsets: Vec::new(),
                },
                id.clone(),
                None,
            ));
        }
        let n = timed_out.len();
        let catalog = self.catalog.clone();
        Ok(Staged::Written(Box::new(move || {
            for (f, id, summary) in publish {
                f.publish();
                publish_one(catalog.clone(), id, summary);
            }
            Ok(n)
        })))
    }

    /// Writes the transaction's markers (and on commit makes its offsets
    /// committed); leaves the entry complete with no partitions.
    fn finish(
        &mut self,
        tx: &Connection,
        id: &str,
        commit: bool,
    ) -> Result<Finished, StorageError> {
        let e = self.txns.by_id.get(id).expect("entry").clone();
        let now = now_ms();
        let mut markers = Vec::new();
        for p in &e.partitions {
            let Some(log) = self.logs.get_mut(&p.db_id) else {
                continue;
            };
            if p.is_deleted() {
                continue;
            }
            let data = batch::control_batch(e.producer_id, e.epoch, commit, now);
            let base = log.next_offset;
            tx.prepare_cached(
                "INSERT INTO batches (id, base_offset, max_timestamp, data) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![batch_key(p.db_id, base), base, now, &data[..]])?;
            log.next_offset = base + 1;
            let held = log.producers.len();
            log.producers.marker(e.producer_id, e.epoch, now);
            self.producers += log.producers.len() - held;
            let first = log.open_txns.remove(&e.producer_id);
            let mut aborted = None;
            if first.is_some() {
                tx.prepare_cached(
                    "DELETE FROM txn_open WHERE partition_id = ?1 AND producer_id = ?2",
                )?
                .execute(params![p.db_id, e.producer_id])?;
            }
            if let (Some(first), false) = (first, commit) {
                tx.prepare_cached(
                    "INSERT INTO aborted_txns (partition_id, last_offset, producer_id, first_offset)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![p.db_id, base, e.producer_id, first])?;
                aborted = Some(Aborted {
                    producer_id: e.producer_id,
                    first_offset: first,
                    last_offset: base,
                });
            }
            let served = batch::served_form(&data, base, -1);
            markers.push(Marker {
                partition: p.clone(),
                offset: base,
                data: served,
                last_stable: log.last_stable(),
                aborted,
            });
        }
        let mut offsets: Vec<(String, Vec<OffsetRow>)> = Vec::new();
        if commit {
            let mut by_group: BTreeMap<String, Vec<OffsetRow>> = BTreeMap::new();
            for ((group, _, _), row) in &e.pending {
                by_group.entry(group.clone()).or_default().push(row.clone());
            }
            for (group, rows) in by_group {
                offsets::commit(tx, &group, &rows)?;
                offsets.push((group, rows));
            }
        }
        clear_members(tx, id)?;
        let entry = self.txns.by_id.get_mut(id).expect("entry");
        entry.state = if commit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        entry.started_ms = -1;
        entry.last_ms = now;
        entry.partitions.clear();
        entry.groups.clear();
        entry.pending.clear();
        let entry = entry.clone();
        save(tx, id, &entry)?;
        Ok(Finished { markers, offsets })
    }

    /// Records that a transactional batch opened (or continued) its
    /// producer's transaction on a partition at `base_offset`.
    pub(super) fn txn_appended(
        &mut self,
        tx: &Connection,
        partition: i64,
        h: &BatchHeader,
        base_offset: i64,
    ) -> Result<(), StorageError> {
        if !h.is_transactional() {
            return Ok(());
        }
        let Some(log) = self.logs.get_mut(&partition) else {
            return Ok(());
        };
        if let std::collections::hash_map::Entry::Vacant(v) = log.open_txns.entry(h.producer_id) {
            v.insert(base_offset);
            tx.prepare_cached(
                "INSERT OR REPLACE INTO txn_open (partition_id, producer_id, first_offset)
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![partition, h.producer_id, base_offset])?;
        }
        Ok(())
    }

    /// A deleted topic's partitions leave every transaction (their rows
    /// went with the topic).
    pub(super) fn txn_forget_partitions(
        &mut self,
        tx: &Connection,
        ids: &[i64],
    ) -> Result<(), StorageError> {
        for id in ids {
            tx.execute(
                "DELETE FROM txn_partitions WHERE partition_id = ?1",
                params![id],
            )?;
            tx.execute("DELETE FROM txn_open WHERE partition_id = ?1", params![id])?;
            tx.execute(
                "DELETE FROM aborted_txns WHERE partition_id = ?1",
                params![id],
            )?;
        }
        for e in self.txns.by_id.values_mut() {
            e.partitions.retain(|p| !ids.contains(&p.db_id));
        }
        Ok(())
    }
}

/// Aborted transactions of a partition overlapping `from..to`, from the
/// file (a read_committed fetch older than the in-memory index).
pub fn aborted_between(
    conn: &Connection,
    partition: i64,
    from: i64,
    to: i64,
) -> Result<Vec<Aborted>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT producer_id, first_offset, last_offset FROM aborted_txns
         WHERE partition_id = ?1 AND last_offset >= ?2 AND first_offset < ?3
         ORDER BY last_offset LIMIT 10000",
    )?;
    let rows = stmt
        .query_map(params![partition, from, to], |r| {
            Ok(Aborted {
                producer_id: r.get(0)?,
                first_offset: r.get(1)?,
                last_offset: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Retention or DeleteRecords moved a partition's log start: aborts whose
/// marker is gone are forgotten.
pub(super) fn truncate_aborts(
    tx: &Connection,
    partition: i64,
    log_start: i64,
) -> Result<(), StorageError> {
    tx.prepare_cached("DELETE FROM aborted_txns WHERE partition_id = ?1 AND last_offset < ?2")?
        .execute(params![partition, log_start])?;
    Ok(())
}
