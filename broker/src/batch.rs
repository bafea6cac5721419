//! Kafka record batches (magic v2) as Skiff stores them: one produced batch is
//! validated, given its offsets by rewriting the 8-byte base offset, and then
//! stored and served byte for byte. Records are never decoded on the produce
//! or fetch path; the CRC32C covers the batch from the attributes field on, so
//! rewriting the base offset (and the partition leader epoch) keeps it valid.
//!
//! Layout of the 61-byte header:
//! baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 |
//! crc u32 | attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 |
//! maxTimestamp i64 | producerId i64 | producerEpoch i16 | baseSequence i32 |
//! recordCount i32

use std::io::{BufReader, Read};

use bytes::Bytes;

pub const HEADER_LEN: usize = 61;
/// Offset of the batch length field; everything after it is `batchLength` bytes.
const LENGTH_END: usize = 12;
const CRC_AT: usize = 17;
const CRC_FROM: usize = 21;
const ATTRIBUTES_AT: usize = 21;
const MAX_TIMESTAMP_AT: usize = 35;

/// Attribute bit 3: timestamps are LogAppendTime.
const LOG_APPEND_TIME_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("record batch truncated")]
    Truncated,
    #[error("record batch magic {0} is not supported (only v2)")]
    UnsupportedMagic(i8),
    #[error("record batch CRC mismatch: header says {expected:#010x}, bytes give {actual:#010x}")]
    CrcMismatch { expected: u32, actual: u32 },
    #[error("record batch header is inconsistent: {0}")]
    Invalid(&'static str),
}

/// The parsed header of one record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

impl BatchHeader {
    /// Reads the header at the start of `b` without checking the CRC.
    pub fn parse(b: &[u8]) -> Result<BatchHeader, BatchError> {
        if b.len() < LENGTH_END {
            return Err(BatchError::Truncated);
        }
        let magic = if b.len() > 16 { b[16] as i8 } else { -1 };
        if b.len() >= 17 && magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        if b.len() < HEADER_LEN {
            return Err(BatchError::Truncated);
        }
        Ok(BatchHeader {
            base_offset: be_i64(b, 0),
            batch_length: be_i32(b, 8),
            magic,
            crc: u32::from_be_bytes(b[CRC_AT..CRC_AT + 4].try_into().unwrap()),
            attributes: be_i16(b, ATTRIBUTES_AT),
            last_offset_delta: be_i32(b, 23),
            base_timestamp: be_i64(b, 27),
            max_timestamp: be_i64(b, MAX_TIMESTAMP_AT),
            producer_id: be_i64(b, 43),
            producer_epoch: be_i16(b, 51),
            base_sequence: be_i32(b, 53),
            record_count: be_i32(b, 57),
        })
    }

    /// Total size of the batch in bytes, header included.
    pub fn size(&self) -> usize {
        LENGTH_END + self.batch_length as usize
    }
    pub fn compression(&self) -> i16 {
        self.attributes & 0x07
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
    /// The sequence number of the last record (sequences wrap at i32::MAX).
    pub fn last_sequence(&self) -> i32 {
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        if last > i32::MAX as i64 {
            (last - i32::MAX as i64 - 1) as i32
        } else {
            last as i32
        }
    }
}

/// Splits a produced record set into its batches and validates each one:
/// magic 2, consistent lengths, CRC32C. Nothing is copied.
pub fn split_and_validate(records: &Bytes) -> Result<Vec<(BatchHeader, Bytes)>, BatchError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let rest = &records[at..];
        let header = BatchHeader::parse(rest)?;
        if header.batch_length < (HEADER_LEN - LENGTH_END) as i32 {
            return Err(BatchError::Invalid("batch length shorter than the header"));
        }
        let size = header.size();
        if rest.len() < size {
            return Err(BatchError::Truncated);
        }
        let actual = crc32c::crc32c(&rest[CRC_FROM..size]);
        if actual != header.crc {
            return Err(BatchError::CrcMismatch {
                expected: header.crc,
                actual,
            });
        }
        if header.last_offset_delta < 0 || header.record_count < 0 {
            return Err(BatchError::Invalid("negative record count"));
        }
        if header.record_count < 1 || header.last_offset_delta != header.record_count - 1 {
            return Err(BatchError::Invalid(
                "last offset delta does not match the record count",
            ));
        }
        if header.compression() == 0 {
            // Uncompressed: the records' length prefixes must add up to the
            // batch exactly and their number match the header. Only lengths
            // are read, not the records (compressed batches are never opened).
            let held = count_records(&rest[HEADER_LEN..size])
                .ok_or(BatchError::Invalid("records do not fill the batch exactly"))?;
            if held != header.record_count as i64 {
                return Err(BatchError::Invalid(
                    "record count does not match the records in the batch",
                ));
            }
        }
        out.push((header, records.slice(at..at + size)));
        at += size;
    }
    if out.is_empty() {
        return Err(BatchError::Invalid("empty record set"));
    }
    Ok(out)
}

