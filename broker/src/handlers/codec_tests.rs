//! Differential tests of Skiff's request decoders against the `kafka-protocol`
//! crate's encoders: every served API at every served version is encoded by
//! the crate (as a client would) and decoded by Skiff, and the fields Skiff
//! uses must come out the same.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::*;
use crate::protocol::Reader;

pub(super) fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// The request body as the crate encodes it, in a reader set for Skiff.
pub(super) fn body<R: Encodable>(api: ApiKey, version: i16, req: &R) -> Reader {
    let mut b = BytesMut::new();
    req.encode(&mut b, version).unwrap();
    Reader::new(b.freeze(), versions::is_flexible(api, version))
}

/// The whole frame body (header + request), for `decode_request`.
pub(super) fn whole<R: Encodable>(api: ApiKey, version: i16, req: &R) -> Bytes {
    let mut b = BytesMut::new();
    kafka_protocol::messages::RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(s("c")))
        .encode(&mut b, api.request_header_version(version))
        .unwrap();
    req.encode(&mut b, version).unwrap();
    b.freeze()
}

/// The served versions the `kafka-protocol` crate can encode requests of
/// (the pre-4.0 ones are tested with hand-made frames in tests/legacy.rs).
pub(super) fn range(api: ApiKey) -> std::ops::RangeInclusive<i16> {
    let sup = versions::supported(api).unwrap();
    let min = if api == ApiKey::Produce { 3 } else { sup.min };
    min.max(api.valid_versions().min)..=sup.max
}

#[test]
fn produce_all_versions() {
    for v in range(ApiKey::Produce) {
        let records = Bytes::from_static(b"0123456789");
        let req = ProduceRequest::default()
            .with_transactional_id(None)
            .with_acks(-1)
            .with_timeout_ms(1234)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(TopicName(s("orders")))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(3)
                        .with_records(Some(records.clone())),
                ])]);
        let got = produce::ProduceRequest::decode(&mut body(ApiKey::Produce, v, &req), v).unwrap();
        assert_eq!(got.acks, -1, "v{v}");
        assert_eq!(got.transactional_id, None);
        assert_eq!(got.topics[0].0, "orders");
        assert_eq!(got.topics[0].1[0], (3, Some(records)));
        decode_request(whole(ApiKey::Produce, v, &req)).unwrap();
    }
}

#[test]
fn fetch_all_versions() {
    for v in range(ApiKey::Fetch) {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![fetch_request::FetchTopic::default()
                .with_topic(TopicName(s("orders")))
                .with_partitions(vec![fetch_request::FetchPartition::default()
                    .with_partition(2)
                    .with_fetch_offset(77)
                    .with_partition_max_bytes(4096)])])
            .with_forgotten_topics_data(vec![])
            .with_rack_id(s(""));
        let got = fetch::FetchRequest::decode(&mut body(ApiKey::Fetch, v, &req), v).unwrap();
        assert_eq!(
            (got.max_wait_ms, got.min_bytes, got.max_bytes),
            (500, 1, 1 << 20),
            "v{v}"
        );
        let p = &got.topics[0].1[0];
        assert_eq!((p.index, p.fetch_offset, p.max_bytes), (2, 77, 4096));
        assert_eq!(got.topics[0].0, "orders");
    }
}

#[test]
fn metadata_all_versions() {
    for v in range(ApiKey::Metadata) {
        let req = MetadataRequest::default()
            .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
            )
            .with_name(Some(TopicName(s("a"))))]))
            .with_allow_auto_topic_creation(v < 4);
        let got =
            metadata::MetadataRequest::decode(&mut body(ApiKey::Metadata, v, &req), v).unwrap();
        assert_eq!(got.topics.unwrap()[0].0.as_deref(), Some("a"), "v{v}");
        assert_eq!(got.allow_auto_topic_creation, v < 4, "v{v}");
        if v >= 1 {
            let all = MetadataRequest::default().with_topics(None);
            let got =
                metadata::MetadataRequest::decode(&mut body(ApiKey::Metadata, v, &all), v).unwrap();
            assert!(got.topics.is_none());
        }
    }
}

#[test]
fn list_offsets_all_versions() {
    for v in range(ApiKey::ListOffsets) {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(1)
                        .with_timestamp(-2),
                ])]);
        let got =
            list_offsets::ListOffsetsRequest::decode(&mut body(ApiKey::ListOffsets, v, &req), v)
                .unwrap();
        assert_eq!(got.topics, vec![("t".to_string(), vec![(1, -2)])], "v{v}");
    }
}

