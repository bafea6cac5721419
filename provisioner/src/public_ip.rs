//! Finds the caller's public IPv4 address, which the security group allows
//! as a /32 when no `--allow` is given.
//!
//! One GET to https://checkip.amazonaws.com/ (AWS's own echo service) over
//! TLS, with the rustls stack and the system's root certificates the AWS
//! SDK already builds, and a hand-written HTTP/1.0 request: a whole HTTP
//! client crate for one line of text is not worth its build time. HTTPS
//! because over plain HTTP anyone on the path could choose which /32 is
//! opened. `HTTPS_PROXY` (or `https_proxy`, an `http://host:port` proxy;
//! `NO_PROXY` is honoured) is used through a CONNECT tunnel, as the AWS
//! SDK does. Plain `http://` is accepted only for a loopback address: the
//! URL is a test hook (`SKIFF_CHECKIP_URL`, see `crate::hooks`), and tests
//! point it at a local server. The answer only widens who may connect, and
//! it is printed, so the user sees what was allowed. The service answers
//! over IPv4 only: an IPv6-only caller gets an error telling it to pass
//! `--allow` (see the README).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub const DEFAULT_URL: &str = "https://checkip.amazonaws.com/";

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot detect your public IP address from {url}: {why}; pass `--allow <your-ip>/32` instead"
)]
pub struct DetectError {
    pub url: String,
    pub why: String,
}

/// What was detected, and how (for the message that names it).
#[derive(Debug, Clone, PartialEq)]
pub struct Detected {
    pub ip: Ipv4Addr,
    pub url: String,
    /// The proxy used, without credentials.
    pub proxy: Option<String>,
}

/// A parsed URL: TLS or not, host, port, path.
#[derive(Debug, PartialEq)]
struct Url {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<Url, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err("only https:// URLs are supported".into());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("bad port `{p}` in the URL"))?,
        ),
        None => (authority, if tls { 443 } else { 80 }),
    };
    if host.is_empty() {
        return Err("URL has no host".into());
    }
    if !tls && !is_loopback(host) {
        return Err(
            "plain http:// is accepted only for a loopback address (anyone on the path could \
             choose the answer); use https://"
                .into(),
        );
    }
    Ok(Url {
        tls,
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

/// The proxy for `host` from `HTTPS_PROXY`/`https_proxy` unless `NO_PROXY`
/// names it: (host:port, shown form).
fn proxy_for(host: &str, get: impl Fn(&str) -> Option<String>) -> Result<Option<String>, String> {
    let Some(p) = get("HTTPS_PROXY")
        .or_else(|| get("https_proxy"))
        .filter(|p| !p.is_empty())
    else {
        return Ok(None);
    };
    let no_proxy = get("NO_PROXY")
        .or_else(|| get("no_proxy"))
        .unwrap_or_default();
    for n in no_proxy.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let n = n.trim_start_matches('.');
        if n == "*" || host == n || host.ends_with(&format!(".{n}")) {
            return Ok(None);
        }
    }
    let rest = p.strip_prefix("http://").unwrap_or(&p);
    if rest.contains("://") {
        return Err(format!(
            "HTTPS_PROXY `{}` is not an http://host:port proxy",
            shown_proxy(&p)
        ));
    }
    let authority = rest.split('/').next().unwrap_or(rest);
    if authority.contains('@') {
        return Err("HTTPS_PROXY with credentials is not supported".into());
    }
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok(Some(authority))
}

/// A proxy URL without credentials, for messages.
fn shown_proxy(p: &str) -> String {
    match p.rsplit_once('@') {
        Some((_, host)) => format!("<credentials>@{host}"),
        None => p.to_string(),
    }
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
    let body = body.trim();
    if body.parse::<std::net::Ipv6Addr>().is_ok() {
        return Err(format!(
            "the answer `{body}` is an IPv6 address; the broker port is opened to IPv4 only"
        ));
    }
    body.parse().map_err(|_| {
        format!(
            "answer `{}` is not an IPv4 address",
            body.chars().take(60).collect::<String>()
        )
    })
}

/// Opens a tunnel through an HTTP proxy to `host:port` (CONNECT).
async fn tunnel(proxy: &str, host: &str, port: u16) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(proxy)
        .await
        .map_err(|e| format!("proxy {proxy}: {e}"))?;
    s.write_all(
        format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").as_bytes(),
    )
    .await
    .map_err(|e| e.to_string())?;
    // Read the proxy's answer up to the blank line, byte by byte (the
    // tunnel's data follows it).
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 || s.read(&mut b).await.map_err(|e| e.to_string())? == 0 {
            return Err(format!("proxy {proxy} closed the tunnel request"));
        }
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("proxy {proxy} refused CONNECT: `{status}`"));
    }
    Ok(s)
}

