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

pub struct JoinGroupRequest {
    pub group_id: String,
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
        let protocols = r.array("protocols", |r| {
            let name = r.string("protocol name")?;
            let metadata = r.bytes("protocol metadata")?;
            r.tagged_fields()?;
            Ok((name, metadata))
        })?;
        if version >= 8 {
            r.nullable_string()?; // reason
        }
        r.tagged_fields()?;
        Ok(JoinGroupRequest {
            group_id,
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
    req.join.client_host = conn.client_host();
    let member_id = req.join.member_id.clone();
    let result = match broker.coordinator.join(&req.group_id, req.join) {
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
