//! The storage writer: the one thread that writes to SQLite.
//!
//! Commands arrive on a channel; the writer takes everything queued (up to a
//! byte budget), applies it in one transaction and commits once: concurrent
//! producers share a commit (group commit) instead of paying one each. Only
//! after the commit does it publish the effects (high watermarks, catalog
//! changes) and answer the callers, so acks=1/all are never sent for data a
//! crash could lose. If the group fails, every command in it is answered with
//! the failure and the writer's state is read back from the file. The
//! commands themselves are `WriterState`'s methods; this file is the loop
//! and the dispatch.

use std::sync::mpsc::{Receiver, TryRecvError};

use rusqlite::{Connection, TransactionBehavior};
use tracing::{debug, error, info};

use super::command::{Command, Reply};
use super::disk::{disk_refusal, DiskLimits, Room};
use super::state::{Staged, WriterState};
use super::{StorageError, WriteError};

/// Stop gathering a group once this many payload bytes are queued in it.
const GROUP_BYTES: usize = 4 * 1024 * 1024;

/// Run once the group's fate is known: `Ok` if it committed.
type AfterCommit = Box<dyn FnOnce(Result<(), &StorageError>) + Send>;

pub(super) struct Writer {
    conn: Connection,
    limits: DiskLimits,
    state: WriterState,
    /// Test hook: panic when asked to create a topic of this name.
    panic_topic: Option<String>,
}

impl Writer {
    pub(super) fn new(conn: Connection, limits: DiskLimits, state: WriterState) -> Self {
        Writer {
            conn,
            limits,
            state,
            panic_topic: None,
        }
    }

    /// Sets the test hook `SKIFF_TEST_WRITER_PANIC_TOPIC`.
    pub(super) fn panic_on_topic(mut self, name: Option<String>) -> Self {
        self.panic_topic = name;
        self
    }

    /// Runs until a Shutdown command arrives or every sender is gone, then
    /// closes the database (every commit is already in the main file: there
    /// is no WAL to checkpoint, so shutdown writes nothing and cannot fail
    /// for want of space).
    pub(super) fn run(mut self, rx: Receiver<Command>) {
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
            if let Some(hook) = &self.panic_topic {
                if group
                    .iter()
                    .any(|c| matches!(c, Command::CreateTopic { name, .. } if name == hook))
                {
                    panic!("test hook SKIFF_TEST_WRITER_PANIC_TOPIC: writer panics on '{hook}'");
                }
            }
            self.commit_group(group);
        }
        match self.conn.close() {
            Ok(()) => info!("database closed"),
            Err((_, e)) => error!(error = %e, "closing the database failed"),
        }
    }

    /// Applies a group in one transaction, commits it, then publishes and
    /// answers every command, or answers them all with the failure.
    fn commit_group(&mut self, group: Vec<Command>) {
        let mut after: Vec<AfterCommit> = Vec::with_capacity(group.len());
        let result = (|| -> Result<(), StorageError> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Inside the write transaction: a query before it would take
            // and drop a read lock of its own on every commit.
            let mut room = self.limits.room(&tx)?;
            for cmd in group {
                after.push(dispatch(&mut self.state, &tx, &mut room, cmd)?);
            }
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = &result {
            error!(error = %e, "group commit failed; the group is refused");
            if let Err(e) = self.state.reload(&self.conn) {
                error!(error = %e, "reloading partition state failed");
            }
        }
        debug!(commands = after.len(), "group committed");
        for done in after {
            done(result.as_ref().map(|_| ()));
        }
    }
}

