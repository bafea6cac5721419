//! CPU-credit arithmetic for `skiff credits`: from the CloudWatch series of
//! a burstable instance to the balance against the type's maximum, the earn
//! and burn rates, the projected time until the balance is empty, a resize
//! hint, and a plain-text chart of the balance.
//!
//! Pure functions on numbers (no AWS types), so the projection is unit
//! tested here and the command only fetches and prints.
//!
//! Definitions (one credit = one vCPU at 100% for one minute):
//! - earn rate: the type's credits per hour (constant; credits earned while
//!   the balance is at its maximum are discarded);
//! - burn rate: CPUCreditUsage per hour, averaged over the last
//!   [`RATE_WINDOW_SECS`] of data (recent use, not the whole day); without
//!   usage points it is derived from CPUUtilization;
//! - projection: balance / (burn - earn) when burning faster than earning.

use crate::instance_types::InstanceType;

/// CloudWatch period of the credit metrics (they exist at 5 minutes only).
pub const PERIOD_SECS: i64 = 300;
/// The recent stretch of data the burn rate is averaged over.
pub const RATE_WINDOW_SECS: i64 = 3 * 3600;
/// A projection to empty within this many hours brings a resize hint.
pub const HINT_HORIZON_HOURS: f64 = 24.0;
/// Below this balance (credits) the bucket counts as empty.
const EMPTY_BELOW: f64 = 1.0;

/// One datapoint: Unix time in seconds and the value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t: i64,
    pub v: f64,
}

/// The five metrics of one instance, each sorted by time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// CPUCreditBalance (Average per period).
    pub balance: Vec<Point>,
    /// CPUCreditUsage (Sum per period: credits spent in 5 minutes).
    pub usage: Vec<Point>,
    /// CPUSurplusCreditBalance (Maximum; unlimited mode only).
    pub surplus_balance: Vec<Point>,
    /// CPUSurplusCreditsCharged (Sum; unlimited mode only).
    pub surplus_charged: Vec<Point>,
    /// CPUUtilization in percent of the whole instance (Average).
    pub utilization: Vec<Point>,
    /// EBSByteBalance% (Average): the EBS bandwidth burst bucket, in percent
    /// (Nitro instances only).
    pub ebs_byte_balance: Vec<Point>,
    /// EBSIOBalance% (Average): the EBS I/O burst bucket, in percent.
    pub ebs_io_balance: Vec<Point>,
    /// EBSReadBytes + EBSWriteBytes (Sum per period, bytes), added up.
    pub ebs_bytes: Vec<Point>,
    /// EBSReadOps + EBSWriteOps (Sum per period), added up.
    pub ebs_ops: Vec<Point>,
    /// NetworkIn (Sum per period, bytes).
    pub network_in: Vec<Point>,
    /// NetworkOut (Sum per period, bytes).
    pub network_out: Vec<Point>,
}

impl Series {
    /// Sorts every series by time (CloudWatch returns newest first); the
    /// summed series (`ebs_bytes`, `ebs_ops`) add up points of one period.
    pub fn sort(&mut self) {
        for s in [
            &mut self.balance,
            &mut self.usage,
            &mut self.surplus_balance,
            &mut self.surplus_charged,
            &mut self.utilization,
            &mut self.ebs_byte_balance,
            &mut self.ebs_io_balance,
            &mut self.network_in,
            &mut self.network_out,
        ] {
            s.sort_by_key(|p| p.t);
            s.dedup_by_key(|p| p.t);
        }
        for s in [&mut self.ebs_bytes, &mut self.ebs_ops] {
            s.sort_by_key(|p| p.t);
            s.dedup_by(|later, first| {
                let same = later.t == first.t;
                if same {
                    first.v += later.v;
                }
                same
            });
        }
    }

    /// The newest timestamp of any series (for `--watch`).
    pub fn newest(&self) -> Option<i64> {
        [
            &self.balance,
            &self.usage,
            &self.surplus_balance,
            &self.surplus_charged,
            &self.utilization,
            &self.ebs_byte_balance,
            &self.ebs_io_balance,
            &self.ebs_bytes,
            &self.ebs_ops,
            &self.network_in,
            &self.network_out,
        ]
        .iter()
        .filter_map(|s| s.last().map(|p| p.t))
        .max()
    }
}

