//! `skiff-broker backup --to FILE`: a consistent copy of the database while
//! the broker keeps serving.
//!
//! SQLite's `VACUUM INTO` reads the whole database inside one read
//! transaction and writes a compact, self-contained file: every topic,
//! record and committed offset as of one moment. With the rollback journal a
//! read transaction keeps the writer from committing, so produce, offset
//! commits and topic changes wait (their commits retry in short steps, see
//! `storage/busy.rs`) until the copy is written, about the database's size
//! divided by the disk's write speed; past 30 s a waiting group fails with
//! KAFKA_STORAGE_ERROR and its clients retry. Restore by starting a broker
//! on the copy (with the broker stopped, move the copy into place of the old
//! file and delete the old `-journal`, if any).
//!
//! `skiff-broker compact` shrinks the file in place (`VACUUM`) with the
//! broker stopped: deleted records leave free pages that SQLite reuses (the
//! disk guard counts them as room) but never returns to the file system by
//! itself. It converts a database in the format of an earlier Skiff first.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists; choose a new file (a backup never overwrites)")]
    Exists(String),
    #[error("there is no database at {0}")]
    Missing(String),
    #[error("{0}; compact needs the broker stopped (a running broker can write a compacted copy with `backup --to`)")]
    Locked(String),
    #[error("cannot read the database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("writing the copy to {path} failed: {source}")]
    Copy {
        path: String,
        source: rusqlite::Error,
    },
}

/// Shrinks the database file in place (SQLite `VACUUM`), returning its size
/// before and after. Only with the broker stopped: it takes the broker's
/// lock, so a running broker makes it fail instead of waiting.
pub fn compact(database: &Path) -> Result<(u64, u64), BackupError> {
    let shown = database.display().to_string();
    if !database.exists() {
        return Err(BackupError::Missing(shown));
    }
    let _lock =
        crate::storage::lock_database(database).map_err(|e| BackupError::Locked(e.to_string()))?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let before = size(database);
    let conn = Connection::open(database).map_err(|source| BackupError::Open {
        path: shown.clone(),
        source,
    })?;
    let converted =
        crate::storage::convert_format(&conn, &shown).map_err(|source| BackupError::Copy {
            path: shown.clone(),
            source,
        })?;
    if !converted {
        conn.execute_batch("VACUUM")
            .map_err(|source| BackupError::Copy {
                path: shown.clone(),
                source,
            })?;
    }
    drop(conn);
    Ok((before, size(database)))
}

/// Copies the database at `database` to the new file `to`.
pub fn backup(database: &Path, to: &Path) -> Result<u64, BackupError> {
    let shown = to.display().to_string();
    if to.exists() {
        return Err(BackupError::Exists(shown));
    }
    let conn = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(
        |source| BackupError::Open {
            path: database.display().to_string(),
            source,
        },
    )?;
    let target = to.to_string_lossy().to_string();
    conn.execute("VACUUM INTO ?1", [&target])
        .map_err(|source| BackupError::Copy {
            path: shown.clone(),
            source,
        })?;
    Ok(std::fs::metadata(to).map(|m| m.len()).unwrap_or(0))
}
