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

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::SaslAuthenticateResponse;
use tracing::info;

use super::str;
use crate::broker::Broker;
use crate::connection::ConnectionState;
use crate::refusals;
use crate::security::sasl::{SaslError, Step, ILLEGAL_SASL_STATE};

/// One step of the exchange the handshake started. A failure is answered
/// at once with its code and a message (never the password or the
/// verifier), then the connection is closed, as Kafka does.
pub fn handle(
    broker: &Broker,
    conn: &mut ConnectionState,
    req: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    let response = SaslAuthenticateResponse::default();
    let Some(exchange) = conn.sasl.as_mut().filter(|s| !s.raw) else {
        conn.close_after_response = true;
        return response
            .with_error_code(ILLEGAL_SASL_STATE)
            .with_error_message(Some(str(
                "SaslAuthenticate before a SaslHandshake v1 (or after authentication)",
            )));
    };
    match step(broker, exchange, &req.auth_bytes) {
        Ok(Step::Continue(token)) => response.with_auth_bytes(token.into()),
        Ok(Step::Done {
            principal,
            response: token,
        }) => {
            authenticated(conn, principal);
            response.with_auth_bytes(token.into())
        }
        Err(e) => {
            failed(conn, &e);
            response
                .with_error_code(e.code())
                .with_error_message(Some(str(message(&e))))
        }
    }
}

fn step(
    broker: &Broker,
    exchange: &mut crate::connection::SaslExchange,
    token: &[u8],
) -> std::result::Result<Step, SaslError> {
    let security = &broker.security;
    exchange
        .authenticator
        .step(token, &security.credentials, &security.limiter)
}

fn authenticated(conn: &mut ConnectionState, principal: String) {
    tracing::debug!(peer = %conn.peer, %principal, "authenticated");
    conn.principal = principal;
    conn.unauthenticated = false;
    conn.sasl = None;
}

fn failed(conn: &mut ConnectionState, e: &SaslError) {
    conn.close_after_response = true;
    conn.sasl = None;
    refusals::refused(
        "SASL authentication",
        Some(conn.peer),
        &format!("authentication failed: {e}"),
    );
}

/// What the client is told: Kafka's wording for bad credentials (which
/// does not say whether the user exists), the retry delay when limited.
fn message(e: &SaslError) -> String {
    match e {
        SaslError::RateLimited(r) => format!("Authentication failed: {r}"),
        SaslError::Complete => "the SASL exchange is already complete".into(),
        _ => "Authentication failed: invalid credentials (wrong user name, password or mechanism)"
            .into(),
    }
}

/// A bare token after a v0 handshake: the answer as a bare size-prefixed
/// token, or `None` (close the connection) on failure.
pub fn raw_token(broker: &Broker, conn: &mut ConnectionState, token: &[u8]) -> Option<BytesMut> {
    let exchange = conn.sasl.as_mut()?;
    let reply = match step(broker, exchange, token) {
        Ok(Step::Continue(t)) => t,
        Ok(Step::Done {
            principal,
            response,
        }) => {
            info!(peer = %conn.peer, "authenticated with a v0 SASL handshake");
            authenticated(conn, principal);
            response
        }
        Err(e) => {
            failed(conn, &e);
            return None;
        }
    };
    let mut out = BytesMut::with_capacity(4 + reply.len());
    out.put_i32(reply.len() as i32);
    out.put_slice(&reply);
    Some(out)
}
