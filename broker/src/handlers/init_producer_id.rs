//! InitProducerId (v0-4). Without a transactional id: an idempotent
//! producer's new id with epoch 0 from a persistent counter, so ids are
//! never reused across restarts. With one: the transaction coordinator
//! (`storage/txn.rs`) gives the id's producer id and a bumped epoch,
//! aborting a transaction the previous producer left open (which fences
//! it); v3+ may name the caller's current producer id and epoch (KIP-360).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdResponse, ProducerId};

use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};
use crate::security::acl::{Operation, ResourceType};

pub struct InitProducerIdRequest {
    pub transactional_id: Option<String>,
    pub transaction_timeout_ms: i32,
    /// v3+: the producer id and epoch the caller has (-1: none).
    pub current: (i64, i16),
}

impl InitProducerIdRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let transactional_id = r.nullable_string()?;
        let transaction_timeout_ms = r.i32()?;
        let current = if version >= 3 {
            (r.i64()?, r.i16()?)
        } else {
            (-1, -1)
        };
        r.tagged_fields()?;
        Ok(InitProducerIdRequest {
            transactional_id,
            transaction_timeout_ms,
            current,
        })
    }
}

/// An idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on
/// some topic (Kafka 2.8+, KIP-679), else CLUSTER_AUTHORIZATION_FAILED; a
/// transactional one WRITE on its transactional id.
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if let Some(id) = &req.transactional_id {
        if !super::allowed(
            broker,
            conn,
            Operation::Write,
            ResourceType::TransactionalId,
            id,
        ) {
            return response
                .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
        }
        if id.is_empty() {
            return response.with_error_code(ResponseError::InvalidRequest.code());
        }
        let max = broker.config.transaction_max_timeout_ms;
        if req.transaction_timeout_ms <= 0 || req.transaction_timeout_ms > max {
            return response.with_error_code(ResponseError::InvalidTransactionTimeout.code());
        }
        let expected = (req.current.0 >= 0).then_some(req.current);
        return match broker
            .storage
            .txn_init(
                id,
                req.transaction_timeout_ms,
                expected,
                broker.config.max_transactional_ids,
            )
            .await
        {
            Ok((pid, epoch)) => response
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch),
            Err(e) => response.with_error_code(e.kafka_code()),
        };
    }
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
    match broker.storage.allocate_producer_id().await {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => response.with_error_code(e.kafka_code()),
    }
}
