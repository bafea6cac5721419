//! `skiff-broker healthcheck`: a real Kafka round trip (ApiVersions v0) to the
//! broker, for container health checks in images that have no shell.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Sends ApiVersions v0 to `host:port` and checks the answer. Returns a
/// message saying what failed.
pub fn check(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout)).ok();
    s.set_write_timeout(Some(timeout)).ok();
    const CORRELATION: i32 = 0x5_c1ff;
    let client_id = b"skiff-healthcheck";
    let mut req = Vec::with_capacity(32);
    let body_len = 2 + 2 + 4 + 2 + client_id.len();
    req.extend_from_slice(&(body_len as i32).to_be_bytes());
    req.extend_from_slice(&18i16.to_be_bytes());
    req.extend_from_slice(&0i16.to_be_bytes());
    req.extend_from_slice(&CORRELATION.to_be_bytes());
    req.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    req.extend_from_slice(client_id);
    s.write_all(&req)
        .map_err(|e| format!("sending to {addr}: {e}"))?;
    let mut head = [0u8; 10];
    s.read_exact(&mut head)
        .map_err(|e| format!("no ApiVersions answer from {addr}: {e}"))?;
    let correlation = i32::from_be_bytes(head[4..8].try_into().unwrap());
    let error = i16::from_be_bytes(head[8..10].try_into().unwrap());
    if correlation != CORRELATION {
        return Err(format!("{addr} answered with a foreign correlation id"));
    }
    if error != 0 {
        return Err(format!(
            "{addr} answered ApiVersions with error code {error}"
        ));
    }
    // Read the rest of the answer before closing: closing a socket with
    // unread bytes sends a reset, which the broker would log as a warning
    // at every health check.
    let size = i32::from_be_bytes(head[0..4].try_into().unwrap());
    let rest = usize::try_from(size).unwrap_or(0).saturating_sub(6);
    if rest > 1 << 16 {
        return Err(format!("{addr} answered ApiVersions with {size} bytes"));
    }
    let mut body = vec![0u8; rest];
    s.read_exact(&mut body)
        .map_err(|e| format!("truncated ApiVersions answer from {addr}: {e}"))?;
    Ok(())
}