/// Where the balance is heading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Projection {
    /// Nothing left: standard mode runs at baseline, unlimited pays surplus.
    Empty,
    /// Burning faster than earning: empty in this many hours.
    Draining { hours_to_empty: f64 },
    /// Earning at least as fast as burning, below the maximum.
    Accruing,
    /// At the maximum and not burning it down.
    Full,
}

impl Projection {
    /// The short name used in `--json`.
    pub fn state(&self) -> &'static str {
        match self {
            Projection::Empty => "empty",
            Projection::Draining { .. } => "draining",
            Projection::Accruing => "accruing",
            Projection::Full => "full",
        }
    }
}

/// Everything `skiff credits` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Time of the newest balance point.
    pub latest: i64,
    pub balance: f64,
    pub max: f64,
    /// Credits earned per hour.
    pub earn_per_hour: f64,
    /// Credits spent per hour (recent average).
    pub burn_per_hour: f64,
    pub projection: Projection,
    /// Newest CPUSurplusCreditBalance, if the metric has data.
    pub surplus_balance: Option<f64>,
    /// CPUSurplusCreditsCharged summed over the whole series.
    pub surplus_charged: f64,
    /// Average CPUUtilization over the whole series, in percent.
    pub cpu_avg_pct: Option<f64>,
}

impl Analysis {
    pub fn net_per_hour(&self) -> f64 {
        self.earn_per_hour - self.burn_per_hour
    }
    pub fn balance_pct(&self) -> f64 {
        if self.max > 0.0 {
            100.0 * self.balance / self.max
        } else {
            0.0
        }
    }
}

pub(crate) fn mean(points: &[Point]) -> Option<f64> {
    (!points.is_empty()).then(|| points.iter().map(|p| p.v).sum::<f64>() / points.len() as f64)
}

/// The points no older than `window` seconds before `latest`.
pub(crate) fn recent(points: &[Point], latest: i64, window: i64) -> &[Point] {
    let from = points.partition_point(|p| p.t <= latest - window);
    &points[from..]
}

/// Analyses the series of an instance of type `t`; `None` without any
/// balance datapoint (a new instance: the first come 5–10 minutes after
/// launch).
pub fn analyze(t: &'static InstanceType, s: &Series) -> Option<Analysis> {
    let last = *s.balance.last()?;
    let newest = s.newest().unwrap_or(last.t);
    let earn = t.credits_per_hour;
    let periods_per_hour = 3600.0 / PERIOD_SECS as f64;

    let usage = recent(&s.usage, newest, RATE_WINDOW_SECS);
    let util = recent(&s.utilization, newest, RATE_WINDOW_SECS);
    let burn = if let Some(m) = mean(usage) {
        m * periods_per_hour
    } else if let Some(u) = mean(util) {
        u / 100.0 * f64::from(t.vcpus) * 60.0
    } else {
        // Only balances: the slope is earn - burn (while below the max).
        let b = recent(&s.balance, newest, RATE_WINDOW_SECS);
        let first = b.first().copied().unwrap_or(last);
        let hours = (last.t - first.t) as f64 / 3600.0;
        if hours > 0.0 {
            (earn - (last.v - first.v) / hours).max(0.0)
        } else {
            0.0
        }
    };

    let balance = last.v.max(0.0);
    let net = earn - burn;
    let projection = if balance < EMPTY_BELOW && net <= 0.0 {
        Projection::Empty
    } else if net < 0.0 {
        Projection::Draining {
            hours_to_empty: balance / -net,
        }
    } else if balance >= t.max_credits - EMPTY_BELOW {
        Projection::Full
    } else {
        Projection::Accruing
    };

    Some(Analysis {
        latest: last.t,
        balance,
        max: t.max_credits,
        earn_per_hour: earn,
        burn_per_hour: burn,
        projection,
        surplus_balance: s.surplus_balance.last().map(|p| p.v),
        surplus_charged: s.surplus_charged.iter().map(|p| p.v).sum(),
        cpu_avg_pct: mean(&s.utilization),
    })
}

