//! Times as people read them: short ages ("3h 20m"), the UTC stamp in a
//! backup's name and RFC 3339 times, without a date crate (the SDK's
//! `DateTime` formats them).

use aws_sdk_ec2::primitives::{DateTime, DateTimeFormat};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, now.
pub fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A duration in its two largest units: `45s`, `12m`, `3h 20m`, `5d 4h`.
pub fn short(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// `2026-12-01T05:51:58Z` for `secs` since the epoch.
pub fn rfc3339(secs: i64) -> String {
    DateTime::from_secs(secs)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

/// `20261201-0551Z`: a sortable UTC stamp for names (no `:`).
pub fn stamp(secs: i64) -> String {
    let t = rfc3339(secs);
    // 2026-12-01T05:51:58Z -> 20261201-0551Z
    let digits: String = t.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() >= 12 {
        format!("{}-{}Z", &digits[..8], &digits[8..12])
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_stamps() {
        assert_eq!(short(-5), "0s");
        assert_eq!(short(45), "45s");
        assert_eq!(short(12 * 60 + 5), "12m");
        assert_eq!(short(3 * 3600), "3h");
        assert_eq!(short(3 * 3600 + 20 * 60), "3h 20m");
        assert_eq!(short(5 * 86_400 + 4 * 3600 + 7), "5d 4h");
        assert_eq!(short(2 * 86_400), "2d");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(stamp(1_796_104_319), "20261201-0551Z");
    }
}
