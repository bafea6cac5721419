//! One client connection: length-prefixed frames in, responses out, in
//! request order.
//!
//! The reading half decodes and handles requests one after another, so each
//! request sees the effects of the ones before it. A produce request is only
//! *started* there (queued to the storage writer); its response, which waits
//! for the commit, is queued in order to the writing half. So a producer can
//! pipeline requests while earlier ones commit, and responses still leave in
//! the order the requests came. Both halves are tasks, not threads.
//!
//! What a connection knows about its client (`ConnectionState`) is handed
//! to every request it serves, explicitly.
//!
//! Time bounds, so a client cannot hold a connection's memory for ever:
//! a connection with no request for `SKIFF_CONNECTIONS_MAX_IDLE_MS` is
//! closed; a request whose first byte has arrived must arrive whole within
//! `SKIFF_FRAME_READ_TIMEOUT_MS`; a response not read by the client within
//! `SKIFF_RESPONSE_WRITE_TIMEOUT_MS` closes the connection.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::broker::Broker;
use crate::budget::{Budget, Held, UNCOUNTED};
use crate::handlers::{self, Pending};
use crate::refusals;

/// Responses queued but not yet written, per connection. When full, the
/// connection stops reading requests (back-pressure, not buffering): a few
/// produce requests in flight keep a producer's pipeline busy while earlier
/// ones commit, without holding many megabytes of frames per connection.
const MAX_IN_FLIGHT: usize = 4;
/// How long a connection stays open after an answer that ends it (a failed
/// authentication), as Kafka's `connection.failed.authentication.delay.ms`.
const CLOSE_AFTER_REFUSAL_DELAY: Duration = Duration::from_millis(100);
/// A frame's declared size is trusted up to this much buffer at once; beyond
/// it the buffer grows only as bytes arrive.
const TRUSTED_FRAME: usize = 1024 * 1024;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame size {0} is negative")]
    Negative(i32),
    #[error("frame of {size} bytes exceeds the limit of {limit} (socket.request.max.bytes)")]
    TooLarge { size: usize, limit: usize },
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("no request for {0:?} (SKIFF_CONNECTIONS_MAX_IDLE_MS)")]
    Idle(Duration),
    #[error("a request did not arrive whole within {0:?} (SKIFF_FRAME_READ_TIMEOUT_MS)")]
    Slow(Duration),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads whole frames from a socket. Buffer space grows only as bytes arrive,
/// so a frame that merely *claims* to be large costs nothing until it is
/// sent; the bytes of a large frame are taken from the in-flight budget as
/// they arrive, not on the size prefix.
pub struct FrameReader<R> {
    rd: R,
    buf: BytesMut,
    limit: usize,
    budget: Budget,
    /// Budget held for the frame being read, handed out with it.
    held: Held,
    /// How long a connection may wait for the first byte of a request.
    idle: Duration,
    /// How long a started frame may take to arrive whole.
    frame_timeout: Duration,
    /// When the frame being read must be whole (set at its first byte,
    /// pushed back by the time spent waiting for budget).
    deadline: Option<Instant>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// `budget` bounds the bytes of large requests in flight across all
    /// connections.
    pub fn new(
        rd: R,
        limit: usize,
        budget: Budget,
        idle: Duration,
        frame_timeout: Duration,
    ) -> Self {
        FrameReader {
            rd,
            buf: BytesMut::with_capacity(4096),
            limit,
            budget,
            held: Held::default(),
            idle,
            frame_timeout,
            deadline: None,
        }
    }

    /// The next frame body (without its size prefix) and the in-flight
    /// budget its bytes hold (give it back when the request is done);
    /// `None` at a clean end of stream. When the budget is spent the reader
    /// waits before reading more: back-pressure on the socket instead of
    /// buffering.
    pub async fn next(&mut self) -> Result<Option<(Bytes, Held)>, FrameError> {
        loop {
            if !self.buf.is_empty() && self.deadline.is_none() {
                self.deadline = Some(Instant::now() + self.frame_timeout);
            }
            if self.buf.len() >= 4 {
                let size = i32::from_be_bytes(self.buf[..4].try_into().unwrap());
                if size < 0 {
                    return Err(FrameError::Negative(size));
                }
                let size = size as usize;
                if size > self.limit {
                    return Err(FrameError::TooLarge {
                        size,
                        limit: self.limit,
                    });
                }
                if size > UNCOUNTED {
                    // Count the bytes of this frame that have arrived.
                    let arrived = self.buf.len().min(4 + size).min(self.budget.share());
                    let missing = arrived.saturating_sub(self.held.bytes());
                    if missing > 0 && !self.budget.try_grow(&mut self.held, missing) {
                        // Waiting while holding a part would let frames that
                        // each hold a part wait on each other for ever: give
                        // the part back and wait, holding nothing, for the
                        // whole frame (or its share of the budget).
                        let waited = Instant::now();
                        self.held.shrink_to(0);
                        self.budget
                            .grow(&mut self.held, (4 + size).min(self.budget.share()))
                            .await;
                        if let Some(d) = self.deadline.as_mut() {
                            *d += waited.elapsed();
                        }
                    }
                }
                if self.buf.len() >= 4 + size {
                    self.buf.advance(4);
                    let frame = self.buf.split_to(size).freeze();
                    self.deadline = None;
                    return Ok(Some((frame, std::mem::take(&mut self.held))));
                }
                let missing = 4 + size - self.buf.len();
                self.buf
                    .reserve(missing.min(TRUSTED_FRAME.max(self.buf.len())));
            } else {
                self.buf.reserve(4096);
            }
            let read = match self.deadline {
                None => tokio::time::timeout(self.idle, self.rd.read_buf(&mut self.buf))
                    .await
                    .map_err(|_| FrameError::Idle(self.idle))?,
                Some(deadline) => {
                    tokio::time::timeout_at(deadline, self.rd.read_buf(&mut self.buf))
                        .await
                        .map_err(|_| FrameError::Slow(self.frame_timeout))?
                }
            };
            if read? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated)
                };
            }
        }
    }
}

