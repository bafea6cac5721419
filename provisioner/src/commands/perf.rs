//! `skiff perf produce|consume`: load from this machine against the
//! deployment (or any broker with `--bootstrap`), with a progress bar
//! while it runs, then records/s, MB/s and latency percentiles; then, for
//! a deployment, what the run cost the instance according to CloudWatch:
//! CPU credits per GB against the type's earn rate, and bytes written to
//! EBS per payload byte. The load is in `crate::perf`, the cost arithmetic
//! in `crate::perf::cost`; this module checks the flags, connects, runs,
//! waits for CloudWatch and prints.

use crate::aws::usage::{self, Usage, METRICS_PER_CALL};
use crate::credits::{clock, format_hours};
use crate::instance_types;
use crate::kafka::{self, Deployment, Target, TargetArgs};
use crate::perf::cost::{self, Credits, Verdict};
use crate::perf::stats::Outcome;
use crate::perf::{consume, produce};
use crate::printer::Printer;
use crate::Global;
use anyhow::{anyhow, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const MAX_RECORDS: u64 = 100_000_000;
const MAX_SIZE: u64 = 1_000_000;
const MAX_RATE: u64 = 10_000_000;
const MAX_METRICS_WAIT: Duration = Duration::from_secs(30 * 60);

#[derive(clap::Args, Debug)]
pub struct PerfArgs {
    #[command(subcommand)]
    pub mode: PerfMode,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print one JSON object at the end instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum PerfMode {
    /// Produce records and measure throughput and acknowledgement latency.
    Produce(ProduceArgs),
    /// Consume a topic from its start and measure throughput.
    Consume(ConsumeArgs),
}

/// Flags of both modes.
#[derive(clap::Args, Debug)]
pub struct Common {
    /// The topic (produce creates it if it does not exist).
    #[arg(long, default_value = "skiff-perf", value_parser = super::topics::parse_topic)]
    pub topic: String,
    /// Records per second at most (1 to 10,000,000); default: as fast as possible.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_RATE))]
    pub rate: Option<u64>,
    /// Requests in flight at once on the connection (1 to 64).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub inflight: u16,
    /// With a deployment: how long to wait for CloudWatch's 5-minute
    /// datapoints of the run (up to 30m; 0 does not wait). Each poll is a
    /// billed GetMetricData call of 3 metrics.
    #[arg(long, default_value = "15m", value_parser = parse_wait)]
    pub metrics_wait: Duration,
}

#[derive(clap::Args, Debug)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub common: Common,
    /// Records to produce (1 to 100,000,000).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=MAX_RECORDS))]
    pub records: u64,
    /// Bytes of each record's value (0 to 1,000,000).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(0..=MAX_SIZE))]
    pub size: u64,
    /// Acknowledgements: all (after the commit), 1 (same on a single
    /// broker) or 0 (none: no latency figures).
    #[arg(long, default_value = "all", value_parser = parse_acks)]
    pub acks: i16,
    /// Largest batch in bytes (1,024 to 1,000,000; a record larger than
    /// this goes alone).
    #[arg(long, default_value_t = 65536, value_parser = clap::value_parser!(u64).range(1024..=1_000_000))]
    pub batch_bytes: u64,
    /// Partitions of the topic if produce creates it (1 to 1000).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=super::topics::MAX_PARTITIONS as i64))]
    pub partitions: i32,
}

#[derive(clap::Args, Debug)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Records to consume (1 to 100,000,000); default: what the topic
    /// holds when the run starts.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_RECORDS))]
    pub records: Option<u64>,
    /// Bytes asked per Fetch (65,536 to 16,777,216).
    #[arg(long, default_value_t = 4 << 20, value_parser = clap::value_parser!(i32).range(65536..=16 << 20))]
    pub fetch_bytes: i32,
    /// With --records: stop after this long without a new record (1s to 10m).
    #[arg(long, default_value = "10s", value_parser = parse_idle)]
    pub idle_timeout: Duration,
}

fn parse_duration(s: &str, max: Duration, min: Duration) -> Result<Duration, String> {
    let d = if s == "0" {
        Duration::ZERO
    } else {
        humantime::parse_duration(s)
            .map_err(|e| format!("`{s}`: {e}; expected a duration such as 90s or 10m"))?
    };
    if d < min || d > max {
        return Err(format!(
            "`{s}`: from {} to {}",
            humantime::format_duration(min),
            humantime::format_duration(max)
        ));
    }
    Ok(d)
}

