//! Bounded decoding of Kafka request bodies.
//!
//! Every length and count read from the wire is checked against the bytes
//! actually left in the frame *before* anything is allocated: an array that
//! claims 2^31 elements in a 5-byte body is an error, not an allocation.
//! This is why Skiff decodes requests itself instead of with the
//! `kafka-protocol` crate, whose decoders call `Vec::with_capacity(n)` and
//! `vec![0; n]` with `n` straight from the wire (an uncatchable abort).
//!
//! Byte fields (record sets) are returned as `Bytes` slices of the frame, so a
//! produced batch is never copied while decoding.

use bytes::{Buf, Bytes};
use uuid::Uuid;

/// Why a request body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("request truncated: needed {needed} more bytes, {left} left")]
    Truncated { needed: usize, left: usize },
    #[error("{what} length {len} is negative")]
    NegativeLength { what: &'static str, len: i64 },
    #[error("{what} claims {count} items but only {left} bytes are left")]
    CountTooLarge {
        what: &'static str,
        count: u64,
        left: usize,
    },
    #[error("varint longer than 5 bytes")]
    VarintTooLong,
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("{0} must not be null")]
    UnexpectedNull(&'static str),
    #[error("{0}")]
    Invalid(&'static str),
}

pub type Result<T> = std::result::Result<T, DecodeError>;

/// A cursor over one request body. `flexible` selects the compact encodings
/// (KIP-482) used by flexible API versions.
/// Bytes left after a request's last field are ignored: librdkafka sends
/// some (its issue #5049).
pub struct Reader {
    buf: Bytes,
    flexible: bool,
}

impl Reader {
    pub fn new(buf: Bytes, flexible: bool) -> Self {
        Reader { buf, flexible }
    }

    pub fn set_flexible(&mut self, flexible: bool) {
        self.flexible = flexible;
    }

    fn need(&self, n: usize) -> Result<()> {
        if self.buf.len() < n {
            Err(DecodeError::Truncated {
                needed: n,
                left: self.buf.len(),
            })
        } else {
            Ok(())
        }
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
    pub fn uuid(&mut self) -> Result<Uuid> {
        self.need(16)?;
        let mut b = [0u8; 16];
        self.buf.copy_to_slice(&mut b);
        Ok(Uuid::from_bytes(b))
    }

    pub fn unsigned_varint(&mut self) -> Result<u32> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let byte = self.i8()? as u8;
            if i == 4 && byte > 0x0f {
                return Err(DecodeError::VarintTooLong);
            }
            value |= ((byte & 0x7f) as u32) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintTooLong)
    }

    /// Length of a string or bytes field: `None` for null.
    fn length(&mut self, what: &'static str, int16: bool) -> Result<Option<usize>> {
        let len: i64 = if self.flexible {
            self.unsigned_varint()? as i64 - 1
        } else if int16 {
            self.i16()? as i64
        } else {
            self.i32()? as i64
        };
        match len {
            -1 => Ok(None),
            l if l < 0 => Err(DecodeError::NegativeLength { what, len: l }),
            l => {
                self.need(l as usize)?;
                Ok(Some(l as usize))
            }
        }
    }

    pub fn nullable_string(&mut self) -> Result<Option<String>> {
        match self.length("string", true)? {
            None => Ok(None),
            Some(len) => {
                let raw = self.buf.split_to(len);
                String::from_utf8(raw.to_vec())
                    .map(Some)
                    .map_err(|_| DecodeError::InvalidUtf8)
            }
        }
    }

    pub fn string(&mut self, what: &'static str) -> Result<String> {
        self.nullable_string()?
            .ok_or(DecodeError::UnexpectedNull(what))
    }

    pub fn nullable_bytes(&mut self) -> Result<Option<Bytes>> {
        Ok(self
            .length("bytes", false)?
            .map(|len| self.buf.split_to(len)))
    }

    pub fn bytes(&mut self, what: &'static str) -> Result<Bytes> {
        self.nullable_bytes()?
            .ok_or(DecodeError::UnexpectedNull(what))
    }

    /// An array whose elements are decoded by `item`. The count is checked
    /// against the remaining bytes (every element takes at least one byte),
    /// and every element must consume at least one byte, so neither the
    /// allocation nor the loop can exceed the frame.
    pub fn nullable_array<T>(
        &mut self,
        what: &'static str,
        mut item: impl FnMut(&mut Reader) -> Result<T>,
    ) -> Result<Option<Vec<T>>> {
        let count: i64 = if self.flexible {
            self.unsigned_varint()? as i64 - 1
        } else {
            self.i32()? as i64
        };
        if count == -1 {
            return Ok(None);
        }
        if count < 0 {
            return Err(DecodeError::NegativeLength { what, len: count });
        }
        if count as u64 > self.buf.len() as u64 {
            return Err(DecodeError::CountTooLarge {
                what,
                count: count as u64,
                left: self.buf.len(),
            });
        }
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let before = self.buf.len();
            out.push(item(self)?);
            if self.buf.len() == before {
                return Err(DecodeError::Invalid("array element of zero bytes"));
            }
        }
        Ok(Some(out))
    }

    pub fn array<T>(
        &mut self,
        what: &'static str,
        item: impl FnMut(&mut Reader) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.nullable_array(what, item)?
            .ok_or(DecodeError::UnexpectedNull(what))
    }

    /// Skips a tagged-field section (flexible versions only; a no-op
    /// otherwise). Skiff reads no tagged request fields it needs.
    pub fn tagged_fields(&mut self) -> Result<()> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.unsigned_varint()?;
        if count as usize > self.buf.len() {
            return Err(DecodeError::CountTooLarge {
                what: "tagged fields",
                count: count as u64,
                left: self.buf.len(),
            });
        }
        for _ in 0..count {
            let _tag = self.unsigned_varint()?;
            let size = self.unsigned_varint()? as usize;
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
    fn giant_array_count_is_an_error_not_an_allocation() {
        let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0]), false);
        let err = r.array("topics", |r| r.i8()).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::CountTooLarge {
                count: 0x7fff_ffff,
                ..
            }
        ));
    }

    #[test]
    fn giant_compact_array_count_is_an_error() {
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]), true);
        assert!(matches!(
            r.array("topics", |r| r.i8()),
            Err(DecodeError::CountTooLarge { .. })
        ));
    }

    #[test]
    fn string_longer_than_frame_is_truncated_error() {
        let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, b'a']), false);
        assert!(matches!(
            r.string("name"),
            Err(DecodeError::Truncated { .. })
        ));
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]), true);
        assert!(matches!(
            r.string("name"),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn negative_lengths_are_rejected() {
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xfe]), false);
        assert!(matches!(
            r.string("name"),
            Err(DecodeError::NegativeLength { .. })
        ));
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xfe]), false);
        assert!(matches!(
            r.array("x", |r| r.i8()),
            Err(DecodeError::NegativeLength { .. })
        ));
    }

    #[test]
    fn nulls() {
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0]), false);
        assert_eq!(r.nullable_string().unwrap(), None);
        let mut r = Reader::new(Bytes::from_static(&[0]), true);
        assert_eq!(r.nullable_string().unwrap(), None);
        let mut r = Reader::new(Bytes::from_static(&[0]), true);
        assert_eq!(r.string("name"), Err(DecodeError::UnexpectedNull("name")));
    }

    #[test]
    fn varints() {
        let mut r = Reader::new(Bytes::from_static(&[0x96, 0x01]), true);
        assert_eq!(r.unsigned_varint().unwrap(), 150);
        let mut r = Reader::new(
            Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            true,
        );
        assert_eq!(r.unsigned_varint(), Err(DecodeError::VarintTooLong));
    }

    #[test]
    fn tagged_fields_are_skipped_within_bounds() {
        let mut r = Reader::new(Bytes::from_static(&[1, 0, 2, 9, 9, 7]), true);
        r.tagged_fields().unwrap();
        assert_eq!(r.i8().unwrap(), 7);
        let mut r = Reader::new(Bytes::from_static(&[1, 0, 50, 9]), true);
        assert!(r.tagged_fields().is_err());
    }

    #[test]
    fn zero_byte_elements_are_rejected() {
        let mut r = Reader::new(Bytes::from_static(&[0, 0, 0, 2, 1, 1]), false);
        assert!(r.array("x", |_| Ok(())).is_err());
    }
}
