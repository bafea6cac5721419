//! What a perf run cost the instance, from CloudWatch's 5-minute metrics:
//! CPU credits per GB and against the type's earn rate, and bytes written
//! to EBS per payload byte. Pure arithmetic on points (no AWS types), unit
//! tested here; `commands::perf` fetches and prints.
//!
//! CloudWatch has these metrics at 5-minute resolution only (basic
//! monitoring), so a run is seen through the whole periods it touched:
//! `[from, to)`, from the start of the period the run began in to the end
//! of the one it ended in. Those periods also hold whatever the instance
//! did while the run was not going. That share is estimated from the
//! period just before (`idle`, per second) times the seconds of the covered
//! periods the run did not fill, and subtracted; without a point for that
//! period nothing is subtracted and the report says so. A run shorter than
//! a period is mostly idle time: the figures are rough, and the longer the
//! run, the better.
//!
//! Definitions: one credit = one vCPU at 100% for one minute; GB = 10^9
//! bytes of payload (record values); burn = the run's credits per hour of
//! run; "sustained" = that burn for hours, against the type's earn rate.

use crate::credits::Point;
use crate::instance_types::InstanceType;

/// The metrics' period.
pub const PERIOD: i64 = 300;

/// The whole periods `[from, to)` a run from `start` to `end` (Unix
/// seconds) touched; at least one.
pub fn covered(start: f64, end: f64) -> (i64, i64) {
    let from = (start.floor() as i64).div_euclid(PERIOD) * PERIOD;
    let to = ((end.ceil() as i64) + PERIOD - 1).div_euclid(PERIOD) * PERIOD;
    (from, to.max(from + PERIOD))
}

/// Period starts in `[from, to)` without a point in `points`.
pub fn missing(points: &[Point], from: i64, to: i64) -> Vec<i64> {
    (from..to)
        .step_by(PERIOD as usize)
        .filter(|t| !points.iter().any(|p| p.t == *t))
        .collect()
}

/// A metric over the covered periods, less the idle estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    /// Sum over the covered periods.
    pub in_periods: f64,
    /// The period before the run, if CloudWatch has it.
    pub idle_per_period: Option<f64>,
    /// What was subtracted for the covered time the run did not fill.
    pub idle_subtracted: f64,
    /// What is left: the run's share (never below 0).
    pub run: f64,
}

/// The run's share of `points` (period sums) over `[from, to)`, or `None`
/// while a covered period has no point yet.
pub fn share(points: &[Point], from: i64, to: i64, run_secs: f64) -> Option<Share> {
    if !missing(points, from, to).is_empty() {
        return None;
    }
    let in_periods: f64 = points
        .iter()
        .filter(|p| p.t >= from && p.t < to)
        .map(|p| p.v)
        .sum();
    let idle_per_period = points.iter().find(|p| p.t == from - PERIOD).map(|p| p.v);
    let outside = ((to - from) as f64 - run_secs).max(0.0);
    let idle_subtracted = idle_per_period.map_or(0.0, |v| v * outside / PERIOD as f64);
    Some(Share {
        in_periods,
        idle_per_period,
        idle_subtracted,
        run: (in_periods - idle_subtracted).max(0.0),
    })
}

/// What sustaining the run's burn would do to the balance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Burn at or below the earn rate: `share` of it.
    FitsBaseline { share: f64 },
    /// Burn above the earn rate: hours until the balance now (if known)
    /// and a full balance are gone.
    Drains {
        hours_from_balance: Option<f64>,
        hours_from_full: f64,
    },
}

/// The CPU-credit figures of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Credits {
    pub share: Share,
    /// Credits per 10^9 payload bytes (none without payload).
    pub per_gb: Option<f64>,
    /// The run's credits per hour of run.
    pub burn_per_hour: f64,
    pub earn_per_hour: f64,
    pub verdict: Verdict,
    /// Payload MB/s whose burn the earn rate covers (none if the run spent
    /// no measurable credits).
    pub baseline_mb_per_s: Option<f64>,
    /// The newest balance in or before the covered periods.
    pub balance: Option<f64>,
    /// The lowest balance in the covered periods: below 1 the instance
    /// was held at its baseline (standard mode) during the run.
    pub balance_min: Option<f64>,
}

