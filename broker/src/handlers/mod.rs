//! Request dispatch: read the header, check the API and version against the
//! table Skiff advertises, decode the body with the bounded decoders and hand
//! it to the API's own file (one file per API, each owning its request's
//! decoding and its handling).
//!
//! A request that cannot be decoded, or names an API or version Skiff does not
//! serve, closes the connection, as Kafka does; only ApiVersions answers an
//! unknown version (KIP-511) so clients can downgrade.

mod alter_configs;
mod api_versions;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod produce;
mod sync_group;

#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod group_codec_tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Encodable, StrBytes};

use crate::broker::Broker;
use crate::protocol::response::{self, EncodeError};
use crate::protocol::{versions, DecodeError, RequestHeader};
use crate::storage::WriteError;

/// A response that may still be waiting (for a commit); `None` means the
/// request gets no response (acks=0).
pub type Pending = Pin<Box<dyn Future<Output = Option<BytesMut>> + Send>>;

pub enum Outcome {
    Respond(Pending),
    NoResponse,
}

/// Why a connection must be closed.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("malformed request header: {0}")]
    Header(DecodeError),
    #[error("malformed {api:?} v{version} request: {error}")]
    Body {
        api: ApiKey,
        version: i16,
        error: DecodeError,
    },
    #[error("unknown API key {0}")]
    UnknownApi(i16),
    #[error("{api:?} v{version} is not supported (supported: {min}..={max})")]
    UnsupportedVersion {
        api: ApiKey,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

pub(crate) fn ready(frame: BytesMut) -> Outcome {
    Outcome::Respond(Box::pin(std::future::ready(Some(frame))))
}

/// Encodes `body` as the response to the request with this header.
pub(crate) fn respond<R: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> Result<Outcome, HandleError> {
    Ok(ready(response::encode(api, version, correlation_id, body)?))
}

pub async fn handle(broker: &Arc<Broker>, frame: Bytes) -> Result<Outcome, HandleError> {
    let (header, mut body) = RequestHeader::decode(frame).map_err(HandleError::Header)?;
    let api =
        ApiKey::try_from(header.api_key).map_err(|_| HandleError::UnknownApi(header.api_key))?;
    let version = header.api_version;
    let corr = header.correlation_id;
    if api == ApiKey::ApiVersions {
        return api_versions::handle(version, corr);
    }
    let supported = versions::supported(api).ok_or(HandleError::UnknownApi(header.api_key))?;
    if version < supported.min || version > supported.max {
        return Err(HandleError::UnsupportedVersion {
            api,
            version,
            min: supported.min,
            max: supported.max,
        });
    }
    let bad = |error| HandleError::Body {
        api,
        version,
        error,
    };
    let r = &mut body;
    match api {
        ApiKey::Produce => produce::handle(broker, version, corr, r).map_err(bad),
        ApiKey::Fetch => {
            let req = fetch::FetchRequest::decode(r, version).map_err(bad)?;
            respond(api, version, corr, &fetch::handle(broker, req).await)
        }
        ApiKey::ListOffsets => {
            let req = list_offsets::ListOffsetsRequest::decode(r, version).map_err(bad)?;
            respond(api, version, corr, &list_offsets::handle(broker, req).await)
        }
        ApiKey::Metadata => {
            let req = metadata::MetadataRequest::decode(r, version).map_err(bad)?;
            respond(api, version, corr, &metadata::handle(broker, req).await)
        }
        ApiKey::CreateTopics => {
            let req = create_topics::CreateTopicsRequest::decode(r, version).map_err(bad)?;
            respond(
                api,
                version,
                corr,
                &create_topics::handle(broker, req).await,
            )
        }
        ApiKey::DeleteTopics => {
            let req = delete_topics::DeleteTopicsRequest::decode(r, version).map_err(bad)?;
            respond(
                api,
                version,
                corr,
                &delete_topics::handle(broker, req).await,
            )
        }
        ApiKey::InitProducerId => {
            let req = init_producer_id::InitProducerIdRequest::decode(r, version).map_err(bad)?;
            respond(
                api,
                version,
                corr,
                &init_producer_id::handle(broker, req).await,
            )
        }
        ApiKey::DescribeConfigs => {
            let req = describe_configs::DescribeConfigsRequest::decode(r, version).map_err(bad)?;
            respond(api, version, corr, &describe_configs::handle(broker, req))
        }
        ApiKey::AlterConfigs => {
            let req = alter_configs::AlterConfigsRequest::decode(r, version, false).map_err(bad)?;
            respond(
                api,
                version,
                corr,
                &alter_configs::handle(broker, req).await,
            )
        }
        ApiKey::IncrementalAlterConfigs => {
            let req = alter_configs::AlterConfigsRequest::decode(r, version, true).map_err(bad)?;
            respond(
                api,
                version,
                corr,
                &alter_configs::handle_incremental(broker, req).await,
            )
        }
        ApiKey::CreatePartitions => {
            let req =
                create_partitions::CreatePartitionsRequest::decode(r, version).map_err(bad)?;
            respond(
                api,
                version,
                corr,
                &create_partitions::handle(broker, req).await,
            )
        }
        ApiKey::DescribeCluster => {
            describe_cluster::decode(r, version).map_err(bad)?;
            respond(api, version, corr, &describe_cluster::handle(broker))
        }
        ApiKey::FindCoordinator => {
            let req = find_coordinator::FindCoordinatorRequest::decode(r, version).map_err(bad)?;
            let resp = find_coordinator::handle(broker, version, req);
            respond(api, version, corr, &resp)
        }
        ApiKey::JoinGroup => {
            let client_id = header.client_id.as_deref().unwrap_or_default();
            let req = join_group::JoinGroupRequest::decode(r, version, client_id).map_err(bad)?;
            let resp = join_group::handle(broker, version, req).await;
            respond(api, version, corr, &resp)
        }
        ApiKey::SyncGroup => {
            let req = sync_group::SyncGroupRequest::decode(r, version).map_err(bad)?;
            let resp = sync_group::handle(broker, version, req).await;
            respond(api, version, corr, &resp)
        }
        ApiKey::Heartbeat => {
            let req = heartbeat::HeartbeatRequest::decode(r, version).map_err(bad)?;
            respond(api, version, corr, &heartbeat::handle(broker, req))
        }
        ApiKey::LeaveGroup => {
            let req = leave_group::LeaveGroupRequest::decode(r, version).map_err(bad)?;
            respond(
                api,
                version,
                corr,
                &leave_group::handle(broker, version, req),
            )
        }
        ApiKey::OffsetCommit => {
            let req = offset_commit::OffsetCommitRequest::decode(r, version).map_err(bad)?;
            let resp = offset_commit::handle(broker, req).await;
            respond(api, version, corr, &resp)
        }
        ApiKey::OffsetFetch => {
            let req = offset_fetch::OffsetFetchRequest::decode(r, version).map_err(bad)?;
            respond(
                api,
                version,
                corr,
                &offset_fetch::handle(broker, version, req),
            )
        }
        ApiKey::ListGroups => {
            let req = list_groups::ListGroupsRequest::decode(r, version).map_err(bad)?;
            respond(
                api,
                version,
                corr,
                &list_groups::handle(broker, version, req),
            )
        }
        ApiKey::DescribeGroups => {
            let req = describe_groups::DescribeGroupsRequest::decode(r, version).map_err(bad)?;
            let resp = describe_groups::handle(broker, version, req);
            respond(api, version, corr, &resp)
        }
        ApiKey::DeleteGroups => {
            let req = delete_groups::DeleteGroupsRequest::decode(r, version).map_err(bad)?;
            let resp = delete_groups::handle(broker, req).await;
            respond(api, version, corr, &resp)
        }
        ApiKey::OffsetDelete => {
            let req = offset_delete::OffsetDeleteRequest::decode(r, version).map_err(bad)?;
            let resp = offset_delete::handle(broker, req).await;
            respond(api, version, corr, &resp)
        }
        _ => Err(HandleError::UnknownApi(header.api_key)),
    }
}

/// Decodes a request frame (header and body) without handling it: the whole
/// of Skiff's decoding of untrusted input, for the fuzzer and the tests.
pub fn decode_request(frame: Bytes) -> Result<(), HandleError> {
    let (header, mut body) = RequestHeader::decode(frame).map_err(HandleError::Header)?;
    let api =
        ApiKey::try_from(header.api_key).map_err(|_| HandleError::UnknownApi(header.api_key))?;
    let version = header.api_version;
    let supported = versions::supported(api).ok_or(HandleError::UnknownApi(header.api_key))?;
    if version < supported.min || version > supported.max {
        return Err(HandleError::UnsupportedVersion {
            api,
            version,
            min: supported.min,
            max: supported.max,
        });
    }
    let r = &mut body;
    let decoded = match api {
        ApiKey::ApiVersions => Ok(()),
        ApiKey::Produce => produce::ProduceRequest::decode(r, version).map(drop),
        ApiKey::Fetch => fetch::FetchRequest::decode(r, version).map(drop),
        ApiKey::ListOffsets => list_offsets::ListOffsetsRequest::decode(r, version).map(drop),
        ApiKey::Metadata => metadata::MetadataRequest::decode(r, version).map(drop),
        ApiKey::CreateTopics => create_topics::CreateTopicsRequest::decode(r, version).map(drop),
        ApiKey::DeleteTopics => delete_topics::DeleteTopicsRequest::decode(r, version).map(drop),
        ApiKey::InitProducerId => {
            init_producer_id::InitProducerIdRequest::decode(r, version).map(drop)
        }
        ApiKey::DescribeConfigs => {
            describe_configs::DescribeConfigsRequest::decode(r, version).map(drop)
        }
        ApiKey::AlterConfigs => {
            alter_configs::AlterConfigsRequest::decode(r, version, false).map(drop)
        }
        ApiKey::IncrementalAlterConfigs => {
            alter_configs::AlterConfigsRequest::decode(r, version, true).map(drop)
        }
        ApiKey::CreatePartitions => {
            create_partitions::CreatePartitionsRequest::decode(r, version).map(drop)
        }
        ApiKey::DescribeCluster => describe_cluster::decode(r, version),
        ApiKey::FindCoordinator => {
            find_coordinator::FindCoordinatorRequest::decode(r, version).map(drop)
        }
        ApiKey::JoinGroup => join_group::JoinGroupRequest::decode(r, version, "").map(drop),
        ApiKey::SyncGroup => sync_group::SyncGroupRequest::decode(r, version).map(drop),
        ApiKey::Heartbeat => heartbeat::HeartbeatRequest::decode(r, version).map(drop),
        ApiKey::LeaveGroup => leave_group::LeaveGroupRequest::decode(r, version).map(drop),
        ApiKey::OffsetCommit => offset_commit::OffsetCommitRequest::decode(r, version).map(drop),
        ApiKey::OffsetFetch => offset_fetch::OffsetFetchRequest::decode(r, version).map(drop),
        ApiKey::ListGroups => list_groups::ListGroupsRequest::decode(r, version).map(drop),
        ApiKey::DescribeGroups => {
            describe_groups::DescribeGroupsRequest::decode(r, version).map(drop)
        }
        ApiKey::DeleteGroups => delete_groups::DeleteGroupsRequest::decode(r, version).map(drop),
        ApiKey::OffsetDelete => offset_delete::OffsetDeleteRequest::decode(r, version).map(drop),
        _ => return Err(HandleError::UnknownApi(header.api_key)),
    };
    decoded.map_err(|error| HandleError::Body {
        api,
        version,
        error,
    })
}

/// Kafka's rule for topic names: 1..=249 of [a-zA-Z0-9._-], not "." or "..".
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 249 {
        return Err(format!(
            "topic name must be 1 to 249 characters long, '{name}' is {}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err("topic name cannot be '.' or '..'".to_string());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name '{name}' contains '{c}'; only ASCII letters, digits, '.', '_' and '-' are allowed"
        ));
    }
    Ok(())
}

/// The Kafka error code for a refused write.
pub(crate) fn write_error_code(e: &WriteError) -> i16 {
    match e {
        WriteError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
        WriteError::TopicExists => ResponseError::TopicAlreadyExists,
        WriteError::OutOfOrderSequence => ResponseError::OutOfOrderSequenceNumber,
        WriteError::InvalidProducerEpoch => ResponseError::InvalidProducerEpoch,
        WriteError::InvalidConfig(_) => ResponseError::InvalidConfig,
        WriteError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        WriteError::Storage(_) => ResponseError::KafkaStorageError,
    }
    .code()
}

pub(crate) fn str(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}
