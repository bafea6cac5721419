//! The security APIs: SASL (SaslHandshake v1, SaslAuthenticate v1), ACLs
//! (CreateAcls, DescribeAcls, DeleteAcls v1, the first versions with
//! pattern types) and SCRAM credentials (DescribeUserScramCredentials and
//! AlterUserScramCredentials v0, KIP-554, flexible from their first
//! version). Bounds as in the rest of `api`.

use super::{Api, MAX_SMALL};
use crate::decode::{Reader, Result};
use bytes::Bytes;
use kafka_protocol::messages::{self as m, ApiKey};

/// SASL answers are a few hundred bytes.
const SASL_MAX_RESPONSE: usize = 64 << 10;
/// ACL bindings in one answer.
pub const MAX_ACLS: usize = 100_000;

// ---- SASL ----

/// SaslHandshake v1 (the authentication bytes then travel in
/// SaslAuthenticate, not raw on the socket).
pub struct SaslHandshake;

#[derive(Debug, Clone, PartialEq)]
pub struct SaslHandshakeAnswer {
    pub error_code: i16,
    pub mechanisms: Vec<String>,
}

impl Api for SaslHandshake {
    type Request = m::SaslHandshakeRequest;
    type Response = SaslHandshakeAnswer;
    const KEY: ApiKey = ApiKey::SaslHandshake;
    const VERSION: i16 = 1;
    const NAME: &'static str = "SaslHandshake";
    const MAX_RESPONSE: usize = SASL_MAX_RESPONSE;
    fn decode(r: &mut Reader) -> Result<SaslHandshakeAnswer> {
        let error_code = r.i16()?;
        let mechanisms = r.array("mechanisms", 2, 100, |r| r.string("mechanism"))?;
        Ok(SaslHandshakeAnswer {
            error_code,
            mechanisms,
        })
    }
}

/// SaslAuthenticate v1.
pub struct SaslAuthenticate;

#[derive(Debug, Clone, PartialEq)]
pub struct SaslAuthenticateAnswer {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub auth_bytes: Bytes,
    pub session_lifetime_ms: i64,
}

impl Api for SaslAuthenticate {
    type Request = m::SaslAuthenticateRequest;
    type Response = SaslAuthenticateAnswer;
    const KEY: ApiKey = ApiKey::SaslAuthenticate;
    const VERSION: i16 = 1;
    const NAME: &'static str = "SaslAuthenticate";
    const MAX_RESPONSE: usize = SASL_MAX_RESPONSE;
    fn decode(r: &mut Reader) -> Result<SaslAuthenticateAnswer> {
        Ok(SaslAuthenticateAnswer {
            error_code: r.i16()?,
            error_message: r.nullable_string("error message")?,
            auth_bytes: r.nullable_bytes("auth bytes")?.unwrap_or_default(),
            session_lifetime_ms: r.i64()?,
        })
    }
}

// ---- ACLs ----

/// Kafka's ACL resource types.
pub mod resource {
    pub const ANY: i8 = 1;
    pub const TOPIC: i8 = 2;
    pub const GROUP: i8 = 3;
    pub const CLUSTER: i8 = 4;
    pub const TRANSACTIONAL_ID: i8 = 5;
}

/// Kafka's ACL pattern types.
pub mod pattern {
    pub const ANY: i8 = 1;
    pub const MATCH: i8 = 2;
    pub const LITERAL: i8 = 3;
    pub const PREFIXED: i8 = 4;
}

/// Kafka's ACL operations.
pub mod operation {
    pub const ANY: i8 = 1;
    pub const ALL: i8 = 2;
    pub const READ: i8 = 3;
    pub const WRITE: i8 = 4;
    pub const CREATE: i8 = 5;
    pub const DELETE: i8 = 6;
    pub const ALTER: i8 = 7;
    pub const DESCRIBE: i8 = 8;
    pub const CLUSTER_ACTION: i8 = 9;
    pub const DESCRIBE_CONFIGS: i8 = 10;
    pub const ALTER_CONFIGS: i8 = 11;
    pub const IDEMPOTENT_WRITE: i8 = 12;
}

/// Kafka's ACL permission types.
pub mod permission {
    pub const ANY: i8 = 1;
    pub const DENY: i8 = 2;
    pub const ALLOW: i8 = 3;
}

