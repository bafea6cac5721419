//! The pre-4.0 versions Kafka 3.9 still serves, sent as an old client sends
//! them (frames made by hand from Kafka's schemas: the `kafka-protocol`
//! crate no longer encodes them): OffsetCommit v0 (group-less) and v1 (with
//! a commit timestamp), OffsetFetch v0, ListOffsets v0, CreateTopics v0/v1,
//! DeleteTopics v0.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::common::TestBroker;

fn string(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

/// A request frame with header v1 (non-flexible).
fn frame(api: i16, version: i16, corr: i32, body: &[u8]) -> BytesMut {
    let mut h = BytesMut::new();
    h.put_i16(api);
    h.put_i16(version);
    h.put_i32(corr);
    string(&mut h, "old-client");
    let mut f = BytesMut::new();
    f.put_i32((h.len() + body.len()) as i32);
    f.put_slice(&h);
    f.put_slice(body);
    f
}

async fn call(c: &mut crate::common::Client, api: i16, version: i16, body: &[u8]) -> Bytes {
    c.send_raw(&frame(api, version, 42, body)).await;
    let mut resp = c
        .read_frame()
        .await
        .expect("an answer, not a closed connection");
    assert_eq!(resp.get_i32(), 42, "correlation id");
    resp
}

fn get_string(b: &mut Bytes) -> String {
    let n = b.get_i16() as usize;
    String::from_utf8(b.split_to(n).to_vec()).unwrap()
}

#[tokio::test]
async fn old_clients_create_commit_fetch_list_and_delete() {
    let broker = TestBroker::start().await;
    let mut c = broker.client().await;

    // CreateTopics v0: [name, partitions, replication, [], []], timeout.
    let mut body = BytesMut::new();
    body.put_i32(1);
    string(&mut body, "legacy");
    body.put_i32(2);
    body.put_i16(1);
    body.put_i32(0);
    body.put_i32(0);
    body.put_i32(5000);
    let mut r = call(&mut c, 19, 0, &body).await;
    assert_eq!(r.get_i32(), 1);
    assert_eq!(get_string(&mut r), "legacy");
    assert_eq!(r.get_i16(), 0, "created");
    assert!(r.is_empty());
    // v1 (validate only, again): TOPIC_ALREADY_EXISTS with a message.
    body.put_u8(1);
    let mut r = call(&mut c, 19, 1, &body).await;
    assert_eq!(r.get_i32(), 1);
    assert_eq!(get_string(&mut r), "legacy");
    assert_eq!(r.get_i16(), 36);
    assert!(get_string(&mut r).contains("exists"));

    // OffsetCommit v0: group, [topic, [partition, offset, metadata]].
    let mut body = BytesMut::new();
    string(&mut body, "old-group");
    body.put_i32(1);
    string(&mut body, "legacy");
    body.put_i32(1);
    body.put_i32(0);
    body.put_i64(17);
    string(&mut body, "v0");
    let mut r = call(&mut c, 8, 0, &body).await;
    assert_eq!(r.get_i32(), 1);
    assert_eq!(get_string(&mut r), "legacy");
    assert_eq!(r.get_i32(), 1);
    assert_eq!(r.get_i32(), 0);
    assert_eq!(r.get_i16(), 0, "group-less v0 commit accepted");

    // OffsetCommit v1: group, generation -1, member "", [topic, [partition,
    // offset, timestamp, metadata]].
    let mut body = BytesMut::new();
    string(&mut body, "old-group");
    body.put_i32(-1);
    string(&mut body, "");
    body.put_i32(1);
    string(&mut body, "legacy");
    body.put_i32(1);
    body.put_i32(1);
    body.put_i64(23);
    body.put_i64(-1);
    string(&mut body, "v1");
    let mut r = call(&mut c, 8, 1, &body).await;
    r.advance(4);
    get_string(&mut r);
    r.advance(8);
    assert_eq!(r.get_i16(), 0, "v1 commit accepted");

    // OffsetFetch v0: group, [topic, [partition]] → both commits.
    let mut body = BytesMut::new();
    string(&mut body, "old-group");
    body.put_i32(1);
    string(&mut body, "legacy");
    body.put_i32(2);
    body.put_i32(0);
    body.put_i32(1);
    let mut r = call(&mut c, 9, 0, &body).await;
    assert_eq!(r.get_i32(), 1);
    assert_eq!(get_string(&mut r), "legacy");
    assert_eq!(r.get_i32(), 2);
    let mut got = Vec::new();
    for _ in 0..2 {
        let p = r.get_i32();
        let offset = r.get_i64();
        let metadata = get_string(&mut r);
        assert_eq!(r.get_i16(), 0);
        got.push((p, offset, metadata));
    }
    assert_eq!(got, vec![(0, 17, "v0".into()), (1, 23, "v1".into())]);
    assert!(r.is_empty(), "v0 has no top-level error code");

    // ListOffsets v0: replica, [topic, [partition, timestamp, max offsets]].
    let mut body = BytesMut::new();
    body.put_i32(-1);
    body.put_i32(1);
    string(&mut body, "legacy");
    body.put_i32(2);
    body.put_i32(0);
    body.put_i64(-1); // latest
    body.put_i32(1);
    body.put_i32(1);
    body.put_i64(-2); // earliest, but no offsets asked for
    body.put_i32(0);
    let mut r = call(&mut c, 2, 0, &body).await;
    assert_eq!(r.get_i32(), 1);
    assert_eq!(get_string(&mut r), "legacy");
    assert_eq!(r.get_i32(), 2);
    assert_eq!(
        (r.get_i32(), r.get_i16(), r.get_i32(), r.get_i64()),
        (0, 0, 1, 0)
    );
    assert_eq!((r.get_i32(), r.get_i16(), r.get_i32()), (1, 0, 0));
    assert!(r.is_empty());

    // DeleteTopics v0: [name], timeout.
    let mut body = BytesMut::new();
    body.put_i32(1);
    string(&mut body, "legacy");
    body.put_i32(5000);
    let mut r = call(&mut c, 20, 0, &body).await;
    assert_eq!(r.get_i32(), 1);
    assert_eq!(get_string(&mut r), "legacy");
    assert_eq!(r.get_i16(), 0);
    assert!(r.is_empty());
}

/// ACL APIs v0 (no pattern type: LITERAL), as Kafka 1.x tools send them.
#[tokio::test]
async fn acl_apis_v0_create_describe_and_delete_literal_acls() {
    let broker = TestBroker::start_with(|s| {
        s.authorizer = "acl".into();
        s.super_users = "User:ANONYMOUS".into();
    })
    .await;
    let mut c = broker.client().await;
    let acl = |b: &mut BytesMut| {
        b.put_i8(2); // TOPIC
        string(b, "orders");
        string(b, "User:app");
        string(b, "*");
        b.put_i8(3); // READ
        b.put_i8(3); // ALLOW
    };
    // CreateAcls v0: [type, name, principal, host, op, permission].
    let mut body = BytesMut::new();
    body.put_i32(1);
    acl(&mut body);
    let mut r = call(&mut c, 30, 0, &body).await;
    r.advance(4); // throttle
    assert_eq!(r.get_i32(), 1);
    assert_eq!(r.get_i16(), 0, "created");

    // DescribeAcls v0: the same fields as a filter.
    let mut filter = BytesMut::new();
    acl(&mut filter);
    let mut r = call(&mut c, 29, 0, &filter).await;
    r.advance(4);
    assert_eq!(r.get_i16(), 0);
    let message = r.get_i16();
    r.advance(message.max(0) as usize);
    assert_eq!(r.get_i32(), 1);
    assert_eq!(r.get_i8(), 2);
    assert_eq!(get_string(&mut r), "orders");
    assert_eq!(r.get_i32(), 1);
    assert_eq!(get_string(&mut r), "User:app");
    assert_eq!(get_string(&mut r), "*");
    assert_eq!((r.get_i8(), r.get_i8()), (3, 3));
    assert!(r.is_empty(), "v0 carries no pattern type");

    // DeleteAcls v0: [filter] → the matching ACL, then none is left.
    let mut body = BytesMut::new();
    body.put_i32(1);
    acl(&mut body);
    let mut r = call(&mut c, 31, 0, &body).await;
    r.advance(4);
    assert_eq!(r.get_i32(), 1);
    assert_eq!(r.get_i16(), 0);
    r.advance(2);
    assert_eq!(r.get_i32(), 1, "one ACL deleted");
    let mut r = call(&mut c, 29, 0, &filter).await;
    r.advance(8);
    assert_eq!(r.get_i32(), 0, "nothing left");
}

/// DescribeConfigs v0, as a Kafka 2.1-era client lists a topic's configs:
/// `is_default` instead of the source, no synonyms.
#[tokio::test]
async fn describe_configs_v0_marks_defaults() {
    let broker = TestBroker::start().await;
    let mut c = broker.client().await;
    let mut body = BytesMut::new();
    body.put_i32(1);
    string(&mut body, "cfg");
    body.put_i32(1); // partitions
    body.put_i16(1); // replication factor
    body.put_i32(0); // assignments
    body.put_i32(1); // configs
    string(&mut body, "retention.ms");
    string(&mut body, "60000");
    body.put_i32(5000);
    let mut r = call(&mut c, 19, 0, &body).await;
    r.advance(4);
    get_string(&mut r);
    assert_eq!(r.get_i16(), 0, "topic created with an override");

    // [resource type, name, keys (null: all)]
    let mut body = BytesMut::new();
    body.put_i32(1);
    body.put_i8(2);
    string(&mut body, "cfg");
    body.put_i32(-1);
    let mut r = call(&mut c, 32, 0, &body).await;
    r.advance(4); // throttle
    assert_eq!(r.get_i32(), 1);
    assert_eq!(r.get_i16(), 0);
    let message = r.get_i16();
    r.advance(message.max(0) as usize);
    assert_eq!(r.get_i8(), 2);
    assert_eq!(get_string(&mut r), "cfg");
    let n = r.get_i32();
    let mut configs = std::collections::HashMap::new();
    for _ in 0..n {
        let name = get_string(&mut r);
        let value = get_string(&mut r);
        let (_read_only, is_default, _sensitive) = (r.get_u8(), r.get_u8(), r.get_u8());
        configs.insert(name, (value, is_default));
    }
    assert!(r.is_empty(), "nothing after the v0 fields");
    assert_eq!(configs["retention.ms"], ("60000".to_string(), 0));
    assert_eq!(configs["cleanup.policy"], ("delete".to_string(), 1));
}
