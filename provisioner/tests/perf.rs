//! `skiff perf` against the real `skiff-broker` on 127.0.0.1: produce with
//! each acks setting, pacing, consume; and against a deployment made by
//! `skiff up` in moto whose broker address (the `SKIFF_PROBE_ADDR` hook) is
//! that local broker, with CPUCreditUsage, CPUCreditBalance and
//! EBSWriteBytes seeded in CloudWatch (PutMetricData into AWS/EC2, which
//! moto accepts and AWS would not) at the 5-minute periods of the run.

use crate::common::*;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn produce_and_consume_against_a_real_broker() {
    let Some(broker) = RealBroker::start() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let skiff = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--bootstrap", &broker.addr]);
        Skiff::bare(home.path()).run(&all)
    };
    // The default topic is created on first use; the text report.
    let run = skiff(&["perf", "produce", "--records", "3000", "--size", "200"])
        .ok()
        .stdout_has(&[
            "created topic 'skiff-perf' (1 partition)",
            "produced 3000 records (0.6 MB of values) in ",
            "records/s, ",
            " MB/s (MB = 10^6 bytes of record values)",
            "latency:     p50 ",
            "CPU credits and disk writes: only for a deployment",
        ]);
    assert!(run.stdout.contains(", p99 ") && run.stdout.contains(", max "));
    // --quiet keeps the results and drops the step lines.
    let run = skiff(&["perf", "produce", "--records", "10", "--quiet"]).ok();
    assert!(run.stdout.contains("produced 10 records"), "{}", run.stdout);
    assert!(!run.stdout.contains("producing"), "{}", run.stdout);

    // JSON: one object; every acks mode; the broker's count agrees.
    let mut total = 3010;
    for acks in ["all", "1", "0"] {
        let v = json(
            &skiff(&[
                "perf",
                "produce",
                "--records",
                "2500",
                "--size",
                "100",
                "--acks",
                acks,
                "--batch-bytes",
                "4096",
                "--json",
            ])
            .ok(),
        );
        total += 2500;
        assert_eq!(v["mode"], "produce");
        assert_eq!(v["acks"], acks);
        assert_eq!(v["records"], 2500);
        assert_eq!(v["bytes"], 250_000);
        assert_eq!(v["record_size"], 100);
        // 4096-byte batches hold 35 records of 100 bytes: 72 requests.
        assert_eq!(v["records_per_batch"], 35);
        assert_eq!(v["requests"], 72);
        assert!(v["records_per_second"].as_f64().unwrap() > 0.0);
        assert_eq!(v["cloudwatch"], serde_json::Value::Null);
        if acks == "0" {
            assert_eq!(v["latency_ms"], serde_json::Value::Null);
            assert_eq!(v["confirmed_by_offsets"], 2500);
        } else {
            let l = &v["latency_ms"];
            let (p50, p99, max) = (
                l["p50"].as_f64().unwrap(),
                l["p99"].as_f64().unwrap(),
                l["max"].as_f64().unwrap(),
            );
            assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{l}");
        }
    }
    let v = json(&skiff(&["topics", "describe", "skiff-perf", "--json"]).ok());
    assert_eq!(v["partitions"][0]["end_offset"], total);

    // --rate paces: 300 records at 1000/s take at least 0.25 s.
    let v = json(
        &skiff(&[
            "perf",
            "produce",
            "--records",
            "300",
            "--size",
            "10",
            "--rate",
            "1000",
            "--json",
        ])
        .ok(),
    );
    total += 300;
    assert_eq!(v["records_per_batch"], 5);
    assert!(v["duration_seconds"].as_f64().unwrap() >= 0.25, "{v}");

    // Consume reads everything the topic holds.
    let v = json(&skiff(&["perf", "consume", "--json"]).ok());
    assert_eq!(v["mode"], "consume");
    assert_eq!(v["records"], total);
    assert!(v["bytes"].as_u64().unwrap() > 3000 * 200, "{v}");
    assert!(v["latency_ms"]["p50"].as_f64().is_some(), "{v}");
    skiff(&["perf", "consume", "--records", "100"])
        .ok()
        .stdout_has(&["consumed ", "per Fetch round trip"]);
    // More than there is: stops after the idle timeout, says so.
    let run = skiff(&[
        "perf",
        "consume",
        "--records",
        "100000000",
        "--idle-timeout",
        "1s",
    ])
    .ok();
    assert!(
        run.stderr
            .contains(&format!("only {total} of 100000000 records arrived")),
        "{}",
        run.stderr
    );
    // Several partitions: produce spreads, consume reads them all.
    skiff(&["topics", "create", "wide", "--partitions", "4"]).ok();
    skiff(&[
        "perf",
        "produce",
        "--topic",
        "wide",
        "--records",
        "1000",
        "--batch-bytes",
        "2048",
    ])
    .ok();
    let v = json(&skiff(&["perf", "consume", "--topic", "wide", "--json"]).ok());
    assert_eq!(
        (v["records"].clone(), v["partitions"].clone()),
        (1000.into(), 4.into())
    );

    // A batch over the topic's max.message.bytes: the broker's refusal, named.
    skiff(&["topics", "create", "small", "-c", "max.message.bytes=2000"]).ok();
    skiff(&[
        "perf",
        "produce",
        "--topic",
        "small",
        "--records",
        "10",
        "--size",
        "5000",
    ])
    .fails()
    .stderr_has(&[
        "produce to 'small' partition 0: MESSAGE_TOO_LARGE",
        "max.message.bytes",
    ]);
    skiff(&["perf", "consume", "--topic", "absent"])
        .fails()
        .stderr_has(&["topic 'absent' does not exist; `skiff perf produce --topic absent`"]);
}

