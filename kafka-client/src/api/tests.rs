//! Each decoder against the `kafka-protocol` crate's encoder of the same
//! response at the same version, and the hostile cases.

use super::*;
use crate::decode::DecodeError;
use bytes::BytesMut;
use kafka_protocol::messages::{BrokerId, TopicName};
use kafka_protocol::protocol::StrBytes;

fn st(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn encode<T: Encodable>(msg: &T, version: i16) -> Reader {
    let mut buf = BytesMut::new();
    msg.encode(&mut buf, version).unwrap();
    Reader::new(buf.freeze())
}

fn decode<A: Api>(msg: &impl Encodable) -> A::Response {
    let mut r = encode(msg, A::VERSION);
    let out = A::decode(&mut r).unwrap();
    assert_eq!(r.remaining(), 0, "{} left bytes", A::NAME);
    out
}

#[test]
fn versions_are_non_flexible_and_known_to_the_encoder() {
    fn check<A: Api>() {
        let range = A::KEY.valid_versions();
        assert!(
            range.min <= A::VERSION && A::VERSION <= range.max,
            "{}",
            A::NAME
        );
        assert_eq!(A::KEY.response_header_version(A::VERSION), 0, "{}", A::NAME);
        assert_eq!(A::KEY.request_header_version(A::VERSION), 1, "{}", A::NAME);
    }
    check::<ApiVersions>();
    check::<Metadata>();
    check::<CreateTopics>();
    check::<DeleteTopics>();
    check::<CreatePartitions>();
    check::<DescribeConfigs>();
    check::<IncrementalAlterConfigs>();
    check::<Produce>();
    check::<Fetch>();
    check::<ListOffsets>();
    check::<SaslHandshake>();
    check::<SaslAuthenticate>();
    check::<CreateAcls>();
    check::<DescribeAcls>();
    check::<DeleteAcls>();
    // KIP-554's APIs have no non-flexible version.
    for (key, v) in [
        (
            DescribeUserScramCredentials::KEY,
            DescribeUserScramCredentials::VERSION,
        ),
        (
            AlterUserScramCredentials::KEY,
            AlterUserScramCredentials::VERSION,
        ),
    ] {
        assert_eq!(key.response_header_version(v), 1);
        assert_eq!(key.request_header_version(v), 2);
    }
}

#[test]
fn api_versions() {
    use m::api_versions_response::ApiVersion;
    let resp = m::ApiVersionsResponse::default().with_api_keys(vec![
        ApiVersion::default()
            .with_api_key(3)
            .with_min_version(0)
            .with_max_version(12),
        ApiVersion::default()
            .with_api_key(0)
            .with_min_version(3)
            .with_max_version(10),
    ]);
    let got = decode::<ApiVersions>(&resp);
    assert_eq!(got.error_code, 0);
    assert_eq!(got.apis, vec![(3, 0, 12), (0, 3, 10)]);
}

#[test]
fn metadata() {
    use m::metadata_response::*;
    let resp = m::MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(1))
            .with_host(st("203.0.113.10"))
            .with_port(9092)])
        .with_cluster_id(Some(st("skiff")))
        .with_controller_id(BrokerId(1))
        .with_topics(vec![
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(st("orders"))))
                .with_partitions(vec![
                    MetadataResponsePartition::default()
                        .with_partition_index(0)
                        .with_leader_id(BrokerId(1))
                        .with_replica_nodes(vec![BrokerId(1)])
                        .with_isr_nodes(vec![BrokerId(1)]),
                    MetadataResponsePartition::default()
                        .with_partition_index(1)
                        .with_leader_id(BrokerId(1)),
                ]),
            MetadataResponseTopic::default()
                .with_error_code(3)
                .with_name(Some(TopicName(st("nope")))),
        ]);
    let got = decode::<Metadata>(&resp);
    assert_eq!(
        got.brokers,
        vec![BrokerMeta {
            node_id: 1,
            host: "203.0.113.10".into(),
            port: 9092
        }]
    );
    assert_eq!(got.cluster_id.as_deref(), Some("skiff"));
    assert_eq!(got.topics.len(), 2);
    assert_eq!(got.topics[0].name, "orders");
    assert_eq!(
        got.topics[0].partitions[0],
        PartitionMeta {
            error_code: 0,
            index: 0,
            leader: 1,
            replicas: vec![1],
            isr: vec![1]
        }
    );
    assert_eq!(got.topics[0].partitions[1].index, 1);
    assert_eq!(got.topics[1].error_code, 3);
    assert!(got.topics[1].partitions.is_empty());
}

