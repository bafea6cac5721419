//! CreatePartitions (v0-3): grows a topic's partition count (never shrinks,
//! as Kafka), with validate_only.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsResponse, TopicName};

use super::create_topics::partition_limit;
use super::str;
use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};
use crate::refusals;
use crate::storage::{WriteError, PARTITION_LIMIT};

pub struct CreatePartitionsRequest {
    pub topics: Vec<(String, i32)>,
    pub validate_only: bool,
}

impl CreatePartitionsRequest {
    pub fn decode(r: &mut Reader, _version: i16) -> Result<Self> {
        let topics = r.array("topics", |r| {
            let name = r.string("topic name")?;
            let count = r.i32()?;
            r.nullable_array("assignments", |r| {
                r.array("broker ids", |r| r.i32())?;
                r.tagged_fields()?;
                Ok(())
            })?;
            r.tagged_fields()?;
            Ok((name, count))
        })?;
        let _timeout_ms = r.i32()?;
        let validate_only = r.bool()?;
        r.tagged_fields()?;
        Ok(CreatePartitionsRequest {
            topics,
            validate_only,
        })
    }
}

/// Each topic needs ALTER on it.
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let peer = conn.peer;
    let mut results = Vec::with_capacity(req.topics.len());
    // Partitions the validate_only topics before this one would add.
    let mut validated = 0i64;
    for (name, count) in req.topics {
        let result = CreatePartitionsTopicResult::default().with_name(TopicName(str(&name)));
        if !super::topic_allowed(broker, conn, crate::security::acl::Operation::Alter, &name) {
            results.push(result.with_error_code(super::TOPIC_AUTHORIZATION_FAILED));
            continue;
        }
        let Some(topic) = broker.catalog.get(&name) else {
            results.push(result.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
            continue;
        };
        let existing = topic.partitions().len() as i32;
        if count <= existing {
            results.push(
                result
                    .with_error_code(ResponseError::InvalidPartitions.code())
                    .with_error_message(Some(str(format!(
                        "topic '{name}' has {existing} partitions; the new count must be larger"
                    )))),
            );
            continue;
        }
        let adding = count as i64 - existing as i64;
        if let Some((code, message)) = partition_limit(broker, peer, adding + validated) {
            results.push(
                result
                    .with_error_code(code)
                    .with_error_message(Some(str(message))),
            );
            continue;
        }
        if req.validate_only {
            validated += adding;
            results.push(result);
            continue;
        }
        let created = broker.storage.create_partitions(&name, count).await;
        results.push(match created {
            Ok(()) => result,
            Err(e) => {
                if let WriteError::PolicyViolation(m) = &e {
                    refusals::refused(PARTITION_LIMIT, Some(peer), m);
                }
                result
                    .with_error_code(e.kafka_code())
                    .with_error_message(Some(str(e.to_string())))
            }
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}
