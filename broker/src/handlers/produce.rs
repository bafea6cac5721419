//! Produce (v3-10; v0-2 advertised for librdkafka's sake and refused: their
//! message sets (formats v0 and v1) get UNSUPPORTED_FOR_MESSAGE_FORMAT per
//! partition, in a response of their version, never a dropped connection).
//!
//! Each partition's record set must be one batch (as Kafka from v3 on:
//! INVALID_RECORD otherwise), checked (magic 2, lengths, CRC32C,
//! max.message.bytes) and queued to the storage writer as the bytes that
//! arrived. Nothing is decoded per record. The response waits for
//! the commit: acks=1 and acks=all are acknowledged only once durable in the
//! file; acks=0 gets no response at all.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ApiKey, ProduceResponse, TopicName};
use tracing::{error, warn};

use super::{str, HandleError, Pending};
use crate::batch::{self, BatchError, BatchHeader};
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::metrics::TopicLabel;
use crate::protocol::reader::{Reader, Result};
use crate::protocol::response;
use crate::refusals;
use crate::security::acl::Operation;
use crate::storage::{Appended, Queued};
use crate::topic_config::{TimestampType, TopicConfig};

/// A partition index and the record set produced to it.
pub type PartitionRecords = (i32, Option<Bytes>);

pub struct ProduceRequest {
    pub transactional_id: Option<String>,
    pub acks: i16,
    pub topics: Vec<(String, Vec<PartitionRecords>)>,
}

impl ProduceRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let transactional_id = if version >= 3 {
            r.nullable_string()?
        } else {
            None
        };
        let acks = r.i16()?;
        let _timeout_ms = r.i32()?;
        let topics = r.array("topics", |r| {
            let name = r.string("topic name")?;
            let partitions = r.array("partitions", |r| {
                let index = r.i32()?;
                let records = r.nullable_bytes()?;
                r.tagged_fields()?;
                Ok((index, records))
            })?;
            r.tagged_fields()?;
            Ok((name, partitions))
        })?;
        r.tagged_fields()?;
        Ok(ProduceRequest {
            transactional_id,
            acks,
            topics,
        })
    }
}

/// A partition's answer: known now (an error) or after the commit.
enum Slot {
    Now(i16, Option<String>),
    /// The writer's answer, and the bytes and records it is for.
    Later(Queued<Appended>, u64, u64),
}

fn batch_error_code(e: &BatchError) -> i16 {
    match e {
        BatchError::UnsupportedMagic(_) => ResponseError::UnsupportedForMessageFormat.code(),
        _ => ResponseError::CorruptMessage.code(),
    }
}

/// Validates and queues one partition's record set.
fn start_partition(
    broker: &Broker,
    peer: SocketAddr,
    topic: &str,
    index: i32,
    records: Option<Bytes>,
    transactional: bool,
) -> Slot {
    let Some(t) = broker.catalog.get(topic) else {
        return Slot::Now(ResponseError::UnknownTopicOrPartition.code(), None);
    };
    let Some(partition) = t.partition(index) else {
        return Slot::Now(ResponseError::UnknownTopicOrPartition.code(), None);
    };
    let Some(records) = records else {
        return Slot::Now(
            ResponseError::CorruptMessage.code(),
            Some("null record set".into()),
        );
    };
    let mut batches = match batch::split_and_validate(&records) {
        Ok(b) => b,
        Err(e) => {
            warn!(topic, partition = index, error = %e, "rejected produced batch");
            return Slot::Now(batch_error_code(&e), Some(e.to_string()));
        }
    };
    // As Kafka (ProduceRequest.validateRecords): from v3 on, exactly one
    // batch per partition, so a partition's append is all or nothing.
    if batches.len() != 1 {
        let message = format!(
            "Produce v3+ takes exactly one record batch per partition; this one has {}",
            batches.len()
        );
        refusals::refused("one batch per partition", Some(peer), &message);
        return Slot::Now(ResponseError::InvalidRecord.code(), Some(message));
    }
    let config = t.config();
    let limit = config.max_message_bytes.max(0) as usize;
    let (mut header, data) = batches.pop().expect("one batch");
    if data.len() > limit {
        return Slot::Now(
            ResponseError::MessageTooLarge.code(),
            Some(format!(
                "batch of {} bytes exceeds max.message.bytes={limit}",
                data.len()
            )),
        );
    }
    if header.is_control() {
        return Slot::Now(
            ResponseError::InvalidRecord.code(),
            Some("control batches are written by the broker, not produced".into()),
        );
    }
    if header.is_transactional() && !transactional {
        return Slot::Now(
            ResponseError::InvalidRecord.code(),
            Some("a transactional batch needs the request's transactional id".into()),
        );
    }
    let log_append_time = config.timestamp_type == TimestampType::LogAppendTime;
    if !log_append_time {
        let now = now_ms();
        // The header field only (the stored bytes stay as produced): what
        // retention and timestamp lookups see.
        header.max_timestamp = batch::stored_max_timestamp(&header, &data, now);
        if let Some((limit, message)) = timestamp_out_of_range(&header, &config, now) {
            refusals::refused(limit, Some(peer), &message);
            return Slot::Now(ResponseError::InvalidTimestamp.code(), Some(message));
        }
    }
    let bytes = data.len() as u64;
    let records = header.record_count.max(0) as u64;
    let appended = broker
        .storage
        .append(partition, (header, data), log_append_time);
    Slot::Later(appended, bytes, records)
}

