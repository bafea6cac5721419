//! Request dispatch: read the header, check the API and version against the
//! table Skiff advertises, decode the body with the bounded decoders and hand
//! it to the API's own file (one file per API, each owning its request's
//! decoding and its handling).
//!
//! A request that cannot be decoded, or names an API or version Skiff does not
//! serve, closes the connection, as Kafka does; only ApiVersions answers an
//! unknown version (KIP-511) so clients can downgrade.

mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod alter_configs;
mod api_versions;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_transactions;
mod end_txn;
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
mod txn_offset_commit;

// Security: SASL, users (KIP-554) and ACLs.
mod alter_user_scram_credentials;
mod create_acls;
mod delete_acls;
mod describe_acls;
mod describe_user_scram_credentials;
mod sasl_authenticate;
mod sasl_handshake;

#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod group_codec_tests;
#[cfg(test)]
mod security_codec_tests;
#[cfg(test)]
mod txn_codec_tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Encodable, StrBytes};

use crate::broker::Broker;
use crate::budget::{Held, UNCOUNTED};
use crate::connection::ConnectionState;
use crate::protocol::response::{self, EncodeError};
use crate::protocol::{legacy, versions, DecodeError, RequestHeader};

/// A response that may still be waiting (for a commit); `None` means the
/// request gets no response (acks=0).
pub type Pending = Pin<Box<dyn Future<Output = Option<Response>> + Send>>;

/// An encoded response and the in-flight budget its bytes hold until they
/// are written (`budget.rs`).
pub struct Response {
    pub frame: BytesMut,
    pub budget: Held,
}

impl Response {
    pub fn new(frame: BytesMut) -> Self {
        Response {
            frame,
            budget: Held::default(),
        }
    }
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
    #[error("{0:?} before SASL authentication (only ApiVersions, SaslHandshake and SaslAuthenticate are served until then)")]
    Unauthenticated(ApiKey),
}

pub(crate) fn ready(frame: BytesMut) -> Pending {
    Box::pin(std::future::ready(Some(Response::new(frame))))
}

/// Encodes `body` as the response to the request with this header.
pub(crate) fn respond<R: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> Result<Pending, HandleError> {
    Ok(ready(response::encode(api, version, correlation_id, body)?))
}

/// A decoded request of any API Skiff serves.
pub enum Request {
    /// ApiVersions needs no body; `supported` is false for a version Skiff
    /// does not know (answered per KIP-511).
    ApiVersions {
        supported: bool,
    },
    Produce(produce::ProduceRequest),
    Fetch(fetch::FetchRequest),
    ListOffsets(list_offsets::ListOffsetsRequest),
    Metadata(metadata::MetadataRequest),
    CreateTopics(create_topics::CreateTopicsRequest),
    DeleteTopics(delete_topics::DeleteTopicsRequest),
    DeleteRecords(delete_records::DeleteRecordsRequest),
    InitProducerId(init_producer_id::InitProducerIdRequest),
    DescribeConfigs(describe_configs::DescribeConfigsRequest),
    AlterConfigs(alter_configs::AlterConfigsRequest),
    IncrementalAlterConfigs(alter_configs::AlterConfigsRequest),
    CreatePartitions(create_partitions::CreatePartitionsRequest),
    DescribeCluster,
    // Transactions.
    AddPartitionsToTxn(add_partitions_to_txn::AddPartitionsToTxnRequest),
    AddOffsetsToTxn(add_offsets_to_txn::AddOffsetsToTxnRequest),
    TxnOffsetCommit(txn_offset_commit::TxnOffsetCommitRequest),
    EndTxn(end_txn::EndTxnRequest),
    DescribeTransactions(describe_transactions::DescribeTransactionsRequest),
    ListTransactions(describe_transactions::ListTransactionsRequest),
    FindCoordinator(find_coordinator::FindCoordinatorRequest),
    JoinGroup(join_group::JoinGroupRequest),
    SyncGroup(sync_group::SyncGroupRequest),
    Heartbeat(heartbeat::HeartbeatRequest),
    LeaveGroup(leave_group::LeaveGroupRequest),
    OffsetCommit(offset_commit::OffsetCommitRequest),
    OffsetFetch(offset_fetch::OffsetFetchRequest),
    ListGroups(list_groups::ListGroupsRequest),
    DescribeGroups(describe_groups::DescribeGroupsRequest),
    DeleteGroups(delete_groups::DeleteGroupsRequest),
    OffsetDelete(offset_delete::OffsetDeleteRequest),
    SaslHandshake(sasl_handshake::SaslHandshakeRequest),
    SaslAuthenticate(sasl_authenticate::SaslAuthenticateRequest),
    DescribeUserScramCredentials(
        describe_user_scram_credentials::DescribeUserScramCredentialsRequest,
    ),
    AlterUserScramCredentials(alter_user_scram_credentials::AlterUserScramCredentialsRequest),
    CreateAcls(create_acls::CreateAclsRequest),
    DescribeAcls(describe_acls::DescribeAclsRequest),
    DeleteAcls(delete_acls::DeleteAclsRequest),
}