/// Writes responses in request order. A response the client does not read
/// within `timeout` ends the connection (`gone` is cancelled so its reading
/// half stops too), which frees the memory the response holds.
async fn write_responses<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::Receiver<Pending>,
    timeout: Duration,
    peer: SocketAddr,
    gone: CancellationToken,
) {
    let _gone = gone.drop_guard();
    while let Some(pending) = rx.recv().await {
        let Some(response) = pending.await else {
            continue;
        };
        // Flushing is free on TCP and sends the TLS records rustls holds.
        let write = async {
            wr.write_all(&response.frame).await?;
            wr.flush().await
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                debug!(error = %e, "client went away while writing");
                return;
            }
            Err(_) => {
                refusals::refused(
                    "SKIFF_RESPONSE_WRITE_TIMEOUT_MS",
                    Some(peer),
                    &format!(
                        "closing a connection whose client did not read a {} byte response within {timeout:?}",
                        response.frame.len()
                    ),
                );
                return;
            }
        }
    }
    let _ = wr.shutdown().await;
}

/// What one connection knows about its client, handed to every request it
/// serves. State that belongs to a connection lives here (its principal,
/// its SASL exchange), not in task-locals or globals.
#[derive(Debug)]
pub struct ConnectionState {
    /// The client's address, as accepted.
    pub peer: SocketAddr,
    /// Who the client is: `User:NAME` once SASL succeeded, else
    /// `User:ANONYMOUS`.
    pub principal: String,
    /// Whether requests other than ApiVersions, SaslHandshake and
    /// SaslAuthenticate must wait for authentication.
    pub unauthenticated: bool,
    /// The SASL exchange under way, if any.
    pub sasl: Option<SaslExchange>,
    /// Set by a handler whose response must be the connection's last (a
    /// failed authentication, as Kafka closes those connections).
    pub close_after_response: bool,
}

/// A SASL exchange: the mechanism chosen by SaslHandshake and the steps so
/// far. `raw` after a v0 handshake: tokens then come as bare size-prefixed
/// frames instead of SaslAuthenticate requests.
#[derive(Debug)]
pub struct SaslExchange {
    pub authenticator: crate::security::sasl::Authenticator,
    pub raw: bool,
}

impl ConnectionState {
    pub fn new(peer: SocketAddr, sasl: bool) -> Self {
        ConnectionState {
            peer,
            principal: crate::security::acl::ANONYMOUS.to_string(),
            unauthenticated: sasl,
            sasl: None,
            close_after_response: false,
        }
    }

    /// The client's address as Kafka shows it in DescribeGroups
    /// ("/127.0.0.1").
    pub fn client_host(&self) -> String {
        format!("/{}", self.peer.ip())
    }
}

/// Serves one connection from `peer` until the client closes it, sends
/// something that must close it, or the broker shuts down. On an SSL or
/// SASL_SSL listener the TLS handshake comes first, bounded by
/// `SKIFF_FRAME_READ_TIMEOUT_MS`; a client that does not speak TLS there
/// gets its connection closed and one log line.
pub async fn serve(stream: TcpStream, peer: SocketAddr, broker: Arc<Broker>) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = broker.security.tls.clone() else {
        let (rd, wr) = stream.into_split();
        return serve_stream(rd, wr, peer, broker).await;
    };
    let timeout = broker.config.frame_read_timeout;
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            let (rd, wr) = tokio::io::split(tls);
            serve_stream(rd, wr, peer, broker).await
        }
        Ok(Err(e)) => refusals::refused(
            "TLS handshake",
            Some(peer),
            &format!(
                "closing connection: TLS handshake failed ({e}); a client using PLAINTEXT or SASL_PLAINTEXT against this {} listener fails this way",
                broker.security.protocol.name()
            ),
        ),
        Err(_) => refusals::refused(
            "SKIFF_FRAME_READ_TIMEOUT_MS",
            Some(peer),
            &format!("closing connection: the TLS handshake did not complete within {timeout:?}"),
        ),
    }
}