#[test]
fn topic_results() {
    use m::create_topics_response::CreatableTopicResult;
    let resp =
        m::CreateTopicsResponse::default().with_topics(vec![CreatableTopicResult::default()
            .with_name(TopicName(st("t")))
            .with_error_code(40)
            .with_error_message(Some(st("retention.ms: bad")))]);
    assert_eq!(
        decode::<CreateTopics>(&resp),
        vec![TopicResult {
            name: "t".into(),
            error_code: 40,
            error_message: Some("retention.ms: bad".into())
        }]
    );

    use m::delete_topics_response::DeletableTopicResult;
    let resp =
        m::DeleteTopicsResponse::default().with_responses(vec![DeletableTopicResult::default()
            .with_name(Some(TopicName(st("gone"))))
            .with_error_code(3)]);
    assert_eq!(
        decode::<DeleteTopics>(&resp),
        vec![TopicResult {
            name: "gone".into(),
            error_code: 3,
            error_message: None
        }]
    );

    use m::create_partitions_response::CreatePartitionsTopicResult;
    let resp = m::CreatePartitionsResponse::default().with_results(vec![
        CreatePartitionsTopicResult::default()
            .with_name(TopicName(st("t")))
            .with_error_code(37)
            .with_error_message(Some(st("fewer"))),
    ]);
    assert_eq!(decode::<CreatePartitions>(&resp)[0].error_code, 37);
}

#[test]
fn configs() {
    use m::describe_configs_response::*;
    let resp =
        m::DescribeConfigsResponse::default().with_results(vec![DescribeConfigsResult::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(st("t"))
            .with_configs(vec![
                DescribeConfigsResourceResult::default()
                    .with_name(st("retention.ms"))
                    .with_value(Some(st("1000")))
                    .with_config_source(SOURCE_TOPIC)
                    .with_synonyms(vec![DescribeConfigsSynonym::default()
                        .with_name(st("retention.ms"))
                        .with_value(Some(st("1000")))
                        .with_source(1)]),
                DescribeConfigsResourceResult::default()
                    .with_name(st("cleanup.policy"))
                    .with_value(Some(st("delete")))
                    .with_config_source(5)
                    .with_read_only(true),
            ])]);
    let got = decode::<DescribeConfigs>(&resp);
    assert_eq!(got[0].name, "t");
    assert_eq!(
        got[0].configs,
        vec![
            ConfigEntry {
                name: "retention.ms".into(),
                value: Some("1000".into()),
                read_only: false,
                source: SOURCE_TOPIC,
                is_sensitive: false
            },
            ConfigEntry {
                name: "cleanup.policy".into(),
                value: Some("delete".into()),
                read_only: true,
                source: 5,
                is_sensitive: false
            }
        ]
    );

    use m::incremental_alter_configs_response::AlterConfigsResourceResponse;
    let resp = m::IncrementalAlterConfigsResponse::default().with_responses(vec![
        AlterConfigsResourceResponse::default()
            .with_error_code(40)
            .with_error_message(Some(st("no")))
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(st("t")),
    ]);
    assert_eq!(
        decode::<IncrementalAlterConfigs>(&resp),
        vec![AlterResult {
            error_code: 40,
            error_message: Some("no".into()),
            resource_type: RESOURCE_TOPIC,
            name: "t".into()
        }]
    );
}

