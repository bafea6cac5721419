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

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::broker::Broker;
use crate::handlers::{self, Pending};

/// Responses queued but not yet written, per connection. When full, the
/// connection stops reading requests (back-pressure, not buffering): a few
/// produce requests in flight keep a producer's pipeline busy while earlier
/// ones commit, without holding many megabytes of frames per connection.
const MAX_IN_FLIGHT: usize = 4;
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
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads whole frames from a socket. Buffer space grows only as bytes arrive,
/// so a frame that merely *claims* to be large costs nothing until it is sent.
pub struct FrameReader {
    rd: OwnedReadHalf,
    buf: BytesMut,
    limit: usize,
    budget: Arc<Semaphore>,
    /// The budget's size: a frame larger than it takes all of it.
    budget_total: usize,
    /// Held for the frame being read, then handed out with it.
    permit: Option<OwnedSemaphorePermit>,
}

/// Frames up to this size are not counted against the broker-wide budget,
/// so heartbeats and metadata keep flowing while large produces wait.
const UNCOUNTED_FRAME: usize = 64 * 1024;

impl FrameReader {
    /// `budget` bounds the bytes of large requests in flight across all
    /// connections; its permits are bytes.
    pub fn new(
        rd: OwnedReadHalf,
        limit: usize,
        budget: Arc<Semaphore>,
        budget_total: usize,
    ) -> Self {
        FrameReader {
            rd,
            buf: BytesMut::with_capacity(4096),
            limit,
            budget,
            budget_total: budget_total.max(1),
            permit: None,
        }
    }

    /// The next frame body (without its size prefix) and, for a large frame,
    /// its share of the in-flight budget (release it when the request is
    /// done); `None` at a clean end of stream. When the budget is spent the
    /// reader waits before reading the body: back-pressure on the socket
    /// instead of buffering.
    pub async fn next(
        &mut self,
    ) -> Result<Option<(Bytes, Option<OwnedSemaphorePermit>)>, FrameError> {
        loop {
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
                if size > UNCOUNTED_FRAME && self.permit.is_none() {
                    let wanted = size.min(self.budget_total).min(u32::MAX as usize) as u32;
                    let permit = self
                        .budget
                        .clone()
                        .acquire_many_owned(wanted)
                        .await
                        .expect("budget semaphore is never closed");
                    self.permit = Some(permit);
                }
                if self.buf.len() >= 4 + size {
                    self.buf.advance(4);
                    let frame = self.buf.split_to(size).freeze();
                    return Ok(Some((frame, self.permit.take())));
                }
                let missing = 4 + size - self.buf.len();
                self.buf
                    .reserve(missing.min(TRUSTED_FRAME.max(self.buf.len())));
            } else {
                self.buf.reserve(4096);
            }
            if self.rd.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated)
                };
            }
        }
    }
}

async fn write_responses(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Pending>) {
    while let Some(pending) = rx.recv().await {
        let Some(frame) = pending.await else { continue };
        if let Err(e) = wr.write_all(&frame).await {
            debug!(error = %e, "client went away while writing");
            return;
        }
    }
    let _ = wr.shutdown().await;
}

/// What one connection knows about its client, handed to every request it
/// serves. State that belongs to a connection lives here (authentication,
/// once there is some), not in task-locals or globals.
#[derive(Debug)]
pub struct ConnectionState {
    /// The client's address, as accepted.
    pub peer: SocketAddr,
}

impl ConnectionState {
    /// The client's address as Kafka shows it in DescribeGroups
    /// ("/127.0.0.1").
    pub fn client_host(&self) -> String {
        format!("/{}", self.peer.ip())
    }
}

/// Serves one connection from `peer` until the client closes it, sends
/// something that must close it, or the broker shuts down.
pub async fn serve(stream: TcpStream, peer: SocketAddr, broker: Arc<Broker>) {
    let mut state = ConnectionState { peer };
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let mut frames = FrameReader::new(
        rd,
        broker.config.max_request_bytes as usize,
        broker.inflight.clone(),
        broker.config.max_inflight_bytes,
    );
    let (tx, rx) = mpsc::channel::<Pending>(MAX_IN_FLIGHT);
    let writer = tokio::spawn(write_responses(wr, rx));
    broker.metrics.connections.inc();

    // One wait for shutdown for the connection's life, not one per request.
    let stopping = broker.shutdown.cancelled();
    tokio::pin!(stopping);
    loop {
        let frame = tokio::select! {
            biased;
            _ = &mut stopping => break,
            frame = frames.next() => frame,
        };
        let (frame, permit) = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            // A client that hangs up abruptly is routine, not a warning.
            Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                debug!(%peer, error = %e, "client reset the connection");
                break;
            }
            Err(e) => {
                warn!(%peer, error = %e, "closing connection");
                break;
            }
        };
        let api = frame
            .get(0..2)
            .and_then(|b| ApiKey::try_from(i16::from_be_bytes([b[0], b[1]])).ok());
        let started = Instant::now();
        match handlers::handle(&broker, &mut state, frame).await {
            Ok(pending) => {
                // The frame's budget is returned, and the request's time
                // counted, once its response is done (for a produce: once
                // the batches are committed).
                let metrics_of = broker.clone();
                let pending: Pending = Box::pin(async move {
                    let out = pending.await;
                    drop(permit);
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
            }
            Err(e) => {
                warn!(%peer, error = %e, "closing connection");
                break;
            }
        }
    }
    drop(tx);
    let _ = writer.await;
    broker.metrics.connections.dec();
    debug!(%peer, "connection closed");
}
