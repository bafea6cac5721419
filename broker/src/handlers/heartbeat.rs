//! Heartbeat (v0-4): keeps a member's session alive and tells it when a
//! rebalance has started (REBALANCE_IN_PROGRESS).

use kafka_protocol::messages::HeartbeatResponse;

use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};

pub struct HeartbeatRequest {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
}

impl HeartbeatRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let group_id = r.string("group id")?;
        let generation = r.i32()?;
        let member_id = r.string("member id")?;
        let instance_id = if version >= 3 {
            r.nullable_string()?
        } else {
            None
        };
        r.tagged_fields()?;
        Ok(HeartbeatRequest {
            group_id,
            generation,
            member_id,
            instance_id,
        })
    }
}

pub fn handle(broker: &Broker, req: HeartbeatRequest) -> HeartbeatResponse {
    HeartbeatResponse::default().with_error_code(broker.coordinator.heartbeat(
        &req.group_id,
        &req.member_id,
        req.instance_id.as_deref(),
        req.generation,
    ))
}
