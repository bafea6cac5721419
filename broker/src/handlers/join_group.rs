//! JoinGroup (v0-9): the first phase of a rebalance. Decoding here; the
//! group's state machine (`coordinator::group`) decides, and a join that must
//! wait for the other members parks until the barrier completes.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::JoinGroupResponse;

use super::str;
use crate::broker::Broker;
use crate::connection::ConnectionState;
use crate::coordinator::{JoinRequest, JoinResult, Reply};
use crate::protocol::reader::{Reader, Result};
use crate::refusals;

/// Most protocols one member may offer. Kafka's clients send one per
/// configured assignor (a handful); the cap bounds protocol selection and
/// the member's memory.
pub const MAX_PROTOCOLS: usize = 64;
/// Most bytes of protocol names one member may offer, summed.
pub const MAX_PROTOCOL_NAME_BYTES: usize = 16 * 1024;
/// The limit's name in refusal logs.
pub const PROTOCOL_LIMIT: &str = "JoinGroup protocols per member";

pub struct JoinGroupRequest {
    pub group_id: String,
    /// Set when the member offered more protocols (or longer names) than
    /// the caps allow: the join is refused with INVALID_REQUEST.
    pub over_limit: Option<String>,
    pub join: JoinRequest,
}

impl JoinGroupRequest {
    pub fn decode(r: &mut Reader, version: i16, client_id: &str) -> Result<Self> {
        let group_id = r.string("group id")?;
        let session_timeout_ms = r.i32()?;
        let rebalance_timeout_ms = if version >= 1 {
            r.i32()?
        } else {
            session_timeout_ms
        };
        let member_id = r.string("member id")?;
        let instance_id = if version >= 5 {
            r.nullable_string()?
        } else {
            None
        };
        let protocol_type = r.string("protocol type")?;
        // Kept only while within the caps: past them the rest is read (to
        // check the frame) but neither stored nor counted further.
        let mut protocols = Vec::new();
        let mut count = 0usize;
        let mut name_bytes = 0usize;
        r.array("protocols", |r| {
            let name = r.string("protocol name")?;
            let metadata = r.bytes("protocol metadata")?;
            r.tagged_fields()?;
            count += 1;
            name_bytes = name_bytes.saturating_add(name.len());
            if count <= MAX_PROTOCOLS && name_bytes <= MAX_PROTOCOL_NAME_BYTES {
                // Copied out: a slice would pin the whole request frame for
                // as long as the member stays in the group.
                protocols.push((name, Bytes::copy_from_slice(&metadata)));
            }
            Ok(())
        })?;
        let over_limit = (count > MAX_PROTOCOLS || name_bytes > MAX_PROTOCOL_NAME_BYTES)
            .then(|| {
                format!(
                    "JoinGroup with {count} protocols ({name_bytes} bytes of names) refused: \
                     at most {MAX_PROTOCOLS} protocols and {MAX_PROTOCOL_NAME_BYTES} bytes of names \
                     per member"
                )
            });
        if version >= 8 {
            r.nullable_string()?; // reason
        }
        r.tagged_fields()?;
        Ok(JoinGroupRequest {
            group_id,
            over_limit,
            join: JoinRequest {
                member_id,
                instance_id,
                client_id: client_id.to_string(),
                client_host: String::new(),
                session_timeout_ms,
                rebalance_timeout_ms,
                protocol_type,
                protocols,
                require_known_member_id: version >= 4,
            },
        })
    }
}

pub fn response(version: i16, r: JoinResult) -> JoinGroupResponse {
    let resp = JoinGroupResponse::default()
        .with_error_code(r.error)
        .with_generation_id(r.generation)
        .with_protocol_type(r.protocol_type.map(str))
        .with_protocol_name(r.protocol_name.map(str))
        .with_leader(str(r.leader))
        .with_member_id(str(r.member_id))
        .with_members(
            r.members
                .into_iter()
                .map(|(id, inst, metadata): (String, Option<String>, Bytes)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(str(id))
                        .with_group_instance_id(if version >= 5 { inst.map(str) } else { None })
                        .with_metadata(metadata)
                })
                .collect(),
        );
    if version >= 9 {
        resp.with_skip_assignment(r.skip_assignment)
    } else {
        resp
    }
}

pub async fn handle(
    broker: &Broker,
    conn: &ConnectionState,
    version: i16,
    mut req: JoinGroupRequest,
) -> JoinGroupResponse {
    let member_id = req.join.member_id.clone();
    if let Some(message) = &req.over_limit {
        refusals::refused(PROTOCOL_LIMIT, Some(conn.peer), message);
        return response(
            version,
            JoinResult::error(ResponseError::InvalidRequest.code(), &member_id),
        );
    }
    req.join.client_host = conn.client_host();
    let result = match broker
        .coordinator
        .join(&req.group_id, req.join, Some(conn.peer))
    {
        Reply::Now(r) => r,
        Reply::Wait(rx) => {
            tokio::select! {
                r = rx => r.unwrap_or_else(|_| JoinResult::error(ResponseError::RebalanceInProgress.code(), &member_id)),
                _ = broker.shutdown.cancelled() => JoinResult::error(ResponseError::CoordinatorNotAvailable.code(), &member_id),
            }
        }
    };
    response(version, result)
}
