//! `skiff iam-policy` against what `skiff` really calls: every test's moto
//! checks, when it is dropped, that each action the `skiff` binary sent
//! (told apart by its access key, see `common/moto.rs`) is in the policy;
//! this test runs most commands on one moto so that a filtered run checks
//! them too, and shows the recording works.

use crate::common::*;
use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread")]
async fn every_call_skiff_makes_is_in_its_iam_policy() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let broker = FakeBroker::deployed(&moto);
    let skiff = || Skiff::new(&moto, home.path()).env("SKIFF_PROBE_ADDR", &broker.addr);
    skiff()
        .run(&["up", "--allow", ALLOW, "--alert-email", "ops@example.com"])
        .ok();
    skiff().run(&["status"]).ok();
    skiff().run(&["alerts"]).ok();
    skiff().run(&["credits"]).ok();
    skiff().run(&["logs", "--boot"]).ok();
    skiff().run(&["logs"]).ok();
    skiff().run(&["backup"]).ok();
    skiff().run(&["backups"]).ok();
    skiff().run(&["resize", "t3.small", "--yes"]).ok();
    skiff().run(&["down", "--yes"]).ok();

    let seen = moto.skiff_actions();
    for want in [
        "sts:GetCallerIdentity",
        "ssm:GetParameter",
        "ec2:RunInstances",
        "ec2:AllocateAddress",
        "iam:CreateRole",
        "logs:CreateLogGroup",
        "sns:CreateTopic",
        "cloudwatch:PutMetricAlarm",
        "ec2:CreateSnapshot",
        "ec2:ModifyInstanceAttribute",
        "ec2:TerminateInstances",
    ] {
        assert!(seen.contains(want), "{want} not recorded: {seen:?}");
    }
    assert_eq!(missing_from_policy(&seen), Vec::<String>::new());
    // The check can fail.
    let made_up: BTreeSet<String> = ["ec2:RunInstances", "ec2:MadeUpAction"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(missing_from_policy(&made_up), vec!["ec2:MadeUpAction"]);
}

#[test]
fn iam_policy_is_a_json_policy_document() {
    let home = tempfile::tempdir().unwrap();
    let run = Skiff::bare(home.path()).run(&["iam-policy"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["Version"], "2012-10-17");
    let actions = policy_actions();
    assert!(actions.contains("ec2:CreateTags"));
    assert!(actions.contains("cloudwatch:TagResource"));
    assert!(actions.contains("sns:TagResource"));
    assert!(actions.contains("iam:PassRole"));
}
