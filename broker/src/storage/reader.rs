//! Queries on read-only connections: batches by offset for Fetch, and
//! offsets by timestamp for ListOffsets. Batches come back exactly as they
//! were produced, with only the fields outside the CRC filled in (base offset,
//! partition leader epoch).

use bytes::{BufMut, Bytes, BytesMut};
use rusqlite::{params, Connection};

use super::schema::{batch_key, partition_range, MAX_OFFSET};
use super::StorageError;
use crate::batch;

/// A record found by timestamp: its offset and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampHit {
    pub offset: i64,
    pub timestamp: i64,
}

pub fn read_batches(
    conn: &Connection,
    partition: i64,
    offset: i64,
    high_watermark: i64,
    max_bytes: usize,
    first_always: bool,
) -> Result<Bytes, StorageError> {
    let (lo, _) = partition_range(partition, offset);
    let hi = batch_key(partition, (high_watermark - 1).clamp(0, MAX_OFFSET));
    let mut stmt = conn.prepare_cached(
        "SELECT base_offset, data FROM batches WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
    )?;
    let mut rows = stmt.query(params![lo, hi])?;
    let mut out = BytesMut::new();
    while let Some(row) = rows.next()? {
        let base_offset: i64 = row.get(0)?;
        let data = row.get_ref(1)?.as_blob()?;
        if (!out.is_empty() || !first_always) && out.len() + data.len() > max_bytes {
            break;
        }
        let start = out.len();
        out.reserve(data.len());
        out.put_slice(data);
        let stored = &mut out[start..];
        batch::set_base_offset(stored, base_offset);
        // Partition leader epoch: Skiff's single broker is always epoch 0.
        stored[12..16].copy_from_slice(&0i32.to_be_bytes());
        if out.len() >= max_bytes {
            break;
        }
    }
    Ok(out.freeze())
}

pub fn offset_for_timestamp(
    conn: &Connection,
    partition: i64,
    timestamp: i64,
    high_watermark: i64,
) -> Result<Option<TimestampHit>, StorageError> {
    let (lo, hi) = partition_range(partition, 0);
    let mut stmt = conn.prepare_cached(
        "SELECT base_offset, data FROM batches
         WHERE id BETWEEN ?1 AND ?2 AND max_timestamp >= ?3 ORDER BY id LIMIT 1",
    )?;
    let mut rows = stmt.query(params![lo, hi, timestamp])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let base_offset: i64 = row.get(0)?;
    let mut data = row.get_ref(1)?.as_blob()?.to_vec();
    batch::set_base_offset(&mut data, base_offset);
    if let Some((offset, ts)) =
        batch::find_record(&data, |o, ts| ts >= timestamp && o < high_watermark)
    {
        return Ok(Some(TimestampHit {
            offset,
            timestamp: ts,
        }));
    }
    // Records that could not be read (beyond the decompression cap, or
    // malformed): answer the batch's first offset, as close as Skiff can
    // tell.
    let header = batch::BatchHeader::parse(&data)
        .map_err(|e| StorageError::Corrupt(format!("stored batch: {e}")))?;
    Ok(Some(TimestampHit {
        offset: base_offset,
        timestamp: header.base_timestamp.max(timestamp),
    }))
}

pub fn max_timestamp(
    conn: &Connection,
    partition: i64,
) -> Result<Option<TimestampHit>, StorageError> {
    let (lo, hi) = partition_range(partition, 0);
    let mut stmt = conn.prepare_cached(
        "SELECT base_offset, max_timestamp, data FROM batches
         WHERE id BETWEEN ?1 AND ?2 ORDER BY max_timestamp DESC, id ASC LIMIT 1",
    )?;
    let mut rows = stmt.query(params![lo, hi])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let base_offset: i64 = row.get(0)?;
    let max_ts: i64 = row.get(1)?;
    let mut data = row.get_ref(2)?.as_blob()?.to_vec();
    batch::set_base_offset(&mut data, base_offset);
    let offset = batch::find_record(&data, |_, ts| ts == max_ts)
        .map(|(o, _)| o)
        .unwrap_or_else(|| {
            batch::BatchHeader::parse(&data)
                .map(|h| base_offset + h.last_offset_delta as i64)
                .unwrap_or(base_offset)
        });
    Ok(Some(TimestampHit {
        offset,
        timestamp: max_ts,
    }))
}
