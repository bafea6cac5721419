//! SaslHandshake (v0-1): the client names the SASL mechanism it wants. With
//! v0 the exchange that follows is raw tokens, each a size-prefixed frame
//! without a Kafka header; with v1 it is SaslAuthenticate requests.

use crate::protocol::reader::{Reader, Result};

/// Longest mechanism name kept (the real ones have at most 13 characters);
/// a longer one is answered UNSUPPORTED_SASL_MECHANISM like any unknown one.
pub const MAX_MECHANISM_LEN: usize = 64;

#[derive(Debug, PartialEq, Eq)]
pub struct SaslHandshakeRequest {
    pub mechanism: String,
}

impl SaslHandshakeRequest {
    pub fn decode(r: &mut Reader, _version: i16) -> Result<Self> {
        let mechanism = r.string("mechanism")?;
        r.tagged_fields()?;
        Ok(SaslHandshakeRequest { mechanism })
    }
}
