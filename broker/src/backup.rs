//! `skiff-broker backup --to FILE`: a consistent copy of the database while
//! the broker keeps serving.
//!
//! SQLite's `VACUUM INTO` reads the whole database inside one read
//! transaction (WAL lets it run beside the writer) and writes a compact,
//! self-contained file: every topic, record and committed offset as of one
//! moment. Restore by starting a broker on the copy (with the broker stopped,
//! move the copy into place of the old file and delete the old `-wal`/`-shm`).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists; choose a new file (a backup never overwrites)")]
    Exists(String),
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
