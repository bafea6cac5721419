//! Record batches (format v2, magic 2): building an uncompressed batch of
//! many records, and walking the batches of a fetched record set by their
//! headers.
//!
//! Built here rather than with `kafka-protocol`'s `RecordBatchEncoder`,
//! which starts a new batch whenever `offset - sequence` changes between
//! records (one batch per record with plain records), and which needs a
//! `Record` struct per record. A load generator wants one batch of many
//! records written straight into one buffer.
//!
//! Walking reads only the 61-byte batch headers: base offset, length,
//! magic, CRC32C (checked over the whole batch), last offset delta and
//! record count. No record is decoded and nothing is decompressed, so a
//! fetched set costs no per-record work and no allocation; lengths and
//! counts are checked against the bytes present.

use bytes::{BufMut, Bytes, BytesMut};

/// Bytes of a v2 batch header.
pub const BATCH_HEADER: usize = 61;
/// Bytes before `batch_length` counts (base offset + the length itself).
const LOG_OVERHEAD: usize = 12;
/// Smallest `batch_length`: the header after the log overhead.
const MIN_BATCH_LENGTH: usize = BATCH_HEADER - LOG_OVERHEAD;
/// Where the CRC-covered part of a batch starts (the attributes).
const CRC_START: usize = 21;

/// Bytes one record of `key_len`/`value_len` takes in a batch built by
/// [`BatchBuilder`] at `offset_delta` (timestamp delta 0, no headers).
pub fn record_size(offset_delta: i32, key_len: Option<usize>, value_len: Option<usize>) -> usize {
    let body = record_body_size(offset_delta, key_len, value_len);
    varint_len(body as i64) + body
}

fn record_body_size(offset_delta: i32, key_len: Option<usize>, value_len: Option<usize>) -> usize {
    let field = |l: Option<usize>| match l {
        None => varint_len(-1),
        Some(n) => varint_len(n as i64) + n,
    };
    1 + varint_len(0) + varint_len(i64::from(offset_delta)) + field(key_len) + field(value_len) + 1
}

/// One uncompressed batch being built: base offset 0 (the broker assigns
/// offsets), no producer id (not idempotent), CreateTime timestamps.
pub struct BatchBuilder {
    buf: BytesMut,
    count: i32,
    base_timestamp: i64,
}

impl BatchBuilder {
    /// A batch whose records carry `timestamp_ms`; `capacity` is a hint.
    pub fn new(timestamp_ms: i64, capacity: usize) -> BatchBuilder {
        let mut buf = BytesMut::with_capacity(capacity.max(BATCH_HEADER));
        buf.put_bytes(0, BATCH_HEADER);
        BatchBuilder {
            buf,
            count: 0,
            base_timestamp: timestamp_ms,
        }
    }

    /// Records so far.
    pub fn count(&self) -> i32 {
        self.count
    }

    /// Bytes so far, header included.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends a record (timestamp delta 0, no headers).
    pub fn push(&mut self, key: Option<&[u8]>, value: Option<&[u8]>) {
        let delta = self.count;
        let body = record_body_size(delta, key.map(<[u8]>::len), value.map(<[u8]>::len));
        put_varint(&mut self.buf, body as i64);
        self.buf.put_i8(0); // attributes
        put_varint(&mut self.buf, 0); // timestamp delta
        put_varint(&mut self.buf, i64::from(delta));
        for field in [key, value] {
            match field {
                None => put_varint(&mut self.buf, -1),
                Some(b) => {
                    put_varint(&mut self.buf, b.len() as i64);
                    self.buf.put_slice(b);
                }
            }
        }
        put_varint(&mut self.buf, 0); // headers
        self.count += 1;
    }

