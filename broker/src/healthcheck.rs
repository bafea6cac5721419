//! `skiff-broker healthcheck`: a real Kafka round trip (ApiVersions v0) to the
//! broker, for container health checks in images that have no shell. The
//! exchange is the `kafka-probe` crate's, shared with `skiff`'s readiness
//! wait: one deadline for the whole of it, a bounded answer, read in full
//! before the socket closes (so the broker logs no reset).
//!
//! On an SSL or SASL_SSL listener the same request goes over TLS. The
//! certificate is not verified there: the check talks to its own broker on
//! the same host, sends nothing secret (ApiVersions is served before
//! authentication) and proves liveness, not identity.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The client id the broker recognises as its health check.
const CLIENT_ID: &str = "skiff-healthcheck";

fn address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Sends ApiVersions v0 to `host:port` and checks the answer. Returns a
/// message saying what failed.
pub fn check(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    kafka_probe::probe(&address(host, port), CLIENT_ID, timeout).map_err(|e| e.to_string())
}

/// [`check`] over TLS.
pub fn check_tls(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    let addr = address(host, port);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the health check: {e}"))?;
    rt.block_on(async {
        tokio::time::timeout(timeout, tls_round_trip(&addr, host))
            .await
            .map_err(|_| format!("{addr}: no answer within {timeout:?}"))?
    })
}

async fn tls_round_trip(addr: &str, host: &str) -> Result<(), String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{addr}: {what}: {e}");
    let config = rustls::ClientConfig::builder_with_provider(crate::security::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| fail("TLS configuration", &e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate))
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string()).map_err(|e| fail("server name", &e))?;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| fail("connect", &e))?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| fail("TLS handshake", &e))?;
    let correlation_id = 0x5eed;
    tls.write_all(&kafka_probe::request(correlation_id, CLIENT_ID))
        .await
        .map_err(|e| fail("send", &e))?;
    let mut prefix = [0u8; 4];
    tls.read_exact(&mut prefix)
        .await
        .map_err(|e| fail("read", &e))?;
    let len = kafka_probe::answer_len(prefix).map_err(|e| fail("answer", &e))?;
    let mut body = vec![0u8; len];
    tls.read_exact(&mut body)
        .await
        .map_err(|e| fail("read", &e))?;
    kafka_probe::check_answer(&body, correlation_id).map_err(|e| fail("answer", &e))?;
    let _ = tls.shutdown().await;
    Ok(())
}

/// Accepts any certificate (see the module comment for why that is right
/// for this one check), still verifying the handshake signatures.
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &crate::security::tls::provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &crate::security::tls::provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        crate::security::tls::provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
