//! DeleteAcls (v1-3): filters; every ACL a filter matches is deleted and
//! listed in that filter's result.

use super::describe_acls::RawAclFilter;
use crate::protocol::reader::{Reader, Result};

#[derive(Debug, PartialEq, Eq)]
pub struct DeleteAclsRequest {
    pub filters: Vec<RawAclFilter>,
}

impl DeleteAclsRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let filters = r.array("filters", |r| {
            let f = RawAclFilter::decode(r, version)?;
            r.tagged_fields()?;
            Ok(f)
        })?;
        r.tagged_fields()?;
        Ok(DeleteAclsRequest { filters })
    }
}

use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::DeleteAclsResponse;

use super::str;
use crate::broker::Broker;
use crate::connection::ConnectionState;
use crate::security::acl::{AclBinding, AclError, Operation};
use crate::security::persist;

/// Needs ALTER on the cluster. Every ACL any valid filter matches is
/// deleted in one commit and listed under each filter that matched it.
pub async fn handle(
    broker: &Broker,
    conn: &ConnectionState,
    req: DeleteAclsRequest,
) -> DeleteAclsResponse {
    if let Some((code, msg)) = super::acl_api_refusal(broker, conn, Operation::Alter) {
        let results = req
            .filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(code)
                    .with_error_message(Some(str(msg)))
            })
            .collect();
        return DeleteAclsResponse::default().with_filter_results(results);
    }
    let authorizer = &broker.security.authorizer;
    let matched: Vec<std::result::Result<Vec<AclBinding>, AclError>> = req
        .filters
        .iter()
        .map(|f| f.to_filter().map(|f| authorizer.matching(&f)))
        .collect();
    let mut all: Vec<AclBinding> = matched.iter().flatten().flatten().cloned().collect();
    all.sort();
    all.dedup();
    let mut failure = None;
    if !all.is_empty() {
        let rows = all.clone();
        match broker
            .storage
            .security_write(
                0,
                Box::new(move |c| {
                    for b in &rows {
                        persist::delete_acl(c, b)?;
                    }
                    Ok(())
                }),
            )
            .await
        {
            Ok(()) => {
                for b in &all {
                    authorizer.remove(b);
                }
            }
            Err(e) => failure = Some(e),
        }
    }
    let results = matched
        .into_iter()
        .map(|m| match (m, &failure) {
            (Err(e), _) => DeleteAclsFilterResult::default()
                .with_error_code(AclError::CODE)
                .with_error_message(Some(str(e.0))),
            (Ok(_), Some(e)) => DeleteAclsFilterResult::default()
                .with_error_code(e.kafka_code())
                .with_error_message(Some(str(e.to_string()))),
            (Ok(list), None) => DeleteAclsFilterResult::default().with_matching_acls(
                list.into_iter()
                    .map(|b| {
                        DeleteAclsMatchingAcl::default()
                            .with_resource_type(b.resource_type.code())
                            .with_resource_name(str(&b.resource_name))
                            .with_pattern_type(b.pattern_type.code())
                            .with_principal(str(&b.principal))
                            .with_host(str(&b.host))
                            .with_operation(b.operation.code())
                            .with_permission_type(b.permission.code())
                    })
                    .collect(),
            ),
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