fn parse_wait(s: &str) -> Result<Duration, String> {
    parse_duration(s, MAX_METRICS_WAIT, Duration::ZERO)
}

fn parse_idle(s: &str) -> Result<Duration, String> {
    parse_duration(s, Duration::from_secs(600), Duration::from_secs(1))
}

/// `all` (or -1), `1`, `0`.
fn parse_acks(s: &str) -> Result<i16, String> {
    match s {
        "all" | "-1" => Ok(-1),
        "1" => Ok(1),
        "0" => Ok(0),
        _ => Err(format!("`{s}`: expected all, 1 or 0")),
    }
}

fn acks_name(a: i16) -> &'static str {
    match a {
        -1 => "all",
        1 => "1",
        _ => "0",
    }
}

pub async fn run(g: &Global, out: &Printer, a: &PerfArgs) -> Result<()> {
    let target = kafka::target(g, &a.target).await?;
    let (common, result) = match &a.mode {
        PerfMode::Produce(p) => (&p.common, run_produce(out, &target, p).await),
        PerfMode::Consume(c) => (&c.common, run_consume(out, &target, c).await),
    };
    let (mut report, outcome, produced) =
        result.map_err(|e| match e.downcast::<kafka_client::Error>() {
            Ok(e) => kafka::explain(e, &target),
            Err(e) => e,
        })?;
    let cloudwatch = match &target.deployment {
        Some(d) => cloudwatch(g, out, d, &outcome, produced, common.metrics_wait).await?,
        None => {
            out.info("CPU credits and disk writes: only for a deployment (without --bootstrap)");
            Value::Null
        }
    };
    report["cloudwatch"] = cloudwatch;
    out.json(&report);
    Ok(())
}

type Run = Result<(Value, Outcome, bool)>;

async fn run_produce(out: &Printer, t: &Target, a: &ProduceArgs) -> Run {
    let mut conn = kafka::connect(t).await?;
    let topic = &a.common.topic;
    let meta = match conn.topic(topic).await {
        Ok(m) => m,
        Err(e) if e.kafka_code() == Some(3) => {
            conn.create_topic(topic, a.partitions, &[]).await?;
            out.info(format!(
                "created topic '{topic}' ({} partition{})",
                a.partitions,
                if a.partitions == 1 { "" } else { "s" }
            ));
            conn.topic(topic).await?
        }
        Err(e) => return Err(e.into()),
    };
    let mut partitions: Vec<i32> = meta.partitions.iter().map(|p| p.index).collect();
    partitions.sort_unstable();
    let s = produce::Settings {
        topic: topic.clone(),
        partitions: partitions.clone(),
        records: a.records,
        size: a.size as usize,
        rate: a.common.rate,
        acks: a.acks,
        batch_bytes: a.batch_bytes as usize,
        inflight: a.common.inflight as usize,
    };
    out.info(format!(
        "producing {} records of {} B to '{topic}' ({} partition{}) on {}: acks={}, batches of up to {} records ({} B), {} request{} in flight{}",
        a.records,
        a.size,
        partitions.len(),
        if partitions.len() == 1 { "" } else { "s" },
        t.addr,
        acks_name(a.acks),
        s.records_per_batch(),
        a.batch_bytes,
        a.common.inflight,
        if a.common.inflight == 1 { "" } else { "s" },
        a.common.rate.map(|r| format!(", at most {r} records/s")).unwrap_or_default()
    ));
    let bar = out.bar(a.records, "produce");
    let outcome = produce::run(conn, &s, &|n| bar.set_position(n)).await;
    bar.clear();
    let o = outcome?;
    out.out(format!(
        "produced {} records ({:.1} MB of values) in {:.2} s",
        o.records,
        o.bytes as f64 / 1e6,
        o.elapsed.as_secs_f64()
    ));
    print_figures(out, &o, "MB = 10^6 bytes of record values");
    match (&o.latency, o.confirmed) {
        (Some(l), _) => out.out(format!(
            "latency:     p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms (per record, {} to acknowledgement)",
            l.p50_ms,
            l.p95_ms,
            l.p99_ms,
            l.max_ms,
            if a.common.rate.is_some() { "from its due time at --rate" } else { "from its batch being built" }
        )),
        (None, Some(c)) => out.out(format!(
            "latency:     none with acks=0 (no acknowledgements); the end offsets moved by {c} of {} records sent",
            o.records
        )),
        (None, None) => {}
    }
    let mut report = base_json("produce", t, topic, partitions.len(), &o);
    report["record_size"] = json!(a.size);
    report["acks"] = json!(acks_name(a.acks));
    report["batch_bytes"] = json!(a.batch_bytes);
    report["records_per_batch"] = json!(s.records_per_batch());
    report["confirmed_by_offsets"] = json!(o.confirmed);
    Ok((report, o, true))
}

