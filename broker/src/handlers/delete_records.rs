//! DeleteRecords (v0-2): moves a partition's log start forward to an offset
//! (-1: the high watermark), removing the whole batches below it. Records of
//! a batch that straddles the new start stay stored but are below the log
//! start, so consumers never see them again (as with Kafka).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsResponse, TopicName};

use super::str;
use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};

pub struct DeleteRecordsRequest {
    pub topics: Vec<(String, Vec<(i32, i64)>)>,
}

impl DeleteRecordsRequest {
    pub fn decode(r: &mut Reader, _version: i16) -> Result<Self> {
        let topics = r.array("topics", |r| {
            let name = r.string("topic name")?;
            let partitions = r.array("partitions", |r| {
                let index = r.i32()?;
                let offset = r.i64()?;
                r.tagged_fields()?;
                Ok((index, offset))
            })?;
            r.tagged_fields()?;
            Ok((name, partitions))
        })?;
        let _timeout_ms = r.i32()?;
        r.tagged_fields()?;
        Ok(DeleteRecordsRequest { topics })
    }
}

/// Each topic needs DELETE on it.
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(req.topics.len());
    for (name, partitions) in req.topics {
        let denied =
            !super::topic_allowed(broker, conn, crate::security::acl::Operation::Delete, &name);
        let topic = broker.catalog.get(&name);
        let mut out = Vec::with_capacity(partitions.len());
        for (index, offset) in partitions {
            let result = DeleteRecordsPartitionResult::default()
                .with_partition_index(index)
                .with_low_watermark(-1);
            if denied {
                out.push(result.with_error_code(super::TOPIC_AUTHORIZATION_FAILED));
                continue;
            }
            let Some(partition) = topic.as_ref().and_then(|t| t.partition(index)) else {
                out.push(result.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                continue;
            };
            let deleted = broker.storage.delete_records(partition, offset).await;
            out.push(match deleted {
                Ok(log_start) => result.with_low_watermark(log_start),
                Err(e) => result.with_error_code(e.kafka_code()),
            });
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(TopicName(str(name)))
                .with_partitions(out),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
