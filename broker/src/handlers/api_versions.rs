//! ApiVersions (v0-4): the table of APIs and versions Skiff serves.
//!
//! The response header is always v0, even for flexible versions. A request of
//! a version newer than Skiff knows gets a v0 response with
//! UNSUPPORTED_VERSION and the table, so the client can downgrade (KIP-511).
//! The request body (client software name/version) is not needed.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

use std::time::Duration;

use tracing::error;

use super::{respond, HandleError, Pending};
use crate::broker::Broker;
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

/// The client id of `skiff-broker healthcheck` (kafka-probe's).
const HEALTHCHECK_CLIENT: &str = "skiff-healthcheck";

/// How long the health check's writer round trip may take.
const WRITER_PING_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn handle(
    broker: &Broker,
    client_id: Option<&str>,
    supported: bool,
    version: i16,
    correlation_id: i32,
) -> Result<Pending, HandleError> {
    if !supported {
        let body = response(ResponseError::UnsupportedVersion.code());
        return respond(ApiKey::ApiVersions, 0, correlation_id, &body);
    }
    // The health check proves more than a listening socket: the storage
    // writer answers a ping (a group of its own, no write), else
    // KAFKA_STORAGE_ERROR and the check fails. Other clients pay nothing.
    let mut code = 0;
    if client_id == Some(HEALTHCHECK_CLIENT) {
        let ping = tokio::time::timeout(WRITER_PING_TIMEOUT, broker.storage.ping()).await;
        if !matches!(ping, Ok(Ok(()))) {
            error!("health check: the storage writer did not answer");
            code = ResponseError::KafkaStorageError.code();
        }
    }
    respond(
        ApiKey::ApiVersions,
        version,
        correlation_id,
        &response(code),
    )
}