async fn get<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, u: &Url) -> Result<Ipv4Addr, String> {
    let req = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: skiff\r\nConnection: close\r\n\r\n",
        u.path, u.host
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    // A TLS peer may close without close_notify after the body: what was
    // read is still the whole HTTP/1.0 answer.
    let _ = (&mut s).take(64 * 1024).read_to_end(&mut buf).await;
    parse_response(&String::from_utf8_lossy(&buf))
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for c in found.certs {
        let _ = roots.add(c);
    }
    if roots.is_empty() {
        return Err("no trusted root certificates found on this system".into());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn fetch(u: &Url, proxy: Option<&str>) -> Result<Ipv4Addr, String> {
    let tcp = match proxy {
        Some(p) => tunnel(p, &u.host, u.port).await?,
        None => TcpStream::connect((u.host.as_str(), u.port))
            .await
            .map_err(|e| e.to_string())?,
    };
    if !u.tls {
        return get(tcp, u).await;
    }
    let name = rustls::pki_types::ServerName::try_from(u.host.clone())
        .map_err(|e| format!("bad host name: {e}"))?;
    let tls = tokio_rustls::TlsConnector::from(tls_config()?)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    get(tls, u).await
}

/// Asks the echo service at `url` for our address (through the
/// environment's HTTPS proxy, if any, for https:// URLs).
pub async fn detect(url: &str) -> Result<Detected, DetectError> {
    let fail = |why: String| DetectError {
        url: url.to_string(),
        why,
    };
    let u = parse_url(url).map_err(fail)?;
    let proxy = if u.tls {
        proxy_for(&u.host, |k| std::env::var(k).ok()).map_err(fail)?
    } else {
        None
    };
    let work = fetch(&u, proxy.as_deref());
    match tokio::time::timeout(Duration::from_secs(10), work).await {
        Ok(Ok(ip)) => Ok(Detected {
            ip,
            url: url.to_string(),
            proxy,
        }),
        Ok(Err(why)) => Err(fail(why)),
        Err(_) => Err(fail("no answer within 10 s".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("https://checkip.amazonaws.com/").unwrap(),
            Url {
                tls: true,
                host: "checkip.amazonaws.com".into(),
                port: 443,
                path: "/".into()
            }
        );
        let u = parse_url("http://127.0.0.1:8080").unwrap();
        assert_eq!((u.tls, u.port, u.path.as_str()), (false, 8080, "/"));
        // Plain HTTP to anything but loopback: refused.
        assert!(parse_url("http://checkip.amazonaws.com/")
            .unwrap_err()
            .contains("loopback"));
        assert!(parse_url("ftp://x/").is_err());
        assert!(parse_url("https://x:99999/").is_err());
    }

    #[test]
    fn responses() {
        assert_eq!(
            parse_response("HTTP/1.1 200 OK\r\nA: b\r\n\r\n198.51.100.4\n").unwrap(),
            Ipv4Addr::new(198, 51, 100, 4)
        );
        assert!(parse_response("HTTP/1.1 500 Oops\r\n\r\n1.2.3.4").is_err());
        assert!(parse_response("HTTP/1.1 200 OK\r\n\r\n<html>").is_err());
        assert!(parse_response("HTTP/1.1 200 OK\r\n\r\n2001:db8::1\n")
            .unwrap_err()
            .contains("IPv6"));
    }

    #[test]
    fn proxies() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(proxy_for("checkip.amazonaws.com", env(&[])), Ok(None));
        assert_eq!(
            proxy_for(
                "checkip.amazonaws.com",
                env(&[("HTTPS_PROXY", "http://proxy.corp:3128")])
            ),
            Ok(Some("proxy.corp:3128".into()))
        );
        assert_eq!(
            proxy_for("checkip.amazonaws.com", env(&[("https_proxy", "proxy")])),
            Ok(Some("proxy:80".into()))
        );
        assert_eq!(
            proxy_for(
                "checkip.amazonaws.com",
                env(&[
                    ("HTTPS_PROXY", "http://p:1"),
                    ("NO_PROXY", "x, .amazonaws.com")
                ])
            ),
            Ok(None)
        );
        assert!(proxy_for("h", env(&[("HTTPS_PROXY", "socks5://p:1")])).is_err());
        let e = proxy_for("h", env(&[("HTTPS_PROXY", "http://u:secret@p:1")])).unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }

    /// A CONNECT proxy on 127.0.0.1 that tunnels to a local echo service:
    /// the tunnel code is what the HTTPS path through a proxy runs.
    #[tokio::test]
    async fn through_a_connect_proxy() {
        use tokio::net::TcpListener;
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_port = echo.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut c, _) = echo.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf).await;
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\n\r\n192.0.2.77\n").await;
        });
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_addr = proxy.local_addr().unwrap().to_string();
        let seen = Arc::new(std::sync::Mutex::new(String::new()));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            let (mut c, _) = proxy.accept().await.unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                c.read_exact(&mut b).await.unwrap();
                head.push(b[0]);
            }
            *seen2.lock().unwrap() = String::from_utf8_lossy(&head).into_owned();
            let mut up = TcpStream::connect(("127.0.0.1", echo_port)).await.unwrap();
            c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .unwrap();
            let _ = tokio::io::copy_bidirectional(&mut c, &mut up).await;
        });
        let u = parse_url(&format!("http://127.0.0.1:{echo_port}/")).unwrap();
        let ip = fetch(&u, Some(&proxy_addr)).await.unwrap();
        assert_eq!(ip, Ipv4Addr::new(192, 0, 2, 77));
        assert!(seen
            .lock()
            .unwrap()
            .starts_with(&format!("CONNECT 127.0.0.1:{echo_port} HTTP/1.1\r\n")));
    }
}
