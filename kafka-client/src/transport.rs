//! The byte stream under a connection, and how a connection proves who it
//! is.
//!
//! [`Security`] is what the user asks for (Kafka's `security.protocol`);
//! [`Transport`] is the stream it gives: plain TCP, or TLS over it
//! (tokio-rustls with the aws-lc-rs provider, the broker's stack). TLS
//! trusts the given CA file only, or the system's roots when none is given,
//! and always checks the broker's name (host name or IP address of the
//! bootstrap address). SASL (PLAIN, SCRAM-SHA-256/512) is a step after
//! ApiVersions, in `Connection::open`'s call to [`authenticate`]:
//! SaslHandshake v1, then SaslAuthenticate v1 carrying the mechanism's
//! messages; a SCRAM server's signature is verified before the connection
//! is used. Neither needs the framing, the pipeline or the admin calls to
//! change.

use crate::api::{SaslAuthenticate, SaslHandshake};
use crate::connection::Connection;
use crate::error::{Error, KafkaError, Result};
use crate::scram;
use kafka_protocol::messages as m;
use kafka_protocol::protocol::StrBytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Largest CA file read (a bundle of every public root is ~250 KiB).
const MAX_CA_FILE_BYTES: u64 = 1 << 20;

/// Kafka's `security.protocol`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Security {
    /// No encryption, no authentication.
    #[default]
    Plaintext,
    /// TLS, no authentication.
    Ssl(Tls),
    /// SASL over plain TCP (the password crosses the network in the clear
    /// with PLAIN).
    SaslPlaintext(Sasl),
    /// SASL over TLS.
    SaslSsl(Tls, Sasl),
}

impl Security {
    /// Kafka's name of the protocol (`SASL_SSL`).
    pub fn name(&self) -> &'static str {
        match self {
            Security::Plaintext => "PLAINTEXT",
            Security::Ssl(_) => "SSL",
            Security::SaslPlaintext(_) => "SASL_PLAINTEXT",
            Security::SaslSsl(..) => "SASL_SSL",
        }
    }

    fn tls(&self) -> Option<&Tls> {
        match self {
            Security::Ssl(t) | Security::SaslSsl(t, _) => Some(t),
            _ => None,
        }
    }

    fn sasl(&self) -> Option<&Sasl> {
        match self {
            Security::SaslPlaintext(s) | Security::SaslSsl(_, s) => Some(s),
            _ => None,
        }
    }
}

/// How to trust the broker's certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// PEM file of the CA(s) to trust; `None`: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// The name to check the certificate against; `None`: the host of the
    /// address connected to.
    pub server_name: Option<String>,
}

/// A SASL mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Scram(scram::Mechanism),
}

impl Mechanism {
    /// The SASL name (`PLAIN`, `SCRAM-SHA-512`).
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(m) => m.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<Mechanism> {
        if name.eq_ignore_ascii_case("PLAIN") {
            return Some(Mechanism::Plain);
        }
        scram::Mechanism::from_name(name).map(Mechanism::Scram)
    }
}

/// Who to authenticate as. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Sasl {
    pub mechanism: Mechanism,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sasl")
            .field("mechanism", &self.mechanism)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The stream a connection reads and writes.
