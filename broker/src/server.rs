//! The accept loop: one task per connection (no thread per connection), a
//! cap on open connections, and the client's address handed to its
//! connection. Connection tasks are spawned on the broker's task tracker, so
//! stopping the broker waits for their in-flight requests; the loop ends
//! when the shutdown token is cancelled.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::{error, info};

use crate::broker::Broker;
use crate::connection;

/// Accepts connections until `broker.shutdown` is cancelled.
pub async fn run(listener: TcpListener, broker: Arc<Broker>, tasks: TaskTracker) {
    let shutdown = broker.shutdown.clone();
    let limit = Arc::new(Semaphore::new(broker.config.max_connections));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = limit.clone().acquire_owned() => p.expect("semaphore never closed"),
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let broker = broker.clone();
                tasks.spawn(async move {
                    connection::serve(stream, peer, broker).await;
                    drop(permit);
                });
            }
            Err(e) => {
                error!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
    info!("no longer accepting connections; finishing in-flight requests");
}
