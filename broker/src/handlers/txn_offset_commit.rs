//! TxnOffsetCommit (v0-3): a group's offsets committed inside a
//! transaction. They are stored with the transaction and become the
//! group's committed offsets only when it commits (KIP-98; OffsetFetch with
//! `require_stable` answers UNSTABLE_OFFSET_COMMIT until then, KIP-447).
//! v3's generation and member are checked as OffsetCommit checks them.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TopicName, TxnOffsetCommitResponse};

use super::str;
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::coordinator::MAX_OFFSET_METADATA;
use crate::protocol::reader::{Reader, Result};
use crate::protocol::NONE;
use crate::security::acl::{Operation, ResourceType};
use crate::storage::OffsetRow;

pub struct TxnCommitPartition {
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

pub struct TxnOffsetCommitRequest {
    pub transactional_id: String,
    pub group_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// v3+ (KIP-447): the consumer's generation and member, -1/"" before.
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub topics: Vec<(String, Vec<TxnCommitPartition>)>,
}

impl TxnOffsetCommitRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let transactional_id = r.string("transactional id")?;
        let group_id = r.string("group id")?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let (generation, member_id, instance_id) = if version >= 3 {
            (r.i32()?, r.string("member id")?, r.nullable_string()?)
        } else {
            (-1, String::new(), None)
        };
        let topics = r.array("topics", |r| {
            let name = r.string("topic name")?;
            let partitions = r.array("partitions", |r| {
                let partition = r.i32()?;
                let offset = r.i64()?;
                let leader_epoch = if version >= 2 { r.i32()? } else { -1 };
                let metadata = r.nullable_string()?;
                r.tagged_fields()?;
                Ok(TxnCommitPartition {
                    partition,
                    offset,
                    leader_epoch,
                    metadata,
                })
            })?;
            r.tagged_fields()?;
            Ok((name, partitions))
        })?;
        r.tagged_fields()?;
        Ok(TxnOffsetCommitRequest {
            transactional_id,
            group_id,
            producer_id,
            producer_epoch,
            generation,
            member_id,
            instance_id,
            topics,
        })
    }
}

/// Needs WRITE on the transactional id, READ on the group and on each topic.
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let group_error = if !super::allowed(
        broker,
        conn,
        Operation::Write,
        ResourceType::TransactionalId,
        &req.transactional_id,
    ) {
        ResponseError::TransactionalIdAuthorizationFailed.code()
    } else if !super::group_allowed(broker, conn, Operation::Read, &req.group_id) {
        super::GROUP_AUTHORIZATION_FAILED
    } else if req.generation >= 0 || !req.member_id.is_empty() {
        broker.coordinator.check_commit(
            &req.group_id,
            &req.member_id,
            req.instance_id.as_deref(),
            req.generation,
            Some(conn.peer),
        )
    } else {
        NONE
    };
    let now = now_ms();
    let mut results = Vec::with_capacity(req.topics.len());
    for (topic, partitions) in req.topics {
        let known = broker.catalog.get(&topic);
        let readable = super::topic_allowed(broker, conn, Operation::Read, &topic);
        let mut out = Vec::with_capacity(partitions.len());
        for p in partitions {
            let r = if group_error != NONE {
                Err(group_error)
            } else if !readable {
                Err(super::TOPIC_AUTHORIZATION_FAILED)
            } else if known
                .as_ref()
                .and_then(|t| t.partition(p.partition))
                .is_none()
            {
                Err(ResponseError::UnknownTopicOrPartition.code())
            } else if p
                .metadata
                .as_ref()
                .is_some_and(|m| m.len() > MAX_OFFSET_METADATA)
            {
                Err(ResponseError::OffsetMetadataTooLarge.code())
            } else {
                Ok(OffsetRow {
                    topic: topic.clone(),
                    partition: p.partition,
                    offset: p.offset,
                    leader_epoch: p.leader_epoch,
                    metadata: p.metadata.unwrap_or_default(),
                    commit_ms: now,
                })
            };
            out.push((p.partition, r));
        }
        results.push((topic, out));
    }
    let rows: Vec<OffsetRow> = results
        .iter()
        .flat_map(|(_, ps)| ps.iter().filter_map(|(_, r)| r.as_ref().ok().cloned()))
        .collect();
    let written = if rows.is_empty() {
        Ok(())
    } else {
        broker
            .storage
            .txn_offset_commit(
                &req.transactional_id,
                (req.producer_id, req.producer_epoch),
                &req.group_id,
                rows,
            )
            .await
            .map_err(|e| e.kafka_code())
    };
    TxnOffsetCommitResponse::default().with_topics(
        results
            .into_iter()
            .map(|(topic, ps)| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(TopicName(str(topic)))
                    .with_partitions(
                        ps.into_iter()
                            .map(|(p, r)| {
                                let code = match (r, &written) {
                                    (Err(c), _) => c,
                                    (Ok(_), Err(c)) => *c,
                                    (Ok(_), Ok(())) => NONE,
                                };
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}
