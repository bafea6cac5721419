//! Bounded decoding of response bodies.
//!
//! A `--bootstrap` may point at anything, so a response is hostile input:
//! every length and count is checked against the bytes actually left in the
//! frame (and against a per-field maximum) *before* anything is allocated.
//! The `kafka-protocol` crate's decoders call `Vec::with_capacity(n)` with
//! `n` straight from the wire, an allocation failure that aborts the
//! process; that is why responses are decoded here and only requests are
//! encoded with the crate.
//!
//! Non-flexible encodings, and the few flexible ones (compact strings and
//! arrays, tagged fields) of the APIs that have no non-flexible version
//! (the SCRAM credential APIs, KIP-554).

use bytes::{Buf, Bytes};

/// Why a response body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated: needed {needed} more bytes, {left} left")]
    Truncated { needed: usize, left: usize },
    #[error("{what}: negative length {len}")]
    NegativeLength { what: &'static str, len: i32 },
    #[error("{what}: {count} items claimed, but only {left} bytes are left")]
    CountExceedsBytes {
        what: &'static str,
        count: i32,
        left: usize,
    },
    #[error("{what}: {count} items, more than the {max} accepted")]
    CountAboveLimit {
        what: &'static str,
        count: i32,
        max: usize,
    },
    #[error("{0}: not valid UTF-8")]
    InvalidUtf8(&'static str),
    #[error("{0} must not be null")]
    UnexpectedNull(&'static str),
    #[error("{0}: varint longer than 5 bytes")]
    BadVarint(&'static str),
}

pub type Result<T> = std::result::Result<T, DecodeError>;

/// A cursor over one response body (after the response header).
pub struct Reader {
    buf: Bytes,
}

impl Reader {
    pub fn new(buf: Bytes) -> Reader {
        Reader { buf }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn need(&self, n: usize) -> Result<()> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated {
                needed: n,
                left: self.buf.len(),
            });
        }
        Ok(())
    }

    pub fn i8(&mut self) -> Result<i8> {
        self.need(1)?;
        Ok(self.buf.get_i8())
    }

    pub fn bool(&mut self) -> Result<bool> {
        Ok(self.i8()? != 0)
    }

    pub fn i16(&mut self) -> Result<i16> {
        self.need(2)?;
        Ok(self.buf.get_i16())
    }

    pub fn i32(&mut self) -> Result<i32> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }

    pub fn i64(&mut self) -> Result<i64> {
        self.need(8)?;
        Ok(self.buf.get_i64())
    }

    /// A nullable string (INT16 length, -1 for null).
    pub fn nullable_string(&mut self, what: &'static str) -> Result<Option<String>> {
        let len = self.i16()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 {
            return Err(DecodeError::NegativeLength {
                what,
                len: i32::from(len),
            });
        }
        let len = len as usize;
        self.need(len)?;
        let raw = self.buf.split_to(len);
        String::from_utf8(raw.to_vec())
            .map(Some)
            .map_err(|_| DecodeError::InvalidUtf8(what))
    }

    /// A string that must be present.
    pub fn string(&mut self, what: &'static str) -> Result<String> {
        self.nullable_string(what)?
            .ok_or(DecodeError::UnexpectedNull(what))
    }

    /// Nullable bytes (INT32 length), returned as a slice of the frame:
    /// record sets are never copied.
    pub fn nullable_bytes(&mut self, what: &'static str) -> Result<Option<Bytes>> {
        let len = self.i32()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 {
            return Err(DecodeError::NegativeLength { what, len });
        }
        let len = len as usize;
        self.need(len)?;
        Ok(Some(self.buf.split_to(len)))
    }

    /// The element count of an array (-1, null, reads as 0), checked
    /// against `max` and against the bytes left (each element takes at
    /// least `min_item` bytes) before the caller allocates anything.
    pub fn count(&mut self, what: &'static str, min_item: usize, max: usize) -> Result<usize> {
        let count = self.i32()?;
        if count == -1 {
            return Ok(0);
        }
        if count < 0 {
            return Err(DecodeError::NegativeLength { what, len: count });
        }
        if count as usize > max {
            return Err(DecodeError::CountAboveLimit { what, count, max });
        }
        if (count as usize).saturating_mul(min_item.max(1)) > self.buf.len() {
            return Err(DecodeError::CountExceedsBytes {
                what,
                count,
                left: self.buf.len(),
            });
        }
        Ok(count as usize)
    }

    /// An array: [`Reader::count`], then `item` for each element.
    pub fn array<T>(
        &mut self,
        what: &'static str,
        min_item: usize,
        max: usize,
        mut item: impl FnMut(&mut Reader) -> Result<T>,
    ) -> Result<Vec<T>> {
        let n = self.count(what, min_item, max)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }
}

/// Flexible versions (compact lengths are the length plus one, as an
/// unsigned varint; 0 is null).
impl Reader {
    /// An unsigned varint of at most 32 bits.
    pub fn uvarint(&mut self, what: &'static str) -> Result<u32> {
        let mut v: u32 = 0;
        for i in 0..5 {
            let b = self.i8()? as u8;
            v |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::BadVarint(what))
    }

    /// A compact nullable string.
    pub fn compact_nullable_string(&mut self, what: &'static str) -> Result<Option<String>> {
        let n = self.uvarint(what)? as usize;
        if n == 0 {
            return Ok(None);
        }
        let len = n - 1;
        self.need(len)?;
        let raw = self.buf.split_to(len);
        String::from_utf8(raw.to_vec())
            .map(Some)
            .map_err(|_| DecodeError::InvalidUtf8(what))
    }

