//! SyncGroup (v0-5): the second phase of a rebalance. The leader brings the
//! assignment; every member's SyncGroup is answered the moment it arrives.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::SyncGroupResponse;

use super::str;
use crate::broker::Broker;
use crate::coordinator::{Reply, SyncRequest, SyncResult};
use crate::protocol::reader::{Reader, Result};

pub struct SyncGroupRequest {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

impl SyncGroupRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let group_id = r.string("group id")?;
        let generation = r.i32()?;
        let member_id = r.string("member id")?;
        let instance_id = if version >= 3 {
            r.nullable_string()?
        } else {
            None
        };
        let (protocol_type, protocol_name) = if version >= 5 {
            (r.nullable_string()?, r.nullable_string()?)
        } else {
            (None, None)
        };
        let assignments = r.array("assignments", |r| {
            let id = r.string("member id")?;
            let a = r.bytes("assignment")?;
            r.tagged_fields()?;
            Ok((id, a))
        })?;
        r.tagged_fields()?;
        Ok(SyncGroupRequest {
            group_id,
            generation,
            member_id,
            instance_id,
            protocol_type,
            protocol_name,
            assignments,
        })
    }
}

pub async fn handle(broker: &Broker, version: i16, req: SyncGroupRequest) -> SyncGroupResponse {
    let reply = broker.coordinator.sync(
        &req.group_id,
        SyncRequest {
            member_id: &req.member_id,
            instance_id: req.instance_id.as_deref(),
            generation: req.generation,
            protocol_type: req.protocol_type.as_deref(),
            protocol_name: req.protocol_name.as_deref(),
            assignments: req.assignments,
        },
    );
    let r = match reply {
        Reply::Now(r) => r,
        Reply::Wait(rx) => {
            tokio::select! {
                r = rx => r.unwrap_or_else(|_| SyncResult::error(ResponseError::RebalanceInProgress.code())),
                _ = broker.shutdown.cancelled() => SyncResult::error(ResponseError::CoordinatorNotAvailable.code()),
            }
        }
    };
    let resp = SyncGroupResponse::default()
        .with_error_code(r.error)
        .with_assignment(r.assignment);
    if version >= 5 {
        resp.with_protocol_type(r.protocol_type.map(str))
            .with_protocol_name(r.protocol_name.map(str))
    } else {
        resp
    }
}
