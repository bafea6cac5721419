//! OffsetDelete (v0): deletes a group's committed offsets of some
//! partitions, except for topics a current member is subscribed to
//! (GROUP_SUBSCRIBED_TO_TOPIC), as Kafka does.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteResponse, TopicName};

use super::str;
use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};
use crate::protocol::NONE;

pub struct OffsetDeleteRequest {
    pub group_id: String,
    pub topics: Vec<(String, Vec<i32>)>,
}

impl OffsetDeleteRequest {
    pub fn decode(r: &mut Reader, _version: i16) -> Result<Self> {
        let group_id = r.string("group id")?;
        let topics = r.array("topics", |r| {
            let name = r.string("topic name")?;
            let parts = r.array("partitions", |r| r.i32())?;
            Ok((name, parts))
        })?;
        Ok(OffsetDeleteRequest { group_id, topics })
    }
}

/// Needs DELETE on the group (READ on the topics, as Kafka, is implied by
/// having committed them; not checked).
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    if !super::group_allowed(
        broker,
        conn,
        crate::security::acl::Operation::Delete,
        &req.group_id,
    ) {
        return OffsetDeleteResponse::default().with_error_code(super::GROUP_AUTHORIZATION_FAILED);
    }
    let subscribed = match broker.coordinator.subscribed_topics(&req.group_id) {
        Ok(s) => s,
        Err(c) => return OffsetDeleteResponse::default().with_error_code(c),
    };
    let deletable: Vec<(String, i32)> = req
        .topics
        .iter()
        .filter(|(t, _)| !subscribed.contains(t))
        .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
        .collect();
    let written = broker
        .coordinator
        .delete_offsets(&broker.storage, &req.group_id, deletable)
        .await
        .map_err(|e| e.kafka_code());
    OffsetDeleteResponse::default().with_topics(
        req.topics
            .into_iter()
            .map(|(t, ps)| {
                let c = if subscribed.contains(&t) {
                    ResponseError::GroupSubscribedToTopic.code()
                } else {
                    written.err().unwrap_or(NONE)
                };
                OffsetDeleteResponseTopic::default()
                    .with_name(TopicName(str(t)))
                    .with_partitions(
                        ps.into_iter()
                            .map(|p| {
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_error_code(c)
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}
