//! `skiff-broker backup` while the broker serves: the copy starts as a broker
//! with the topics and records as of the backup.

use std::sync::Arc;

use crate::common::{batch, TestBroker};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

fn produce_req(records: bytes::Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_transactional_id(None)
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("kept")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_serving_starts_as_a_broker_with_the_data() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let md = MetadataRequest::default()
        .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
        )
        .with_name(Some(TopicName(StrBytes::from_static_str("kept"))))]))
        .with_allow_auto_topic_creation(true);
    let _: MetadataResponse = c.call(ApiKey::Metadata, 12, &md).await;
    for i in 0..20u8 {
        let r: ProduceResponse = c
            .call(
                ApiKey::Produce,
                9,
                &produce_req(batch(&[&[i; 100]], Compression::None, None)),
            )
            .await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    let copy_dir = Arc::new(tempfile::tempdir().unwrap());
    let copy = copy_dir.path().join("skiff.db");
    let db = b.db_path();
    let bytes = tokio::task::spawn_blocking({
        let copy = copy.clone();
        move || skiff_broker::backup::backup(&db, &copy)
    })
    .await
    .unwrap()
    .unwrap();
    assert!(bytes > 2000);
    // The original keeps serving.
    let r: ProduceResponse = c
        .call(
            ApiKey::Produce,
            9,
            &produce_req(batch(&[b"after"], Compression::None, None)),
        )
        .await;
    assert_eq!(r.responses[0].partition_responses[0].base_offset, 20);
    // A backup never overwrites.
    assert!(skiff_broker::backup::backup(&b.db_path(), &copy).is_err());
    b.stop().await;

    let restored = TestBroker::start_in(copy_dir, |_| {}).await;
    let topic = restored
        .broker
        .catalog
        .get("kept")
        .expect("topic in the copy");
    assert_eq!(topic.partitions()[0].high_watermark(), 20);
    restored.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_shrinks_the_file_only_with_the_broker_stopped() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let md = MetadataRequest::default()
        .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
        )
        .with_name(Some(TopicName(StrBytes::from_static_str("kept"))))]))
        .with_allow_auto_topic_creation(true);
    let _: MetadataResponse = c.call(ApiKey::Metadata, 12, &md).await;
    for i in 0..40u8 {
        let _: ProduceResponse = c
            .call(
                ApiKey::Produce,
                9,
                &produce_req(batch(&[&[i; 20_000]], Compression::None, None)),
            )
            .await;
    }
    let del = DeleteRecordsRequest::default().with_topics(vec![
        delete_records_request::DeleteRecordsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("kept")))
            .with_partitions(vec![
                delete_records_request::DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(38),
            ]),
    ]);
    let _: DeleteRecordsResponse = c.call(ApiKey::DeleteRecords, 2, &del).await;
    let db = b.db_path();
    let refused = skiff_broker::backup::compact(&db).unwrap_err().to_string();
    assert!(refused.contains("broker stopped"), "{refused}");
    drop(c);
    let dir = b.stop().await;
    let (before, after) = skiff_broker::backup::compact(&db).unwrap();
    assert!(after * 4 < before, "{before} -> {after}");
    let b = TestBroker::start_in(dir, |_| {}).await;
    let p = b.broker.catalog.get("kept").unwrap().partitions()[0].clone();
    assert_eq!((p.log_start(), p.high_watermark()), (38, 40));
    b.stop().await;
}
