//! OffsetFetch (v1-9): committed offsets from the in-memory mirror, for the
//! named partitions or all of a group's (null topics, v2+); v8+ asks for
//! several groups in one request. A partition without a commit gets -1.
//! With `require_stable` (v7+, KIP-447), a partition whose offset an open
//! transaction has committed gets UNSTABLE_OFFSET_COMMIT (the client
//! retries) until the transaction ends.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchResponse, TopicName};

use super::str;
use crate::broker::Broker;
use crate::coordinator::offsets::Committed;
use crate::protocol::reader::{Reader, Result};

/// One group's request: `None` topics means all committed partitions.
pub struct GroupFetch {
    pub group_id: String,
    pub topics: Option<Topics>,
}

pub struct OffsetFetchRequest {
    pub groups: Vec<GroupFetch>,
    pub require_stable: bool,
}

/// (topic, partitions) asked for.
type Topics = Vec<(String, Vec<i32>)>;

fn topics(r: &mut Reader) -> Result<Option<Topics>> {
    r.nullable_array("topics", |r| {
        let name = r.string("topic name")?;
        let parts = r.array("partition indexes", |r| r.i32())?;
        r.tagged_fields()?;
        Ok((name, parts))
    })
}

impl OffsetFetchRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let groups = if version >= 8 {
            r.array("groups", |r| {
                let group_id = r.string("group id")?;
                if version >= 9 {
                    r.nullable_string()?; // member id
                    r.i32()?; // member epoch
                }
                let topics = topics(r)?;
                r.tagged_fields()?;
                Ok(GroupFetch { group_id, topics })
            })?
        } else {
            let group_id = r.string("group id")?;
            vec![GroupFetch {
                group_id,
                topics: topics(r)?,
            }]
        };
        let require_stable = version >= 7 && r.bool()?;
        r.tagged_fields()?;
        Ok(OffsetFetchRequest {
            groups,
            require_stable,
        })
    }
}

/// (topic, [(partition, committed)]) for one group's request.
type Found = Vec<(String, Vec<(i32, Option<Committed>)>)>;

fn lookup(broker: &Broker, g: &GroupFetch) -> Found {
    match &g.topics {
        Some(topics) => topics
            .iter()
            .map(|(t, ps)| {
                (
                    t.clone(),
                    ps.iter()
                        .map(|p| (*p, broker.coordinator.offsets.get(&g.group_id, t, *p)))
                        .collect(),
                )
            })
            .collect(),
        None => {
            let mut out: Found = Vec::new();
            for ((t, p), c) in broker.coordinator.offsets.all(&g.group_id) {
                match out.last_mut() {
                    Some((last, ps)) if *last == t => ps.push((p, Some(c))),
                    _ => out.push((t, vec![(p, Some(c))])),
                }
            }
            out
        }
    }
}

fn fields(c: &Option<Committed>) -> (i64, i32, String) {
    match c {
        Some(c) => (c.offset, c.leader_epoch, c.metadata.clone()),
        None => (-1, -1, String::new()),
    }
}

/// UNSTABLE_OFFSET_COMMIT.
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

/// The partition's error: UNSTABLE_OFFSET_COMMIT while an open transaction
/// holds an offset for it and the client asked for stable offsets.
fn stability(broker: &Broker, stable: bool, group: &str, topic: &str, p: i32) -> i16 {
    if stable && broker.catalog.transactions.unstable(group, topic, p) {
        UNSTABLE_OFFSET_COMMIT
    } else {
        0
    }
}

/// Needs DESCRIBE on the group (else GROUP_AUTHORIZATION_FAILED); topics
/// the principal may not DESCRIBE are left out.
pub fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    version: i16,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    use crate::security::acl::Operation;
    let group_ok =
        |g: &GroupFetch| super::group_allowed(broker, conn, Operation::Describe, &g.group_id);
    let lookup = |g: &GroupFetch| {
        let mut found = lookup(broker, g);
        found.retain(|(t, _)| super::topic_allowed(broker, conn, Operation::Describe, t));
        found
    };
    if version >= 8 {
        return OffsetFetchResponse::default().with_groups(
            req.groups
                .iter()
                .map(|g| {
                    let group = OffsetFetchResponseGroup::default()
                        .with_group_id(GroupId(str(&g.group_id)));
                    if !group_ok(g) {
                        return group.with_error_code(super::GROUP_AUTHORIZATION_FAILED);
                    }
                    group.with_topics(
                        lookup(g)
                            .into_iter()
                            .map(|(t, ps)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(TopicName(str(t.as_str())))
                                    .with_partitions(
                                        ps.iter()
                                            .map(|(p, c)| {
                                                let (o, e, m) = fields(c);
                                                OffsetFetchResponsePartitions::default()
                                                    .with_error_code(stability(
                                                        broker,
                                                        req.require_stable,
                                                        &g.group_id,
                                                        &t,
                                                        *p,
                                                    ))
                                                    .with_partition_index(*p)
                                                    .with_committed_offset(o)
                                                    .with_committed_leader_epoch(e)
                                                    .with_metadata(Some(str(m)))
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    )
                })
                .collect(),
        );
    }
    if let Some(g) = req.groups.first().filter(|g| !group_ok(g)) {
        let _ = g;
        return OffsetFetchResponse::default().with_error_code(super::GROUP_AUTHORIZATION_FAILED);
    }
    let group = req.groups.first().map_or("", |g| g.group_id.as_str());
    let found = req.groups.first().map(lookup).unwrap_or_default();
    OffsetFetchResponse::default().with_topics(
        found
            .into_iter()
            .map(|(t, ps)| {
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(str(t.as_str())))
                    .with_partitions(
                        ps.iter()
                            .map(|(p, c)| {
                                let (o, e, m) = fields(c);
                                OffsetFetchResponsePartition::default()
                                    .with_error_code(stability(
                                        broker,
                                        req.require_stable,
                                        group,
                                        &t,
                                        *p,
                                    ))
                                    .with_partition_index(*p)
                                    .with_committed_offset(o)
                                    .with_committed_leader_epoch(e)
                                    .with_metadata(Some(str(m)))
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}