impl Credits {
    pub fn throttled(&self) -> bool {
        self.balance_min.is_some_and(|b| b < 1.0)
    }
}

/// The credit figures of a run of `run_secs` that moved `payload_bytes`,
/// or `None` while CPUCreditUsage lacks a covered period.
pub fn credits(
    t: &InstanceType,
    usage: &[Point],
    balance: &[Point],
    (from, to): (i64, i64),
    run_secs: f64,
    payload_bytes: u64,
) -> Option<Credits> {
    let share = share(usage, from, to, run_secs)?;
    let gb = payload_bytes as f64 / 1e9;
    let per_gb = (gb > 0.0).then(|| share.run / gb);
    let burn_per_hour = if run_secs > 0.0 {
        share.run / (run_secs / 3600.0)
    } else {
        0.0
    };
    let earn = t.credits_per_hour;
    let before_end: Vec<&Point> = balance.iter().filter(|p| p.t < to).collect();
    let balance_now = before_end.iter().max_by_key(|p| p.t).map(|p| p.v.max(0.0));
    let balance_min = balance
        .iter()
        .filter(|p| p.t >= from && p.t < to)
        .map(|p| p.v)
        .reduce(f64::min);
    let verdict = if burn_per_hour <= earn {
        Verdict::FitsBaseline {
            share: if earn > 0.0 {
                burn_per_hour / earn
            } else {
                0.0
            },
        }
    } else {
        let net = burn_per_hour - earn;
        Verdict::Drains {
            hours_from_balance: balance_now.map(|b| b / net),
            hours_from_full: t.max_credits / net,
        }
    };
    let baseline_mb_per_s = per_gb
        .filter(|c| *c > 0.0)
        .map(|c| earn / c * 1000.0 / 3600.0);
    Some(Credits {
        share,
        per_gb,
        burn_per_hour,
        earn_per_hour: earn,
        verdict,
        baseline_mb_per_s,
        balance: balance_now,
        balance_min,
    })
}