    /// Fills in the header and the CRC; the batch as the broker stores it.
    pub fn finish(mut self) -> Bytes {
        let batch_length = (self.buf.len() - LOG_OVERHEAD) as i32;
        let h = &mut self.buf[..BATCH_HEADER];
        h[0..8].copy_from_slice(&0i64.to_be_bytes()); // base offset
        h[8..12].copy_from_slice(&batch_length.to_be_bytes());
        h[12..16].copy_from_slice(&(-1i32).to_be_bytes()); // leader epoch
        h[16] = 2; // magic
        h[21..23].copy_from_slice(&0i16.to_be_bytes()); // attributes
        h[23..27].copy_from_slice(&(self.count - 1).max(0).to_be_bytes());
        h[27..35].copy_from_slice(&self.base_timestamp.to_be_bytes());
        h[35..43].copy_from_slice(&self.base_timestamp.to_be_bytes());
        h[43..51].copy_from_slice(&(-1i64).to_be_bytes()); // producer id
        h[51..53].copy_from_slice(&(-1i16).to_be_bytes()); // producer epoch
        h[53..57].copy_from_slice(&(-1i32).to_be_bytes()); // base sequence
        h[57..61].copy_from_slice(&self.count.to_be_bytes());
        let crc = crc32c::crc32c(&self.buf[CRC_START..]);
        self.buf[17..21].copy_from_slice(&crc.to_be_bytes());
        self.buf.freeze()
    }
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn varint_len(n: i64) -> usize {
    let mut v = zigzag(n);
    let mut len = 1;
    while v >= 0x80 {
        v >>= 7;
        len += 1;
    }
    len
}

fn put_varint(buf: &mut BytesMut, n: i64) {
    let mut v = zigzag(n);
    while v >= 0x80 {
        buf.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// What a batch header says (after the checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub records: i32,
    /// The whole batch, log overhead included.
    pub bytes: usize,
}

/// A batch that is not a well-formed v2 batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error(
        "batch at offset {base_offset}: length {len} is below the {MIN_BATCH_LENGTH}-byte header"
    )]
    Short { base_offset: i64, len: i32 },
    #[error("batch at offset {base_offset}: message format v{magic} (only v2 is read)")]
    Magic { base_offset: i64, magic: i8 },
    #[error("batch at offset {base_offset}: CRC32C mismatch (stored {stored:08x}, computed {computed:08x})")]
    Crc {
        base_offset: i64,
        stored: u32,
        computed: u32,
    },
    #[error("batch at offset {base_offset}: {records} records but a last offset delta of {delta}")]
    Count {
        base_offset: i64,
        records: i32,
        delta: i32,
    },
}

/// The whole batches of a fetched record set, in order. A batch cut off at
/// the end (a fetch stops at its byte limit) ends the walk without error.
pub fn batches(set: &[u8]) -> Batches<'_> {
    Batches { rest: set }
}

pub struct Batches<'a> {
    rest: &'a [u8],
}

