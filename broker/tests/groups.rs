//! The group coordinator end to end through the wire, with a client built on
//! `kafka-protocol`: the member-id-required round trip, generations and the
//! join/sync barriers, error codes, session expiry, static members, and
//! committed offsets across restarts and topic deletion.

use std::time::Duration;

use crate::common::{Client, TestBroker};
use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn join_req(member: &str, instance: Option<&str>, session_ms: i32) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_session_timeout_ms(session_ms)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"meta")),
            JoinGroupRequestProtocol::default()
                .with_name(s("roundrobin"))
                .with_metadata(Bytes::from_static(b"meta2")),
        ])
}

async fn join(c: &mut Client, member: &str, instance: Option<&str>) -> JoinGroupResponse {
    c.call(ApiKey::JoinGroup, 5, &join_req(member, instance, 6000))
        .await
}

/// KIP-394: the first join gets an id, the second joins with it.
async fn join_new(c: &mut Client) -> JoinGroupResponse {
    let first = join(c, "", None).await;
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    assert!(!first.member_id.is_empty());
    join(c, &first.member_id, None).await
}

async fn sync(
    c: &mut Client,
    member: &str,
    instance: Option<&str>,
    generation: i32,
    assignments: &[(&str, &'static [u8])],
) -> SyncGroupResponse {
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s))
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(Bytes::from_static(a))
                })
                .collect(),
        );
    c.call(ApiKey::SyncGroup, 3, &req).await
}

async fn heartbeat(c: &mut Client, member: &str, instance: Option<&str>, generation: i32) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s));
    let r: HeartbeatResponse = c.call(ApiKey::Heartbeat, 3, &req).await;
    r.error_code
}

#[tokio::test]
async fn member_id_required_join_sync_heartbeat_and_errors() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let fc: FindCoordinatorResponse = c
        .call(
            ApiKey::FindCoordinator,
            4,
            &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g"), s("h")]),
        )
        .await;
    assert_eq!(fc.coordinators.len(), 2);
    assert_eq!(fc.coordinators[1].port, b.addr.port() as i32);

    let j = join_new(&mut c).await;
    assert_eq!(j.error_code, 0);
    assert_eq!(j.generation_id, 1);
    assert_eq!(j.leader, j.member_id);
    assert_eq!(j.protocol_name.as_deref(), Some("range"));
    assert_eq!(j.members.len(), 1);
    assert_eq!(j.members[0].metadata.as_ref(), b"meta");
    let me = j.member_id.to_string();

    assert_eq!(sync(&mut c, &me, None, 2, &[]).await.error_code, 22);
    let sr = sync(&mut c, &me, None, 1, &[(me.as_str(), b"mine")]).await;
    assert_eq!(sr.error_code, 0);
    assert_eq!(sr.assignment.as_ref(), b"mine");
    assert_eq!(heartbeat(&mut c, &me, None, 1).await, 0);
    assert_eq!(heartbeat(&mut c, &me, None, 7).await, 22);
    assert_eq!(heartbeat(&mut c, "nobody", None, 1).await, 25);

    // Another protocol type, or no common protocol: INCONSISTENT_GROUP_PROTOCOL.
    let mut other = b.client().await;
    let r: JoinGroupResponse = other
        .call(
            ApiKey::JoinGroup,
            5,
            &join_req("", None, 6000).with_protocol_type(s("connect")),
        )
        .await;
    assert_eq!(r.error_code, 23);
    // Session timeout outside the allowed range: INVALID_SESSION_TIMEOUT.
    let r: JoinGroupResponse = other
        .call(ApiKey::JoinGroup, 5, &join_req("", None, 10))
        .await;
    assert_eq!(r.error_code, 26);

    // A group with members cannot be deleted; an unknown one is not found.
    let d: DeleteGroupsResponse = c
        .call(
            ApiKey::DeleteGroups,
            2,
            &DeleteGroupsRequest::default()
                .with_groups_names(vec![GroupId(s("g")), GroupId(s("x"))]),
        )
        .await;
    assert_eq!(d.results[0].error_code, 68);
    assert_eq!(d.results[1].error_code, 69);

    // LeaveGroup (batched) empties the group; then it can be deleted.
    let l: LeaveGroupResponse = c
        .call(
            ApiKey::LeaveGroup,
            4,
            &LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_members(vec![
                    leave_group_request::MemberIdentity::default().with_member_id(s(&me)),
                    leave_group_request::MemberIdentity::default().with_member_id(s("ghost")),
                ]),
        )
        .await;
    assert_eq!(l.members[0].error_code, 0);
    assert_eq!(l.members[1].error_code, 25);
    let d: DeleteGroupsResponse = c
        .call(
            ApiKey::DeleteGroups,
            2,
            &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g"))]),
        )
        .await;
    assert_eq!(d.results[0].error_code, 0);
    b.stop().await;
}

