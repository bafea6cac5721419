//! `skiff up` on a running deployment against moto: a changed
//! `broker.version` is planned as a replacement and applied by moving the
//! data volume and the Elastic IP to a new instance (the old one stopped
//! first, then terminated), resuming after an interruption at any step;
//! `skiff upgrade` edits skiff.yaml and does the same; the credit mode and
//! the data volume's size change in place; a second `up` only reads.

use crate::common::*;
use aws_sdk_ec2::types::InstanceStateName;
use base64::Engine;

/// Steps of `up`.
const STEPS: usize = 15;

/// (id, state, launch hash) of every Skiff instance, terminated included.
async fn instances(ec2: &aws_sdk_ec2::Client) -> Vec<(String, InstanceStateName, Option<String>)> {
    ec2.describe_instances()
        .filters(tag_filter())
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            (
                i.instance_id().unwrap().to_string(),
                i.state().unwrap().name().unwrap().clone(),
                i.tags()
                    .iter()
                    .find(|t| t.key() == Some("skiff:launch"))
                    .and_then(|t| t.value())
                    .map(str::to_string),
            )
        })
        .collect()
}

async fn user_data(ec2: &aws_sdk_ec2::Client, id: &str) -> String {
    let ud = ec2
        .describe_instance_attribute()
        .instance_id(id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(ud.user_data().unwrap().value().unwrap())
            .unwrap(),
    )
    .unwrap()
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

fn write_config(home: &std::path::Path, version: &str) {
    std::fs::write(
        home.join("skiff.yaml"),
        format!("# my deployment\nbroker:\n  version: \"{version}\" # pinned\n"),
    )
    .unwrap();
}

/// After a replacement: one live instance (new, running, launched from a
/// user data naming `version`), the data volume `volume` attached to it,
/// the address on it, every other instance terminated.
async fn assert_replaced(
    ec2: &aws_sdk_ec2::Client,
    old: &str,
    volume: &str,
    ip: &str,
    version: &str,
) -> String {
    let all = instances(ec2).await;
    let live: Vec<_> = all
        .iter()
        .filter(|(_, s, _)| *s != InstanceStateName::Terminated)
        .collect();
    assert_eq!(live.len(), 1, "one live instance: {all:?}");
    let (new, state, _) = live[0].clone();
    assert_ne!(new, old, "a new instance");
    assert_eq!(state, InstanceStateName::Running);
    assert!(
        all.iter()
            .any(|(i, s, _)| i == old && *s == InstanceStateName::Terminated),
        "the old instance is terminated: {all:?}"
    );
    let data = data_volume(ec2).await;
    assert_eq!(data.volume_id(), Some(volume), "the same data volume");
    assert_eq!(
        data.attachments().first().and_then(|a| a.instance_id()),
        Some(new.as_str())
    );
    assert_eq!(eip(ec2).await, (ip.to_string(), Some(new.clone())));
    let ud = user_data(ec2, &new).await;
    assert!(
        ud.contains(&format!("ghcr.io/skiff-kafka/skiff-broker:{version}")),
        "new user data runs {version}"
    );
    assert!(ud.contains(&format!("vol=\"{volume}\"")));
    assert!(ud.contains(&format!("ADVERTISED_LISTENER_URL=tcp://{ip}:9092")));
    new
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_broker_version_replaces_the_instance_and_moves_volume_and_address() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let broker = FakeBroker::deployed(&moto);
    write_config(home.path(), "0.1.0");
    let up = |args: &[&str]| {
        let mut all = vec!["up", "--allow", ALLOW];
        all.extend_from_slice(args);
        Skiff::new(&moto, home.path())
            .env("SKIFF_PROBE_ADDR", &broker.addr)
            .run(&all)
    };
    up(&[]).ok();
    let ec2 = ec2(&moto).await;
    let old = instance_id(&ec2).await;
    let volume = data_volume(&ec2).await.volume_id().unwrap().to_string();
    let (ip, _) = eip(&ec2).await;
    let old_hash = instances(&ec2).await[0].2.clone().unwrap();

    // The plan: a replacement, with downtime; nothing changes.
    write_config(home.path(), "0.2.0");
    let before = moto.resources();
    moto.clear_recording();
    let run = up(&["--dry-run"]).ok().stdout_has(&[
        "-/+ instance",
        &format!("would replace {old} (running): broker image ghcr.io/skiff-kafka/skiff-broker:0.1.0 -> ghcr.io/skiff-kafka/skiff-broker:0.2.0"),
        "the data volume and the Elastic IP move over",
        &format!("would stop {old}"),
        &format!("would move {volume} from {old}"),
        &format!("would terminate {old}"),
        "Expected downtime: a few minutes, about one first boot of the new instance",
    ]);
    assert!(!run.stdout.contains("would create"), "{}", run.stdout);
    assert_unchanged(&before, &moto.resources(), "the plan");
    let m = mutating(moto.calls());
    assert!(m.is_empty(), "the plan called {m:?}");

    // Without --yes and without a terminal it asks, and changes nothing.
    let run = up(&[]).fails().stdout_has(&["Plan:", "-/+ instance"]);
    assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
    assert_unchanged(&before, &moto.resources(), "the refused replacement");

    moto.clear_recording();
    up(&["--yes"])
        .ok()
        .stdout_has(&["launched i-", &format!("to replace {old}")]);
    let new = assert_replaced(&ec2, &old, &volume, &ip, "0.2.0").await;
    let hash = instances(&ec2)
        .await
        .into_iter()
        .find(|(i, _, _)| *i == new)
        .unwrap()
        .2
        .unwrap();
    assert_ne!(hash, old_hash);

    // The order that keeps one writer: the old instance stopped before the
    // volume left it; the new one launched before; the old terminated
    // after the volume and the address moved.
    let calls = moto.calls();
    let pos = |a: &str, has: &str| {
        calls
            .iter()
            .position(|(c, b)| c == a && b.contains(has))
            .unwrap_or_else(|| panic!("no {a} with {has} in {calls:?}"))
    };
    assert!(pos("RunInstances", "") < pos("StopInstances", &old));
    assert!(pos("StopInstances", &old) < pos("DetachVolume", &volume));
    assert!(pos("DetachVolume", &volume) < pos("AttachVolume", &new));
    assert!(pos("AttachVolume", &new) < pos("AssociateAddress", &new));
    assert!(pos("AssociateAddress", &new) < pos("TerminateInstances", &old));
    assert!(!calls
        .iter()
        .any(|(c, _)| c == "DeleteVolume" || c == "CreateVolume"));

    // A second up only reads.
    let before = moto.resources();
    moto.clear_recording();
    let run = up(&[]).ok();
    assert!(run.stdout.contains("already up"), "{}", run.stdout);
    assert!(!run.stdout.contains("Plan:"), "{}", run.stdout);
    assert_unchanged(&before, &moto.resources(), "the second up");
    let m = mutating(moto.calls());
    assert!(m.is_empty(), "second up called {m:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_replacement_finishes_on_the_next_up() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let broker = FakeBroker::deployed(&moto);
    let ec2 = ec2(&moto).await;
    // The replacement's steps: launch (7) to the alarms (14).
    for k in 7..STEPS {
        moto.reset();
        write_config(home.path(), "0.1.0");
        let up = |args: &[&str]| {
            let mut all = vec!["up", "--allow", ALLOW, "--alert-email", "ops@example.com"];
            all.extend_from_slice(args);
            Skiff::new(&moto, home.path())
                .env("SKIFF_PROBE_ADDR", &broker.addr)
                .run(&all)
        };
        up(&[]).ok();
        let old = instance_id(&ec2).await;
        let volume = data_volume(&ec2).await.volume_id().unwrap().to_string();
        let (ip, _) = eip(&ec2).await;

        write_config(home.path(), "0.2.0");
        moto.clear_recording();
        let run = Skiff::new(&moto, home.path())
            .env("SKIFF_PROBE_ADDR", &broker.addr)
            .env("SKIFF_STOP_AFTER_STEP", k.to_string())
            .run(&[
                "up",
                "--allow",
                ALLOW,
                "--alert-email",
                "ops@example.com",
                "--yes",
            ])
            .fails();
        assert!(
            run.stderr.contains(&format!("stopped after step {k}")),
            "k={k}: {}",
            run.stderr
        );
        // Never two instances running with the data volume between them.
        let running = instances(&ec2)
            .await
            .into_iter()
            .filter(|(_, s, _)| *s == InstanceStateName::Running)
            .count();
        let data = data_volume(&ec2).await;
        assert!(data.attachments().len() <= 1);
        if k >= 8 {
            assert!(running <= 1, "k={k}: the old instance is stopped");
        }

        // The next up (as the user would run it) finishes the job.
        up(&["--yes"]).ok();
        let new = assert_replaced(&ec2, &old, &volume, &ip, "0.2.0").await;
        let launches = moto
            .calls()
            .iter()
            .filter(|(a, _)| a == "RunInstances")
            .count();
        assert_eq!(launches, 1, "k={k}: one launch in all");
        // The alarms watch the new instance.
        let alarms = cloudwatch(&moto)
            .await
            .describe_alarms()
            .alarm_name_prefix("skiff-skiff-")
            .send()
            .await
            .unwrap();
        for a in alarms.metric_alarms() {
            // The credit alarm is metric math: its dimensions are in its queries.
            let dims = match a.metrics().first().and_then(|q| q.metric_stat()) {
                Some(stat) => stat.metric().unwrap().dimensions().to_vec(),
                None => a.dimensions().to_vec(),
            };
            assert_eq!(
                dims[0].value(),
                Some(new.as_str()),
                "k={k}: {}",
                a.alarm_name().unwrap()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_sets_the_version_in_skiff_yaml_and_replaces_the_instance() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let broker = FakeBroker::deployed(&moto);
    write_config(home.path(), "0.1.0");
    Skiff::new(&moto, home.path())
        .env("SKIFF_PROBE_ADDR", &broker.addr)
        .run(&["up", "--allow", ALLOW])
        .ok();
    let ec2 = ec2(&moto).await;
    let old = instance_id(&ec2).await;
    let volume = data_volume(&ec2).await.volume_id().unwrap().to_string();
    let (ip, _) = eip(&ec2).await;

    // A dry run writes nothing and changes nothing.
    moto.clear_recording();
    Skiff::new(&moto, home.path())
        .run(&["upgrade", "0.3.0", "--dry-run"])
        .ok()
        .stdout_has(&["would set broker.version 0.1.0 -> 0.3.0", "-/+ instance"]);
    assert!(mutating(moto.calls()).is_empty());
    let text = std::fs::read_to_string(home.path().join("skiff.yaml")).unwrap();
    assert!(text.contains("version: \"0.1.0\""), "{text}");

    // A bad version is refused before anything is written.
    Skiff::new(&moto, home.path())
        .run(&["upgrade", "0.3.0; reboot", "--yes"])
        .fails()
        .stderr_has(&["broker.version"]);

    Skiff::new(&moto, home.path())
        .env("SKIFF_PROBE_ADDR", &broker.addr)
        .run(&["upgrade", "0.3.0", "--yes"])
        .ok()
        .stdout_has(&["broker.version 0.1.0 -> 0.3.0", "launched i-"]);
    let text = std::fs::read_to_string(home.path().join("skiff.yaml")).unwrap();
    assert_eq!(
        text, "# my deployment\nbroker:\n  version: \"0.3.0\"\n",
        "only the version line changed"
    );
    assert_replaced(&ec2, &old, &volume, &ip, "0.3.0").await;
    // The firewall was left as it was (an upgrade is not about it).
    let sg = ec2
        .describe_security_groups()
        .filters(tag_filter())
        .send()
        .await
        .unwrap();
    let cidrs: Vec<_> = sg.security_groups()[0]
        .ip_permissions()
        .iter()
        .flat_map(|p| p.ip_ranges())
        .filter_map(|r| r.cidr_ip())
        .collect();
    assert_eq!(cidrs, [ALLOW]);
}

#[tokio::test(flavor = "multi_thread")]
async fn credit_mode_and_volume_size_change_in_place() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    let ec2 = ec2(&moto).await;
    let id = instance_id(&ec2).await;
    let volume = data_volume(&ec2).await.volume_id().unwrap().to_string();

    // Credit mode: planned in place, applied with
    // ModifyInstanceCreditSpecification (moto answers HTTP 500: a warning).
    Skiff::new(&moto, home.path())
        .run(&[
            "up",
            "--allow",
            ALLOW,
            "--no-wait",
            "--credit-mode",
            "unlimited",
            "--dry-run",
        ])
        .ok()
        .stdout_has(&[
            "~ credit mode",
            "would change standard -> unlimited (in place, no restart)",
            "Expected downtime: none",
        ]);
    moto.clear_recording();
    let run = Skiff::new(&moto, home.path())
        .run(&[
            "up",
            "--allow",
            ALLOW,
            "--no-wait",
            "--credit-mode",
            "unlimited",
        ])
        .ok();
    assert!(run.stderr.contains("HTTP 500"), "{}", run.stderr);
    let calls = moto.calls();
    let credit = calls
        .iter()
        .find(|(a, _)| a == "ModifyInstanceCreditSpecification")
        .expect("ModifyInstanceCreditSpecification");
    assert!(credit.1.contains("CpuCredits=unlimited") && credit.1.contains(&id));
    assert!(!calls
        .iter()
        .any(|(a, _)| a == "RunInstances" || a == "StopInstances"));
    assert_eq!(instance_id(&ec2).await, id);

    // Volume size: ModifyVolume on the same volume, online.
    moto.clear_recording();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait", "--volume-size", "16"])
        .ok()
        .stdout_has(&[&format!("grew {volume} from 8 to 16 GiB online")]);
    let calls = moto.calls();
    let modify = calls
        .iter()
        .find(|(a, _)| a == "ModifyVolume")
        .expect("ModifyVolume");
    assert!(
        modify.1.contains(&volume) && modify.1.contains("Size=16"),
        "{}",
        modify.1
    );
    assert!(!calls
        .iter()
        .any(|(a, _)| a == "RunInstances" || a == "StopInstances" || a == "DetachVolume"));
    assert_eq!(data_volume(&ec2).await.size(), Some(16));
    assert_eq!(instance_id(&ec2).await, id);

    // Again at once: AWS allows one modification per volume every six
    // hours, so skiff says when instead of calling.
    moto.clear_recording();
    let run = Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait", "--volume-size", "24"])
        .ok();
    assert!(
        run.stderr
            .contains("one modification per volume every 6 hours"),
        "{}",
        run.stderr
    );
    assert!(!moto.calls().iter().any(|(a, _)| a == "ModifyVolume"));
    // And a smaller size is never applied.
    let run = Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait", "--volume-size", "8"])
        .ok();
    assert!(run.stderr.contains("cannot shrink"), "{}", run.stderr);
    assert_eq!(data_volume(&ec2).await.size(), Some(16));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_made_before_data_volumes_is_never_replaced_until_it_has_one() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let broker = FakeBroker::deployed(&moto);
    let up = |args: &[&str]| {
        let mut all = vec!["up", "--allow", ALLOW];
        all.extend_from_slice(args);
        Skiff::new(&moto, home.path())
            .env("SKIFF_PROBE_ADDR", &broker.addr)
            .run(&all)
    };
    std::fs::write(home.path().join("skiff.yaml"), "log_retention_days: 0\n").unwrap();
    up(&[]).ok();
    // What an older skiff left: no launch hash, no data volume (the data
    // is on the root volume).
    let ec2 = ec2(&moto).await;
    let id = instance_id(&ec2).await;
    ec2.delete_tags()
        .resources(&id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("skiff:launch")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let data = data_volume(&ec2).await.volume_id().unwrap().to_string();
    ec2.detach_volume()
        .volume_id(&data)
        .instance_id(&id)
        .send()
        .await
        .unwrap();
    ec2.delete_volume().volume_id(&data).send().await.unwrap();
    std::fs::write(
        home.path().join("skiff.yaml"),
        "broker: {version: \"0.2.0\"}\n",
    )
    .unwrap();

    moto.clear_recording();
    let run = up(&[]).ok();
    assert!(
        run.stdout.contains("keeps its data on its root volume"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("made before data volumes"),
        "{}",
        run.stderr
    );
    let m = mutating(moto.calls());
    assert!(m.is_empty(), "a legacy deployment got {m:?}");
    assert_eq!(instance_id(&ec2).await, id);
    Skiff::new(&moto, home.path())
        .run(&["backup"])
        .fails()
        .stderr_has(&["root volume", "made before data volumes"]);

    // The README's way out: a data volume with the copied data, tagged as
    // the deployment's, then `up` moves everything onto it.
    let zone = ec2
        .describe_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap()
        .reservations()[0]
        .instances()[0]
        .placement()
        .unwrap()
        .availability_zone()
        .unwrap()
        .to_string();
    let vol = ec2
        .create_volume()
        .availability_zone(&zone)
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
                .build(),
        )
        .send()
        .await
        .unwrap()
        .volume_id()
        .unwrap()
        .to_string();
    let (ip, _) = eip(&ec2).await;
    up(&["--yes"])
        .ok()
        .stdout_has(&["launched i-", &format!("to replace {id}")]);
    assert_replaced(&ec2, &id, &vol, &ip, "0.2.0").await;
}
