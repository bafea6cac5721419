//! Bounded decompression of a stored batch's records, for the one place that
//! must look inside compressed batches: finding an offset by timestamp
//! (ListOffsets). The produce and fetch paths never decompress.
//!
//! Decompression streams (`reader`): the record walk (`batch::find_record`)
//! reads records as they come out and keeps none, and stops reading after
//! `LIMIT` bytes per lookup, so a small batch expanding to gigabytes costs a
//! bounded amount of CPU and no memory beyond the decoder's. Snappy has no
//! streaming decoder here; its output is held, at most `LIMIT` bytes.

use std::io::{Cursor, Read};

/// Most bytes decompressed from one batch by one lookup.
pub const LIMIT: u64 = 4 * 1024 * 1024;

/// Kafka's compression codes (batch attributes, low 3 bits).
const GZIP: i16 = 1;
const SNAPPY: i16 = 2;
const LZ4: i16 = 3;
const ZSTD: i16 = 4;

/// The xerial framing that Kafka's Java client (and librdkafka) put around
/// snappy blocks.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";

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

/// A stream of the uncompressed records section of a batch compressed with
/// `codec` (the caller caps how much it reads); `None` for an unknown codec
/// or a stream that cannot start.
pub fn reader(codec: i16, data: &[u8]) -> Option<Box<dyn Read + '_>> {
    Some(match codec {
        GZIP => Box::new(flate2::read::GzDecoder::new(data)),
        SNAPPY => Box::new(Cursor::new(snappy(data)?)),
        LZ4 => Box::new(lz4_flex::frame::FrameDecoder::new(data)),
        ZSTD => Box::new(ruzstd::decoding::StreamingDecoder::new(data).ok()?),
        _ => return None,
    })
}
