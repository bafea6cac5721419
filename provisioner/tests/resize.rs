//! `skiff resize` against moto: the type changes through stop → modify →
//! start, the configured credit mode is re-applied (moto answers that call
//! with HTTP 500, which must be a warning), the Elastic IP and instance stay,
//! the alarm thresholds follow the new type, a second run does nothing, a
//! cross-architecture target is refused, and an interrupted resize (instance
//! stopped out of band, with or without the new type) completes.

use crate::common::*;
use aws_sdk_ec2::types::{AttributeValue, InstanceStateName};

struct Instance {
    id: String,
    instance_type: String,
    state: InstanceStateName,
}

async fn instance(ec2: &aws_sdk_ec2::Client) -> Instance {
    let id = instance_id(ec2).await;
    let out = ec2
        .describe_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap();
    let i = &out.reservations()[0].instances()[0];
    Instance {
        id,
        instance_type: i.instance_type().unwrap().as_str().to_string(),
        state: i.state().unwrap().name().unwrap().clone(),
    }
}

/// (public IP, attached instance) of the Skiff Elastic IP.
async fn eip(ec2: &aws_sdk_ec2::Client) -> (String, Option<String>) {
    let out = ec2
        .describe_addresses()
        .filters(tag_filter())
        .send()
        .await
        .unwrap();
    let a = &out.addresses()[0];
    (
        a.public_ip().unwrap().to_string(),
        a.instance_id().map(str::to_string),
    )
}

/// The ids of the Skiff volumes and the instances they are attached to.
async fn volumes(ec2: &aws_sdk_ec2::Client) -> Vec<(String, Option<String>)> {
    ec2.describe_volumes()
        .filters(tag_filter())
        .send()
        .await
        .unwrap()
        .volumes()
        .iter()
        .map(|v| {
            (
                v.volume_id().unwrap().to_string(),
                v.attachments()
                    .first()
                    .and_then(|a| a.instance_id())
                    .map(str::to_string),
            )
        })
        .collect()
}

async fn credit_threshold(moto: &Moto) -> Option<f64> {
    cloudwatch(moto)
        .await
        .describe_alarms()
        .alarm_names("skiff-skiff-credit-balance-low")
        .send()
        .await
        .unwrap()
        .metric_alarms()
        .first()
        .and_then(|a| a.threshold())
}

