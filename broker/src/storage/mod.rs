//! The SQLite file: everything Skiff keeps lives in it.
//!
//! `Storage` is the only way in. Its write methods (`append`,
//! `create_topic`, `commit_offsets`, ...) queue a command to the single
//! writer thread at once, so one connection's writes reach it in request
//! order, and return a future of the answer, which arrives once the group
//! commit holding the write has committed (see docs/durability.md). Reads
//! run on a small pool of read-only connections on tokio's blocking threads;
//! with the rollback journal a read and a commit exclude each other, and
//! each waits for the other in short steps (`busy`).
//!
//! Files: `writer` (the thread: group commit and dispatch), `state` (what the
//! writer owns, one method per command), `command` (the private messages),
//! `load` (state from the file), `retention`, `offsets` and `producers`
//! (their tables and rules), `reader` (queries), `schema` (layout, pragmas),
//! `format` (the one-time conversion of older files), `busy` (lock waits),
//! `disk` (lock file, disk guard), `vfs` (the writer's VFS: the journal
//! kept open between commits), `error`.

mod busy;
mod command;
mod disk;
mod error;
mod format;
mod load;
mod offsets;
mod partition_log;
mod producers;
mod reader;
mod retention;
mod schema;
mod state;
mod txn;
mod vfs;
mod writer;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{oneshot, Semaphore};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::batch::BatchHeader;
use crate::catalog::{Catalog, Partition, Topic};
pub use command::{Appended, ConfigChange, SecurityWrite};
use command::{Command, Reply};
pub use disk::{lock_database, DiskLimits};
pub use error::{over_partition_limit, StorageError, WriteError, WriteResult, PARTITION_LIMIT};
pub use format::convert as convert_format;
pub use offsets::OffsetRow;
pub use reader::TimestampHit;
pub use schema::Durability;

/// How many read-only connections may run queries at once.
const READERS: usize = 4;

/// A connection for `skiff-broker user`, which may run beside a broker:
/// an existing file is used as it is (only the security tables are created
/// if missing); a new one is set up as the broker would.
pub fn open_admin(path: &Path) -> rusqlite::Result<Connection> {
    let existed = path.exists();
    let conn = Connection::open(path)?;
    if existed {
        busy::install(&conn)?;
        crate::security::persist::create_schema(&conn)?;
    } else {
        schema::configure_writer(&conn, Durability::Normal)?;
    }
    Ok(conn)
}

/// The users and ACLs as read from the file at one change counter.
pub struct SecuritySnapshot {
    pub generation: i64,
    pub credentials: Vec<(
        String,
        crate::security::scram::Mechanism,
        crate::security::scram::ScramCredential,
    )>,
    pub acls: Vec<crate::security::acl::AclBinding>,
}

/// Why `Storage::open` failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file cannot be used as Skiff's database: its path, its
    /// permissions, another broker holding it, not an SQLite file.
    #[error(transparent)]
    Open(StorageError),
    /// The database opened, but its content could not be loaded (or the
    /// writer thread could not start).
    #[error(transparent)]
    Load(StorageError),
}

/// The handle to the database shared by all connections.
pub struct Storage {
    path: PathBuf,
    /// Held (flock) while the broker runs: one broker per database file,
    /// since each keeps its own in-memory view of offsets.
    _lock: std::fs::File,
    writer: mpsc::Sender<Command>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Cancelled once the writer thread has ended (after `close`, or a panic).
    writer_stopped: CancellationToken,
    readers: Arc<Mutex<Vec<Connection>>>,
    read_slots: Semaphore,
}

/// A write queued to the writer; resolves to its answer once the group
/// commit holding it is over.
#[must_use = "a write's answer says whether it was stored"]
pub struct Queued<T>(oneshot::Receiver<WriteResult<T>>);

impl<T> Future for Queued<T> {
    type Output = WriteResult<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|answer| {
            // The reply sender is dropped unanswered only when the writer
            // has stopped (or dropped the command with its group).
            answer.unwrap_or_else(|_| Err(StorageError::WriterGone.into()))
        })
    }
}

