//! ListGroups (v0-5): every known group (with members or committed offsets),
//! filtered by state (v4+) and type (v5+; all of Skiff's groups are classic).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsResponse};

use super::str;
use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};

pub struct ListGroupsRequest {
    pub states: Vec<String>,
    pub types: Vec<String>,
}

impl ListGroupsRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let states = if version >= 4 {
            r.array("states filter", |r| r.string("state"))?
        } else {
            Vec::new()
        };
        let types = if version >= 5 {
            r.array("types filter", |r| r.string("type"))?
        } else {
            Vec::new()
        };
        r.tagged_fields()?;
        Ok(ListGroupsRequest { states, types })
    }
}

/// Every group with DESCRIBE on the cluster, else those the principal may
/// DESCRIBE.
pub fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    version: i16,
    req: ListGroupsRequest,
) -> ListGroupsResponse {
    use crate::security::acl::Operation;
    let all = super::cluster_allowed(broker, conn, Operation::Describe);
    let wanted = |filter: &[String], value: &str| {
        filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value))
    };
    if !wanted(&req.types, "classic") {
        return ListGroupsResponse::default();
    }
    ListGroupsResponse::default().with_groups(
        broker
            .coordinator
            .list()
            .into_iter()
            .filter(|g| wanted(&req.states, g.state))
            .filter(|g| all || super::group_allowed(broker, conn, Operation::Describe, &g.id))
            .map(|g| {
                let listed = ListedGroup::default()
                    .with_group_id(GroupId(str(g.id)))
                    .with_protocol_type(str(g.protocol_type));
                let listed = if version >= 4 {
                    listed.with_group_state(str(g.state))
                } else {
                    listed
                };
                if version >= 5 {
                    listed.with_group_type(str("classic"))
                } else {
                    listed
                }
            })
            .collect(),
    )
}
