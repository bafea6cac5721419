//! `skiff credits [--since 24h] [--watch] [--json]`: the CPU-credit balance
//! of the deployment's instance against its type's maximum, earn vs burn
//! rate, the projected time until empty, surplus charged (unlimited mode),
//! a chart of the balance; then every burst bucket (CPU credits, EBS
//! bandwidth and I/O, network against its baseline), the one that empties
//! first and, when one runs out within a day or the network runs above its
//! baseline, the `skiff resize` that carries the observed use on all of
//! them. The arithmetic is in `crate::credits` and `crate::buckets`; this
//! module fetches and prints.

use crate::aws::inventory::Inventory;
use crate::aws::{self, api, metrics, Clients};
use crate::buckets::{self, Baseline, Bucket, Hint, Kind, Needs, State};
use crate::config::Overrides;
use crate::cost::HOURS_PER_MONTH;
use crate::credits::{self, Analysis, Projection, Series, PERIOD_SECS};
use crate::instance_types::{self, InstanceType};
use crate::printer::Printer;
use crate::Global;
use anyhow::{anyhow, bail, Result};
use aws_sdk_cloudwatch::primitives::{DateTime, DateTimeFormat};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(clap::Args, Debug)]
pub struct CreditsArgs {
    /// How far back to look: a duration such as 6h, 90m, 2d or 1h30m
    /// (from 5m to 63d).
    #[arg(long, default_value = "24h", value_parser = parse_since)]
    pub since: u64,
    /// Refresh until interrupted (Ctrl-C), polling CloudWatch every 5
    /// minutes: EC2's basic monitoring has a new datapoint only every 5
    /// minutes. Not free: each poll is a GetMetricData request for 13
    /// metrics, billed at $0.01 per 1,000 metrics requested (us-east-1),
    /// about $0.04 a day of watching.
    #[arg(long)]
    pub watch: bool,
    /// Print JSON (one object per refresh with --watch) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Seconds between the polls of `--watch`: CloudWatch's basic monitoring
/// publishes EC2 metrics at 5-minute resolution, so polling more often
/// only pays for the same datapoints again.
pub const WATCH_INTERVAL_SECS: u64 = 300;

/// What a day of `--watch` costs in GetMetricData requests, in USD
/// ($0.01 per 1,000 metrics requested, us-east-1).
pub fn watch_usd_per_day(interval_secs: u64) -> f64 {
    let polls = 86_400.0 / interval_secs.max(1) as f64;
    polls * metrics::METRICS_PER_POLL as f64 * 0.01 / 1000.0
}

/// The message for an instance without datapoints yet.
pub const NO_DATA: &str = "no data yet, first points come 5–10 minutes after launch";
/// CloudWatch keeps 5-minute datapoints for 63 days.
const MAX_SINCE_SECS: u64 = 63 * 86_400;

/// Parses `--since` (`90m`, `24h`, `2d`, `1h30m`, humantime's syntax)
/// into whole seconds.
pub fn parse_since(s: &str) -> Result<u64, String> {
    let secs = humantime::parse_duration(s)
        .map_err(|e| format!("`{s}`: {e}; expected a duration such as 6h, 90m or 2d"))?
        .as_secs();
    if secs < PERIOD_SECS as u64 || secs > MAX_SINCE_SECS {
        return Err(format!(
            "`{s}`: from 5m (one period) to 63d (CloudWatch keeps 5-minute data that long)"
        ));
    }
    Ok(secs)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn rfc3339(t: i64) -> String {
    DateTime::from_secs(t)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_default()
}

/// What one report is about.
struct Target {
    instance_id: String,
    instance_type: &'static InstanceType,
    credit_mode: String,
    since: u64,
    /// The baselines of every type of the instance's family (the instance's
    /// own among them), from DescribeInstanceTypes; empty if that failed.
    baselines: Vec<(String, Baseline)>,
}

impl Target {
    fn baseline(&self) -> Baseline {
        self.baselines
            .iter()
            .find(|(n, _)| n == self.instance_type.name)
            .map(|(_, b)| *b)
            .unwrap_or_default()
    }
}

/// Prints the report once, or with `--watch` whenever new datapoints
/// arrive. JSON or text is the printer's format (`--json`).
pub async fn run(g: &Global, out: &Printer, a: &CreditsArgs) -> Result<()> {
    let config = super::load_config(g, Overrides::default())?;
    let clients = aws::connect(config.region.as_deref()).await?;
    let inv = Inventory::load(&clients, &config.name).await?;
    let Some(instance) = inv.instance() else {
        bail!(
            "deployment `{}` has no instance in {}; run `skiff up` first",
            config.name,
            clients.region
        );
    };
    let instance_type = instance_types::lookup(&instance.instance_type).ok_or_else(|| {
        anyhow!(
            "instance {} is {}, which is not a burstable type skiff knows",
            instance.id,
            instance.instance_type
        )
    })?;
    let family: Vec<&str> = instance_types::TABLE
        .iter()
        .filter(|t| {
            credits::family(t.name) == credits::family(instance_type.name)
                && t.arch == instance_type.arch
        })
        .map(|t| t.name)
        .collect();
    let baselines = match aws::type_info::baselines(&clients.ec2, &family).await {
        Ok(b) => b,
        Err(e) => {
            out.warn(format!(
                "{e}; the EBS and network buckets are shown without baselines"
            ));
            Vec::new()
        }
    };
    let target = Target {
        instance_id: instance.id.clone(),
        instance_type,
        credit_mode: credit_mode(&clients, &instance.id).await,
        since: a.since,
        baselines,
    };
    let cw = clients.cloudwatch();

    if !a.watch {
        let series = fetch(&cw, &target).await?;
        print_report(out, &target, &series);
        return Ok(());
    }
    let interval = Duration::from_secs(g.hooks.watch_interval.unwrap_or(WATCH_INTERVAL_SECS));
    out.info(format!(
        "watching: a poll every {} s, each a GetMetricData request for {} metrics \
         (billed: ${:.3} a day at $0.01 per 1,000 metrics); Ctrl-C stops",
        interval.as_secs(),
        metrics::METRICS_PER_POLL,
        watch_usd_per_day(interval.as_secs())
    ));
    let mut shown: Option<Option<i64>> = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let series = match fetch(&cw, &target).await {
            Ok(s) => s,
            // A failed poll (network, throttling) is retried at the next
            // tick; the first one must work.
            Err(e) if shown.is_some() => {
                out.warn(format!("{e:#}; trying again in {} s", interval.as_secs()));
                tokio::select! {
                    _ = &mut ctrl_c => return Ok(()),
                    _ = tokio::time::sleep(interval) => {}
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let newest = series.newest();
        if shown != Some(newest) {
            if shown.is_some() {
                out.out(format!(
                    "\n--- new datapoints ({} UTC) ---",
                    credits::clock(now())
                ));
            }
            print_report(out, &target, &series);
            shown = Some(newest);
        }
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// The instance's credit mode as EC2 reports it ("unknown" if it cannot).
async fn credit_mode(clients: &Clients, id: &str) -> String {
    match clients
        .ec2
        .describe_instance_credit_specifications()
        .instance_ids(id)
        .send()
        .await
        .map_err(api("read the credit specification"))
    {
        Ok(out) => out
            .instance_credit_specifications()
            .first()
            .and_then(|c| c.cpu_credits())
            .unwrap_or("unknown")
            .to_string(),
        Err(e) => {
            tracing::warn!("{e}");
            "unknown".into()
        }
    }
}

async fn fetch(cw: &aws_sdk_cloudwatch::Client, t: &Target) -> Result<Series> {
    let end = now();
    let start = end - t.since as i64;
    Ok(metrics::fetch(cw, &t.instance_id, start, end).await?)
}

/// Everything one report shows, computed once.
struct Report {
    analysis: Option<Analysis>,
    buckets: Vec<Bucket>,
    hint: Option<Hint>,
}

fn report(t: &Target, series: &Series) -> Report {
    let analysis = credits::analyze(t.instance_type, series);
    let buckets = buckets::analyze(t.instance_type, &t.baseline(), series, analysis.as_ref());
    let hint = buckets::needs_resize(&buckets)
        .then(|| buckets::resize_hint(t.instance_type, &Needs::of(&buckets), &t.baselines));
    Report {
        analysis,
        buckets,
        hint,
    }
}

fn print_report(out: &Printer, t: &Target, series: &Series) {
    let r = report(t, series);
    if out.is_json() {
        out.json(&to_json(t, series, &r));
        return;
    }
    match &r.analysis {
        None => {
            out.out(format!(
                "instance:    {} ({}, credit mode {})",
                t.instance_id, t.instance_type.name, t.credit_mode
            ));
            out.out(NO_DATA);
        }
        Some(a) => out.out(text(t, series, a).trim_end_matches('\n')),
    }
    let has_data = r.buckets.iter().any(|b| b.state != State::NoData);
    if has_data {
        out.out(buckets_text(t, &r).trim_end_matches('\n'));
    }
}

/// "45 min (around 12:34 UTC)" or "now" for a bucket's time to empty.
fn when(latest: i64, hours: f64) -> String {
    if hours <= 0.0 {
        "now".into()
    } else {
        format!(
            "in {} (around {} UTC)",
            credits::format_hours(hours),
            credits::clock(latest + (hours * 3600.0) as i64)
        )
    }
}

fn number(v: f64, unit: &str) -> String {
    match unit {
        "MB/s" => format!("{v:.2} {unit}"),
        _ => format!("{v:.1} {unit}"),
    }
}

fn bucket_line(b: &Bucket, latest: i64) -> String {
    let balance = b
        .balance_pct
        .map(|p| format!("{p:.0}%"))
        .unwrap_or_else(|| "-".into());
    let usage = match (b.rate, b.baseline) {
        (Some(r), Some(base)) => format!(
            "{} of {} {} ({:.0}%)",
            number(r, b.unit),
            number(base, b.unit),
            if b.kind == Kind::Cpu {
                "earned"
            } else {
                "baseline"
            },
            100.0 * r / base.max(f64::MIN_POSITIVE)
        ),
        (Some(r), None) => format!("{} (baseline not published)", number(r, b.unit)),
        (None, _) => "no data".into(),
    };
    let state = match b.state {
        State::NoData => "no data".to_string(),
        State::Balance(Projection::Empty) => "empty".into(),
        State::Balance(Projection::Draining { hours_to_empty }) => {
            format!("empty {}", when(latest, hours_to_empty))
        }
        State::Balance(Projection::Accruing) => "refilling".into(),
        State::Balance(Projection::Full) => "full".into(),
        State::WithinBaseline => "within baseline".into(),
        State::OverBaseline => "above baseline: throttled once its burst allowance is spent".into(),
    };
    format!(
        "  {:<14} {:>5}  {:<48} {state}",
        b.kind.label(),
        balance,
        usage
    )
}

fn buckets_text(t: &Target, r: &Report) -> String {
    let latest = r.analysis.as_ref().map(|a| a.latest).unwrap_or_else(now);
    let mut s = String::new();
    s.push_str(&format!(
        "\nburst buckets (CPU over {} h, EBS and network over the last {} min):\n",
        credits::RATE_WINDOW_SECS / 3600,
        buckets::RATE_WINDOW_SECS / 60
    ));
    for b in &r.buckets {
        s.push_str(&bucket_line(b, latest));
        s.push('\n');
    }
    match buckets::first_to_empty(&r.buckets) {
        Some((b, h)) => s.push_str(&format!(
            "empties first: {}, {}\n",
            b.kind.label(),
            when(latest, h)
        )),
        None if r.buckets.iter().any(|b| b.state == State::OverBaseline) => s.push_str(
            "empties first: none is draining, but the network is above its baseline \
             (AWS does not publish its burst allowance)\n",
        ),
        None => s.push_str("empties first: none, every bucket is steady or refilling\n"),
    }
    if let Some(h) = r.hint {
        s.push('\n');
        s.push_str(&hint_text(t, r, h));
        s.push('\n');
    }
    s
}

/// Why the hint is given, bucket by bucket.
fn reasons(r: &Report) -> Vec<String> {
    r.buckets
        .iter()
        .filter_map(|b| {
            let rate = b.rate.unwrap_or(0.0);
            match b.state {
                State::OverBaseline => Some(format!(
                    "the network at {} is above its {} baseline",
                    number(rate, b.unit),
                    number(b.baseline.unwrap_or(0.0), b.unit)
                )),
                st if st
                    .hours_to_empty()
                    .is_some_and(|h| h <= credits::HINT_HORIZON_HOURS) =>
                {
                    Some(if b.kind == Kind::Cpu {
                        format!("at {rate:.1} credits/h the balance runs out within a day")
                    } else {
                        format!(
                            "{} at {} runs out within a day",
                            b.kind.label(),
                            number(rate, b.unit)
                        )
                    })
                }
                _ => None,
            }
        })
        .collect()
}

fn hint_text(t: &Target, r: &Report, h: Hint) -> String {
    let it = t.instance_type;
    let why = reasons(r).join("; ");
    let base = |name: &str| {
        t.baselines
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| *b)
            .unwrap_or_default()
    };
    let baselines = |to: &InstanceType| {
        let b = base(to.name);
        let mut parts = vec![format!(
            "earns {:.0} credits/h on its baseline",
            to.credits_per_hour
        )];
        if let (Some(e), Some(i)) = (b.ebs_mb_s(), b.ebs_iops) {
            parts.push(format!("EBS {e:.1} MB/s and {i:.0} IOPS"));
        }
        if let Some(n) = b.network_mb_s() {
            parts.push(format!("network {n:.0} MB/s"));
        }
        parts.join(", ")
    };
    match h {
        Hint::Resize(to) => format!(
            "hint: {why}; `skiff resize {}` {} ({} vCPU, {} GiB, ${:.2}/month instead of ${:.2})",
            to.name,
            baselines(to),
            to.vcpus,
            to.memory_gib,
            monthly(to),
            monthly(it)
        ),
        Hint::NoneBigEnough(largest) => format!(
            "hint: {why}; even {} ({}) does not carry this on its baselines; consider \
             credit_mode: unlimited, a non-burstable type, or less traffic",
            largest.name,
            baselines(largest)
        ),
    }
}

fn monthly(it: &InstanceType) -> f64 {
    it.usd_per_hour * HOURS_PER_MONTH
}

fn text(t: &Target, series: &Series, a: &Analysis) -> String {
    let it = t.instance_type;
    let mut s = String::new();
    let mut line = |l: String| {
        s.push_str(&l);
        s.push('\n');
    };
    line(format!(
        "instance:    {} ({}, credit mode {})",
        t.instance_id, it.name, t.credit_mode
    ));
    line(format!(
        "balance:     {:.1} of {:.0} credits ({:.0}%) at {} UTC",
        a.balance,
        a.max,
        a.balance_pct(),
        credits::clock(a.latest)
    ));
    line(format!(
        "earn rate:   {:.1} credits/h (baseline {}% per vCPU, {} vCPU)",
        a.earn_per_hour, it.baseline_pct, it.vcpus
    ));
    line(format!(
        "burn rate:   {:.1} credits/h (average of the last {} h)",
        a.burn_per_hour,
        credits::RATE_WINDOW_SECS / 3600
    ));
    line(format!("net:         {:+.1} credits/h", a.net_per_hour()));
    let projection = match a.projection {
        Projection::Empty if t.credit_mode == "unlimited" => {
            "empty: bursting on surplus credits, which are billed".to_string()
        }
        Projection::Empty => "empty: the instance is held at its baseline".to_string(),
        Projection::Draining { hours_to_empty } => format!(
            "empty in {} (around {} UTC)",
            credits::format_hours(hours_to_empty),
            credits::clock(a.latest + (hours_to_empty * 3600.0) as i64)
        ),
        Projection::Accruing => format!("accruing ({:+.1} credits/h)", a.net_per_hour()),
        Projection::Full => "accruing: at the maximum (more earned credits are discarded)".into(),
    };
    line(format!("projection:  {projection}"));
    if t.credit_mode == "unlimited" || a.surplus_charged > 0.0 {
        line(format!(
            "surplus:     {:.1} credits charged in the window, surplus balance {}",
            a.surplus_charged,
            a.surplus_balance
                .map(|b| format!("{b:.1}"))
                .unwrap_or_else(|| "n/a".into())
        ));
    }
    if let Some(cpu) = a.cpu_avg_pct {
        line(format!(
            "cpu:         {cpu:.1}% average (baseline {}%)",
            it.baseline_pct
        ));
    }
    line(String::new());
    line(format!(
        "balance over the last {} ({} points):",
        since_text(t.since),
        series.balance.len()
    ));
    for l in credits::chart(&series.balance, a.max, 60, 8) {
        line(format!("  {l}"));
    }
    s
}

fn since_text(secs: u64) -> String {
    if secs >= 2 * 86_400 && secs.checked_rem(86_400) == Some(0) {
        format!("{} d", secs / 86_400)
    } else if secs.checked_rem(3600) == Some(0) {
        format!("{} h", secs / 3600)
    } else {
        format!("{} min", secs / 60)
    }
}

fn bucket_json(b: &Bucket, latest: i64) -> Value {
    json!({
        "kind": b.kind.key(),
        "state": b.state.key(),
        "balance_pct": b.balance_pct,
        "rate": b.rate,
        "baseline": b.baseline,
        "unit": b.unit,
        "use_pct": b.use_pct(),
        "hours_to_empty": b.state.hours_to_empty(),
        "empty_at": b.state.hours_to_empty().map(|h| rfc3339(latest + (h * 3600.0) as i64)),
    })
}

fn to_json(t: &Target, series: &Series, r: &Report) -> Value {
    let a = r.analysis.as_ref();
    let mut v = json!({
        "instance_id": t.instance_id,
        "instance_type": t.instance_type.name,
        "credit_mode": t.credit_mode,
        "since_seconds": t.since,
        "period_seconds": PERIOD_SECS,
        "datapoints": series.balance.len(),
        "max_balance": t.instance_type.max_credits,
        "earn_per_hour": t.instance_type.credits_per_hour,
    });
    let o = v.as_object_mut().expect("object");
    let latest = a.map(|a| a.latest).unwrap_or_else(now);
    o.insert(
        "buckets".into(),
        Value::Array(r.buckets.iter().map(|b| bucket_json(b, latest)).collect()),
    );
    o.insert(
        "empties_first".into(),
        buckets::first_to_empty(&r.buckets)
            .map(|(b, h)| {
                json!({
                    "kind": b.kind.key(),
                    "hours_to_empty": h,
                    "empty_at": rfc3339(latest + (h * 3600.0) as i64),
                })
            })
            .unwrap_or(Value::Null),
    );
    let hint = match r.hint {
        Some(Hint::Resize(to)) => json!({
            "instance_type": to.name,
            "credits_per_hour": to.credits_per_hour,
            "covers_burn": true,
            "reasons": reasons(r),
        }),
        Some(Hint::NoneBigEnough(to)) => json!({
            "instance_type": to.name,
            "credits_per_hour": to.credits_per_hour,
            "covers_burn": false,
            "reasons": reasons(r),
        }),
        None => Value::Null,
    };
    o.insert("resize_hint".into(), hint);
    let Some(a) = a else {
        o.insert("projection".into(), json!("no_data"));
        o.insert("message".into(), json!(NO_DATA));
        return v;
    };
    let (hours, at) = match a.projection {
        Projection::Draining { hours_to_empty } => (
            json!(hours_to_empty),
            json!(rfc3339(a.latest + (hours_to_empty * 3600.0) as i64)),
        ),
        Projection::Empty => (json!(0.0), json!(rfc3339(a.latest))),
        _ => (Value::Null, Value::Null),
    };
    for (k, val) in [
        ("latest", json!(rfc3339(a.latest))),
        ("balance", json!(a.balance)),
        ("balance_pct", json!(a.balance_pct())),
        ("burn_per_hour", json!(a.burn_per_hour)),
        ("net_per_hour", json!(a.net_per_hour())),
        ("projection", json!(a.projection.state())),
        ("hours_to_empty", hours),
        ("empty_at", at),
        ("surplus_balance", json!(a.surplus_balance)),
        ("surplus_charged", json!(a.surplus_charged)),
        ("cpu_utilization_avg_pct", json!(a.cpu_avg_pct)),
        (
            "balance_series",
            Value::Array(
                series
                    .balance
                    .iter()
                    .map(|p| json!({"time": rfc3339(p.t), "value": p.v}))
                    .collect(),
            ),
        ),
    ] {
        o.insert(k.into(), val);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_polls_every_five_minutes_and_the_help_names_the_cost() {
        assert_eq!(WATCH_INTERVAL_SECS, 300);
        // The help says 13 metrics and about $0.04 a day.
        assert_eq!(metrics::METRICS_PER_POLL, 13);
        let day = watch_usd_per_day(WATCH_INTERVAL_SECS);
        assert!((day - 0.03744).abs() < 1e-9, "{day}");
        use clap::CommandFactory;
        let help = crate::Cli::command()
            .find_subcommand_mut("credits")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(help.contains("every 5"), "{help}");
        assert!(help.contains("GetMetricData"), "{help}");
        assert!(help.contains("$0.01 per 1,000 metrics"), "{help}");
    }

    #[test]
    fn since_parsing() {
        assert_eq!(parse_since("24h"), Ok(86_400));
        assert_eq!(parse_since("90m"), Ok(5400));
        assert_eq!(parse_since("2d"), Ok(172_800));
        assert_eq!(parse_since("600s"), Ok(600));
        // humantime's syntax: combined units and fractions too.
        assert_eq!(parse_since("1h30m"), Ok(5400));
        assert_eq!(parse_since("1.5h"), Ok(5400));
        for bad in ["", "h", "24", "24x", "-1h", "1m", "64d", "1y"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }
}
