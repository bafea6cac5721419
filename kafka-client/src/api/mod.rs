//! The requests this client sends, one version each, and the bounded
//! decoders of their responses.
//!
//! Each API is a marker type implementing [`Api`]: the `kafka-protocol`
//! request struct it encodes, the version (non-flexible where one exists,
//! served by Skiff and by Kafka 3.9 and 4.x alike), and a decoder into a plain struct with only
//! the fields the CLI uses. Every count is bounded by a maximum here and by
//! the bytes present ([`Reader::count`]); every frame by [`Api::MAX_RESPONSE`].

use crate::decode::{Reader, Result};
use bytes::Bytes;
use kafka_protocol::messages::{self as m, ApiKey};
use kafka_protocol::protocol::Encodable;

/// Admin answers are small; 8 MiB holds the metadata of ~400,000 partitions.
pub const ADMIN_MAX_RESPONSE: usize = 8 << 20;
/// Topics in one answer.
pub const MAX_TOPICS: usize = 100_000;
/// Partitions of one topic in one answer.
pub const MAX_PARTITIONS: usize = 100_000;
/// Brokers, replicas, APIs, configs, errors: small lists.
const MAX_SMALL: usize = 10_000;

/// One request type at one version, and how to read its response.
pub trait Api {
    type Request: Encodable;
    type Response;
    const KEY: ApiKey;
    const VERSION: i16;
    /// For messages: `Metadata`.
    const NAME: &'static str;
    /// The largest response frame accepted for it.
    const MAX_RESPONSE: usize = ADMIN_MAX_RESPONSE;
    fn decode(r: &mut Reader) -> Result<Self::Response>;
}

// ---- ApiVersions v0 ----

pub struct ApiVersions;

/// The broker's ApiVersions answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiVersionsAnswer {
    pub error_code: i16,
    /// (api key, min version, max version).
    pub apis: Vec<(i16, i16, i16)>,
}

impl ApiVersionsAnswer {
    pub(crate) fn check(&self, addr: &str) -> crate::Result<()> {
        crate::KafkaError::check(self.error_code, None).map_err(|error| crate::Error::Broker {
            what: format!("{addr}: ApiVersions"),
            error,
        })
    }
}

impl Api for ApiVersions {
    type Request = m::ApiVersionsRequest;
    type Response = ApiVersionsAnswer;
    const KEY: ApiKey = ApiKey::ApiVersions;
    const VERSION: i16 = 0;
    const NAME: &'static str = "ApiVersions";
    const MAX_RESPONSE: usize = 64 << 10;
    fn decode(r: &mut Reader) -> Result<ApiVersionsAnswer> {
        let error_code = r.i16()?;
        let apis = r.array("api keys", 6, MAX_SMALL, |r| {
            Ok((r.i16()?, r.i16()?, r.i16()?))
        })?;
        Ok(ApiVersionsAnswer { error_code, apis })
    }
}

// ---- Metadata v4 ----

pub struct Metadata;

