//! Metadata (v0-12): the one broker, and the requested topics (all when the
//! list is null, or empty before v1) with their partitions, all led by this
//! broker. Unknown topics are created when auto-creation is on and the client
//! allows it (always before v4), as Kafka's auto.create.topics.enable.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataResponse, TopicName};
use uuid::Uuid;

use super::str;
use crate::broker::Broker;
use crate::catalog::Topic;
use crate::protocol::reader::{Reader, Result};
use crate::topic_config::validate_name;

/// Kafka's "authorized operations were not requested" marker.
const OPERATIONS_OMITTED: i32 = i32::MIN;

pub struct MetadataRequest {
    /// `None`: all topics.
    pub topics: Option<Vec<(Option<String>, Uuid)>>,
    pub allow_auto_topic_creation: bool,
}

impl MetadataRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let topics = r.nullable_array("topics", |r| {
            let id = if version >= 10 {
                r.uuid()?
            } else {
                Uuid::nil()
            };
            let name = if version >= 10 {
                r.nullable_string()?
            } else {
                Some(r.string("topic name")?)
            };
            r.tagged_fields()?;
            Ok((name, id))
        })?;
        let topics = match topics {
            Some(t) if t.is_empty() && version == 0 => None,
            t => t,
        };
        let allow_auto_topic_creation = if version >= 4 { r.bool()? } else { true };
        if (8..=10).contains(&version) {
            r.bool()?; // include cluster authorized operations
        }
        if version >= 8 {
            r.bool()?; // include topic authorized operations
        }
        r.tagged_fields()?;
        Ok(MetadataRequest {
            topics,
            allow_auto_topic_creation,
        })
    }
}

pub fn topic_metadata(broker: &Broker, topic: &Topic) -> MetadataResponseTopic {
    let node = BrokerId(broker.config.node_id);
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str(&topic.name))))
        .with_topic_id(topic.id)
        .with_topic_authorized_operations(OPERATIONS_OMITTED)
        .with_partitions(
            topic
                .partitions()
                .iter()
                .map(|p| {
                    MetadataResponsePartition::default()
                        .with_partition_index(p.index)
                        .with_leader_id(node)
                        .with_leader_epoch(0)
                        .with_replica_nodes(vec![node])
                        .with_isr_nodes(vec![node])
                })
                .collect(),
        )
}

fn missing(name: Option<String>, id: Uuid, code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name.map(|n| TopicName(str(n))))
        .with_topic_id(id)
        .with_error_code(code)
        .with_topic_authorized_operations(OPERATIONS_OMITTED)
}

/// Topics the principal may not DESCRIBE are left out of an all-topics
/// answer and answered TOPIC_AUTHORIZATION_FAILED when named; creating a
/// missing topic needs CREATE on the cluster or the topic, as in Kafka.
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: MetadataRequest,
) -> MetadataResponse {
    use crate::security::acl::Operation;
    let describable = |name: &str| super::topic_allowed(broker, conn, Operation::Describe, name);
    let topics = match req.topics {
        None => broker
            .catalog
            .all()
            .iter()
            .filter(|t| describable(&t.name))
            .map(|t| topic_metadata(broker, t))
            .collect(),
        Some(requested) => {
            // A topic named (or identified) more than once is answered once,
            // as Kafka does (it keeps the requested topics in a set).
            let mut seen = std::collections::HashSet::new();
            let requested: Vec<_> = requested
                .into_iter()
                .filter(|(name, id)| seen.insert((name.clone(), *id)))
                .collect();
            let mut out = Vec::with_capacity(requested.len());
            for (name, id) in requested {
                let Some(name) = name else {
                    out.push(match broker.catalog.get_by_id(id) {
                        Some(t) if describable(&t.name) => topic_metadata(broker, &t),
                        Some(_) => missing(None, id, super::TOPIC_AUTHORIZATION_FAILED),
                        None => missing(None, id, ResponseError::UnknownTopicId.code()),
                    });
                    continue;
                };
                if !describable(&name) {
                    out.push(missing(Some(name), id, super::TOPIC_AUTHORIZATION_FAILED));
                } else if let Some(t) = broker.catalog.get(&name) {
                    out.push(topic_metadata(broker, &t));
                } else if validate_name(&name).is_err() {
                    out.push(missing(
                        Some(name),
                        id,
                        ResponseError::InvalidTopicException.code(),
                    ));
                } else if !req.allow_auto_topic_creation || !broker.config.auto_create_topics {
                    out.push(missing(
                        Some(name),
                        id,
                        ResponseError::UnknownTopicOrPartition.code(),
                    ));
                } else if !super::cluster_allowed(broker, conn, Operation::Create)
                    && !super::topic_allowed(broker, conn, Operation::Create, &name)
                {
                    out.push(missing(Some(name), id, super::TOPIC_AUTHORIZATION_FAILED));
                } else {
                    match broker.topic_or_create(&name).await {
                        Ok(t) => out.push(topic_metadata(broker, &t)),
                        Err(e) => out.push(missing(Some(name), id, e.kafka_code())),
                    }
                }
            }
            out
        }
    };
    let node = BrokerId(broker.config.node_id);
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(node)
            .with_host(str(&broker.config.advertised.host))
            .with_port(broker.config.advertised.port as i32)])
        .with_cluster_id(Some(str(&broker.config.cluster_id)))
        .with_controller_id(node)
        .with_cluster_authorized_operations(OPERATIONS_OMITTED)
        .with_topics(topics)
}
