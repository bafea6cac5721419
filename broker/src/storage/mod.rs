//! The SQLite file: everything Skiff keeps lives in it.
//!
//! `Storage` is the handle the rest of the broker uses: writes are sent to the
//! single writer thread (`writer`), reads run on a small pool of read-only
//! connections on tokio's blocking threads (`reader`). WAL mode lets reads
//! proceed while the writer commits.

mod load;
pub mod offsets;
pub mod producers;
mod reader;
pub mod schema;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{oneshot, Semaphore};

use crate::catalog::Catalog;
pub use offsets::OffsetRow;
pub use reader::TimestampHit;
pub use schema::Durability;
pub use writer::{Appended, Command, ConfigChange, DiskLimits, WriteError};

/// How many read-only connections may run queries at once.
const READERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored value has the wrong type: {0}")]
    Type(#[from] rusqlite::types::FromSqlError),
    #[error("database content is invalid: {0}")]
    Corrupt(String),
    #[error("storage full: {0}")]
    Full(String),
    #[error("the database is in use by another skiff-broker (lock {0} is held); stop that broker or use another file")]
    InUse(String),
    #[error("cannot create the lock file {path}: {error}")]
    Lock { path: String, error: std::io::Error },
    #[error("the storage writer has stopped")]
    WriterGone,
    #[error("read task failed: {0}")]
    Join(String),
}

/// Takes the exclusive lock that says a broker is using `path`. A separate
/// `.lock` file: locking the database file itself could interfere with
/// SQLite's own POSIX locks.
pub fn lock_database(path: &Path) -> Result<std::fs::File, StorageError> {
    use std::os::fd::AsRawFd;
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let shown = lock_path.display().to_string();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|error| StorageError::Lock {
            path: shown.clone(),
            error,
        })?;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(StorageError::InUse(shown));
    }
    Ok(file)
}

/// The handle to the database shared by all connections.
pub struct Storage {
    path: PathBuf,
    /// Held (flock) while the broker runs: one broker per database file,
    /// since each keeps its own in-memory view of offsets.
    _lock: std::fs::File,
    writer: Mutex<mpsc::Sender<Command>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    read_slots: Semaphore,
}

impl Storage {
    /// Opens (creating if needed) the database at `path`, loads its state and
    /// starts the writer thread.
    pub fn open(
        path: &Path,
        durability: Durability,
        limits: DiskLimits,
    ) -> Result<(Storage, Arc<Catalog>), StorageError> {
        let lock = lock_database(path)?;
        let conn = Connection::open(path)?;
        schema::configure_writer(&conn, durability)?;
        let (logs, next_pid) = load::partition_logs(&conn)?;
        let catalog = Arc::new(load::catalog(&conn, &logs)?);
        let (tx, rx) = mpsc::channel();
        let w = writer::Writer::new(conn, limits, catalog.clone(), logs, next_pid);
        let handle = std::thread::Builder::new()
            .name("skiff-writer".into())
            .spawn(move || w.run(rx))
            .map_err(|e| StorageError::Corrupt(format!("cannot start writer thread: {e}")))?;
        Ok((
            Storage {
                path: path.to_path_buf(),
                _lock: lock,
                writer: Mutex::new(tx),
                writer_thread: Mutex::new(Some(handle)),
                readers: Arc::new(Mutex::new(Vec::new())),
                read_slots: Semaphore::new(READERS),
            },
            catalog,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues a command for the writer.
    pub fn send(&self, cmd: Command) -> Result<(), StorageError> {
        self.writer
            .lock()
            .expect("writer sender lock")
            .send(cmd)
            .map_err(|_| StorageError::WriterGone)
    }

    /// Sends a command built around a reply channel and waits for the answer.
    pub async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, WriteError>>) -> Command,
    ) -> Result<T, WriteError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))
            .map_err(|e| WriteError::Storage(e.to_string()))?;
        rx.await
            .map_err(|_| WriteError::Storage(StorageError::WriterGone.to_string()))?
    }

    /// Stops the writer after everything queued so far, checkpoints and
    /// closes the file. Blocks until done.
    pub fn close(&self) {
        let _ = self.send(Command::Shutdown);
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