/// Puts `(period start, value)` points of `metric` for `instance`.
async fn seed(moto: &Moto, instance: &str, metric: &str, points: &[(i64, f64)]) {
    let data: Vec<MetricDatum> = points
        .iter()
        .map(|(t, v)| {
            MetricDatum::builder()
                .metric_name(metric)
                .dimensions(
                    Dimension::builder()
                        .name("InstanceId")
                        .value(instance)
                        .build(),
                )
                .timestamp(DateTime::from_secs(*t))
                .value(*v)
                .build()
        })
        .collect();
    cloudwatch(moto)
        .await
        .put_metric_data()
        .namespace("AWS/EC2")
        .set_metric_data(Some(data))
        .send()
        .await
        .unwrap();
}

/// A deployment in moto whose broker is the local one; the instance id.
async fn deployment(moto: &Moto, home: &std::path::Path, broker: &RealBroker) -> String {
    // This broker listens in plaintext.
    std::fs::write(home.join("skiff.yaml"), "security: plaintext\n").unwrap();
    Skiff::new(moto, home)
        .env("SKIFF_PROBE_ADDR", &broker.addr)
        .run(&["up", "--allow", ALLOW])
        .ok();
    instance_id(&ec2(moto).await).await
}

/// The start of the current period, after waiting out its last 20 s so a
/// short run stays inside it.
async fn period_with_room() -> i64 {
    let left = 300.0 - now() % 300.0;
    if left < 20.0 {
        tokio::time::sleep(Duration::from_secs_f64(left + 1.0)).await;
    }
    (now() as i64) / 300 * 300
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_on_a_deployment_reports_credits_per_gb_and_disk_writes() {
    let Some(broker) = RealBroker::start() else {
        return;
    };
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let id = deployment(&moto, home.path(), &broker).await;
    let p0 = period_with_room().await;
    // The period before: 0.6 credits, 1 MB written (idle). The run's
    // period: 3.0 credits, 21 MB written; balance 144.
    seed(&moto, &id, "CPUCreditUsage", &[(p0 - 300, 0.6), (p0, 3.0)]).await;
    seed(
        &moto,
        &id,
        "CPUCreditBalance",
        &[(p0 - 300, 150.0), (p0, 144.0)],
    )
    .await;
    seed(&moto, &id, "EBSWriteBytes", &[(p0 - 300, 1e6), (p0, 21e6)]).await;

    moto.clear_recording();
    let run = Skiff::new(&moto, home.path())
        .env("SKIFF_PROBE_ADDR", &broker.addr)
        .run(&[
            "perf",
            "produce",
            "--records",
            "10000",
            "--size",
            "1000",
            "--json",
        ])
        .ok();
    let v = json(&run);
    let d = v["duration_seconds"].as_f64().unwrap();
    let cw = &v["cloudwatch"];
    assert_eq!(cw["instance_id"], id.as_str());
    assert_eq!(cw["instance_type"], "t3.micro");
    assert_eq!(cw["complete"], true);
    assert_eq!(
        (cw["period_start"].as_i64(), cw["period_end"].as_i64()),
        (Some(p0), Some(p0 + 300))
    );
    assert_eq!(cw["polls"], 1, "the data was there: no wait");
    // 3.0 in the period, minus 0.6 for the (300 - d) s the run did not fill.
    let run_credits = 3.0 - 0.6 * (300.0 - d) / 300.0;
    let c = &cw["credits"];
    assert_eq!(c["usage_in_periods"], 3.0);
    assert_eq!(c["idle_per_period"], 0.6);
    let close = |x: &serde_json::Value, want: f64| {
        let x = x.as_f64().unwrap_or(f64::NAN);
        assert!(
            (x - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{x} != {want}: {c}"
        );
    };
    close(&c["run_credits"], run_credits);
    // 10 MB of values = 0.01 GB.
    close(&c["credits_per_gb"], run_credits / 0.01);
    close(&c["burn_per_hour"], run_credits * 3600.0 / d);
    assert_eq!(c["earn_per_hour"], 12.0);
    assert_eq!(c["verdict"], "drains");
    assert_eq!(c["balance"], 144.0);
    close(
        &c["hours_to_empty_from_balance"],
        144.0 / (run_credits * 3600.0 / d - 12.0),
    );
    close(
        &c["hours_to_empty_from_full"],
        288.0 / (run_credits * 3600.0 / d - 12.0),
    );
    close(
        &c["baseline_mb_per_second"],
        12.0 / (run_credits / 0.01) / 3.6,
    );
    // 21 MB minus 1 MB x (300 - d)/300, per 10 MB of payload.
    close(
        &cw["disk"]["bytes_per_payload_byte"],
        (21e6 - 1e6 * (300.0 - d) / 300.0) / 1e7,
    );
    // One GetMetricData for the three metrics over the run's periods and
    // the one before; nothing else but reads.
    let calls = moto.calls();
    let gmd: Vec<_> = calls.iter().filter(|(a, _)| a == "GetMetricData").collect();
    assert_eq!(gmd.len(), 1, "{calls:?}");
    for m in ["CPUCreditUsage", "CPUCreditBalance", "EBSWriteBytes"] {
        assert!(gmd[0].1.contains(&format!("MetricName={m}")), "{m}");
    }
    assert!(gmd[0].1.contains("Period=300"));
    assert!(mutating(calls).is_empty());

    // The text report says the same in words.
    let run = Skiff::new(&moto, home.path())
        .env("SKIFF_PROBE_ADDR", &broker.addr)
        .run(&["perf", "produce", "--records", "2000", "--size", "1000"])
        .ok()
        .stdout_has(&[
            format!("CloudWatch ({id}, t3.micro; 5-minute periods "),
            "  CPU credits: ".to_string(),
            "(CPUCreditUsage 3.00 in the periods, minus ".to_string(),
            "(the period before had 0.60)".to_string(),
            " credits per GB produced".to_string(),
            "against 12.0 earned per hour".to_string(),
            "sustained, this workload would empty the balance (144.0 credits) in ".to_string(),
            "bytes written to EBS per payload byte (EBSWriteBytes: 21.0 MB in the periods"
                .to_string(),
            "a run under a minute is mostly idle time".to_string(),
        ]);
    assert!(
        !run.stdout.contains("fits in the baseline"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_light_run_fits_the_baseline_and_missing_data_is_waited_for() {
    let Some(broker) = RealBroker::start() else {
        return;
    };
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let id = deployment(&moto, home.path(), &broker).await;
    let p0 = period_with_room().await;
    seed(&moto, &id, "CPUCreditUsage", &[(p0 - 300, 0.6)]).await;

    // No datapoint for the run's period yet: a short wait gives up and
    // says what to do, and the run itself still succeeds.
    let run = Skiff::new(&moto, home.path())
        .env("SKIFF_PROBE_ADDR", &broker.addr)
        .env("SKIFF_WATCH_INTERVAL", "1")
        .run(&[
            "perf",
            "produce",
            "--records",
            "100",
            "--metrics-wait",
            "2s",
        ])
        .ok()
        .stdout_has(&[
            "produced 100 records",
            "CloudWatch has not published CPUCreditUsage for all of",
            "`skiff credits` shows it later",
        ]);
    assert!(!run.stdout.contains("per GB"), "{}", run.stdout);

    // The datapoint arrives while perf waits: idle-level use during the
    // run (0.6 per period, as before it) fits in the baseline at 60%.
    let child = Skiff::new(&moto, home.path())
        .env("SKIFF_PROBE_ADDR", &broker.addr)
        .env("SKIFF_WATCH_INTERVAL", "1")
        .spawn(&[
            "perf",
            "produce",
            "--records",
            "100",
            "--metrics-wait",
            "60s",
            "--json",
        ]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    seed(&moto, &id, "CPUCreditUsage", &[(p0, 0.6)]).await;
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cw = &v["cloudwatch"];
    assert_eq!(cw["complete"], true, "{v}");
    assert!(cw["polls"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(cw["credits"]["verdict"], "fits_baseline");
    let share = cw["credits"]["share_of_earn"].as_f64().unwrap();
    assert!((share - 0.6).abs() < 1e-9, "{v}");
    // No EBSWriteBytes seeded: no disk figure, said plainly.
    assert_eq!(cw["disk"], serde_json::Value::Null);
    // Consume against a deployment: credits, no per-GB-produced figure.
    let run = Skiff::new(&moto, home.path())
        .env("SKIFF_PROBE_ADDR", &broker.addr)
        .run(&["perf", "consume"])
        .ok()
        .stdout_has(&["consumed 200 records", "fits in the baseline"]);
    assert!(!run.stdout.contains("per GB produced"), "{}", run.stdout);
    assert!(!run.stdout.contains("disk:"), "{}", run.stdout);
}
