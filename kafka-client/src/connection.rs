//! One connection to a broker: framing (a 4-byte length, then the frame),
//! request headers and correlation ids, the ApiVersions exchange that opens
//! it (and the authentication step after it), and the check that the broker
//! serves each request's version before it is sent.
//!
//! A [`Connection`] makes one call at a time ([`Connection::call`]). For
//! load, [`Connection::split`] gives a [`RequestWriter`] and a
//! [`ResponseReader`] that two tasks drive, so several requests are in
//! flight; Kafka answers a connection's requests in order, and each
//! response must carry the correlation id of the oldest unanswered request
//! (its [`Ticket`]).
//!
//! Bounds: a response frame larger than `Options::max_response_bytes` is
//! refused from its length prefix, and the buffer grows only as bytes
//! arrive (a peer that claims 64 MiB and sends 10 bytes costs 10 bytes);
//! every read and write has the `Options::timeout` deadline.

use crate::api::{Api, ApiVersions};
use crate::decode::Reader;
use crate::error::{Error, Result};
use crate::transport::{self, Security, Transport};
use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::RequestHeader;
use kafka_protocol::protocol::{Encodable, StrBytes};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

/// The most a response frame may hold unless the caller says otherwise:
/// enough for any admin answer and a fetch of several MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 << 20;
/// Largest read into the frame buffer at once.
const READ_CHUNK: usize = 1 << 20;

/// How to connect.
#[derive(Debug, Clone)]
pub struct Options {
    pub security: Security,
    /// The client id sent in every request header (at most 255 bytes).
    pub client_id: String,
    /// Deadline of name resolution and of the TCP connection.
    pub connect_timeout: Duration,
    /// Deadline of each request's write and of each response.
    pub timeout: Duration,
    /// The largest response frame accepted.
    pub max_response_bytes: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            security: Security::Plaintext,
            client_id: "skiff".into(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// The API versions a broker serves, from its ApiVersions answer.
#[derive(Debug, Clone, Default)]
pub struct Versions(Vec<(i16, i16, i16)>);

impl Versions {
    pub fn new(apis: Vec<(i16, i16, i16)>) -> Versions {
        Versions(apis)
    }

    /// The (min, max) versions of `api_key`, if served.
    pub fn range(&self, api_key: i16) -> Option<(i16, i16)> {
        self.0
            .iter()
            .find(|(k, _, _)| *k == api_key)
            .map(|(_, min, max)| (*min, *max))
    }
}

/// A request sent and not yet answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub correlation_id: i32,
    pub api_key: i16,
}

/// The sending half.
pub struct RequestWriter {
    addr: Arc<str>,
    w: WriteHalf<Transport>,
    next_correlation: i32,
    client_id: StrBytes,
    /// `None` until ApiVersions has answered (only ApiVersions is sent
    /// before).
    versions: Option<Arc<Versions>>,
    timeout: Duration,
    buf: BytesMut,
}

/// The receiving half.
pub struct ResponseReader {
    addr: Arc<str>,
    r: ReadHalf<Transport>,
    buf: BytesMut,
    max_frame: usize,
    timeout: Duration,
}

/// A connection that has exchanged ApiVersions (and authenticated).
pub struct Connection {
    writer: RequestWriter,
    reader: ResponseReader,
}

impl Connection {
    /// Connects to `addr` (`host:port`), asks which versions it serves and
    /// authenticates as `options.security` says.
    pub async fn open(addr: &str, options: &Options) -> Result<Connection> {
        let stream = transport::connect(addr, &options.security, options.connect_timeout).await?;
        let (r, w) = tokio::io::split(stream);
        let addr: Arc<str> = addr.into();
        let mut client_id = options.client_id.clone();
        client_id.truncate(255);
        let mut conn = Connection {
            writer: RequestWriter {
                addr: addr.clone(),
                w,
                next_correlation: 1,
                client_id: StrBytes::from_string(client_id),
                versions: None,
                timeout: options.timeout,
                buf: BytesMut::with_capacity(4096),
            },
            reader: ResponseReader {
                addr,
                r,
                buf: BytesMut::new(),
                max_frame: options.max_response_bytes,
                timeout: options.timeout,
            },
        };
        let answer = conn.call::<ApiVersions>(&Default::default()).await?;
        answer.check(&conn.writer.addr)?;
        conn.writer.versions = Some(Arc::new(Versions::new(answer.apis)));
        transport::authenticate(&mut conn, &options.security).await?;
        Ok(conn)
    }