impl Iterator for Batches<'_> {
    type Item = Result<BatchInfo, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.rest;
        if b.len() < LOG_OVERHEAD {
            return None;
        }
        let base_offset = i64::from_be_bytes(b[0..8].try_into().expect("8"));
        let len = i32::from_be_bytes(b[8..12].try_into().expect("4"));
        if len < 0 || (len as usize) < MIN_BATCH_LENGTH {
            self.rest = &[];
            return Some(Err(BatchError::Short { base_offset, len }));
        }
        let total = LOG_OVERHEAD + len as usize;
        if b.len() < total {
            self.rest = &[];
            return None;
        }
        let batch = &b[..total];
        self.rest = &b[total..];
        let fail = |e| Some(Err(e));
        let magic = batch[16] as i8;
        if magic != 2 {
            self.rest = &[];
            return fail(BatchError::Magic { base_offset, magic });
        }
        let stored = u32::from_be_bytes(batch[17..21].try_into().expect("4"));
        let computed = crc32c::crc32c(&batch[CRC_START..]);
        if stored != computed {
            self.rest = &[];
            return fail(BatchError::Crc {
                base_offset,
                stored,
                computed,
            });
        }
        let delta = i32::from_be_bytes(batch[23..27].try_into().expect("4"));
        let records = i32::from_be_bytes(batch[57..61].try_into().expect("4"));
        // Compaction may leave fewer records than the offsets span, never more.
        if delta < 0 || records < 0 || i64::from(records) > i64::from(delta) + 1 {
            self.rest = &[];
            return fail(BatchError::Count {
                base_offset,
                records,
                delta,
            });
        }
        Some(Ok(BatchInfo {
            base_offset,
            last_offset: base_offset.saturating_add(i64::from(delta)),
            records,
            bytes: total,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn a_built_batch_decodes_with_kafka_protocol_as_one_batch() {
        let mut b = BatchBuilder::new(1_700_000_000_000, 1024);
        let big = vec![7u8; 300];
        b.push(None, Some(b"a"));
        b.push(Some(b"k"), Some(&big));
        b.push(None, None);
        assert_eq!(b.count(), 3);
        let expected_len = BATCH_HEADER
            + record_size(0, None, Some(1))
            + record_size(1, Some(1), Some(300))
            + record_size(2, None, None);
        assert_eq!(b.len(), expected_len);
        let bytes = b.finish();
        assert_eq!(bytes.len(), expected_len);

        let mut buf = bytes.clone();
        let sets = RecordBatchDecoder::decode_all(&mut buf).unwrap();
        assert_eq!(sets.len(), 1, "one batch");
        let r = &sets[0].records;
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].value.as_deref(), Some(&b"a"[..]));
        assert_eq!(r[0].key, None);
        assert_eq!(r[1].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r[1].value.as_deref(), Some(&big[..]));
        assert_eq!(r[2].value, None);
        assert_eq!(r[2].offset, 2);
        assert_eq!(r[0].timestamp, 1_700_000_000_000);
        assert_eq!(r[0].producer_id, -1);

        let walked: Vec<_> = batches(&bytes).collect();
        assert_eq!(
            walked,
            vec![Ok(BatchInfo {
                base_offset: 0,
                last_offset: 2,
                records: 3,
                bytes: expected_len
            })]
        );
    }

    #[test]
    fn walking_stops_at_a_cut_batch_and_refuses_bad_ones() {
        let mut b = BatchBuilder::new(0, 64);
        b.push(None, Some(b"x"));
        let one = b.finish();
        let mut two = one.to_vec();
        two.extend_from_slice(&one);
        // The second cut short: one batch, no error.
        let cut = &two[..two.len() - 3];
        assert_eq!(batches(cut).filter(|r| r.is_ok()).count(), 1);
        assert_eq!(batches(cut).count(), 1);
        assert_eq!(batches(&two).count(), 2);

        let mut bad = one.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(
            batches(&bad).next(),
            Some(Err(BatchError::Crc { .. }))
        ));
        let mut bad = one.to_vec();
        bad[16] = 1;
        assert!(matches!(
            batches(&bad).next(),
            Some(Err(BatchError::Magic { .. }))
        ));
        let mut bad = one.to_vec();
        bad[8..12].copy_from_slice(&5i32.to_be_bytes());
        assert!(matches!(
            batches(&bad).next(),
            Some(Err(BatchError::Short { .. }))
        ));
        let mut bad = one.to_vec();
        bad[8..12].copy_from_slice(&i32::MIN.to_be_bytes());
        assert!(matches!(
            batches(&bad).next(),
            Some(Err(BatchError::Short { .. }))
        ));
        // A record count above the offsets the batch spans.
        let mut bad = one.to_vec();
        bad[57..61].copy_from_slice(&2i32.to_be_bytes());
        let crc = crc32c::crc32c(&bad[CRC_START..]);
        bad[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            batches(&bad).next(),
            Some(Err(BatchError::Count { .. }))
        ));
        assert_eq!(batches(&[]).count(), 0);
    }

    #[test]
    fn varints() {
        for (n, len) in [(0, 1), (-1, 1), (63, 1), (64, 2), (-65, 2), (1 << 20, 4)] {
            let mut b = BytesMut::new();
            put_varint(&mut b, n);
            assert_eq!(b.len(), len, "{n}");
            assert_eq!(varint_len(n), len, "{n}");
        }
    }
}