/// Decodes a request frame (header and body): the whole of Skiff's decoding
/// of untrusted input, shared by request handling and the fuzzer.
pub fn decode(frame: Bytes) -> Result<(RequestHeader, ApiKey, Request), HandleError> {
    let (header, mut body) = RequestHeader::decode(frame).map_err(HandleError::Header)?;
    let api =
        ApiKey::try_from(header.api_key).map_err(|_| HandleError::UnknownApi(header.api_key))?;
    let version = header.api_version;
    let supported = versions::supported(api).ok_or(HandleError::UnknownApi(header.api_key))?;
    let in_range = (supported.min..=supported.max).contains(&version);
    if api == ApiKey::ApiVersions {
        return Ok((
            header,
            api,
            Request::ApiVersions {
                supported: in_range,
            },
        ));
    }
    if !in_range {
        return Err(HandleError::UnsupportedVersion {
            api,
            version,
            min: supported.min,
            max: supported.max,
        });
    }
    let r = &mut body;
    let v = version;
    let request = match api {
        ApiKey::Produce => produce::ProduceRequest::decode(r, v).map(Request::Produce),
        ApiKey::Fetch => fetch::FetchRequest::decode(r, v).map(Request::Fetch),
        ApiKey::ListOffsets => {
            list_offsets::ListOffsetsRequest::decode(r, v).map(Request::ListOffsets)
        }
        ApiKey::Metadata => metadata::MetadataRequest::decode(r, v).map(Request::Metadata),
        ApiKey::CreateTopics => {
            create_topics::CreateTopicsRequest::decode(r, v).map(Request::CreateTopics)
        }
        ApiKey::DeleteTopics => {
            delete_topics::DeleteTopicsRequest::decode(r, v).map(Request::DeleteTopics)
        }
        ApiKey::DeleteRecords => {
            delete_records::DeleteRecordsRequest::decode(r, v).map(Request::DeleteRecords)
        }
        ApiKey::InitProducerId => {
            init_producer_id::InitProducerIdRequest::decode(r, v).map(Request::InitProducerId)
        }
        ApiKey::DescribeConfigs => {
            describe_configs::DescribeConfigsRequest::decode(r, v).map(Request::DescribeConfigs)
        }
        ApiKey::AlterConfigs => {
            alter_configs::AlterConfigsRequest::decode(r, v, false).map(Request::AlterConfigs)
        }
        ApiKey::IncrementalAlterConfigs => alter_configs::AlterConfigsRequest::decode(r, v, true)
            .map(Request::IncrementalAlterConfigs),
        ApiKey::CreatePartitions => {
            create_partitions::CreatePartitionsRequest::decode(r, v).map(Request::CreatePartitions)
        }
        ApiKey::DescribeCluster => describe_cluster::decode(r, v).map(|_| Request::DescribeCluster),
        ApiKey::FindCoordinator => {
            find_coordinator::FindCoordinatorRequest::decode(r, v).map(Request::FindCoordinator)
        }
        ApiKey::JoinGroup => {
            let client_id = header.client_id.as_deref().unwrap_or_default();
            join_group::JoinGroupRequest::decode(r, v, client_id).map(Request::JoinGroup)
        }
        ApiKey::SyncGroup => sync_group::SyncGroupRequest::decode(r, v).map(Request::SyncGroup),
        ApiKey::Heartbeat => heartbeat::HeartbeatRequest::decode(r, v).map(Request::Heartbeat),
        ApiKey::LeaveGroup => leave_group::LeaveGroupRequest::decode(r, v).map(Request::LeaveGroup),
        ApiKey::OffsetCommit => {
            offset_commit::OffsetCommitRequest::decode(r, v).map(Request::OffsetCommit)
        }
        ApiKey::OffsetFetch => {
            offset_fetch::OffsetFetchRequest::decode(r, v).map(Request::OffsetFetch)
        }
        ApiKey::ListGroups => list_groups::ListGroupsRequest::decode(r, v).map(Request::ListGroups),
        ApiKey::DescribeGroups => {
            describe_groups::DescribeGroupsRequest::decode(r, v).map(Request::DescribeGroups)
        }
        ApiKey::DeleteGroups => {
            delete_groups::DeleteGroupsRequest::decode(r, v).map(Request::DeleteGroups)
        }
        ApiKey::OffsetDelete => {
            offset_delete::OffsetDeleteRequest::decode(r, v).map(Request::OffsetDelete)
        }
        ApiKey::SaslHandshake => {
            sasl_handshake::SaslHandshakeRequest::decode(r, v).map(Request::SaslHandshake)
        }
        ApiKey::SaslAuthenticate => {
            sasl_authenticate::SaslAuthenticateRequest::decode(r, v).map(Request::SaslAuthenticate)
        }
        ApiKey::DescribeUserScramCredentials => {
            describe_user_scram_credentials::DescribeUserScramCredentialsRequest::decode(r, v)
                .map(Request::DescribeUserScramCredentials)
        }
        ApiKey::AlterUserScramCredentials => {
            alter_user_scram_credentials::AlterUserScramCredentialsRequest::decode(r, v)
                .map(Request::AlterUserScramCredentials)
        }
        ApiKey::CreateAcls => create_acls::CreateAclsRequest::decode(r, v).map(Request::CreateAcls),
        ApiKey::DescribeAcls => {
            describe_acls::DescribeAclsRequest::decode(r, v).map(Request::DescribeAcls)
        }
        ApiKey::DeleteAcls => delete_acls::DeleteAclsRequest::decode(r, v).map(Request::DeleteAcls),
        ApiKey::AddPartitionsToTxn => {
            add_partitions_to_txn::AddPartitionsToTxnRequest::decode(r, v)
                .map(Request::AddPartitionsToTxn)
        }
        ApiKey::AddOffsetsToTxn => {
            add_offsets_to_txn::AddOffsetsToTxnRequest::decode(r, v).map(Request::AddOffsetsToTxn)
        }
        ApiKey::TxnOffsetCommit => {
            txn_offset_commit::TxnOffsetCommitRequest::decode(r, v).map(Request::TxnOffsetCommit)
        }
        ApiKey::EndTxn => end_txn::EndTxnRequest::decode(r, v).map(Request::EndTxn),
        ApiKey::DescribeTransactions => {
            describe_transactions::DescribeTransactionsRequest::decode(r, v)
                .map(Request::DescribeTransactions)
        }
        ApiKey::ListTransactions => describe_transactions::ListTransactionsRequest::decode(r, v)
            .map(Request::ListTransactions),
        _ => return Err(HandleError::UnknownApi(header.api_key)),
    }
    .map_err(|error| HandleError::Body {
        api,
        version,
        error,
    })?;
    Ok((header, api, request))
}

