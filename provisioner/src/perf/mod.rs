//! `skiff perf`'s load generator and its arithmetic: a pipelined producer
//! (`produce`) and consumer (`consume`) on one connection each, their
//! figures (`stats`: throughput, a latency histogram of bounded size), and
//! what CloudWatch's 5-minute metrics say the run cost the instance
//! (`cost`: pure, no AWS types). `commands::perf` connects, runs and
//! prints.
//!
//! Memory is bounded by the settings, not by `--records`: at most
//! `inflight` batches of at most `batch_bytes` (produce) or `inflight`
//! fetch responses of at most `fetch_bytes` (consume), one record value,
//! and a fixed-size histogram.

pub mod consume;
pub mod cost;
pub mod produce;
pub mod stats;

use std::time::{Duration, Instant};

/// Sleeps until `done` units fit a pace of `rate` per second since
/// `start` (no pace: returns at once).
async fn pace(rate: Option<u64>, start: Instant, done: u64) {
    if let Some(at) = due(rate, start, done) {
        tokio::time::sleep_until(at.into()).await;
    }
}

/// When unit number `done` is due at `rate` per second from `start`.
fn due(rate: Option<u64>, start: Instant, done: u64) -> Option<Instant> {
    let rate = rate.filter(|r| *r > 0)?;
    Some(start + Duration::from_secs_f64(done as f64 / rate as f64))
}
