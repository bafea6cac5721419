//! The /metrics endpoint: what went through shows up, per topic and per API.

use crate::common::{batch, TestBroker};
use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_bytes_records_requests_and_connections() {
    let b = TestBroker::start_with(|s| {
        s.metrics_listener_url = Some("tcp://127.0.0.1:0".into());
    })
    .await;
    let addr = b.addr;
    let maddr = b.metrics_addr.expect("metrics endpoint");

    let mut c = crate::common::Client::connect(addr).await;
    let create = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(name("m"))
        .with_num_partitions(1)
        .with_replication_factor(1)]);
    let _: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 7, &create).await;
    let records: Bytes = batch(&[b"a", b"b", b"c"], Compression::None, None);
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name("m"))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records.clone()))])]);
    let _: ProduceResponse = c.call(ApiKey::Produce, 9, &produce).await;
    let fetch = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name("m"))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])]);
    let _: FetchResponse = c.call(ApiKey::Fetch, 12, &fetch).await;

    let text = get(maddr, "/metrics").await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    for line in [
        "skiff_produced_records_total{topic=\"m\"} 3",
        "skiff_fetched_records_total{topic=\"m\"} 3",
        "skiff_requests_total{api=\"Produce\"} 1",
        "skiff_requests_total{api=\"Fetch\"} 1",
        "skiff_connections 1",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    let stored = format!(
        "skiff_produced_bytes_total{{topic=\"m\"}} {}",
        records.len()
    );
    assert!(text.contains(&stored), "missing `{stored}`");
    assert!(
        text.contains("skiff_request_duration_seconds_bucket{le="),
        "{text}"
    );
    let db_line = text
        .lines()
        .find(|l| l.starts_with("skiff_database_bytes "))
        .expect("database size");
    assert!(db_line.split(' ').nth(1).unwrap().parse::<i64>().unwrap() > 0);
    assert!(get(maddr, "/other").await.starts_with("HTTP/1.1 404"));

    drop(c);
    b.stop().await;
}
