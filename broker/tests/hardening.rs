//! The broker's health check against a dead storage writer, in-process (the
//! binary's exit on writer death is tested in clients/test_hardening.py).

use std::time::Duration;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::common::TestBroker;

fn health(addr: std::net::SocketAddr) -> Result<(), String> {
    skiff_broker::healthcheck::check("127.0.0.1", addr.port(), Duration::from_secs(8))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_check_fails_once_the_storage_writer_is_dead() {
    let b = TestBroker::start_with(|s| s.test_writer_panic_topic = Some("boom".into())).await;
    let addr = b.addr;
    // Alive: the writer answers the health check's ping.
    tokio::task::spawn_blocking(move || health(addr))
        .await
        .unwrap()
        .unwrap();
    let mut c = b.client().await;
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(1000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("boom")))
            .with_num_partitions(1)
            .with_replication_factor(1)]);
    let r: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 7, &req).await;
    assert_eq!(r.topics[0].error_code, 56, "KAFKA_STORAGE_ERROR");
    // The socket still answers ApiVersions, but the health check does not
    // pass: its ping finds no writer.
    let e = tokio::task::spawn_blocking(move || health(addr))
        .await
        .unwrap()
        .unwrap_err();
    assert!(e.contains("56"), "{e}");
    b.stop().await;
}
