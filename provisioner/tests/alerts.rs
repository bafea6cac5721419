//! Alerts against moto: `up` with an alert e-mail creates the SNS topic,
//! the e-mail subscription and the CloudWatch alarms with the right
//! metric, dimension, threshold, periods and action; a second `up` changes
//! nothing; a config change updates them; `skiff alerts` lists them;
//! `down` removes them (and stays harmless twice).

use crate::common::*;
use aws_sdk_cloudwatch::types::{ComparisonOperator, MetricAlarm, Statistic};

async fn alarms(moto: &Moto) -> Vec<MetricAlarm> {
    cloudwatch(moto)
        .await
        .describe_alarms()
        .alarm_name_prefix("skiff-skiff-")
        .send()
        .await
        .unwrap()
        .metric_alarms()
        .to_vec()
}

fn find<'a>(alarms: &'a [MetricAlarm], suffix: &str) -> &'a MetricAlarm {
    alarms
        .iter()
        .find(|a| a.alarm_name().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no alarm {suffix} in {alarms:#?}"))
}

async fn topics(moto: &Moto) -> Vec<String> {
    sns(moto)
        .await
        .list_topics()
        .send()
        .await
        .unwrap()
        .topics()
        .iter()
        .filter_map(|t| t.topic_arn().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_are_created_updated_listed_and_removed() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("skiff.yaml"),
        "alert_email: ops@example.com\n",
    )
    .unwrap();
    let up = || {
        Skiff::new(&moto, home.path())
            .run(&["up", "--allow", ALLOW, "--no-wait"])
            .ok()
    };

    // A dry run on an empty account plans them and changes nothing.
    ec2(&moto).await.describe_vpcs().send().await.unwrap();
    let run = Skiff::new(&moto, home.path())
        .run(&["up", "--dry-run", "--allow", ALLOW])
        .ok();
    assert!(
        run.stdout
            .contains("would create SNS topic skiff-skiff-alerts"),
        "{}",
        run.stdout
    );
    assert!(mutating(moto.calls()).is_empty());
    assert!(topics(&moto).await.is_empty());

    let run = up();
    assert!(run.stdout.contains("[14/15] alerts"), "{}", run.stdout);
    let id = instance_id(&ec2(&moto).await).await;

    // Topic and subscription.
    let topics_now = topics(&moto).await;
    assert_eq!(topics_now.len(), 1, "{topics_now:?}");
    let topic = &topics_now[0];
    assert!(topic.ends_with(":skiff-skiff-alerts"), "{topic}");
    let subs = sns(&moto)
        .await
        .list_subscriptions_by_topic()
        .topic_arn(topic)
        .send()
        .await
        .unwrap();
    let subs = subs.subscriptions();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].protocol(), Some("email"));
    assert_eq!(subs[0].endpoint(), Some("ops@example.com"));
    let tags = sns(&moto)
        .await
        .list_tags_for_resource()
        .resource_arn(topic)
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == "managed-by" && t.value() == "skiff"));

    // Alarms: standard mode has no surplus alarm.
    let all = alarms(&moto).await;
    assert_eq!(all.len(), 3, "{all:#?}");
    // The EBS burst bucket of a Nitro type, next to the credit alarm.
    let ebs = find(&all, "-ebs-burst-low");
    assert_eq!(ebs.metric_name(), Some("EBSByteBalance%"));
    assert_eq!(ebs.statistic(), Some(&Statistic::Minimum));
    assert_eq!(ebs.threshold(), Some(20.0));
    assert_eq!(
        ebs.comparison_operator(),
        Some(&ComparisonOperator::LessThanThreshold)
    );
    assert_eq!(ebs.dimensions()[0].value(), Some(id.as_str()));
    assert_eq!(ebs.alarm_actions(), [topic.as_str()]);
    assert_eq!(ebs.ok_actions(), [topic.as_str()]);
    let low = find(&all, "-credit-balance-low");
    assert_eq!(low.alarm_name(), Some("skiff-skiff-credit-balance-low"));
    // Metric math: the balance (Minimum) while CPUUtilization (Average)
    // is at 90% of the t3.micro's 10% baseline or above, else its maximum
    // 288, so the empty balance of a new T3 does not alarm while it idles.
    assert_eq!(low.metric_name(), None);
    let q = low.metrics();
    assert_eq!(q.len(), 3, "{q:?}");
    let balance = q[0].metric_stat().unwrap();
    assert_eq!(q[0].id(), Some("balance"));
    assert_eq!(q[0].return_data(), Some(false));
    let m = balance.metric().unwrap();
    assert_eq!(m.namespace(), Some("AWS/EC2"));
    assert_eq!(m.metric_name(), Some("CPUCreditBalance"));
    assert_eq!(balance.stat(), Some("Minimum"));
    assert_eq!(balance.period(), Some(300));
    assert_eq!(m.dimensions().len(), 1);
    assert_eq!(m.dimensions()[0].name(), Some("InstanceId"));
    assert_eq!(m.dimensions()[0].value(), Some(id.as_str()));
    let cpu = q[1].metric_stat().unwrap();
    assert_eq!(q[1].id(), Some("cpu"));
    assert_eq!(cpu.metric().unwrap().metric_name(), Some("CPUUtilization"));
    assert_eq!(cpu.stat(), Some("Average"));
    assert_eq!(
        cpu.metric().unwrap().dimensions()[0].value(),
        Some(id.as_str())
    );
    assert_eq!(q[2].expression(), Some("IF(cpu >= 9, balance, 288)"));
    assert_eq!(q[2].return_data(), Some(true));
    assert_eq!(low.threshold(), Some(57.6)); // 20% of 288
    assert_eq!(low.evaluation_periods(), Some(2));
    assert_eq!(low.datapoints_to_alarm(), Some(2));
    assert_eq!(
        low.comparison_operator(),
        Some(&ComparisonOperator::LessThanThreshold)
    );
    assert_eq!(low.treat_missing_data(), Some("missing"));
    assert_eq!(low.alarm_actions(), [topic.as_str()]);
    // Every alarm says when things are fine again.
    assert_eq!(low.ok_actions(), [topic.as_str()]);
    let alarm_tags = cloudwatch(&moto)
        .await
        .list_tags_for_resource()
        .resource_arn(low.alarm_arn().unwrap())
        .send()
        .await
        .unwrap();
    for (k, v) in [("managed-by", "skiff"), ("skiff:name", "skiff")] {
        assert!(
            alarm_tags
                .tags()
                .iter()
                .any(|t| t.key() == Some(k) && t.value() == Some(v)),
            "{alarm_tags:?}"
        );
    }
    let status = find(&all, "-status-check-failed");
    assert_eq!(status.metric_name(), Some("StatusCheckFailed"));
    assert_eq!(status.statistic(), Some(&Statistic::Maximum));
    assert_eq!(status.threshold(), Some(1.0));
    assert_eq!(
        status.comparison_operator(),
        Some(&ComparisonOperator::GreaterThanOrEqualToThreshold)
    );
    assert_eq!(status.dimensions()[0].value(), Some(id.as_str()));
    // Besides notifying, the status-check alarm recovers the instance.
    assert_eq!(
        status.alarm_actions(),
        ["arn:aws:automate:us-east-1:ec2:recover", topic.as_str()]
    );
    assert_eq!(status.ok_actions(), [topic.as_str()]);

    // A second up changes nothing.
    moto.clear_recording();
    let run = up();
    assert!(run.stdout.contains("already up"), "{}", run.stdout);
    let m = mutating(moto.calls());
    assert!(m.is_empty(), "second up called {m:?}");

    // `skiff alerts` lists topic, subscription and alarms with state.
    Skiff::new(&moto, home.path())
        .run(&["alerts"])
        .ok()
        .stdout_has(&[
            topic.as_str(),
            "email ops@example.com",
            "skiff-skiff-credit-balance-low",
            "Minimum(CPUCreditBalance) < 57.6 for 2 x 300 s",
            "skiff-skiff-ebs-burst-low",
            "Minimum(EBSByteBalance%) < 20 for 2 x 300 s",
            "skiff-skiff-status-check-failed",
            "OK",
        ]);

    // Config change: another share, unlimited mode, another e-mail.
    std::fs::write(
        home.path().join("skiff.yaml"),
        "alert_email: oncall@example.com\nalert_credit_balance_pct: 30\ncredit_mode: unlimited\n",
    )
    .unwrap();
    moto.clear_recording();
    let run = up();
    assert!(!run.stdout.contains("already up"), "{}", run.stdout);
    let puts = moto
        .calls()
        .into_iter()
        .filter(|(a, _)| a == "PutMetricAlarm")
        .count();
    // Two puts (new credit threshold, new surplus alarm); the status
    // alarm is unchanged.
    assert_eq!(puts, 2);
    let all = alarms(&moto).await;
    assert_eq!(all.len(), 4, "{all:#?}");
    assert_eq!(find(&all, "-credit-balance-low").threshold(), Some(86.4));
    let surplus = find(&all, "-surplus-charged");
    assert_eq!(surplus.metric_name(), Some("CPUSurplusCreditsCharged"));
    assert_eq!(surplus.statistic(), Some(&Statistic::Sum));
    assert_eq!(surplus.threshold(), Some(0.0));
    assert_eq!(
        surplus.comparison_operator(),
        Some(&ComparisonOperator::GreaterThanThreshold)
    );
    assert_eq!(surplus.alarm_actions(), [topic.as_str()]);
    assert_eq!(surplus.ok_actions(), [topic.as_str()]);
    let subs = sns(&moto)
        .await
        .list_subscriptions_by_topic()
        .topic_arn(topic)
        .send()
        .await
        .unwrap();
    let endpoints: Vec<_> = subs
        .subscriptions()
        .iter()
        .filter_map(|s| s.endpoint())
        .collect();
    assert_eq!(endpoints, ["oncall@example.com"]);

    // down removes alarms and topic; twice is harmless.
    let run = Skiff::new(&moto, home.path()).run(&["down", "--yes"]).ok();
    assert!(run.stdout.contains("SNS topic"), "{}", run.stdout);
    assert!(alarms(&moto).await.is_empty());
    assert!(topics(&moto).await.is_empty());
    let run = Skiff::new(&moto, home.path()).run(&["down", "--yes"]).ok();
    assert!(run.stdout.contains("nothing to delete"), "{}", run.stdout);
    let run = Skiff::new(&moto, home.path()).run(&["alerts"]).ok();
    assert!(run.stdout.contains("no alerts"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn up_without_alert_email_removes_the_alerts() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    Skiff::new(&moto, home.path())
        .run(&[
            "up",
            "--allow",
            ALLOW,
            "--no-wait",
            "--alert-email",
            "ops@example.com",
        ])
        .ok();
    assert_eq!(alarms(&moto).await.len(), 3);
    let run = Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    assert!(
        run.stdout.contains("removed alarms") && run.stdout.contains("no alert_email configured"),
        "{}",
        run.stdout
    );
    assert!(alarms(&moto).await.is_empty());
    assert!(topics(&moto).await.is_empty());
}
