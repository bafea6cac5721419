//! LeaveGroup (v0-5): one member (v0-2) or a batch of members, by member id
//! or group instance id (v3+). The rest of the group rebalances at once.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::LeaveGroupResponse;

use super::str;
use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};

pub struct LeaveGroupRequest {
    pub group_id: String,
    /// (member id, group instance id)
    pub members: Vec<(String, Option<String>)>,
}

impl LeaveGroupRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let group_id = r.string("group id")?;
        let members = if version >= 3 {
            r.array("members", |r| {
                let id = r.string("member id")?;
                let inst = r.nullable_string()?;
                if version >= 5 {
                    r.nullable_string()?; // reason
                }
                r.tagged_fields()?;
                Ok((id, inst))
            })?
        } else {
            vec![(r.string("member id")?, None)]
        };
        r.tagged_fields()?;
        Ok(LeaveGroupRequest { group_id, members })
    }
}

pub fn handle(broker: &Broker, version: i16, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let codes = broker.coordinator.leave(&req.group_id, &req.members);
    if version < 3 {
        return LeaveGroupResponse::default().with_error_code(codes.first().copied().unwrap_or(0));
    }
    LeaveGroupResponse::default().with_members(
        req.members
            .into_iter()
            .zip(codes)
            .map(|((id, inst), code)| {
                MemberResponse::default()
                    .with_member_id(str(id))
                    .with_group_instance_id(inst.map(str))
                    .with_error_code(code)
            })
            .collect(),
    )
}
