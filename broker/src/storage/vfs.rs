//! The VFS the writing connection opens the database through: SQLite's own
//! `unix` VFS, changed in one answer only, so that the rollback journal
//! stays open between commits instead of being reopened by each one.
//!
//! Why: outside `locking_mode=EXCLUSIVE`, SQLite closes the journal when a
//! transaction ends (`pager_unlock`, sqlite3.c:59935) unless the file system
//! says open files cannot be deleted (`SQLITE_IOCAP_UNDELETABLE_WHEN_OPEN`,
//! as on Windows). Each commit then reopens it with `O_CREAT`, and a journal
//! opened with `O_CREAT` has its directory fsynced at its first sync
//! (`UNIXFILE_DIRSYNC` in `unixSync`); each transaction also probes for a hot
//! journal by name (stat, open, read a byte, close). That is one fsync and
//! about 25 system calls per commit spent on a file that never changes
//! identity. Exclusive locking would keep it open too, but would shut out
//! the readers (fetches of older records, `skiff-broker backup`).
//!
//! What the answer promises, and why it holds here: SQLite's concern is
//! another connection deleting the journal while this one has it open
//! (`journal_mode=DELETE` after a write, or a hot-journal rollback). Only the
//! broker's writer writes the file (one broker per database, `disk::
//! lock_database`; `compact` takes the same lock), readers are read-only,
//! and a journal is hot only after a failed commit, when every process that
//! rolls it back restores the same pages. The journal is still created,
//! and its directory entry synced, by the first commit of each run, and
//! every commit's journal, database and header-zeroing syncs are unchanged:
//! what survives a kill or a power loss is exactly what it was.

use std::ffi::{c_char, c_int};
use std::sync::OnceLock;

use rusqlite::{ffi, Connection, OpenFlags};

/// The name the VFS is registered under.
pub const NAME: &str = "skiff-unix";

/// `NAME` as SQLite keeps it (it holds the pointer for the process's life).
const NAME_C: &std::ffi::CStr = c"skiff-unix";

/// The default VFS (`unix`), whose `xOpen` does the real work.
static BASE: OnceLock<usize> = OnceLock::new();
/// Registration's outcome, once per process.
static REGISTERED: OnceLock<c_int> = OnceLock::new();

/// A file's methods as `unix` gave them, but for `xDeviceCharacteristics`;
/// `base` points at the originals (the struct is what `pMethods` points at,
/// so a method can find them from the file alone).
#[repr(C)]
struct Methods {
    methods: ffi::sqlite3_io_methods,
    base: *const ffi::sqlite3_io_methods,
}

// SAFETY: immutable once built, and only read by SQLite and `characteristics`.
unsafe impl Send for Methods {}
unsafe impl Sync for Methods {}

/// One `Methods` per distinct original table (`unix` uses one for the
/// database and another, without locking, for its journal), built on first
/// use and kept for the process's life.
static WRAPPED: std::sync::Mutex<Vec<(usize, &'static Methods)>> =
    std::sync::Mutex::new(Vec::new());

unsafe extern "C" fn characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `file` was opened by `open` below, so its `pMethods` is the
    // `methods` field at the start of a leaked `Methods`.
    let methods = unsafe { &*((*file).pMethods as *const Methods) };
    let base = unsafe { &*methods.base };
    let flags = match base.xDeviceCharacteristics {
        Some(f) => unsafe { f(file) },
        None => 0,
    };
    flags | ffi::SQLITE_IOCAP_UNDELETABLE_WHEN_OPEN
}

fn wrapped(base: *const ffi::sqlite3_io_methods) -> &'static Methods {
    let mut all = WRAPPED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, m)) = all.iter().find(|(b, _)| *b == base as usize) {
        return m;
    }
    // SAFETY: `base` is a method table of the `unix` VFS, a static struct.
    let mut methods = unsafe { *base };
    methods.xDeviceCharacteristics = Some(characteristics);
    let m: &'static Methods = Box::leak(Box::new(Methods { methods, base }));
    all.push((base as usize, m));
    m
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let base = *BASE.get().expect("registered before use") as *mut ffi::sqlite3_vfs;
    // SAFETY: the arguments are SQLite's, passed on unchanged to the VFS
    // this one copies (same `szOsFile`, so `file` has the room it needs).
    let rc = unsafe {
        match (*base).xOpen {
            Some(f) => f(base, name, file, flags, out_flags),
            None => ffi::SQLITE_CANTOPEN,
        }
    };
    let kind = flags & (ffi::SQLITE_OPEN_MAIN_DB | ffi::SQLITE_OPEN_MAIN_JOURNAL);
    // SAFETY: after a successful open `pMethods` is the file's method table.
    unsafe {
        if rc == ffi::SQLITE_OK && kind != 0 && !(*file).pMethods.is_null() {
            (*file).pMethods = &wrapped((*file).pMethods).methods;
        }
    }
    rc
}

/// Registers the VFS (once; later calls return the first outcome).
fn register() -> rusqlite::Result<()> {
    let rc = *REGISTERED.get_or_init(|| {
        // SAFETY: the default VFS is a static struct; the copy is leaked, so
        // it outlives every connection, as SQLite requires.
        unsafe {
            let base = ffi::sqlite3_vfs_find(std::ptr::null());
            if base.is_null() {
                return ffi::SQLITE_ERROR;
            }
            BASE.get_or_init(|| base as usize);
            let mut vfs = *base;
            vfs.zName = NAME_C.as_ptr();
            vfs.pNext = std::ptr::null_mut();
            vfs.xOpen = Some(open);
            ffi::sqlite3_vfs_register(Box::leak(Box::new(vfs)), 0)
        }
    });
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(rc),
            Some(format!("registering the {NAME} VFS failed")),
        ))
    }
}

/// Opens (creating if needed) the database at `path` for the writer,
/// through this VFS.
pub fn open_writer(path: &std::path::Path) -> rusqlite::Result<Connection> {
    register()?;
    Connection::open_with_flags_and_vfs(path, OpenFlags::default(), NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Open file descriptors of this process whose target ends with `suffix`.
    fn open_fds(suffix: &str) -> usize {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|t| t.to_string_lossy().ends_with(suffix))
            .count()
    }

    fn commit(conn: &Connection, n: i64) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; INSERT INTO t VALUES ({n}, zeroblob(1000)); COMMIT;"
        ))
        .unwrap();
    }

    #[test]
    fn the_journal_stays_open_between_commits_and_a_reader_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vfs-test.db");
        let conn = open_writer(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "PERSIST").unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
            .unwrap();
        commit(&conn, 1);
        // Between commits: one journal descriptor, kept for the next commit
        // (with the default VFS it would be closed here).
        assert_eq!(open_fds("vfs-test.db-journal"), 1);
        // A read-only connection of the default VFS reads between commits.
        let reader = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        for n in 2..50 {
            commit(&conn, n);
            let count: i64 = reader
                .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(count, n);
        }
        assert_eq!(open_fds("vfs-test.db-journal"), 1);
        // The journal's header is zeroed after each commit: not hot.
        let journal = std::fs::read(dir.path().join("vfs-test.db-journal")).unwrap();
        assert!(journal[..28].iter().all(|b| *b == 0));

        // The same with SQLite's own VFS, for contrast: closed between
        // commits (so the count above is the VFS's doing).
        drop(reader);
        drop(conn);
        let plain = Connection::open(&path).unwrap();
        plain
            .pragma_update(None, "journal_mode", "PERSIST")
            .unwrap();
        commit(&plain, 100);
        assert_eq!(open_fds("vfs-test.db-journal"), 0);
    }
}