/// Decodes without handling, for the fuzz target and the tests.
pub fn decode_request(frame: Bytes) -> Result<(), HandleError> {
    decode(frame).map(drop)
}

/// Handles one request of the connection `conn`: decodes it, acts on it
/// and returns its response, which may still be waiting for a commit.
///
/// `frame_budget` is the in-flight budget the frame's bytes hold. Only a
/// produce keeps it (its batches are slices of the frame) until its
/// response is done; every other request gives it back once decoded, so a
/// parked long-poll Fetch holds none. A response built at once and larger
/// than `UNCOUNTED` takes budget for its own bytes before it is queued
/// (the connection waits for it: back-pressure, not buffering).
pub async fn handle(
    broker: &Arc<Broker>,
    conn: &mut ConnectionState,
    frame: Bytes,
    frame_budget: Held,
) -> Result<Pending, HandleError> {
    let (header, api, request) = decode(frame)?;
    if conn.unauthenticated
        && !matches!(
            api,
            ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
        )
    {
        return Err(HandleError::Unauthenticated(api));
    }
    let mut pending = if let Request::Produce(req) = request {
        let v = header.api_version;
        let corr = header.correlation_id;
        let pending = produce::handle(broker, conn, v, corr, req);
        Box::pin(async move {
            let out = pending.await;
            drop(frame_budget);
            out
        })
    } else {
        drop(frame_budget);
        serve(broker, conn, header, api, request).await?
    };
    // A response that is ready now is counted in the budget.
    let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(pending.as_mut().poll(cx))).await;
    if let std::task::Poll::Ready(out) = polled {
        return Ok(match out {
            // Waiting only while nothing is held: two requests can never
            // wait on each other's budget.
            Some(mut r) if r.frame.len() > UNCOUNTED && r.budget.bytes() == 0 => {
                broker.budget.grow(&mut r.budget, r.frame.len()).await;
                Box::pin(std::future::ready(Some(r)))
            }
            out => Box::pin(std::future::ready(out)),
        });
    }
    Ok(pending)
}

