//! OffsetCommit (v0-9): validates membership and generation as Kafka does for
//! classic groups, then stores the offsets (with leader epoch and metadata)
//! through the writer; the response leaves after the commit.
//!
//! v0 carries no generation or member: a group-less commit, accepted as a
//! v2+ commit with generation -1 is (the group must have no members). v1
//! carries a commit timestamp per partition; it dates the offset for
//! offsets retention, as in Kafka (-1: now; a time in the future counts as
//! now).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitResponse, TopicName};

use super::str;
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::coordinator::MAX_OFFSET_METADATA;
use crate::protocol::reader::{Reader, Result};
use crate::protocol::NONE;
use crate::storage::OffsetRow;

pub struct CommitPartition {
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    /// v1 only: when the client says it committed (-1: now).
    pub commit_timestamp: i64,
}

pub struct OffsetCommitRequest {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub topics: Vec<(String, Vec<CommitPartition>)>,
}

impl OffsetCommitRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let group_id = r.string("group id")?;
        let (generation, member_id) = if version >= 1 {
            (r.i32()?, r.string("member id")?)
        } else {
            (-1, String::new())
        };
        let instance_id = if version >= 7 {
            r.nullable_string()?
        } else {
            None
        };
        if (2..=4).contains(&version) {
            r.i64()?; // retention time
        }
        let topics = r.array("topics", |r| {
            let name = r.string("topic name")?;
            let partitions = r.array("partitions", |r| {
                let partition = r.i32()?;
                let offset = r.i64()?;
                let leader_epoch = if version >= 6 { r.i32()? } else { -1 };
                let commit_timestamp = if version == 1 { r.i64()? } else { -1 };
                let metadata = r.nullable_string()?;
                r.tagged_fields()?;
                Ok(CommitPartition {
                    partition,
                    offset,
                    leader_epoch,
                    metadata,
                    commit_timestamp,
                })
            })?;
            r.tagged_fields()?;
            Ok((name, partitions))
        })?;
        r.tagged_fields()?;
        Ok(OffsetCommitRequest {
            group_id,
            generation,
            member_id,
            instance_id,
            topics,
        })
    }
}

/// A partition's row to write, or the error code it gets.
type Checked = std::result::Result<OffsetRow, i16>;

/// Needs READ on the group and on each topic.
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    use crate::security::acl::Operation;
    let peer = conn.peer;
    let group_error = if !super::group_allowed(broker, conn, Operation::Read, &req.group_id) {
        super::GROUP_AUTHORIZATION_FAILED
    } else {
        broker.coordinator.check_commit(
            &req.group_id,
            &req.member_id,
            req.instance_id.as_deref(),
            req.generation,
            Some(peer),
        )
    };
    let now = now_ms();
    // Per partition: Ok(row) to write, or an error code.
    let mut results: Vec<(String, Vec<(i32, Checked)>)> = Vec::new();
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
                    commit_ms: if p.commit_timestamp >= 0 {
                        p.commit_timestamp.min(now)
                    } else {
                        now
                    },
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
    let written = broker
        .coordinator
        .commit_offsets(&broker.storage, &req.group_id, rows)
        .await
        .map_err(|e| e.kafka_code());
    OffsetCommitResponse::default().with_topics(
        results
            .into_iter()
            .map(|(topic, ps)| {
                OffsetCommitResponseTopic::default()
                    .with_name(TopicName(str(topic)))
                    .with_partitions(
                        ps.into_iter()
                            .map(|(p, r)| {
                                let code = match (r, &written) {
                                    (Err(c), _) => c,
                                    (Ok(_), Err(c)) => *c,
                                    (Ok(_), Ok(())) => NONE,
                                };
                                OffsetCommitResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}