impl Storage {
    /// Opens (creating if needed) the database at `path`, loads its state and
    /// starts the writer thread.
    pub fn open(
        path: &Path,
        durability: Durability,
        limits: DiskLimits,
        max_partitions: u32,
        producer_expiration: Duration,
        max_producers: usize,
        panic_topic: Option<String>,
    ) -> Result<(Storage, Arc<Catalog>), OpenError> {
        let lock = lock_database(path).map_err(OpenError::Open)?;
        let conn = vfs::open_writer(path).map_err(|e| OpenError::Open(e.into()))?;
        busy::install(&conn).map_err(|e| OpenError::Open(e.into()))?;
        format::convert(&conn, &path.display().to_string())
            .map_err(|e| OpenError::Open(StorageError::Convert(e)))?;
        schema::configure_writer(&conn, durability).map_err(|e| OpenError::Open(e.into()))?;
        let expiration_ms = producer_expiration.as_millis().min(i64::MAX as u128) as i64;
        let cutoff = crate::clock::now_ms().saturating_sub(expiration_ms);
        // Expired producers are neither loaded nor kept in the file.
        conn.execute("DELETE FROM producers WHERE last_ms < ?1", [cutoff])
            .map_err(|e| OpenError::Load(e.into()))?;
        let (mut logs, next_pid) = load::partition_logs(&conn, cutoff).map_err(OpenError::Load)?;
        let catalog = Arc::new(load::catalog(&conn, &logs).map_err(OpenError::Load)?);
        let txns =
            txn::load(&conn, &mut logs, &catalog.partitions_by_id()).map_err(OpenError::Load)?;
        txns.publish_all(&catalog.transactions);
        let (tx, rx) = mpsc::channel();
        let state = state::WriterState::new(
            catalog.clone(),
            logs,
            txns,
            next_pid,
            max_partitions,
            expiration_ms,
            max_producers,
        );
        let w = writer::Writer::new(conn, limits, state).panic_on_topic(panic_topic);
        let stopped = CancellationToken::new();
        // Cancelled when the thread ends, returning or unwinding a panic.
        let guard = stopped.clone().drop_guard();
        let handle = std::thread::Builder::new()
            .name("skiff-writer".into())
            .spawn(move || {
                let _guard = guard;
                w.run(rx)
            })
            .map_err(|e| OpenError::Load(StorageError::Thread(e)))?;
        Ok((
            Storage {
                path: path.to_path_buf(),
                _lock: lock,
                writer: tx,
                writer_thread: Mutex::new(Some(handle)),
                writer_stopped: stopped,
                readers: Arc::new(Mutex::new(Vec::new())),
                read_slots: Semaphore::new(READERS),
            },
            catalog,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Completes once the writer thread has ended.
    pub async fn writer_stopped(&self) {
        self.writer_stopped.cancelled().await
    }

    /// Answers once the writer has run a group after this call: proof that
    /// it is alive and not stuck (WriterGone if it has stopped).
    pub fn ping(&self) -> Queued<()> {
        self.queue(|reply| Command::Ping { reply })
    }

    /// Queues the command `make` builds around its reply channel.
    fn queue<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Queued<T> {
        let (reply, answer) = oneshot::channel();
        // If the writer has stopped, the command comes back inside the error
        // and is dropped with its reply sender: the answer is WriterGone.
        let _ = self.writer.send(make(reply));
        Queued(answer)
    }

    /// Appends one validated batch to a partition; the answer carries its
    /// base offset (or the stored one, for an idempotent producer's retry).
    pub fn append(
        &self,
        partition: Arc<Partition>,
        batch: (BatchHeader, Bytes),
        log_append_time: bool,
    ) -> Queued<Appended> {
        self.queue(|reply| Command::Append {
            partition,
            batch,
            log_append_time,
            reply,
        })
    }

    /// Creates a topic (TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION on a
    /// '.'/'_' collision, INVALID_PARTITIONS, INVALID_CONFIG otherwise).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        overrides: BTreeMap<String, String>,
    ) -> Queued<Arc<Topic>> {
        let name = name.to_string();
        self.queue(|reply| Command::CreateTopic {
            name,
            partitions,
            overrides,
            reply,
        })
    }

    /// Deletes a topic with its records, producer state and committed
    /// offsets; answers its id.
    pub fn delete_topic(&self, name: &str) -> Queued<Uuid> {
        let name = name.to_string();
        self.queue(|reply| Command::DeleteTopic { name, reply })
    }

    /// Grows a topic to `count` partitions.
    pub fn create_partitions(&self, name: &str, count: i32) -> Queued<()> {
        let name = name.to_string();
        self.queue(|reply| Command::CreatePartitions { name, count, reply })
    }

    /// Changes a topic's config overrides.
    pub fn alter_config(&self, name: &str, change: ConfigChange) -> Queued<()> {
        let name = name.to_string();
        self.queue(|reply| Command::AlterConfig {
            name,
            change,
            reply,
        })
    }

    /// A producer id never handed out before.
    pub fn allocate_producer_id(&self) -> Queued<i64> {
        self.queue(|reply| Command::AllocateProducerId { reply })
    }

    /// InitProducerId for a transactional id: its producer id and new
    /// epoch (an open transaction of the previous epoch is aborted).
    pub fn txn_init(
        &self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        max_ids: usize,
    ) -> Queued<(i64, i16)> {
        let id = id.to_string();
        self.queue(|reply| Command::TxnInit {
            id,
            timeout_ms,
            expected,
            max_ids,
            reply,
        })
    }

    /// AddPartitionsToTxn.
    pub fn txn_add_partitions(
        &self,
        id: &str,
        producer: (i64, i16),
        partitions: Vec<Arc<Partition>>,
    ) -> Queued<()> {
        let id = id.to_string();
        self.queue(|reply| Command::TxnAddPartitions {
            id,
            producer,
            partitions,
            reply,
        })
    }

    /// AddOffsetsToTxn.
    pub fn txn_add_offsets(&self, id: &str, producer: (i64, i16), group: &str) -> Queued<()> {
        let id = id.to_string();
        let group = group.to_string();
        self.queue(|reply| Command::TxnAddOffsets {
            id,
            producer,
            group,
            reply,
        })
    }

    /// TxnOffsetCommit: offsets that become committed with the transaction.
    pub fn txn_offset_commit(
        &self,
        id: &str,
        producer: (i64, i16),
        group: &str,
        offsets: Vec<OffsetRow>,
    ) -> Queued<()> {
        let id = id.to_string();
        let group = group.to_string();
        self.queue(|reply| Command::TxnOffsetCommit {
            id,
            producer,
            group,
            offsets,
            reply,
        })
    }

    /// EndTxn: commits or aborts; answers the group offsets it committed.
    pub fn txn_end(
        &self,
        id: &str,
        producer: (i64, i16),
        commit: bool,
    ) -> Queued<Vec<(String, Vec<OffsetRow>)>> {
        let id = id.to_string();
        self.queue(|reply| Command::TxnEnd {
            id,
            producer,
            commit,
            reply,
        })
    }

    /// Aborts the transactions past their timeout (fencing their
    /// producers) and forgets ids idle for `expiration_ms`.
    pub fn txn_expire(&self, now_ms: i64, expiration_ms: i64) -> Queued<usize> {
        self.queue(|reply| Command::TxnExpire {
            now_ms,
            expiration_ms,
            reply,
        })
    }

    /// Aborted transactions of a partition overlapping `from..to`.
    pub async fn aborted_between(
        &self,
        partition: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<crate::transactions::Aborted>, StorageError> {
        self.read(move |c| txn::aborted_between(c, partition, from, to))
            .await
    }

    /// Stores a group's committed offsets (insert or replace).
    pub fn commit_offsets(&self, group: &str, offsets: Vec<OffsetRow>) -> Queued<()> {
        let group = group.to_string();
        self.queue(|reply| Command::CommitOffsets {
            group,
            offsets,
            reply,
        })
    }

    /// Deletes all of a group's committed offsets.
    pub fn delete_group_offsets(&self, group: &str) -> Queued<()> {
        let group = group.to_string();
        self.queue(|reply| Command::DeleteGroupOffsets { group, reply })
    }

    /// Deletes a group's committed offsets of these (topic, partition)s.
    pub fn delete_offsets(&self, group: &str, partitions: Vec<(String, i32)>) -> Queued<()> {
        let group = group.to_string();
        self.queue(|reply| Command::DeleteOffsets {
            group,
            partitions,
            reply,
        })
    }

    /// Deletes the offsets of each of `groups` none of whose offsets was
    /// committed at or after `cutoff_ms` (offsets retention).
    pub fn expire_offsets(&self, groups: Vec<String>, cutoff_ms: i64) -> Queued<()> {
        self.queue(|reply| Command::ExpireOffsets {
            groups,
            cutoff_ms,
            reply,
        })
    }

    /// Removes, as of `now_ms`, the head batches every topic's retention.ms
    /// and retention.bytes exclude; answers how many batches went.
    pub fn enforce_retention(&self, now_ms: i64) -> Queued<usize> {
        self.queue(|reply| Command::EnforceRetention { now_ms, reply })
    }

    /// Moves a partition's log start to `offset` (-1: the high watermark),
    /// removing the whole batches below it; answers the new log start.
    pub fn delete_records(&self, partition: Arc<Partition>, offset: i64) -> Queued<i64> {
        self.queue(|reply| Command::DeleteRecords {
            partition,
            offset,
            reply,
        })
    }

    /// Writes to the users and ACL tables (`security::persist`) in the next
    /// group commit; `growth` bounds the bytes it adds, for the disk guard.
    pub fn security_write(&self, growth: u64, apply: SecurityWrite) -> Queued<()> {
        self.queue(|reply| Command::Security {
            apply,
            growth,
            reply,
        })
    }

    /// The users and ACLs as stored, and the change counter they belong to.
    pub async fn read_security(&self) -> Result<SecuritySnapshot, StorageError> {
        use crate::security::persist;
        self.read(|c| {
            let generation = persist::generation(c)?;
            let corrupt = |e: persist::PersistError| StorageError::Corrupt(e.to_string());
            Ok(SecuritySnapshot {
                generation,
                credentials: persist::load_credentials(c).map_err(corrupt)?,
                acls: persist::load_acls(c).map_err(corrupt)?,
            })
        })
        .await
    }

    /// The users and ACLs change counter.
    pub async fn security_generation(&self) -> Result<i64, StorageError> {
        self.read(|c| Ok(crate::security::persist::generation(c)?))
            .await
    }

    /// Stops the writer after everything queued so far, checkpoints and
    /// closes the file. Blocks until done.
    pub fn close(&self) {
        let _ = self.writer.send(Command::Shutdown);
        if let Some(handle) = self
            .writer_thread
            .lock()
            .expect("writer thread lock")
            .take()
        {
            let _ = handle.join();
        }
        self.readers.lock().expect("reader pool lock").clear();
    }

    /// Runs `f` with a pooled read-only connection on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let _slot = self
            .read_slots
            .acquire()
            .await
            .expect("semaphore never closed");
        let pool = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.lock().expect("reader pool lock").pop();
            let conn = match conn {
                Some(c) => c,
                None => {
                    let c = Connection::open_with_flags(
                        &path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    schema::configure_reader(&c)?;
                    c
                }
            };
            let result = f(&conn);
            pool.lock().expect("reader pool lock").push(conn);
            result
        })
        .await
        .map_err(|e| StorageError::Join(e.to_string()))?
    }
    /// Stored batches of a partition from the one holding `offset`, below
    /// `high_watermark`, up to `max_bytes`; with `first_always` the first
    /// batch comes even if larger, so a consumer can always make progress.
    /// Base offsets are filled in.
    pub async fn read_batches(
        &self,
        partition: i64,
        offset: i64,
        high_watermark: i64,
        max_bytes: usize,
        first_always: bool,
    ) -> Result<Bytes, StorageError> {
        self.read(move |c| {
            reader::read_batches(
                c,
                partition,
                offset,
                high_watermark,
                max_bytes,
                first_always,
            )
        })
        .await
    }

    /// The first offset whose timestamp is at least `timestamp`.
    pub async fn offset_for_timestamp(
        &self,
        partition: i64,
        timestamp: i64,
        high_watermark: i64,
    ) -> Result<Option<TimestampHit>, StorageError> {
        self.read(move |c| reader::offset_for_timestamp(c, partition, timestamp, high_watermark))
            .await
    }

    /// Every committed group offset, as (group, row), for start-up.
    pub async fn committed_offsets(&self) -> Result<Vec<(String, OffsetRow)>, StorageError> {
        self.read(|c| Ok(offsets::load(c)?)).await
    }

    /// The offset of the record with the largest timestamp.
    pub async fn max_timestamp(
        &self,
        partition: i64,
    ) -> Result<Option<TimestampHit>, StorageError> {
        self.read(move |c| reader::max_timestamp(c, partition))
            .await
    }
}