/// Kafka's name of an ACL enum value (`PREFIXED`, `WRITE`), for output.
pub fn acl_name(kind: &str, v: i8) -> &'static str {
    match (kind, v) {
        ("resource", resource::TOPIC) => "TOPIC",
        ("resource", resource::GROUP) => "GROUP",
        ("resource", resource::CLUSTER) => "CLUSTER",
        ("resource", resource::TRANSACTIONAL_ID) => "TRANSACTIONAL_ID",
        ("pattern", pattern::LITERAL) => "LITERAL",
        ("pattern", pattern::PREFIXED) => "PREFIXED",
        ("operation", operation::ALL) => "ALL",
        ("operation", operation::READ) => "READ",
        ("operation", operation::WRITE) => "WRITE",
        ("operation", operation::CREATE) => "CREATE",
        ("operation", operation::DELETE) => "DELETE",
        ("operation", operation::ALTER) => "ALTER",
        ("operation", operation::DESCRIBE) => "DESCRIBE",
        ("operation", operation::CLUSTER_ACTION) => "CLUSTER_ACTION",
        ("operation", operation::DESCRIBE_CONFIGS) => "DESCRIBE_CONFIGS",
        ("operation", operation::ALTER_CONFIGS) => "ALTER_CONFIGS",
        ("operation", operation::IDEMPOTENT_WRITE) => "IDEMPOTENT_WRITE",
        ("permission", permission::DENY) => "DENY",
        ("permission", permission::ALLOW) => "ALLOW",
        _ => "UNKNOWN",
    }
}

/// One ACL binding: a resource pattern and an access entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBinding {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    /// `User:NAME`.
    pub principal: String,
    /// `*` for any host.
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

/// A Kafka error code and message, per created binding or filter.
#[derive(Debug, Clone, PartialEq)]
pub struct AclResult {
    pub error_code: i16,
    pub error_message: Option<String>,
}

/// CreateAcls v1.
pub struct CreateAcls;

impl Api for CreateAcls {
    type Request = m::CreateAclsRequest;
    type Response = Vec<AclResult>;
    const KEY: ApiKey = ApiKey::CreateAcls;
    const VERSION: i16 = 1;
    const NAME: &'static str = "CreateAcls";
    fn decode(r: &mut Reader) -> Result<Vec<AclResult>> {
        let _throttle = r.i32()?;
        r.array("results", 4, MAX_ACLS, |r| {
            Ok(AclResult {
                error_code: r.i16()?,
                error_message: r.nullable_string("error message")?,
            })
        })
    }
}

/// DescribeAcls v1.
pub struct DescribeAcls;

#[derive(Debug, Clone, PartialEq)]
pub struct DescribeAclsAnswer {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub bindings: Vec<AclBinding>,
}

impl Api for DescribeAcls {
    type Request = m::DescribeAclsRequest;
    type Response = DescribeAclsAnswer;
    const KEY: ApiKey = ApiKey::DescribeAcls;
    const VERSION: i16 = 1;
    const NAME: &'static str = "DescribeAcls";
    fn decode(r: &mut Reader) -> Result<DescribeAclsAnswer> {
        let _throttle = r.i32()?;
        let error_code = r.i16()?;
        let error_message = r.nullable_string("error message")?;
        let mut bindings = Vec::new();
        let n = r.count("resources", 8, MAX_ACLS)?;
        for _ in 0..n {
            let resource_type = r.i8()?;
            let resource_name = r.string("resource name")?;
            let pattern_type = r.i8()?;
            let acls = r.count("acls", 6, MAX_ACLS)?;
            if bindings.len() + acls > MAX_ACLS {
                return Err(crate::decode::DecodeError::CountAboveLimit {
                    what: "acls",
                    count: (bindings.len() + acls) as i32,
                    max: MAX_ACLS,
                });
            }
            for _ in 0..acls {
                bindings.push(AclBinding {
                    resource_type,
                    resource_name: resource_name.clone(),
                    pattern_type,
                    principal: r.string("principal")?,
                    host: r.string("host")?,
                    operation: r.i8()?,
                    permission: r.i8()?,
                });
            }
        }
        Ok(DescribeAclsAnswer {
            error_code,
            error_message,
            bindings,
        })
    }
}

/// DeleteAcls v1.
pub struct DeleteAcls;

/// What one DeleteAcls filter matched (and deleted).
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteAclsResult {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub deleted: Vec<AclBinding>,
}

