//! Bounded decompression of a stored batch's records, for the one place that
//! must look inside compressed batches: finding an offset by timestamp
//! (ListOffsets). The produce and fetch paths never decompress.
//!
//! Output is capped (a 1 MB batch can expand to gigabytes), and the cap is
//! not an error: the records decompressed so far are returned, which is all a
//! timestamp search needs when the target lies early in the batch.

use std::io::Read;

/// Most bytes decompressed from one batch.
pub const LIMIT: u64 = 32 * 1024 * 1024;

/// Kafka's compression codes (batch attributes, low 3 bits).
const GZIP: i16 = 1;
const SNAPPY: i16 = 2;
const LZ4: i16 = 3;
const ZSTD: i16 = 4;

/// The xerial framing that Kafka's Java client (and librdkafka) put around
/// snappy blocks.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";

fn read_capped(reader: impl Read) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match reader.take(LIMIT).read_to_end(&mut out) {
        Ok(_) => Some(out),
        // A stream cut short still yields the records before the cut.
        Err(_) if !out.is_empty() => Some(out),
        Err(_) => None,
    }
}

fn snappy(data: &[u8]) -> Option<Vec<u8>> {
    let mut decoder = snap::raw::Decoder::new();
    if !data.starts_with(XERIAL_MAGIC) {
        let len = snap::raw::decompress_len(data).ok()?;
        if len as u64 > LIMIT {
            return None;
        }
        return decoder.decompress_vec(data).ok();
    }
    // 16-byte header, then blocks of [u32 length][raw snappy block].
    let mut at = 16;
    let mut out = Vec::new();
    while at + 4 <= data.len() {
        let len = u32::from_be_bytes(data[at..at + 4].try_into().ok()?) as usize;
        at += 4;
        let block = data.get(at..at.checked_add(len)?)?;
        at += len;
        let size = snap::raw::decompress_len(block).ok()?;
        if (out.len() + size) as u64 > LIMIT {
            break;
        }
        out.extend_from_slice(&decoder.decompress_vec(block).ok()?);
    }
    Some(out)
}

/// The uncompressed records section of a batch compressed with `codec`, at
/// most `LIMIT` bytes; `None` if it cannot be decompressed.
pub fn records(codec: i16, data: &[u8]) -> Option<Vec<u8>> {
    match codec {
        GZIP => read_capped(flate2::read::GzDecoder::new(data)),
        SNAPPY => snappy(data),
        LZ4 => read_capped(lz4_flex::frame::FrameDecoder::new(data)),
        ZSTD => read_capped(ruzstd::decoding::StreamingDecoder::new(data).ok()?),
        _ => None,
    }
}
