//! CreateAcls (v1-3): ACL bindings to create. The codes are kept as sent, so
//! that an unknown one fails its own creation (INVALID_REQUEST with a
//! message), not the whole request.

use crate::protocol::reader::{Reader, Result};
use crate::security::acl::{
    AclBinding, AclError, Operation, PatternType, Permission, ResourceType,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclCreation {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

/// A code Kafka does not define reads as UNKNOWN, which every check refuses.
pub(crate) fn codes(
    rt: i8,
    pt: i8,
    op: i8,
    perm: i8,
) -> (ResourceType, PatternType, Operation, Permission) {
    (
        ResourceType::from_code(rt).unwrap_or(ResourceType::Unknown),
        PatternType::from_code(pt).unwrap_or(PatternType::Unknown),
        Operation::from_code(op).unwrap_or(Operation::Unknown),
        Permission::from_code(perm).unwrap_or(Permission::Unknown),
    )
}

impl AclCreation {
    /// The binding to create, validated (Kafka's rules and Skiff's resource
    /// types).
    pub fn to_binding(&self) -> std::result::Result<AclBinding, AclError> {
        let (resource_type, pattern_type, operation, permission) = codes(
            self.resource_type,
            self.pattern_type,
            self.operation,
            self.permission,
        );
        let b = AclBinding {
            resource_type,
            resource_name: self.resource_name.clone(),
            pattern_type,
            principal: self.principal.clone(),
            host: self.host.clone(),
            operation,
            permission,
        };
        b.validate()?;
        Ok(b)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct CreateAclsRequest {
    pub creations: Vec<AclCreation>,
}

impl CreateAclsRequest {
    pub fn decode(r: &mut Reader, _version: i16) -> Result<Self> {
        let creations = r.array("creations", |r| {
            let resource_type = r.i8()?;
            let resource_name = r.string("resource name")?;
            let pattern_type = r.i8()?;
            let principal = r.string("principal")?;
            let host = r.string("host")?;
            let operation = r.i8()?;
            let permission = r.i8()?;
            r.tagged_fields()?;
            Ok(AclCreation {
                resource_type,
                resource_name,
                pattern_type,
                principal,
                host,
                operation,
                permission,
            })
        })?;
        r.tagged_fields()?;
        Ok(CreateAclsRequest { creations })
    }
}
