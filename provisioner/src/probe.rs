//! Is the broker up? One Kafka ApiVersions v0 request over TCP, and a wait
//! loop around it.
//!
//! An open port is not enough (Docker's proxy accepts connections before the
//! broker does), so the probe speaks just enough Kafka: the request is
//! hand-encoded (it is 16 bytes plus the client id) and the response must
//! carry our correlation id and an error code that means "I am a Kafka
//! broker". No Kafka client crate is pulled in for this.

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const API_VERSIONS: i16 = 18;
const CLIENT_ID: &str = "skiff-probe";
/// Kafka's UNSUPPORTED_VERSION: still a well-formed answer from a broker.
const UNSUPPORTED_VERSION: i16 = 35;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr} did not answer within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("{addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr} is not a Kafka broker: {why}")]
    NotKafka { addr: String, why: String },
}

/// Encodes an ApiVersions v0 request with the length prefix.
pub fn encode_api_versions_v0(correlation_id: i32) -> Vec<u8> {
    let mut body = Vec::with_capacity(32);
    body.extend_from_slice(&API_VERSIONS.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&correlation_id.to_be_bytes());
    body.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
    body.extend_from_slice(CLIENT_ID.as_bytes());
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

/// Checks a response body (after the length prefix): correlation id, then
/// the ApiVersions error code.
pub fn check_response(body: &[u8], correlation_id: i32) -> Result<(), String> {
    if body.len() < 6 {
        return Err(format!("response of {} bytes is too short", body.len()));
    }
    let got = i32::from_be_bytes(body[0..4].try_into().unwrap());
    if got != correlation_id {
        return Err(format!(
            "correlation id {got} does not match the request's {correlation_id}"
        ));
    }
    let code = i16::from_be_bytes(body[4..6].try_into().unwrap());
    if code != 0 && code != UNSUPPORTED_VERSION {
        return Err(format!("ApiVersions error code {code}"));
    }
    Ok(())
}

/// Sends one ApiVersions request to `addr` and checks the answer.
pub async fn api_versions(addr: &str, timeout: Duration) -> Result<(), ProbeError> {
    let work = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ProbeError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        let io = |source| ProbeError::Io {
            addr: addr.to_string(),
            source,
        };
        let correlation_id = fresh_correlation_id();
        stream
            .write_all(&encode_api_versions_v0(correlation_id))
            .await
            .map_err(io)?;
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).await.map_err(io)?;
        let len = i32::from_be_bytes(len);
        if !(6..=1 << 20).contains(&len) {
            return Err(ProbeError::NotKafka {
                addr: addr.to_string(),
                why: format!("implausible response length {len}"),
            });
        }
        let mut body = vec![0u8; len as usize];
        stream.read_exact(&mut body).await.map_err(io)?;
        check_response(&body, correlation_id).map_err(|why| ProbeError::NotKafka {
            addr: addr.to_string(),
            why,
        })
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(ProbeError::Timeout {
            addr: addr.to_string(),
            timeout,
        }),
    }
}

/// A correlation id that differs between runs, so a stale answer cannot pass.
fn fresh_correlation_id() -> i32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(7);
    (nanos & 0x7fff_ffff) as i32
}

/// Probes `addr` every few seconds until it answers or `timeout` passes.
/// `on_attempt` sees each failure (for the spinner).
pub async fn wait_until_ready(
    addr: &str,
    timeout: Duration,
    mut on_attempt: impl FnMut(&ProbeError),
) -> Result<Duration, ProbeError> {
    let start = Instant::now();
    let per_try = Duration::from_secs(5);
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        match api_versions(addr, per_try.min(left.max(Duration::from_millis(100)))).await {
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

    #[test]
    fn request_layout() {
        let f = encode_api_versions_v0(7);
        assert_eq!(&f[0..4], &(f.len() as i32 - 4).to_be_bytes());
        assert_eq!(&f[4..6], &18i16.to_be_bytes());
        assert_eq!(&f[6..8], &0i16.to_be_bytes());
        assert_eq!(&f[8..12], &7i32.to_be_bytes());
        assert_eq!(&f[12..14], &11i16.to_be_bytes());
        assert_eq!(&f[14..], b"skiff-probe");
    }

    #[test]
    fn response_checks() {
        let ok = [0, 0, 0, 7, 0, 0, 0, 0, 0, 0];
        assert!(check_response(&ok, 7).is_ok());
        assert!(check_response(&ok, 8).unwrap_err().contains("correlation"));
        assert!(check_response(&[0, 0, 0, 7, 0, 35], 7).is_ok());
        assert!(check_response(&[0, 0, 0, 7, 0, 1], 7).is_err());
        assert!(check_response(&[0, 0], 7).is_err());
    }

    #[tokio::test]
    async fn nothing_listening_times_out() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let t = Duration::from_millis(1500);
        let mut attempts = 0;
        let e = wait_until_ready(&addr, t, |_| attempts += 1)
            .await
            .unwrap_err();
        assert!(matches!(e, ProbeError::Timeout { .. }), "{e}");
        assert!(attempts >= 1);
    }
}
