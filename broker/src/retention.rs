//! Retention: every `retention_check_interval` the storage writer removes, from
//! the head of each partition, the whole batches that its topic's
//! retention.ms (by the batch's max timestamp) or retention.bytes exceed, and
//! moves the log start past them. Consumers asking for an offset below it get
//! OFFSET_OUT_OF_RANGE and their reset policy applies, as with Kafka.
//!
//! SQLite reuses the freed pages for new batches, so the file stops growing
//! once retention and traffic balance; it does not shrink by itself
//! (`skiff-broker backup` writes a compacted copy).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use crate::broker::Broker;
use crate::storage::Command;

/// Runs one enforcement pass; returns the number of batches removed.
pub async fn enforce(broker: &Broker) -> Result<usize, crate::storage::WriteError> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    broker
        .storage
        .call(|reply| Command::EnforceRetention { now_ms, reply })
        .await
}

/// Enforces retention every `period` until the broker shuts down.
pub async fn run(broker: std::sync::Arc<Broker>, period: Duration) {
    let mut shutdown = broker.shutdown.clone();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait() => return,
        }
        match enforce(&broker).await {
            Ok(0) => {}
            Ok(n) => {
                broker.metrics.retention_deleted_batches.inc_by(n as u64);
                info!(batches = n, "retention removed old batches")
            }
            Err(e) => warn!(error = %e, "retention pass failed"),
        }
    }
}
