//! Removing a partition's oldest batches: where retention.ms and
//! retention.bytes put the log start (whole batches only), and the SQL that
//! moves the log start and deletes the batches wholly below it (shared with
//! DeleteRecords). Runs inside the writer's transaction.

use rusqlite::{params, Connection, OptionalExtension};

use super::schema::{batch_key, partition_range, MAX_OFFSET};
use super::StorageError;
use crate::topic_config::TopicConfig;

/// Deletes the batches of a partition that lie wholly below `log_start` and
/// records the new log start. Returns the number of batches removed.
pub fn truncate_head(
    tx: &Connection,
    partition: i64,
    log_start: i64,
) -> Result<usize, StorageError> {
    let removed = if log_start > 0 {
        tx.prepare_cached("DELETE FROM batches WHERE id BETWEEN ?1 AND ?2")?
            .execute(params![
                batch_key(partition, 0),
                batch_key(partition, (log_start - 1).min(MAX_OFFSET))
            ])?
    } else {
        0
    };
    tx.prepare_cached("UPDATE partitions SET log_start = ?1 WHERE id = ?2")?
        .execute(params![log_start, partition])?;
    Ok(removed)
}

/// The offset the log of `partition` may start at under the topic's
/// retention: past every head batch older than retention.ms (by its max
/// timestamp), and past as many head batches as keep the partition within
/// retention.bytes; never before `log_start`, never past `high_watermark`.
pub fn retention_point(
    tx: &Connection,
    partition: i64,
    log_start: i64,
    high_watermark: i64,
    config: &TopicConfig,
    now_ms: i64,
) -> Result<i64, StorageError> {
    let (lo, hi) = partition_range(partition, 0);
    let mut up_to = log_start;
    if config.retention_ms >= 0 {
        let cutoff = now_ms.saturating_sub(config.retention_ms);
        let first_kept: Option<i64> = tx
            .prepare_cached(
                "SELECT base_offset FROM batches WHERE id BETWEEN ?1 AND ?2
                 AND max_timestamp >= ?3 ORDER BY id LIMIT 1",
            )?
            .query_row(params![lo, hi, cutoff], |r| r.get(0))
            .optional()?;
        up_to = up_to.max(first_kept.unwrap_or(high_watermark));
    }
    if config.retention_bytes >= 0 {
        let mut total: i64 = tx
            .prepare_cached(
                "SELECT COALESCE(SUM(length(data)), 0) FROM batches WHERE id BETWEEN ?1 AND ?2",
            )?
            .query_row(params![lo, hi], |r| r.get(0))?;
        if total > config.retention_bytes {
            let mut stmt = tx.prepare_cached(
                "SELECT base_offset, length(data) FROM batches WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
            )?;
            let mut rows = stmt.query(params![lo, hi])?;
            let mut bytes_point = high_watermark;
            while let Some(r) = rows.next()? {
                if total <= config.retention_bytes {
                    bytes_point = r.get(0)?;
                    break;
                }
                total -= r.get::<_, i64>(1)?;
            }
            up_to = up_to.max(bytes_point);
        }
    }
    Ok(up_to.min(high_watermark))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::storage::schema;

    const P: i64 = 1;

    /// Partition P holds five batches of two records (offsets 0..10), each
    /// 100 bytes, with max timestamps 100, 200, ..., 500.
    fn log() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(schema::SCHEMA).unwrap();
        conn.execute(
            "INSERT INTO topics (id, name, uuid, created_ms) VALUES (1, 't', x'00', 0)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO partitions (id, topic_id, idx) VALUES (?1, 1, 0)",
            [P],
        )
        .unwrap();
        for i in 0..5i64 {
            conn.execute(
                "INSERT INTO batches (id, base_offset, max_timestamp, data) VALUES (?1, ?2, ?3, ?4)",
                params![batch_key(P, 2 * i + 1), 2 * i, 100 * (i + 1), vec![0u8; 100]],
            )
            .unwrap();
        }
        conn
    }

    fn config(pairs: &[(&str, &str)]) -> TopicConfig {
        let overrides: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TopicConfig::from_overrides(overrides).unwrap()
    }

    fn point(conn: &Connection, log_start: i64, pairs: &[(&str, &str)], now: i64) -> i64 {
        retention_point(conn, P, log_start, 10, &config(pairs), now).unwrap()
    }

    #[test]
    fn retention_ms_cuts_before_the_first_batch_young_enough() {
        let c = log();
        // Cutoff 1000 - 650 = 350: the batches stamped 100..300 go.
        assert_eq!(point(&c, 0, &[("retention.ms", "650")], 1000), 6);
        // A batch stamped exactly at the cutoff stays.
        assert_eq!(point(&c, 0, &[("retention.ms", "700")], 1000), 4);
        // Everything older: the log starts at the high watermark.
        assert_eq!(point(&c, 0, &[("retention.ms", "100")], 1000), 10);
        // Nothing old enough: no cut.
        assert_eq!(point(&c, 0, &[("retention.ms", "1000")], 1000), 0);
    }

    #[test]
    fn retention_bytes_keeps_the_newest_batches_that_fit() {
        let c = log();
        let no_time = ("retention.ms", "-1");
        // 500 bytes stored; 250 allowed keeps the newest two batches.
        assert_eq!(point(&c, 0, &[no_time, ("retention.bytes", "250")], 0), 6);
        assert_eq!(point(&c, 0, &[no_time, ("retention.bytes", "500")], 0), 0);
        assert_eq!(point(&c, 0, &[no_time, ("retention.bytes", "499")], 0), 2);
        assert_eq!(point(&c, 0, &[no_time, ("retention.bytes", "0")], 0), 10);
        // Unlimited both ways: the log start stays.
        assert_eq!(point(&c, 4, &[no_time], 0), 4);
    }

    #[test]
    fn the_further_cut_wins_and_the_log_start_never_moves_back() {
        let c = log();
        let both = [("retention.ms", "650"), ("retention.bytes", "150")];
        assert_eq!(point(&c, 0, &both, 1000), 8);
        let both = [("retention.ms", "850"), ("retention.bytes", "350")];
        assert_eq!(point(&c, 0, &both, 1000), 4);
        assert_eq!(point(&c, 9, &[("retention.ms", "650")], 1000), 9);
    }

    #[test]
    fn truncate_head_removes_only_batches_wholly_below_the_new_start() {
        let c = log();
        // Offset 5 is the last record of the batch 4..=5, which stays.
        assert_eq!(truncate_head(&c, P, 5).unwrap(), 2);
        let left: Vec<i64> = c
            .prepare("SELECT base_offset FROM batches ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(left, vec![4, 6, 8]);
        let start: i64 = c
            .query_row("SELECT log_start FROM partitions WHERE id = ?1", [P], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(start, 5);
    }
}
