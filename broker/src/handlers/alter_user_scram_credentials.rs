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
