//! Every burst bucket of a burstable instance, not only CPU credits: for
//! `skiff credits`, from the CloudWatch series and the type's baselines
//! (DescribeInstanceTypes) to each bucket's state, the one that empties
//! first, and a resize hint that covers all of them.
//!
//! On a t3.micro the disk and the network run out before the CPU does:
//! EBS has a baseline of 87 Mbps (10.9 MB/s) and 500 IOPS with a burst
//! bucket published as `EBSByteBalance%` and `EBSIOBalance%` (Nitro
//! instances only, "Amazon EBS metrics for Nitro-based instances", EC2
//! User Guide); the network has a baseline of 0.064 Gbps (8 MB/s) and a
//! burst allowance AWS does not publish ("instances with 'Up to' network
//! bandwidth use a network I/O credit mechanism", EC2 User Guide), so for
//! it skiff can only compare the traffic with the baseline.
//!
//! Pure functions on numbers, unit tested here; the command fetches and
//! prints.

use crate::credits::{self, Analysis, Point, Projection, Series, PERIOD_SECS};
use crate::instance_types::{self, InstanceType};

/// The stretch of recent data the EBS and network rates are averaged over:
/// an EBS burst bucket empties in about 30 minutes at the maximum rate, so
/// a longer window would hide it.
pub const RATE_WINDOW_SECS: i64 = 3600;
/// A balance (percent) below this counts as empty.
const EMPTY_BELOW_PCT: f64 = 1.0;
/// A balance (percent) at or above this counts as full.
const FULL_ABOVE_PCT: f64 = 99.0;
/// A falling balance slower than this (percent per hour) is noise.
const FLAT_PCT_PER_HOUR: f64 = 0.5;

/// The baselines of an instance type, as DescribeInstanceTypes reports
/// them; `None` where the type has none (t2 is not EBS-optimized).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Baseline {
    /// `NetworkCards[0].BaselineBandwidthInGbps`.
    pub network_gbps: Option<f64>,
    /// `EbsOptimizedInfo.BaselineBandwidthInMbps`.
    pub ebs_mbps: Option<f64>,
    /// `EbsOptimizedInfo.BaselineIops`.
    pub ebs_iops: Option<f64>,
}

impl Baseline {
    /// Network baseline in MB/s (10^6 bytes).
    pub fn network_mb_s(&self) -> Option<f64> {
        self.network_gbps.map(|g| g * 1000.0 / 8.0)
    }
    /// EBS bandwidth baseline in MB/s.
    pub fn ebs_mb_s(&self) -> Option<f64> {
        self.ebs_mbps.map(|m| m / 8.0)
    }
}

/// Which bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Cpu,
    EbsBandwidth,
    EbsIops,
    Network,
}

impl Kind {
    /// The name used in `--json`.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Cpu => "cpu_credits",
            Kind::EbsBandwidth => "ebs_bandwidth",
            Kind::EbsIops => "ebs_iops",
            Kind::Network => "network",
        }
    }
    /// The name used in text.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Cpu => "CPU credits",
            Kind::EbsBandwidth => "EBS bandwidth",
            Kind::EbsIops => "EBS I/O",
            Kind::Network => "network",
        }
    }
}

/// Where a bucket is heading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum State {
    /// No datapoints (a new instance, or a type without the metric).
    NoData,
    /// A bucket with a balance, projected like the CPU credits.
    Balance(Projection),
    /// The network (no published balance): traffic at or under the baseline.
    WithinBaseline,
    /// The network above its baseline: it is throttled to the baseline once
    /// the unpublished allowance is spent.
    OverBaseline,
}

impl State {
    pub fn key(&self) -> &'static str {
        match self {
            State::NoData => "no_data",
            State::Balance(p) => p.state(),
            State::WithinBaseline => "within_baseline",
            State::OverBaseline => "over_baseline",
        }
    }
    /// Hours until empty: 0 when empty, `None` when not draining.
    pub fn hours_to_empty(&self) -> Option<f64> {
        match self {
            State::Balance(Projection::Empty) => Some(0.0),
            State::Balance(Projection::Draining { hours_to_empty }) => Some(*hours_to_empty),
            _ => None,
        }
    }
}

/// One bucket as `skiff credits` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub kind: Kind,
    /// The balance in percent of the bucket (CPU: of the type's maximum).
    pub balance_pct: Option<f64>,
    /// The recent use, in `unit` (CPU: credits/h; EBS: MB/s or ops/s;
    /// network: MB/s, the busier direction).
    pub rate: Option<f64>,
    /// The baseline in the same unit (CPU: the earn rate).
    pub baseline: Option<f64>,
    pub unit: &'static str,
    pub state: State,
}

