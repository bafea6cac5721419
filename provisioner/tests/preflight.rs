//! The preflight checks of `skiff up`, `up --dry-run` and `resize`
//! against moto: a type the account cannot launch and an exhausted
//! Elastic IP quota are refused before any mutating call (moto's request
//! recorder), together, each with its fix.
//!
//! moto has no Free Tier API: the tests set the account's plan with the
//! hidden `SKIFF_ACCOUNT_PLAN` hook; the eligible types are moto's answer
//! to DescribeInstanceTypes with the `free-tier-eligible=true` filter.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn free_plan_refuses_a_non_eligible_type_before_anything_is_created() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let ec2 = ec2(&moto).await;
    let before = all_counts(&ec2).await;
    moto.clear_recording();
    let run = Skiff::new(&moto, home.path())
        .env("SKIFF_ACCOUNT_PLAN", "free")
        .run(&["up", "--allow", ALLOW, "--instance-type", "t3.medium"])
        .fails()
        .stderr_has(&[
            "preflight: 1 problem must be fixed before anything is created",
            "t3.medium cannot be launched by this account",
            "Free Plan",
            "InvalidParameterCombination",
            "t3.micro, t3.small, t4g.micro, t4g.small",
            "--instance-type t3.micro",
        ]);
    let calls = moto.calls();
    let actions: Vec<&str> = calls.iter().map(|(a, _)| a.as_str()).collect();
    assert!(actions.contains(&"DescribeInstanceTypes"), "{actions:?}");
    assert!(mutating(calls.clone()).is_empty(), "{actions:?}");
    assert_eq!(all_counts(&ec2).await, before);
    assert!(!run.stdout.contains("Bootstrap address"));

    // The same check in a dry run, which still makes no mutating call.
    moto.clear_recording();
    Skiff::new(&moto, home.path())
        .env("SKIFF_ACCOUNT_PLAN", "free")
        .run(&[
            "up",
            "--dry-run",
            "--allow",
            ALLOW,
            "--instance-type",
            "t3.medium",
        ])
        .fails()
        .stderr_has(&["t3.medium cannot be launched by this account"]);
    assert!(mutating(moto.calls()).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn eligible_type_on_the_free_plan_is_said_to_be_free() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    moto.clear_recording();
    Skiff::new(&moto, home.path())
        .env("SKIFF_ACCOUNT_PLAN", "free")
        .run(&["up", "--dry-run", "--allow", ALLOW])
        .ok()
        .stdout_has(&[
            "free tier: t3.micro is free-tier eligible in us-east-1, and this account is on the Free Plan",
        ]);
    assert!(mutating(moto.calls()).is_empty());

    // A paid account in us-east-1 (which has t2.micro): t3.micro is billed.
    Skiff::new(&moto, home.path())
        .env("SKIFF_ACCOUNT_PLAN", "paid")
        .run(&["up", "--dry-run", "--allow", ALLOW])
        .ok()
        .stdout_has(&["free tier: t3.micro is NOT free for this account"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_plan_warns_and_goes_on() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    // No hook: moto does not serve the Free Tier API, so the plan is unknown.
    Skiff::new(&moto, home.path())
        .run(&[
            "up",
            "--dry-run",
            "--allow",
            ALLOW,
            "--instance-type",
            "t3.medium",
        ])
        .ok()
        .stderr_has(&[
            "could not read the account's free-tier plan",
            "t3.medium is NOT free-tier eligible in us-east-1",
        ])
        .stdout_has(&["Plan for deployment"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn exhausted_elastic_ip_quota_is_reported_with_every_other_problem() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let ec2 = ec2(&moto).await;
    // moto's vpc-max-elastic-ips is 5: use them all.
    for _ in 0..5 {
        ec2.allocate_address()
            .domain(aws_sdk_ec2::types::DomainType::Vpc)
            .send()
            .await
            .unwrap();
    }
    let before = all_counts(&ec2).await;
    moto.clear_recording();
    Skiff::new(&moto, home.path())
        .env("SKIFF_ACCOUNT_PLAN", "free")
        .run(&["up", "--allow", ALLOW, "--instance-type", "t3.medium"])
        .fails()
        .stderr_has(&[
            "preflight: 2 problems",
            "Elastic IP quota: 5 of 5 addresses are allocated in us-east-1",
            "release-address",
            "t3.medium cannot be launched",
        ]);
    let calls = moto.calls();
    let actions: Vec<&str> = calls.iter().map(|(a, _)| a.as_str()).collect();
    assert!(
        actions.contains(&"DescribeAccountAttributes"),
        "{actions:?}"
    );
    assert!(mutating(calls.clone()).is_empty(), "{actions:?}");
    assert_eq!(all_counts(&ec2).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_default_vpc_is_reported() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let ec2 = ec2(&moto).await;
    let vpcs = ec2.describe_vpcs().send().await.unwrap();
    let vpc = vpcs
        .vpcs()
        .iter()
        .find(|v| v.is_default() == Some(true))
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    // A default VPC's subnets go first.
    let subnets = ec2.describe_subnets().send().await.unwrap();
    for s in subnets
        .subnets()
        .iter()
        .filter(|s| s.vpc_id() == Some(&vpc))
    {
        ec2.delete_subnet()
            .subnet_id(s.subnet_id().unwrap())
            .send()
            .await
            .unwrap();
    }
    ec2.delete_vpc().vpc_id(&vpc).send().await.unwrap();
    moto.clear_recording();
    Skiff::new(&moto, home.path())
        .run(&["up", "--dry-run", "--allow", ALLOW])
        .fails()
        .stderr_has(&["no default VPC in us-east-1", "aws ec2 create-default-vpc"]);
    assert!(mutating(moto.calls()).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_estimate_uses_the_regions_prices_and_the_plan() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    // eu-west-1, a paid account (t3.micro billed), 1 Mbit/s out:
    // 8.322 instance + 1.408 gp3 + 3.65 IPv4 + 20.565 data out.
    Skiff::new(&moto, home.path())
        .env("SKIFF_ACCOUNT_PLAN", "paid")
        .run(&[
            "up",
            "--dry-run",
            "--region",
            "eu-west-1",
            "--allow",
            ALLOW,
            "--expect-mbps",
            "1",
        ])
        .ok()
        .stdout_has(&[
            "eu-west-1 prices",
            "data out  328.5 GB    $  20.56",
            "total                 $  33.95",
        ]);
    // us-east-1 on the Free Plan: the instance hours are offset.
    Skiff::new(&moto, home.path())
        .env("SKIFF_ACCOUNT_PLAN", "free")
        .run(&["up", "--dry-run", "--allow", ALLOW])
        .ok()
        .stdout_has(&[
            "us-east-1 prices",
            "free-tier offset      $-  7.59",
            "total                 $   4.93",
        ]);
    Skiff::new(&moto, home.path())
        .run(&["up", "--dry-run", "--allow", ALLOW, "--expect-mbps", "1e9"])
        .fails()
        .stderr_has(&["--expect-mbps", "not a rate in Mbit/s"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn resize_to_a_type_the_free_plan_cannot_launch_is_refused_before_the_stop() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    moto.clear_recording();
    Skiff::new(&moto, home.path())
        .env("SKIFF_ACCOUNT_PLAN", "free")
        .run(&["resize", "t3.medium", "--yes", "--no-wait"])
        .fails()
        .stderr_has(&["t3.medium cannot be launched by this account", "t3.small"]);
    let calls = moto.calls();
    assert!(mutating(calls.clone()).is_empty(), "{calls:?}");
    // An eligible size goes through.
    Skiff::new(&moto, home.path())
        .env("SKIFF_ACCOUNT_PLAN", "free")
        .run(&["resize", "t3.small", "--yes", "--no-wait"])
        .ok();
}
