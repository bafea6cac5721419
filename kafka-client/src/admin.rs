//! Typed calls on a [`Connection`]: topic metadata, create, delete, add
//! partitions, describe and alter configs, list offsets; and the produce
//! and fetch requests the load generator sends. Each checks that the answer
//! is about what was asked and turns a Kafka error code into
//! [`Error::Broker`] with what was being done.

use crate::api::{self, *};
use crate::connection::Connection;
use crate::error::{Error, KafkaError, Result};
use bytes::Bytes;
use kafka_protocol::messages::{self as m, BrokerId, TopicName};
use kafka_protocol::protocol::StrBytes;

/// How long the broker may take over an admin request.
const ADMIN_TIMEOUT_MS: i32 = 30_000;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn topic(v: &str) -> TopicName {
    TopicName(s(v))
}

fn broker(what: String, code: i16, message: Option<String>) -> Result<()> {
    KafkaError::check(code, message).map_err(|error| Error::Broker { what, error })
}

/// The one result about `name` in an answer, or an error saying it is
/// missing.
fn result_for<'a, T>(
    results: &'a [T],
    name: &str,
    get: impl Fn(&T) -> &str,
    api: &str,
) -> Result<&'a T> {
    results
        .iter()
        .find(|r| get(r) == name)
        .ok_or_else(|| Error::Invalid(format!("the {api} answer does not mention topic '{name}'")))
}

