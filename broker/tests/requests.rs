//! Request handling end to end, through the wire: a client built on the
//! `kafka-protocol` crate talks to an in-process skiff-broker.

use std::time::{Duration, Instant};

use crate::common::{batch, TestBroker};
use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder};

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn produce_req(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

async fn produce(c: &mut crate::common::Client, topic: &str, records: Bytes) -> (i16, i64) {
    let r: ProduceResponse = c
        .call(ApiKey::Produce, 9, &produce_req(topic, 0, records, -1))
        .await;
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn fetch_req(topic: &str, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(10 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])])
}

async fn fetch(
    c: &mut crate::common::Client,
    topic: &str,
    offset: i64,
) -> fetch_response::PartitionData {
    let r: FetchResponse = c
        .call(ApiKey::Fetch, 12, &fetch_req(topic, offset, 0))
        .await;
    r.responses[0].partitions[0].clone()
}

/// (offset, value) of every record in a fetched record set.
fn values(records: &Option<Bytes>) -> Vec<(i64, Vec<u8>)> {
    let mut buf = records.clone().unwrap_or_default();
    let sets = RecordBatchDecoder::decode_all(&mut buf).unwrap();
    sets.iter()
        .flat_map(|s| s.records.iter())
        .map(|r| (r.offset, r.value.clone().unwrap().to_vec()))
        .collect()
}

