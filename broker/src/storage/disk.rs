//! The database's place on disk: the lock file that keeps a second broker
//! off the same database, and the disk guard's limits (a cap on the
//! database's footprint, a free-space margin on its volume, read with
//! `statvfs`).

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::schema::JOURNAL_SIZE_LIMIT;
use super::StorageError;

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

/// The disk guard: how many more bytes the database may take.
///
/// The database's footprint is its pages in use (`page_count` minus the
/// free pages SQLite keeps in the file and reuses before the file grows)
/// plus the rollback journal, which between commits is at most
/// `JOURNAL_SIZE_LIMIT` and during a commit holds the pages the commit
/// changes that existed before it (appended pages are not journaled). The
/// guard reserves the journal's limit, or its size if larger. Pages freed by
/// retention, DeleteRecords or DeleteTopics count as room again at the next
/// group commit, with no restart and no VACUUM.
#[derive(Debug, Clone)]
pub struct DiskLimits {
    /// Largest footprint (pages in use plus the journal) writes may grow
    /// the database to; 0: no cap.
    pub max_db_bytes: u64,
    /// Free space to leave on the database's file system.
    pub min_free_bytes: u64,
    /// The database's directory, whose file system is watched.
    pub dir: PathBuf,
    /// The rollback journal beside the database.
    journal: PathBuf,
}

/// Room for the writes of one group, and the setting that bounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    pub bytes: u64,
    pub limit: &'static str,
}

/// Appends leave this much of the room to the small writes (offset commits,
/// producer ids, topic changes), so consumers keep committing offsets while
/// produce is refused.
pub const METADATA_RESERVE: u64 = 1024 * 1024;

impl DiskLimits {
    /// The limits for the database at `database`.
    pub fn new(database: &Path, max_db_bytes: u64, min_free_bytes: u64) -> Self {
        let dir = match database.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut journal = database.as_os_str().to_owned();
        journal.push("-journal");
        DiskLimits {
            max_db_bytes,
            min_free_bytes,
            dir,
            journal: PathBuf::from(journal),
        }
    }

    /// Bytes the next group may add, or None without limit.
    pub(super) fn room(&self, conn: &Connection) -> Result<Option<Room>, StorageError> {
        if self.max_db_bytes == 0 && self.min_free_bytes == 0 {
            return Ok(None);
        }
        // Cached: it runs at every group commit.
        let (pages, free, size): (i64, i64, i64) = conn
            .prepare_cached(
                "SELECT (SELECT page_count FROM pragma_page_count()),
                        (SELECT freelist_count FROM pragma_freelist_count()),
                        (SELECT page_size FROM pragma_page_size())",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let journal = std::fs::metadata(&self.journal).map_or(0, |m| m.len());
        let journal_reserve = journal.max(JOURNAL_SIZE_LIMIT as u64);
        let free_pages = (free.max(0) * size) as u64;
        let mut room: Option<Room> = None;
        if self.max_db_bytes > 0 {
            let used = ((pages - free).max(0) * size) as u64 + journal_reserve;
            room = Some(Room {
                bytes: self.max_db_bytes.saturating_sub(used),
                limit: "SKIFF_MAX_DB_BYTES",
            });
        }
        if self.min_free_bytes > 0 {
            if let Some(avail) = free_disk_bytes(&self.dir) {
                // Free pages are filled before the file grows; the journal
                // may still grow to its reserve.
                let left = (avail + free_pages)
                    .saturating_sub(journal_reserve - journal)
                    .saturating_sub(self.min_free_bytes);
                if room.is_none_or(|r| left < r.bytes) {
                    room = Some(Room {
                        bytes: left,
                        limit: "SKIFF_MIN_FREE_DISK_BYTES",
                    });
                }
            }
        }
        Ok(room)
    }
}

/// Logs (rate limited, at WARN) that the disk guard refused `what` of
/// `bytes` bytes.
pub(super) fn disk_refusal(room: &Room, what: &str, bytes: u64) {
    crate::refusals::refused(
        room.limit,
        None,
        &format!(
            "disk guard: {what} ({bytes} bytes) refused with KAFKA_STORAGE_ERROR: {} bytes of \
             room left under {}; writes resume once retention, DeleteRecords or DeleteTopics \
             frees pages, or the limit is raised",
            room.bytes, room.limit
        ),
    );
}

/// Free bytes for unprivileged writers on the file system holding `dir`.
fn free_disk_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a statvfs we own.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}
