//! DescribeAcls (v1-3): one filter (ANY and MATCH patterns, null names),
//! answered with the matching ACLs grouped by resource.

use crate::protocol::reader::{Reader, Result};
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
    pub(crate) fn decode(r: &mut Reader) -> Result<Self> {
        let resource_type = r.i8()?;
        let resource_name = r.nullable_string()?;
        let pattern_type = r.i8()?;
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
    pub fn decode(r: &mut Reader, _version: i16) -> Result<Self> {
        let filter = RawAclFilter::decode(r)?;
        r.tagged_fields()?;
        Ok(DescribeAclsRequest { filter })
    }
}
