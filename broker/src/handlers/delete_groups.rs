//! DeleteGroups (v0-2): deletes empty groups and their committed offsets;
//! a group with members gets NON_EMPTY_GROUP, an unknown one
//! GROUP_ID_NOT_FOUND.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsResponse, GroupId};

use super::str;
use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};

pub struct DeleteGroupsRequest {
    pub groups: Vec<String>,
}

impl DeleteGroupsRequest {
    pub fn decode(r: &mut Reader, _version: i16) -> Result<Self> {
        let groups = r.array("group names", |r| r.string("group id"))?;
        r.tagged_fields()?;
        Ok(DeleteGroupsRequest { groups })
    }
}

/// Each group needs DELETE on it.
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(req.groups.len());
    for id in req.groups {
        let code =
            if !super::group_allowed(broker, conn, crate::security::acl::Operation::Delete, &id) {
                super::GROUP_AUTHORIZATION_FAILED
            } else {
                broker.coordinator.delete_group(&broker.storage, &id).await
            };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(GroupId(str(id)))
                .with_error_code(code),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