async fn serve(
    broker: &Arc<Broker>,
    conn: &mut ConnectionState,
    header: RequestHeader,
    api: ApiKey,
    request: Request,
) -> Result<Pending, HandleError> {
    let v = header.api_version;
    let corr = header.correlation_id;
    let b = broker;
    match request {
        Request::ApiVersions { supported } => {
            api_versions::handle(b, header.client_id.as_deref(), supported, v, corr).await
        }
        Request::Produce(req) => Ok(produce::handle(b, conn, v, corr, req)),
        Request::Fetch(req) => {
            let (body, budget) = fetch::handle(b, conn, req).await;
            let frame = response::encode(api, v, corr, &body)?;
            Ok(Box::pin(std::future::ready(Some(Response {
                frame,
                budget,
            }))))
        }
        Request::ListOffsets(req) => {
            let body = list_offsets::handle(b, conn, req).await;
            if legacy::hand_encoded(api, v) {
                return Ok(ready(legacy::frame(corr, &legacy::list_offsets(&body))));
            }
            respond(api, v, corr, &body)
        }
        Request::Metadata(req) => respond(api, v, corr, &metadata::handle(b, conn, req).await),
        Request::CreateTopics(req) => {
            let body = create_topics::handle(b, conn, req).await;
            if legacy::hand_encoded(api, v) {
                return Ok(ready(legacy::frame(corr, &legacy::create_topics(&body, v))));
            }
            respond(api, v, corr, &body)
        }
        Request::DeleteTopics(req) => {
            let body = delete_topics::handle(b, conn, req).await;
            if legacy::hand_encoded(api, v) {
                return Ok(ready(legacy::frame(corr, &legacy::delete_topics(&body))));
            }
            respond(api, v, corr, &body)
        }
        Request::DeleteRecords(req) => {
            respond(api, v, corr, &delete_records::handle(b, conn, req).await)
        }
        Request::InitProducerId(req) => {
            respond(api, v, corr, &init_producer_id::handle(b, conn, req).await)
        }
        Request::DescribeConfigs(req) => {
            let body = describe_configs::handle(b, conn, req);
            if legacy::hand_encoded(api, v) {
                return Ok(ready(legacy::frame(corr, &legacy::describe_configs(&body))));
            }
            respond(api, v, corr, &body)
        }
        Request::AlterConfigs(req) => {
            respond(api, v, corr, &alter_configs::handle(b, conn, req).await)
        }
        Request::IncrementalAlterConfigs(req) => respond(
            api,
            v,
            corr,
            &alter_configs::handle_incremental(b, conn, req).await,
        ),
        Request::CreatePartitions(req) => {
            respond(api, v, corr, &create_partitions::handle(b, conn, req).await)
        }
        Request::DescribeCluster => respond(api, v, corr, &describe_cluster::handle(b)),
        Request::AddPartitionsToTxn(req) => respond(
            api,
            v,
            corr,
            &add_partitions_to_txn::handle(b, conn, req).await,
        ),
        Request::AddOffsetsToTxn(req) => respond(
            api,
            v,
            corr,
            &add_offsets_to_txn::handle(b, conn, req).await,
        ),
        Request::TxnOffsetCommit(req) => {
            respond(api, v, corr, &txn_offset_commit::handle(b, conn, req).await)
        }
        Request::EndTxn(req) => respond(api, v, corr, &end_txn::handle(b, conn, req).await),
        Request::DescribeTransactions(req) => {
            respond(api, v, corr, &describe_transactions::describe(b, conn, req))
        }
        Request::ListTransactions(req) => {
            respond(api, v, corr, &describe_transactions::list(b, conn, req))
        }
        Request::FindCoordinator(req) => {
            respond(api, v, corr, &find_coordinator::handle(b, conn, v, req))
        }
        // Membership needs READ on the group.
        Request::JoinGroup(req) if !group_read(b, conn, &req.group_id) => {
            let denied = kafka_protocol::messages::JoinGroupResponse::default()
                .with_error_code(GROUP_AUTHORIZATION_FAILED)
                .with_generation_id(-1);
            respond(api, v, corr, &denied)
        }
        Request::JoinGroup(req) => {
            respond(api, v, corr, &join_group::handle(b, conn, v, req).await)
        }
        Request::SyncGroup(req) if !group_read(b, conn, &req.group_id) => {
            let denied = kafka_protocol::messages::SyncGroupResponse::default()
                .with_error_code(GROUP_AUTHORIZATION_FAILED);
            respond(api, v, corr, &denied)
        }
        Request::SyncGroup(req) => respond(api, v, corr, &sync_group::handle(b, v, req).await),
        Request::Heartbeat(req) if !group_read(b, conn, &req.group_id) => {
            let denied = kafka_protocol::messages::HeartbeatResponse::default()
                .with_error_code(GROUP_AUTHORIZATION_FAILED);
            respond(api, v, corr, &denied)
        }
        Request::Heartbeat(req) => respond(api, v, corr, &heartbeat::handle(b, req)),
        Request::LeaveGroup(req) if !group_read(b, conn, &req.group_id) => {
            let denied = kafka_protocol::messages::LeaveGroupResponse::default()
                .with_error_code(GROUP_AUTHORIZATION_FAILED);
            respond(api, v, corr, &denied)
        }
        Request::LeaveGroup(req) => respond(api, v, corr, &leave_group::handle(b, v, req)),
        Request::OffsetCommit(req) => {
            respond(api, v, corr, &offset_commit::handle(b, conn, req).await)
        }
        Request::OffsetFetch(req) => respond(api, v, corr, &offset_fetch::handle(b, conn, v, req)),
        Request::ListGroups(req) => respond(api, v, corr, &list_groups::handle(b, conn, v, req)),
        Request::DescribeGroups(req) => {
            respond(api, v, corr, &describe_groups::handle(b, conn, v, req))
        }
        Request::DeleteGroups(req) => {
            respond(api, v, corr, &delete_groups::handle(b, conn, req).await)
        }
        Request::OffsetDelete(req) => {
            respond(api, v, corr, &offset_delete::handle(b, conn, req).await)
        }
        Request::SaslHandshake(req) => {
            respond(api, v, corr, &sasl_handshake::handle(b, conn, v, req))
        }
        Request::SaslAuthenticate(req) => {
            respond(api, v, corr, &sasl_authenticate::handle(b, conn, req))
        }
        Request::DescribeUserScramCredentials(req) => respond(
            api,
            v,
            corr,
            &describe_user_scram_credentials::handle(b, conn, req),
        ),
        Request::AlterUserScramCredentials(req) => respond(
            api,
            v,
            corr,
            &alter_user_scram_credentials::handle(b, conn, req).await,
        ),
        Request::CreateAcls(req) => respond(api, v, corr, &create_acls::handle(b, conn, req).await),
        Request::DescribeAcls(req) => {
            let body = describe_acls::handle(b, conn, req);
            if legacy::hand_encoded(api, v) {
                return Ok(ready(legacy::frame(corr, &legacy::describe_acls(&body))));
            }
            respond(api, v, corr, &body)
        }
        Request::DeleteAcls(req) => {
            let body = delete_acls::handle(b, conn, req).await;
            if legacy::hand_encoded(api, v) {
                return Ok(ready(legacy::frame(corr, &legacy::delete_acls(&body))));
            }
            respond(api, v, corr, &body)
        }
    }
}

