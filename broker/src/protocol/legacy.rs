//! Responses of the pre-4.0 API versions that Kafka 3.9 still serves and
//! the `kafka-protocol` crate no longer encodes (it follows Kafka 4.0's
//! schemas, which dropped them: KIP-896). Older clients still send them: a
//! Go client pinned to the Kafka 2.1 protocol lists topics with
//! DescribeConfigs v0 and commits with OffsetCommit v1.
//!
//! Two kinds: versions whose response is byte for byte that of a version
//! the crate knows (`body_version`), and a few small ones written here by
//! hand from Kafka's JSON schemas (`clients/src/main/resources/common/
//! message/*Response.json` in Apache Kafka 3.9). All are non-flexible,
//! with response header v0.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsResponse, DeleteAclsResponse, DeleteTopicsResponse, DescribeAclsResponse,
    DescribeConfigsResponse, ListOffsetsResponse, ProduceResponse,
};

/// The version whose encoding the crate uses for `version` of `api`'s
/// response, when the two are identical on the wire.
pub fn body_version(api: ApiKey, version: i16) -> i16 {
    match (api, version) {
        // OffsetCommit v0-2 responses are all `topics` (throttle time
        // arrived in v3).
        (ApiKey::OffsetCommit, 0 | 1) => 2,
        // OffsetFetch v0 and v1 responses are identical.
        (ApiKey::OffsetFetch, 0) => 1,
        // CreateAcls v0 and v1 responses are identical.
        (ApiKey::CreateAcls, 0) => 1,
        _ => version,
    }
}

/// Whether `api` at `version` is encoded here rather than by the crate.
pub fn hand_encoded(api: ApiKey, version: i16) -> bool {
    matches!(
        (api, version),
        (ApiKey::CreateTopics, 0 | 1)
            | (ApiKey::DeleteTopics, 0)
            | (ApiKey::ListOffsets, 0)
            | (ApiKey::DescribeAcls, 0)
            | (ApiKey::DescribeConfigs, 0)
            | (ApiKey::DeleteAcls, 0)
    )
}

fn string(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn nullable_string(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => string(b, s),
        None => b.put_i16(-1),
    }
}

/// CreateTopics v0: `[name, error_code]`; v1 adds `error_message`.
pub fn create_topics(r: &CreateTopicsResponse, version: i16) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i32(r.topics.len() as i32);
    for t in &r.topics {
        string(&mut b, &t.name.0);
        b.put_i16(t.error_code);
        if version >= 1 {
            nullable_string(&mut b, t.error_message.as_deref());
        }
    }
    b
}

/// DeleteTopics v0: `[name, error_code]` (v1 added the throttle time).
pub fn delete_topics(r: &DeleteTopicsResponse) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i32(r.responses.len() as i32);
    for t in &r.responses {
        string(&mut b, t.name.as_ref().map_or("", |n| n.0.as_str()));
        b.put_i16(t.error_code);
    }
    b
}

/// ListOffsets v0: `[name, [partition, error_code, old_style_offsets]]`;
/// the offsets list holds the one offset found, or nothing.
pub fn list_offsets(r: &ListOffsetsResponse) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i32(r.topics.len() as i32);
    for t in &r.topics {
        string(&mut b, &t.name.0);
        b.put_i32(t.partitions.len() as i32);
        for p in &t.partitions {
            b.put_i32(p.partition_index);
            b.put_i16(p.error_code);
            if p.offset >= 0 && p.error_code == 0 {
                b.put_i32(1);
                b.put_i64(p.offset);
            } else {
                b.put_i32(0);
            }
        }
    }
    b
}

/// Produce v0-2: `[name, [partition, error_code, base_offset]]`, v2 adding
/// `log_append_time_ms`, v1 and v2 the throttle time at the end.
pub fn produce(r: &ProduceResponse, version: i16) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i32(r.responses.len() as i32);
    for t in &r.responses {
        string(&mut b, &t.name.0);
        b.put_i32(t.partition_responses.len() as i32);
        for p in &t.partition_responses {
            b.put_i32(p.index);
            b.put_i16(p.error_code);
            b.put_i64(p.base_offset);
            if version >= 2 {
                b.put_i64(p.log_append_time_ms);
            }
        }
    }
    if version >= 1 {
        b.put_i32(0);
    }
    b
}