#[test]
fn produce_fetch_offsets() {
    use m::produce_response::*;
    let resp = m::ProduceResponse::default()
        .with_responses(vec![TopicProduceResponse::default()
            .with_name(TopicName(st("t")))
            .with_partition_responses(vec![
                PartitionProduceResponse::default()
                    .with_index(0)
                    .with_base_offset(42),
                PartitionProduceResponse::default()
                    .with_index(1)
                    .with_error_code(87)
                    .with_record_errors(vec![BatchIndexAndErrorMessage::default()
                        .with_batch_index(0)
                        .with_batch_index_error_message(Some(st("bad record")))]),
            ])])
        .with_throttle_time_ms(5);
    let got = decode::<Produce>(&resp);
    assert_eq!(got.throttle_time_ms, 5);
    let p = &got.topics[0].partitions;
    assert_eq!((p[0].index, p[0].error_code, p[0].base_offset), (0, 0, 42));
    assert_eq!(p[1].error_code, 87);
    assert_eq!(p[1].error_message.as_deref(), Some("bad record"));

    use m::fetch_response::*;
    let records = Bytes::from_static(b"batches");
    let resp = m::FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
        .with_topic(TopicName(st("t")))
        .with_partitions(vec![
            PartitionData::default()
                .with_partition_index(0)
                .with_high_watermark(10)
                .with_aborted_transactions(Some(vec![AbortedTransaction::default()]))
                .with_records(Some(records.clone())),
            PartitionData::default()
                .with_partition_index(1)
                .with_error_code(1),
        ])]);
    let got = decode::<Fetch>(&resp);
    let p = &got.topics[0].partitions;
    assert_eq!(p[0].high_watermark, 10);
    assert_eq!(p[0].records, records);
    assert_eq!(p[1].error_code, 1);
    assert!(p[1].records.is_empty());

    use m::list_offsets_response::*;
    let resp =
        m::ListOffsetsResponse::default().with_topics(vec![ListOffsetsTopicResponse::default()
            .with_name(TopicName(st("t")))
            .with_partitions(vec![ListOffsetsPartitionResponse::default()
                .with_partition_index(2)
                .with_offset(77)])]);
    assert_eq!(
        decode::<ListOffsets>(&resp),
        vec![(
            "t".to_string(),
            vec![PartitionOffset {
                index: 2,
                error_code: 0,
                offset: 77
            }]
        )]
    );
}

#[test]
fn hostile_counts_are_errors_not_allocations() {
    // Metadata: throttle, then 2^31-1 brokers in a few bytes, then 5,000.
    let body = [0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0];
    let mut r = Reader::new(Bytes::copy_from_slice(&body));
    assert!(matches!(
        Metadata::decode(&mut r),
        Err(DecodeError::CountAboveLimit {
            what: "brokers",
            ..
        })
    ));
    let body = [0, 0, 0, 0, 0, 0, 0x13, 0x88, 0, 0];
    let mut r = Reader::new(Bytes::copy_from_slice(&body));
    assert!(matches!(
        Metadata::decode(&mut r),
        Err(DecodeError::CountExceedsBytes {
            what: "brokers",
            ..
        })
    ));
    // Topics above the maximum, even if the bytes were there.
    let mut body = vec![0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 1];
    body.extend_from_slice(&((MAX_TOPICS + 1) as i32).to_be_bytes());
    body.resize(body.len() + 9 * (MAX_TOPICS + 1), 0);
    let mut r = Reader::new(Bytes::from(body));
    assert!(matches!(
        Metadata::decode(&mut r),
        Err(DecodeError::CountAboveLimit { what: "topics", .. })
    ));
    // A record set claiming 2 GB.
    use bytes::BufMut;
    let mut b = BytesMut::new();
    b.put_i32(0); // throttle
    b.put_i32(1); // topics
    b.put_i16(1);
    b.put_u8(b't');
    b.put_i32(1); // partitions
    b.put_i32(0);
    b.put_i16(0);
    b.put_i64(0);
    b.put_i64(0);
    b.put_i32(-1); // aborted transactions: null
    b.put_i32(i32::MAX); // records
    b.put_u8(0);
    let mut r = Reader::new(b.freeze());
    assert_eq!(
        Fetch::decode(&mut r),
        Err(DecodeError::Truncated {
            needed: i32::MAX as usize,
            left: 1
        })
    );
}

#[test]
fn sasl() {
    let resp = m::SaslHandshakeResponse::default()
        .with_error_code(33)
        .with_mechanisms(vec![st("SCRAM-SHA-512"), st("PLAIN")]);
    let got = decode::<SaslHandshake>(&resp);
    assert_eq!(got.error_code, 33);
    assert_eq!(got.mechanisms, vec!["SCRAM-SHA-512", "PLAIN"]);
    let resp = m::SaslAuthenticateResponse::default()
        .with_error_code(58)
        .with_error_message(Some(st("bad")))
        .with_auth_bytes(Bytes::from_static(b"v=xyz"))
        .with_session_lifetime_ms(5);
    let got = decode::<SaslAuthenticate>(&resp);
    assert_eq!(
        (
            got.error_code,
            got.error_message.as_deref(),
            &got.auth_bytes[..],
            got.session_lifetime_ms
        ),
        (58, Some("bad"), &b"v=xyz"[..], 5)
    );
}

