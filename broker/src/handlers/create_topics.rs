//! CreateTopics (v2-7): partitions (or explicit assignments to this broker),
//! replication factor 1 (the only one a single broker has), configs validated
//! against the ones Skiff knows, and validate_only.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsResponse, TopicName};

use super::str;
use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};
use crate::refusals;
use crate::storage::{over_partition_limit, WriteError, PARTITION_LIMIT};
use crate::topic_config::{validate_name, TopicConfig};

/// Kafka's DescribeConfigs/CreateTopics config sources.
pub const SOURCE_TOPIC: i8 = 1;
pub const SOURCE_DEFAULT: i8 = 5;

pub struct CreatableTopic {
    pub name: String,
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: Vec<(String, Option<String>)>,
}

pub struct CreateTopicsRequest {
    pub version: i16,
    pub topics: Vec<CreatableTopic>,
    pub validate_only: bool,
}

impl CreateTopicsRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let topics = r.array("topics", |r| {
            let name = r.string("topic name")?;
            let num_partitions = r.i32()?;
            let replication_factor = r.i16()?;
            let assignments = r.array("assignments", |r| {
                let index = r.i32()?;
                let brokers = r.array("broker ids", |r| r.i32())?;
                r.tagged_fields()?;
                Ok((index, brokers))
            })?;
            let configs = r.array("configs", |r| {
                let name = r.string("config name")?;
                let value = r.nullable_string()?;
                r.tagged_fields()?;
                Ok((name, value))
            })?;
            r.tagged_fields()?;
            Ok(CreatableTopic {
                name,
                num_partitions,
                replication_factor,
                assignments,
                configs,
            })
        })?;
        let _timeout_ms = r.i32()?;
        let validate_only = version >= 1 && r.bool()?;
        r.tagged_fields()?;
        Ok(CreateTopicsRequest {
            version,
            topics,
            validate_only,
        })
    }
}

/// Checks a topic to be created; returns its partition count and overrides.
fn check(
    broker: &Broker,
    t: &CreatableTopic,
) -> std::result::Result<(i32, BTreeMap<String, String>), (i16, String)> {
    validate_name(&t.name).map_err(|m| (ResponseError::InvalidTopicException.code(), m))?;
    if broker.catalog.get(&t.name).is_some() {
        return Err((
            ResponseError::TopicAlreadyExists.code(),
            format!("topic '{}' already exists", t.name),
        ));
    }
    if t.replication_factor != -1 && t.replication_factor != 1 {
        return Err((
            ResponseError::InvalidReplicationFactor.code(),
            format!(
                "replication factor {} is larger than the 1 broker available",
                t.replication_factor
            ),
        ));
    }
    let partitions = if !t.assignments.is_empty() {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err((
                ResponseError::InvalidRequest.code(),
                "give either assignments or partitions/replication factor, not both".into(),
            ));
        }
        let node = broker.config.node_id;
        let mut indexes: Vec<i32> = t.assignments.iter().map(|(i, _)| *i).collect();
        indexes.sort_unstable();
        let contiguous = indexes.iter().enumerate().all(|(i, p)| *p == i as i32);
        if !contiguous || t.assignments.iter().any(|(_, b)| b.as_slice() != [node]) {
            return Err((
                ResponseError::InvalidReplicaAssignment.code(),
                format!("every partition 0..n must be assigned to broker {node} alone"),
            ));
        }
        t.assignments.len() as i32
    } else if t.num_partitions == -1 {
        broker.config.num_partitions
    } else if t.num_partitions < 1 {
        return Err((
            ResponseError::InvalidPartitions.code(),
            format!("{} partitions: must be at least 1", t.num_partitions),
        ));
    } else {
        t.num_partitions
    };
    let mut overrides = BTreeMap::new();
    for (k, v) in &t.configs {
        if let Some(v) = v {
            overrides.insert(k.clone(), v.clone());
        }
    }
    TopicConfig::from_overrides(overrides.clone())
        .map_err(|e| (ResponseError::InvalidConfig.code(), e.to_string()))?;
    Ok((partitions, overrides))
}

