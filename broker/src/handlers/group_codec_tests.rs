//! Differential tests of the group APIs' request decoders (the companion of
//! `codec_tests.rs`): each served version encoded by the `kafka-protocol`
//! crate, decoded by Skiff, the fields compared; and every truncation of a
//! valid request is an error.

use kafka_protocol::messages::*;

use super::codec_tests::{body, range, s, whole};
use super::*;

/// Decodes the whole frame, and checks every truncation fails cleanly.
fn whole_and_truncations<R: Encodable>(api: ApiKey, v: i16, req: &R) {
    let full = whole(api, v, req);
    decode_request(full.clone()).unwrap();
    for cut in 0..full.len() {
        assert!(
            decode_request(full.slice(..cut)).is_err(),
            "{api:?} v{v} cut at {cut}"
        );
    }
}

#[test]
fn find_coordinator_all_versions() {
    for v in range(ApiKey::FindCoordinator) {
        let req = if v >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g1"), s("g2")])
        } else {
            FindCoordinatorRequest::default().with_key(s("g1"))
        };
        let got = find_coordinator::FindCoordinatorRequest::decode(
            &mut body(ApiKey::FindCoordinator, v, &req),
            v,
        )
        .unwrap();
        let want: Vec<String> = if v >= 4 {
            vec!["g1".into(), "g2".into()]
        } else {
            vec!["g1".into()]
        };
        assert_eq!(got.keys, want, "v{v}");
        assert_eq!(got.key_type, 0);
        whole_and_truncations(ApiKey::FindCoordinator, v, &req);
    }
}

#[test]
fn join_group_all_versions() {
    for v in range(ApiKey::JoinGroup) {
        let req = JoinGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_session_timeout_ms(6000)
            .with_rebalance_timeout_ms(if v >= 1 { 9000 } else { -1 })
            .with_member_id(s("m-1"))
            .with_group_instance_id(if v >= 5 { Some(s("i")) } else { None })
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
            )
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"md"))]);
        let got =
            join_group::JoinGroupRequest::decode(&mut body(ApiKey::JoinGroup, v, &req), v, "cid")
                .unwrap();
        assert_eq!(got.group_id, "g");
        let j = got.join;
        assert_eq!(j.member_id, "m-1", "v{v}");
        assert_eq!(j.session_timeout_ms, 6000);
        assert_eq!(j.rebalance_timeout_ms, if v >= 1 { 9000 } else { 6000 });
        assert_eq!(
            j.instance_id.as_deref(),
            if v >= 5 { Some("i") } else { None }
        );
        assert_eq!(
            j.protocols,
            vec![("range".to_string(), Bytes::from_static(b"md"))]
        );
        assert_eq!(j.require_known_member_id, v >= 4);
        whole_and_truncations(ApiKey::JoinGroup, v, &req);
    }
}

#[test]
fn sync_heartbeat_leave_all_versions() {
    for v in range(ApiKey::SyncGroup) {
        let req = SyncGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id(4)
            .with_member_id(s("m"))
            .with_protocol_type(if v >= 5 { Some(s("consumer")) } else { None })
            .with_protocol_name(if v >= 5 { Some(s("range")) } else { None })
            .with_assignments(vec![
                sync_group_request::SyncGroupRequestAssignment::default()
                    .with_member_id(s("m"))
                    .with_assignment(Bytes::from_static(b"a")),
            ]);
        let got =
            sync_group::SyncGroupRequest::decode(&mut body(ApiKey::SyncGroup, v, &req), v).unwrap();
        assert_eq!((got.generation, got.member_id.as_str()), (4, "m"), "v{v}");
        assert_eq!(
            got.assignments,
            vec![("m".to_string(), Bytes::from_static(b"a"))]
        );
        assert_eq!(
            got.protocol_name.as_deref(),
            if v >= 5 { Some("range") } else { None }
        );
        whole_and_truncations(ApiKey::SyncGroup, v, &req);
    }
    for v in range(ApiKey::Heartbeat) {
        let req = HeartbeatRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id(2)
            .with_member_id(s("m"))
            .with_group_instance_id(if v >= 3 { Some(s("i")) } else { None });
        let got =
            heartbeat::HeartbeatRequest::decode(&mut body(ApiKey::Heartbeat, v, &req), v).unwrap();
        assert_eq!((got.group_id.as_str(), got.generation), ("g", 2), "v{v}");
        assert_eq!(
            got.instance_id.as_deref(),
            if v >= 3 { Some("i") } else { None }
        );
        whole_and_truncations(ApiKey::Heartbeat, v, &req);
    }
    for v in range(ApiKey::LeaveGroup) {
        let req = if v >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_members(vec![
                    leave_group_request::MemberIdentity::default().with_member_id(s("a")),
                    leave_group_request::MemberIdentity::default()
                        .with_member_id(s(""))
                        .with_group_instance_id(Some(s("i"))),
                ])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_member_id(s("a"))
        };
        let got = leave_group::LeaveGroupRequest::decode(&mut body(ApiKey::LeaveGroup, v, &req), v)
            .unwrap();
        let mut want = vec![("a".to_string(), None)];
        if v >= 3 {
            want.push((String::new(), Some("i".to_string())));
        }
        assert_eq!(got.members, want, "v{v}");
        whole_and_truncations(ApiKey::LeaveGroup, v, &req);
    }
}

