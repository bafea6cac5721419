//! The figures of one run: counts, elapsed time, throughput and a latency
//! histogram (HdrHistogram, 3 significant digits from 1 µs to 1 h: a few
//! tens of KiB whatever the record count).

use hdrhistogram::Histogram;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Latencies in microseconds, each recorded with a weight (the records it
/// stands for).
pub struct Latency {
    h: Histogram<u64>,
}

impl Latency {
    pub fn new() -> Latency {
        Latency {
            h: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
        }
    }

    /// Records `d` for `count` records (values beyond an hour count as an hour).
    pub fn record(&mut self, d: Duration, count: u64) {
        let us = (d.as_micros() as u64).clamp(1, self.h.high());
        // Bounds were checked above: saturation cannot fail.
        let _ = self.h.record_n(us, count);
    }

    /// Percentiles in milliseconds, if anything was recorded.
    pub fn summary(&self) -> Option<LatencySummary> {
        if self.h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(LatencySummary {
            p50_ms: ms(self.h.value_at_quantile(0.50)),
            p95_ms: ms(self.h.value_at_quantile(0.95)),
            p99_ms: ms(self.h.value_at_quantile(0.99)),
            max_ms: ms(self.h.max()),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Records produced (acknowledged, or sent with acks=0) or consumed.
    pub records: u64,
    /// Produce: bytes of record values. Consume: bytes of record batches.
    pub bytes: u64,
    pub elapsed: Duration,
    /// Wall-clock start and end, Unix seconds (for CloudWatch).
    pub started: f64,
    pub ended: f64,
    pub latency: Option<LatencySummary>,
    pub requests: u64,
    /// Sum of the broker's throttle times.
    pub throttled_ms: u64,
    /// acks=0: how far the end offsets moved (the broker's count).
    pub confirmed: Option<u64>,
}

impl Outcome {
    pub fn records_per_sec(&self) -> f64 {
        per_sec(self.records as f64, self.elapsed)
    }

    /// Decimal megabytes (10^6 bytes) per second.
    pub fn mb_per_sec(&self) -> f64 {
        per_sec(self.bytes as f64 / 1e6, self.elapsed)
    }
}

fn per_sec(n: f64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 {
        n / s
    } else {
        0.0
    }
}

/// Now, in Unix seconds.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_weigh_records() {
        let mut l = Latency::new();
        assert!(l.summary().is_none());
        l.record(Duration::from_micros(1000), 98);
        l.record(Duration::from_micros(5000), 1);
        l.record(Duration::from_secs(7200), 1);
        let s = l.summary().unwrap();
        assert!((s.p50_ms - 1.0).abs() < 0.01, "{s:?}");
        assert!((s.p95_ms - 1.0).abs() < 0.01, "{s:?}");
        assert!((s.p99_ms - 5.0).abs() < 0.01, "{s:?}");
        // Clamped to an hour, within the histogram's precision.
        assert!((s.max_ms / 3_600_000.0 - 1.0).abs() < 0.001, "{s:?}");
        let o = Outcome {
            records: 1000,
            bytes: 2_000_000,
            elapsed: Duration::from_millis(500),
            started: 0.0,
            ended: 0.5,
            latency: None,
            requests: 1,
            throttled_ms: 0,
            confirmed: None,
        };
        assert_eq!(o.records_per_sec(), 2000.0);
        assert_eq!(o.mb_per_sec(), 4.0);
    }
}