async fn run_consume(out: &Printer, t: &Target, a: &ConsumeArgs) -> Run {
    let mut conn = kafka::connect(t).await?;
    let topic = &a.common.topic;
    let meta = conn.topic(topic).await.map_err(|e| {
        if e.kafka_code() == Some(3) {
            anyhow!("topic '{topic}' does not exist; `skiff perf produce --topic {topic}` creates and fills it")
        } else {
            kafka::explain(e, t)
        }
    })?;
    let mut partitions: Vec<i32> = meta.partitions.iter().map(|p| p.index).collect();
    partitions.sort_unstable();
    let s = consume::Settings {
        topic: topic.clone(),
        partitions: partitions.clone(),
        records: a.records,
        rate: a.common.rate,
        inflight: a.common.inflight as usize,
        fetch_bytes: a.fetch_bytes,
        idle_timeout: a.idle_timeout,
    };
    out.info(format!(
        "consuming {} from '{topic}' ({} partition{}) on {}: fetches of up to {} B, one per partition and {} in flight at most{}",
        a.records.map(|n| format!("{n} records")).unwrap_or_else(|| "every record".into()),
        partitions.len(),
        if partitions.len() == 1 { "" } else { "s" },
        t.addr,
        a.fetch_bytes,
        a.common.inflight,
        a.common.rate.map(|r| format!(", at most {r} records/s")).unwrap_or_default()
    ));
    // The total is known only once the offsets are read; the bar then
    // shows the count against the asked number (or the topic's end).
    let bar = out.bar(a.records.unwrap_or(0), "consume");
    let consumed = consume::run(conn, &s, &|n| {
        if a.records.is_none() {
            bar.set_length_at_least(n);
        }
        bar.set_position(n)
    })
    .await;
    bar.clear();
    let c = consumed?;
    let o = c.outcome;
    if let Some(wanted) = c.short_of {
        out.warn(format!(
            "only {} of {wanted} records arrived: none came for {}",
            o.records,
            humantime::format_duration(a.idle_timeout)
        ));
    }
    out.out(format!(
        "consumed {} records ({:.1} MB of record batches) in {:.2} s",
        o.records,
        o.bytes as f64 / 1e6,
        o.elapsed.as_secs_f64()
    ));
    print_figures(out, &o, "MB = 10^6 bytes of record batches as stored");
    if let Some(l) = &o.latency {
        out.out(format!(
            "latency:     p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms (per Fetch round trip, {} fetches)",
            l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms, o.requests
        ));
    }
    let mut report = base_json("consume", t, topic, partitions.len(), &o);
    report["fetch_bytes"] = json!(a.fetch_bytes);
    report["short_of"] = json!(c.short_of);
    Ok((report, o, false))
}

fn print_figures(out: &Printer, o: &Outcome, mb: &str) {
    out.out(format!(
        "throughput:  {:.0} records/s, {:.2} MB/s ({mb})",
        o.records_per_sec(),
        o.mb_per_sec()
    ));
    if o.throttled_ms > 0 {
        out.out(format!(
            "throttled:   the broker asked for {} ms of pauses in all",
            o.throttled_ms
        ));
    }
}

