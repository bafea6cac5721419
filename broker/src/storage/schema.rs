//! The layout of the SQLite file and the pragmas every connection uses.
//!
//! One row per produced record batch, never per record. A batch's row id is
//! `partition_db_id << 40 | last_offset`, so the table's own B-tree is the
//! offset index: finding the batch holding offset N of a partition is a range
//! seek on the row id with no secondary index to maintain on every append.
//! Offsets therefore stay below 2^40 (a trillion records per partition).

use rusqlite::Connection;

/// Bits of the row id that hold the last offset of a batch.
pub const OFFSET_BITS: u32 = 40;
pub const MAX_OFFSET: i64 = (1 << OFFSET_BITS) - 1;
/// The largest partition row id: `MAX_PARTITION_ID << 40 | MAX_OFFSET` is
/// still a positive i64, so no two partitions' keys overlap and key ranges
/// keep their order. The writer never allocates a larger id.
pub const MAX_PARTITION_ID: i64 = (1 << (63 - OFFSET_BITS)) - 1;

/// The row id of the batch of `partition` whose last offset is `last_offset`.
pub fn batch_key(partition: i64, last_offset: i64) -> i64 {
    debug_assert!((0..=MAX_PARTITION_ID).contains(&partition));
    (partition << OFFSET_BITS) | last_offset
}

/// The inclusive row id range of a partition's batches from `offset` on.
pub fn partition_range(partition: i64, offset: i64) -> (i64, i64) {
    (
        batch_key(partition, offset.clamp(0, MAX_OFFSET)),
        batch_key(partition, MAX_OFFSET),
    )
}

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS topics (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    uuid       BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS topic_configs (
    topic_id INTEGER NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (topic_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS partitions (
    id        INTEGER PRIMARY KEY,
    topic_id  INTEGER NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
    idx       INTEGER NOT NULL,
    log_start INTEGER NOT NULL DEFAULT 0,
    UNIQUE (topic_id, idx)
);
-- id = partition id << 40 | last offset of the batch (see batch_key).
CREATE TABLE IF NOT EXISTS batches (
    id            INTEGER PRIMARY KEY,
    base_offset   INTEGER NOT NULL,
    max_timestamp INTEGER NOT NULL,
    data          BLOB NOT NULL
);
-- Idempotent producers: the last batch of each producer on each partition.
CREATE TABLE IF NOT EXISTS producers (
    partition_id INTEGER NOT NULL,
    producer_id  INTEGER NOT NULL,
    epoch        INTEGER NOT NULL,
    first_seq    INTEGER NOT NULL,
    last_seq     INTEGER NOT NULL,
    base_offset  INTEGER NOT NULL,
    PRIMARY KEY (partition_id, producer_id)
) WITHOUT ROWID;
";

/// How much a commit survives; maps to SQLite's `synchronous` with the
/// rollback journal (`journal_mode=PERSIST`, see docs/durability.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// `synchronous=NORMAL`: a commit returns after the journal and the
    /// database file are fsynced and the journal's header is zeroed and
    /// fsynced, so an acknowledged write survives the process being killed
    /// and a power loss. One fsync of the journal per commit.
    Normal,
    /// `synchronous=FULL`: as `normal`, plus a second fsync of the journal
    /// before its header is written, which SQLite uses to order the journal's
    /// pages before the header that makes them count, on file systems that
    /// may reorder writes within a file.
    Full,
}

/// Bytes per page. 4 KiB: each commit rewrites page 1 and the rightmost
/// leaf (journaled first), so small pages keep the fixed cost per commit
/// small; batches appended past the end of the file are written once.
pub const PAGE_SIZE: i64 = 4096;

/// The rollback journal is kept (`PERSIST`: only its header is zeroed at a
/// commit) and cut back to this size after a commit that made it larger.
/// Must be positive: 0 would truncate it at every commit.
pub const JOURNAL_SIZE_LIMIT: i64 = 4 * 1024 * 1024;

/// Pragmas for the single writing connection. The file must already be in
/// the current format (`format::convert` runs first); `page_size` only
/// takes effect on a new, empty file.
pub fn configure_writer(conn: &Connection, durability: Durability) -> rusqlite::Result<()> {
    super::busy::install(conn)?;
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "PERSIST")?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        },
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A small page cache: batches are written once and read back through the
    // OS page cache, so a large SQLite cache would only add RSS.
    conn.pragma_update(None, "cache_size", -2048)?;
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(super::offsets::SCHEMA)?;
    Ok(())
}

/// Pragmas for read-only connections.
pub fn configure_reader(conn: &Connection) -> rusqlite::Result<()> {
    super::busy::install(conn)?;
    conn.pragma_update(None, "cache_size", -1024)?;
    Ok(())
}
