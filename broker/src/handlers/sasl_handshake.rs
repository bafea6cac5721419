//! SaslHandshake (v0-1): the client names the SASL mechanism it wants. With
//! v0 the exchange that follows is raw tokens, each a size-prefixed frame
//! without a Kafka header; with v1 it is SaslAuthenticate requests.

use crate::protocol::reader::{Reader, Result};

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

use kafka_protocol::messages::SaslHandshakeResponse;

use super::str;
use crate::broker::Broker;
use crate::connection::{ConnectionState, SaslExchange};
use crate::security::sasl::{Authenticator, ILLEGAL_SASL_STATE};

/// Chooses the mechanism. A second handshake, one after authentication, or
/// one on a listener without SASL is ILLEGAL_SASL_STATE; an unknown or
/// disabled mechanism is UNSUPPORTED_SASL_MECHANISM. Either closes the
/// connection after the answer, as Kafka does.
pub fn handle(
    broker: &Broker,
    conn: &mut ConnectionState,
    version: i16,
    req: SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    let security = &broker.security;
    let names = security
        .mechanisms
        .names()
        .into_iter()
        .map(str)
        .collect::<Vec<_>>();
    let response = SaslHandshakeResponse::default().with_mechanisms(names);
    if !security.sasl() || !conn.unauthenticated || conn.sasl.is_some() {
        conn.close_after_response = true;
        return response.with_error_code(ILLEGAL_SASL_STATE);
    }
    match security.mechanisms.select(&req.mechanism) {
        Ok(mechanism) => {
            conn.sasl = Some(SaslExchange {
                authenticator: Authenticator::new(mechanism, conn.peer.ip()),
                raw: version == 0,
            });
            response
        }
        Err(code) => {
            conn.close_after_response = true;
            response.with_error_code(code)
        }
    }
}