    pub fn addr(&self) -> &str {
        &self.writer.addr
    }

    /// What the broker serves.
    pub fn versions(&self) -> Option<&Versions> {
        self.writer.versions.as_deref()
    }

    /// Sends one request and waits for its response.
    pub async fn call<A: Api>(&mut self, request: &A::Request) -> Result<A::Response> {
        let ticket = self.writer.send::<A>(request).await?;
        self.reader.recv::<A>(ticket).await
    }

    /// The two halves, for several requests in flight.
    pub fn split(self) -> (RequestWriter, ResponseReader) {
        (self.writer, self.reader)
    }

    /// The connection again, once every request sent through the halves
    /// has been answered (or needed no answer).
    pub fn unsplit(writer: RequestWriter, reader: ResponseReader) -> Connection {
        Connection { writer, reader }
    }
}

impl RequestWriter {
    /// Encodes and writes one request; the ticket identifies its response.
    /// Fails without sending if the broker does not serve `A::VERSION`.
    pub async fn send<A: Api>(&mut self, request: &A::Request) -> Result<Ticket> {
        if let Some(v) = &self.versions {
            match v.range(A::KEY as i16) {
                Some((min, max)) if (min..=max).contains(&A::VERSION) => {}
                offered => {
                    return Err(Error::Unsupported {
                        addr: self.addr.to_string(),
                        api: A::NAME,
                        version: A::VERSION,
                        offered,
                    })
                }
            }
        }
        let correlation_id = self.next_correlation;
        self.next_correlation = self.next_correlation.wrapping_add(1).max(1);
        let header = RequestHeader::default()
            .with_request_api_key(A::KEY as i16)
            .with_request_api_version(A::VERSION)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let header_version = A::KEY.request_header_version(A::VERSION);
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 4]);
        let encoded = header
            .encode(&mut self.buf, header_version)
            .and_then(|()| request.encode(&mut self.buf, A::VERSION));
        if let Err(e) = encoded {
            return Err(Error::Invalid(format!("cannot encode {}: {e}", A::NAME)));
        }
        let len = i32::try_from(self.buf.len() - 4)
            .map_err(|_| Error::Invalid(format!("{} request too large", A::NAME)))?;
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        match tokio::time::timeout(self.timeout, self.w.write_all(&self.buf)).await {
            Err(_) => Err(Error::Timeout {
                addr: self.addr.to_string(),
                what: "sending a request (the broker stopped reading)",
                after: self.timeout,
            }),
            Ok(Err(source)) => Err(Error::Io {
                addr: self.addr.to_string(),
                source,
            }),
            Ok(Ok(())) => Ok(Ticket {
                correlation_id,
                api_key: A::KEY as i16,
            }),
        }
    }
}

impl ResponseReader {
    /// Reads the next response, which must be `ticket`'s, and decodes it.
    pub async fn recv<A: Api>(&mut self, ticket: Ticket) -> Result<A::Response> {
        debug_assert_eq!(ticket.api_key, A::KEY as i16);
        let limit = self.max_frame.min(A::MAX_RESPONSE);
        let frame = match tokio::time::timeout(self.timeout, self.frame(limit)).await {
            Err(_) => {
                return Err(Error::Timeout {
                    addr: self.addr.to_string(),
                    what: A::NAME,
                    after: self.timeout,
                })
            }
            Ok(f) => f?,
        };
        let mut r = Reader::new(frame);
        let decode = |source| Error::Decode {
            addr: self.addr.to_string(),
            api: A::NAME,
            source,
        };
        // Response header v0, or v1 (tagged fields after the correlation
        // id) for the flexible versions; ApiVersions' is always v0.
        let got = r.i32().map_err(decode)?;
        if got != ticket.correlation_id {
            return Err(Error::Correlation {
                addr: self.addr.to_string(),
                got,
                want: ticket.correlation_id,
            });
        }
        if A::KEY.response_header_version(A::VERSION) >= 1 {
            r.tagged_fields().map_err(decode)?;
        }
        A::decode(&mut r).map_err(decode)
    }

