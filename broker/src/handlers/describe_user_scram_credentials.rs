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
