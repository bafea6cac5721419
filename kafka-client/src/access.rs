//! Typed calls about who may do what: SCRAM credentials (KIP-554's
//! AlterUserScramCredentials and DescribeUserScramCredentials) and ACLs
//! (CreateAcls, DescribeAcls, DeleteAcls). Each turns a Kafka error code
//! into [`Error::Broker`] naming what was being done.
//!
//! A credential is computed here, on the client: a random 32-byte salt and
//! the salted password (PBKDF2) are sent, never the password itself, as
//! Kafka's own admin client does.

use crate::api::*;
use crate::connection::Connection;
use crate::error::{Error, KafkaError, Result};
use crate::scram::{self, Mechanism};
use kafka_protocol::messages as m;
use kafka_protocol::protocol::StrBytes;
use std::num::NonZeroU32;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn broker(what: String, code: i16, message: Option<String>) -> Result<()> {
    KafkaError::check(code, message).map_err(|error| Error::Broker { what, error })
}

/// Which ACL bindings a describe or delete matches; `None` and the `ANY`
/// values match everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission: i8,
}

impl AclFilter {
    /// Every binding (of any resource) of `principal` (`User:NAME`).
    pub fn principal(principal: &str) -> AclFilter {
        AclFilter {
            resource_type: resource::ANY,
            resource_name: None,
            pattern_type: pattern::ANY,
            principal: Some(principal.to_string()),
            host: None,
            operation: operation::ANY,
            permission: permission::ANY,
        }
    }

    /// Every binding.
    pub fn all() -> AclFilter {
        AclFilter {
            principal: None,
            ..AclFilter::principal("")
        }
    }
}

impl Connection {
    /// Sets `user`'s `mechanism` credential for `password` (replacing any
    /// it had), with `iterations` PBKDF2 rounds (4096 to 16384).
    pub async fn upsert_scram_credential(
        &mut self,
        user: &str,
        mechanism: Mechanism,
        password: &str,
        iterations: u32,
    ) -> Result<()> {
        if !(scram::MIN_ITERATIONS..=scram::MAX_ITERATIONS).contains(&iterations) {
            return Err(Error::Invalid(format!(
                "{iterations} SCRAM iterations: {} to {} are accepted",
                scram::MIN_ITERATIONS,
                scram::MAX_ITERATIONS
            )));
        }
        let n = NonZeroU32::new(iterations).expect("at least 4096");
        let salt = scram::random_bytes(32);
        let salted = mechanism.salted_password(password, &salt, n);
        use m::alter_user_scram_credentials_request::ScramCredentialUpsertion;
        let req = m::AlterUserScramCredentialsRequest::default().with_upsertions(vec![
            ScramCredentialUpsertion::default()
                .with_name(s(user))
                .with_mechanism(mechanism.kafka_type())
                .with_iterations(iterations as i32)
                .with_salt(salt.into())
                .with_salted_password(salted.into()),
        ]);
        let results = self.call::<AlterUserScramCredentials>(&req).await?;
        self.alter_result(
            &results,
            user,
            &format!("set the {} credential of user '{user}'", mechanism.name()),
        )
    }

    /// Deletes `user`'s `mechanism` credential (RESOURCE_NOT_FOUND if it
    /// has none).
    pub async fn delete_scram_credential(
        &mut self,
        user: &str,
        mechanism: Mechanism,
    ) -> Result<()> {
        use m::alter_user_scram_credentials_request::ScramCredentialDeletion;
        let req = m::AlterUserScramCredentialsRequest::default().with_deletions(vec![
            ScramCredentialDeletion::default()
                .with_name(s(user))
                .with_mechanism(mechanism.kafka_type()),
        ]);
        let results = self.call::<AlterUserScramCredentials>(&req).await?;
        self.alter_result(
            &results,
            user,
            &format!(
                "delete the {} credential of user '{user}'",
                mechanism.name()
            ),
        )
    }

    fn alter_result(&self, results: &[AlterScramResult], user: &str, what: &str) -> Result<()> {
        let r = results.iter().find(|r| r.user == user).ok_or_else(|| {
            Error::Invalid(format!(
                "the AlterUserScramCredentials answer does not mention user '{user}'"
            ))
        })?;
        broker(what.to_string(), r.error_code, r.error_message.clone())
    }

