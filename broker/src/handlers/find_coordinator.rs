//! FindCoordinator (v0-6): this broker coordinates every group and every
//! transactional id. v4+ asks for several keys at once (`coordinator_keys`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorResponse};

use super::str;
use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};
use crate::protocol::NONE;

pub struct FindCoordinatorRequest {
    /// 0 group, 1 transaction.
    pub key_type: i8,
    pub keys: Vec<String>,
}

impl FindCoordinatorRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let (key_type, keys) = if version >= 4 {
            let key_type = r.i8()?;
            (key_type, r.array("coordinator keys", |r| r.string("key"))?)
        } else {
            let key = r.string("key")?;
            let key_type = if version >= 1 { r.i8()? } else { 0 };
            (key_type, vec![key])
        };
        r.tagged_fields()?;
        Ok(FindCoordinatorRequest { key_type, keys })
    }
}

/// A group lookup needs DESCRIBE on the group (else
/// GROUP_AUTHORIZATION_FAILED for that key), a transactional id's DESCRIBE
/// on it (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
pub fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    version: i16,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let answer = |key: &str| -> (i16, Option<kafka_protocol::protocol::StrBytes>) {
        if req.key_type == 1 {
            use crate::security::acl::{Operation, ResourceType};
            if !super::allowed(
                broker,
                conn,
                Operation::Describe,
                ResourceType::TransactionalId,
                key,
            ) {
                return (
                    ResponseError::TransactionalIdAuthorizationFailed.code(),
                    None,
                );
            }
            return (NONE, None);
        }
        if req.key_type != 0 {
            return (ResponseError::InvalidRequest.code(), None);
        }
        if !super::group_allowed(broker, conn, crate::security::acl::Operation::Describe, key) {
            return (super::GROUP_AUTHORIZATION_FAILED, None);
        }
        (NONE, None)
    };
    let located = |error: i16| {
        if error == NONE {
            (
                BrokerId(broker.config.node_id),
                str(&broker.config.advertised.host),
                broker.config.advertised.port as i32,
            )
        } else {
            (BrokerId(-1), str(""), -1)
        }
    };
    if version >= 4 {
        FindCoordinatorResponse::default().with_coordinators(
            req.keys
                .iter()
                .map(|k| {
                    let (error, message) = answer(k);
                    let (node, host, port) = located(error);
                    Coordinator::default()
                        .with_key(str(k))
                        .with_node_id(node)
                        .with_host(host)
                        .with_port(port)
                        .with_error_code(error)
                        .with_error_message(message)
                })
                .collect(),
        )
    } else {
        let (error, message) = answer(req.keys.first().map_or("", String::as_str));
        let (node, host, port) = located(error);
        let r = FindCoordinatorResponse::default()
            .with_error_code(error)
            .with_node_id(node)
            .with_host(host)
            .with_port(port);
        if version >= 1 {
            r.with_error_message(message)
        } else {
            r
        }
    }
}
