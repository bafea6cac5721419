//! Retention's schedule: every `retention_check_interval` the storage writer
//! removes, from the head of each partition, the whole batches that its
//! topic's retention.ms (by the batch's max timestamp) or retention.bytes
//! exceed, and moves the log start past them (the cut itself is in
//! `storage/retention.rs`). Consumers asking for an offset below it get
//! OFFSET_OUT_OF_RANGE and their reset policy applies, as with Kafka.
//!
//! The same pass expires idle idempotent producers
//! (`SKIFF_PRODUCER_ID_EXPIRATION_MS`, inside the writer's retention command)
//! and the committed offsets of groups empty and silent for
//! `SKIFF_OFFSETS_RETENTION_MS`.
//!
//! SQLite reuses the freed pages for new batches, so the file stops growing
//! once retention and traffic balance; it does not shrink by itself
//! (`skiff-broker backup` writes a compacted copy).

use std::sync::Arc;

use tracing::{info, warn};

use crate::broker::Broker;
use crate::clock::now_ms;
use crate::storage::WriteResult;

/// Runs one enforcement pass now; returns the number of batches removed.
pub async fn enforce(broker: &Broker) -> WriteResult<usize> {
    broker.storage.enforce_retention(now_ms()).await
}

/// Enforces retention every `retention_check_interval` until the broker
/// shuts down. The first pass comes one interval after start-up, not at
/// once (Kafka, too, delays its first retention check), so a broker started
/// on old data serves it until the first interval has passed.
pub(crate) async fn run(broker: Arc<Broker>) {
    let period = broker.config.retention_check_interval;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = broker.shutdown.cancelled() => return,
        }
        match enforce(&broker).await {
            Ok(0) => {}
            Ok(n) => {
                broker.metrics.retention_deleted_batches.inc_by(n as u64);
                info!(batches = n, "retention removed old batches")
            }
            Err(e) => warn!(error = %e, "retention pass failed"),
        }
        match broker
            .coordinator
            .expire_offsets(&broker.storage, now_ms())
            .await
        {
            Ok(0) => {}
            Ok(n) => info!(groups = n, "offsets retention removed idle groups' offsets"),
            Err(e) => warn!(error = %e, "offsets retention pass failed"),
        }
    }
}
