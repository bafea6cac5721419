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
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let creations = r.array("creations", |r| {
            let resource_type = r.i8()?;
            let resource_name = r.string("resource name")?;
            let pattern_type = if version >= 1 {
                r.i8()?
            } else {
                super::describe_acls::LITERAL
            };
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

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::CreateAclsResponse;

use super::str;
use crate::broker::Broker;
use crate::connection::ConnectionState;
use crate::security::persist;

/// Needs ALTER on the cluster. Each creation is validated on its own; the
/// valid ones are written in one commit, then added to the authorizer.
pub async fn handle(
    broker: &Broker,
    conn: &ConnectionState,
    req: CreateAclsRequest,
) -> CreateAclsResponse {
    if let Some((code, msg)) = super::acl_api_refusal(broker, conn, Operation::Alter) {
        let results = req
            .creations
            .iter()
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(code)
                    .with_error_message(Some(str(msg)))
            })
            .collect();
        return CreateAclsResponse::default().with_results(results);
    }
    let checked: Vec<std::result::Result<AclBinding, AclError>> =
        req.creations.iter().map(AclCreation::to_binding).collect();
    let valid: Vec<AclBinding> = checked
        .iter()
        .filter_map(|r| r.as_ref().ok().cloned())
        .collect();
    let mut failure = None;
    if !valid.is_empty() {
        let rows = valid.clone();
        let growth = rows
            .iter()
            .map(|b| 128 + (b.resource_name.len() + b.principal.len() + b.host.len()) as u64)
            .sum();
        match broker
            .storage
            .security_write(
                growth,
                Box::new(move |c| {
                    for b in &rows {
                        persist::insert_acl(c, b)?;
                    }
                    Ok(())
                }),
            )
            .await
        {
            Ok(()) => {
                for b in valid {
                    broker.security.authorizer.add(b);
                }
            }
            Err(e) => failure = Some(e),
        }
    }
    let results = checked
        .into_iter()
        .map(|r| match (r, &failure) {
            (Err(e), _) => AclCreationResult::default()
                .with_error_code(AclError::CODE)
                .with_error_message(Some(str(e.0))),
            (Ok(_), Some(e)) => AclCreationResult::default()
                .with_error_code(e.kafka_code())
                .with_error_message(Some(str(e.to_string()))),
            (Ok(_), None) => AclCreationResult::default(),
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}