    /// The SCRAM credentials of `users` (every user with one for `None`).
    /// A named user without any comes back with RESOURCE_NOT_FOUND in its
    /// entry, not as an error.
    pub async fn describe_scram_credentials(
        &mut self,
        users: Option<&[&str]>,
    ) -> Result<Vec<UserScram>> {
        use m::describe_user_scram_credentials_request::UserName;
        let req = m::DescribeUserScramCredentialsRequest::default().with_users(users.map(|u| {
            u.iter()
                .map(|n| UserName::default().with_name(s(n)))
                .collect()
        }));
        let answer = self.call::<DescribeUserScramCredentials>(&req).await?;
        broker(
            "describe SCRAM credentials".into(),
            answer.error_code,
            answer.error_message,
        )?;
        Ok(answer.users)
    }

    /// Creates `bindings`; the first binding refused is the error.
    pub async fn create_acls(&mut self, bindings: &[AclBinding]) -> Result<()> {
        use m::create_acls_request::AclCreation;
        let req = m::CreateAclsRequest::default().with_creations(
            bindings
                .iter()
                .map(|b| {
                    AclCreation::default()
                        .with_resource_type(b.resource_type)
                        .with_resource_name(s(&b.resource_name))
                        .with_resource_pattern_type(b.pattern_type)
                        .with_principal(s(&b.principal))
                        .with_host(s(&b.host))
                        .with_operation(b.operation)
                        .with_permission_type(b.permission)
                })
                .collect(),
        );
        let results = self.call::<CreateAcls>(&req).await?;
        if results.len() != bindings.len() {
            return Err(Error::Invalid(format!(
                "the CreateAcls answer has {} results for {} bindings",
                results.len(),
                bindings.len()
            )));
        }
        for (b, r) in bindings.iter().zip(results) {
            broker(
                format!(
                    "create ACL {} {} {} '{}' for {}",
                    acl_name("operation", b.operation),
                    acl_name("pattern", b.pattern_type),
                    acl_name("resource", b.resource_type),
                    b.resource_name,
                    b.principal
                ),
                r.error_code,
                r.error_message,
            )?;
        }
        Ok(())
    }

    /// The bindings `filter` matches.
    pub async fn describe_acls(&mut self, filter: &AclFilter) -> Result<Vec<AclBinding>> {
        let req = m::DescribeAclsRequest::default()
            .with_resource_type_filter(filter.resource_type)
            .with_resource_name_filter(filter.resource_name.as_deref().map(s))
            .with_pattern_type_filter(filter.pattern_type)
            .with_principal_filter(filter.principal.as_deref().map(s))
            .with_host_filter(filter.host.as_deref().map(s))
            .with_operation(filter.operation)
            .with_permission_type(filter.permission);
        let answer = self.call::<DescribeAcls>(&req).await?;
        broker(
            "describe ACLs".into(),
            answer.error_code,
            answer.error_message,
        )?;
        Ok(answer.bindings)
    }

    /// Deletes what `filter` matches; the bindings deleted.
    pub async fn delete_acls(&mut self, filter: &AclFilter) -> Result<Vec<AclBinding>> {
        use m::delete_acls_request::DeleteAclsFilter;
        let req = m::DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()
            .with_resource_type_filter(filter.resource_type)
            .with_resource_name_filter(filter.resource_name.as_deref().map(s))
            .with_pattern_type_filter(filter.pattern_type)
            .with_principal_filter(filter.principal.as_deref().map(s))
            .with_host_filter(filter.host.as_deref().map(s))
            .with_operation(filter.operation)
            .with_permission_type(filter.permission)]);
        let mut results = self.call::<DeleteAcls>(&req).await?;
        if results.len() != 1 {
            return Err(Error::Invalid(format!(
                "the DeleteAcls answer has {} results for 1 filter",
                results.len()
            )));
        }
        let r = results.remove(0);
        broker("delete ACLs".into(), r.error_code, r.error_message)?;
        Ok(r.deleted)
    }
}