/// A bare SASL token after a v0 SaslHandshake: the bare answer, or `None`
/// when the exchange failed (the connection closes).
pub fn raw_sasl_token(
    broker: &Broker,
    conn: &mut ConnectionState,
    token: &[u8],
) -> Option<BytesMut> {
    sasl_authenticate::raw_token(broker, conn, token)
}

/// Kafka error codes the security handlers answer.
pub(crate) const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
pub(crate) const GROUP_AUTHORIZATION_FAILED: i16 = 30;
pub(crate) const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
pub(crate) const SECURITY_DISABLED: i16 = 54;
pub(crate) const RESOURCE_NOT_FOUND: i16 = 91;
pub(crate) const DUPLICATE_RESOURCE: i16 = 92;
pub(crate) const UNACCEPTABLE_CREDENTIAL: i16 = 93;

/// Whether the connection's principal may do `op` on the resource (always,
/// with `SKIFF_AUTHORIZER=none`). Checked from memory.
pub(crate) fn allowed(
    broker: &Broker,
    conn: &ConnectionState,
    op: crate::security::acl::Operation,
    resource_type: crate::security::acl::ResourceType,
    name: &str,
) -> bool {
    broker
        .security
        .allows(&conn.principal, conn.peer.ip(), op, resource_type, name)
}

