//! A fake Kafka broker for the readiness wait: it answers every request
//! with the `kafka-probe` crate's ApiVersions v0 answer (error 0,
//! ApiVersions 0-3), the same code `skiff` checks answers with.
//!
//! [`FakeBroker::deployed`] also speaks TLS the way the deployed broker
//! does: a connection that opens with a TLS handshake is served with the
//! certificate chain and private key `skiff up` put in moto's SSM
//! Parameter Store, fetched when the connection arrives (as the instance
//! fetches them at boot), so `up`'s probe verifies the real certificate
//! against the CA file it wrote.

use super::moto::Moto;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

pub struct FakeBroker {
    pub addr: String,
}

/// Answers ApiVersions probes on `c` until it closes.
fn serve(mut c: impl Read + Write) {
    let mut len = [0u8; 4];
    while c.read_exact(&mut len).is_ok() {
        // A request is a few dozen bytes; anything else is not a probe.
        let len = i32::from_be_bytes(len);
        if !(8..=1024).contains(&len) {
            return;
        }
        let mut req = vec![0u8; len as usize];
        if c.read_exact(&mut req).is_err() {
            return;
        }
        let Some((_, _, correlation)) = kafka_probe::request_header(&req) else {
            return;
        };
        let answer = kafka_probe::answer(correlation, 0, &[(kafka_probe::API_VERSIONS, 0, 3)]);
        if c.write_all(&answer).is_err() || c.flush().is_err() {
            return;
        }
    }
}

/// The `/skiff/<name>/tls-cert` and `/skiff/<name>/tls-key` values in
/// moto (the only deployment's), if any.
fn deployed_identity(moto_url: &str) -> Option<(String, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(moto_url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ssm::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .load()
            .await;
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        let out = ssm
            .get_parameters_by_path()
            .path("/skiff")
            .recursive(true)
            .with_decryption(true)
            .send()
            .await
            .ok()?;
        let value = |suffix: &str| {
            out.parameters()
                .iter()
                .find(|p| p.name().is_some_and(|n| n.ends_with(suffix)))
                .and_then(|p| p.value())
                .map(str::to_string)
        };
        Some((value("/tls-cert")?, value("/tls-key")?))
    })
}

fn tls_config(chain: &str, key: &str) -> Option<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain.as_bytes())
        .filter_map(Result::ok)
        .collect();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).ok()?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .ok()?;
    Some(Arc::new(config))
}

impl FakeBroker {
    /// Plaintext, or TLS with the deployment's certificate and key in
    /// `moto`'s Parameter Store.
    pub fn deployed(moto: &Moto) -> FakeBroker {
        let moto_url = Some(moto.url());
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(c) = conn else { continue };
                let moto_url: Option<String> = moto_url.clone();
                std::thread::spawn(move || handle(c, moto_url.as_deref()));
            }
        });
        FakeBroker { addr }
    }
}

fn handle(c: TcpStream, moto_url: Option<&str>) {
    let mut first = [0u8; 1];
    // 0x16: a TLS handshake record.
    let tls = matches!(c.peek(&mut first), Ok(1) if first[0] == 0x16);
    if !tls {
        return serve(c);
    }
    let Some(url) = moto_url else { return };
    let Some((chain, key)) = deployed_identity(url) else {
        return;
    };
    let Some(config) = tls_config(&chain, &key) else {
        return;
    };
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    serve(rustls::StreamOwned::new(conn, c));
}