/// The number of records in a record set of whole stored batches, from
/// their headers alone.
pub fn records_in_set(set: &[u8]) -> u64 {
    let mut at = 0;
    let mut n = 0;
    while let Some(header) = set.get(at..).and_then(|b| BatchHeader::parse(b).ok()) {
        n += header.record_count.max(0) as u64;
        at += header.size().max(HEADER_LEN);
    }
    n
}

/// One past the last offset of a record set of whole served batches (base
/// offsets filled in), from their headers; None for an empty set.
pub fn end_of_set(set: &[u8]) -> Option<i64> {
    let mut at = 0;
    let mut end = None;
    while let Some(header) = set.get(at..).and_then(|b| BatchHeader::parse(b).ok()) {
        end = Some(header.base_offset + header.last_offset_delta as i64 + 1);
        at += header.size().max(HEADER_LEN);
    }
    end
}

/// Gives a stored batch its offsets: the first record gets `base_offset`.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Marks a batch as LogAppendTime with `now_ms` as its timestamp, as Kafka
/// does for topics with `message.timestamp.type=LogAppendTime`. These fields
/// are inside the CRC, so it is recomputed.
/// A stored batch as Fetch serves it: the LogAppendTime stamp it was stored
/// with (`append_time` ≥ 0), its base offset, partition leader epoch 0.
pub fn served_form(batch: &[u8], base_offset: i64, append_time: i64) -> bytes::Bytes {
    let mut out = bytes::BytesMut::from(batch);
    if append_time >= 0 {
        set_log_append_time(&mut out, append_time);
    }
    set_base_offset(&mut out, base_offset);
    // Partition leader epoch: Skiff's single broker is always epoch 0.
    out[12..16].copy_from_slice(&0i32.to_be_bytes());
    out.freeze()
}

