//! The database's place on disk: the lock file that keeps a second broker
//! off the same database, and the disk guard's limits (a cap on the
//! database's size, a free-space margin on its volume, read with `statvfs`).

use std::path::{Path, PathBuf};

use rusqlite::Connection;

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

/// How much room appends have on disk.
#[derive(Debug, Clone)]
pub struct DiskLimits {
    /// Largest database (pages in use) appends may grow to; 0: no cap.
    pub max_db_bytes: u64,
    /// Free space to leave on the database's file system.
    pub min_free_bytes: u64,
    /// The database's directory, whose file system is watched.
    pub dir: PathBuf,
}

impl DiskLimits {
    /// The limits for the database at `database`.
    pub fn new(database: &Path, max_db_bytes: u64, min_free_bytes: u64) -> Self {
        let dir = match database.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        DiskLimits {
            max_db_bytes,
            min_free_bytes,
            dir,
        }
    }

    /// Bytes of batches that may still be appended, or None without limit.
    pub(super) fn room(&self, conn: &Connection) -> Result<Option<u64>, StorageError> {
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
fn free_disk_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a statvfs we own.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}