impl Api for DeleteAcls {
    type Request = m::DeleteAclsRequest;
    type Response = Vec<DeleteAclsResult>;
    const KEY: ApiKey = ApiKey::DeleteAcls;
    const VERSION: i16 = 1;
    const NAME: &'static str = "DeleteAcls";
    fn decode(r: &mut Reader) -> Result<Vec<DeleteAclsResult>> {
        let _throttle = r.i32()?;
        r.array("filter results", 8, MAX_SMALL, |r| {
            let error_code = r.i16()?;
            let error_message = r.nullable_string("error message")?;
            let deleted = r.array("matching acls", 13, MAX_ACLS, |r| {
                let code = r.i16()?;
                let _message = r.nullable_string("error message")?;
                let b = AclBinding {
                    resource_type: r.i8()?,
                    resource_name: r.string("resource name")?,
                    pattern_type: r.i8()?,
                    principal: r.string("principal")?,
                    host: r.string("host")?,
                    operation: r.i8()?,
                    permission: r.i8()?,
                };
                Ok((code, b))
            })?;
            // A binding with its own error was not deleted.
            let first_error = deleted.iter().find(|(c, _)| *c != 0).map(|(c, _)| *c);
            Ok(DeleteAclsResult {
                error_code: if error_code != 0 {
                    error_code
                } else {
                    first_error.unwrap_or(0)
                },
                error_message,
                deleted: deleted
                    .into_iter()
                    .filter(|(c, _)| *c == 0)
                    .map(|(_, b)| b)
                    .collect(),
            })
        })
    }
}

// ---- SCRAM credentials (KIP-554) ----

/// DescribeUserScramCredentials v0.
pub struct DescribeUserScramCredentials;

#[derive(Debug, Clone, PartialEq)]
pub struct DescribeScramAnswer {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub users: Vec<UserScram>,
}

/// One user's credentials (mechanism type, iterations), or its error
/// (RESOURCE_NOT_FOUND for a user asked about that has none).
#[derive(Debug, Clone, PartialEq)]
pub struct UserScram {
    pub user: String,
    pub error_code: i16,
    pub error_message: Option<String>,
    pub credentials: Vec<(i8, i32)>,
}

impl Api for DescribeUserScramCredentials {
    type Request = m::DescribeUserScramCredentialsRequest;
    type Response = DescribeScramAnswer;
    const KEY: ApiKey = ApiKey::DescribeUserScramCredentials;
    const VERSION: i16 = 0;
    const NAME: &'static str = "DescribeUserScramCredentials";
    fn decode(r: &mut Reader) -> Result<DescribeScramAnswer> {
        let _throttle = r.i32()?;
        let error_code = r.i16()?;
        let error_message = r.compact_nullable_string("error message")?;
        let users = r.compact_array("results", 6, MAX_ACLS, |r| {
            let user = r.compact_string("user")?;
            let error_code = r.i16()?;
            let error_message = r.compact_nullable_string("error message")?;
            let credentials = r.compact_array("credential infos", 6, 16, |r| {
                let mechanism = r.i8()?;
                let iterations = r.i32()?;
                r.tagged_fields()?;
                Ok((mechanism, iterations))
            })?;
            r.tagged_fields()?;
            Ok(UserScram {
                user,
                error_code,
                error_message,
                credentials,
            })
        })?;
        r.tagged_fields()?;
        Ok(DescribeScramAnswer {
            error_code,
            error_message,
            users,
        })
    }
}

/// AlterUserScramCredentials v0.
pub struct AlterUserScramCredentials;

/// Per-user result of AlterUserScramCredentials.
#[derive(Debug, Clone, PartialEq)]
pub struct AlterScramResult {
    pub user: String,
    pub error_code: i16,
    pub error_message: Option<String>,
}

impl Api for AlterUserScramCredentials {
    type Request = m::AlterUserScramCredentialsRequest;
    type Response = Vec<AlterScramResult>;
    const KEY: ApiKey = ApiKey::AlterUserScramCredentials;
    const VERSION: i16 = 0;
    const NAME: &'static str = "AlterUserScramCredentials";
    fn decode(r: &mut Reader) -> Result<Vec<AlterScramResult>> {
        let _throttle = r.i32()?;
        let results = r.compact_array("results", 5, MAX_SMALL, |r| {
            let user = r.compact_string("user")?;
            let error_code = r.i16()?;
            let error_message = r.compact_nullable_string("error message")?;
            r.tagged_fields()?;
            Ok(AlterScramResult {
                user,
                error_code,
                error_message,
            })
        })?;
        r.tagged_fields()?;
        Ok(results)
    }
}