#[tokio::test]
async fn second_member_rebalances_both_at_once() {
    let b = TestBroker::start().await;
    let mut a = b.client().await;
    let ja = join_new(&mut a).await;
    let ida = ja.member_id.to_string();
    assert_eq!(sync(&mut a, &ida, None, 1, &[]).await.error_code, 0);

    let mut bc = b.client().await;
    let first = join(&mut bc, "", None).await;
    let idb = first.member_id.to_string();
    let waiting = tokio::spawn(async move {
        let r = join(&mut bc, &idb, None).await;
        (bc, r)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(heartbeat(&mut a, &ida, None, 1).await, 27);
    let start = std::time::Instant::now();
    let ra = join(&mut a, &ida, None).await;
    let (mut bc, rb) = waiting.await.unwrap();
    // Completed by the last rejoin, not by a timer.
    assert!(start.elapsed() < Duration::from_millis(500));
    assert_eq!((ra.generation_id, rb.generation_id), (2, 2));
    assert_eq!(ra.leader.as_str(), ida.as_str(), "the leader stays");
    assert_eq!(ra.members.len(), 2);
    assert!(rb.members.is_empty());

    let idb = rb.member_id.to_string();
    let follower = tokio::spawn(async move { sync(&mut bc, &idb, None, 2, &[]).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let rbid = rb.member_id.to_string();
    let la = sync(
        &mut a,
        &ida,
        None,
        2,
        &[(ida.as_str(), b"A"), (rbid.as_str(), b"B")],
    )
    .await;
    assert_eq!(la.assignment.as_ref(), b"A");
    assert_eq!(follower.await.unwrap().assignment.as_ref(), b"B");
    b.stop().await;
}

#[tokio::test]
async fn expired_session_removes_the_member() {
    let b = TestBroker::start().await;
    let mut a = b.client().await;
    let mut other = b.client().await;
    let first = join(&mut a, "", None).await;
    let ida = first.member_id.to_string();
    let r: JoinGroupResponse = a
        .call(ApiKey::JoinGroup, 5, &join_req(&ida, None, 1000))
        .await;
    assert_eq!(r.generation_id, 1);
    sync(&mut a, &ida, None, 1, &[]).await;
    // A second, silent member with a 1 s session.
    let f = join(&mut other, "", None).await;
    let idb = f.member_id.to_string();
    let pending = tokio::spawn(async move {
        let r: JoinGroupResponse = other
            .call(ApiKey::JoinGroup, 5, &join_req(&idb, None, 1000))
            .await;
        r
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(heartbeat(&mut a, &ida, None, 1).await, 27);
    let _ = a
        .call::<_, JoinGroupResponse>(ApiKey::JoinGroup, 5, &join_req(&ida, None, 1000))
        .await;
    let rb = pending.await.unwrap();
    assert_eq!(rb.generation_id, 2);
    // a syncs and heartbeats; b never does: after ~1 s it is expired and a
    // is told to rebalance.
    sync(&mut a, &ida, None, 2, &[]).await;
    let mut code = 0;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        code = heartbeat(&mut a, &ida, None, 2).await;
        if code != 0 {
            break;
        }
    }
    assert_eq!(code, 27, "expired member triggers a rebalance");
    let r: JoinGroupResponse = a
        .call(ApiKey::JoinGroup, 5, &join_req(&ida, None, 1000))
        .await;
    assert_eq!(r.generation_id, 3);
    assert_eq!(r.members.len(), 1, "only a is left");
    b.stop().await;
}

#[tokio::test]
async fn static_member_rejoins_without_rebalance_and_fences_old_id() {
    let b = TestBroker::start().await;
    let mut a = b.client().await;
    let ja = join(&mut a, "", Some("inst-a")).await;
    assert_eq!(ja.error_code, 0, "static members skip MEMBER_ID_REQUIRED");
    let old = ja.member_id.to_string();
    sync(&mut a, &old, Some("inst-a"), 1, &[(old.as_str(), b"parts")]).await;

    let mut restarted = b.client().await;
    let jr = join(&mut restarted, "", Some("inst-a")).await;
    assert_eq!(jr.error_code, 0);
    assert_eq!(jr.generation_id, 1, "no new generation");
    assert_ne!(jr.member_id.as_str(), old.as_str());
    let new = jr.member_id.to_string();
    let sr = sync(&mut restarted, &new, Some("inst-a"), 1, &[]).await;
    assert_eq!(sr.assignment.as_ref(), b"parts");
    assert_eq!(heartbeat(&mut a, &old, Some("inst-a"), 1).await, 82);
    assert_eq!(heartbeat(&mut restarted, &new, Some("inst-a"), 1).await, 0);
    b.stop().await;
}

fn commit_req(group: &str, topic: &str, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(s(""))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(3)
                .with_committed_metadata(Some(s("meta")))])])
}

async fn fetch_v8(c: &mut Client, groups: &[&str], topic: &str) -> Vec<(i64, i32, String)> {
    let req = OffsetFetchRequest::default().with_groups(
        groups
            .iter()
            .map(|g| {
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s(g)))
                    .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                        .with_name(TopicName(s(topic)))
                        .with_partition_indexes(vec![0])]))
            })
            .collect(),
    );
    let r: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, 8, &req).await;
    r.groups
        .iter()
        .map(|g| {
            let p = &g.topics[0].partitions[0];
            (
                p.committed_offset,
                p.committed_leader_epoch,
                p.metadata.as_deref().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn committed_offsets_survive_restart_and_go_with_their_topic() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let _: MetadataResponse = c
        .call(
            ApiKey::Metadata,
            4,
            &MetadataRequest::default()
                .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                )
                .with_name(Some(TopicName(s("t"))))]))
                .with_allow_auto_topic_creation(true),
        )
        .await;
    for (group, offset) in [("g1", 5), ("g2", 9)] {
        let r: OffsetCommitResponse = c
            .call(ApiKey::OffsetCommit, 8, &commit_req(group, "t", offset))
            .await;
        assert_eq!(r.topics[0].partitions[0].error_code, 0);
    }
    let r: OffsetCommitResponse = c
        .call(ApiKey::OffsetCommit, 8, &commit_req("g1", "missing", 1))
        .await;
    assert_eq!(r.topics[0].partitions[0].error_code, 3);
    let got = fetch_v8(&mut c, &["g1", "g2", "g3"], "t").await;
    assert_eq!(
        got,
        vec![
            (5, 3, "meta".to_string()),
            (9, 3, "meta".to_string()),
            (-1, -1, String::new())
        ]
    );
    drop(c);
    let dir = b.stop().await;

    let b = TestBroker::start_in(dir, |_| {}).await;
    let mut c = b.client().await;
    // The pre-v8 form, one group.
    let r: OffsetFetchResponse = c
        .call(
            ApiKey::OffsetFetch,
            7,
            &OffsetFetchRequest::default()
                .with_group_id(GroupId(s("g1")))
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(vec![0])])),
        )
        .await;
    assert_eq!(r.topics[0].partitions[0].committed_offset, 5);
    let lg: ListGroupsResponse = c
        .call(ApiKey::ListGroups, 4, &ListGroupsRequest::default())
        .await;
    assert_eq!(lg.groups.len(), 2);
    assert_eq!(lg.groups[0].group_state.as_str(), "Empty");

    let _: DeleteTopicsResponse = c
        .call(
            ApiKey::DeleteTopics,
            4,
            &DeleteTopicsRequest::default()
                .with_topic_names(vec![TopicName(s("t"))])
                .with_timeout_ms(1000),
        )
        .await;
    assert_eq!(
        fetch_v8(&mut c, &["g1"], "t").await,
        vec![(-1, -1, String::new())]
    );
    drop(c);
    let dir = b.stop().await;
    let b = TestBroker::start_in(dir, |_| {}).await;
    let mut c = b.client().await;
    assert_eq!(
        fetch_v8(&mut c, &["g1", "g2"], "t").await,
        vec![(-1, -1, String::new()), (-1, -1, String::new())]
    );
    b.stop().await;
}

