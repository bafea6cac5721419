//! AddPartitionsToTxn (v0-3, the versions producers send; v4+ is the
//! brokers' batched form): the partitions join the producer's ongoing
//! transaction (which starts its timeout). Kafka answers all or nothing:
//! when some partition fails (unknown, not authorized), the others get
//! OPERATION_NOT_ATTEMPTED and nothing is added.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnResponse, TopicName};

use super::str;
use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};
use crate::protocol::NONE;
use crate::security::acl::{Operation, ResourceType};

pub struct AddPartitionsToTxnRequest {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub topics: Vec<(String, Vec<i32>)>,
}

impl AddPartitionsToTxnRequest {
    pub fn decode(r: &mut Reader, _version: i16) -> Result<Self> {
        let transactional_id = r.string("transactional id")?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let topics = r.array("topics", |r| {
            let name = r.string("topic name")?;
            let partitions = r.array("partitions", |r| r.i32())?;
            r.tagged_fields()?;
            Ok((name, partitions))
        })?;
        r.tagged_fields()?;
        Ok(AddPartitionsToTxnRequest {
            transactional_id,
            producer_id,
            producer_epoch,
            topics,
        })
    }
}

/// Needs WRITE on the transactional id and on each topic.
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let id_allowed = super::allowed(
        broker,
        conn,
        Operation::Write,
        ResourceType::TransactionalId,
        &req.transactional_id,
    );
    // Per partition: the partition, or the error it gets.
    let mut checked = Vec::with_capacity(req.topics.len());
    let mut failed = false;
    for (name, partitions) in &req.topics {
        let writable = super::topic_allowed(broker, conn, Operation::Write, name);
        let topic = broker.catalog.get(name);
        let mut out = Vec::with_capacity(partitions.len());
        for &index in partitions {
            let r = if !id_allowed {
                Err(ResponseError::TransactionalIdAuthorizationFailed.code())
            } else if !writable {
                Err(super::TOPIC_AUTHORIZATION_FAILED)
            } else {
                topic
                    .as_ref()
                    .and_then(|t| t.partition(index))
                    .ok_or(ResponseError::UnknownTopicOrPartition.code())
            };
            failed |= r.is_err();
            out.push((index, r));
        }
        checked.push((name.clone(), out));
    }
    let outcome = if failed {
        None
    } else {
        let partitions = checked
            .iter()
            .flat_map(|(_, ps)| ps.iter().filter_map(|(_, r)| r.as_ref().ok().cloned()))
            .collect();
        Some(
            broker
                .storage
                .txn_add_partitions(
                    &req.transactional_id,
                    (req.producer_id, req.producer_epoch),
                    partitions,
                )
                .await
                .map_err(|e| e.kafka_code()),
        )
    };
    let results = checked
        .into_iter()
        .map(|(name, ps)| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(TopicName(str(name)))
                .with_results_by_partition(
                    ps.into_iter()
                        .map(|(index, r)| {
                            let code = match (&r, &outcome) {
                                (Err(c), _) => *c,
                                (Ok(_), None) => ResponseError::OperationNotAttempted.code(),
                                (Ok(_), Some(Err(c))) => *c,
                                (Ok(_), Some(Ok(()))) => NONE,
                            };
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(index)
                                .with_partition_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}