async fn create_topic(
    c: &mut crate::common::Client,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> i16 {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(1000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string(k.to_string()))
                            .with_value(Some(StrBytes::from_string(v.to_string())))
                    })
                    .collect(),
            )]);
    let r: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 7, &req).await;
    r.topics[0].error_code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_then_fetch_returns_the_batches_with_offsets() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    assert_eq!(create_topic(&mut c, "t", 1, &[]).await, 0);
    assert_eq!(
        produce(&mut c, "t", batch(&[b"a", b"b"], Compression::None, None)).await,
        (0, 0)
    );
    assert_eq!(
        produce(&mut c, "t", batch(&[b"c"], Compression::Gzip, None)).await,
        (0, 2)
    );
    let p = fetch(&mut c, "t", 0).await;
    assert_eq!(p.error_code, 0);
    assert_eq!(p.high_watermark, 3);
    assert_eq!(
        values(&p.records),
        vec![(0, b"a".to_vec()), (1, b"b".to_vec()), (2, b"c".to_vec())]
    );
    // From the middle of the first batch: the whole batch is served (as Kafka).
    assert_eq!(
        values(&fetch(&mut c, "t", 2).await.records),
        vec![(2, b"c".to_vec())]
    );
    // Past the end: out of range.
    assert_eq!(fetch(&mut c, "t", 9).await.error_code, 1);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_a_restart() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    assert_eq!(
        create_topic(&mut c, "kept", 2, &[("retention.ms", "12345")]).await,
        0
    );
    produce(
        &mut c,
        "kept",
        batch(&[b"1", b"2", b"3"], Compression::None, None),
    )
    .await;
    drop(c);
    let dir = b.stop().await;
    let b = TestBroker::start_in(dir, |_| {}).await;
    let mut c = b.client().await;
    let p = fetch(&mut c, "kept", 0).await;
    assert_eq!(p.high_watermark, 3);
    assert_eq!(values(&p.records).len(), 3);
    assert_eq!(
        produce(&mut c, "kept", batch(&[b"4"], Compression::None, None)).await,
        (0, 3)
    );
    let topic = b.broker.catalog.get("kept").unwrap();
    assert_eq!(topic.partitions().len(), 2);
    assert_eq!(topic.config().retention_ms, 12345);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_duplicates_out_of_order_and_fencing() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "idem", 1, &[]).await;
    let r: InitProducerIdResponse = c
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60000),
        )
        .await;
    assert_eq!(r.error_code, 0);
    let pid = r.producer_id.0;
    let first = batch(&[b"a", b"b"], Compression::None, Some((pid, 0, 0)));
    assert_eq!(produce(&mut c, "idem", first.clone()).await, (0, 0));
    // A retry of the same batch: acknowledged with its original offset, stored once.
    assert_eq!(produce(&mut c, "idem", first).await, (0, 0));
    assert_eq!(fetch(&mut c, "idem", 0).await.high_watermark, 2);
    // A gap in the sequence.
    let gap = batch(&[b"x"], Compression::None, Some((pid, 0, 5)));
    assert_eq!(
        produce(&mut c, "idem", gap).await.0,
        45,
        "OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    // The next in sequence is fine.
    let next = batch(&[b"c"], Compression::None, Some((pid, 0, 2)));
    assert_eq!(produce(&mut c, "idem", next).await, (0, 2));
    // An older epoch after a newer one is fenced.
    let newer = batch(&[b"d"], Compression::None, Some((pid, 1, 0)));
    assert_eq!(produce(&mut c, "idem", newer).await, (0, 3));
    let older = batch(&[b"e"], Compression::None, Some((pid, 0, 3)));
    assert_eq!(
        produce(&mut c, "idem", older).await.0,
        47,
        "INVALID_PRODUCER_EPOCH"
    );
    // The state survives a restart: a retry of the last batch is still a duplicate.
    drop(c);
    let dir = b.stop().await;
    let b = TestBroker::start_in(dir, |_| {}).await;
    let mut c = b.client().await;
    let newer = batch(&[b"d"], Compression::None, Some((pid, 1, 0)));
    assert_eq!(produce(&mut c, "idem", newer).await, (0, 3));
    assert_eq!(fetch(&mut c, "idem", 0).await.high_watermark, 4);
    // Producer ids are never reused after a restart.
    let r: InitProducerIdResponse = c
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default().with_transactional_id(None),
        )
        .await;
    assert!(r.producer_id.0 > pid);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_oversized_batches_are_refused_and_not_stored() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "strict", 1, &[("max.message.bytes", "200")]).await;
    let mut bad = batch(&[b"hello"], Compression::None, None).to_vec();
    let n = bad.len();
    bad[n - 3] ^= 0x55;
    assert_eq!(
        produce(&mut c, "strict", Bytes::from(bad)).await.0,
        2,
        "CORRUPT_MESSAGE"
    );
    let big = batch(&[&[7u8; 500]], Compression::None, None);
    assert_eq!(
        produce(&mut c, "strict", big).await.0,
        10,
        "MESSAGE_TOO_LARGE"
    );
    assert_eq!(fetch(&mut c, "strict", 0).await.high_watermark, 0);
    assert_eq!(
        produce(&mut c, "strict", batch(&[b"ok"], Compression::None, None)).await,
        (0, 0)
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_offsets_earliest_latest_timestamp_and_max() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "ts", 1, &[]).await;
    // Records get timestamps 1_700_000_000_000 + index within their batch.
    produce(
        &mut c,
        "ts",
        batch(&[b"a", b"b", b"c"], Compression::None, None),
    )
    .await;
    let q = |t: i64| {
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name("ts"))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(t)])])
    };
    let mut ask = async |t: i64| {
        let r: ListOffsetsResponse = c.call(ApiKey::ListOffsets, 7, &q(t)).await;
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.offset, p.timestamp)
    };
    assert_eq!(ask(-2).await, (0, 0, -1));
    assert_eq!(ask(-1).await, (0, 3, -1));
    assert_eq!(ask(1_700_000_000_001).await, (0, 1, 1_700_000_000_001));
    assert_eq!(ask(1_700_000_000_002).await, (0, 2, 1_700_000_000_002));
    assert_eq!(ask(1_800_000_000_000).await, (0, -1, -1));
    assert_eq!(ask(-3).await, (0, 2, 1_700_000_000_002));
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_wakes_on_append_not_at_the_deadline() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "poll", 1, &[]).await;
    let addr = b.addr;
    let waiter = tokio::spawn(async move {
        let mut c = crate::common::Client::connect(addr).await;
        let start = Instant::now();
        let r: FetchResponse = c
            .call(ApiKey::Fetch, 12, &fetch_req("poll", 0, 10_000))
            .await;
        (start.elapsed(), r.responses[0].partitions[0].clone())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    produce(&mut c, "poll", batch(&[b"wake"], Compression::None, None)).await;
    let (elapsed, p) = waiter.await.unwrap();
    assert_eq!(values(&p.records), vec![(0, b"wake".to_vec())]);
    assert!(elapsed < Duration::from_secs(5), "woke after {elapsed:?}");
    // With nothing to read, the wait lasts max_wait_ms.
    let start = Instant::now();
    let r: FetchResponse = c.call(ApiKey::Fetch, 12, &fetch_req("poll", 1, 300)).await;
    assert!(start.elapsed() >= Duration::from_millis(290));
    assert_eq!(
        r.responses[0].partitions[0]
            .records
            .as_ref()
            .map_or(0, |r| r.len()),
        0
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_limits_keep_the_first_batch() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "big", 1, &[]).await;
    for i in 0..3u8 {
        produce(&mut c, "big", batch(&[&[i; 3000]], Compression::None, None)).await;
    }
    let mut req = fetch_req("big", 0, 0);
    req.max_bytes = 100;
    req.topics[0].partitions[0].partition_max_bytes = 100;
    let r: FetchResponse = c.call(ApiKey::Fetch, 12, &req).await;
    assert_eq!(
        values(&r.responses[0].partitions[0].records).len(),
        1,
        "first batch only"
    );
    req.max_bytes = 7000;
    req.topics[0].partitions[0].partition_max_bytes = 1 << 20;
    let r: FetchResponse = c.call(ApiKey::Fetch, 12, &req).await;
    assert_eq!(values(&r.responses[0].partitions[0].records).len(), 2);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_append_time_topics_stamp_the_broker_time() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(
        &mut c,
        "lat",
        1,
        &[("message.timestamp.type", "LogAppendTime")],
    )
    .await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let r: ProduceResponse = c
        .call(
            ApiKey::Produce,
            9,
            &produce_req("lat", 0, batch(&[b"a"], Compression::None, None), 1),
        )
        .await;
    let append_time = r.responses[0].partition_responses[0].log_append_time_ms;
    assert!(append_time >= before, "{append_time} < {before}");
    let p = fetch(&mut c, "lat", 0).await;
    let raw = p.records.unwrap();
    let attributes = i16::from_be_bytes(raw[21..23].try_into().unwrap());
    assert_eq!(attributes & 0x08, 0x08, "timestamp type LogAppendTime");
    let max_timestamp = i64::from_be_bytes(raw[35..43].try_into().unwrap());
    assert_eq!(max_timestamp, append_time);
    let mut buf = raw.clone();
    let set = RecordBatchDecoder::decode(&mut buf).unwrap();
    assert_eq!(
        set.records[0].timestamp_type,
        kafka_protocol::records::TimestampType::LogAppend
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_gets_no_response_but_is_stored() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "fire", 1, &[]).await;
    let frame = crate::common::Client::frame(
        ApiKey::Produce,
        9,
        99,
        &produce_req("fire", 0, batch(&[b"x"], Compression::None, None), 0),
    );
    c.send_raw(&frame).await;
    // The next response on the connection belongs to the next request.
    let p = fetch(&mut c, "fire", 0).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut hw = p.high_watermark;
    while hw == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        hw = fetch(&mut c, "fire", 0).await.high_watermark;
    }
    assert_eq!(hw, 1);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_metadata_auto_create_and_delete_only_the_named() {
    let b = TestBroker::start_with(|s| s.num_partitions = 3).await;
    let mut c = b.client().await;
    let md = |topics: Option<Vec<&str>>, auto: bool| {
        MetadataRequest::default()
            .with_topics(topics.map(|t| {
                t.into_iter()
                    .map(|n| {
                        metadata_request::MetadataRequestTopic::default().with_name(Some(name(n)))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(auto)
    };
    let r: MetadataResponse = c
        .call(ApiKey::Metadata, 12, &md(Some(vec!["auto"]), true))
        .await;
    assert_eq!(r.topics[0].error_code, 0);
    assert_eq!(r.topics[0].partitions.len(), 3);
    assert_eq!(r.brokers[0].port as u16, b.addr.port());
    let r: MetadataResponse = c
        .call(ApiKey::Metadata, 12, &md(Some(vec!["nope"]), false))
        .await;
    assert_eq!(r.topics[0].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    let r: MetadataResponse = c
        .call(ApiKey::Metadata, 12, &md(Some(vec!["bad name!"]), true))
        .await;
    assert_eq!(r.topics[0].error_code, 17, "INVALID_TOPIC_EXCEPTION");
    create_topic(&mut c, "other", 1, &[]).await;
    assert_eq!(
        create_topic(&mut c, "other", 1, &[]).await,
        36,
        "TOPIC_ALREADY_EXISTS"
    );
    assert_eq!(
        create_topic(&mut c, "compacted", 1, &[("cleanup.policy", "compact")]).await,
        40
    );
    let del = DeleteTopicsRequest::default().with_topic_names(vec![name("auto")]);
    let r: DeleteTopicsResponse = c.call(ApiKey::DeleteTopics, 5, &del).await;
    assert_eq!(r.responses[0].error_code, 0);
    let r: MetadataResponse = c.call(ApiKey::Metadata, 12, &md(None, false)).await;
    let names: Vec<_> = r
        .topics
        .iter()
        .map(|t| t.name.clone().unwrap().0.to_string())
        .collect();
    assert_eq!(names, vec!["other".to_string()]);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_advertises_the_served_table_at_every_version() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    for v in 0..=4 {
        let r: ApiVersionsResponse = c
            .call(ApiKey::ApiVersions, v, &ApiVersionsRequest::default())
            .await;
        assert_eq!(r.error_code, 0);
        let produce = r.api_keys.iter().find(|k| k.api_key == 0).unwrap();
        assert_eq!((produce.min_version, produce.max_version), (0, 10));
        let fetch = r.api_keys.iter().find(|k| k.api_key == 1).unwrap();
        assert_eq!(fetch.max_version, 12);
        assert!(!r.api_keys.iter().any(|k| k.api_key == 71), "no telemetry");
    }
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_produces_on_one_connection_are_answered_in_order() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "pipe", 1, &[]).await;
    let mut all = Vec::new();
    for i in 0..50 {
        let f = crate::common::Client::frame(
            ApiKey::Produce,
            9,
            1000 + i,
            &produce_req("pipe", 0, batch(&[b"v"], Compression::None, None), -1),
        );
        all.extend_from_slice(&f);
    }
    c.send_raw(&all).await;
    for i in 0..50 {
        let body = c.read_frame().await.unwrap();
        assert_eq!(i32::from_be_bytes(body[..4].try_into().unwrap()), 1000 + i);
    }
    assert_eq!(fetch(&mut c, "pipe", 0).await.high_watermark, 50);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_broker_on_the_same_database_refuses_to_start() {
    let b = TestBroker::start().await;
    let mut s = crate::common::settings(&b.db_path());
    s.listener_url = "tcp://127.0.0.1:0".into();
    let err = match skiff_broker::start(s.validate().unwrap()).await {
        Ok(_) => panic!("second broker started"),
        Err(e) => e.to_string(),
    };
    assert!(err.starts_with("STORAGE_ENGINE"), "{err}");
    assert!(err.contains("in use by another skiff-broker"), "{err}");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_a_parked_long_poll() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "parked", 1, &[]).await;
    let addr = b.addr;
    let parked = tokio::spawn(async move {
        let mut c = crate::common::Client::connect(addr).await;
        let r: FetchResponse = c
            .call(ApiKey::Fetch, 12, &fetch_req("parked", 0, 30_000))
            .await;
        r
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    b.stop().await;
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        start.elapsed()
    );
    let r = parked.await.unwrap();
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamp_lookup_looks_inside_compressed_batches() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "packed", 1, &[]).await;
    for codec in [Compression::Gzip, Compression::Snappy] {
        produce(&mut c, "packed", batch(&[b"a", b"b", b"c"], codec, None)).await;
    }
    let q = |t: i64| {
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name("packed"))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(t)])])
    };
    // Both batches carry timestamps 1_700_000_000_000 + 0..3; the first
    // record at or after +2 is offset 2 (gzip batch), and max timestamp is
    // the last record with the highest timestamp's first occurrence.
    let r: ListOffsetsResponse = c.call(ApiKey::ListOffsets, 7, &q(1_700_000_000_002)).await;
    assert_eq!(r.topics[0].partitions[0].offset, 2);
    let r: ListOffsetsResponse = c.call(ApiKey::ListOffsets, 7, &q(-3)).await;
    assert_eq!(r.topics[0].partitions[0].offset, 2);
    assert_eq!(r.topics[0].partitions[0].timestamp, 1_700_000_000_002);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_auto_creation_of_one_topic_all_succeed() {
    let b = TestBroker::start().await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let addr = b.addr;
        tasks.push(tokio::spawn(async move {
            let mut c = crate::common::Client::connect(addr).await;
            let req = MetadataRequest::default()
                .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                )
                .with_name(Some(name("race")))]))
                .with_allow_auto_topic_creation(true);
            let r: MetadataResponse = c.call(ApiKey::Metadata, 12, &req).await;
            (r.topics[0].error_code, r.topics[0].topic_id)
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (code, id) = t.await.unwrap();
        assert_eq!(code, 0);
        ids.insert(id);
    }
    assert_eq!(ids.len(), 1, "one topic, one id");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_of_in_flight_batches_are_recognised_after_a_restart() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "inflight", 1, &[]).await;
    let pid = 4242;
    let batches: Vec<_> = (0..4)
        .map(|i| batch(&[b"r"], Compression::None, Some((pid, 0, i))))
        .collect();
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(produce(&mut c, "inflight", b.clone()).await, (0, i as i64));
    }
    drop(c);
    let dir = b.stop().await;
    let b = TestBroker::start_in(dir, |_| {}).await;
    let mut c = b.client().await;
    // The producer never saw the answers to its last three batches and
    // retries them: each is acknowledged with its original offset.
    for (i, b) in batches.iter().enumerate().skip(1) {
        assert_eq!(produce(&mut c, "inflight", b.clone()).await, (0, i as i64));
    }
    let next = batch(&[b"r"], Compression::None, Some((pid, 0, 4)));
    assert_eq!(produce(&mut c, "inflight", next).await, (0, 4));
    assert_eq!(fetch(&mut c, "inflight", 0).await.high_watermark, 5);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_differing_only_by_dot_and_underscore_collide() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    assert_eq!(create_topic(&mut c, "a.b", 1, &[]).await, 0);
    assert_eq!(
        create_topic(&mut c, "a_b", 1, &[]).await,
        17,
        "INVALID_TOPIC_EXCEPTION"
    );
    assert!(b.broker.catalog.get("a_b").is_none());
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_topic_ends_its_parked_long_polls() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "doomed", 1, &[]).await;
    let addr = b.addr;
    let parked = tokio::spawn(async move {
        let mut c = crate::common::Client::connect(addr).await;
        let start = Instant::now();
        let r: FetchResponse = c
            .call(ApiKey::Fetch, 12, &fetch_req("doomed", 0, 20_000))
            .await;
        (start.elapsed(), r.responses[0].partitions[0].error_code)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let del = DeleteTopicsRequest::default().with_topic_names(vec![name("doomed")]);
    let r: DeleteTopicsResponse = c.call(ApiKey::DeleteTopics, 5, &del).await;
    assert_eq!(r.responses[0].error_code, 0);
    let (elapsed, code) = parked.await.unwrap();
    assert_eq!(code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    assert!(
        elapsed < Duration::from_secs(5),
        "returned after {elapsed:?}"
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_time_and_bytes_moves_the_log_start() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    // Records are stamped 1_700_000_000_000 (2023): older than a day.
    create_topic(&mut c, "old", 1, &[("retention.ms", "86400000")]).await;
    // (The test records' 2023 timestamps are past the 7-day default too.)
    create_topic(
        &mut c,
        "capped",
        1,
        &[("retention.bytes", "2000"), ("retention.ms", "-1")],
    )
    .await;
    create_topic(&mut c, "forever", 1, &[("retention.ms", "-1")]).await;
    for _ in 0..3 {
        produce(&mut c, "old", batch(&[b"a", b"b"], Compression::None, None)).await;
    }
    for i in 0..5u8 {
        produce(
            &mut c,
            "capped",
            batch(&[&[i; 900]], Compression::None, None),
        )
        .await;
    }
    produce(
        &mut c,
        "forever",
        batch(&[b"kept"], Compression::None, None),
    )
    .await;
    let removed = skiff_broker::retention::enforce(&b.broker).await.unwrap();
    // 3 old batches (of 2 records each), and 3 of "capped" over its byte
    // cap.
    assert_eq!(removed, 3 + 3);
    // Everything in "old" is gone; the log starts at the high watermark.
    let p = fetch(&mut c, "old", 0).await;
    assert_eq!(p.error_code, 1, "OFFSET_OUT_OF_RANGE below the log start");
    let p = fetch(&mut c, "old", 6).await;
    assert_eq!(
        (p.error_code, p.log_start_offset, p.high_watermark),
        (0, 6, 6)
    );
    // "capped" keeps its newest two batches (2 x ~970 bytes <= 2000).
    let p = fetch(&mut c, "capped", 3).await;
    assert_eq!(p.log_start_offset, 3);
    assert_eq!(values(&p.records).len(), 2);
    assert_eq!(fetch(&mut c, "forever", 0).await.high_watermark, 1);
    // New records continue the offsets; the log start survives a restart.
    assert_eq!(
        produce(&mut c, "old", batch(&[b"new"], Compression::None, None)).await,
        (0, 6)
    );
    drop(c);
    let dir = b.stop().await;
    let b = TestBroker::start_in(dir, |_| {}).await;
    let mut c = b.client().await;
    let p = fetch(&mut c, "capped", 3).await;
    assert_eq!((p.error_code, p.log_start_offset), (0, 3));
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_truncates_the_head() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "trunc", 1, &[]).await;
    for _ in 0..4 {
        produce(
            &mut c,
            "trunc",
            batch(&[b"x", b"y"], Compression::None, None),
        )
        .await;
    }
    let req = |offset: i64| {
        DeleteRecordsRequest::default()
            .with_timeout_ms(1000)
            .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
                .with_name(name("trunc"))
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(offset),
                ])])
    };
    let r: DeleteRecordsResponse = c.call(ApiKey::DeleteRecords, 2, &req(3)).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.error_code, p.low_watermark), (0, 3));
    let f = fetch(&mut c, "trunc", 3).await;
    assert_eq!(f.log_start_offset, 3);
    // Only whole batches go: offset 3's batch (2-3) is served whole.
    assert_eq!(values(&f.records).first(), Some(&(2, b"x".to_vec())));
    assert_eq!(fetch(&mut c, "trunc", 1).await.error_code, 1);
    let r: DeleteRecordsResponse = c.call(ApiKey::DeleteRecords, 2, &req(99)).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code, 1,
        "beyond the high watermark"
    );
    let r: DeleteRecordsResponse = c.call(ApiKey::DeleteRecords, 2, &req(-1)).await;
    assert_eq!(r.topics[0].partitions[0].low_watermark, 8);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_guard_refuses_produce_keeps_fetch_and_resumes_after_retention() {
    // 4 MiB of the cap is the journal's reserve and 1 MiB is kept for small
    // writes: about 400 KiB is left for records.
    let b = TestBroker::start_with(|s| s.max_db_bytes = (5 * 1024 + 400) * 1024).await;
    let mut c = b.client().await;
    create_topic(&mut c, "full", 1, &[("retention.ms", "-1")]).await;
    let mut stored = 0;
    let mut refused = None;
    for i in 0..100u8 {
        match produce(
            &mut c,
            "full",
            batch(&[&[i; 20_000]], Compression::None, None),
        )
        .await
        {
            (0, _) => stored += 1,
            (code, _) => {
                refused = Some(code);
                break;
            }
        }
    }
    assert_eq!(
        refused,
        Some(56),
        "KAFKA_STORAGE_ERROR once the cap is reached"
    );
    assert!(stored >= 10, "only {stored} batches fit in 400 KiB");
    assert!(stored <= 25, "{stored} batches of 20 KB fit in 400 KiB");
    // Reading goes on, and nothing stored was damaged.
    let p = fetch(&mut c, "full", 0).await;
    assert_eq!(p.high_watermark, stored);
    assert_eq!(values(&p.records)[0].1, vec![0u8; 20_000]);
    // Freeing space (DeleteRecords here; retention does the same) lets
    // producing resume by itself.
    let req = DeleteRecordsRequest::default().with_topics(vec![
        delete_records_request::DeleteRecordsTopic::default()
            .with_name(name("full"))
            .with_partitions(vec![
                delete_records_request::DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(stored),
            ]),
    ]);
    let _: DeleteRecordsResponse = c.call(ApiKey::DeleteRecords, 2, &req).await;
    assert_eq!(
        produce(
            &mut c,
            "full",
            batch(&[&[1; 20_000]], Compression::None, None)
        )
        .await,
        (0, stored)
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_in_flight_budget_slows_large_producers_but_loses_nothing() {
    // A budget smaller than one request: each large request takes half of it,
    // so connections take turns, two at a time, instead of buffering.
    let b = TestBroker::start_with(|s| s.max_inflight_bytes = 100 * 1024).await;
    let mut c = b.client().await;
    create_topic(&mut c, "budget", 1, &[]).await;
    let mut tasks = Vec::new();
    for t in 0..8u8 {
        let addr = b.addr;
        tasks.push(tokio::spawn(async move {
            let mut c = crate::common::Client::connect(addr).await;
            for _ in 0..4 {
                let (code, _) = produce(
                    &mut c,
                    "budget",
                    batch(&[&[t; 150_000]], Compression::None, None),
                )
                .await;
                assert_eq!(code, 0);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(fetch(&mut c, "budget", 0).await.high_watermark, 32);
    assert_eq!(
        b.broker.budget.available(),
        100 * 1024,
        "every permit returned"
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_prefixes_alone_take_no_budget() {
    // Ten connections announce 50 MB frames and send a few bytes of them;
    // with a 100 KiB budget, another client's 150 KB produces still go
    // through at once (the budget is taken as bytes arrive, not on the
    // size prefix: before, each prefix took the whole budget).
    let b = TestBroker::start_with(|s| s.max_inflight_bytes = 100 * 1024).await;
    let mut c = b.client().await;
    create_topic(&mut c, "prefixes", 1, &[]).await;
    let mut held = Vec::new();
    for _ in 0..10 {
        let mut s = tokio::net::TcpStream::connect(b.addr).await.unwrap();
        use tokio::io::AsyncWriteExt;
        s.write_all(&(50_000_000i32).to_be_bytes()).await.unwrap();
        s.write_all(&[0, 1]).await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for _ in 0..3 {
        let answered = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            produce(
                &mut c,
                "prefixes",
                batch(&[&[7; 150_000]], Compression::None, None),
            ),
        )
        .await
        .expect("a produce waited behind size prefixes");
        assert_eq!(answered.0, 0);
    }
    drop(held);
    b.stop().await;
}

/// KIP-227: a session's incremental fetches answer only what changed, and
/// its errors are Kafka's.
#[tokio::test]
async fn fetch_sessions_answer_only_what_changed() {
    use kafka_protocol::messages::fetch_request::ForgottenTopic;
    let broker = TestBroker::start().await;
    let mut c = broker.client().await;
    assert_eq!(create_topic(&mut c, "many", 20, &[]).await, 0);
    let all: Vec<FetchPartition> = (0..20)
        .map(|p| {
            FetchPartition::default()
                .with_partition(p)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)
        })
        .collect();
    let full = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_bytes(10 << 20)
        .with_session_id(0)
        .with_session_epoch(0)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name("many"))
            .with_partitions(all)]);
    let r: FetchResponse = c.call(ApiKey::Fetch, 12, &full).await;
    assert_eq!(r.error_code, 0);
    let id = r.session_id;
    assert!(id > 0, "a session was created");
    assert_eq!(
        r.responses[0].partitions.len(),
        20,
        "the first answer is full"
    );

    let incremental = |epoch: i32, topics: Vec<FetchTopic>, forgotten: Vec<ForgottenTopic>| {
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_max_bytes(10 << 20)
            .with_session_id(id)
            .with_session_epoch(epoch)
            .with_topics(topics)
            .with_forgotten_topics_data(forgotten)
    };
    let r: FetchResponse = c
        .call(ApiKey::Fetch, 12, &incremental(1, vec![], vec![]))
        .await;
    assert_eq!((r.error_code, r.session_id), (0, id));
    assert!(r.responses.is_empty(), "nothing changed: nothing sent");

    let mut p = broker.client().await;
    let req = produce_req("many", 7, batch(&[b"x"], Compression::None, None), -1);
    let _: ProduceResponse = p.call(ApiKey::Produce, 9, &req).await;
    let r: FetchResponse = c
        .call(ApiKey::Fetch, 12, &incremental(2, vec![], vec![]))
        .await;
    assert_eq!(r.responses.len(), 1);
    let parts = &r.responses[0].partitions;
    assert_eq!(parts.len(), 1, "only the partition with news");
    assert_eq!(parts[0].partition_index, 7);
    assert_eq!(values(&parts[0].records), vec![(0, b"x".to_vec())]);

    // The client moved past it; forgetting partition 7 drops it.
    let moved = FetchTopic::default()
        .with_topic(name("many"))
        .with_partitions(vec![FetchPartition::default()
            .with_partition(7)
            .with_fetch_offset(1)
            .with_partition_max_bytes(1 << 20)]);
    let r: FetchResponse = c
        .call(ApiKey::Fetch, 12, &incremental(3, vec![moved], vec![]))
        .await;
    assert!(r.responses.is_empty(), "at the end, nothing new");
    let forget = ForgottenTopic::default()
        .with_topic(name("many"))
        .with_partitions(vec![7]);
    let r: FetchResponse = c
        .call(ApiKey::Fetch, 12, &incremental(4, vec![], vec![forget]))
        .await;
    assert_eq!(r.error_code, 0);
    let _: ProduceResponse = p.call(ApiKey::Produce, 9, &req).await;
    let r: FetchResponse = c
        .call(ApiKey::Fetch, 12, &incremental(5, vec![], vec![]))
        .await;
    assert!(
        r.responses.is_empty(),
        "a forgotten partition is not fetched"
    );

    // Kafka's errors: a stale epoch, an unknown session.
    let r: FetchResponse = c
        .call(ApiKey::Fetch, 12, &incremental(5, vec![], vec![]))
        .await;
    assert_eq!(r.error_code, 71, "INVALID_FETCH_SESSION_EPOCH");
    let r: FetchResponse = c
        .call(
            ApiKey::Fetch,
            12,
            &incremental(1, vec![], vec![]).with_session_id(id ^ 0x55),
        )
        .await;
    assert_eq!(r.error_code, 70, "FETCH_SESSION_ID_NOT_FOUND");
}
