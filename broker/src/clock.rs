//! Wall-clock time as Kafka timestamps: milliseconds since the Unix epoch.
//! (Durations and deadlines use tokio's monotonic clock instead.)

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
