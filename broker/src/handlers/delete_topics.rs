//! DeleteTopics (v1-6): removes exactly the named topics (by name, or by id
//! from v6), with their batches, producer state and committed group
//! offsets; other topics are not touched.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use super::str;
use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};

pub struct DeleteTopicsRequest {
    pub topics: Vec<(Option<String>, Uuid)>,
}

impl DeleteTopicsRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let topics = if version >= 6 {
            r.array("topics", |r| {
                let name = r.nullable_string()?;
                let id = r.uuid()?;
                r.tagged_fields()?;
                Ok((name, id))
            })?
        } else {
            r.array("topic names", |r| {
                Ok((Some(r.string("topic name")?), Uuid::nil()))
            })?
        };
        let _timeout_ms = r.i32()?;
        r.tagged_fields()?;
        Ok(DeleteTopicsRequest { topics })
    }
}

/// Each topic needs DELETE on it.
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let mut responses = Vec::with_capacity(req.topics.len());
    for (name, id) in req.topics {
        let name = name.or_else(|| broker.catalog.get_by_id(id).map(|t| t.name.clone()));
        let result = DeletableTopicResult::default().with_topic_id(id);
        let Some(name) = name else {
            responses.push(result.with_error_code(ResponseError::UnknownTopicId.code()));
            continue;
        };
        let result = result.with_name(Some(TopicName(str(&name))));
        if !super::topic_allowed(broker, conn, crate::security::acl::Operation::Delete, &name) {
            responses.push(result.with_error_code(super::TOPIC_AUTHORIZATION_FAILED));
            continue;
        }
        let deleted = broker.storage.delete_topic(&name).await;
        responses.push(match deleted {
            Ok(id) => {
                // The writer deleted the topic's committed offsets with it.
                broker.coordinator.offsets.remove_topic(&name);
                broker.metrics.remove_topic(&name);
                result.with_topic_id(id)
            }
            Err(e) => result
                .with_error_code(e.kafka_code())
                .with_error_message(Some(str(e.to_string()))),
        });
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