/// [`allowed`] for a topic.
pub(crate) fn topic_allowed(
    broker: &Broker,
    conn: &ConnectionState,
    op: crate::security::acl::Operation,
    name: &str,
) -> bool {
    allowed(
        broker,
        conn,
        op,
        crate::security::acl::ResourceType::Topic,
        name,
    )
}

/// [`allowed`] for a group.
pub(crate) fn group_allowed(
    broker: &Broker,
    conn: &ConnectionState,
    op: crate::security::acl::Operation,
    name: &str,
) -> bool {
    allowed(
        broker,
        conn,
        op,
        crate::security::acl::ResourceType::Group,
        name,
    )
}

fn group_read(broker: &Broker, conn: &ConnectionState, group: &str) -> bool {
    group_allowed(broker, conn, crate::security::acl::Operation::Read, group)
}

/// [`allowed`] for the cluster.
pub(crate) fn cluster_allowed(
    broker: &Broker,
    conn: &ConnectionState,
    op: crate::security::acl::Operation,
) -> bool {
    use crate::security::acl::{ResourceType, CLUSTER_NAME};
    allowed(broker, conn, op, ResourceType::Cluster, CLUSTER_NAME)
}

/// Why an ACL API (CreateAcls, DescribeAcls, DeleteAcls) is refused: no ACL
/// authorizer (SECURITY_DISABLED, as Kafka without an authorizer), or no
/// `op` on the cluster.
pub(crate) fn acl_api_refusal(
    broker: &Broker,
    conn: &ConnectionState,
    op: crate::security::acl::Operation,
) -> Option<(i16, &'static str)> {
    use crate::security::acl::{ResourceType, CLUSTER_NAME};
    if !broker.security.acl_enabled() {
        return Some((
            SECURITY_DISABLED,
            "no authorizer is configured (SKIFF_AUTHORIZER=none); set SKIFF_AUTHORIZER=acl",
        ));
    }
    if !allowed(broker, conn, op, ResourceType::Cluster, CLUSTER_NAME) {
        return Some((
            CLUSTER_AUTHORIZATION_FAILED,
            "this operation on ACLs needs permission on the cluster",
        ));
    }
    None
}

pub(crate) fn str(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}
