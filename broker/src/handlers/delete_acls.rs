//! DeleteAcls (v1-3): filters; every ACL a filter matches is deleted and
//! listed in that filter's result.

use super::describe_acls::RawAclFilter;
use crate::protocol::reader::{Reader, Result};

#[derive(Debug, PartialEq, Eq)]
pub struct DeleteAclsRequest {
    pub filters: Vec<RawAclFilter>,
}

impl DeleteAclsRequest {
    pub fn decode(r: &mut Reader, _version: i16) -> Result<Self> {
        let filters = r.array("filters", |r| {
            let f = RawAclFilter::decode(r)?;
            r.tagged_fields()?;
            Ok(f)
        })?;
        r.tagged_fields()?;
        Ok(DeleteAclsRequest { filters })
    }
}