    /// A compact string that must be present.
    pub fn compact_string(&mut self, what: &'static str) -> Result<String> {
        self.compact_nullable_string(what)?
            .ok_or(DecodeError::UnexpectedNull(what))
    }

    /// A compact array's element count (null reads as 0), bounded like
    /// [`Reader::count`].
    pub fn compact_count(
        &mut self,
        what: &'static str,
        min_item: usize,
        max: usize,
    ) -> Result<usize> {
        let n = self.uvarint(what)?;
        if n == 0 {
            return Ok(0);
        }
        let count = (n - 1) as usize;
        if count > max {
            return Err(DecodeError::CountAboveLimit {
                what,
                count: i32::try_from(count).unwrap_or(i32::MAX),
                max,
            });
        }
        if count.saturating_mul(min_item.max(1)) > self.buf.len() {
            return Err(DecodeError::CountExceedsBytes {
                what,
                count: count as i32,
                left: self.buf.len(),
            });
        }
        Ok(count)
    }

    /// A compact array: [`Reader::compact_count`], then `item` for each.
    pub fn compact_array<T>(
        &mut self,
        what: &'static str,
        min_item: usize,
        max: usize,
        mut item: impl FnMut(&mut Reader) -> Result<T>,
    ) -> Result<Vec<T>> {
        let n = self.compact_count(what, min_item, max)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }

    /// Skips a tagged-field section (none of them is used here); each
    /// field's size is checked against the bytes left.
    pub fn tagged_fields(&mut self) -> Result<()> {
        let n = self.uvarint("tagged fields")? as usize;
        // Each field takes at least two bytes (tag and size).
        if n.saturating_mul(2) > self.buf.len() {
            return Err(DecodeError::CountExceedsBytes {
                what: "tagged fields",
                count: i32::try_from(n).unwrap_or(i32::MAX),
                left: self.buf.len(),
            });
        }
        for _ in 0..n {
            self.uvarint("tag")?;
            let size = self.uvarint("tagged field size")? as usize;
            self.need(size)?;
            self.buf.advance(size);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_checked_before_allocating() {
        // 2^31-1 elements claimed in a 1-byte rest.
        let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0]));
        assert_eq!(
            r.count("topics", 1, usize::MAX),
            Err(DecodeError::CountExceedsBytes {
                what: "topics",
                count: i32::MAX,
                left: 1
            })
        );
        let mut r = Reader::new(Bytes::from_static(&[0, 0, 0, 3, 1, 2, 3]));
        assert_eq!(
            r.count("x", 1, 2),
            Err(DecodeError::CountAboveLimit {
                what: "x",
                count: 3,
                max: 2
            })
        );
        let mut r = Reader::new(Bytes::from_static(&[0, 0, 0, 2, 1, 2, 3]));
        assert!(r.count("x", 4, 10).is_err(), "2 items of 4 bytes in 3");
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]));
        assert_eq!(r.count("x", 1, 10), Ok(0), "null array");
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xfe]));
        assert!(r.count("x", 1, 10).is_err());
    }

    #[test]
    fn strings_and_bytes() {
        let mut r = Reader::new(Bytes::from_static(&[0, 2, b'h', b'i', 0xff, 0xff, 0, 5, 1]));
        assert_eq!(r.string("a").unwrap(), "hi");
        assert_eq!(r.nullable_string("b").unwrap(), None);
        assert!(matches!(
            r.string("c"),
            Err(DecodeError::Truncated { needed: 5, left: 1 })
        ));
        let mut r = Reader::new(Bytes::from_static(&[0, 1, 0xff]));
        assert_eq!(r.string("s"), Err(DecodeError::InvalidUtf8("s")));
        let mut r = Reader::new(Bytes::from_static(&[
            0, 0, 0, 2, 7, 8, 0xff, 0xff, 0xff, 0xff,
        ]));
        assert_eq!(
            r.nullable_bytes("r").unwrap(),
            Some(Bytes::from_static(&[7, 8]))
        );
        assert_eq!(r.nullable_bytes("r").unwrap(), None);
        let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff]));
        assert!(r.nullable_bytes("r").is_err());
    }

    #[test]
    fn flexible_fields() {
        // "hi", null, an array of 2 bytes (count 2 -> 3), tagged fields:
        // one field of 3 bytes.
        let mut r = Reader::new(Bytes::from_static(&[
            3, b'h', b'i', 0, 3, 7, 8, 1, 5, 3, 1, 2, 3,
        ]));
        assert_eq!(r.compact_string("a").unwrap(), "hi");
        assert_eq!(r.compact_nullable_string("b").unwrap(), None);
        assert_eq!(r.compact_array("c", 1, 10, |r| r.i8()).unwrap(), vec![7, 8]);
        r.tagged_fields().unwrap();
        assert_eq!(r.remaining(), 0);
        // A varint claiming 2^28 elements in 2 bytes; a 6-byte varint.
        let mut r = Reader::new(Bytes::from_static(&[0x80, 0x80, 0x80, 0x80, 0x01, 0]));
        assert!(matches!(
            r.compact_count("x", 1, usize::MAX),
            Err(DecodeError::CountExceedsBytes { .. })
        ));
        let mut r = Reader::new(Bytes::from_static(&[0xff; 6]));
        assert_eq!(r.uvarint("v"), Err(DecodeError::BadVarint("v")));
        // A tagged field claiming more bytes than are left.
        let mut r = Reader::new(Bytes::from_static(&[1, 0, 100, 1]));
        assert!(matches!(
            r.tagged_fields(),
            Err(DecodeError::Truncated { .. })
        ));
        let mut r = Reader::new(Bytes::from_static(&[0x7f]));
        assert!(r.tagged_fields().is_err(), "127 fields in 0 bytes");
    }
}
