//! DescribeUserScramCredentials (v0, KIP-554): which SCRAM mechanisms and
//! iteration counts the named users (or all users, for a null or empty list)
//! have. Never the salts or keys.

use crate::protocol::reader::{Reader, Result};

#[derive(Debug, PartialEq, Eq)]
pub struct DescribeUserScramCredentialsRequest {
    /// `None` (null) or empty: every user.
    pub users: Option<Vec<String>>,
}

impl DescribeUserScramCredentialsRequest {
    pub fn decode(r: &mut Reader, _version: i16) -> Result<Self> {
        let users = r.nullable_array("users", |r| {
            let name = r.string("user name")?;
            r.tagged_fields()?;
            Ok(name)
        })?;
        r.tagged_fields()?;
        Ok(DescribeUserScramCredentialsRequest { users })
    }
}

use std::collections::HashMap;

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::DescribeUserScramCredentialsResponse;

use super::{str, DUPLICATE_RESOURCE, RESOURCE_NOT_FOUND};
use crate::broker::Broker;
use crate::connection::ConnectionState;
use crate::security::acl::{Operation, ResourceType, CLUSTER_NAME};

/// Needs DESCRIBE on the cluster. Never returns salts or keys.
pub fn handle(
    broker: &Broker,
    conn: &ConnectionState,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let response = DescribeUserScramCredentialsResponse::default();
    if !super::allowed(
        broker,
        conn,
        Operation::Describe,
        ResourceType::Cluster,
        CLUSTER_NAME,
    ) {
        return response
            .with_error_code(super::CLUSTER_AUTHORIZATION_FAILED)
            .with_error_message(Some(str("DESCRIBE on the cluster is needed to list users")));
    }
    let store = &broker.security.credentials;
    let info = |mechs: Vec<(crate::security::scram::Mechanism, u32)>| {
        mechs
            .into_iter()
            .map(|(m, it)| {
                CredentialInfo::default()
                    .with_mechanism(m.kafka_type())
                    .with_iterations(it as i32)
            })
            .collect::<Vec<_>>()
    };
    let results = match req.users.filter(|u| !u.is_empty()) {
        None => store
            .list()
            .into_iter()
            .map(|(user, mechs)| {
                DescribeUserScramCredentialsResult::default()
                    .with_user(str(user))
                    .with_credential_infos(info(mechs))
            })
            .collect(),
        Some(users) => {
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for u in &users {
                *seen.entry(u.as_str()).or_default() += 1;
            }
            let mut done = std::collections::HashSet::new();
            users
                .iter()
                .filter(|u| done.insert(u.as_str()))
                .map(|user| {
                    let r = DescribeUserScramCredentialsResult::default().with_user(str(user));
                    if seen[user.as_str()] > 1 {
                        return r
                            .with_error_code(DUPLICATE_RESOURCE)
                            .with_error_message(Some(str("user named more than once")));
                    }
                    match store.describe(user) {
                        Some(mechs) => r.with_credential_infos(info(mechs)),
                        None => r
                            .with_error_code(RESOURCE_NOT_FOUND)
                            .with_error_message(Some(str(format!(
                                "Attempt to describe nonexistent user {user}"
                            )))),
                    }
                })
                .collect()
        }
    };
    response.with_results(results)
}
