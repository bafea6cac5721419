//! The Kafka wire format as Skiff speaks it: bounded request decoding
//! (`reader`), the request header (`header`), the table of APIs and versions
//! Skiff implements (`versions`), and response framing (`response`).
//!
//! Responses are encoded with the `kafka-protocol` crate, which is exact about
//! every version's layout and omits default tagged fields; requests are decoded
//! by Skiff's own bounded decoders (see `reader` for why).

pub mod header;
pub mod legacy;
pub mod reader;
pub mod response;
pub mod versions;

pub use header::RequestHeader;
pub use reader::{DecodeError, Reader};

/// The error code of an answer without error. Errors are spelled
/// `kafka_protocol::error::ResponseError::X.code()` everywhere.
pub const NONE: i16 = 0;