impl Bucket {
    /// Use as a share of the baseline, in percent.
    pub fn use_pct(&self) -> Option<f64> {
        match (self.rate, self.baseline) {
            (Some(r), Some(b)) if b > 0.0 => Some(100.0 * r / b),
            _ => None,
        }
    }
}

/// The recent per-second rate of a per-period sum series.
fn per_second(points: &[Point], newest: i64) -> Option<f64> {
    credits::mean(credits::recent(points, newest, RATE_WINDOW_SECS)).map(|v| v / PERIOD_SECS as f64)
}

/// The projection of a percent balance from its recent slope.
fn balance_projection(points: &[Point], newest: i64) -> State {
    let Some(last) = points.last().copied() else {
        return State::NoData;
    };
    let recent = credits::recent(points, newest, RATE_WINDOW_SECS);
    let first = recent.first().copied().unwrap_or(last);
    let hours = (last.t - first.t) as f64 / 3600.0;
    let slope = if hours > 0.0 {
        (last.v - first.v) / hours
    } else {
        0.0
    };
    let p = if last.v < EMPTY_BELOW_PCT {
        Projection::Empty
    } else if slope < -FLAT_PCT_PER_HOUR {
        Projection::Draining {
            hours_to_empty: last.v / -slope,
        }
    } else if last.v >= FULL_ABOVE_PCT {
        Projection::Full
    } else {
        Projection::Accruing
    };
    State::Balance(p)
}

/// Every bucket of an instance of type `t` with baselines `base`, from the
/// series and the CPU analysis (`None` without CPU data).
pub fn analyze(
    t: &InstanceType,
    base: &Baseline,
    s: &Series,
    cpu: Option<&Analysis>,
) -> Vec<Bucket> {
    let newest = s.newest().unwrap_or(0);
    let mut out = vec![Bucket {
        kind: Kind::Cpu,
        balance_pct: cpu.map(Analysis::balance_pct),
        rate: cpu.map(|a| a.burn_per_hour),
        baseline: Some(t.credits_per_hour),
        unit: "credits/h",
        state: cpu.map_or(State::NoData, |a| State::Balance(a.projection)),
    }];
    let mb = |v: f64| v / 1e6;
    out.push(Bucket {
        kind: Kind::EbsBandwidth,
        balance_pct: s.ebs_byte_balance.last().map(|p| p.v),
        rate: per_second(&s.ebs_bytes, newest).map(mb),
        baseline: base.ebs_mb_s(),
        unit: "MB/s",
        state: balance_projection(&s.ebs_byte_balance, newest),
    });
    out.push(Bucket {
        kind: Kind::EbsIops,
        balance_pct: s.ebs_io_balance.last().map(|p| p.v),
        rate: per_second(&s.ebs_ops, newest),
        baseline: base.ebs_iops,
        unit: "IOPS",
        state: balance_projection(&s.ebs_io_balance, newest),
    });
    let net_in = per_second(&s.network_in, newest);
    let net_out = per_second(&s.network_out, newest);
    let net = match (net_in, net_out) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
    .map(mb);
    let baseline = base.network_mb_s();
    out.push(Bucket {
        kind: Kind::Network,
        balance_pct: None,
        rate: net,
        baseline,
        unit: "MB/s",
        state: match (net, baseline) {
            (Some(r), Some(b)) if r > b => State::OverBaseline,
            (Some(_), _) => State::WithinBaseline,
            (None, _) => State::NoData,
        },
    });
    out
}

