//! ApiVersions (v0-4): the table of APIs and versions Skiff serves.
//!
//! The response header is always v0, even for flexible versions. A request of
//! a version newer than Skiff knows gets a v0 response with
//! UNSUPPORTED_VERSION and the table, so the client can downgrade (KIP-511).
//! The request body (client software name/version) is not needed.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

use super::{respond, HandleError, Pending};
use crate::protocol::versions::SUPPORTED;

pub fn response(error_code: i16) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(
            SUPPORTED
                .iter()
                .map(|s| {
                    ApiVersion::default()
                        .with_api_key(s.api as i16)
                        .with_min_version(s.min)
                        .with_max_version(s.max)
                })
                .collect(),
        )
}

pub fn handle(supported: bool, version: i16, correlation_id: i32) -> Result<Pending, HandleError> {
    if !supported {
        let body = response(ResponseError::UnsupportedVersion.code());
        return respond(ApiKey::ApiVersions, 0, correlation_id, &body);
    }
    respond(ApiKey::ApiVersions, version, correlation_id, &response(0))
}
