//! Differential tests of the transaction APIs' request decoders against the
//! `kafka-protocol` crate's encoders, at every served version (see
//! `codec_tests.rs`), and their bounds on hostile counts.

use kafka_protocol::messages::*;

use super::codec_tests::{body, range, s, whole};
use super::*;

#[test]
fn init_producer_id_with_a_transactional_id_all_versions() {
    for v in range(ApiKey::InitProducerId) {
        let mut req = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s("tx-1"))))
            .with_transaction_timeout_ms(60_000);
        if v >= 3 {
            req = req
                .with_producer_id(ProducerId(1234))
                .with_producer_epoch(7);
        }
        let got = init_producer_id::InitProducerIdRequest::decode(
            &mut body(ApiKey::InitProducerId, v, &req),
            v,
        )
        .unwrap();
        assert_eq!(got.transactional_id.as_deref(), Some("tx-1"), "v{v}");
        assert_eq!(got.transaction_timeout_ms, 60_000);
        assert_eq!(got.current, if v >= 3 { (1234, 7) } else { (-1, -1) });
        decode_request(whole(ApiKey::InitProducerId, v, &req)).unwrap();
    }
}

#[test]
fn add_partitions_to_txn_all_versions() {
    for v in range(ApiKey::AddPartitionsToTxn) {
        let req = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(s("tx-1")))
            .with_v3_and_below_producer_id(ProducerId(1000))
            .with_v3_and_below_producer_epoch(2)
            .with_v3_and_below_topics(vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![0, 3]),
            ]);
        let got = add_partitions_to_txn::AddPartitionsToTxnRequest::decode(
            &mut body(ApiKey::AddPartitionsToTxn, v, &req),
            v,
        )
        .unwrap();
        assert_eq!(got.transactional_id, "tx-1", "v{v}");
        assert_eq!((got.producer_id, got.producer_epoch), (1000, 2));
        assert_eq!(got.topics, vec![("orders".to_string(), vec![0, 3])]);
        decode_request(whole(ApiKey::AddPartitionsToTxn, v, &req)).unwrap();
    }
}

#[test]
fn add_offsets_and_end_txn_all_versions() {
    for v in range(ApiKey::AddOffsetsToTxn) {
        let req = AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(s("tx-1")))
            .with_producer_id(ProducerId(1000))
            .with_producer_epoch(2)
            .with_group_id(GroupId(s("g")));
        let got = add_offsets_to_txn::AddOffsetsToTxnRequest::decode(
            &mut body(ApiKey::AddOffsetsToTxn, v, &req),
            v,
        )
        .unwrap();
        assert_eq!(
            (
                got.transactional_id.as_str(),
                got.producer_id,
                got.producer_epoch,
                got.group_id.as_str()
            ),
            ("tx-1", 1000, 2, "g"),
            "v{v}"
        );
        decode_request(whole(ApiKey::AddOffsetsToTxn, v, &req)).unwrap();
    }
    for v in range(ApiKey::EndTxn) {
        let req = EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s("tx-1")))
            .with_producer_id(ProducerId(1000))
            .with_producer_epoch(2)
            .with_committed(true);
        let got = end_txn::EndTxnRequest::decode(&mut body(ApiKey::EndTxn, v, &req), v).unwrap();
        assert_eq!(
            (
                got.transactional_id.as_str(),
                got.producer_id,
                got.producer_epoch,
                got.committed
            ),
            ("tx-1", 1000, 2, true),
            "v{v}"
        );
        decode_request(whole(ApiKey::EndTxn, v, &req)).unwrap();
    }
}

#[test]
fn txn_offset_commit_all_versions() {
    for v in range(ApiKey::TxnOffsetCommit) {
        let mut req = TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s("tx-1")))
            .with_group_id(GroupId(s("g")))
            .with_producer_id(ProducerId(1000))
            .with_producer_epoch(2)
            .with_topics(vec![
                txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![
                        txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(1)
                            .with_committed_offset(42)
                            .with_committed_leader_epoch(if v >= 2 { 5 } else { -1 })
                            .with_committed_metadata(Some(s("m"))),
                    ]),
            ]);
        if v >= 3 {
            req = req
                .with_generation_id(4)
                .with_member_id(s("member-1"))
                .with_group_instance_id(None);
        }
        let got = txn_offset_commit::TxnOffsetCommitRequest::decode(
            &mut body(ApiKey::TxnOffsetCommit, v, &req),
            v,
        )
        .unwrap();
        assert_eq!(got.transactional_id, "tx-1", "v{v}");
        assert_eq!(got.group_id, "g");
        assert_eq!(got.generation, if v >= 3 { 4 } else { -1 });
        assert_eq!(got.member_id, if v >= 3 { "member-1" } else { "" });
        let p = &got.topics[0].1[0];
        assert_eq!(
            (p.partition, p.offset, p.metadata.as_deref()),
            (1, 42, Some("m"))
        );
        assert_eq!(p.leader_epoch, if v >= 2 { 5 } else { -1 });
        decode_request(whole(ApiKey::TxnOffsetCommit, v, &req)).unwrap();
    }
}

#[test]
fn describe_and_list_transactions_all_versions() {
    for v in range(ApiKey::DescribeTransactions) {
        let req = DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(s("a")), TransactionalId(s("b"))]);
        let got = describe_transactions::DescribeTransactionsRequest::decode(
            &mut body(ApiKey::DescribeTransactions, v, &req),
            v,
        )
        .unwrap();
        assert_eq!(got.ids, vec!["a".to_string(), "b".to_string()]);
        decode_request(whole(ApiKey::DescribeTransactions, v, &req)).unwrap();
    }
    for v in range(ApiKey::ListTransactions) {
        let mut req = ListTransactionsRequest::default()
            .with_state_filters(vec![s("Ongoing")])
            .with_producer_id_filters(vec![ProducerId(9)]);
        if v >= 1 {
            req = req.with_duration_filter(1000);
        }
        let got = describe_transactions::ListTransactionsRequest::decode(
            &mut body(ApiKey::ListTransactions, v, &req),
            v,
        )
        .unwrap();
        assert_eq!(got.states, vec!["Ongoing".to_string()], "v{v}");
        assert_eq!(got.producer_ids, vec![9]);
        assert_eq!(got.min_duration_ms, if v >= 1 { 1000 } else { -1 });
        decode_request(whole(ApiKey::ListTransactions, v, &req)).unwrap();
    }
}

#[test]
fn a_huge_partition_count_is_refused_before_any_allocation() {
    // AddPartitionsToTxn v3 (flexible) claiming 2^31 partitions in 30 bytes.
    let mut frame = bytes::BytesMut::new();
    // Header v2: key 24, version 3, correlation id 1, empty client id,
    // no tagged fields.
    frame.extend_from_slice(&[0, 24, 0, 3, 0, 0, 0, 1, 0, 0, 0]);
    frame.extend_from_slice(&[5, b't', b'x', b'-', b'1']); // transactional id
    frame.extend_from_slice(&1000i64.to_be_bytes());
    frame.extend_from_slice(&2i16.to_be_bytes());
    frame.extend_from_slice(&[2, 2, b't']); // one topic named "t"
    frame.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]); // partitions: 2^31 - 2
    assert!(decode_request(frame.freeze()).is_err());
}
