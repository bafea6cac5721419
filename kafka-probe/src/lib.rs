//! Is a Kafka broker answering? One ApiVersions v0 request and a check of
//! its answer.
//!
//! Three programs ask this question: `skiff-broker healthcheck` (container
//! health checks in an image without a shell), `skiff up`, `resize` and
//! `status` (is the deployed broker ready?), and the provisioner's tests,
//! whose fake broker gives the answer. An open port is not enough (Docker's
//! proxy accepts connections before the broker does), so the probe speaks
//! just enough Kafka: version 0 of ApiVersions, which every broker answers
//! (one that no longer serves v0 still answers with a v0 body carrying
//! UNSUPPORTED_VERSION, KIP-511), and the answer must carry the request's
//! correlation id. Both sides of that exchange live here, tested against
//! each other; no Kafka client crate is pulled in for 30 bytes of protocol.
//!
//! The I/O is blocking std: the healthcheck runs before any runtime exists,
//! and the async caller runs it on a blocking thread. The whole exchange
//! (connect, send, read) has one deadline and the answer's length is
//! bounded by [`MAX_ANSWER`], so a silent, slow or hostile peer can hold
//! neither the caller's time nor its memory.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Kafka's API key of ApiVersions.
pub const API_VERSIONS: i16 = 18;
/// Kafka's UNSUPPORTED_VERSION: still a well-formed answer from a broker.
pub const UNSUPPORTED_VERSION: i16 = 35;
/// The largest answer read. A v0 answer is 6 bytes per API a broker
/// serves (Kafka 3.9: under 600 bytes in all).
pub const MAX_ANSWER: usize = 64 * 1024;
/// The longest client id sent; callers pass short constants.
const MAX_CLIENT_ID: usize = 255;

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot resolve {addr}: {reason}")]
    Resolve { addr: String, reason: String },
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    #[error("{addr} did not answer within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("{addr}: {source}")]
    Io { addr: String, source: io::Error },
    #[error("{addr} is not a Kafka broker: {why}")]
    NotKafka { addr: String, why: Refusal },
}

/// Why an answer is not a Kafka broker's ApiVersions answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("implausible response length {0}")]
    Length(i32),
    #[error("response of {0} bytes is too short")]
    Short(usize),
    #[error("correlation id {got} does not match the request's {want}")]
    Correlation { got: i32, want: i32 },
    #[error("ApiVersions error code {0}")]
    ErrorCode(i16),
}

/// The ApiVersions v0 request, length prefix included: request header v1
/// (api key, version, correlation id, client id) and an empty body.
pub fn request(correlation_id: i32, client_id: &str) -> Vec<u8> {
    let id = &client_id.as_bytes()[..client_id.len().min(MAX_CLIENT_ID)];
    let mut frame = Vec::with_capacity(14 + id.len());
    frame.extend_from_slice(&(10 + id.len() as i32).to_be_bytes());
    frame.extend_from_slice(&API_VERSIONS.to_be_bytes());
    frame.extend_from_slice(&0i16.to_be_bytes());
    frame.extend_from_slice(&correlation_id.to_be_bytes());
    frame.extend_from_slice(&(id.len() as i16).to_be_bytes());
    frame.extend_from_slice(id);
    frame
}

/// Checks an answer's length prefix; returns the length of its body.
pub fn answer_len(prefix: [u8; 4]) -> Result<usize, Refusal> {
    let len = i32::from_be_bytes(prefix);
    match usize::try_from(len) {
        Ok(n) if (6..=MAX_ANSWER).contains(&n) => Ok(n),
        _ => Err(Refusal::Length(len)),
    }
}

/// Checks an answer's body (after the length prefix): the correlation id,
/// then an error code that a broker gives to ApiVersions v0.
pub fn check_answer(body: &[u8], correlation_id: i32) -> Result<(), Refusal> {
    let (Some(got), Some(code)) = (body.get(0..4), body.get(4..6)) else {
        return Err(Refusal::Short(body.len()));
    };
    let got = i32::from_be_bytes(got.try_into().expect("4 bytes"));
    if got != correlation_id {
        return Err(Refusal::Correlation {
            got,
            want: correlation_id,
        });
    }
    match i16::from_be_bytes(code.try_into().expect("2 bytes")) {
        0 | UNSUPPORTED_VERSION => Ok(()),
        code => Err(Refusal::ErrorCode(code)),
    }
}