/// The bucket that empties first at the current rates and in how many
/// hours (0: already empty); `None` when none is draining.
pub fn first_to_empty(buckets: &[Bucket]) -> Option<(&Bucket, f64)> {
    buckets
        .iter()
        .filter_map(|b| b.state.hours_to_empty().map(|h| (b, h)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// What the observed use needs from a type's baselines.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Needs {
    pub cpu_credits_per_hour: f64,
    pub ebs_mb_s: f64,
    pub ebs_iops: f64,
    pub network_mb_s: f64,
}

impl Needs {
    pub fn of(buckets: &[Bucket]) -> Needs {
        let rate = |k: Kind| {
            buckets
                .iter()
                .find(|b| b.kind == k)
                .and_then(|b| b.rate)
                .unwrap_or(0.0)
        };
        Needs {
            cpu_credits_per_hour: rate(Kind::Cpu),
            ebs_mb_s: rate(Kind::EbsBandwidth),
            ebs_iops: rate(Kind::EbsIops),
            network_mb_s: rate(Kind::Network),
        }
    }

    /// Does a type with these baselines carry the use? A baseline the type
    /// does not publish is not held against it.
    pub fn fit(&self, t: &InstanceType, b: &Baseline) -> bool {
        let ok = |base: Option<f64>, need: f64| base.is_none_or(|v| v >= need);
        t.credits_per_hour >= self.cpu_credits_per_hour
            && ok(b.ebs_mb_s(), self.ebs_mb_s)
            && ok(b.ebs_iops, self.ebs_iops)
            && ok(b.network_mb_s(), self.network_mb_s)
    }
}

/// Should `credits` suggest a resize: a bucket empties within a day, or the
/// network runs above its baseline.
pub fn needs_resize(buckets: &[Bucket]) -> bool {
    buckets.iter().any(|b| {
        b.state == State::OverBaseline
            || b.state
                .hours_to_empty()
                .is_some_and(|h| h <= credits::HINT_HORIZON_HOURS)
    })
}

/// A resize that covers every bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Hint {
    /// The cheapest larger type of the family whose baselines carry the use.
    Resize(&'static InstanceType),
    /// Not even the largest size of the family carries it.
    NoneBigEnough(&'static InstanceType),
}

/// The cheapest type of `t`'s family and architecture, larger than `t`,
/// whose baselines (from `baselines`, by type name) carry `needs`.
pub fn resize_hint(t: &InstanceType, needs: &Needs, baselines: &[(String, Baseline)]) -> Hint {
    let mut same: Vec<&'static InstanceType> = instance_types::TABLE
        .iter()
        .filter(|c| credits::family(c.name) == credits::family(t.name) && c.arch == t.arch)
        .collect();
    same.sort_by(|a, b| a.usd_per_hour.total_cmp(&b.usd_per_hour));
    let base = |name: &str| {
        baselines
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| *b)
            .unwrap_or_default()
    };
    same.iter()
        .copied()
        .find(|c| c.usd_per_hour > t.usd_per_hour && needs.fit(c, &base(c.name)))
        .map(Hint::Resize)
        .unwrap_or_else(|| {
            Hint::NoneBigEnough(
                same.last()
                    .copied()
                    .unwrap_or_else(|| instance_types::lookup(t.name).expect("table type")),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance_types::lookup;

    const T0: i64 = 1_800_000_000;

    fn line(n: usize, start: f64, step: f64) -> Vec<Point> {
        (0..n)
            .map(|i| Point {
                t: T0 + i as i64 * PERIOD_SECS,
                v: start + step * i as f64,
            })
            .collect()
    }

    /// DescribeInstanceTypes' figures for the t3 family.
    fn t3_baselines() -> Vec<(String, Baseline)> {
        [
            ("t3.nano", 0.032, 43.0, 250.0),
            ("t3.micro", 0.064, 87.0, 500.0),
            ("t3.small", 0.128, 174.0, 1000.0),
            ("t3.medium", 0.256, 347.0, 2000.0),
            ("t3.large", 0.512, 695.0, 4000.0),
            ("t3.xlarge", 1.024, 695.0, 4000.0),
            ("t3.2xlarge", 2.048, 695.0, 4000.0),
        ]
        .into_iter()
        .map(|(n, g, m, i)| {
            (
                n.to_string(),
                Baseline {
                    network_gbps: Some(g),
                    ebs_mbps: Some(m),
                    ebs_iops: Some(i),
                },
            )
        })
        .collect()
    }

    fn micro_base() -> Baseline {
        t3_baselines()[1].1
    }

    #[test]
    fn ebs_draining_empties_first_and_the_hint_covers_it() {
        let t = lookup("t3.micro").unwrap();
        // EBS byte balance 100 → 45% over an hour (-60%/h from the first
        // to the last of 12 points spanning 55 minutes); writing 20 MB/s.
        let s = Series {
            ebs_byte_balance: line(12, 100.0, -5.0),
            ebs_io_balance: line(12, 100.0, 0.0),
            ebs_bytes: line(12, 20e6 * 300.0, 0.0),
            ebs_ops: line(12, 300.0 * 300.0, 0.0),
            network_in: line(12, 6e6 * 300.0, 0.0),
            network_out: line(12, 1e6 * 300.0, 0.0),
            ..Default::default()
        };
        let b = analyze(t, &micro_base(), &s, None);
        assert_eq!(b.len(), 4);
        assert_eq!(b[0].state, State::NoData);
        let ebs = &b[1];
        assert_eq!(ebs.balance_pct, Some(45.0));
        assert_eq!(ebs.rate, Some(20.0));
        assert_eq!(ebs.baseline, Some(10.875));
        let h = ebs.state.hours_to_empty().unwrap();
        assert!((h - 45.0 / 60.0).abs() < 1e-9, "{h}");
        assert_eq!(b[2].state, State::Balance(Projection::Full));
        assert_eq!(b[2].rate, Some(300.0));
        // Network: 6 MB/s in (the busier side) of an 8 MB/s baseline.
        assert_eq!(b[3].rate, Some(6.0));
        assert_eq!(b[3].baseline, Some(8.0));
        assert_eq!(b[3].state, State::WithinBaseline);
        assert_eq!(b[3].use_pct(), Some(75.0));
        let (first, hours) = first_to_empty(&b).unwrap();
        assert_eq!(first.kind, Kind::EbsBandwidth);
        assert!((hours - 0.75).abs() < 1e-9);
        assert!(needs_resize(&b));
        // 20 MB/s needs 160 Mbps of EBS baseline: t3.small has 174.
        let needs = Needs::of(&b);
        assert_eq!(
            resize_hint(t, &needs, &t3_baselines()),
            Hint::Resize(lookup("t3.small").unwrap())
        );
    }

    #[test]
    fn network_over_baseline_asks_for_a_bigger_type() {
        let t = lookup("t3.micro").unwrap();
        let s = Series {
            network_out: line(12, 20e6 * 300.0, 0.0),
            ..Default::default()
        };
        let b = analyze(t, &micro_base(), &s, None);
        assert_eq!(b[3].state, State::OverBaseline);
        assert_eq!(b[1].state, State::NoData);
        assert!(first_to_empty(&b).is_none());
        assert!(needs_resize(&b));
        // 20 MB/s of network needs 0.16 Gbps: t3.medium (0.256).
        assert_eq!(
            resize_hint(t, &Needs::of(&b), &t3_baselines()),
            Hint::Resize(lookup("t3.medium").unwrap())
        );
        // More than the largest carries.
        let huge = Needs {
            network_mb_s: 1000.0,
            ..Default::default()
        };
        assert_eq!(
            resize_hint(t, &huge, &t3_baselines()),
            Hint::NoneBigEnough(lookup("t3.2xlarge").unwrap())
        );
    }

    #[test]
    fn the_hint_stays_in_the_family_and_architecture() {
        // 20 credits/h: t4g.micro earns 12, t4g.small 24 (never a t3).
        let needs = Needs {
            cpu_credits_per_hour: 20.0,
            ..Default::default()
        };
        assert_eq!(
            resize_hint(lookup("t4g.micro").unwrap(), &needs, &[]),
            Hint::Resize(lookup("t4g.small").unwrap())
        );
        // 36 credits/h: t3.small and t3.medium earn 24, t3.large 36.
        let needs = Needs {
            cpu_credits_per_hour: 36.0,
            ..Default::default()
        };
        assert_eq!(
            resize_hint(lookup("t3.micro").unwrap(), &needs, &t3_baselines()),
            Hint::Resize(lookup("t3.large").unwrap())
        );
    }

    #[test]
    fn quiet_instance_needs_nothing() {
        let t = lookup("t3.micro").unwrap();
        let s = Series {
            ebs_byte_balance: line(12, 100.0, 0.0),
            ebs_io_balance: line(12, 80.0, 1.0),
            ebs_bytes: line(12, 1e6, 0.0),
            network_out: line(12, 1e6, 0.0),
            ..Default::default()
        };
        let b = analyze(t, &micro_base(), &s, None);
        assert_eq!(b[1].state, State::Balance(Projection::Full));
        assert_eq!(b[2].state, State::Balance(Projection::Accruing));
        assert_eq!(b[3].state, State::WithinBaseline);
        assert!(first_to_empty(&b).is_none());
        assert!(!needs_resize(&b));
    }

    #[test]
    fn empty_bucket_is_first_and_unpublished_baselines_do_not_block() {
        let t = lookup("t3.micro").unwrap();
        let s = Series {
            ebs_io_balance: line(3, 0.0, 0.0),
            ..Default::default()
        };
        let b = analyze(t, &micro_base(), &s, None);
        assert_eq!(b[2].state, State::Balance(Projection::Empty));
        assert_eq!(first_to_empty(&b).unwrap().1, 0.0);
        // A t2 publishes no EBS baseline: EBS needs do not rule it out.
        let t2 = lookup("t2.micro").unwrap();
        let needs = Needs {
            ebs_mb_s: 100.0,
            ..Default::default()
        };
        assert!(needs.fit(t2, &Baseline::default()));
    }
}
