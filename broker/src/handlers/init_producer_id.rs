//! InitProducerId (v0-4) for idempotent producers: a new producer id with
//! epoch 0 from a persistent counter, so ids are never reused across restarts.
//! Transactions are not supported: a transactional id is refused.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdResponse, ProducerId};

use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};

pub struct InitProducerIdRequest {
    pub transactional_id: Option<String>,
}

impl InitProducerIdRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let transactional_id = r.nullable_string()?;
        let _transaction_timeout_ms = r.i32()?;
        if version >= 3 {
            r.i64()?; // current producer id (epoch bump): a fresh id serves as well
            r.i16()?;
        }
        r.tagged_fields()?;
        Ok(InitProducerIdRequest { transactional_id })
    }
}

/// An idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on
/// some topic (Kafka 2.8+, KIP-679), else CLUSTER_AUTHORIZATION_FAILED.
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if req.transactional_id.is_some() {
        return response.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
    }
    {
        use crate::security::acl::{Operation, ResourceType};
        let may = super::cluster_allowed(broker, conn, Operation::IdempotentWrite)
            || broker.security.authorizer.allows_some(
                &conn.principal,
                conn.peer.ip(),
                Operation::Write,
                ResourceType::Topic,
            );
        if !may {
            return response.with_error_code(super::CLUSTER_AUTHORIZATION_FAILED);
        }
    }
    match broker.storage.allocate_producer_id().await {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => response.with_error_code(e.kafka_code()),
    }
}