#[tokio::test(flavor = "multi_thread")]
async fn resize_changes_the_type_and_keeps_address_mode_and_alarms_in_step() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let broker = FakeBroker::deployed(&moto);
    std::fs::write(
        home.path().join("skiff.yaml"),
        "credit_mode: unlimited\nalert_email: ops@example.com\n",
    )
    .unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    let ec2 = ec2(&moto).await;
    let before = instance(&ec2).await;
    let (ip, _) = eip(&ec2).await;
    // The root and the data volume.
    let root = volumes(&ec2).await;
    assert_eq!(root.len(), 2);
    assert_eq!(credit_threshold(&moto).await, Some(57.6));

    moto.clear_recording();
    // Before/after table.
    let run = Skiff::new(&moto, home.path())
        .env("SKIFF_PROBE_ADDR", &broker.addr)
        .run(&["resize", "t3.small", "--yes"])
        .ok()
        .stdout_has(&[
            "from t3.micro to t3.small",
            "vCPU          2              2",
            "memory        1 GiB          2 GiB",
            "baseline      10% per vCPU   20% per vCPU",
            "credits/h     12             24",
            "monthly cost  $12.52",
            "broker answered on",
            &format!("bootstrap address unchanged: {ip}:9092"),
            "instance_type: t3.small",
        ]);
    // moto does not implement ModifyInstanceCreditSpecification: a warning.
    assert!(
        run.stderr
            .contains("could not re-apply credit mode unlimited")
            && run.stderr.contains("HTTP 500"),
        "{}",
        run.stderr
    );

    let after = instance(&ec2).await;
    assert_eq!(after.id, before.id, "same instance, same root volume");
    assert_eq!(after.instance_type, "t3.small");
    assert_eq!(after.state, InstanceStateName::Running);
    assert_eq!(eip(&ec2).await, (ip.clone(), Some(after.id.clone())));
    assert_eq!(tagged_counts(&ec2).await, (1, 1, 1, 2));
    // The volumes (the broker's data) are the same, still attached.
    assert_eq!(volumes(&ec2).await, root);
    assert_eq!(credit_threshold(&moto).await, Some(115.2)); // 20% of 576

    // The order of the calls, and the credit mode that was re-applied.
    let calls = moto.calls();
    let pos = |a: &str| {
        calls
            .iter()
            .position(|(c, _)| c == a)
            .unwrap_or_else(|| panic!("no {a} in {calls:?}"))
    };
    assert!(pos("StopInstances") < pos("ModifyInstanceAttribute"));
    assert!(pos("ModifyInstanceAttribute") < pos("ModifyInstanceCreditSpecification"));
    assert!(pos("ModifyInstanceCreditSpecification") < pos("StartInstances"));
    assert!(pos("StartInstances") < pos("PutMetricAlarm"));
    let modify = &calls[pos("ModifyInstanceAttribute")].1;
    assert!(modify.contains("InstanceType.Value=t3.small"), "{modify}");
    let credit = &calls[pos("ModifyInstanceCreditSpecification")].1;
    assert!(credit.contains("CpuCredits=unlimited"), "{credit}");
    assert!(!calls
        .iter()
        .any(|(a, _)| a == "RunInstances" || a == "TerminateInstances"));

    // Again: nothing to do, only reads.
    moto.clear_recording();
    let run = Skiff::new(&moto, home.path())
        .env("SKIFF_PROBE_ADDR", &broker.addr)
        .run(&["resize", "t3.small", "--yes"])
        .ok();
    assert!(run.stdout.contains("nothing to do"), "{}", run.stdout);
    let m = mutating(moto.calls());
    assert!(m.is_empty(), "second resize called {m:?}");

    // And `up` afterwards keeps the new type's thresholds.
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    assert_eq!(credit_threshold(&moto).await, Some(115.2));
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_architecture_and_unconfirmed_resizes_are_refused() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    moto.clear_recording();
    Skiff::new(&moto, home.path())
        .run(&["resize", "t4g.micro", "--yes"])
        .fails()
        .stderr_has(&["t3.micro", "t4g.micro", "x86_64", "arm64"]);
    let run = Skiff::new(&moto, home.path())
        .run(&["resize", "m5.large", "--yes"])
        .fails();
    assert!(run.stderr.contains("m5.large"), "{}", run.stderr);
    let run = Skiff::new(&moto, home.path())
        .run(&["resize", "t3.small"])
        .fails();
    assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
    let m = mutating(moto.calls());
    assert!(m.is_empty(), "refused resizes called {m:?}");
    let i = instance(&ec2(&moto).await).await;
    assert_eq!(
        (i.instance_type.as_str(), i.state),
        ("t3.micro", InstanceStateName::Running)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupted_resize_resumes() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let broker = FakeBroker::deployed(&moto);
    // Alerts set up by flag: resize keeps them (the subscribed e-mail).
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
    let ec2 = ec2(&moto).await;
    let id = instance(&ec2).await.id;
    let resize = |t: &str| {
        Skiff::new(&moto, home.path())
            .env("SKIFF_PROBE_ADDR", &broker.addr)
            .run(&["resize", t, "--yes"])
            .ok()
    };

    // Interrupted after the stop: the instance is stopped, old type.
    ec2.stop_instances().instance_ids(&id).send().await.unwrap();
    let run = resize("t3.small");
    assert!(run.stdout.contains("already stopped"), "{}", run.stdout);
    let i = instance(&ec2).await;
    assert_eq!(
        (i.instance_type.as_str(), i.state),
        ("t3.small", InstanceStateName::Running)
    );
    assert_eq!(credit_threshold(&moto).await, Some(115.2));

    // Interrupted after the type change: stopped, new type, old alarms.
    ec2.stop_instances().instance_ids(&id).send().await.unwrap();
    ec2.modify_instance_attribute()
        .instance_id(&id)
        .instance_type(AttributeValue::builder().value("t3.large").build())
        .send()
        .await
        .unwrap();
    let run = resize("t3.large");
    assert!(run.stdout.contains("resuming"), "{}", run.stdout);
    let i = instance(&ec2).await;
    assert_eq!(
        (i.id.as_str(), i.instance_type.as_str(), i.state),
        (id.as_str(), "t3.large", InstanceStateName::Running)
    );
    assert_eq!(credit_threshold(&moto).await, Some(172.8)); // 20% of 864
    assert_eq!(eip(&ec2).await.1, Some(id.clone()));

    // Interrupted after the start, before the alarms: running, new type,
    // old thresholds. The re-run only fixes the alarms.
    cloudwatch(&moto)
        .await
        .delete_alarms()
        .alarm_names("skiff-skiff-credit-balance-low")
        .send()
        .await
        .unwrap();
    moto.clear_recording();
    let run = resize("t3.large");
    assert!(run.stdout.contains("nothing to do"), "{}", run.stdout);
    assert_eq!(credit_threshold(&moto).await, Some(172.8));
    assert_eq!(mutating(moto.calls()), ["PutMetricAlarm"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_type_not_offered_in_the_zone_is_refused_before_anything_stops() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let ec2 = ec2(&moto).await;
    // A data volume kept in us-east-1e (moto offers only t2 there, as AWS
    // offers no t3 in that zone): the deployment is made around it.
    ec2.create_volume()
        .availability_zone("us-east-1e")
        .size(8)
        .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
        .encrypted(true)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Volume)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("managed-by")
                        .value("skiff")
                        .build(),
                )
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("skiff:name")
                        .value("skiff")
                        .build(),
                )
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("skiff:role")
                        .value("data")
                        .build(),
                )
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("skiff:kept")
                        .value("true")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    Skiff::new(&moto, home.path())
        .run(&[
            "up",
            "--allow",
            ALLOW,
            "--no-wait",
            "--instance-type",
            "t2.micro",
        ])
        .ok();
    let res = ec2
        .describe_instances()
        .filters(tag_filter())
        .send()
        .await
        .unwrap();
    let inst = &res.reservations()[0].instances()[0];
    assert_eq!(
        inst.placement().and_then(|p| p.availability_zone()),
        Some("us-east-1e")
    );

    moto.clear_recording();
    let run = Skiff::new(&moto, home.path())
        .run(&["resize", "t3.micro", "--yes"])
        .fails();
    assert!(
        run.stderr.contains("t3.micro is not offered in us-east-1e"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the instance was not stopped"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("us-east-1a"),
        "zones that offer it: {}",
        run.stderr
    );
    let calls = moto.calls();
    assert!(
        calls
            .iter()
            .any(|(a, _)| a == "DescribeInstanceTypeOfferings"),
        "{calls:?}"
    );
    let m = mutating(calls);
    assert!(m.is_empty(), "a refused resize called {m:?}");
    let i = instance(&ec2).await;
    assert_eq!(
        (i.instance_type.as_str(), i.state),
        ("t2.micro", InstanceStateName::Running)
    );
    // A type offered there still works.
    Skiff::new(&moto, home.path())
        .run(&["resize", "t2.small", "--yes", "--no-wait"])
        .ok();
    assert_eq!(instance(&ec2).await.instance_type, "t2.small");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resize_that_fails_after_the_stop_says_what_state_it_left() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    // Interrupted right after the stop (the test hook stands in for any
    // failure there): the message says the broker is down and what starts it.
    let run = Skiff::new(&moto, home.path())
        .env("SKIFF_STOP_AFTER_STEP", "1")
        .run(&["resize", "t3.small", "--yes"])
        .fails();
    let id = instance(&ec2(&moto).await).await.id;
    assert!(
        run.stderr.contains(&format!(
            "{id} is now stopped with type t3.micro: the broker is DOWN; `skiff resize t3.micro` or `skiff up` starts it"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("stopped after step 1"),
        "{}",
        run.stderr
    );
}
