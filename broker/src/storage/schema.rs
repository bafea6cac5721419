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
    conn.execute_batch(super::txn::SCHEMA)?;
    crate::security::persist::create_schema(conn)?;
    migrate(conn)?;
    Ok(())
}

/// A topic name with '.' and '_' made one: Kafka refuses a topic whose
/// normalised name another topic already has (their metric names would
/// collide). Stored in `topics.norm_name` under a UNIQUE index, so the check
/// is an index lookup, not a scan of every name.
pub fn normalised_name(name: &str) -> String {
    name.replace('.', "_")
}

fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?;
    let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
    for n in names {
        if n? == column {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Additive changes to files written by earlier versions, each applied once
/// (guarded by the column it adds) in one transaction; a new file goes
/// through the same steps.
///
/// - `topics.norm_name` (UNIQUE): filled from the names; if an older file
///   holds two colliding names, only the older topic gets the value (NULLs
///   do not collide), so the file still opens.
/// - `producers.last_ms`: when each producer last wrote, for
///   `SKIFF_PRODUCER_ID_EXPIRATION_MS`; existing rows count from the
///   migration.
pub(crate) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let norm = has_column(conn, "topics", "norm_name")?;
    let last = has_column(conn, "producers", "last_ms")?;
    if norm && last {
        return Ok(());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut sql = String::from("BEGIN IMMEDIATE;");
    if !norm {
        sql.push_str(
            "ALTER TABLE topics ADD COLUMN norm_name TEXT;
             UPDATE topics SET norm_name = replace(name, '.', '_')
               WHERE id IN (SELECT MIN(id) FROM topics GROUP BY replace(name, '.', '_'));
             CREATE UNIQUE INDEX topics_norm_name ON topics (norm_name);",
        );
    }
    if !last {
        sql.push_str(&format!(
            "ALTER TABLE producers ADD COLUMN last_ms INTEGER NOT NULL DEFAULT 0;
             UPDATE producers SET last_ms = {now};"
        ));
    }
    sql.push_str("COMMIT;");
    conn.execute_batch(&sql)
}

/// Pragmas for read-only connections.
pub fn configure_reader(conn: &Connection) -> rusqlite::Result<()> {
    super::busy::install(conn)?;
    conn.pragma_update(None, "cache_size", -1024)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file as earlier versions wrote it: no `norm_name`, no `last_ms`,
    /// and (from before the collision check) two colliding names.
    fn old_file() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE topics (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                                  uuid BLOB NOT NULL, created_ms INTEGER NOT NULL);
             CREATE TABLE producers (partition_id INTEGER NOT NULL, producer_id INTEGER NOT NULL,
                                     epoch INTEGER NOT NULL, first_seq INTEGER NOT NULL,
                                     last_seq INTEGER NOT NULL, base_offset INTEGER NOT NULL,
                                     PRIMARY KEY (partition_id, producer_id)) WITHOUT ROWID;
             INSERT INTO topics VALUES (1, 'a.b', x'00', 0), (2, 'a_b', x'00', 0), (3, 'c', x'00', 0);
             INSERT INTO producers VALUES (1, 7, 0, 0, 0, 0);",
        )
        .unwrap();
        conn
    }

    #[test]
    fn an_older_file_gains_the_new_columns_once() {
        let conn = old_file();
        configure_writer(&conn, Durability::Normal).unwrap();
        let norms: Vec<(String, Option<String>)> = conn
            .prepare("SELECT name, norm_name FROM topics ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            norms,
            vec![
                ("a.b".into(), Some("a_b".into())),
                ("a_b".into(), None),
                ("c".into(), Some("c".into())),
            ]
        );
        let last_ms: i64 = conn
            .query_row("SELECT last_ms FROM producers", [], |r| r.get(0))
            .unwrap();
        assert!(last_ms > 1_700_000_000_000, "{last_ms}");
        // The index refuses a colliding name; a second start changes nothing.
        let dup = conn.execute(
            "INSERT INTO topics (name, norm_name, uuid, created_ms) VALUES ('a-b', 'c', x'00', 0)",
            [],
        );
        assert!(dup.is_err());
        configure_writer(&conn, Durability::Normal).unwrap();
        let count: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM topics WHERE norm_name IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(count, 2);
    }
}
