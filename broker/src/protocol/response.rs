//! Response framing: size prefix, response header (v0 or v1 with tagged
//! fields, per the API's rules; ApiVersions is always v0), then the body
//! encoded by `kafka-protocol`.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Encodable;

/// Encoding a response failed: a bug in the handler (a value the version
/// cannot carry), never a property of the client's input.
#[derive(Debug, thiserror::Error)]
#[error("encoding {api:?} v{version} response: {message}")]
pub struct EncodeError {
    pub api: ApiKey,
    pub version: i16,
    pub message: String,
}

/// Encodes a complete response frame (with its 4-byte size prefix).
pub fn encode<R: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> Result<BytesMut, EncodeError> {
    let wrap = |e: &dyn std::fmt::Display| EncodeError {
        api,
        version,
        message: e.to_string(),
    };
    let header_version = api.response_header_version(version);
    let version = super::legacy::body_version(api, version);
    let body_size = body.compute_size(version).map_err(|e| wrap(&e))?;
    let header_size = if header_version >= 1 { 5 } else { 4 };
    let mut buf = BytesMut::with_capacity(4 + header_size + body_size);
    buf.put_i32((header_size + body_size) as i32);
    buf.put_i32(correlation_id);
    if header_version >= 1 {
        buf.put_u8(0); // no tagged fields
    }
    body.encode(&mut buf, version).map_err(|e| wrap(&e))?;
    Ok(buf)
}
