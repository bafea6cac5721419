//! DescribeGroups (v0-5): state, protocol and members (with their metadata
//! and assignment as the leader made it) of each named group; an unknown
//! group is reported as Dead, as Kafka does. A group named more than once is
//! described once: each description can carry megabytes of member metadata,
//! so repeating one name must not multiply the response.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsResponse, GroupId};

use super::str;
use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};

pub struct DescribeGroupsRequest {
    pub groups: Vec<String>,
}

impl DescribeGroupsRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let groups = r.array("groups", |r| r.string("group id"))?;
        if version >= 3 {
            r.bool()?; // include authorized operations
        }
        r.tagged_fields()?;
        Ok(DescribeGroupsRequest { groups })
    }
}

/// Each group needs DESCRIBE on it.
pub fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    version: i16,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let mut seen = std::collections::HashSet::new();
    let allowed = |id: &str| {
        super::group_allowed(broker, conn, crate::security::acl::Operation::Describe, id)
    };
    DescribeGroupsResponse::default().with_groups(
        req.groups
            .into_iter()
            .filter(|id| seen.insert(id.clone()))
            .map(|id| match broker.coordinator.summary(&id) {
                _ if !allowed(&id) => DescribedGroup::default()
                    .with_group_id(GroupId(str(id)))
                    .with_error_code(super::GROUP_AUTHORIZATION_FAILED),
                None => DescribedGroup::default()
                    .with_group_id(GroupId(str(id)))
                    .with_group_state(str("Dead")),
                Some(g) => DescribedGroup::default()
                    .with_group_id(GroupId(str(g.id)))
                    .with_group_state(str(g.state))
                    .with_protocol_type(str(g.protocol_type))
                    .with_protocol_data(str(g.protocol_name))
                    .with_members(
                        g.members
                            .into_iter()
                            .map(|m| {
                                DescribedGroupMember::default()
                                    .with_member_id(str(m.member_id))
                                    .with_group_instance_id(if version >= 4 {
                                        m.instance_id.map(str)
                                    } else {
                                        None
                                    })
                                    .with_client_id(str(m.client_id))
                                    .with_client_host(str(m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment)
                            })
                            .collect(),
                    ),
            })
            .collect(),
    )
}
