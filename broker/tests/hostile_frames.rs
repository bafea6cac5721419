//! The hostile-frame corpus: frames that must never crash, hang or starve the
//! broker. Each is sent on its own connection while a well-behaved client
//! keeps its connection; afterwards both that client and new connections must
//! still be served. Kafka's behaviour for such frames is to close the
//! connection (or, for an unknown ApiVersions version, answer KIP-511).

use crate::common::{Client, TestBroker};
use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest};

/// A frame with a v1 request header and the given body.
fn frame(api: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i32((10 + body.len()) as i32);
    b.put_i16(api);
    b.put_i16(version);
    b.put_i32(7);
    b.put_i16(-1); // null client id
    b.put_slice(body);
    b.to_vec()
}

/// A frame with a v2 (flexible) request header and the given body.
fn flexible_frame(api: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i32((11 + body.len()) as i32);
    b.put_i16(api);
    b.put_i16(version);
    b.put_i32(7);
    b.put_i16(-1);
    b.put_u8(0); // no tagged fields
    b.put_slice(body);
    b.to_vec()
}

async fn assert_still_serving(broker: &TestBroker, survivor: &mut Client) {
    let r: ApiVersionsResponse = survivor
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0);
    let mut fresh = broker.client().await;
    let r: ApiVersionsResponse = fresh
        .call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0);
}

/// Sends `bytes` on a new connection and expects the broker to close it.
async fn expect_closed(broker: &TestBroker, what: &str, bytes: &[u8]) {
    let mut c = broker.client().await;
    c.send_raw(bytes).await;
    assert!(c.is_closed().await, "{what}: connection should be closed");
}

fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let mut v: Vec<(&'static str, Vec<u8>)> = vec![
        // The body that aborts a process decoding with kafka-protocol 0.18.
        (
            "giant metadata topic count",
            frame(3, 1, &[0x7f, 0xff, 0xff, 0xff, 0x00]),
        ),
        (
            "giant compact array count (flexible metadata)",
            flexible_frame(3, 12, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ),
        (
            "varint longer than 5 bytes",
            flexible_frame(3, 12, &[0xff; 8]),
        ),
        (
            "negative array count",
            frame(3, 1, &[0xff, 0xff, 0xff, 0xfe]),
        ),
        ("negative frame size", (-5i32).to_be_bytes().to_vec()),
        ("truncated header", vec![0, 0, 0, 3, 0, 3, 0]),
        ("unknown api key", frame(999, 0, &[])),
        ("unserved api key (JoinGroup)", frame(11, 0, &[])),
        ("unsupported metadata version", frame(3, 99, &[0, 0, 0, 0])),
        ("negative api version", frame(3, -1, &[0, 0, 0, 0])),
        (
            "truncated produce v2 (message format v1)",
            frame(0, 2, &[0, 1, 0, 0, 0]),
        ),
    ];
    // Produce v3 whose topic name claims 32767 bytes.
    let mut p = BytesMut::new();
    p.put_i16(-1); // transactional id
    p.put_i16(1); // acks
    p.put_i32(1000);
    p.put_i32(1); // one topic
    p.put_i16(0x7fff);
    p.put_slice(b"abc");
    v.push(("string longer than the frame", frame(0, 3, &p)));
    // Produce v3 whose record set claims 2 GiB.
    let mut p = BytesMut::new();
    p.put_i16(-1);
    p.put_i16(1);
    p.put_i32(1000);
    p.put_i32(1);
    p.put_i16(1);
    p.put_slice(b"t");
    p.put_i32(1); // one partition
    p.put_i32(0);
    p.put_i32(0x7fff_ffff);
    p.put_slice(&[0; 16]);
    v.push(("record set longer than the frame", frame(0, 3, &p)));
    // Produce v3 with a negative string length other than -1.
    let mut p = BytesMut::new();
    p.put_i16(-1);
    p.put_i16(1);
    p.put_i32(1000);
    p.put_i32(1);
    p.put_i16(-7);
    v.push(("negative string length", frame(0, 3, &p)));
    // Fetch v4 with a giant partition count.
    let mut f = BytesMut::new();
    f.put_i32(-1);
    f.put_i32(100);
    f.put_i32(1);
    f.put_i32(1 << 20);
    f.put_i8(0);
    f.put_i32(1);
    f.put_i16(1);
    f.put_slice(b"t");
    f.put_i32(0x4000_0000);
    v.push(("giant fetch partition count", frame(1, 4, &f)));
    // CreateTopics v5 with configs array claiming 2^32-2 entries.
    let mut c = BytesMut::new();
    c.put_u8(2); // one topic (compact: n+1)
    c.put_u8(2);
    c.put_u8(b't');
    c.put_i32(1);
    c.put_i16(1);
    c.put_u8(1); // no assignments
    c.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    v.push(("giant compact configs count", flexible_frame(19, 5, &c)));
    // JoinGroup v5 whose protocols array claims 2^31-1 entries.
    let mut j = BytesMut::new();
    j.put_i16(1);
    j.put_slice(b"g"); // group id
    j.put_i32(10_000); // session timeout
    j.put_i32(10_000); // rebalance timeout
    j.put_i16(0); // member id ""
    j.put_i16(-1); // no instance id
    j.put_i16(8);
    j.put_slice(b"consumer");
    j.put_i32(i32::MAX);
    j.put_slice(&[0; 16]);
    v.push(("giant join group protocol count", frame(11, 5, &j)));
    // Tagged field claiming more bytes than present.
    v.push((
        "tagged field larger than the frame",
        flexible_frame(3, 12, &[0x00, 0x01, 0x00, 0x01, 0x00, 0x7f, 0x00]),
    ));
    v.push((
        "invalid utf-8 topic name",
        frame(3, 1, &[0, 0, 0, 1, 0, 2, 0xff, 0xfe]),
    ));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_close_the_connection_and_nothing_else() {
    let broker = TestBroker::start().await;
    let mut survivor = broker.client().await;
    for (what, bytes) in corpus() {
        expect_closed(&broker, what, &bytes).await;
        assert_still_serving(&broker, &mut survivor).await;
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame_is_refused_before_its_body_arrives() {
    let broker = TestBroker::start_with(|s| s.max_request_bytes = 1 << 20).await;
    let mut survivor = broker.client().await;
    let mut c = broker.client().await;
    // Only the size is sent: the broker must not wait for 2 MiB.
    c.send_raw(&(2i32 << 20).to_be_bytes()).await;
    assert!(c.is_closed().await);
    assert_still_serving(&broker, &mut survivor).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_body_then_hang_up_is_harmless() {
    let broker = TestBroker::start().await;
    let mut survivor = broker.client().await;
    {
        let mut c = broker.client().await;
        c.send_raw(&[0, 0, 0, 100, 0, 3, 0, 1, 0, 0]).await;
        // dropped mid-frame
    }
    assert_still_serving(&broker, &mut survivor).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_of_an_unknown_version_gets_kip_511_answer() {
    let broker = TestBroker::start().await;
    let mut c = broker.client().await;
    c.send_raw(&flexible_frame(18, 99, &[0, 0, 0])).await;
    let body = c.read_frame().await.expect("a response");
    // v0 header: correlation id only; then a v0 ApiVersions body.
    assert_eq!(&body[..4], &7i32.to_be_bytes());
    let mut rest = body.slice(4..);
    let resp =
        <ApiVersionsResponse as kafka_protocol::protocol::Decodable>::decode(&mut rest, 0).unwrap();
    assert_eq!(resp.error_code, 35, "UNSUPPORTED_VERSION");
    assert!(resp
        .api_keys
        .iter()
        .any(|k| k.api_key == 18 && k.max_version == 4));
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailing_bytes_after_a_request_are_tolerated() {
    let broker = TestBroker::start().await;
    let mut c = broker.client().await;
    let mut f = Client::frame(
        ApiKey::Metadata,
        12,
        1,
        &MetadataRequest::default().with_topics(None),
    );
    f.put_slice(&[0, 0, 0]);
    let len = (f.len() - 4) as i32;
    f[..4].copy_from_slice(&len.to_be_bytes());
    c.send_raw(&f).await;
    assert!(c.read_frame().await.is_some());
    broker.stop().await;
}

/// Random frames from a fixed seed: none may take the broker down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_garbage_frames() {
    let broker = TestBroker::start().await;
    let mut survivor = broker.client().await;
    let mut seed: u64 = 0x5eed_5eed;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let apis = [0i16, 1, 2, 3, 18, 19, 20, 22, 32, 33, 37, 44, 60];
    for i in 0..300 {
        let api = apis[(next() % apis.len() as u64) as usize];
        let version = (next() % 13) as i16;
        let len = (next() % 64) as usize;
        let body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let bytes = if i % 2 == 0 {
            frame(api, version, &body)
        } else {
            flexible_frame(api, version, &body)
        };
        let mut c = broker.client().await;
        c.send_raw(&bytes).await;
        drop(c);
    }
    assert_still_serving(&broker, &mut survivor).await;
    broker.stop().await;
}