#[test]
fn acls() {
    use m::create_acls_response::AclCreationResult;
    let resp = m::CreateAclsResponse::default().with_results(vec![
        AclCreationResult::default(),
        AclCreationResult::default()
            .with_error_code(42)
            .with_error_message(Some(st("no"))),
    ]);
    let got = decode::<CreateAcls>(&resp);
    assert_eq!(got[1].error_code, 42);
    assert_eq!(got[1].error_message.as_deref(), Some("no"));

    use m::describe_acls_response::{AclDescription, DescribeAclsResource};
    let acl = |op| {
        AclDescription::default()
            .with_principal(st("User:app"))
            .with_host(st("*"))
            .with_operation(op)
            .with_permission_type(3)
    };
    let resp =
        m::DescribeAclsResponse::default().with_resources(vec![DescribeAclsResource::default()
            .with_resource_type(2)
            .with_resource_name(st("orders."))
            .with_pattern_type(4)
            .with_acls(vec![acl(4), acl(8)])]);
    let got = decode::<DescribeAcls>(&resp);
    assert_eq!(got.bindings.len(), 2);
    assert_eq!(
        got.bindings[1],
        AclBinding {
            resource_type: 2,
            resource_name: "orders.".into(),
            pattern_type: 4,
            principal: "User:app".into(),
            host: "*".into(),
            operation: 8,
            permission: 3,
        }
    );

    use m::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
    let matching = |code| {
        DeleteAclsMatchingAcl::default()
            .with_error_code(code)
            .with_resource_type(3)
            .with_resource_name(st("g"))
            .with_pattern_type(3)
            .with_principal(st("User:app"))
            .with_host(st("*"))
            .with_operation(3)
            .with_permission_type(3)
    };
    let resp = m::DeleteAclsResponse::default().with_filter_results(vec![
        DeleteAclsFilterResult::default().with_matching_acls(vec![matching(0), matching(0)]),
        DeleteAclsFilterResult::default().with_matching_acls(vec![matching(0), matching(31)]),
    ]);
    let got = decode::<DeleteAcls>(&resp);
    assert_eq!((got[0].error_code, got[0].deleted.len()), (0, 2));
    assert_eq!((got[1].error_code, got[1].deleted.len()), (31, 1));
}

#[test]
fn scram_credentials() {
    use m::describe_user_scram_credentials_response::{
        CredentialInfo, DescribeUserScramCredentialsResult,
    };
    let resp = m::DescribeUserScramCredentialsResponse::default().with_results(vec![
        DescribeUserScramCredentialsResult::default()
            .with_user(st("app"))
            .with_credential_infos(vec![CredentialInfo::default()
                .with_mechanism(2)
                .with_iterations(8192)]),
        DescribeUserScramCredentialsResult::default()
            .with_user(st("ghost"))
            .with_error_code(91)
            .with_error_message(Some(st("no such user"))),
    ]);
    let got = decode::<DescribeUserScramCredentials>(&resp);
    assert_eq!(got.users[0].user, "app");
    assert_eq!(got.users[0].credentials, vec![(2, 8192)]);
    assert_eq!(got.users[1].error_code, 91);
    assert_eq!(got.users[1].error_message.as_deref(), Some("no such user"));

    use m::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
    let resp = m::AlterUserScramCredentialsResponse::default().with_results(vec![
        AlterUserScramCredentialsResult::default().with_user(st("app")),
        AlterUserScramCredentialsResult::default()
            .with_user(st("b"))
            .with_error_code(93),
    ]);
    let got = decode::<AlterUserScramCredentials>(&resp);
    assert_eq!(got.len(), 2);
    assert_eq!((got[1].user.as_str(), got[1].error_code), ("b", 93));
}

#[test]
fn acl_counts_are_bounded_across_resources() {
    // Two resources each claiming MAX_ACLS bindings: refused before the
    // second is read, whatever the bytes.
    let mut b = BytesMut::new();
    b.extend_from_slice(&0i32.to_be_bytes());
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&2i32.to_be_bytes());
    for _ in 0..2 {
        b.extend_from_slice(&[2, 0, 1, b'x', 3]);
        b.extend_from_slice(&(MAX_ACLS as i32).to_be_bytes());
    }
    let mut r = Reader::new(b.freeze());
    assert!(matches!(
        DescribeAcls::decode(&mut r),
        Err(DecodeError::CountExceedsBytes { .. } | DecodeError::CountAboveLimit { .. })
    ));
}
