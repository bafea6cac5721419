//! The file's format on disk, and the one-time conversion of a database
//! written by an earlier Skiff (WAL journal, 16 KiB pages) to the current
//! one (rollback journal kept as `PERSIST`, 4 KiB pages; see `schema`).
//!
//! Both properties are read from the file itself (its header says the page
//! size and whether it is in WAL mode), so the conversion is decided afresh
//! at every start and a run cut short by a crash is simply done again:
//!
//! 1. `journal_mode=PERSIST` leaves WAL mode: SQLite first checkpoints every
//!    committed frame into the database file, then marks the file as a
//!    rollback-journal file and deletes the `-wal`. A crash before the mark
//!    leaves a WAL database whose WAL is recovered at the next open; the
//!    frames copied so far are copied again (a checkpoint is idempotent).
//! 2. `page_size=4096` then `VACUUM` rebuilds the file with the new page size.
//!    VACUUM is one transaction on the main file: its old pages go to the
//!    rollback journal before they are overwritten, so a crash during it
//!    leaves a hot journal, which the next open plays back, restoring the
//!    16 KiB file whole; the next start converts again. It needs free space
//!    for a temporary copy of the database and for the journal, up to twice
//!    the database's size; without it VACUUM fails, the transaction rolls
//!    back and start-up stops with the error.
//!
//! Nothing here runs while the broker serves: the caller holds the lock file
//! and no other connection is open.

use rusqlite::Connection;
use tracing::info;

use super::schema::{JOURNAL_SIZE_LIMIT, PAGE_SIZE};

/// What the file's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub page_size: i64,
    pub wal: bool,
    pub pages: i64,
}

/// The format of the database open on `conn` (an empty new file reports
/// SQLite's defaults and no pages).
pub fn read(conn: &Connection) -> rusqlite::Result<Format> {
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    Ok(Format {
        page_size,
        wal: mode.eq_ignore_ascii_case("wal"),
        pages,
    })
}

/// Converts the database open on `conn` to the current format if it is in
/// an older one; returns whether it did. Logs a line before and after.
pub fn convert(conn: &Connection, shown: &str) -> rusqlite::Result<bool> {
    let before = read(conn)?;
    if before.pages == 0 || (!before.wal && before.page_size == PAGE_SIZE) {
        return Ok(false);
    }
    info!(
        database = shown,
        journal = if before.wal { "WAL" } else { "rollback" },
        page_size = before.page_size,
        bytes = before.pages * before.page_size,
        "converting the database once to a rollback journal (PERSIST) with 4 KiB pages; \
         a crash during it leaves the old format, converted again at the next start"
    );
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=PERSIST", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("persist") {
        // SQLite keeps WAL mode when it cannot leave it (another connection
        // has the file open): report it rather than go on half-way.
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some(format!(
                "could not leave WAL mode (journal_mode is still {mode})"
            )),
        ));
    }
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.execute_batch("VACUUM")?;
    let after = read(conn)?;
    info!(
        database = shown,
        page_size = after.page_size,
        bytes = after.pages * after.page_size,
        "database converted"
    );
    Ok(true)
}