/// Whether a frame size prefix is really the start of a TLS record (a
/// handshake record, type 0x16, version 3.x): a TLS client on a listener
/// that does not speak TLS.
fn looks_like_tls(size: usize) -> bool {
    size >> 16 == 0x1603
}

async fn serve_stream<R, W>(rd: R, wr: W, peer: SocketAddr, broker: Arc<Broker>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut state = ConnectionState::new(peer, broker.security.sasl());
    let config = &broker.config;
    let mut frames = FrameReader::new(
        rd,
        config.max_request_bytes as usize,
        broker.budget.clone(),
        config.connections_max_idle,
        config.frame_read_timeout,
    );
    let (tx, rx) = mpsc::channel::<Pending>(MAX_IN_FLIGHT);
    let gone = CancellationToken::new();
    let writer = tokio::spawn(write_responses(
        wr,
        rx,
        config.response_write_timeout,
        peer,
        gone.clone(),
    ));
    broker.metrics.connections.inc();

    // One wait for shutdown for the connection's life, not one per request.
    let stopping = broker.shutdown.cancelled();
    tokio::pin!(stopping);
    loop {
        let frame = tokio::select! {
            biased;
            _ = &mut stopping => break,
            _ = gone.cancelled() => break,
            frame = frames.next() => frame,
        };
        let (frame, held) = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            // A client that hangs up abruptly, or an idle one closed as
            // Kafka closes them, is routine, not a warning.
            // A TLS client closing without close_notify (many do) is the
            // same.
            Err(FrameError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                debug!(%peer, error = %e, "client reset the connection");
                break;
            }
            Err(e @ FrameError::Idle(_)) => {
                debug!(%peer, error = %e, "closing idle connection");
                break;
            }
            Err(e @ FrameError::Slow(_)) => {
                refusals::refused(
                    "SKIFF_FRAME_READ_TIMEOUT_MS",
                    Some(peer),
                    &format!("closing connection: {e}"),
                );
                break;
            }
            Err(e @ FrameError::Truncated) => {
                debug!(%peer, error = %e, "client went away in the middle of a frame");
                break;
            }
            Err(FrameError::TooLarge { size, .. }) if looks_like_tls(size) => {
                refusals::refused(
                    "TLS client on a non-TLS listener",
                    Some(peer),
                    &format!(
                        "closing connection: the client started a TLS handshake but this listener is {} (set SKIFF_SECURITY_PROTOCOL to SSL or SASL_SSL, or use security.protocol={} in the client)",
                        broker.security.protocol.name(),
                        broker.security.protocol.name()
                    ),
                );
                break;
            }
            Err(e @ FrameError::TooLarge { .. }) => {
                refusals::refused(
                    "SKIFF_MAX_REQUEST_BYTES",
                    Some(peer),
                    &format!("closing connection: {e}"),
                );
                break;
            }
            Err(e) => {
                refusals::refused(
                    "malformed request",
                    Some(peer),
                    &format!("closing connection: {e}"),
                );
                break;
            }
        };
        if state.sasl.as_ref().is_some_and(|s| s.raw) {
            // After a v0 SaslHandshake the frame is a bare SASL token.
            drop(held);
            let reply = handlers::raw_sasl_token(&broker, &mut state, &frame);
            let done = reply.is_none() || state.close_after_response;
            if let Some(reply) = reply {
                if tx.send(handlers::ready(reply)).await.is_err() {
                    break;
                }
            }
            if done {
                break;
            }
            continue;
        }
        let api = frame
            .get(0..2)
            .and_then(|b| ApiKey::try_from(i16::from_be_bytes([b[0], b[1]])).ok());
        let started = Instant::now();
        let handled = tokio::select! {
            biased;
            // A long poll ends with the connection.
            _ = gone.cancelled() => break,
            handled = handlers::handle(&broker, &mut state, frame, held) => handled,
        };
        match handled {
            Ok(pending) => {
                // The request's time is counted once its response is done
                // (for a produce: once the batches are committed).
                let metrics_of = broker.clone();
                let pending: Pending = Box::pin(async move {
                    let out = pending.await;
                    if let Some(api) = api {
                        metrics_of
                            .metrics
                            .observe_request(&format!("{api:?}"), started.elapsed());
                    }
                    out
                });
                if tx.send(pending).await.is_err() {
                    break;
                }
                if state.close_after_response {
                    // As Kafka (connection.failed.authentication.delay.ms):
                    // the answer goes out first and the close follows a
                    // little later, so clients that drop data arriving
                    // with the close still read why.
                    tokio::time::sleep(CLOSE_AFTER_REFUSAL_DELAY).await;
                    break;
                }
            }
            Err(e) => {
                refusals::refused(
                    "malformed request",
                    Some(peer),
                    &format!("closing connection: {e}"),
                );
                break;
            }
        }
    }
    drop(tx);
    let _ = writer.await;
    broker.metrics.connections.dec();
    debug!(%peer, "connection closed");
}