pub fn described_configs(config: &TopicConfig) -> Vec<CreatableTopicConfigs> {
    config
        .describe()
        .into_iter()
        .map(|(def, value, is_default)| {
            CreatableTopicConfigs::default()
                .with_name(str(def.name))
                .with_value(Some(str(value)))
                .with_config_source(if is_default {
                    SOURCE_DEFAULT
                } else {
                    SOURCE_TOPIC
                })
        })
        .collect()
}

/// The partition limit's refusal of `partitions` more, logged (rate
/// limited) with the client's address.
pub(super) fn partition_limit(
    broker: &Broker,
    peer: SocketAddr,
    partitions: i64,
) -> Option<(i16, String)> {
    let message = over_partition_limit(
        broker.catalog.partition_count(),
        partitions,
        broker.config.max_partitions,
    )?;
    refusals::refused(PARTITION_LIMIT, Some(peer), &message);
    Some((ResponseError::PolicyViolation.code(), message))
}

/// Each topic needs CREATE on the cluster or on the topic.
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    use crate::security::acl::Operation;
    let peer = conn.peer;
    let cluster_create = super::cluster_allowed(broker, conn, Operation::Create);
    // Config details are part of the response from v5 on.
    let configs = |c: &TopicConfig| (req.version >= 5).then(|| described_configs(c));
    let mut seen = HashSet::new();
    let duplicates: HashSet<String> = req
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.clone()))
        .map(|t| t.name.clone())
        .collect();
    let mut results = Vec::with_capacity(req.topics.len());
    let mut validated = 0i64;
    for t in &req.topics {
        let result = CreatableTopicResult::default()
            .with_name(TopicName(str(&t.name)))
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        if duplicates.contains(&t.name) {
            results.push(
                result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str(format!(
                        "topic '{}' appears more than once in the request",
                        t.name
                    )))),
            );
            continue;
        }
        if !cluster_create && !super::topic_allowed(broker, conn, Operation::Create, &t.name) {
            results.push(
                result
                    .with_error_code(super::TOPIC_AUTHORIZATION_FAILED)
                    .with_error_message(Some(str("CREATE on the cluster or the topic is needed"))),
            );
            continue;
        }
        // Checked here, before the writer sees the request: an absurd count
        // never reaches it. (The writer checks again, against concurrent
        // creations.)
        let (partitions, overrides) =
            match check(broker, t).and_then(|(p, o)| {
                match partition_limit(broker, peer, p as i64 + validated) {
                    Some(refusal) => Err(refusal),
                    None => Ok((p, o)),
                }
            }) {
                Ok(ok) => ok,
                Err((code, message)) => {
                    results.push(
                        result
                            .with_error_code(code)
                            .with_error_message(Some(str(message))),
                    );
                    continue;
                }
            };
        if req.validate_only {
            // The topics before this one count as if they were created.
            validated += partitions as i64;
            let config = TopicConfig::from_overrides(overrides).unwrap_or_default();
            results.push(
                result
                    .with_num_partitions(partitions)
                    .with_replication_factor(1)
                    .with_configs(configs(&config)),
            );
            continue;
        }
        match broker
            .storage
            .create_topic(&t.name, partitions, overrides)
            .await
        {
            Ok(topic) => results.push(
                result
                    .with_topic_id(topic.id)
                    .with_num_partitions(partitions)
                    .with_replication_factor(1)
                    .with_configs(configs(&topic.config())),
            ),
            Err(e) => {
                if let WriteError::PolicyViolation(m) = &e {
                    refusals::refused(PARTITION_LIMIT, Some(peer), m);
                }
                results.push(
                    result
                        .with_error_code(e.kafka_code())
                        .with_error_message(Some(str(e.to_string()))),
                )
            }
        }
    }
    CreateTopicsResponse::default().with_topics(results)
}
