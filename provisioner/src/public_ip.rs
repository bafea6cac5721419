//! Finds the caller's public IPv4 address, which the security group allows
//! as a /32 when no `--allow` is given.
//!
//! One plain HTTP GET to checkip.amazonaws.com (AWS's own echo service)
//! with a hand-written HTTP/1.0 request: a whole HTTP client crate for one
//! line of text is not worth its build time. The URL is a test hook
//! (`SKIFF_CHECKIP_URL`, see `crate::hooks`: tests point it at a local
//! server; nothing in the test suite may reach the internet). The answer
//! only widens who may connect, and it is printed, so the user sees what
//! was allowed.

use std::net::Ipv4Addr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const DEFAULT_URL: &str = "http://checkip.amazonaws.com/";

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot detect your public IP address from {url}: {why}; pass `--allow <your-ip>/32` instead"
)]
pub struct DetectError {
    pub url: String,
    pub why: String,
}

/// Splits `http://host[:port]/path` into (host:port, host, path).
fn parse_http_url(url: &str) -> Result<(String, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| "only http:// URLs are supported".to_string())?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err("URL has no host".into());
    }
    let host = authority.split(':').next().unwrap_or(authority).to_string();
    let addr = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((addr, host, path.to_string()))
}

/// Parses an HTTP response whose body is the address.
fn parse_response(raw: &str) -> Result<Ipv4Addr, String> {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| "malformed HTTP response".to_string())?;
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("HTTP status `{status}`"));
    }
    body.trim()
        .parse()
        .map_err(|_| format!("answer `{}` is not an IPv4 address", body.trim()))
}

/// Asks the echo service at `url` for our address.
pub async fn detect(url: &str) -> Result<Ipv4Addr, DetectError> {
    let fail = |why: String| DetectError {
        url: url.to_string(),
        why,
    };
    let (addr, host, path) = parse_http_url(url).map_err(fail)?;
    let work = async {
        let mut s = TcpStream::connect(&addr).await.map_err(|e| e.to_string())?;
        let req = format!(
            "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: skiff\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.take(64 * 1024)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        parse_response(&String::from_utf8_lossy(&buf))
    };
    match tokio::time::timeout(Duration::from_secs(10), work).await {
        Ok(r) => r.map_err(fail),
        Err(_) => Err(fail("no answer within 10 s".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_http_url("http://checkip.amazonaws.com/").unwrap(),
            (
                "checkip.amazonaws.com:80".into(),
                "checkip.amazonaws.com".into(),
                "/".into()
            )
        );
        assert_eq!(
            parse_http_url("http://127.0.0.1:8080").unwrap().0,
            "127.0.0.1:8080"
        );
        assert!(parse_http_url("https://x/").is_err());
    }

    #[test]
    fn responses() {
        assert_eq!(
            parse_response("HTTP/1.1 200 OK\r\nA: b\r\n\r\n198.51.100.4\n").unwrap(),
            Ipv4Addr::new(198, 51, 100, 4)
        );
        assert!(parse_response("HTTP/1.1 500 Oops\r\n\r\n1.2.3.4").is_err());
        assert!(parse_response("HTTP/1.1 200 OK\r\n\r\n<html>").is_err());
    }
}
