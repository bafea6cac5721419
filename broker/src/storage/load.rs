//! Reading the database's state at start-up: topics, partitions, configs,
//! high watermarks and idempotent-producer state. The same reading restores
//! the writer after a failed commit.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::partition_log::PartitionLog;
use super::producers::{RecentBatch, RECENT};
use super::schema::partition_range;
use super::StorageError;
use crate::batch::BatchHeader;
use crate::catalog::{Catalog, Partition, Topic};
use crate::topic_config::TopicConfig;

/// How many batches at the end of each partition are read back at start-up
/// to restore idempotent producers' recent batches.
const HEADER_SCAN: i64 = 64;

/// The first producer id handed out on a new database.
const FIRST_PRODUCER_ID: i64 = 1000;

/// One past the last stored offset of a partition, or its log start if it
/// holds no batch.
fn high_watermark(conn: &Connection, partition: i64, log_start: i64) -> rusqlite::Result<i64> {
    let (lo, hi) = partition_range(partition, 0);
    let max: Option<i64> = conn.query_row(
        "SELECT MAX(id) FROM batches WHERE id BETWEEN ?1 AND ?2",
        params![lo, hi],
        |r| r.get(0),
    )?;
    Ok(max
        .map(|id| (id - (partition << super::schema::OFFSET_BITS)) + 1)
        .unwrap_or(0)
        .max(log_start))
}

/// The writer's per-partition state and the next producer id. Producers
/// that last wrote before `producer_cutoff_ms` are expired and not loaded.
pub fn partition_logs(
    conn: &Connection,
    producer_cutoff_ms: i64,
) -> Result<(HashMap<i64, PartitionLog>, i64), StorageError> {
    let mut logs = HashMap::new();
    let mut stmt = conn.prepare("SELECT id, log_start FROM partitions")?;
    let rows: Vec<(i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, log_start) in rows {
        logs.insert(
            id,
            PartitionLog {
                next_offset: high_watermark(conn, id, log_start)?,
                ..Default::default()
            },
        );
    }
    // The last batch of every idempotent producer, from its table...
    let mut stmt = conn.prepare(
        "SELECT partition_id, producer_id, epoch, first_seq, last_seq, base_offset, last_ms
         FROM producers WHERE last_ms >= ?1",
    )?;
    let mut rows = stmt.query(params![producer_cutoff_ms])?;
    let mut last: HashMap<i64, Vec<(i64, i16, RecentBatch, i64)>> = HashMap::new();
    while let Some(r) = rows.next()? {
        last.entry(r.get(0)?).or_default().push((
            r.get(1)?,
            r.get(2)?,
            RecentBatch {
                first_seq: r.get(3)?,
                last_seq: r.get(4)?,
                base_offset: r.get(5)?,
            },
            r.get(6)?,
        ));
    }
    // ...and the few before it from the batch headers at the end of each
    // partition, so a producer retrying any of its in-flight batches after a
    // restart is recognised as retrying (not out of order), as Kafka does by
    // reading its log.
    let mut headers = conn.prepare(
        "SELECT base_offset, substr(data, 1, 61) FROM batches
         WHERE id BETWEEN ?1 AND ?2 ORDER BY id DESC LIMIT ?3",
    )?;
    for (partition, producers) in last {
        let Some(log) = logs.get_mut(&partition) else {
            continue;
        };
        let (lo, hi) = partition_range(partition, 0);
        let mut recent: HashMap<i64, Vec<(i16, RecentBatch)>> = HashMap::new();
        let mut rows = headers.query(params![lo, hi, HEADER_SCAN])?;
        while let Some(r) = rows.next()? {
            let base_offset: i64 = r.get(0)?;
            let head: Vec<u8> = r.get(1)?;
            let Ok(h) = BatchHeader::parse(&head) else {
                continue;
            };
            if h.has_producer_id() {
                let list = recent.entry(h.producer_id).or_default();
                if list.len() < RECENT {
                    list.push((
                        h.producer_epoch,
                        RecentBatch {
                            first_seq: h.base_sequence,
                            last_seq: h.last_sequence(),
                            base_offset,
                        },
                    ));
                }
            }
        }
        for (producer_id, epoch, batch, last_ms) in producers {
            match recent.remove(&producer_id) {
                Some(list) if list.first().map(|(_, b)| *b) == Some(batch) => {
                    for (epoch, b) in list.into_iter().rev() {
                        log.producers.restore(producer_id, epoch, b, last_ms);
                    }
                }
                _ => log.producers.restore(producer_id, epoch, batch, last_ms),
            }
        }
    }
    let next_pid: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'next_producer_id'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok((logs, next_pid.unwrap_or(FIRST_PRODUCER_ID)))
}

/// The catalog of topics, built from the file.
pub fn catalog(
    conn: &Connection,
    logs: &HashMap<i64, PartitionLog>,
) -> Result<Catalog, StorageError> {
    let catalog = Catalog::default();
    let mut topics = conn.prepare("SELECT id, name, uuid FROM topics")?;
    let topic_rows: Vec<(i64, String, Vec<u8>)> = topics
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut configs = conn.prepare("SELECT name, value FROM topic_configs WHERE topic_id = ?1")?;
    let mut parts =
        conn.prepare("SELECT id, idx, log_start FROM partitions WHERE topic_id = ?1 ORDER BY idx")?;
    for (db_id, name, uuid) in topic_rows {
        let overrides: BTreeMap<String, String> = configs
            .query_map(params![db_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let config = TopicConfig::from_overrides(overrides)
            .map_err(|e| StorageError::Corrupt(format!("topic '{name}': {e}")))?;
        let partitions = parts
            .query_map(params![db_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i32>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|(id, idx, log_start)| {
                let hw = logs.get(&id).map(|l| l.next_offset).unwrap_or(log_start);
                Arc::new(Partition::new(&name, idx, id, log_start, hw))
            })
            .collect();
        let uuid = Uuid::from_slice(&uuid)
            .map_err(|_| StorageError::Corrupt(format!("topic '{name}' has a malformed id")))?;
        catalog.insert(Arc::new(Topic::new(db_id, name, uuid, config, partitions)));
    }
    Ok(catalog)
}