#[tokio::test]
async fn initial_rebalance_delay_gathers_early_joiners_into_one_generation() {
    let b = TestBroker::start_with(|s| s.group_initial_rebalance_delay_ms = 300).await;
    let mut a = b.client().await;
    let mut c2 = b.client().await;
    let ida = join(&mut a, "", None).await.member_id.to_string();
    let idb = join(&mut c2, "", None).await.member_id.to_string();
    let start = std::time::Instant::now();
    let ta = tokio::spawn(async move { join(&mut a, &ida, None).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let tb = tokio::spawn(async move { join(&mut c2, &idb, None).await });
    let (ra, rb) = (ta.await.unwrap(), tb.await.unwrap());
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    assert_eq!((ra.generation_id, rb.generation_id), (1, 1));
    assert_eq!(ra.members.len() + rb.members.len(), 2);
    b.stop().await;
}

#[tokio::test]
async fn an_emptied_group_without_offsets_is_forgotten() {
    let b = TestBroker::start_with(|s| s.group_empty_retention_ms = 200).await;
    let mut c = b.client().await;
    let j = join_new(&mut c).await;
    let me = j.member_id.to_string();
    let l: LeaveGroupResponse = c
        .call(
            ApiKey::LeaveGroup,
            1,
            &LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_member_id(s(&me)),
        )
        .await;
    assert_eq!(l.error_code, 0);
    // Still there (Empty) right after the last member left, as in Kafka.
    let lg: ListGroupsResponse = c
        .call(ApiKey::ListGroups, 4, &ListGroupsRequest::default())
        .await;
    assert_eq!(lg.groups[0].group_state.as_str(), "Empty");
    let mut listed = usize::MAX;
    for _ in 0..20 {
        let lg: ListGroupsResponse = c
            .call(ApiKey::ListGroups, 4, &ListGroupsRequest::default())
            .await;
        listed = lg.groups.len();
        if listed == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listed, 0);
    // The id can be used again from scratch.
    assert_eq!(join_new(&mut c).await.generation_id, 1);
    b.stop().await;
}
