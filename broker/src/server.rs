//! The accept loop: one task per connection (no thread per connection), a cap
//! on open connections, and graceful shutdown that stops accepting, lets every
//! connection finish its in-flight requests, and only then returns.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tracing::{error, info};

use crate::broker::Broker;
use crate::connection;

/// Serves until `broker.shutdown` flips, then waits for every connection.
pub async fn run(listener: TcpListener, broker: Arc<Broker>) {
    let mut shutdown = broker.shutdown.clone();
    let limit = Arc::new(Semaphore::new(broker.config.max_connections));
    // Every connection task holds a clone; when all are dropped, all are done.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    loop {
        let permit = tokio::select! {
            _ = shutdown.wait() => break,
            p = limit.clone().acquire_owned() => p.expect("semaphore never closed"),
        };
        let accepted = tokio::select! {
            _ = shutdown.wait() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, addr)) => {
                let broker = broker.clone();
                let shutdown = shutdown.clone();
                let done = done_tx.clone();
                // The client's address, for the group members it joins.
                let host = crate::coordinator::client_host(addr);
                tokio::spawn(async move {
                    let serving = connection::serve(stream, broker, shutdown);
                    crate::coordinator::CLIENT_HOST.scope(host, serving).await;
                    drop(permit);
                    drop(done);
                });
            }
            Err(e) => {
                error!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
    info!("no longer accepting connections; finishing in-flight requests");
    drop(done_tx);
    let _ = done_rx.recv().await;
}