/// Applies one command to the open transaction `tx`; `room` is what the
/// disk guard leaves this group.
fn dispatch(
    state: &mut WriterState,
    tx: &Connection,
    room: &mut Option<Room>,
    cmd: Command,
) -> Result<AfterCommit, StorageError> {
    // Every write that can grow the file passes the guard (appends check
    // their own bytes in `append`); deletions always may run, since they
    // are what frees room.
    let need = cmd.growth_bytes();
    if let Some(r) = room.as_mut() {
        if need > r.bytes {
            disk_refusal(r, cmd.kind(), need);
            return Ok(refuse(cmd, WriteError::StorageFull));
        }
        r.bytes -= need;
    }
    Ok(match cmd {
        Command::Append {
            partition,
            batch,
            log_append_time,
            reply,
        } => answer(
            reply,
            state.append(tx, room, partition, batch, log_append_time)?,
        ),
        Command::CreateTopic {
            name,
            partitions,
            overrides,
            reply,
        } => answer(reply, state.create_topic(tx, &name, partitions, overrides)?),
        Command::DeleteTopic { name, reply } => answer(reply, state.delete_topic(tx, &name)?),
        Command::CreatePartitions { name, count, reply } => {
            answer(reply, state.create_partitions(tx, &name, count)?)
        }
        Command::AlterConfig {
            name,
            change,
            reply,
        } => answer(reply, state.alter_config(tx, &name, change)?),
        Command::AllocateProducerId { reply } => answer(reply, state.allocate_producer_id(tx)?),
        Command::TxnInit {
            id,
            timeout_ms,
            expected,
            max_ids,
            reply,
        } => answer(
            reply,
            state.txn_init(tx, &id, timeout_ms, expected, max_ids)?,
        ),
        Command::TxnAddPartitions {
            id,
            producer,
            partitions,
            reply,
        } => answer(
            reply,
            state.txn_add_partitions(tx, &id, producer.0, producer.1, partitions)?,
        ),
        Command::TxnAddOffsets {
            id,
            producer,
            group,
            reply,
        } => answer(
            reply,
            state.txn_add_offsets(tx, &id, producer.0, producer.1, group)?,
        ),
        Command::TxnOffsetCommit {
            id,
            producer,
            group,
            offsets,
            reply,
        } => answer(
            reply,
            state.txn_offset_commit(tx, &id, producer.0, producer.1, &group, offsets)?,
        ),
        Command::TxnEnd {
            id,
            producer,
            commit,
            reply,
        } => answer(
            reply,
            state.txn_end(tx, &id, producer.0, producer.1, commit)?,
        ),
        Command::TxnExpire {
            now_ms,
            expiration_ms,
            reply,
        } => answer(reply, state.txn_expire(tx, now_ms, expiration_ms)?),
        Command::CommitOffsets {
            group,
            offsets,
            reply,
        } => answer(reply, state.commit_offsets(tx, &group, &offsets)?),
        Command::DeleteGroupOffsets { group, reply } => {
            answer(reply, state.delete_group_offsets(tx, &group)?)
        }
        Command::DeleteOffsets {
            group,
            partitions,
            reply,
        } => answer(reply, state.delete_offsets(tx, &group, &partitions)?),
        Command::ExpireOffsets {
            groups,
            cutoff_ms,
            reply,
        } => answer(reply, state.expire_offsets(tx, &groups, cutoff_ms)?),
        Command::EnforceRetention { now_ms, reply } => {
            answer(reply, state.enforce_retention(tx, now_ms)?)
        }
        Command::DeleteRecords {
            partition,
            offset,
            reply,
        } => answer(reply, state.delete_records(tx, partition, offset)?),
        Command::Security { apply, reply, .. } => {
            apply(tx)?;
            crate::security::persist::bump_generation(tx)?;
            answer(reply, Staged::Written(Box::new(|| Ok(()))))
        }
        Command::Ping { reply } => answer(reply, Staged::Written(Box::new(|| Ok(())))),
        Command::Shutdown => Box::new(|_| {}),
    })
}

