//! DescribeTransactions (v0, KIP-664) and ListTransactions (v0-1): the
//! transaction coordinator's state as last committed, for admin tools
//! (`kafka-transactions.sh`, AdminClient). Ids the principal may not
//! DESCRIBE are left out of a list and answered
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED when named.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::list_transactions_response::TransactionState as Listed;
use kafka_protocol::messages::{
    DescribeTransactionsResponse, ListTransactionsResponse, ProducerId, TopicName, TransactionalId,
};

use super::str;
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::protocol::reader::{Reader, Result};
use crate::security::acl::{Operation, ResourceType};

pub struct DescribeTransactionsRequest {
    pub ids: Vec<String>,
}

impl DescribeTransactionsRequest {
    pub fn decode(r: &mut Reader, _version: i16) -> Result<Self> {
        let ids = r.array("transactional ids", |r| r.string("transactional id"))?;
        r.tagged_fields()?;
        Ok(DescribeTransactionsRequest { ids })
    }
}

pub struct ListTransactionsRequest {
    pub states: Vec<String>,
    pub producer_ids: Vec<i64>,
    /// v1: only transactions running longer than this (ms); -1 all.
    pub min_duration_ms: i64,
}

impl ListTransactionsRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let states = r.array("state filters", |r| r.string("state"))?;
        let producer_ids = r.array("producer id filters", |r| r.i64())?;
        let min_duration_ms = if version >= 1 { r.i64()? } else { -1 };
        r.tagged_fields()?;
        Ok(ListTransactionsRequest {
            states,
            producer_ids,
            min_duration_ms,
        })
    }
}

fn may_describe(broker: &Broker, conn: &crate::connection::ConnectionState, id: &str) -> bool {
    super::allowed(
        broker,
        conn,
        Operation::Describe,
        ResourceType::TransactionalId,
        id,
    )
}

pub fn describe(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut seen = std::collections::HashSet::new();
    let states = req
        .ids
        .into_iter()
        .filter(|id| seen.insert(id.clone()))
        .map(|id| {
            let out = TransactionState::default()
                .with_transactional_id(TransactionalId(str(id.as_str())))
                .with_transaction_state(str(""))
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1);
            if !may_describe(broker, conn, &id) {
                return out
                    .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
            }
            let Some(t) = broker.catalog.transactions.get(&id) else {
                return out.with_error_code(ResponseError::TransactionalIdNotFound.code());
            };
            let mut topics: Vec<TopicData> = Vec::new();
            for (topic, index) in &t.partitions {
                match topics.iter_mut().find(|d| d.topic.0.as_str() == topic) {
                    Some(d) => d.partitions.push(*index),
                    None => topics.push(
                        TopicData::default()
                            .with_topic(TopicName(str(topic.as_str())))
                            .with_partitions(vec![*index]),
                    ),
                }
            }
            out.with_transaction_state(str(t.state.name()))
                .with_transaction_timeout_ms(t.timeout_ms)
                .with_transaction_start_time_ms(t.started_ms)
                .with_producer_id(ProducerId(t.producer_id))
                .with_producer_epoch(t.epoch)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

const STATES: [&str; 4] = ["Empty", "Ongoing", "CompleteCommit", "CompleteAbort"];

pub fn list(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
    // Kafka's other states (PrepareCommit, PrepareAbort, PrepareEpochFence,
    // Dead) are known names that Skiff never holds.
    let known = |s: &str| {
        STATES.contains(&s)
            || ["PrepareCommit", "PrepareAbort", "PrepareEpochFence", "Dead"].contains(&s)
    };
    let unknown: Vec<_> = req
        .states
        .iter()
        .filter(|s| !known(s))
        .map(|s| str(s.as_str()))
        .collect();
    let now = now_ms();
    let states = broker
        .catalog
        .transactions
        .list()
        .into_iter()
        .filter(|(id, t)| {
            (req.states.is_empty() || req.states.iter().any(|s| s == t.state.name()))
                && (req.producer_ids.is_empty() || req.producer_ids.contains(&t.producer_id))
                && (req.min_duration_ms < 0
                    || (t.started_ms >= 0 && now - t.started_ms > req.min_duration_ms))
                && may_describe(broker, conn, id)
        })
        .map(|(id, t)| {
            Listed::default()
                .with_transactional_id(TransactionalId(str(id)))
                .with_producer_id(ProducerId(t.producer_id))
                .with_transaction_state(str(t.state.name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(states)
}