#[test]
fn offset_commit_and_fetch_all_versions() {
    for v in range(ApiKey::OffsetCommit) {
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id_or_member_epoch(3)
            .with_member_id(s("m"))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(2)
                            .with_committed_offset(77)
                            .with_committed_leader_epoch(if v >= 6 { 5 } else { -1 })
                            .with_committed_metadata(Some(s("md"))),
                    ]),
            ]);
        let got =
            offset_commit::OffsetCommitRequest::decode(&mut body(ApiKey::OffsetCommit, v, &req), v)
                .unwrap();
        assert_eq!((got.generation, got.member_id.as_str()), (3, "m"), "v{v}");
        let p = &got.topics[0].1[0];
        assert_eq!(got.topics[0].0, "t");
        assert_eq!((p.partition, p.offset), (2, 77));
        assert_eq!(p.leader_epoch, if v >= 6 { 5 } else { -1 });
        assert_eq!(p.metadata.as_deref(), Some("md"));
        whole_and_truncations(ApiKey::OffsetCommit, v, &req);
    }
    for v in range(ApiKey::OffsetFetch) {
        let req = if v >= 8 {
            OffsetFetchRequest::default().with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("g")))
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopics::default()
                            .with_name(TopicName(s("t")))
                            .with_partition_indexes(vec![0, 1]),
                    ])),
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("h")))
                    .with_topics(None),
            ])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_partition_indexes(vec![0, 1]),
                ]))
        };
        let got =
            offset_fetch::OffsetFetchRequest::decode(&mut body(ApiKey::OffsetFetch, v, &req), v)
                .unwrap();
        assert_eq!(got.groups[0].group_id, "g", "v{v}");
        assert_eq!(
            got.groups[0].topics,
            Some(vec![("t".to_string(), vec![0, 1])])
        );
        if v >= 8 {
            assert_eq!(got.groups[1].group_id, "h");
            assert_eq!(got.groups[1].topics, None);
        }
        whole_and_truncations(ApiKey::OffsetFetch, v, &req);
    }
}

#[test]
fn group_admin_apis_all_versions() {
    for v in range(ApiKey::ListGroups) {
        let req = ListGroupsRequest::default()
            .with_states_filter(if v >= 4 { vec![s("Stable")] } else { vec![] })
            .with_types_filter(if v >= 5 { vec![s("classic")] } else { vec![] });
        let got = list_groups::ListGroupsRequest::decode(&mut body(ApiKey::ListGroups, v, &req), v)
            .unwrap();
        assert_eq!(got.states.len(), usize::from(v >= 4), "v{v}");
        assert_eq!(got.types.len(), usize::from(v >= 5));
        decode_request(whole(ApiKey::ListGroups, v, &req)).unwrap();
    }
    for v in range(ApiKey::DescribeGroups) {
        let req =
            DescribeGroupsRequest::default().with_groups(vec![GroupId(s("a")), GroupId(s("b"))]);
        let got = describe_groups::DescribeGroupsRequest::decode(
            &mut body(ApiKey::DescribeGroups, v, &req),
            v,
        )
        .unwrap();
        assert_eq!(got.groups, vec!["a".to_string(), "b".to_string()], "v{v}");
        whole_and_truncations(ApiKey::DescribeGroups, v, &req);
    }
    for v in range(ApiKey::DeleteGroups) {
        let req = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("a"))]);
        let got =
            delete_groups::DeleteGroupsRequest::decode(&mut body(ApiKey::DeleteGroups, v, &req), v)
                .unwrap();
        assert_eq!(got.groups, vec!["a".to_string()], "v{v}");
        whole_and_truncations(ApiKey::DeleteGroups, v, &req);
    }
    for v in range(ApiKey::OffsetDelete) {
        let req = OffsetDeleteRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_topics(vec![
                offset_delete_request::OffsetDeleteRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![
                        offset_delete_request::OffsetDeleteRequestPartition::default()
                            .with_partition_index(3),
                    ]),
            ]);
        let got =
            offset_delete::OffsetDeleteRequest::decode(&mut body(ApiKey::OffsetDelete, v, &req), v)
                .unwrap();
        assert_eq!(got.topics, vec![("t".to_string(), vec![3])], "v{v}");
        whole_and_truncations(ApiKey::OffsetDelete, v, &req);
    }
}