/// The family of a type name: `t3` of `t3.micro`.
pub fn family(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// "3 h 20 min", "45 min", "2.5 days".
pub fn format_hours(h: f64) -> String {
    if !h.is_finite() {
        return "never".into();
    }
    let mins = (h * 60.0).round() as i64;
    if mins < 60 {
        format!("{mins} min")
    } else if h < 48.0 {
        format!("{} h {} min", mins / 60, mins % 60)
    } else {
        format!("{:.1} days", h / 24.0)
    }
}

/// `HH:MM` (UTC) of a Unix time.
pub fn clock(t: i64) -> String {
    let s = t.rem_euclid(86_400);
    format!("{:02}:{:02}", s / 3600, (s % 3600) / 60)
}

/// A plain-ASCII column chart of the balance between 0 and `max`: `height`
/// rows of at most `width` columns (each column the lowest balance of its
/// time slice), a y axis with 0 and the maximum, and the first and last
/// time (UTC) under it.
pub fn chart(points: &[Point], max: f64, width: usize, height: usize) -> Vec<String> {
    if points.is_empty() || width == 0 || height == 0 || max <= 0.0 {
        return Vec::new();
    }
    let cols = points.len().min(width);
    let column: Vec<f64> = (0..cols)
        .map(|c| {
            let from = c * points.len() / cols;
            let to = ((c + 1) * points.len() / cols).max(from + 1);
            points[from..to]
                .iter()
                .map(|p| p.v)
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let top = format!("{max:.0}");
    let pad = top.len().max(1);
    let mut lines = Vec::with_capacity(height + 2);
    for row in (0..height).rev() {
        // A cell is filled when the value reaches the middle of its band.
        let level = max * (row as f64 + 0.5) / height as f64;
        let cells: String = column
            .iter()
            .map(|v| if *v >= level { '#' } else { ' ' })
            .collect();
        let label = if row + 1 == height {
            top.clone()
        } else if row == 0 {
            "0".to_string()
        } else {
            String::new()
        };
        lines.push(format!("{label:>pad$} |{}", cells.trim_end()));
    }
    lines.push(format!("{:>pad$} +{}", "", "-".repeat(cols)));
    let first = clock(points[0].t);
    let last = clock(points[points.len() - 1].t);
    let gap = cols.saturating_sub(first.len() + last.len()).max(1);
    lines.push(format!(
        "{:>pad$}  {first}{}{last} UTC",
        "",
        " ".repeat(gap)
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance_types::lookup;

    const T0: i64 = 1_800_000_000;

    /// `n` five-minute points from `start` changing by `step` each period.
    fn line(n: usize, start: f64, step: f64) -> Vec<Point> {
        (0..n)
            .map(|i| Point {
                t: T0 + i as i64 * PERIOD_SECS,
                v: start + step * i as f64,
            })
            .collect()
    }

    fn micro() -> &'static InstanceType {
        lookup("t3.micro").unwrap()
    }

    #[test]
    fn no_balance_is_no_analysis() {
        assert!(analyze(micro(), &Series::default()).is_none());
    }

    #[test]
    fn draining_projects_time_to_empty_and_hints_a_size() {
        // t3.micro earns 12/h = 1 per 5 min; spends 3 per 5 min (36/h):
        // net -24/h, so 120 credits last 5 hours.
        let s = Series {
            balance: line(24, 120.0 + 2.0 * 23.0, -2.0),
            usage: line(24, 3.0, 0.0),
            ..Default::default()
        };
        let a = analyze(micro(), &s).unwrap();
        assert_eq!(a.balance, 120.0);
        assert_eq!(a.max, 288.0);
        assert_eq!((a.earn_per_hour, a.burn_per_hour), (12.0, 36.0));
        assert_eq!(a.net_per_hour(), -24.0);
        match a.projection {
            Projection::Draining { hours_to_empty } => assert!((hours_to_empty - 5.0).abs() < 1e-9),
            p => panic!("{p:?}"),
        }
        assert_eq!(format_hours(5.0), "5 h 0 min");
    }

    #[test]
    fn slow_drain_gives_no_hint() {
        // 13/h against 12/h: 200 credits last 200 hours.
        let s = Series {
            balance: line(12, 200.0, 0.0),
            usage: line(12, 13.0 / 12.0, 0.0),
            ..Default::default()
        };
        let a = analyze(micro(), &s).unwrap();
        assert!(
            matches!(a.projection, Projection::Draining { hours_to_empty } if (hours_to_empty - 200.0).abs() < 1e-6)
        );
    }

    #[test]
    fn accruing_and_full() {
        let s = Series {
            balance: line(12, 50.0, 0.5),
            usage: line(12, 0.5, 0.0),
            ..Default::default()
        };
        let a = analyze(micro(), &s).unwrap();
        assert_eq!(a.projection, Projection::Accruing);
        assert_eq!(a.projection.state(), "accruing");
        let s = Series {
            balance: line(12, 288.0, 0.0),
            usage: line(12, 0.2, 0.0),
            ..Default::default()
        };
        assert_eq!(analyze(micro(), &s).unwrap().projection, Projection::Full);
    }

    #[test]
    fn empty_when_throttled_at_baseline() {
        // Standard mode with no credits: usage equals the earn rate.
        let s = Series {
            balance: line(12, 0.0, 0.0),
            usage: line(12, 1.0, 0.0),
            ..Default::default()
        };
        let a = analyze(micro(), &s).unwrap();
        assert_eq!(a.projection, Projection::Empty);
    }

    #[test]
    fn burn_only_counts_the_recent_window() {
        // 10 hours idle, then 1 hour at 6 credits per 5 min.
        let mut usage = line(120, 0.0, 0.0);
        usage.extend(line(12, 6.0, 0.0).into_iter().map(|p| Point {
            t: p.t + 120 * PERIOD_SECS,
            ..p
        }));
        let s = Series {
            balance: vec![Point {
                t: usage.last().unwrap().t,
                v: 100.0,
            }],
            usage,
            ..Default::default()
        };
        let a = analyze(micro(), &s).unwrap();
        // Last 3 h = 36 periods: 24 idle and 12 at 6 → 72 credits in 3 h.
        assert!((a.burn_per_hour - 24.0).abs() < 1e-9, "{}", a.burn_per_hour);
    }

    #[test]
    fn burn_from_utilization_without_usage() {
        // 30% of 2 vCPUs for an hour = 36 credits.
        let s = Series {
            balance: line(12, 100.0, 0.0),
            utilization: line(12, 30.0, 0.0),
            ..Default::default()
        };
        let a = analyze(micro(), &s).unwrap();
        assert!((a.burn_per_hour - 36.0).abs() < 1e-9);
        assert_eq!(a.cpu_avg_pct, Some(30.0));
    }

    #[test]
    fn surplus_is_summed() {
        let s = Series {
            balance: line(3, 0.0, 0.0),
            surplus_balance: line(3, 5.0, 1.0),
            surplus_charged: line(3, 2.0, 0.0),
            ..Default::default()
        };
        let a = analyze(micro(), &s).unwrap();
        assert_eq!(a.surplus_balance, Some(7.0));
        assert_eq!(a.surplus_charged, 6.0);
    }

    #[test]
    fn chart_shape() {
        let c = chart(&line(4, 0.0, 96.0), 288.0, 60, 3);
        assert_eq!(c.len(), 5, "{c:#?}");
        assert_eq!(c[0], "288 |   #");
        assert_eq!(c[1], "    |  ##");
        assert_eq!(c[2], "  0 | ###");
        assert_eq!(c[3], "    +----");
        assert!(c[4].contains("UTC"));
        // Wider than the width: columns take the lowest value of a slice.
        let c = chart(&line(100, 288.0, 0.0), 288.0, 10, 2);
        assert_eq!(c[0], "288 |##########");
        assert!(chart(&[], 288.0, 10, 2).is_empty());
    }

    #[test]
    fn clock_and_hours() {
        assert_eq!(clock(3600 * 25 + 60 * 7), "01:07");
        assert_eq!(format_hours(0.5), "30 min");
        assert_eq!(format_hours(72.0), "3.0 days");
    }
}
