//! ListOffsets (v0-9; v0 answers the one offset in its list of offsets,
//! when the client asked for at least one): earliest (-2, and -4 earliest-local), latest (-1),
//! max timestamp (-3), and the first offset at or after a timestamp.
//!
//! Timestamp lookups find the first batch whose max timestamp reaches the
//! target, then walk that one batch's records until the first match
//! (`batch::find_record`): a compressed batch is decompressed as a stream,
//! at most `decompress::LIMIT` bytes, the walk bounded by the batch's record
//! count. If no record is reached, the answer is the batch's first offset.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsResponse, TopicName};
use tracing::error;

use super::str;
use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
/// A v0 request for no offsets at all (max_num_offsets 0): no target Kafka
/// defines, so it is answered with nothing.
const NO_OFFSETS: i64 = i64::MIN;

pub struct ListOffsetsRequest {
    pub version: i16,
    /// 1: read_committed, whose latest offset is the last stable offset.
    pub isolation_level: i8,
    pub topics: Vec<(String, Vec<(i32, i64)>)>,
}

impl ListOffsetsRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let _replica_id = r.i32()?;
        let isolation_level = if version >= 2 { r.i8()? } else { 0 };
        let topics = r.array("topics", |r| {
            let name = r.string("topic name")?;
            let partitions = r.array("partitions", |r| {
                let index = r.i32()?;
                if version >= 4 {
                    r.i32()?; // current leader epoch
                }
                let timestamp = r.i64()?;
                if version == 0 && r.i32()? < 1 {
                    // max_num_offsets: 0 asks for an empty list.
                    return Ok((index, NO_OFFSETS));
                }
                r.tagged_fields()?;
                Ok((index, timestamp))
            })?;
            r.tagged_fields()?;
            Ok((name, partitions))
        })?;
        r.tagged_fields()?;
        Ok(ListOffsetsRequest {
            version,
            isolation_level,
            topics,
        })
    }
}

/// Topics the principal may not DESCRIBE get TOPIC_AUTHORIZATION_FAILED.
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let mut topics = Vec::with_capacity(req.topics.len());
    for (name, partitions) in req.topics {
        let denied = !super::topic_allowed(
            broker,
            conn,
            crate::security::acl::Operation::Describe,
            &name,
        );
        let topic = broker.catalog.get(&name);
        let mut out = Vec::with_capacity(partitions.len());
        for (index, timestamp) in partitions {
            let resp = ListOffsetsPartitionResponse::default()
                .with_partition_index(index)
                .with_timestamp(-1)
                .with_offset(-1)
                .with_leader_epoch(if req.version >= 4 { 0 } else { -1 });
            if denied {
                out.push(resp.with_error_code(super::TOPIC_AUTHORIZATION_FAILED));
                continue;
            }
            let Some(p) = topic.as_ref().and_then(|t| t.partition(index)) else {
                out.push(resp.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                continue;
            };
            // read_committed sees only up to the last stable offset.
            let hw = if req.isolation_level == 1 {
                p.last_stable()
            } else {
                p.high_watermark()
            };
            let found = match timestamp {
                LATEST => Ok(Some((hw, -1))),
                EARLIEST | EARLIEST_LOCAL => Ok(Some((p.log_start(), -1))),
                MAX_TIMESTAMP => broker
                    .storage
                    .max_timestamp(p.db_id)
                    .await
                    .map(|hit| hit.map(|h| (h.offset, h.timestamp))),
                t if t >= 0 => broker
                    .storage
                    .offset_for_timestamp(p.db_id, t, hw)
                    .await
                    .map(|hit| hit.map(|h| (h.offset, h.timestamp))),
                _ => Ok(None),
            };
            out.push(match found {
                Ok(Some((offset, ts))) => resp.with_offset(offset).with_timestamp(ts),
                Ok(None) => resp,
                Err(e) => {
                    error!(topic = %name, partition = index, error = %e, "offset lookup failed");
                    resp.with_error_code(ResponseError::KafkaStorageError.code())
                }
            });
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(TopicName(str(name)))
                .with_partitions(out),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}
