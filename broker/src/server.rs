//! The accept loop: one task per connection (no thread per connection), the
//! caps on open connections (`SKIFF_MAX_CONNECTIONS` in all,
//! `SKIFF_MAX_CONNECTIONS_PER_IP` per client address), and the client's
//! address handed to its connection. Connection tasks are spawned on the
//! broker's task tracker, so stopping the broker waits for their in-flight
//! requests; the loop ends when the shutdown token is cancelled.
//!
//! A connection over a cap is accepted and closed at once, as Kafka does:
//! left in the kernel's backlog it would hang the client until its own
//! timeout, and hold a backlog slot a legitimate client could have used.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::{error, info};

use crate::broker::Broker;
use crate::connection;
use crate::refusals;

/// Open connections per client address.
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

/// One open connection counted in `PerIp`; uncounted when dropped.
struct IpSlot {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// Counts a connection from `ip` unless `cap` are open already.
    fn take(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<IpSlot> {
        let mut table = self.0.lock().expect("per-address table lock");
        let open = table.entry(ip).or_insert(0);
        if *open >= cap {
            return None;
        }
        *open += 1;
        Some(IpSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut table = self.table.0.lock().expect("per-address table lock");
        if let Some(open) = table.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                table.remove(&self.ip);
            }
        }
    }
}

/// Accepts connections until `broker.shutdown` is cancelled.
pub async fn run(listener: TcpListener, broker: Arc<Broker>, tasks: TaskTracker) {
    let shutdown = broker.shutdown.clone();
    let limit = Arc::new(Semaphore::new(broker.config.max_connections));
    let per_ip = Arc::new(PerIp::default());
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                error!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            refuse(
                stream,
                peer,
                "SKIFF_MAX_CONNECTIONS",
                broker.config.max_connections,
            );
            continue;
        };
        let cap = broker.config.max_connections_per_ip;
        let Some(slot) = per_ip.take(peer.ip(), cap) else {
            refuse(stream, peer, "SKIFF_MAX_CONNECTIONS_PER_IP", cap);
            continue;
        };
        let broker = broker.clone();
        tasks.spawn(async move {
            connection::serve(stream, peer, broker).await;
            drop(slot);
            drop(permit);
        });
    }
    info!("no longer accepting connections; finishing in-flight requests");
}

/// Closes a connection over a cap at once.
fn refuse(stream: tokio::net::TcpStream, peer: SocketAddr, limit: &'static str, cap: usize) {
    drop(stream);
    refusals::refused(
        limit,
        Some(peer),
        &format!("closed a new connection: {cap} connections are open already"),
    );
}
