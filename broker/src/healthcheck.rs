//! `skiff-broker healthcheck`: a real Kafka round trip (ApiVersions v0) to the
//! broker, for container health checks in images that have no shell. The
//! exchange is the `kafka-probe` crate's, shared with `skiff`'s readiness
//! wait: one deadline for the whole of it, a bounded answer, read in full
//! before the socket closes (so the broker logs no reset).

use std::time::Duration;

/// Sends ApiVersions v0 to `host:port` and checks the answer. Returns a
/// message saying what failed.
pub fn check(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    kafka_probe::probe(&addr, "skiff-healthcheck", timeout).map_err(|e| e.to_string())
}