/// Bytes written to EBS per payload byte (`EBSWriteBytes`), or `None`
/// while a covered period lacks a point (or the instance publishes none).
pub fn write_amplification(
    ebs_write: &[Point],
    (from, to): (i64, i64),
    run_secs: f64,
    payload_bytes: u64,
) -> Option<(Share, f64)> {
    let s = share(ebs_write, from, to, run_secs)?;
    (payload_bytes > 0).then(|| (s, s.run / payload_bytes as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance_types::lookup;

    const P0: i64 = 1_800_000_000 - 1_800_000_000 % PERIOD;

    fn pts(v: &[(i64, f64)]) -> Vec<Point> {
        v.iter().map(|(t, v)| Point { t: *t, v: *v }).collect()
    }

    #[test]
    fn a_run_is_seen_through_whole_periods() {
        let p = P0 as f64;
        assert_eq!(covered(p + 10.0, p + 70.0), (P0, P0 + 300));
        assert_eq!(covered(p + 290.0, p + 310.0), (P0, P0 + 600));
        // Ending exactly on a boundary does not add a period.
        assert_eq!(covered(p, p + 300.0), (P0, P0 + 300));
        assert_eq!(covered(p, p), (P0, P0 + 300));
        assert_eq!(
            missing(&pts(&[(P0, 1.0)]), P0, P0 + 900),
            vec![P0 + 300, P0 + 600]
        );
    }

    #[test]
    fn idle_before_the_run_is_subtracted_for_the_time_it_did_not_fill() {
        // 60 s run in one period: 3.0 used, 0.6 per period idle before,
        // 240 s idle inside the period: 0.48 subtracted, 2.52 for the run.
        let usage = pts(&[(P0 - 300, 0.6), (P0, 3.0)]);
        let s = share(&usage, P0, P0 + 300, 60.0).unwrap();
        assert_eq!(s.in_periods, 3.0);
        assert_eq!(s.idle_per_period, Some(0.6));
        assert!((s.idle_subtracted - 0.48).abs() < 1e-12);
        assert!((s.run - 2.52).abs() < 1e-12);
        // Without the period before: nothing subtracted.
        let s = share(&pts(&[(P0, 3.0)]), P0, P0 + 300, 60.0).unwrap();
        assert_eq!((s.idle_per_period, s.run), (None, 3.0));
        // A covered period missing: no figure yet.
        assert!(share(&pts(&[(P0, 3.0)]), P0, P0 + 600, 400.0).is_none());
        // Never negative.
        let s = share(&pts(&[(P0 - 300, 5.0), (P0, 1.0)]), P0, P0 + 300, 10.0).unwrap();
        assert_eq!(s.run, 0.0);
    }

    #[test]
    fn a_heavy_run_drains_the_balance() {
        let micro = lookup("t3.micro").unwrap();
        // 2.52 credits in 60 s for 0.5 GB: 5.04 per GB, 151.2 per hour,
        // net 139.2/h: 144 credits last 1.034 h, a full 288 2.069 h.
        let usage = pts(&[(P0 - 300, 0.6), (P0, 3.0)]);
        let balance = pts(&[(P0 - 300, 150.0), (P0, 144.0)]);
        let c = credits(micro, &usage, &balance, (P0, P0 + 300), 60.0, 500_000_000).unwrap();
        assert!((c.per_gb.unwrap() - 5.04).abs() < 1e-9);
        assert!((c.burn_per_hour - 151.2).abs() < 1e-9);
        assert_eq!(c.earn_per_hour, 12.0);
        match c.verdict {
            Verdict::Drains {
                hours_from_balance: Some(b),
                hours_from_full,
            } => {
                assert!((b - 144.0 / 139.2).abs() < 1e-9);
                assert!((hours_from_full - 288.0 / 139.2).abs() < 1e-9);
            }
            v => panic!("{v:?}"),
        }
        // 12 credits/h at 5.04 per GB: 2.381 GB/h = 0.661 MB/s.
        assert!((c.baseline_mb_per_s.unwrap() - 12.0 / 5.04 / 3.6).abs() < 1e-9);
        assert_eq!(c.balance, Some(144.0));
        assert_eq!(c.balance_min, Some(144.0));
        assert!(!c.throttled());
    }

    #[test]
    fn a_light_run_fits_the_baseline() {
        let micro = lookup("t3.micro").unwrap();
        // Idle-level use: 0.6 per period before and during a 100 s run:
        // 0.2 credits for the run, 7.2/h of the 12 earned.
        let usage = pts(&[(P0 - 300, 0.6), (P0, 0.6)]);
        let balance = pts(&[(P0, 0.4)]);
        let c = credits(micro, &usage, &balance, (P0, P0 + 300), 100.0, 1_000_000).unwrap();
        assert!((c.share.run - 0.2).abs() < 1e-12);
        match c.verdict {
            Verdict::FitsBaseline { share } => assert!((share - 0.6).abs() < 1e-9),
            v => panic!("{v:?}"),
        }
        assert!(c.throttled(), "a balance near 0 during the run");
        // Nothing produced: no per-GB figure.
        let c = credits(micro, &usage, &balance, (P0, P0 + 300), 100.0, 0).unwrap();
        assert_eq!((c.per_gb, c.baseline_mb_per_s), (None, None));
    }

    #[test]
    fn bytes_written_per_payload_byte() {
        // 100 MB payload in 200 s; 215 MB written in the period, 15 MB per
        // period idle before: 5 MB subtracted, 210 MB: 2.1x.
        let w = pts(&[(P0 - 300, 15e6), (P0, 215e6)]);
        let (s, x) = write_amplification(&w, (P0, P0 + 300), 200.0, 100_000_000).unwrap();
        assert!((s.idle_subtracted - 5e6).abs() < 1e-3);
        assert!((x - 2.1).abs() < 1e-12);
        assert!(write_amplification(&[], (P0, P0 + 300), 200.0, 1).is_none());
        assert!(write_amplification(&w, (P0, P0 + 300), 200.0, 0).is_none());
    }
}