/// A transaction marker (KIP-98 control batch) as Kafka writes it: one
/// control record whose key is (version 0, type: 0 abort, 1 commit) and whose
/// value is (version 0, coordinator epoch 0), in a batch flagged control and
/// transactional under the producer's id and epoch, base offset 0 (set when
/// stored), sequence -1.
pub fn control_batch(producer_id: i64, epoch: i16, commit: bool, now_ms: i64) -> Bytes {
    let mut b = Vec::with_capacity(HEADER_LEN + 17);
    b.extend_from_slice(&0i64.to_be_bytes()); // base offset
    b.extend_from_slice(&((HEADER_LEN - LENGTH_END + 17) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc, below
    b.extend_from_slice(&(CONTROL_BIT | TRANSACTIONAL_BIT).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
    b.extend_from_slice(&now_ms.to_be_bytes());
    b.extend_from_slice(&now_ms.to_be_bytes());
    b.extend_from_slice(&producer_id.to_be_bytes());
    b.extend_from_slice(&epoch.to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&1i32.to_be_bytes()); // record count
                                              // The record: length 16 (zigzag 32), attributes, timestamp delta 0,
                                              // offset delta 0, key of 4 bytes (zigzag 8), value of 6 (zigzag 12),
                                              // no headers.
    b.extend_from_slice(&[
        32,
        0,
        0,
        0,
        8,
        0,
        0,
        0,
        u8::from(commit),
        12,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    let crc = crc32c::crc32c(&b[CRC_FROM..]);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attrs = be_i16(batch, ATTRIBUTES_AT) | LOG_APPEND_TIME_BIT;
    batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attrs.to_be_bytes());
    batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_FROM..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

fn read_varlong(b: &[u8], at: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        value |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    None
}

/// The number of length-prefixed records that exactly fill `records`.
fn count_records(records: &[u8]) -> Option<i64> {
    let mut at = 0;
    let mut n = 0;
    while at < records.len() {
        let len = usize::try_from(read_varlong(records, &mut at)?).ok()?;
        at = at.checked_add(len)?;
        n += 1;
    }
    (at == records.len()).then_some(n)
}

/// The max timestamp a batch is stored (and kept, and found) under. A
/// well-formed header (max timestamp at least the first, not negative) is
/// taken as is, with no per-record work. Some clients leave max timestamp
/// -1 while the records carry real timestamps, which would make retention
/// delete the batch at once and timestamp lookups skip it: then an
/// uncompressed batch's record deltas are read (no decompression) for the
/// real maximum; a compressed one (not opened on the produce path) is taken
/// as no older than its first timestamp nor its `append_time`, so retention
/// keeps it at least retention.ms from its arrival and a timestamp lookup
/// up to its arrival lands on it or earlier (a consumer re-reads a few
/// records rather than skipping any).
pub fn stored_max_timestamp(header: &BatchHeader, batch: &[u8], append_time: i64) -> i64 {
    if header.max_timestamp >= header.base_timestamp && header.max_timestamp >= 0 {
        return header.max_timestamp;
    }
    let mut max = header.max_timestamp.max(header.base_timestamp);
    if header.compression() == 0 && header.attributes & LOG_APPEND_TIME_BIT == 0 {
        find_record(batch, |_, ts| {
            max = max.max(ts);
            false
        });
        if max >= 0 {
            return max;
        }
    }
    max.max(append_time)
}

/// Reads one varlong from a stream; `None` at the end or on a malformed one.
fn read_varlong_from(r: &mut impl Read, used: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let mut byte = [0u8];
        r.read_exact(&mut byte).ok()?;
        *used += 1;
        value |= ((byte[0] & 0x7f) as u64) << shift;
        if byte[0] & 0x80 == 0 {
            return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    None
}

/// Walks a batch's records in order, giving `visit` each one's (offset,
/// timestamp) until it returns true; answers that record. Streaming: no
/// record is kept, compressed batches are decompressed as they are read,
/// and the walk stops after the header's record count, at a malformed
/// record, or after `decompress::LIMIT` decompressed bytes (a 65 KB gzip
/// batch can hold 64 MiB of tiny records). For ListOffsets only.
pub fn find_record(batch: &[u8], mut visit: impl FnMut(i64, i64) -> bool) -> Option<(i64, i64)> {
    let header = BatchHeader::parse(batch).ok()?;
    let end = header.size().min(batch.len());
    let section = batch.get(HEADER_LEN..end)?;
    let reader: Box<dyn Read + '_> = if header.compression() == 0 {
        Box::new(section)
    } else {
        crate::decompress::reader(header.compression(), section)?
    };
    let mut records = BufReader::with_capacity(8192, reader.take(crate::decompress::LIMIT));
    let log_append = header.attributes & LOG_APPEND_TIME_BIT != 0;
    for _ in 0..header.record_count.max(0) {
        let mut used = 0;
        let len = usize::try_from(read_varlong_from(&mut records, &mut used)?).ok()?;
        used = 0;
        let mut attributes = [0u8];
        records.read_exact(&mut attributes).ok()?;
        used += 1;
        let ts_delta = read_varlong_from(&mut records, &mut used)?;
        let offset_delta = read_varlong_from(&mut records, &mut used)?;
        // The rest of the record (key, value, headers) is skipped unread.
        let rest = len.checked_sub(used)? as u64;
        if std::io::copy(&mut (&mut records).take(rest), &mut std::io::sink()).ok()? != rest {
            return None;
        }
        let ts = if log_append {
            header.max_timestamp
        } else {
            header.base_timestamp.saturating_add(ts_delta)
        };
        let offset = header.base_offset.saturating_add(offset_delta);
        if visit(offset, ts) {
            return Some((offset, ts));
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

    /// Builds an uncompressed v2 batch of `n` records with the given values.
    pub fn make_batch(values: &[&[u8]], base_ts: i64, producer: Option<(i64, i16, i32)>) -> Bytes {
        let mut records = BytesMut::new();
        for (i, v) in values.iter().enumerate() {
            let mut rec = BytesMut::new();
            rec.put_i8(0);
            put_varlong(&mut rec, i as i64 * 10); // timestamp delta
            put_varlong(&mut rec, i as i64); // offset delta
            put_varlong(&mut rec, -1); // null key
            put_varlong(&mut rec, v.len() as i64);
            rec.put_slice(v);
            put_varlong(&mut rec, 0); // no headers
            put_varlong(&mut records, rec.len() as i64);
            records.put_slice(&rec);
        }
        let (pid, epoch, seq) = producer.unwrap_or((-1, -1, -1));
        let mut b = BytesMut::new();
        b.put_i64(0);
        b.put_i32((HEADER_LEN - LENGTH_END + records.len()) as i32);
        b.put_i32(-1);
        b.put_i8(2);
        b.put_u32(0);
        b.put_i16(0);
        b.put_i32(values.len() as i32 - 1);
        b.put_i64(base_ts);
        b.put_i64(base_ts + (values.len() as i64 - 1) * 10);
        b.put_i64(pid);
        b.put_i16(epoch);
        b.put_i32(seq);
        b.put_i32(values.len() as i32);
        b.put_slice(&records);
        let crc = crc32c::crc32c(&b[CRC_FROM..]);
        b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        b.freeze()
    }

    fn put_varlong(b: &mut BytesMut, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            b.put_u8((z as u8) | 0x80);
            z >>= 7;
        }
        b.put_u8(z as u8);
    }

    #[test]
    fn valid_batch_is_accepted_and_offsets_rewrite_keeps_crc() {
        let batch = make_batch(&[b"a", b"bc", b"def"], 1000, None);
        let parsed = split_and_validate(&batch).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].0.record_count, 3);
        let mut owned = batch.to_vec();
        set_base_offset(&mut owned, 42);
        let again = split_and_validate(&Bytes::from(owned)).unwrap();
        assert_eq!(again[0].0.base_offset, 42);
    }

    #[test]
    fn control_batches_are_valid_one_record_markers() {
        for commit in [false, true] {
            let b = control_batch(1000, 3, commit, 1_700_000_000_000);
            let parsed = split_and_validate(&b).unwrap();
            assert_eq!(parsed.len(), 1);
            let h = parsed[0].0;
            assert!(h.is_control() && h.is_transactional());
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.record_count),
                (1000, 3, 1)
            );
            assert_eq!(records_in_set(&b), 1);
            // The record's key: version 0, type 1 for commit, 0 for abort.
            assert_eq!(
                &b[HEADER_LEN + 5..HEADER_LEN + 9],
                &[0, 0, 0, u8::from(commit)]
            );
        }
    }

    #[test]
    fn corrupt_crc_is_rejected() {
        let mut owned = make_batch(&[b"a"], 1000, None).to_vec();
        let last = owned.len() - 2;
        owned[last] ^= 0xff;
        assert!(matches!(
            split_and_validate(&Bytes::from(owned)),
            Err(BatchError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn truncated_and_old_magic_are_rejected() {
        let batch = make_batch(&[b"a"], 1000, None);
        assert_eq!(
            split_and_validate(&batch.slice(..batch.len() - 1)),
            Err(BatchError::Truncated)
        );
        let mut old = batch.to_vec();
        old[16] = 1;
        assert_eq!(
            split_and_validate(&Bytes::from(old)),
            Err(BatchError::UnsupportedMagic(1))
        );
    }

    #[test]
    fn several_batches_in_one_record_set() {
        let mut both = BytesMut::new();
        both.put_slice(&make_batch(&[b"a"], 1, None));
        both.put_slice(&make_batch(&[b"b", b"c"], 2, None));
        let parsed = split_and_validate(&both.freeze()).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].0.record_count, 2);
    }

    #[test]
    fn record_count_must_match_the_records_held() {
        let mut liar = make_batch(&[b"only-one"], 1000, None).to_vec();
        liar[57..61].copy_from_slice(&3i32.to_be_bytes()); // record count
        liar[23..27].copy_from_slice(&2i32.to_be_bytes()); // last offset delta
        let crc = crc32c::crc32c(&liar[CRC_FROM..]);
        liar[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            split_and_validate(&Bytes::from(liar)),
            Err(BatchError::Invalid(_))
        ));
    }

    #[test]
    fn log_append_time_rewrites_and_stays_valid() {
        let mut owned = make_batch(&[b"a", b"b"], 1000, None).to_vec();
        set_log_append_time(&mut owned, 5555);
        let parsed = split_and_validate(&Bytes::from(owned.clone())).unwrap();
        assert_eq!(parsed[0].0.max_timestamp, 5555);
        assert_eq!(all_records(&owned), vec![(0, 5555), (1, 5555)]);
    }

    #[test]
    fn record_timestamps_of_uncompressed_batch() {
        let mut owned = make_batch(&[b"a", b"b", b"c"], 1000, None).to_vec();
        set_base_offset(&mut owned, 10);
        assert_eq!(
            all_records(&owned),
            vec![(10, 1000), (11, 1010), (12, 1020)]
        );
        assert_eq!(find_record(&owned, |_, ts| ts >= 1005), Some((11, 1010)));
        assert_eq!(find_record(&owned, |_, ts| ts >= 9999), None);
    }

    fn all_records(batch: &[u8]) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        find_record(batch, |o, ts| {
            out.push((o, ts));
            false
        });
        out
    }

    #[test]
    fn a_missing_max_timestamp_is_recovered() {
        let mut owned = make_batch(&[b"a", b"b", b"c"], 1000, None).to_vec();
        let h = BatchHeader::parse(&owned).unwrap();
        assert_eq!(stored_max_timestamp(&h, &owned, 7), 1020);
        owned[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&(-1i64).to_be_bytes());
        let h = BatchHeader::parse(&owned).unwrap();
        assert_eq!(h.max_timestamp, -1);
        assert_eq!(stored_max_timestamp(&h, &owned, 7), 1020);
        // Compressed (not opened): the first timestamp or the append time.
        owned[ATTRIBUTES_AT + 1] |= 1;
        let h = BatchHeader::parse(&owned).unwrap();
        assert_eq!(stored_max_timestamp(&h, &owned, 7), 1000);
        assert_eq!(stored_max_timestamp(&h, &owned, 5000), 5000);
        // No timestamp at all: the append time.
        owned[27..35] // base timestamp
            .copy_from_slice(&(-1i64).to_be_bytes());
        let h = BatchHeader::parse(&owned).unwrap();
        assert_eq!(stored_max_timestamp(&h, &owned, 7), 7);
    }

    #[test]
    fn the_record_walk_stops_at_the_header_count_and_malformed_records() {
        // A header claiming fewer records than the batch holds: only those.
        let mut owned = make_batch(&[b"a", b"b", b"c"], 1000, None).to_vec();
        owned[57..61].copy_from_slice(&2i32.to_be_bytes());
        assert_eq!(all_records(&owned).len(), 2);
        // A record whose length is shorter than its own fields: the walk ends.
        let mut zeros = make_batch(&[b"a"], 1000, None).to_vec();
        zeros.truncate(HEADER_LEN);
        zeros.extend_from_slice(&[0u8; 64]);
        zeros[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(all_records(&zeros).is_empty());
    }

    #[test]
    fn sequence_wraps() {
        let mut h =
            BatchHeader::parse(&make_batch(&[b"a", b"b"], 0, Some((1, 0, i32::MAX)))).unwrap();
        assert_eq!(h.last_sequence(), 0);
        h.base_sequence = 5;
        assert_eq!(h.last_sequence(), 6);
    }
}
