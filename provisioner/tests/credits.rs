//! `skiff credits` against moto, on CPU-credit curves seeded with
//! PutMetricData into `AWS/EC2` (moto accepts it there; AWS would not)
//! with the instance's InstanceId and timestamps in the past: a draining
//! curve, an accruing one, no data, `--json` field by field, and `--watch`.

use crate::common::*;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use std::io::{BufRead, BufReader};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Puts `values` of `metric` for `instance`, five minutes apart, the last
/// one `end_ago` seconds ago.
async fn seed(moto: &Moto, instance: &str, metric: &str, values: &[f64], end_ago: i64) {
    let cw = cloudwatch(moto).await;
    let last = now() - end_ago;
    let n = values.len() as i64;
    let data: Vec<MetricDatum> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            MetricDatum::builder()
                .metric_name(metric)
                .dimensions(
                    Dimension::builder()
                        .name("InstanceId")
                        .value(instance)
                        .build(),
                )
                .timestamp(DateTime::from_secs(last - (n - 1 - i as i64) * 300))
                .value(*v)
                .build()
        })
        .collect();
    for chunk in data.chunks(20) {
        cw.put_metric_data()
            .namespace("AWS/EC2")
            .set_metric_data(Some(chunk.to_vec()))
            .send()
            .await
            .unwrap();
    }
}

/// A deployment without waiting for a broker; returns its instance id.
async fn deployed(moto: &Moto, home: &std::path::Path) -> String {
    Skiff::new(moto, home)
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    instance_id(&ec2(moto).await).await
}