fn base_json(mode: &str, t: &Target, topic: &str, partitions: usize, o: &Outcome) -> Value {
    json!({
        "mode": mode,
        "bootstrap": t.addr,
        "topic": topic,
        "partitions": partitions,
        "records": o.records,
        "bytes": o.bytes,
        "duration_seconds": o.elapsed.as_secs_f64(),
        "records_per_second": o.records_per_sec(),
        "mb_per_second": o.mb_per_sec(),
        "requests": o.requests,
        "throttled_ms": o.throttled_ms,
        "started_at": o.started,
        "ended_at": o.ended,
        "latency_ms": o.latency.map(|l| json!({
            "p50": l.p50_ms, "p95": l.p95_ms, "p99": l.p99_ms, "max": l.max_ms,
        })),
    })
}

/// Waits for (at most `wait`) and reports CloudWatch's view of the run.
async fn cloudwatch(
    g: &Global,
    out: &Printer,
    d: &Deployment,
    o: &Outcome,
    produced: bool,
    wait: Duration,
) -> Result<Value> {
    let Some(it) = instance_types::lookup(&d.instance_type) else {
        out.warn(format!(
            "{} is not a burstable type skiff knows: no credit figures",
            d.instance_type
        ));
        return Ok(Value::Null);
    };
    let (from, to) = cost::covered(o.started, o.ended);
    let run_secs = o.elapsed.as_secs_f64();
    let window = format!("{}–{} UTC", clock(from), clock(to));
    let cw = d.clients.cloudwatch();
    let interval = Duration::from_secs(g.hooks.watch_interval.unwrap_or(60));
    let deadline = Instant::now() + wait;
    let spinner = out.progress("CloudWatch");
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut polls = 0;
    let usage: Usage = loop {
        let u = usage::fetch(&cw, &d.instance_id, from - cost::PERIOD, to).await?;
        polls += 1;
        let missing = cost::missing(&u.credit_usage, from, to);
        if missing.is_empty() || Instant::now() >= deadline {
            break u;
        }
        spinner.set(format!(
            "waiting for CPUCreditUsage of {window} ({} of {} periods missing; CloudWatch publishes a period 5–10 min after it ends; Ctrl-C skips)",
            missing.len(),
            (to - from) / cost::PERIOD
        ));
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::select! {
            _ = &mut ctrl_c => {
                spinner.clear();
                out.warn("skipped waiting for CloudWatch; `skiff credits` shows the credits later");
                return Ok(json!({"instance_id": d.instance_id, "complete": false, "skipped": true}));
            }
            _ = tokio::time::sleep(interval.min(left)) => {}
        }
    };
    spinner.clear();
    let payload = if produced { o.bytes } else { 0 };
    let credits = cost::credits(
        it,
        &usage.credit_usage,
        &usage.credit_balance,
        (from, to),
        run_secs,
        payload,
    );
    let disk = if produced {
        cost::write_amplification(&usage.ebs_write_bytes, (from, to), run_secs, payload)
    } else {
        None
    };
    let mut v = json!({
        "instance_id": d.instance_id,
        "instance_type": it.name,
        "period_start": from,
        "period_end": to,
        "run_seconds": run_secs,
        "complete": credits.is_some(),
        "polls": polls,
        "metrics_per_poll": METRICS_PER_CALL,
    });
    out.out(format!(
        "CloudWatch ({}, {}; 5-minute periods {window}, the run took {:.0} s of them):",
        d.instance_id, it.name, run_secs
    ));
    let Some(c) = credits else {
        out.out(format!(
            "  CPU credits: CloudWatch has not published CPUCreditUsage for all of {window} yet \
             (it comes 5–10 minutes after a period ends); `skiff credits` shows it later, \
             or run again with a longer --metrics-wait"
        ));
        return Ok(v);
    };
    print_credits(out, it.max_credits, &c, run_secs);
    v["credits"] = credits_json(&c);
    if produced {
        match disk {
            Some((s, per_byte)) => {
                out.out(format!(
                    "  disk:        {per_byte:.2} bytes written to EBS per payload byte (EBSWriteBytes: {:.1} MB in the periods{}, {:.1} MB for the run)",
                    s.in_periods / 1e6,
                    idle_text(&s, 1e6, " MB"),
                    s.run / 1e6
                ));
                v["disk"] = json!({
                    "ebs_write_bytes_in_periods": s.in_periods,
                    "idle_per_period": s.idle_per_period,
                    "idle_subtracted": s.idle_subtracted,
                    "run_bytes": s.run,
                    "bytes_per_payload_byte": per_byte,
                });
            }
            None => out.out(format!(
                "  disk:        no EBSWriteBytes for all of {window} (the instance may not publish it)"
            )),
        }
    }
    Ok(v)
}