/// The header of a request body (after its length prefix): api key,
/// version and correlation id; `None` if the body is shorter than that.
pub fn request_header(body: &[u8]) -> Option<(i16, i16, i32)> {
    let b = body.get(0..8)?;
    Some((
        i16::from_be_bytes([b[0], b[1]]),
        i16::from_be_bytes([b[2], b[3]]),
        i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
    ))
}

/// A broker's ApiVersions v0 answer, length prefix included, listing
/// `apis` as (api key, min version, max version).
pub fn answer(correlation_id: i32, error_code: i16, apis: &[(i16, i16, i16)]) -> Vec<u8> {
    let mut body = Vec::with_capacity(10 + 6 * apis.len());
    body.extend_from_slice(&correlation_id.to_be_bytes());
    body.extend_from_slice(&error_code.to_be_bytes());
    body.extend_from_slice(&(apis.len() as i32).to_be_bytes());
    for (key, min, max) in apis {
        body.extend_from_slice(&key.to_be_bytes());
        body.extend_from_slice(&min.to_be_bytes());
        body.extend_from_slice(&max.to_be_bytes());
    }
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

/// Sends one ApiVersions v0 request to `addr` (`host:port`, IPv6 hosts in
/// brackets) and checks the answer, all within `timeout`. The whole answer
/// is read before the connection closes: closing with unread bytes sends a
/// reset, which a broker logs as a client error.
pub fn probe(addr: &str, client_id: &str, timeout: Duration) -> Result<(), ProbeError> {
    let deadline = Instant::now() + timeout;
    let io = |source: io::Error| match source.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ProbeError::Timeout {
            addr: addr.to_string(),
            timeout,
        },
        _ => ProbeError::Io {
            addr: addr.to_string(),
            source,
        },
    };
    let not_kafka = |why| ProbeError::NotKafka {
        addr: addr.to_string(),
        why,
    };

    let target = resolve(addr)?;
    let mut stream =
        TcpStream::connect_timeout(&target, left(deadline).map_err(io)?).map_err(|source| {
            match source.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => io(source),
                _ => ProbeError::Connect {
                    addr: addr.to_string(),
                    source,
                },
            }
        })?;
    let correlation_id = fresh_correlation_id();
    stream
        .set_write_timeout(Some(left(deadline).map_err(io)?))
        .map_err(io)?;
    stream
        .write_all(&request(correlation_id, client_id))
        .map_err(io)?;
    let mut prefix = [0u8; 4];
    read_exact_by(&mut stream, &mut prefix, deadline).map_err(io)?;
    let mut body = vec![0u8; answer_len(prefix).map_err(not_kafka)?];
    read_exact_by(&mut stream, &mut body, deadline).map_err(io)?;
    check_answer(&body, correlation_id).map_err(not_kafka)
}

/// The first address `addr` resolves to.
fn resolve(addr: &str) -> Result<SocketAddr, ProbeError> {
    let fail = |reason: String| ProbeError::Resolve {
        addr: addr.to_string(),
        reason,
    };
    addr.to_socket_addrs()
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("no address".into()))
}

/// The time left before `deadline`, or a timeout error if none is.
fn left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    Ok(left)
}

