//! Committed consumer-group offsets in the SQLite file: the table, the
//! writer-side changes (commit, delete a group's or some partitions'
//! offsets, drop a deleted topic's) and the load at start-up. Only the writer
//! thread calls the changing functions, inside its group-commit transaction.

use rusqlite::{params, Connection};

/// The committed-offsets table. Keyed by group, topic name and partition;
/// the topic index makes a topic deletion cheap.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS committed_offsets (
    group_id     TEXT NOT NULL,
    topic        TEXT NOT NULL,
    partition    INTEGER NOT NULL,
    offset       INTEGER NOT NULL,
    leader_epoch INTEGER NOT NULL,
    metadata     TEXT NOT NULL,
    commit_ms    INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS committed_offsets_topic ON committed_offsets (topic);
";

/// One committed offset of one partition for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetRow {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_ms: i64,
}

pub fn commit(tx: &Connection, group: &str, rows: &[OffsetRow]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO committed_offsets
           (group_id, topic, partition, offset, leader_epoch, metadata, commit_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (group_id, topic, partition) DO UPDATE SET
           offset = excluded.offset, leader_epoch = excluded.leader_epoch,
           metadata = excluded.metadata, commit_ms = excluded.commit_ms",
    )?;
    for r in rows {
        stmt.execute(params![
            group,
            r.topic,
            r.partition,
            r.offset,
            r.leader_epoch,
            r.metadata,
            r.commit_ms
        ])?;
    }
    Ok(())
}

pub fn delete_group(tx: &Connection, group: &str) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM committed_offsets WHERE group_id = ?1",
        params![group],
    )?;
    Ok(())
}

/// Deletes a group's offsets if none was committed at or after
/// `cutoff_ms` (offsets retention).
pub fn expire_group(tx: &Connection, group: &str, cutoff_ms: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "DELETE FROM committed_offsets WHERE group_id = ?1 AND NOT EXISTS
           (SELECT 1 FROM committed_offsets WHERE group_id = ?1 AND commit_ms >= ?2)",
    )?
    .execute(params![group, cutoff_ms])?;
    Ok(())
}

pub fn delete_partitions(
    tx: &Connection,
    group: &str,
    partitions: &[(String, i32)],
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "DELETE FROM committed_offsets WHERE group_id = ?1 AND topic = ?2 AND partition = ?3",
    )?;
    for (topic, partition) in partitions {
        stmt.execute(params![group, topic, partition])?;
    }
    Ok(())
}

/// A deleted topic's offsets go with it, in the same transaction.
pub fn delete_topic(tx: &Connection, topic: &str) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM committed_offsets WHERE topic = ?1",
        params![topic],
    )?;
    Ok(())
}

/// Every committed offset, as (group, row).
pub fn load(conn: &Connection) -> rusqlite::Result<Vec<(String, OffsetRow)>> {
    let mut stmt = conn.prepare(
        "SELECT group_id, topic, partition, offset, leader_epoch, metadata, commit_ms
         FROM committed_offsets",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                OffsetRow {
                    topic: r.get(1)?,
                    partition: r.get(2)?,
                    offset: r.get(3)?,
                    leader_epoch: r.get(4)?,
                    metadata: r.get(5)?,
                    commit_ms: r.get(6)?,
                },
            ))
        })?
        .collect();
    rows
}