    /// One whole frame (without its length prefix).
    async fn frame(&mut self, limit: usize) -> Result<Bytes> {
        self.fill(4).await?;
        let len = i32::from_be_bytes(self.buf[..4].try_into().expect("4 bytes"));
        if len < 4 || len as usize > limit {
            return Err(Error::FrameTooLarge {
                addr: self.addr.to_string(),
                len: i64::from(len),
                limit,
            });
        }
        let len = len as usize;
        self.fill(4 + len).await?;
        self.buf.advance(4);
        Ok(self.buf.split_to(len).freeze())
    }

    /// Reads until the buffer holds `n` bytes, growing it by at most
    /// [`READ_CHUNK`] at a time.
    async fn fill(&mut self, n: usize) -> Result<()> {
        while self.buf.len() < n {
            let want = (n - self.buf.len()).clamp(4096, READ_CHUNK);
            self.buf.reserve(want);
            let read = self
                .r
                .read_buf(&mut self.buf)
                .await
                .map_err(|source| Error::Io {
                    addr: self.addr.to_string(),
                    source,
                })?;
            if read == 0 {
                return Err(Error::Closed {
                    addr: self.addr.to_string(),
                    when: if self.buf.is_empty() {
                        "instead of answering"
                    } else {
                        "in the middle of a response"
                    },
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server that reads one request and answers `reply(correlation id)`,
    /// then serves further requests the same way until the client leaves.
    async fn serve(reply: fn(i32, i16) -> Vec<u8>) -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            loop {
                let mut len = [0u8; 4];
                if s.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
                s.read_exact(&mut body).await.unwrap();
                let key = i16::from_be_bytes([body[0], body[1]]);
                let corr = i32::from_be_bytes(body[4..8].try_into().unwrap());
                if s.write_all(&reply(corr, key)).await.is_err() {
                    return;
                }
            }
        });
        addr
    }

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    /// ApiVersions v0 offering only ApiVersions 0..3.
    fn versions_only(corr: i32, key: i16) -> Vec<u8> {
        let mut b = corr.to_be_bytes().to_vec();
        if key == 18 {
            b.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 18, 0, 0, 0, 3]);
        }
        frame(&b)
    }

    fn opts() -> Options {
        Options {
            connect_timeout: Duration::from_millis(500),
            timeout: Duration::from_millis(500),
            ..Options::default()
        }
    }

    #[tokio::test]
    async fn a_huge_length_prefix_is_refused_before_reading_it() {
        let addr = serve(|_, _| vec![0x7f, 0xff, 0xff, 0xff, 1, 2, 3]).await;
        let e = Connection::open(&addr, &opts()).await.err().unwrap();
        assert!(
            matches!(
                e,
                Error::FrameTooLarge {
                    len: 2147483647,
                    limit: 65536,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("is it a Kafka broker?"), "{e}");
    }

    #[tokio::test]
    async fn a_wrong_correlation_id_is_an_error() {
        let addr = serve(|corr, _| frame(&(corr + 1).to_be_bytes())).await;
        let e = Connection::open(&addr, &opts()).await.err().unwrap();
        assert!(matches!(e, Error::Correlation { .. }), "{e}");
    }

    #[tokio::test]
    async fn a_silent_peer_times_out_and_a_closing_one_is_named() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let silent = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        });
        let e = Connection::open(&addr, &opts()).await.err().unwrap();
        assert!(
            matches!(
                e,
                Error::Timeout {
                    what: "ApiVersions",
                    ..
                }
            ),
            "{e}"
        );
        silent.abort();

        // Reads the request, then closes without answering.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closing = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut b = [0u8; 64];
            let _ = s.read(&mut b).await;
        });
        let e = Connection::open(&closing, &opts()).await.err().unwrap();
        assert!(matches!(e, Error::Closed { .. }), "{e}");
    }

    #[tokio::test]
    async fn nothing_listening_is_a_connect_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let e = Connection::open(&addr, &opts()).await.err().unwrap();
        assert!(matches!(e, Error::Connect { .. }), "{e}");
        let e = Connection::open("no-such-host.invalid:9092", &opts())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(e, Error::Resolve { .. } | Error::Timeout { .. }),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_version_the_broker_does_not_serve_is_not_sent() {
        let addr = serve(versions_only).await;
        let mut c = Connection::open(&addr, &opts()).await.unwrap();
        assert_eq!(c.versions().unwrap().range(18), Some((0, 3)));
        let e = c.metadata(None).await.err().unwrap();
        assert!(
            matches!(
                e,
                Error::Unsupported {
                    api: "Metadata",
                    version: 4,
                    offered: None,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("does not serve Metadata v4"), "{e}");
    }
}