#[test]
fn create_topics_all_versions() {
    for v in range(ApiKey::CreateTopics) {
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(100)
            .with_validate_only(true)
            .with_topics(vec![create_topics_request::CreatableTopic::default()
                .with_name(TopicName(s("new")))
                .with_num_partitions(6)
                .with_replication_factor(1)
                .with_configs(vec![
                    create_topics_request::CreatableTopicConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("1000"))),
                ])]);
        let got =
            create_topics::CreateTopicsRequest::decode(&mut body(ApiKey::CreateTopics, v, &req), v)
                .unwrap();
        assert!(got.validate_only);
        let t = &got.topics[0];
        assert_eq!(
            (t.name.as_str(), t.num_partitions, t.replication_factor),
            ("new", 6, 1),
            "v{v}"
        );
        assert_eq!(
            t.configs,
            vec![("retention.ms".to_string(), Some("1000".to_string()))]
        );
    }
}

#[test]
fn delete_topics_all_versions() {
    for v in range(ApiKey::DeleteTopics) {
        let req = if v >= 6 {
            DeleteTopicsRequest::default()
                .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(TopicName(s("gone"))))])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![TopicName(s("gone"))])
        };
        let got =
            delete_topics::DeleteTopicsRequest::decode(&mut body(ApiKey::DeleteTopics, v, &req), v)
                .unwrap();
        assert_eq!(got.topics[0].0.as_deref(), Some("gone"), "v{v}");
    }
}

#[test]
fn configs_and_partitions_and_the_rest_all_versions() {
    for v in range(ApiKey::DescribeConfigs) {
        let req = DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("t"))
                .with_configuration_keys(Some(vec![s("retention.ms")])),
        ]);
        let got = describe_configs::DescribeConfigsRequest::decode(
            &mut body(ApiKey::DescribeConfigs, v, &req),
            v,
        )
        .unwrap();
        assert_eq!(
            got.resources[0],
            (2, "t".to_string(), Some(vec!["retention.ms".to_string()])),
            "v{v}"
        );
    }
    for v in range(ApiKey::AlterConfigs) {
        let req = AlterConfigsRequest::default().with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("t"))
                .with_configs(vec![alter_configs_request::AlterableConfig::default()
                    .with_name(s("retention.ms"))
                    .with_value(Some(s("5")))]),
        ]);
        let got = alter_configs::AlterConfigsRequest::decode(
            &mut body(ApiKey::AlterConfigs, v, &req),
            v,
            false,
        )
        .unwrap();
        assert_eq!(
            got.resources[0].configs,
            vec![("retention.ms".to_string(), 0, Some("5".to_string()))],
            "v{v}"
        );
    }
    for v in range(ApiKey::IncrementalAlterConfigs) {
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("t"))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_config_operation(1)
                        .with_value(None),
                ]),
        ]);
        let got = alter_configs::AlterConfigsRequest::decode(
            &mut body(ApiKey::IncrementalAlterConfigs, v, &req),
            v,
            true,
        )
        .unwrap();
        assert_eq!(
            got.resources[0].configs,
            vec![("retention.ms".to_string(), 1, None)],
            "v{v}"
        );
    }
    for v in range(ApiKey::CreatePartitions) {
        let req = CreatePartitionsRequest::default().with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(TopicName(s("t")))
                .with_count(4)
                .with_assignments(None),
        ]);
        let got = create_partitions::CreatePartitionsRequest::decode(
            &mut body(ApiKey::CreatePartitions, v, &req),
            v,
        )
        .unwrap();
        assert_eq!(got.topics, vec![("t".to_string(), 4)], "v{v}");
    }
    for v in range(ApiKey::InitProducerId) {
        let req = InitProducerIdRequest::default().with_transactional_id(None);
        let got = init_producer_id::InitProducerIdRequest::decode(
            &mut body(ApiKey::InitProducerId, v, &req),
            v,
        )
        .unwrap();
        assert_eq!(got.transactional_id, None, "v{v}");
    }
    for v in range(ApiKey::DescribeCluster) {
        decode_request(whole(
            ApiKey::DescribeCluster,
            v,
            &DescribeClusterRequest::default(),
        ))
        .unwrap();
    }
}

#[test]
fn delete_records_all_versions() {
    for v in range(ApiKey::DeleteRecords) {
        let req = DeleteRecordsRequest::default()
            .with_timeout_ms(10)
            .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(2)
                        .with_offset(42),
                ])]);
        let got = delete_records::DeleteRecordsRequest::decode(
            &mut body(ApiKey::DeleteRecords, v, &req),
            v,
        )
        .unwrap();
        assert_eq!(got.topics, vec![("t".to_string(), vec![(2, 42)])], "v{v}");
    }
}

/// Every truncation of a valid request is an error, never a panic.
#[test]
fn every_truncation_of_a_valid_request_is_an_error() {
    let req = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(TopicName(s("new")))
            .with_num_partitions(6)
            .with_replication_factor(1),
    ]);
    for v in range(ApiKey::CreateTopics) {
        let full = whole(ApiKey::CreateTopics, v, &req);
        decode_request(full.clone()).unwrap();
        for cut in 0..full.len() {
            assert!(
                decode_request(full.slice(..cut)).is_err(),
                "v{v} cut at {cut}"
            );
        }
    }
}
