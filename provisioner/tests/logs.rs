//! The broker's logs against moto: `up` makes the log group (with its
//! retention), the instance role whose only permission is writing to it,
//! and the instance profile the instance is launched with, and renders
//! the awslogs driver into the user data; `skiff logs` prints lines put
//! into moto's CloudWatch Logs, `--since` and `--lines` filter them,
//! `--follow` prints new ones; `log_retention_days: 0` makes none of it;
//! `down` removes it all.

use crate::common::*;
use base64::Engine;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn put(moto: &Moto, stream: &str, events: &[(i64, &str)]) {
    let logs = logs(moto).await;
    let _ = logs
        .create_log_stream()
        .log_group_name("/skiff/skiff")
        .log_stream_name(stream)
        .send()
        .await;
    let mut req = logs
        .put_log_events()
        .log_group_name("/skiff/skiff")
        .log_stream_name(stream);
    for (t, m) in events {
        req = req.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(*t)
                .message(*m)
                .build()
                .unwrap(),
        );
    }
    req.send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn up_sets_up_the_log_channel_and_logs_reads_it_back() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let skiff = || Skiff::new(&moto, home.path());
    skiff()
        .run(&["logs"])
        .fails()
        .stderr_has(&["no CloudWatch Logs group /skiff/skiff", "skiff logs --boot"]);
    skiff()
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok()
        .stdout_has(&[
            "[5/15] instance role",
            "created IAM role skiff-skiff-us-east-1 (logs:CreateLogStream and logs:PutLogEvents on /skiff/skiff, ssm:GetParameter on /skiff/skiff/tls-key and /skiff/skiff/tls-cert only)",
            "created log group /skiff/skiff (14 days)",
            "CloudWatch Logs: $0.50 per GB",
        ]);
    assert_eq!(role_profile_logs(&moto).await, (1, 1, 1));

    // The log group: retention and tags.
    let cwl = logs(&moto).await;
    let groups = cwl
        .describe_log_groups()
        .log_group_name_prefix("/skiff/skiff")
        .send()
        .await
        .unwrap();
    let g = &groups.log_groups()[0];
    assert_eq!(g.retention_in_days(), Some(14));
    // The role: trusted by EC2, one inline policy, writing to that group only.
    let iam = iam(&moto).await;
    let role = iam
        .get_role()
        .role_name("skiff-skiff-us-east-1")
        .send()
        .await
        .unwrap();
    let role = role.role().unwrap();
    assert!(role
        .tags()
        .iter()
        .any(|t| t.key() == "skiff:name" && t.value() == "skiff"));
    let trust = role.assume_role_policy_document().unwrap_or_default();
    let trust = if trust.starts_with('{') {
        trust.to_string()
    } else {
        percent_decode(trust)
    };
    assert!(trust.contains("ec2.amazonaws.com"), "{trust}");
    let names = iam
        .list_role_policies()
        .role_name("skiff-skiff-us-east-1")
        .send()
        .await
        .unwrap();
    assert_eq!(names.policy_names(), ["skiff-broker-logs"]);
    let attached = iam
        .list_attached_role_policies()
        .role_name("skiff-skiff-us-east-1")
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty());
    let doc = iam
        .get_role_policy()
        .role_name("skiff-skiff-us-east-1")
        .policy_name("skiff-broker-logs")
        .send()
        .await
        .unwrap();
    let doc = doc.policy_document();
    let doc: serde_json::Value = serde_json::from_str(&if doc.starts_with('{') {
        doc.to_string()
    } else {
        percent_decode(doc)
    })
    .unwrap();
    let st = doc["Statement"].as_array().unwrap();
    // Logs, and (security on by default) the TLS key and chain parameters.
    assert_eq!(st.len(), 2);
    assert_eq!(
        st[1]["Resource"],
        serde_json::json!([
            "arn:aws:ssm:us-east-1:123456789012:parameter/skiff/skiff/tls-key",
            "arn:aws:ssm:us-east-1:123456789012:parameter/skiff/skiff/tls-cert"
        ])
    );
    assert_eq!(
        st[0]["Action"],
        serde_json::json!(["logs:CreateLogStream", "logs:PutLogEvents"])
    );
    for r in st[0]["Resource"].as_array().unwrap() {
        let r = r.as_str().unwrap();
        assert!(
            r.starts_with("arn:aws:logs:us-east-1:123456789012:log-group:/skiff/skiff"),
            "{r}"
        );
    }
    // The instance runs with the profile, and its user data logs there.
    let ec2 = ec2(&moto).await;
    let id = instance_id(&ec2).await;
    let res = ec2
        .describe_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap();
    let inst = &res.reservations()[0].instances()[0];
    assert!(inst
        .iam_instance_profile()
        .and_then(|p| p.arn())
        .is_some_and(|a| a.ends_with("instance-profile/skiff/skiff-skiff-us-east-1")));
    let ud = ec2
        .describe_instance_attribute()
        .instance_id(&id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    let ud = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(ud.user_data().unwrap().value().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(
        ud.contains("awslogs-group: \"/skiff/skiff\""),
        "compose.awslogs.yaml"
    );
    assert!(ud.contains("awslogs-region: \"us-east-1\""));
    assert!(ud.contains("log_group=\"/skiff/skiff\""), "start-broker.sh");

    // Lines put into CloudWatch Logs come back, in time order across
    // streams, filtered by --since.
    let now = now_ms();
    put(
        &moto,
        "container-a",
        &[
            (now - 2 * 3600 * 1000, "old line"),
            (now - 30 * 60 * 1000, "recent line"),
        ],
    )
    .await;
    put(&moto, "container-b", &[(now - 60 * 1000, "newest line")]).await;
    let run = skiff().run(&["logs", "--since", "1h"]).ok();
    assert!(!run.stdout.contains("old line"), "{}", run.stdout);
    let recent = run.stdout.find("recent line").expect("recent line");
    let newest = run.stdout.find("newest line").expect("newest line");
    assert!(recent < newest, "{}", run.stdout);
    let run = skiff().run(&["logs", "--since", "3h"]).ok();
    assert!(run.stdout.contains("old line"), "{}", run.stdout);
    assert_eq!(
        run.stdout.lines().filter(|l| l.contains(" line")).count(),
        3
    );
    // --lines keeps the newest and says what it left out.
    let run = skiff().run(&["logs", "--since", "3h", "--lines", "1"]).ok();
    assert!(
        run.stdout.contains("newest line") && !run.stdout.contains("recent line"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("2 older lines left out"),
        "{}",
        run.stdout
    );
    // Bad --since values are refused by name.
    skiff()
        .run(&["logs", "--since", "forever"])
        .fails()
        .stderr_has(&["--since"]);
    skiff()
        .run(&["logs", "--since", "4000d"])
        .fails()
        .stderr_has(&["3653d"]);

    // --follow prints lines as they arrive.
    let mut child = Skiff::new(&moto, home.path())
        .env("SKIFF_FOLLOW_INTERVAL", "1")
        .spawn(&["logs", "--follow", "--since", "5m"]);
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let wait_for = |seen: &mut Vec<String>, want: &str| {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
                seen.push(l);
            }
            if seen.iter().any(|l| l.contains(want)) {
                return true;
            }
        }
        false
    };
    assert!(wait_for(&mut seen, "newest line"), "{seen:?}");
    put(&moto, "container-b", &[(now_ms(), "followed line")]).await;
    assert!(wait_for(&mut seen, "followed line"), "{seen:?}");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        seen.iter().filter(|l| l.contains("newest line")).count(),
        1,
        "printed once: {seen:?}"
    );

    // down removes the group, the profile and the role.
    skiff()
        .run(&["down", "--yes"])
        .ok()
        .stdout_has(&["log group /skiff/skiff", "IAM role skiff-skiff-us-east-1"]);
    assert_eq!(role_profile_logs(&moto).await, (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_log_retention_there_is_no_role_and_no_log_group() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    // With security on, the role exists for the TLS key (tests/security.rs).
    std::fs::write(
        home.path().join("skiff.yaml"),
        "log_retention_days: 0\nsecurity: plaintext\n",
    )
    .unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok()
        .stdout_has(&["none (log_retention_days: 0 and security: plaintext)"]);
    assert_eq!(role_profile_logs(&moto).await, (0, 0, 0));
    let body = moto
        .calls()
        .into_iter()
        .find(|(a, _)| a == "RunInstances")
        .unwrap()
        .1;
    assert!(!body.contains("IamInstanceProfile"), "{body}");
    Skiff::new(&moto, home.path())
        .run(&["logs"])
        .fails()
        .stderr_has(&["log_retention_days: 0", "skiff logs --boot"]);
}
