//! The byte stream under a connection, and how a connection proves who it
//! is.
//!
//! [`Security`] is what the user asks for; [`Transport`] is the stream it
//! gives (plain TCP today). TLS is a second `Transport` variant wrapping
//! the TCP stream (tokio-rustls; rustls is already linked by the AWS SDK),
//! made in [`connect`]. SASL (PLAIN, SCRAM-SHA-256/512) is a step after
//! ApiVersions, in `Connection::open`'s call to [`authenticate`]: it runs
//! SaslHandshake/SaslAuthenticate on the open connection before any other
//! request. Neither needs the framing, the pipeline or the admin calls to
//! change.

use crate::connection::Connection;
use crate::error::{Error, Result};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Kafka's `security.protocol`, as far as this client implements it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Security {
    /// No encryption, no authentication.
    #[default]
    Plaintext,
}

impl Security {
    /// Kafka's name of the protocol (`PLAINTEXT`).
    pub fn name(&self) -> &'static str {
        match self {
            Security::Plaintext => "PLAINTEXT",
        }
    }
}

/// The stream a connection reads and writes.
#[derive(Debug)]
pub enum Transport {
    Plain(TcpStream),
}

/// Resolves `addr` (`host:port`) and opens the stream `security` asks for,
/// all within `timeout`.
pub async fn connect(addr: &str, _security: &Security, timeout: Duration) -> Result<Transport> {
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
                return Ok(Transport::Plain(stream));
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

/// The authentication step after ApiVersions. Nothing to do for
/// PLAINTEXT; SASL mechanisms go here.
pub async fn authenticate(_conn: &mut Connection, security: &Security) -> Result<()> {
    match security {
        Security::Plaintext => Ok(()),
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
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
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