impl Connection {
    /// Metadata of `topics` (all topics for `None`); never creates one.
    pub async fn metadata(&mut self, topics: Option<&[&str]>) -> Result<MetadataAnswer> {
        let req = m::MetadataRequest::default()
            .with_topics(topics.map(|t| {
                t.iter()
                    .map(|n| {
                        m::metadata_request::MetadataRequestTopic::default()
                            .with_name(Some(topic(n)))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(false);
        self.call::<Metadata>(&req).await
    }

    /// The metadata of one topic; UNKNOWN_TOPIC_OR_PARTITION (and any other
    /// topic error) as [`Error::Broker`].
    pub async fn topic(&mut self, name: &str) -> Result<TopicMeta> {
        let md = self.metadata(Some(&[name])).await?;
        let t = result_for(&md.topics, name, |t| &t.name, "Metadata")?;
        broker(format!("topic '{name}'"), t.error_code, None)?;
        Ok(t.clone())
    }

    /// Creates `name` with `partitions` partitions (replication factor 1,
    /// the broker's default with -1) and these config overrides.
    pub async fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        configs: &[(String, String)],
    ) -> Result<()> {
        use m::create_topics_request::{CreatableTopic, CreatableTopicConfig};
        let req = m::CreateTopicsRequest::default()
            .with_timeout_ms(ADMIN_TIMEOUT_MS)
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic(name))
                .with_num_partitions(partitions)
                .with_replication_factor(-1)
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| {
                            CreatableTopicConfig::default()
                                .with_name(s(k))
                                .with_value(Some(s(v)))
                        })
                        .collect(),
                )]);
        let res = self.call::<CreateTopics>(&req).await?;
        let r = result_for(&res, name, |r| &r.name, "CreateTopics")?;
        broker(
            format!("create topic '{name}'"),
            r.error_code,
            r.error_message.clone(),
        )
    }

    /// Deletes `name`.
    pub async fn delete_topic(&mut self, name: &str) -> Result<()> {
        let req = m::DeleteTopicsRequest::default()
            .with_timeout_ms(ADMIN_TIMEOUT_MS)
            .with_topic_names(vec![topic(name)]);
        let res = self.call::<DeleteTopics>(&req).await?;
        let r = result_for(&res, name, |r| &r.name, "DeleteTopics")?;
        broker(format!("delete topic '{name}'"), r.error_code, None)
    }

    /// Raises the partition count of `name` to `count`.
    pub async fn create_partitions(&mut self, name: &str, count: i32) -> Result<()> {
        let req = m::CreatePartitionsRequest::default()
            .with_timeout_ms(ADMIN_TIMEOUT_MS)
            .with_topics(vec![
                m::create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(topic(name))
                    .with_count(count)
                    .with_assignments(None),
            ]);
        let res = self.call::<CreatePartitions>(&req).await?;
        let r = result_for(&res, name, |r| &r.name, "CreatePartitions")?;
        broker(
            format!("add partitions to '{name}'"),
            r.error_code,
            r.error_message.clone(),
        )
    }

    /// Every config of topic `name` (overrides have source
    /// [`api::SOURCE_TOPIC`]).
    pub async fn describe_topic_configs(&mut self, name: &str) -> Result<Vec<ConfigEntry>> {
        let req = m::DescribeConfigsRequest::default()
            .with_resources(vec![
                m::describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(api::RESOURCE_TOPIC)
                    .with_resource_name(s(name))
                    .with_configuration_keys(None),
            ])
            .with_include_synonyms(false);
        let res = self.call::<DescribeConfigs>(&req).await?;
        let r = result_for(&res, name, |r| &r.name, "DescribeConfigs")?;
        broker(
            format!("describe the configs of '{name}'"),
            r.error_code,
            r.error_message.clone(),
        )?;
        Ok(r.configs.clone())
    }

    /// Sets `set` and removes `delete` (back to the default) on topic
    /// `name`, leaving its other overrides alone.
    pub async fn alter_topic_configs(
        &mut self,
        name: &str,
        set: &[(String, String)],
        delete: &[String],
    ) -> Result<()> {
        use m::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let configs = set
            .iter()
            .map(|(k, v)| {
                AlterableConfig::default()
                    .with_name(s(k))
                    .with_config_operation(api::OP_SET)
                    .with_value(Some(s(v)))
            })
            .chain(delete.iter().map(|k| {
                AlterableConfig::default()
                    .with_name(s(k))
                    .with_config_operation(api::OP_DELETE)
                    .with_value(None)
            }))
            .collect();
        let req = m::IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(api::RESOURCE_TOPIC)
                .with_resource_name(s(name))
                .with_configs(configs),
        ]);
        let res = self.call::<IncrementalAlterConfigs>(&req).await?;
        let r = result_for(&res, name, |r| &r.name, "IncrementalAlterConfigs")?;
        broker(
            format!("alter the configs of '{name}'"),
            r.error_code,
            r.error_message.clone(),
        )
    }

    /// The offset of each of `partitions` of `topic` at `at` ([`EARLIEST`]
    /// or [`LATEST`]), in the order asked.
    pub async fn list_offsets(
        &mut self,
        name: &str,
        partitions: &[i32],
        at: i64,
    ) -> Result<Vec<i64>> {
        use m::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
        let req = m::ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic(name))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(*p)
                                .with_timestamp(at)
                        })
                        .collect(),
                )]);
        let res = self.call::<ListOffsets>(&req).await?;
        let (_, got) = result_for(&res, name, |(n, _)| n, "ListOffsets")?;
        partitions
            .iter()
            .map(|p| {
                let r = got.iter().find(|r| r.index == *p).ok_or_else(|| {
                    Error::Invalid(format!(
                        "the ListOffsets answer lacks partition {p} of '{name}'"
                    ))
                })?;
                broker(
                    format!("offsets of '{name}' partition {p}"),
                    r.error_code,
                    None,
                )?;
                Ok(r.offset)
            })
            .collect()
    }
}

/// A Produce request carrying one batch for one partition.
pub fn produce_request(
    name: &str,
    partition: i32,
    acks: i16,
    timeout_ms: i32,
    batch: Bytes,
) -> m::ProduceRequest {
    use m::produce_request::{PartitionProduceData, TopicProduceData};
    m::ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic(name))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])])
}

/// A Fetch request for `partitions` of `name` as (partition, offset).
pub fn fetch_request(
    name: &str,
    partitions: &[(i32, i64)],
    max_wait_ms: i32,
    max_bytes: i32,
    partition_max_bytes: i32,
) -> m::FetchRequest {
    use m::fetch_request::{FetchPartition, FetchTopic};
    m::FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_isolation_level(0)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic(name))
            .with_partitions(
                partitions
                    .iter()
                    .map(|(p, o)| {
                        FetchPartition::default()
                            .with_partition(*p)
                            .with_fetch_offset(*o)
                            .with_partition_max_bytes(partition_max_bytes)
                    })
                    .collect(),
            )])
}
