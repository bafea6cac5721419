//! DescribeAcls (v1-3): one filter (ANY and MATCH patterns, null names),
//! answered with the matching ACLs grouped by resource.

use crate::protocol::reader::{Reader, Result};

/// The LITERAL pattern type, implied by v0 requests.
pub(crate) const LITERAL: i8 = 3;
use crate::security::acl::{AclBindingFilter, AclError};

use super::create_acls::codes;

/// A filter as sent: codes kept raw, so an unknown one is answered with an
/// error rather than closing the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAclFilter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission: i8,
}

impl RawAclFilter {
    /// v0 has no pattern type: its filters match LITERAL patterns only.
    pub(crate) fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let resource_type = r.i8()?;
        let resource_name = r.nullable_string()?;
        let pattern_type = if version >= 1 { r.i8()? } else { LITERAL };
        let principal = r.nullable_string()?;
        let host = r.nullable_string()?;
        let operation = r.i8()?;
        let permission = r.i8()?;
        Ok(RawAclFilter {
            resource_type,
            resource_name,
            pattern_type,
            principal,
            host,
            operation,
            permission,
        })
    }

    /// The filter, validated (Kafka refuses UNKNOWN parts).
    pub fn to_filter(&self) -> std::result::Result<AclBindingFilter, AclError> {
        let (resource_type, pattern_type, operation, permission) = codes(
            self.resource_type,
            self.pattern_type,
            self.operation,
            self.permission,
        );
        let f = AclBindingFilter {
            resource_type,
            resource_name: self.resource_name.clone(),
            pattern_type,
            principal: self.principal.clone(),
            host: self.host.clone(),
            operation,
            permission,
        };
        f.validate()?;
        Ok(f)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct DescribeAclsRequest {
    pub filter: RawAclFilter,
}

impl DescribeAclsRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let filter = RawAclFilter::decode(r, version)?;
        r.tagged_fields()?;
        Ok(DescribeAclsRequest { filter })
    }
}

use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::DescribeAclsResponse;

use super::str;
use crate::broker::Broker;
use crate::connection::ConnectionState;
use crate::security::acl::{Operation, CLUSTER_NAME};

/// Needs DESCRIBE on the cluster; SECURITY_DISABLED without the ACL
/// authorizer, as Kafka answers without an authorizer.
pub fn handle(
    broker: &Broker,
    conn: &ConnectionState,
    req: DescribeAclsRequest,
) -> DescribeAclsResponse {
    let response = DescribeAclsResponse::default();
    if let Some((code, msg)) = super::acl_api_refusal(broker, conn, Operation::Describe) {
        return response
            .with_error_code(code)
            .with_error_message(Some(str(msg)));
    }
    let filter = match req.filter.to_filter() {
        Ok(f) => f,
        Err(e) => {
            return response
                .with_error_code(AclError::CODE)
                .with_error_message(Some(str(e.0)))
        }
    };
    let _ = CLUSTER_NAME;
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for b in broker.security.authorizer.matching(&filter) {
        let acl = AclDescription::default()
            .with_principal(str(&b.principal))
            .with_host(str(&b.host))
            .with_operation(b.operation.code())
            .with_permission_type(b.permission.code());
        match resources.last_mut() {
            Some(r)
                if r.resource_type == b.resource_type.code()
                    && r.resource_name.as_str() == b.resource_name
                    && r.pattern_type == b.pattern_type.code() =>
            {
                r.acls.push(acl)
            }
            _ => resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(b.resource_type.code())
                    .with_resource_name(str(&b.resource_name))
                    .with_pattern_type(b.pattern_type.code())
                    .with_acls(vec![acl]),
            ),
        }
    }
    response.with_resources(resources)
}