#[derive(Debug, Clone, PartialEq)]
pub struct MetadataAnswer {
    pub brokers: Vec<BrokerMeta>,
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub topics: Vec<TopicMeta>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BrokerMeta {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopicMeta {
    pub error_code: i16,
    pub name: String,
    pub is_internal: bool,
    pub partitions: Vec<PartitionMeta>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionMeta {
    pub error_code: i16,
    pub index: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

impl Api for Metadata {
    type Request = m::MetadataRequest;
    type Response = MetadataAnswer;
    const KEY: ApiKey = ApiKey::Metadata;
    /// v4: the first with `allow_auto_topic_creation`, so asking about a
    /// topic never creates it.
    const VERSION: i16 = 4;
    const NAME: &'static str = "Metadata";
    fn decode(r: &mut Reader) -> Result<MetadataAnswer> {
        let _throttle = r.i32()?;
        let brokers = r.array("brokers", 12, MAX_SMALL, |r| {
            let node_id = r.i32()?;
            let host = r.string("broker host")?;
            let port = r.i32()?;
            let _rack = r.nullable_string("rack")?;
            Ok(BrokerMeta {
                node_id,
                host,
                port,
            })
        })?;
        let cluster_id = r.nullable_string("cluster id")?;
        let controller_id = r.i32()?;
        let topics = r.array("topics", 9, MAX_TOPICS, |r| {
            let error_code = r.i16()?;
            let name = r.string("topic name")?;
            let is_internal = r.bool()?;
            let partitions = r.array("partitions", 18, MAX_PARTITIONS, |r| {
                Ok(PartitionMeta {
                    error_code: r.i16()?,
                    index: r.i32()?,
                    leader: r.i32()?,
                    replicas: r.array("replicas", 4, MAX_SMALL, |r| r.i32())?,
                    isr: r.array("isr", 4, MAX_SMALL, |r| r.i32())?,
                })
            })?;
            Ok(TopicMeta {
                error_code,
                name,
                is_internal,
                partitions,
            })
        })?;
        Ok(MetadataAnswer {
            brokers,
            cluster_id,
            controller_id,
            topics,
        })
    }
}

// ---- results of the topic admin calls ----

/// Per-topic result of CreateTopics, DeleteTopics, CreatePartitions.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicResult {
    pub name: String,
    pub error_code: i16,
    pub error_message: Option<String>,
}

/// CreateTopics v4.
pub struct CreateTopics;

impl Api for CreateTopics {
    type Request = m::CreateTopicsRequest;
    type Response = Vec<TopicResult>;
    const KEY: ApiKey = ApiKey::CreateTopics;
    const VERSION: i16 = 4;
    const NAME: &'static str = "CreateTopics";
    fn decode(r: &mut Reader) -> Result<Vec<TopicResult>> {
        let _throttle = r.i32()?;
        r.array("topics", 6, MAX_SMALL, |r| {
            Ok(TopicResult {
                name: r.string("topic name")?,
                error_code: r.i16()?,
                error_message: r.nullable_string("error message")?,
            })
        })
    }
}

/// DeleteTopics v3.
pub struct DeleteTopics;

impl Api for DeleteTopics {
    type Request = m::DeleteTopicsRequest;
    type Response = Vec<TopicResult>;
    const KEY: ApiKey = ApiKey::DeleteTopics;
    const VERSION: i16 = 3;
    const NAME: &'static str = "DeleteTopics";
    fn decode(r: &mut Reader) -> Result<Vec<TopicResult>> {
        let _throttle = r.i32()?;
        r.array("topics", 4, MAX_SMALL, |r| {
            Ok(TopicResult {
                name: r.string("topic name")?,
                error_code: r.i16()?,
                error_message: None,
            })
        })
    }
}

/// CreatePartitions v1.
pub struct CreatePartitions;

impl Api for CreatePartitions {
    type Request = m::CreatePartitionsRequest;
    type Response = Vec<TopicResult>;
    const KEY: ApiKey = ApiKey::CreatePartitions;
    const VERSION: i16 = 1;
    const NAME: &'static str = "CreatePartitions";
    fn decode(r: &mut Reader) -> Result<Vec<TopicResult>> {
        let _throttle = r.i32()?;
        r.array("topics", 6, MAX_SMALL, |r| {
            Ok(TopicResult {
                name: r.string("topic name")?,
                error_code: r.i16()?,
                error_message: r.nullable_string("error message")?,
            })
        })
    }
}

// ---- configs ----

/// Kafka's resource type of a topic in the config APIs.
pub const RESOURCE_TOPIC: i8 = 2;

/// DescribeConfigs v1.
pub struct DescribeConfigs;

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigResource {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub resource_type: i8,
    pub name: String,
    pub configs: Vec<ConfigEntry>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub read_only: bool,
    /// Kafka's ConfigSource: 1 = set on the topic, 5 = default, ...
    pub source: i8,
    pub is_sensitive: bool,
}

/// ConfigSource of a topic override.
pub const SOURCE_TOPIC: i8 = 1;

impl Api for DescribeConfigs {
    type Request = m::DescribeConfigsRequest;
    type Response = Vec<ConfigResource>;
    const KEY: ApiKey = ApiKey::DescribeConfigs;
    const VERSION: i16 = 1;
    const NAME: &'static str = "DescribeConfigs";
    fn decode(r: &mut Reader) -> Result<Vec<ConfigResource>> {
        let _throttle = r.i32()?;
        r.array("resources", 11, MAX_SMALL, |r| {
            let error_code = r.i16()?;
            let error_message = r.nullable_string("error message")?;
            let resource_type = r.i8()?;
            let name = r.string("resource name")?;
            let configs = r.array("configs", 11, MAX_SMALL, |r| {
                let entry = ConfigEntry {
                    name: r.string("config name")?,
                    value: r.nullable_string("config value")?,
                    read_only: r.bool()?,
                    source: r.i8()?,
                    is_sensitive: r.bool()?,
                };
                let n = r.count("synonyms", 5, MAX_SMALL)?;
                for _ in 0..n {
                    r.string("synonym name")?;
                    r.nullable_string("synonym value")?;
                    r.i8()?;
                }
                Ok(entry)
            })?;
            Ok(ConfigResource {
                error_code,
                error_message,
                resource_type,
                name,
                configs,
            })
        })
    }
}

/// IncrementalAlterConfigs v0.
pub struct IncrementalAlterConfigs;

/// Per-resource result of IncrementalAlterConfigs.
#[derive(Debug, Clone, PartialEq)]
pub struct AlterResult {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub resource_type: i8,
    pub name: String,
}

/// IncrementalAlterConfigs operations.
pub const OP_SET: i8 = 0;
pub const OP_DELETE: i8 = 1;

impl Api for IncrementalAlterConfigs {
    type Request = m::IncrementalAlterConfigsRequest;
    type Response = Vec<AlterResult>;
    const KEY: ApiKey = ApiKey::IncrementalAlterConfigs;
    const VERSION: i16 = 0;
    const NAME: &'static str = "IncrementalAlterConfigs";
    fn decode(r: &mut Reader) -> Result<Vec<AlterResult>> {
        let _throttle = r.i32()?;
        r.array("resources", 7, MAX_SMALL, |r| {
            Ok(AlterResult {
                error_code: r.i16()?,
                error_message: r.nullable_string("error message")?,
                resource_type: r.i8()?,
                name: r.string("resource name")?,
            })
        })
    }
}

// ---- data ----

/// Produce v8 (record errors and an error message per partition).
pub struct Produce;

#[derive(Debug, Clone, PartialEq)]
pub struct ProduceAnswer {
    pub topics: Vec<ProduceTopic>,
    pub throttle_time_ms: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProduceTopic {
    pub name: String,
    pub partitions: Vec<ProducePartition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProducePartition {
    pub index: i32,
    pub error_code: i16,
    pub base_offset: i64,
    pub error_message: Option<String>,
}

impl Api for Produce {
    type Request = m::ProduceRequest;
    type Response = ProduceAnswer;
    const KEY: ApiKey = ApiKey::Produce;
    const VERSION: i16 = 8;
    const NAME: &'static str = "Produce";
    const MAX_RESPONSE: usize = 1 << 20;
    fn decode(r: &mut Reader) -> Result<ProduceAnswer> {
        let topics = r.array("topics", 6, MAX_SMALL, |r| {
            let name = r.string("topic name")?;
            let partitions = r.array("partitions", 36, MAX_PARTITIONS, |r| {
                let index = r.i32()?;
                let error_code = r.i16()?;
                let base_offset = r.i64()?;
                let _log_append_time = r.i64()?;
                let _log_start_offset = r.i64()?;
                let n = r.count("record errors", 6, MAX_SMALL)?;
                let mut first_record_error = None;
                for _ in 0..n {
                    let _batch_index = r.i32()?;
                    let msg = r.nullable_string("record error message")?;
                    first_record_error = first_record_error.or(msg);
                }
                let error_message = r.nullable_string("error message")?.or(first_record_error);
                Ok(ProducePartition {
                    index,
                    error_code,
                    base_offset,
                    error_message,
                })
            })?;
            Ok(ProduceTopic { name, partitions })
        })?;
        let throttle_time_ms = r.i32()?;
        Ok(ProduceAnswer {
            topics,
            throttle_time_ms,
        })
    }
}

/// Fetch v4 (read_committed/uncommitted, record sets as stored).
pub struct Fetch;

#[derive(Debug, Clone, PartialEq)]
pub struct FetchAnswer {
    pub throttle_time_ms: i32,
    pub topics: Vec<FetchTopic>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FetchTopic {
    pub name: String,
    pub partitions: Vec<FetchPartition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FetchPartition {
    pub index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    /// The record batches, a slice of the response frame.
    pub records: Bytes,
}

impl Api for Fetch {
    type Request = m::FetchRequest;
    type Response = FetchAnswer;
    const KEY: ApiKey = ApiKey::Fetch;
    const VERSION: i16 = 4;
    const NAME: &'static str = "Fetch";
    /// The connection's own limit applies (`Options::max_response_bytes`).
    const MAX_RESPONSE: usize = usize::MAX;
    fn decode(r: &mut Reader) -> Result<FetchAnswer> {
        let throttle_time_ms = r.i32()?;
        let topics = r.array("topics", 6, MAX_SMALL, |r| {
            let name = r.string("topic name")?;
            let partitions = r.array("partitions", 30, MAX_PARTITIONS, |r| {
                let index = r.i32()?;
                let error_code = r.i16()?;
                let high_watermark = r.i64()?;
                let _last_stable_offset = r.i64()?;
                let n = r.count("aborted transactions", 16, MAX_SMALL)?;
                for _ in 0..n {
                    r.i64()?;
                    r.i64()?;
                }
                let records = r.nullable_bytes("records")?.unwrap_or_default();
                Ok(FetchPartition {
                    index,
                    error_code,
                    high_watermark,
                    records,
                })
            })?;
            Ok(FetchTopic { name, partitions })
        })?;
        Ok(FetchAnswer {
            throttle_time_ms,
            topics,
        })
    }
}

/// ListOffsets v1 (one offset per partition, by timestamp: -2 earliest,
/// -1 latest).
pub struct ListOffsets;

pub const EARLIEST: i64 = -2;
pub const LATEST: i64 = -1;

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionOffset {
    pub index: i32,
    pub error_code: i16,
    pub offset: i64,
}

impl Api for ListOffsets {
    type Request = m::ListOffsetsRequest;
    type Response = Vec<(String, Vec<PartitionOffset>)>;
    const KEY: ApiKey = ApiKey::ListOffsets;
    const VERSION: i16 = 1;
    const NAME: &'static str = "ListOffsets";
    fn decode(r: &mut Reader) -> Result<Self::Response> {
        r.array("topics", 6, MAX_SMALL, |r| {
            let name = r.string("topic name")?;
            let partitions = r.array("partitions", 22, MAX_PARTITIONS, |r| {
                let index = r.i32()?;
                let error_code = r.i16()?;
                let _timestamp = r.i64()?;
                let offset = r.i64()?;
                Ok(PartitionOffset {
                    index,
                    error_code,
                    offset,
                })
            })?;
            Ok((name, partitions))
        })
    }
}

mod security;
pub use security::*;

#[cfg(test)]
mod tests;