fn idle_text(s: &cost::Share, unit: f64, suffix: &str) -> String {
    match s.idle_per_period {
        Some(idle) => format!(
            ", minus {:.2}{suffix} for the time the run did not fill (the period before had {:.2}{suffix})",
            s.idle_subtracted / unit,
            idle / unit
        ),
        None => ", nothing subtracted for idle time (no datapoint for the period before)".into(),
    }
}

fn print_credits(out: &Printer, max: f64, c: &Credits, run_secs: f64) {
    out.out(format!(
        "  CPU credits: {:.2} for the run (CPUCreditUsage {:.2} in the periods{})",
        c.share.run,
        c.share.in_periods,
        idle_text(&c.share, 1.0, "")
    ));
    if let Some(per_gb) = c.per_gb {
        out.out(format!(
            "  per GB:      {per_gb:.1} credits per GB produced"
        ));
    }
    out.out(format!(
        "  burn:        {:.1} credits/h while the run lasted, against {:.1} earned per hour",
        c.burn_per_hour, c.earn_per_hour
    ));
    let verdict = match c.verdict {
        Verdict::FitsBaseline { share } => format!(
            "fits in the baseline: sustained, this workload uses {:.0}% of the credits the instance earns",
            share * 100.0
        ),
        Verdict::Drains {
            hours_from_balance,
            hours_from_full,
        } => {
            let now = match (hours_from_balance, c.balance) {
                (Some(h), Some(b)) => format!("the balance ({b:.1} credits) in {}", format_hours(h)),
                _ => "the balance".into(),
            };
            format!(
                "sustained, this workload would empty {now}, a full one ({max:.0}) in {}",
                format_hours(hours_from_full)
            )
        }
    };
    out.out(format!("  verdict:     {verdict}"));
    if let Some(mb) = c.baseline_mb_per_s {
        out.out(format!(
            "  baseline:    the earn rate carries about {mb:.2} MB/s of this workload"
        ));
    }
    if c.throttled() {
        out.out("  note:        the balance was empty during the run: the instance was held at its baseline (standard mode), so the run was throttled");
    }
    if run_secs < 60.0 {
        out.out("  note:        a run under a minute is mostly idle time of its 5-minute periods: a rough figure; run for several minutes (more --records) for a steady one");
    }
}

fn credits_json(c: &Credits) -> Value {
    let (verdict, share, from_balance, from_full) = match c.verdict {
        Verdict::FitsBaseline { share } => ("fits_baseline", Some(share), None, None),
        Verdict::Drains {
            hours_from_balance,
            hours_from_full,
        } => ("drains", None, hours_from_balance, Some(hours_from_full)),
    };
    json!({
        "usage_in_periods": c.share.in_periods,
        "idle_per_period": c.share.idle_per_period,
        "idle_subtracted": c.share.idle_subtracted,
        "run_credits": c.share.run,
        "credits_per_gb": c.per_gb,
        "burn_per_hour": c.burn_per_hour,
        "earn_per_hour": c.earn_per_hour,
        "verdict": verdict,
        "share_of_earn": share,
        "hours_to_empty_from_balance": from_balance,
        "hours_to_empty_from_full": from_full,
        "balance": c.balance,
        "balance_min": c.balance_min,
        "throttled": c.throttled(),
        "baseline_mb_per_second": c.baseline_mb_per_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        assert_eq!(parse_acks("all"), Ok(-1));
        assert_eq!(parse_acks("-1"), Ok(-1));
        assert_eq!(parse_acks("0"), Ok(0));
        assert!(parse_acks("2").is_err());
        assert_eq!(parse_wait("0"), Ok(Duration::ZERO));
        assert_eq!(parse_wait("15m"), Ok(Duration::from_secs(900)));
        assert!(parse_wait("31m").is_err());
        assert!(parse_idle("0").is_err());
        assert!(parse_idle("x").unwrap_err().contains("90s"));
    }
}