/// Answers `cmd` with the refusal `e` without applying it.
fn refuse(cmd: Command, e: WriteError) -> AfterCommit {
    match cmd {
        Command::Append { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::CreateTopic { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::DeleteTopic { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::CreatePartitions { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::AlterConfig { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::AllocateProducerId { reply } => answer(reply, Staged::Refused(e)),
        Command::CommitOffsets { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::TxnInit { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::TxnAddPartitions { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::TxnAddOffsets { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::TxnOffsetCommit { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::TxnEnd { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::TxnExpire { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::DeleteGroupOffsets { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::DeleteOffsets { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::ExpireOffsets { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::EnforceRetention { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::DeleteRecords { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::Security { reply, .. } => answer(reply, Staged::Refused(e)),
        Command::Ping { reply } => answer(reply, Staged::Refused(e)),
        Command::Shutdown => Box::new(|_| {}),
    }
}

/// Once the group's fate is known: publish and answer, or answer with the
/// failure.
fn answer<T: Send + 'static>(reply: Reply<T>, staged: Staged<T>) -> AfterCommit {
    Box::new(move |committed| {
        let answer = match (staged, committed) {
            (Staged::Refused(e), _) => Err(e),
            (Staged::Written(publish), Ok(())) => publish(),
            (Staged::Written(_), Err(e)) => Err(WriteError::Storage(e.to_string())),
        };
        let _ = reply.send(answer);
    })
}

#[cfg(test)]
#[path = "io_tests.rs"]
mod io_tests;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Arc;

    use bytes::Bytes;
    use tokio::sync::oneshot;

    use super::*;
    use crate::batch::tests::make_batch;
    use crate::batch::BatchHeader;
    use crate::catalog::{Catalog, Partition};
    use crate::storage::{load, schema, Appended, Durability, WriteResult};

    /// A writer on the database at `path`, driven group by group from the
    /// test's thread.
    fn open(path: &Path) -> (Writer, Arc<Catalog>) {
        let conn = crate::storage::vfs::open_writer(path).unwrap();
        schema::configure_writer(&conn, Durability::Normal).unwrap();
        let (mut logs, next_pid) = load::partition_logs(&conn, 0).unwrap();
        let catalog = Arc::new(load::catalog(&conn, &logs).unwrap());
        let txns =
            crate::storage::txn::load(&conn, &mut logs, &catalog.partitions_by_id()).unwrap();
        txns.publish_all(&catalog.transactions);
        let state = WriterState::new(
            catalog.clone(),
            logs,
            txns,
            next_pid,
            10_000,
            86_400_000,
            100_000,
        );
        (
            Writer::new(conn, DiskLimits::new(path, 0, 0), state),
            catalog,
        )
    }

    /// The writer's next offsets and next producer id, from memory and as
    /// the file has them.
    fn memory_and_disk(w: &Writer) -> (BTreeMap<i64, i64>, BTreeMap<i64, i64>) {
        let (logs, next_pid) = load::partition_logs(&w.conn, 0).unwrap();
        let mut disk: BTreeMap<i64, i64> = logs.iter().map(|(p, l)| (*p, l.next_offset)).collect();
        disk.insert(-1, next_pid);
        (w.state.next_offsets(), disk)
    }

    fn append(
        p: &Arc<Partition>,
        value: &[u8],
        producer: (i64, i32),
    ) -> (Command, oneshot::Receiver<WriteResult<Appended>>) {
        let bytes: Bytes = make_batch(
            &[value],
            1_700_000_000_000,
            Some((producer.0, 0, producer.1)),
        );
        let header = BatchHeader::parse(&bytes).unwrap();
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Append {
            partition: p.clone(),
            batch: (header, bytes),
            log_append_time: false,
            reply,
        };
        (cmd, rx)
    }

    fn producer_id() -> (Command, oneshot::Receiver<WriteResult<i64>>) {
        let (reply, rx) = oneshot::channel();
        (Command::AllocateProducerId { reply }, rx)
    }

    fn base_offset(mut rx: oneshot::Receiver<WriteResult<Appended>>) -> i64 {
        rx.try_recv().unwrap().unwrap().base_offset
    }

    /// Not acknowledged: an error, or no answer at all.
    fn refused<T: std::fmt::Debug>(mut rx: oneshot::Receiver<WriteResult<T>>) -> bool {
        !matches!(rx.try_recv(), Ok(Ok(_)))
    }

    fn with_topic(path: &Path) -> (Writer, Arc<Catalog>, Vec<Arc<Partition>>) {
        let (mut w, catalog) = open(path);
        let (reply, mut rx) = oneshot::channel();
        w.commit_group(vec![Command::CreateTopic {
            name: "t".into(),
            partitions: 2,
            overrides: BTreeMap::new(),
            reply,
        }]);
        let topic = rx.try_recv().unwrap().unwrap();
        let parts = topic.partitions().to_vec();
        (w, catalog, parts)
    }

    #[test]
    fn a_group_failing_on_a_full_database_leaves_memory_and_disk_in_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skiff.db");
        let (mut w, _catalog, p) = with_topic(&path);
        let (cmd, first) = append(&p[0], b"a", (7, 0));
        w.commit_group(vec![cmd]);
        assert_eq!(base_offset(first), 0);
        let before = memory_and_disk(&w);
        assert_eq!(before.0, before.1);

        // No page may be added: the small writes fit in the pages there
        // are, the 100 KB batch does not ("database or disk is full").
        let pages: i64 = w
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        w.conn.pragma_update(None, "max_page_count", pages).unwrap();
        let (id_cmd, id) = producer_id();
        let (small_cmd, small) = append(&p[1], b"b", (8, 0));
        let (big_cmd, big) = append(&p[0], &[1u8; 100_000], (7, 1));
        let (late_cmd, late) = append(&p[1], b"c", (8, 1));
        w.commit_group(vec![id_cmd, small_cmd, big_cmd, late_cmd]);
        assert!(refused(id) && refused(small) && refused(big) && refused(late));
        // Nothing of the group is in memory, on disk or published.
        assert_eq!(memory_and_disk(&w), before);
        assert_eq!((p[0].high_watermark(), p[1].high_watermark()), (1, 0));

        // With room again the same writes take the offsets, sequence
        // numbers and producer id the failed group had taken.
        w.conn
            .pragma_update(None, "max_page_count", 1 << 30)
            .unwrap();
        let (id_cmd, mut id) = producer_id();
        let (small_cmd, small) = append(&p[1], b"b", (8, 0));
        let (big_cmd, big) = append(&p[0], &[1u8; 100_000], (7, 1));
        let (late_cmd, late) = append(&p[1], b"c", (8, 1));
        w.commit_group(vec![id_cmd, small_cmd, big_cmd, late_cmd]);
        assert_eq!(id.try_recv().unwrap().unwrap(), 1000);
        assert_eq!(
            (base_offset(small), base_offset(big), base_offset(late)),
            (0, 1, 1)
        );
        assert_eq!((p[0].high_watermark(), p[1].high_watermark()), (2, 2));
        let (memory, disk) = memory_and_disk(&w);
        assert_eq!(memory, disk);
        drop(w);
        let (reopened, _) = open(&path);
        assert_eq!(memory_and_disk(&reopened).0, memory);
    }

    fn create(
        name: &str,
        partitions: i32,
    ) -> (
        Command,
        oneshot::Receiver<WriteResult<Arc<crate::catalog::Topic>>>,
    ) {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::CreateTopic {
            name: name.into(),
            partitions,
            overrides: BTreeMap::new(),
            reply,
        };
        (cmd, rx)
    }

    #[test]
    fn the_partition_limit_counts_creations_earlier_in_the_same_group() {
        // Two connections' creations, each within the limit (10 000 in
        // `open`) on its own, arrive in one group: the second is refused
        // before any of its rows is written, and no huge count reaches
        // an allocation.
        let dir = tempfile::tempdir().unwrap();
        let (mut w, catalog, _) = with_topic(&dir.path().join("skiff.db"));
        let (a, mut a_rx) = create("a", 6_000);
        let (b, mut b_rx) = create("b", 4_000);
        let (c, mut c_rx) = create("c", i32::MAX);
        w.commit_group(vec![a, b, c]);
        assert_eq!(a_rx.try_recv().unwrap().unwrap().partitions().len(), 6_000);
        for rx in [&mut b_rx, &mut c_rx] {
            match rx.try_recv().unwrap() {
                Err(WriteError::PolicyViolation(m)) => {
                    assert!(m.contains("SKIFF_MAX_PARTITIONS"), "{m}")
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(catalog.get("b").is_none() && catalog.get("c").is_none());
        assert_eq!(catalog.partition_count(), 6_002);
    }

    #[test]
    fn a_read_only_database_refuses_the_group_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _catalog, p) = with_topic(&dir.path().join("skiff.db"));
        let before = memory_and_disk(&w);
        w.conn.pragma_update(None, "query_only", true).unwrap();
        let (cmd, rx) = append(&p[0], b"a", (7, 0));
        w.commit_group(vec![cmd]);
        assert!(refused(rx));
        assert_eq!(memory_and_disk(&w), before);
        assert_eq!(p[0].high_watermark(), 0);
        w.conn.pragma_update(None, "query_only", false).unwrap();
        let (cmd, rx) = append(&p[0], b"a", (7, 0));
        w.commit_group(vec![cmd]);
        assert_eq!(base_offset(rx), 0);
        assert_eq!(p[0].high_watermark(), 1);
    }

    /// One command of the transaction protocol, answered at once.
    fn run<T: std::fmt::Debug>(
        w: &mut Writer,
        make: impl FnOnce(oneshot::Sender<WriteResult<T>>) -> Command,
    ) -> WriteResult<T> {
        let (reply, mut rx) = oneshot::channel();
        w.commit_group(vec![make(reply)]);
        rx.try_recv().unwrap()
    }

    fn transactional_append(
        p: &Arc<Partition>,
        value: &[u8],
        producer: (i64, i16, i32),
    ) -> (Command, oneshot::Receiver<WriteResult<Appended>>) {
        let mut b = make_batch(&[value], 1_700_000_000_000, Some(producer)).to_vec();
        b[22] |= 0x10; // the transactional attribute bit
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        let bytes = Bytes::from(b);
        let header = BatchHeader::parse(&bytes).unwrap();
        assert!(header.is_transactional());
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Append {
            partition: p.clone(),
            batch: (header, bytes),
            log_append_time: false,
            reply,
        };
        (cmd, rx)
    }

    #[test]
    fn an_open_transaction_holds_the_last_stable_offset_across_a_reopen_until_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skiff.db");
        let (pid, epoch) = {
            let (mut w, _catalog, p) = with_topic(&path);
            let (pid, epoch) = run(&mut w, |reply| Command::TxnInit {
                id: "tx".into(),
                timeout_ms: 60_000,
                expected: None,
                max_ids: 10,
                reply,
            })
            .unwrap();
            // A transactional batch for a partition not added is refused.
            let (cmd, rx) = transactional_append(&p[0], b"early", (pid, epoch, 0));
            w.commit_group(vec![cmd]);
            assert!(refused(rx));
            run(&mut w, |reply| Command::TxnAddPartitions {
                id: "tx".into(),
                producer: (pid, epoch),
                partitions: vec![p[0].clone()],
                reply,
            })
            .unwrap();
            let (plain, _) = append(&p[0], b"plain", (-1, -1));
            let (txn, rx) = transactional_append(&p[0], b"in-txn", (pid, epoch, 0));
            let (after, _) = append(&p[0], b"after", (-1, -1));
            w.commit_group(vec![plain, txn, after]);
            assert_eq!(base_offset(rx), 1);
            assert_eq!((p[0].last_stable(), p[0].high_watermark()), (1, 3));
            (pid, epoch)
        };
        // Reopened (as after a kill): the open transaction still holds it.
        let (mut w, catalog, p) = {
            let (w, catalog) = open(&path);
            let p = catalog.get("t").unwrap().partitions().to_vec();
            (w, catalog, p)
        };
        assert_eq!((p[0].last_stable(), p[0].high_watermark()), (1, 3));
        let seen = catalog.transactions.get("tx").unwrap();
        assert_eq!(seen.state, crate::transactions::TxnState::Ongoing);
        // A zombie epoch is fenced; the current one aborts.
        let fenced = run(&mut w, |reply| Command::TxnEnd {
            id: "tx".into(),
            producer: (pid, epoch - 1),
            commit: true,
            reply,
        });
        assert!(matches!(fenced, Err(WriteError::ProducerFenced)));
        run(&mut w, |reply| Command::TxnEnd {
            id: "tx".into(),
            producer: (pid, epoch),
            commit: false,
            reply,
        })
        .unwrap();
        // The ABORT marker took offset 3; the abort spans 1..=3.
        assert_eq!((p[0].last_stable(), p[0].high_watermark()), (4, 4));
        let aborted = p[0].aborted.overlapping(0, 4).unwrap();
        assert_eq!(
            aborted,
            vec![crate::transactions::Aborted {
                producer_id: pid,
                first_offset: 1,
                last_offset: 3
            }]
        );
        assert_eq!(
            crate::storage::txn::aborted_between(&w.conn, p[0].db_id, 0, 4).unwrap(),
            aborted
        );
    }
}
