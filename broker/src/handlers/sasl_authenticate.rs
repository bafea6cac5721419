//! SaslAuthenticate (v0-2): one SASL token from the client (a PLAIN message,
//! a SCRAM client-first or client-final message). The token is a slice of the
//! frame, bounded by it; the mechanisms bound it further before parsing.

use bytes::Bytes;

use crate::protocol::reader::{Reader, Result};

#[derive(Debug, PartialEq, Eq)]
pub struct SaslAuthenticateRequest {
    pub auth_bytes: Bytes,
}

impl SaslAuthenticateRequest {
    pub fn decode(r: &mut Reader, _version: i16) -> Result<Self> {
        let auth_bytes = r.bytes("auth bytes")?;
        r.tagged_fields()?;
        Ok(SaslAuthenticateRequest { auth_bytes })
    }
}
