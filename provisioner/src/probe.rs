//! Is the deployed broker up? The `kafka-probe` crate's ApiVersions round
//! trip (shared with `skiff-broker healthcheck` and the tests' fake
//! broker), run on a blocking thread, and a wait loop around it for `up`
//! and `resize`.
//!
//! A `sasl_ssl` deployment is probed over TLS ([`Tls`]): the same
//! ApiVersions v0 exchange (a broker answers it before authentication,
//! KIP-511/KIP-43) inside a rustls session that trusts only the
//! deployment's CA file and verifies the certificate for the Elastic IP,
//! as a client does. So "ready" also means the broker fetched its key and
//! serves the certificate clients will check. The exchange has one
//! deadline and the answer is bounded by `kafka_probe::MAX_ANSWER`.

use crate::config::{Config, Security};
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use kafka_probe::ProbeError;

const CLIENT_ID: &str = "skiff-probe";

/// How to reach a `sasl_ssl` broker: the trusted CA and the name its
/// certificate must carry.
#[derive(Clone)]
pub struct Tls {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
}

impl Tls {
    /// Trusts `ca_pem` and expects `server_name` (the Elastic IP).
    pub fn new(ca_pem: &str, server_name: &str) -> anyhow::Result<Tls> {
        let server_name = ServerName::try_from(server_name.to_string())
            .map_err(|e| anyhow::anyhow!("`{server_name}` is not a TLS server name: {e}"))?;
        Ok(Tls {
            config: crate::tls::client_config(ca_pem)?,
            server_name,
        })
    }

    /// The TLS settings of `config`'s deployment at `public_ip`: None for
    /// `security: plaintext`; an error when the CA file is missing.
    pub fn for_deployment(config: &Config, public_ip: &str) -> anyhow::Result<Option<Tls>> {
        if config.security == Security::Plaintext {
            return Ok(None);
        }
        let dir = crate::secrets::Dir::for_deployment(&config.name)?;
        match dir.read_ca()? {
            Some(ca) => Ok(Some(Tls::new(&ca, public_ip)?)),
            None => anyhow::bail!(
                "no CA file {} to check the broker's certificate with (made by `skiff up` on this machine)",
                dir.ca_path().display()
            ),
        }
    }
}

fn io_error(addr: &str, e: std::io::Error) -> ProbeError {
    ProbeError::Io {
        addr: addr.to_string(),
        source: e,
    }
}

/// The ApiVersions exchange over TLS, within `timeout`.
async fn api_versions_tls(addr: &str, tls: &Tls, timeout: Duration) -> Result<(), ProbeError> {
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| ProbeError::Connect {
                addr: addr.to_string(),
                source: e,
            })?;
        let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
        let mut s = connector
            .connect(tls.server_name.clone(), tcp)
            .await
            .map_err(|e| io_error(addr, e))?;
        let correlation = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos() as i32 & 0x3fff_ffff);
        s.write_all(&kafka_probe::request(correlation, CLIENT_ID))
            .await
            .map_err(|e| io_error(addr, e))?;
        s.flush().await.map_err(|e| io_error(addr, e))?;
        let mut prefix = [0u8; 4];
        s.read_exact(&mut prefix)
            .await
            .map_err(|e| io_error(addr, e))?;
        let len = kafka_probe::answer_len(prefix).map_err(|why| ProbeError::NotKafka {
            addr: addr.to_string(),
            why,
        })?;
        let mut body = vec![0u8; len];
        s.read_exact(&mut body)
            .await
            .map_err(|e| io_error(addr, e))?;
        kafka_probe::check_answer(&body, correlation).map_err(|why| ProbeError::NotKafka {
            addr: addr.to_string(),
            why,
        })
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(ProbeError::Timeout {
            addr: addr.to_string(),
            timeout,
        }),
    }
}

/// Sends one ApiVersions request to `addr` (over TLS with `tls`) and
/// checks the answer.
pub async fn api_versions(
    addr: &str,
    tls: Option<&Tls>,
    timeout: Duration,
) -> Result<(), ProbeError> {
    if let Some(tls) = tls {
        return api_versions_tls(addr, tls, timeout).await;
    }
    let target = addr.to_string();
    tokio::task::spawn_blocking(move || kafka_probe::probe(&target, CLIENT_ID, timeout))
        .await
        .unwrap_or_else(|e| {
            Err(ProbeError::Io {
                addr: addr.to_string(),
                source: std::io::Error::other(e),
            })
        })
}

/// Probes `addr` every few seconds until it answers or `timeout` passes.
/// `on_attempt` sees each failure (for the spinner).
pub async fn wait_until_ready(
    addr: &str,
    tls: Option<&Tls>,
    timeout: Duration,
    mut on_attempt: impl FnMut(&ProbeError),
) -> Result<Duration, ProbeError> {
    let start = Instant::now();
    let per_try = Duration::from_secs(5);
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        match api_versions(addr, tls, per_try.min(left.max(Duration::from_millis(100)))).await {
            Ok(()) => return Ok(start.elapsed()),
            Err(e) => {
                on_attempt(&e);
                if start.elapsed() + Duration::from_millis(500) >= timeout {
                    return Err(ProbeError::Timeout {
                        addr: addr.to_string(),
                        timeout,
                    });
                }
                let left = timeout.saturating_sub(start.elapsed());
                tokio::time::sleep(Duration::from_secs(2).min(left)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_listening_times_out() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let t = Duration::from_millis(1500);
        let mut attempts = 0;
        let e = wait_until_ready(&addr, None, t, |_| attempts += 1)
            .await
            .unwrap_err();
        assert!(matches!(e, ProbeError::Timeout { .. }), "{e}");
        assert!(attempts >= 1);
    }
}
