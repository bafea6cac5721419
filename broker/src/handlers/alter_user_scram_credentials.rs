//! AlterUserScramCredentials (v0, KIP-554): deletions (user, mechanism) and
//! upsertions (user, mechanism, iterations, salt, salted password). The
//! client salts the password, so the password itself never reaches the
//! broker; the broker derives StoredKey and ServerKey from the salted
//! password (`security::scram::ScramCredential::from_salted_password`).

use bytes::Bytes;

use crate::protocol::reader::{Reader, Result};

#[derive(Debug, PartialEq, Eq)]
pub struct ScramDeletion {
    pub name: String,
    /// KIP-554 mechanism number: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512.
    pub mechanism: i8,
}

/// Salt and salted password are slices of the frame; their lengths are
/// checked against the mechanism when the credential is made.
#[derive(Debug, PartialEq, Eq)]
pub struct ScramUpsertion {
    pub name: String,
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Bytes,
    pub salted_password: Bytes,
}

#[derive(Debug, PartialEq, Eq)]
pub struct AlterUserScramCredentialsRequest {
    pub deletions: Vec<ScramDeletion>,
    pub upsertions: Vec<ScramUpsertion>,
}

impl AlterUserScramCredentialsRequest {
    pub fn decode(r: &mut Reader, _version: i16) -> Result<Self> {
        let deletions = r.array("deletions", |r| {
            let name = r.string("user name")?;
            let mechanism = r.i8()?;
            r.tagged_fields()?;
            Ok(ScramDeletion { name, mechanism })
        })?;
        let upsertions = r.array("upsertions", |r| {
            let name = r.string("user name")?;
            let mechanism = r.i8()?;
            let iterations = r.i32()?;
            let salt = r.bytes("salt")?;
            let salted_password = r.bytes("salted password")?;
            r.tagged_fields()?;
            Ok(ScramUpsertion {
                name,
                mechanism,
                iterations,
                salt,
                salted_password,
            })
        })?;
        r.tagged_fields()?;
        Ok(AlterUserScramCredentialsRequest {
            deletions,
            upsertions,
        })
    }
}

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::AlterUserScramCredentialsResponse;

use super::{str, DUPLICATE_RESOURCE, RESOURCE_NOT_FOUND, UNACCEPTABLE_CREDENTIAL};
use crate::broker::Broker;
use crate::connection::ConnectionState;
use crate::security::acl::{Operation, ResourceType, CLUSTER_NAME};
use crate::security::credentials::validate_username;
use crate::security::persist;
use crate::security::sasl::UNSUPPORTED_SASL_MECHANISM;
use crate::security::scram::{Mechanism, ScramCredential};

/// One accepted change.
enum Change {
    Delete(String, Mechanism),
    Upsert(String, Mechanism, ScramCredential),
}

/// Needs ALTER on the cluster. Each user gets one result; a user with any
/// refused change gets that error and none of its changes is applied
/// (Kafka's rule); the accepted ones are written in one commit.
pub async fn handle(
    broker: &Broker,
    conn: &ConnectionState,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let mut users: BTreeMap<String, std::result::Result<Vec<Change>, (i16, String)>> =
        BTreeMap::new();
    let mut count: HashMap<(String, i8), usize> = HashMap::new();
    for d in &req.deletions {
        *count.entry((d.name.clone(), d.mechanism)).or_default() += 1;
    }
    for u in &req.upsertions {
        *count.entry((u.name.clone(), u.mechanism)).or_default() += 1;
    }
    let allowed = super::allowed(
        broker,
        conn,
        Operation::Alter,
        ResourceType::Cluster,
        CLUSTER_NAME,
    );
    let store = &broker.security.credentials;
    let mut record = |name: &str, change: std::result::Result<Change, (i16, String)>| {
        let entry = users.entry(name.to_string()).or_insert(Ok(Vec::new()));
        match (entry.as_mut(), change) {
            (Ok(list), Ok(c)) => list.push(c),
            (Ok(_), Err(e)) => *entry = Err(e),
            (Err(_), _) => {}
        }
    };
    let check = |name: &str, mech: i8| -> std::result::Result<Mechanism, (i16, String)> {
        if !allowed {
            return Err((
                super::CLUSTER_AUTHORIZATION_FAILED,
                "ALTER on the cluster is needed to change users".into(),
            ));
        }
        if name.is_empty() {
            return Err((UNACCEPTABLE_CREDENTIAL, "Username must not be empty".into()));
        }
        validate_username(name).map_err(|m| (UNACCEPTABLE_CREDENTIAL, m))?;
        if count[&(name.to_string(), mech)] > 1 {
            return Err((
                DUPLICATE_RESOURCE,
                "a user and mechanism appear more than once in the request".into(),
            ));
        }
        Mechanism::from_kafka_type(mech).ok_or((
            UNSUPPORTED_SASL_MECHANISM,
            format!("unknown SCRAM mechanism {mech}"),
        ))
    };
    for d in &req.deletions {
        let change = check(&d.name, d.mechanism).and_then(|m| {
            if store.get(&d.name, m).is_some() {
                Ok(Change::Delete(d.name.clone(), m))
            } else {
                Err((
                    RESOURCE_NOT_FOUND,
                    format!(
                        "Attempt to delete a user credential that does not exist ({})",
                        m
                    ),
                ))
            }
        });
        record(&d.name, change);
    }
    for u in &req.upsertions {
        let change = check(&u.name, u.mechanism).and_then(|m| {
            let iterations = u32::try_from(u.iterations).unwrap_or(0);
            ScramCredential::from_salted_password(
                m,
                &u.salted_password,
                u.salt.to_vec(),
                iterations,
            )
            .map(|c| Change::Upsert(u.name.clone(), m, c))
            .map_err(|e| (UNACCEPTABLE_CREDENTIAL, e.to_string()))
        });
        record(&u.name, change);
    }
    let accepted: Vec<Change> = users
        .values_mut()
        .filter_map(|r| r.as_mut().ok().map(std::mem::take))
        .flatten()
        .collect();
    let mut write_error = None;
    if !accepted.is_empty() {
        let rows: Vec<(String, Mechanism, Option<ScramCredential>)> = accepted
            .iter()
            .map(|c| match c {
                Change::Delete(n, m) => (n.clone(), *m, None),
                Change::Upsert(n, m, cred) => (n.clone(), *m, Some(cred.clone())),
            })
            .collect();
        let growth = 256 * rows.len() as u64;
        let written = broker
            .storage
            .security_write(
                growth,
                Box::new(move |c| {
                    for (n, m, cred) in &rows {
                        match cred {
                            Some(cred) => persist::upsert_credential(c, n, *m, cred)?,
                            None => {
                                persist::delete_credential(c, n, *m)?;
                            }
                        }
                    }
                    Ok(())
                }),
            )
            .await;
        match written {
            Ok(()) => {
                for c in accepted {
                    match c {
                        Change::Delete(n, m) => {
                            store.remove(&n, m);
                        }
                        Change::Upsert(n, m, cred) => store.upsert(&n, m, cred),
                    }
                }
            }
            Err(e) => write_error = Some(e),
        }
    }
    let results = users
        .into_iter()
        .map(|(user, r)| {
            let res = AlterUserScramCredentialsResult::default().with_user(str(user));
            match (r, &write_error) {
                (Err((code, msg)), _) => {
                    res.with_error_code(code).with_error_message(Some(str(msg)))
                }
                (Ok(_), Some(e)) => res
                    .with_error_code(e.kafka_code())
                    .with_error_message(Some(str(e.to_string()))),
                (Ok(_), None) => res,
            }
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}