/// The topic's `message.timestamp.before.max.ms` / `after.max.ms` refusal
/// of a CreateTime batch, checked on its first and its max timestamp (per
/// batch, not per record: the records are not read), as
/// (limit name, message). Batches without timestamps (-1) pass.
fn timestamp_out_of_range(
    header: &BatchHeader,
    config: &TopicConfig,
    now: i64,
) -> Option<(&'static str, String)> {
    let first = header.base_timestamp;
    if first >= 0 && now.saturating_sub(first) > config.timestamp_before_max_ms {
        return Some((
            "message.timestamp.before.max.ms",
            format!(
                "timestamp {first} is more than message.timestamp.before.max.ms={} before the broker's time {now}",
                config.timestamp_before_max_ms
            ),
        ));
    }
    let max = header.max_timestamp;
    if max.saturating_sub(now) > config.timestamp_after_max_ms {
        return Some((
            "message.timestamp.after.max.ms",
            format!(
                "timestamp {max} is more than message.timestamp.after.max.ms={} after the broker's time {now}",
                config.timestamp_after_max_ms
            ),
        ));
    }
    None
}

fn count_in(broker: &Broker, topic: &str, bytes: u64, records: u64) {
    let label = TopicLabel {
        topic: topic.to_string(),
    };
    broker.metrics.bytes_in.get_or_create(&label).inc_by(bytes);
    broker
        .metrics
        .records_in
        .get_or_create(&label)
        .inc_by(records);
}

pub fn handle(
    broker: &Arc<Broker>,
    conn: &crate::connection::ConnectionState,
    version: i16,
    correlation_id: i32,
    req: ProduceRequest,
) -> Pending {
    let acks_valid = matches!(req.acks, -1..=1);
    let acks = req.acks;
    let metrics = broker.clone();
    let transactional = req.transactional_id.is_some();
    // A transactional produce needs WRITE on its transactional id.
    let id_denied = req.transactional_id.as_ref().is_some_and(|id| {
        !super::allowed(
            broker,
            conn,
            Operation::Write,
            crate::security::acl::ResourceType::TransactionalId,
            id,
        )
    });
    let peer = conn.peer;
    let slots: Vec<(String, Vec<(i32, Slot)>)> = req
        .topics
        .into_iter()
        .map(|(name, partitions)| {
            let writable = super::topic_allowed(broker, conn, Operation::Write, &name);
            let slots = partitions
                .into_iter()
                .map(|(index, records)| {
                    let slot = if version < 3 {
                        // Message formats v0/v1, whatever the bytes say.
                        Slot::Now(ResponseError::UnsupportedForMessageFormat.code(), None)
                    } else if id_denied {
                        Slot::Now(
                            ResponseError::TransactionalIdAuthorizationFailed.code(),
                            None,
                        )
                    } else if !writable {
                        Slot::Now(super::TOPIC_AUTHORIZATION_FAILED, None)
                    } else if acks_valid {
                        start_partition(broker, peer, &name, index, records, transactional)
                    } else {
                        Slot::Now(ResponseError::InvalidRequiredAcks.code(), None)
                    };
                    (index, slot)
                })
                .collect();
            (name, slots)
        })
        .collect();
    if acks == 0 {
        // No response at all, but the request stays "in flight" until its
        // batches are committed, so acks=0 floods meet back-pressure too.
        return Box::pin(async move {
            for (name, partitions) in slots {
                for (_, slot) in partitions {
                    if let Slot::Later(appended, bytes, records) = slot {
                        if appended.await.is_ok() {
                            count_in(&metrics, &name, bytes, records);
                        }
                    }
                }
            }
            None
        });
    }
    Box::pin(async move {
        let mut responses = Vec::with_capacity(slots.len());
        for (name, partitions) in slots {
            let mut out = Vec::with_capacity(partitions.len());
            for (index, slot) in partitions {
                let p = PartitionProduceResponse::default()
                    .with_index(index)
                    .with_base_offset(-1)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(-1);
                out.push(match slot {
                    Slot::Now(code, message) => {
                        p.with_error_code(code).with_error_message(message.map(str))
                    }
                    Slot::Later(appended, bytes, records) => match appended.await {
                        Ok(a) => {
                            count_in(&metrics, &name, bytes, records);
                            p.with_base_offset(a.base_offset)
                                .with_log_append_time_ms(a.log_append_time)
                                .with_log_start_offset(a.log_start)
                        }
                        Err(e) => p
                            .with_error_code(e.kafka_code())
                            .with_error_message(Some(str(e.to_string()))),
                    },
                });
            }
            responses.push(
                TopicProduceResponse::default()
                    .with_name(TopicName(str(name)))
                    .with_partition_responses(out),
            );
        }
        let body = ProduceResponse::default().with_responses(responses);
        if version < 3 {
            let legacy = crate::protocol::legacy::produce(&body, version);
            return Some(super::Response::new(crate::protocol::legacy::frame(
                correlation_id,
                &legacy,
            )));
        }
        match response::encode(ApiKey::Produce, version, correlation_id, &body) {
            Ok(frame) => Some(super::Response::new(frame)),
            Err(e) => {
                error!(error = %HandleError::from(e), "dropping produce response");
                None
            }
        }
    })
}