/// DescribeAcls v0: v1 without the resources' pattern type.
pub fn describe_acls(r: &DescribeAclsResponse) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i32(r.throttle_time_ms);
    b.put_i16(r.error_code);
    nullable_string(&mut b, r.error_message.as_deref());
    b.put_i32(r.resources.len() as i32);
    for res in &r.resources {
        b.put_i8(res.resource_type);
        string(&mut b, &res.resource_name);
        b.put_i32(res.acls.len() as i32);
        for a in &res.acls {
            string(&mut b, &a.principal);
            string(&mut b, &a.host);
            b.put_i8(a.operation);
            b.put_i8(a.permission_type);
        }
    }
    b
}

/// DeleteAcls v0: v1 without the matching ACLs' pattern type.
pub fn delete_acls(r: &DeleteAclsResponse) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i32(r.throttle_time_ms);
    b.put_i32(r.filter_results.len() as i32);
    for f in &r.filter_results {
        b.put_i16(f.error_code);
        nullable_string(&mut b, f.error_message.as_deref());
        b.put_i32(f.matching_acls.len() as i32);
        for a in &f.matching_acls {
            b.put_i16(a.error_code);
            nullable_string(&mut b, a.error_message.as_deref());
            b.put_i8(a.resource_type);
            string(&mut b, &a.resource_name);
            string(&mut b, &a.principal);
            string(&mut b, &a.host);
            b.put_i8(a.operation);
            b.put_i8(a.permission_type);
        }
    }
    b
}

/// DescribeConfigs v0: each config has `is_default` where v1 has its
/// source (DEFAULT_CONFIG, 5, is the default), and no synonyms.
pub fn describe_configs(r: &DescribeConfigsResponse) -> BytesMut {
    const DEFAULT_CONFIG: i8 = 5;
    let mut b = BytesMut::new();
    b.put_i32(r.throttle_time_ms);
    b.put_i32(r.results.len() as i32);
    for res in &r.results {
        b.put_i16(res.error_code);
        nullable_string(&mut b, res.error_message.as_deref());
        b.put_i8(res.resource_type);
        string(&mut b, &res.resource_name);
        b.put_i32(res.configs.len() as i32);
        for c in &res.configs {
            string(&mut b, &c.name);
            nullable_string(&mut b, c.value.as_deref());
            b.put_u8(c.read_only as u8);
            b.put_u8((c.config_source == DEFAULT_CONFIG) as u8);
            b.put_u8(c.is_sensitive as u8);
        }
    }
    b
}

/// A response frame: size, correlation id (header v0), body.
pub fn frame(correlation_id: i32, body: &[u8]) -> BytesMut {
    let mut f = BytesMut::with_capacity(8 + body.len());
    f.put_i32(4 + body.len() as i32);
    f.put_i32(correlation_id);
    f.put_slice(body);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
    use kafka_protocol::messages::list_offsets_response::{
        ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
    };
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::StrBytes;

    #[test]
    fn hand_encoded_bodies_follow_the_schemas() {
        let name = || TopicName(StrBytes::from_static_str("t"));
        let ct = CreateTopicsResponse::default().with_topics(vec![CreatableTopicResult::default()
            .with_name(name())
            .with_error_code(36)
            .with_error_message(Some(StrBytes::from_static_str("x")))]);
        assert_eq!(&create_topics(&ct, 0)[..], b"\0\0\0\x01\0\x01t\0\x24");
        assert_eq!(
            &create_topics(&ct, 1)[..],
            b"\0\0\0\x01\0\x01t\0\x24\0\x01x"
        );
        let lo =
            ListOffsetsResponse::default().with_topics(vec![ListOffsetsTopicResponse::default()
                .with_name(name())
                .with_partitions(vec![
                    ListOffsetsPartitionResponse::default().with_offset(7),
                    ListOffsetsPartitionResponse::default()
                        .with_partition_index(1)
                        .with_offset(-1),
                ])]);
        assert_eq!(
            &list_offsets(&lo)[..],
            b"\0\0\0\x01\0\x01t\0\0\0\x02\0\0\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\x07\0\0\0\x01\0\0\0\0\0\0"
        );
    }
}
