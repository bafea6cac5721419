//! The request header: which API, which version, which correlation id.
//! Parsed before the body so that a request for an unknown API or version can
//! be answered (ApiVersions, KIP-511) or refused without decoding the body.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::reader::{Reader, Result};

#[derive(Debug, Clone)]
pub struct RequestHeader {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
}

impl RequestHeader {
    /// Reads the header from a whole frame body and returns the reader
    /// positioned at the request body, already set to the body's encoding.
    pub fn decode(frame: Bytes) -> Result<(RequestHeader, Reader)> {
        let mut r = Reader::new(frame, false);
        let api_key = r.i16()?;
        let api_version = r.i16()?;
        let correlation_id = r.i32()?;
        // The client id is a classic (non-compact) string even in header v2.
        let client_id = r.nullable_string()?;
        let flexible = ApiKey::try_from(api_key)
            .map(|api| api.request_header_version(api_version) >= 2)
            .unwrap_or(false);
        if flexible {
            r.set_flexible(true);
            r.tagged_fields()?;
        }
        Ok((
            RequestHeader {
                api_key,
                api_version,
                correlation_id,
                client_id,
            },
            r,
        ))
    }
}