/// t3.micro (earns 12/h = 1 per period) spending 3 credits per period
/// (36/h) for two hours: 166 down to 120, net -24/h, empty in 5 hours.
async fn seed_draining(moto: &Moto, id: &str) {
    let balance: Vec<f64> = (0..24).map(|i| 166.0 - 2.0 * i as f64).collect();
    seed(moto, id, "CPUCreditBalance", &balance, 120).await;
    seed(moto, id, "CPUCreditUsage", &[3.0; 24], 120).await;
    seed(moto, id, "CPUUtilization", &[30.0; 24], 120).await;
    seed(moto, id, "CPUSurplusCreditsCharged", &[0.5, 0.5], 120).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn draining_curve_projects_time_to_empty_and_a_resize() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let id = deployed(&moto, home.path()).await;
    seed_draining(&moto, &id).await;

    moto.clear_recording();
    let run = Skiff::new(&moto, home.path())
        .run(&["credits"])
        .ok()
        .stdout_has(&[
            format!("instance:    {id} (t3.micro, credit mode standard)"),
            "balance:     120.0 of 288 credits (42%)".to_string(),
            "earn rate:   12.0 credits/h".to_string(),
            "burn rate:   36.0 credits/h".to_string(),
            "net:         -24.0 credits/h".to_string(),
            "projection:  empty in 5 h 0 min".to_string(),
            "surplus:     1.0 credits charged".to_string(),
            "cpu:         30.0% average".to_string(),
            "balance over the last 24 h (24 points):".to_string(),
            "288 |".to_string(),
            "  0 |".to_string(),
            "`skiff resize t3.large` earns 36 credits/h".to_string(),
        ]);
    let out = &run.stdout;
    // The chart has bars: the balance is 40-58% of the maximum.
    assert!(out.lines().any(|l| l.contains("|#")), "{out}");
    // One read call for the five metrics at 5-minute periods.
    let calls = moto.calls();
    let gmd: Vec<_> = calls.iter().filter(|(a, _)| a == "GetMetricData").collect();
    assert_eq!(gmd.len(), 1, "{calls:?}");
    let body = &gmd[0].1;
    for m in [
        "CPUCreditBalance",
        "CPUCreditUsage",
        "CPUSurplusCreditBalance",
        "CPUSurplusCreditsCharged",
        "CPUUtilization",
    ] {
        assert!(body.contains(&format!("MetricName={m}")), "{m}: {body}");
    }
    assert!(body.contains("Period=300"), "{body}");
    assert!(body.contains(&format!("Value={id}")), "{body}");
    assert!(mutating(calls).is_empty());

    // --json, field by field.
    let run = Skiff::new(&moto, home.path())
        .run(&["credits", "--json", "--since", "6h"])
        .ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(v["instance_id"], id.as_str());
    assert_eq!(v["instance_type"], "t3.micro");
    assert_eq!(v["credit_mode"], "standard");
    assert_eq!(v["since_seconds"], 6 * 3600);
    assert_eq!(v["period_seconds"], 300);
    assert_eq!(v["datapoints"], 24);
    assert_eq!(v["balance"], 120.0);
    assert_eq!(v["max_balance"], 288.0);
    assert!((v["balance_pct"].as_f64().unwrap() - 41.666).abs() < 0.01);
    assert_eq!(v["earn_per_hour"], 12.0);
    assert_eq!(v["burn_per_hour"], 36.0);
    assert_eq!(v["net_per_hour"], -24.0);
    assert_eq!(v["projection"], "draining");
    assert_eq!(v["hours_to_empty"], 5.0);
    assert!(v["empty_at"].as_str().unwrap().ends_with('Z'), "{v}");
    assert!(v["latest"].as_str().is_some());
    assert_eq!(v["surplus_charged"], 1.0);
    assert_eq!(v["surplus_balance"], serde_json::Value::Null);
    assert_eq!(v["cpu_utilization_avg_pct"], 30.0);
    assert_eq!(v["resize_hint"]["instance_type"], "t3.large");
    assert_eq!(v["resize_hint"]["credits_per_hour"], 36.0);
    assert_eq!(v["resize_hint"]["covers_burn"], true);
    let series = v["balance_series"].as_array().unwrap();
    assert_eq!(series.len(), 24);
    assert_eq!(series[0]["value"], 166.0);
    assert_eq!(series[23]["value"], 120.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn accruing_curve_says_accruing_and_no_data_says_so() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let id = deployed(&moto, home.path()).await;

    // A new instance: no datapoints yet is a message, not an error.
    let run = Skiff::new(&moto, home.path()).run(&["credits"]).ok();
    assert!(
        run.stdout
            .contains("no data yet, first points come 5–10 minutes after launch"),
        "{}",
        run.stdout
    );
    let run = Skiff::new(&moto, home.path())
        .run(&["credits", "--json"])
        .ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["projection"], "no_data");
    assert_eq!(v["datapoints"], 0);
    assert_eq!(v["instance_id"], id.as_str());

    // Earning 1 per period, spending 0.5: +6/h from 50.
    let balance: Vec<f64> = (0..12).map(|i| 50.0 + 0.5 * i as f64).collect();
    seed(&moto, &id, "CPUCreditBalance", &balance, 60).await;
    seed(&moto, &id, "CPUCreditUsage", &[0.5; 12], 60).await;
    let run = Skiff::new(&moto, home.path()).run(&["credits"]).ok();
    assert!(
        run.stdout
            .contains("projection:  accruing (+6.0 credits/h)"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("skiff resize"), "{}", run.stdout);
    let run = Skiff::new(&moto, home.path())
        .run(&["credits", "--json"])
        .ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["projection"], "accruing");
    assert_eq!(v["balance"], 55.5);
    assert_eq!(v["hours_to_empty"], serde_json::Value::Null);
    assert_eq!(v["resize_hint"], serde_json::Value::Null);

    // Bad --since is refused before any call.
    let run = Skiff::new(&moto, home.path())
        .run(&["credits", "--since", "1y"])
        .fails();
    assert!(run.stderr.contains("--since"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_prints_again_when_datapoints_arrive_until_interrupted() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let id = deployed(&moto, home.path()).await;
    let mut child = Skiff::new(&moto, home.path())
        .env("SKIFF_WATCH_INTERVAL", "1")
        .spawn(&["credits", "--watch", "--json"]);
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("first report");
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["projection"], "no_data");
    // Nothing new: nothing printed.
    assert!(rx.recv_timeout(Duration::from_millis(2500)).is_err());
    seed_draining(&moto, &id).await;
    let second = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("second report");
    let v: serde_json::Value = serde_json::from_str(&second).unwrap();
    assert_eq!(v["projection"], "draining");
    // Ctrl-C ends it cleanly.
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// Every burst bucket: seeded EBS balances and traffic on a t3.micro (EBS
/// baseline 87 Mbps = 10.875 MB/s and 500 IOPS, network 0.064 Gbps = 8 MB/s,
/// as moto's DescribeInstanceTypes reports like EC2's). The CPU credits
/// drain in 5 h, the EBS byte balance in 45 min: EBS empties first, and the
/// resize hint must carry both (36 credits/h and 20 MB/s of EBS: t3.large).
#[tokio::test(flavor = "multi_thread")]
async fn every_burst_bucket_and_the_one_that_empties_first() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let id = deployed(&moto, home.path()).await;
    seed_draining(&moto, &id).await;
    // The last hour: EBS byte balance 100 → 45% (-60 %/h), 20 MB/s written,
    // the I/O balance full at 300 IOPS, the network at 6 MB/s in.
    let ebs: Vec<f64> = (0..12).map(|i| 100.0 - 5.0 * i as f64).collect();
    seed(&moto, &id, "EBSByteBalance%", &ebs, 120).await;
    seed(&moto, &id, "EBSIOBalance%", &[100.0; 12], 120).await;
    seed(&moto, &id, "EBSWriteBytes", &[15e6 * 300.0; 12], 120).await;
    seed(&moto, &id, "EBSReadBytes", &[5e6 * 300.0; 12], 120).await;
    seed(&moto, &id, "EBSWriteOps", &[250.0 * 300.0; 12], 120).await;
    seed(&moto, &id, "EBSReadOps", &[50.0 * 300.0; 12], 120).await;
    seed(&moto, &id, "NetworkIn", &[6e6 * 300.0; 12], 120).await;
    seed(&moto, &id, "NetworkOut", &[1e6 * 300.0; 12], 120).await;

    moto.clear_recording();
    let run = Skiff::new(&moto, home.path())
        .run(&["credits"])
        .ok()
        .stdout_has(&[
            "burst buckets",
            "  CPU credits      42%  36.0 credits/h of 12.0 credits/h earned (300%)   empty in 5 h 0 min",
            "  EBS bandwidth    45%  20.00 MB/s of 10.88 MB/s baseline (184%)         empty in 45 min",
            "  EBS I/O         100%  300.0 IOPS of 500.0 IOPS baseline (60%)          full",
            "  network            -  6.00 MB/s of 8.00 MB/s baseline (75%)            within baseline",
            "empties first: EBS bandwidth, in 45 min",
            "EBS bandwidth at 20.00 MB/s runs out within a day",
            "`skiff resize t3.large` earns 36 credits/h on its baseline, EBS 86.9 MB/s and 4000 IOPS",
        ]);
    assert!(
        run.stdout
            .contains("hint: at 36.0 credits/h the balance runs out within a day; "),
        "{}",
        run.stdout
    );
    // One GetMetricData for all 13 metrics, one DescribeInstanceTypes for
    // the family's baselines, and nothing that changes anything.
    let calls = moto.calls();
    let gmd: Vec<_> = calls.iter().filter(|(a, _)| a == "GetMetricData").collect();
    assert_eq!(gmd.len(), 1, "{calls:?}");
    for m in [
        "EBSByteBalance%",
        "EBSIOBalance%",
        "EBSWriteBytes",
        "EBSReadOps",
        "NetworkIn",
        "NetworkOut",
    ] {
        assert!(
            gmd[0].1.contains(&format!("MetricName={m}")),
            "{m}: {}",
            gmd[0].1
        );
    }
    let dit: Vec<_> = calls
        .iter()
        .filter(|(a, _)| a == "DescribeInstanceTypes")
        .collect();
    assert_eq!(dit.len(), 1, "{calls:?}");
    assert!(dit[0].1.contains("t3.2xlarge"), "{}", dit[0].1);
    assert!(mutating(calls).is_empty());

    let run = Skiff::new(&moto, home.path())
        .run(&["credits", "--json"])
        .ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    let b = v["buckets"].as_array().unwrap();
    let kinds: Vec<_> = b.iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["cpu_credits", "ebs_bandwidth", "ebs_iops", "network"]
    );
    assert_eq!(b[0]["state"], "draining");
    assert_eq!(b[0]["hours_to_empty"], 5.0);
    assert_eq!(b[1]["state"], "draining");
    assert_eq!(b[1]["balance_pct"], 45.0);
    assert_eq!(b[1]["rate"], 20.0);
    assert_eq!(b[1]["baseline"], 10.875);
    assert_eq!(b[1]["unit"], "MB/s");
    assert_eq!(b[1]["hours_to_empty"], 0.75);
    assert!(b[1]["empty_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(b[2]["state"], "full");
    assert_eq!(b[2]["rate"], 300.0);
    assert_eq!(b[2]["baseline"], 500.0);
    assert_eq!(b[3]["state"], "within_baseline");
    assert_eq!(b[3]["rate"], 6.0);
    assert_eq!(b[3]["baseline"], 8.0);
    assert_eq!(b[3]["use_pct"], 75.0);
    assert_eq!(v["empties_first"]["kind"], "ebs_bandwidth");
    assert_eq!(v["empties_first"]["hours_to_empty"], 0.75);
    assert_eq!(v["resize_hint"]["instance_type"], "t3.large");
    assert_eq!(v["resize_hint"]["covers_burn"], true);
    assert_eq!(v["resize_hint"]["reasons"].as_array().unwrap().len(), 2);

    // Network above its baseline with nothing draining: no "empties
    // first", but a hint for a type whose network baseline carries it.
    let quiet = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let id = deployed(&quiet, home.path()).await;
    seed(&quiet, &id, "CPUCreditBalance", &[288.0; 12], 60).await;
    seed(&quiet, &id, "CPUCreditUsage", &[0.5; 12], 60).await;
    seed(&quiet, &id, "NetworkOut", &[20e6 * 300.0; 12], 60).await;
    let run = Skiff::new(&quiet, home.path())
        .run(&["credits", "--json"])
        .ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["buckets"][3]["state"], "over_baseline");
    assert_eq!(v["empties_first"], serde_json::Value::Null);
    // 20 MB/s needs 0.16 Gbps: t3.medium has 0.256.
    assert_eq!(v["resize_hint"]["instance_type"], "t3.medium");
}