#[derive(Debug)]
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// The host part of `host:port` (brackets of an IPv6 address removed).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The rustls configuration `tls` asks for.
pub fn tls_config(tls: &Tls) -> std::result::Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca_file {
        Some(path) => {
            use std::io::Read;
            let shown = path.display();
            let mut pem = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(MAX_CA_FILE_BYTES + 1).read_to_end(&mut pem))
                .map_err(|e| format!("cannot read the CA file {shown}: {e}"))?;
            if pem.len() as u64 > MAX_CA_FILE_BYTES {
                return Err(format!(
                    "the CA file {shown} is larger than {MAX_CA_FILE_BYTES} bytes"
                ));
            }
            let mut n = 0;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("the CA file {shown}: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("the CA file {shown}: {e}"))?;
                n += 1;
            }
            if n == 0 {
                return Err(format!(
                    "the CA file {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(
                    "the system has no trusted root certificates; give the broker's CA file".into(),
                );
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Resolves `addr` (`host:port`) and opens the stream `security` asks for,
/// all within `timeout`.
pub async fn connect(addr: &str, security: &Security, timeout: Duration) -> Result<Transport> {
    let stream = connect_tcp(addr, timeout).await?;
    let Some(tls) = security.tls() else {
        return Ok(Transport::Plain(stream));
    };
    let tls_error = |reason: String| Error::Tls {
        addr: addr.into(),
        reason,
    };
    let config = tls_config(tls).map_err(tls_error)?;
    let name = tls.server_name.as_deref().unwrap_or_else(|| host_of(addr));
    let server_name = ServerName::try_from(name.to_string())
        .map_err(|_| tls_error(format!("'{name}' is not a valid TLS server name")))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    match tokio::time::timeout(timeout, connector.connect(server_name, stream)).await {
        Err(_) => Err(Error::Timeout {
            addr: addr.into(),
            what: "the TLS handshake",
            after: timeout,
        }),
        Ok(Err(e)) => Err(tls_error(e.to_string())),
        Ok(Ok(s)) => Ok(Transport::Tls(Box::new(s))),
    }
}

/// The TCP connection to the first of `addr`'s addresses that answers.
async fn connect_tcp(addr: &str, timeout: Duration) -> Result<TcpStream> {
    let resolve = tokio::time::timeout(timeout, tokio::net::lookup_host(addr)).await;
    let targets: Vec<_> = match resolve {
        Err(_) => {
            return Err(Error::Timeout {
                addr: addr.into(),
                what: "name resolution",
                after: timeout,
            })
        }
        Ok(Err(e)) => {
            return Err(Error::Resolve {
                addr: addr.into(),
                reason: e.to_string(),
            })
        }
        // A host name may resolve to many addresses; a few are plenty.
        Ok(Ok(it)) => it.take(8).collect(),
    };
    if targets.is_empty() {
        return Err(Error::Resolve {
            addr: addr.into(),
            reason: "no address".into(),
        });
    }
    let mut last = None;
    for target in targets {
        match tokio::time::timeout(timeout, TcpStream::connect(target)).await {
            Ok(Ok(stream)) => {
                // Requests are whole frames written at once: no Nagle delay.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = Some(e),
            Err(_) => last = Some(io::ErrorKind::TimedOut.into()),
        }
    }
    let source = last.unwrap_or_else(|| io::ErrorKind::NotConnected.into());
    if source.kind() == io::ErrorKind::TimedOut {
        return Err(Error::Timeout {
            addr: addr.into(),
            what: "the TCP connection",
            after: timeout,
        });
    }
    Err(Error::Connect {
        addr: addr.into(),
        source,
    })
}

/// The authentication step after ApiVersions: nothing for PLAINTEXT and
/// SSL; SaslHandshake and SaslAuthenticate for the SASL protocols.
pub async fn authenticate(conn: &mut Connection, security: &Security) -> Result<()> {
    let Some(sasl) = security.sasl() else {
        return Ok(());
    };
    let addr = conn.addr().to_string();
    let auth_error = |reason: String| Error::Auth {
        addr: addr.clone(),
        user: sasl.user.clone(),
        reason,
    };
    let mechanism = sasl.mechanism.name();
    let req =
        m::SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
    let answer = conn.call::<SaslHandshake>(&req).await?;
    if answer.error_code != 0 {
        let e = KafkaError::new(answer.error_code, None);
        return Err(auth_error(format!(
            "{e} (asked for {mechanism}; the broker enables {})",
            answer.mechanisms.join(", ")
        )));
    }
    match sasl.mechanism {
        Mechanism::Plain => {
            let mut msg = Vec::with_capacity(2 + sasl.user.len() + sasl.password.len());
            msg.push(0);
            msg.extend_from_slice(sasl.user.as_bytes());
            msg.push(0);
            msg.extend_from_slice(sasl.password.as_bytes());
            round(conn, msg, &auth_error).await?;
        }
        Mechanism::Scram(m) => {
            let mut client = scram::Client::new(m, &sasl.user, &sasl.password);
            let server_first = round(conn, client.first().into_bytes(), &auth_error).await?;
            let fin = client
                .final_message(&server_first)
                .map_err(|e| auth_error(e.to_string()))?;
            let server_final = round(conn, fin.into_bytes(), &auth_error).await?;
            client
                .verify(&server_final)
                .map_err(|e| auth_error(e.to_string()))?;
        }
    }
    Ok(())
}

/// One SaslAuthenticate exchange: the client's bytes, the server's.
async fn round(
    conn: &mut Connection,
    bytes: Vec<u8>,
    auth_error: &impl Fn(String) -> Error,
) -> Result<bytes::Bytes> {
    let req = m::SaslAuthenticateRequest::default().with_auth_bytes(bytes.into());
    let answer = conn.call::<SaslAuthenticate>(&req).await?;
    if answer.error_code != 0 {
        let e = KafkaError::new(answer.error_code, answer.error_message);
        return Err(auth_error(e.to_string()));
    }
    Ok(answer.auth_bytes)
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_debug() {
        assert_eq!(host_of("127.0.0.1:9092"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9092"), "::1");
        assert_eq!(host_of("broker.example.com:9093"), "broker.example.com");
        let s = Sasl {
            mechanism: Mechanism::from_name("scram-sha-512").unwrap(),
            user: "admin".into(),
            password: "hunter2".into(),
        };
        let shown = format!("{:?}", Security::SaslSsl(Tls::default(), s));
        assert!(
            !shown.contains("hunter2") && shown.contains("admin"),
            "{shown}"
        );
    }

    #[test]
    fn ca_files_are_bounded_and_must_hold_certificates() {
        let dir = std::env::temp_dir().join(format!("kc-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("empty.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let tls = |p: &std::path::Path| Tls {
            ca_file: Some(p.to_path_buf()),
            server_name: None,
        };
        let e = tls_config(&tls(&bad)).unwrap_err();
        assert!(
            e.contains("no PEM certificate") && e.contains("empty.pem"),
            "{e}"
        );
        let big = dir.join("big.pem");
        std::fs::write(&big, vec![b'a'; (MAX_CA_FILE_BYTES + 10) as usize]).unwrap();
        assert!(tls_config(&tls(&big)).unwrap_err().contains("larger than"));
        let e = tls_config(&tls(&dir.join("missing.pem"))).unwrap_err();
        assert!(e.contains("cannot read the CA file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A server that knows the user but not the credential: answers
    /// SaslHandshake, a well-formed server-first message, then a server
    /// signature it made up. The client must refuse it.
    #[tokio::test]
    async fn a_server_that_cannot_sign_is_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut step = 0;
                    loop {
                        let mut len = [0u8; 4];
                        if s.read_exact(&mut len).await.is_err() {
                            return;
                        }
                        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
                        s.read_exact(&mut body).await.unwrap();
                        let key = i16::from_be_bytes([body[0], body[1]]);
                        let mut out = body[4..8].to_vec(); // correlation id
                        match key {
                            18 => {
                                out.extend_from_slice(&[0, 0, 0, 0, 0, 3]);
                                for (k, max) in [(18i16, 3i16), (17, 1), (36, 1)] {
                                    out.extend_from_slice(&k.to_be_bytes());
                                    out.extend_from_slice(&0i16.to_be_bytes());
                                    out.extend_from_slice(&max.to_be_bytes());
                                }
                            }
                            17 => {
                                out.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 13]);
                                out.extend_from_slice(b"SCRAM-SHA-256");
                            }
                            _ => {
                                // Header: key, version, correlation, client id.
                                let id_len = i16::from_be_bytes([body[8], body[9]]) as usize;
                                let auth = &body[10 + id_len + 4..];
                                let text = std::str::from_utf8(auth).unwrap();
                                let reply = if step == 0 {
                                    let nonce = text.rsplit_once("r=").unwrap().1;
                                    format!("r={nonce}srv,s=c2FsdHNhbHQ=,i=4096")
                                } else {
                                    "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string()
                                };
                                step += 1;
                                out.extend_from_slice(&[0, 0, 0xff, 0xff]);
                                out.extend_from_slice(&(reply.len() as i32).to_be_bytes());
                                out.extend_from_slice(reply.as_bytes());
                                out.extend_from_slice(&0i64.to_be_bytes());
                            }
                        }
                        let mut frame = (out.len() as i32).to_be_bytes().to_vec();
                        frame.extend_from_slice(&out);
                        if s.write_all(&frame).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let options = |m| crate::Options {
            security: Security::SaslPlaintext(Sasl {
                mechanism: Mechanism::from_name(m).unwrap(),
                user: "u".into(),
                password: "pencil".into(),
            }),
            timeout: Duration::from_secs(2),
            ..crate::Options::default()
        };
        let e = Connection::open(&addr, &options("SCRAM-SHA-256"))
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("server's signature is wrong"), "{e}");
        assert!(matches!(e, Error::Auth { .. }), "{e}");
    }
}