/// `read_exact` that gives up at `deadline`, however slowly bytes arrive.
fn read_exact_by(stream: &mut TcpStream, mut buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    while !buf.is_empty() {
        stream.set_read_timeout(Some(left(deadline)?))?;
        match stream.read(buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf = &mut buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A correlation id that differs between runs, so a stale answer cannot pass.
fn fresh_correlation_id() -> i32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(7);
    (nanos & 0x7fff_ffff) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-connection server on 127.0.0.1 that runs `serve`.
    fn server(serve: impl FnOnce(TcpStream) + Send + 'static) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            if let Ok((c, _)) = l.accept() {
                serve(c);
            }
        });
        addr
    }

    /// Reads one request and returns its body.
    fn read_request(c: &mut TcpStream) -> Vec<u8> {
        let mut len = [0u8; 4];
        c.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        c.read_exact(&mut body).unwrap();
        body
    }

    #[test]
    fn request_layout() {
        let f = request(7, "skiff-probe");
        assert_eq!(&f[0..4], &(f.len() as i32 - 4).to_be_bytes());
        assert_eq!(&f[4..6], &18i16.to_be_bytes());
        assert_eq!(&f[6..8], &0i16.to_be_bytes());
        assert_eq!(&f[8..12], &7i32.to_be_bytes());
        assert_eq!(&f[12..14], &11i16.to_be_bytes());
        assert_eq!(&f[14..], b"skiff-probe");
        assert_eq!(request_header(&f[4..]), Some((18, 0, 7)));
        assert_eq!(request_header(&f[4..10]), None);
        let long = request(1, &"x".repeat(1000));
        assert_eq!(long.len(), 14 + MAX_CLIENT_ID);
    }

    #[test]
    fn answer_checks() {
        let ok = answer(7, 0, &[(18, 0, 3)]);
        let len = answer_len(ok[0..4].try_into().unwrap()).unwrap();
        assert_eq!(len, ok.len() - 4);
        assert!(check_answer(&ok[4..], 7).is_ok());
        assert_eq!(
            check_answer(&ok[4..], 8),
            Err(Refusal::Correlation { got: 7, want: 8 })
        );
        assert!(check_answer(&answer(7, UNSUPPORTED_VERSION, &[])[4..], 7).is_ok());
        assert_eq!(
            check_answer(&answer(7, 1, &[])[4..], 7),
            Err(Refusal::ErrorCode(1))
        );
        assert_eq!(check_answer(&[0, 0], 7), Err(Refusal::Short(2)));
        for bad in [-1i32, 0, 5, MAX_ANSWER as i32 + 1, i32::MAX] {
            assert_eq!(answer_len(bad.to_be_bytes()), Err(Refusal::Length(bad)));
        }
    }

    #[test]
    fn a_broker_that_answers_passes() {
        let addr = server(|mut c| {
            let body = read_request(&mut c);
            let (key, version, correlation) = request_header(&body).unwrap();
            assert_eq!((key, version), (API_VERSIONS, 0));
            c.write_all(&answer(correlation, 0, &[(18, 0, 3)])).unwrap();
        });
        probe(&addr, "test", Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn a_foreign_correlation_id_is_not_kafka() {
        let addr = server(|mut c| {
            let body = read_request(&mut c);
            let (_, _, correlation) = request_header(&body).unwrap();
            let _ = c.write_all(&answer(correlation.wrapping_add(1), 0, &[]));
        });
        let e = probe(&addr, "test", Duration::from_secs(5)).unwrap_err();
        assert!(
            matches!(
                e,
                ProbeError::NotKafka {
                    why: Refusal::Correlation { .. },
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_huge_length_is_refused_before_reading_it() {
        let addr = server(|mut c| {
            read_request(&mut c);
            let _ = c.write_all(&i32::MAX.to_be_bytes());
            std::thread::sleep(Duration::from_secs(1));
        });
        let e = probe(&addr, "test", Duration::from_secs(5)).unwrap_err();
        assert!(e.to_string().contains("implausible response length"), "{e}");
    }

    #[test]
    fn a_silent_or_dripping_peer_times_out_at_the_deadline() {
        // Accepts and never answers.
        let addr = server(|c| {
            std::thread::sleep(Duration::from_secs(3));
            drop(c);
        });
        let start = Instant::now();
        let e = probe(&addr, "test", Duration::from_millis(500)).unwrap_err();
        assert!(matches!(e, ProbeError::Timeout { .. }), "{e}");
        assert!(start.elapsed() < Duration::from_secs(2));

        // Sends one byte of the answer every 200 ms: each read is quick,
        // the whole is not.
        let addr = server(|mut c| {
            let body = read_request(&mut c);
            let (_, _, correlation) = request_header(&body).unwrap();
            for b in answer(correlation, 0, &[(18, 0, 3)]) {
                if c.write_all(&[b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let start = Instant::now();
        let e = probe(&addr, "test", Duration::from_millis(700)).unwrap_err();
        assert!(matches!(e, ProbeError::Timeout { .. }), "{e}");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_closed_port_or_a_closing_peer_fails() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let e = probe(&addr, "test", Duration::from_secs(2)).unwrap_err();
        assert!(matches!(e, ProbeError::Connect { .. }), "{e}");

        let addr = server(drop);
        let e = probe(&addr, "test", Duration::from_secs(2)).unwrap_err();
        assert!(matches!(e, ProbeError::Io { .. }), "{e}");

        let e = probe("no-port", "test", Duration::from_secs(2)).unwrap_err();
        assert!(matches!(e, ProbeError::Resolve { .. }), "{e}");
    }
}
