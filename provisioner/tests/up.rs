//! `skiff up` against moto: the resources and their settings, convergence,
//! resuming after an interruption at every step, dry-run, and how the
//! allowed address is chosen.

use crate::common::*;
use aws_sdk_ec2::types::{HttpTokensState, InstanceStateName, VolumeType};

/// Steps of `up`.
const STEPS: usize = 15;
use base64::Engine;

fn tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

fn assert_skiff_tags(tags: &[aws_sdk_ec2::types::Tag], what: &str) {
    assert_eq!(
        tag(tags, "managed-by"),
        Some("skiff"),
        "{what} tags: {tags:?}"
    );
    assert_eq!(
        tag(tags, "skiff:name"),
        Some("skiff"),
        "{what} tags: {tags:?}"
    );
    assert!(
        tag(tags, "Name").is_some_and(|n| n.starts_with("skiff")),
        "{what} Name: {tags:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn up_creates_exactly_the_expected_resources() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let broker = FakeBroker::deployed(&moto);
    let ec2 = ec2(&moto).await;
    let before = all_counts(&ec2).await;
    let run = Skiff::new(&moto, home.path())
        .env("SKIFF_PROBE_ADDR", &broker.addr)
        .run(&["up", "--allow", ALLOW])
        .ok();
    // One of each, and two volumes: the root and the data volume.
    assert_eq!(tagged_counts(&ec2).await, (1, 1, 1, 2));
    // Exactly these, tagged or not.
    let after = all_counts(&ec2).await;
    assert_eq!(
        (
            after.0 - before.0,
            after.1 - before.1,
            after.2 - before.2,
            after.3 - before.3
        ),
        (1, 1, 1, 2)
    );

    // Security group: default VPC, only tcp/9092, only the given /32.
    let sgs = ec2
        .describe_security_groups()
        .filters(tag_filter())
        .send()
        .await
        .unwrap();
    let sg = &sgs.security_groups()[0];
    assert_skiff_tags(sg.tags(), "security group");
    let vpcs = ec2.describe_vpcs().send().await.unwrap();
    let default_vpc = vpcs
        .vpcs()
        .iter()
        .find(|v| v.is_default() == Some(true))
        .unwrap();
    assert_eq!(sg.vpc_id(), default_vpc.vpc_id());
    assert_eq!(sg.ip_permissions().len(), 1, "{:?}", sg.ip_permissions());
    let p = &sg.ip_permissions()[0];
    assert_eq!(p.ip_protocol(), Some("tcp"));
    assert_eq!((p.from_port(), p.to_port()), (Some(9092), Some(9092)));
    let cidrs: Vec<_> = p.ip_ranges().iter().filter_map(|r| r.cidr_ip()).collect();
    assert_eq!(cidrs, vec![ALLOW]);
    assert!(p.ipv6_ranges().is_empty() && p.user_id_group_pairs().is_empty());

    // Instance: type, IMDSv2 with hop limit 2, tags, SG, user data.
    let res = ec2
        .describe_instances()
        .filters(tag_filter())
        .send()
        .await
        .unwrap();
    let inst = &res.reservations()[0].instances()[0];
    let id = inst.instance_id().unwrap();
    assert_eq!(inst.instance_type().unwrap().as_str(), "t3.micro");
    assert_eq!(
        inst.state().unwrap().name(),
        Some(&InstanceStateName::Running)
    );
    assert_skiff_tags(inst.tags(), "instance");
    let md = inst.metadata_options().unwrap();
    assert_eq!(md.http_tokens(), Some(&HttpTokensState::Required));
    assert_eq!(md.http_put_response_hop_limit(), Some(2));
    assert_eq!(inst.security_groups()[0].group_id(), sg.group_id());

    // Elastic IP: tagged, attached, advertised.
    let addrs = ec2
        .describe_addresses()
        .filters(tag_filter())
        .send()
        .await
        .unwrap();
    let eip = &addrs.addresses()[0];
    assert_skiff_tags(eip.tags(), "Elastic IP");
    assert_eq!(eip.instance_id(), Some(id));
    let ip = eip.public_ip().unwrap();

    let ud = ec2
        .describe_instance_attribute()
        .instance_id(id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    let ud = base64::engine::general_purpose::STANDARD
        .decode(ud.user_data().unwrap().value().unwrap())
        .unwrap();
    let ud = String::from_utf8(ud).unwrap();
    assert!(ud.starts_with("#cloud-config\n"), "{ud}");
    assert!(ud.len() < 16 * 1024);
    assert!(
        ud.contains(&format!("ADVERTISED_LISTENER_URL=tcp://{ip}:9092")),
        "{ud}"
    );
    assert!(ud.contains("STORAGE_ENGINE=sqlite:///data/skiff.db"));
    assert!(ud.contains("spal-release"));
    assert!(ud.contains("docker.service"));

    // Root and data volume: encrypted gp3, tagged, attached; the data
    // volume of the configured size, kept on termination, and its id is
    // in the user data.
    let vols = ec2
        .describe_volumes()
        .filters(tag_filter())
        .send()
        .await
        .unwrap();
    assert_eq!(vols.volumes().len(), 2);
    for vol in vols.volumes() {
        assert_eq!(vol.volume_type(), Some(&VolumeType::Gp3));
        assert_eq!(vol.encrypted(), Some(true));
        assert_eq!(vol.size(), Some(8));
        assert_eq!(vol.attachments()[0].instance_id(), Some(id));
        assert_skiff_tags(vol.tags(), "volume");
    }
    let data = data_volume(&ec2).await;
    assert_eq!(tag(data.tags(), "skiff:role"), Some("data"));
    assert_eq!(data.attachments()[0].device(), Some("/dev/sdf"));
    // Kept when the instance terminates (moto reports it on the
    // instance's block device mapping, not on the attachment).
    let sdf = inst
        .block_device_mappings()
        .iter()
        .find(|m| m.device_name() == Some("/dev/sdf"))
        .and_then(|m| m.ebs())
        .expect("the data volume in the instance's block devices");
    assert_eq!(sdf.volume_id(), data.volume_id());
    assert_eq!(sdf.delete_on_termination(), Some(false));
    assert_eq!(
        data.availability_zone(),
        inst.placement().and_then(|p| p.availability_zone())
    );
    let data_id = data.volume_id().unwrap();
    assert!(
        ud.contains(&format!("vol=\"{data_id}\"")),
        "the user data mounts the data volume"
    );
    let root = vols
        .volumes()
        .iter()
        .find(|v| v.volume_id() != Some(data_id))
        .unwrap();
    assert_eq!(tag(root.tags(), "skiff:role"), Some("root"));
    let root_bdm = inst
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs())
        .find(|e| e.volume_id() == root.volume_id())
        .expect("the root volume in the instance's block devices");
    assert_eq!(root_bdm.delete_on_termination(), Some(true));
    // The instance carries the hash of its launch inputs, not the contents.
    let launch = tag(inst.tags(), "skiff:launch").expect("launch hash tag");
    assert!(
        launch.len() == 32 && launch.bytes().all(|b| b.is_ascii_hexdigit()),
        "{launch}"
    );

    // A t3 configured `standard` boots `unlimited` (no launch credits in
    // standard mode) and is switched to `standard` once the broker answers
    // (moto ignores the mode, so read the requests); the launch carries a
    // client token.
    let calls = moto.calls();
    let run_instances: Vec<_> = calls.iter().filter(|(a, _)| a == "RunInstances").collect();
    assert_eq!(run_instances.len(), 1, "{calls:?}");
    let body = &run_instances[0].1;
    assert!(
        body.contains("CreditSpecification.CpuCredits=unlimited"),
        "{body}"
    );
    assert!(body.contains("ClientToken=skiff-skiff-"), "{body}");
    let launched_at = calls.iter().position(|(a, _)| a == "RunInstances").unwrap();
    let modify: Vec<_> = calls
        .iter()
        .enumerate()
        .filter(|(_, (a, _))| a == "ModifyInstanceCreditSpecification")
        .collect();
    // moto answers HTTP 500, which the SDK retries: every attempt asks for
    // standard, after the launch.
    assert!(!modify.is_empty(), "{calls:?}");
    for (i, (_, body)) in &modify {
        assert!(*i > launched_at);
        assert!(body.contains("CpuCredits=standard"), "{body}");
    }
    assert!(
        run.stdout
            .contains("credits unlimited for the first boot, then standard"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("credit mode unlimited -> standard"),
        "{}",
        run.stdout
    );
    let credit = ec2
        .describe_instance_credit_specifications()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        credit.instance_credit_specifications()[0].cpu_credits(),
        Some("standard")
    );

    // What the user is told.
    assert!(
        run.stdout
            .contains(&format!("Bootstrap address: {ip}:9092")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&format!("bootstrap.servers={ip}:9092")));
    assert!(run.stdout.contains("broker answered"));
    assert!(run.stdout.contains("Estimated monthly cost"));
    assert!(
        run.stdout.contains("total                 $  12.52"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("already up"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unlimited_credit_mode_and_volume_size_reach_the_launch() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("skiff.yaml"),
        "credit_mode: unlimited\nvolume_size_gb: 12\ninstance_type: t3.small\n",
    )
    .unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    let body = moto
        .calls()
        .into_iter()
        .find(|(a, _)| a == "RunInstances")
        .unwrap()
        .1;
    assert!(
        body.contains("CreditSpecification.CpuCredits=unlimited"),
        "{body}"
    );
    assert!(body.contains("InstanceType=t3.small"), "{body}");
    let ec2 = ec2(&moto).await;
    assert_eq!(data_volume(&ec2).await.size(), Some(12));
}

#[tokio::test(flavor = "multi_thread")]
async fn second_up_creates_nothing() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let broker = FakeBroker::deployed(&moto);
    let up = || {
        Skiff::new(&moto, home.path())
            .env("SKIFF_PROBE_ADDR", &broker.addr)
            .run(&["up", "--allow", ALLOW])
            .ok()
    };
    up();
    let before = moto.resources();
    moto.clear_recording();
    let run = up();
    assert!(run.stdout.contains("already up"), "{}", run.stdout);
    assert_unchanged(&before, &moto.resources(), "the second up");
    let mutating = mutating(moto.calls());
    assert!(mutating.is_empty(), "second up called {mutating:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupted_up_resumes_after_every_step() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let broker = FakeBroker::deployed(&moto);
    let ec2 = ec2(&moto).await;
    // (security groups, addresses, instances, volumes) after step k: the
    // data volume comes before the instance (its id is in the user data).
    let expected = [
        (0, 0, 0, 0),
        (1, 0, 0, 0),
        (1, 1, 0, 0),
        (1, 1, 0, 0),
        (1, 1, 0, 0),
        (1, 1, 0, 1),
    ];
    for k in 1..=STEPS {
        moto.reset();
        let run = Skiff::new(&moto, home.path())
            .env("SKIFF_PROBE_ADDR", &broker.addr)
            .env("SKIFF_STOP_AFTER_STEP", k.to_string())
            .run(&["up", "--allow", ALLOW])
            .fails();
        assert!(
            run.stderr.contains(&format!("stopped after step {k}")),
            "{}",
            run.stderr
        );
        let want = expected.get(k - 1).copied().unwrap_or((1, 1, 1, 2));
        assert_eq!(tagged_counts(&ec2).await, want, "after step {k}");

        let run = Skiff::new(&moto, home.path())
            .env("SKIFF_PROBE_ADDR", &broker.addr)
            .run(&["up", "--allow", ALLOW])
            .ok();
        assert_eq!(
            tagged_counts(&ec2).await,
            (1, 1, 1, 2),
            "resumed after step {k}"
        );
        // Step 10 attaches the address, the last change a new deployment
        // makes.
        assert_eq!(
            run.stdout.contains("already up"),
            k >= 10,
            "k={k}: {}",
            run.stdout
        );
        let addrs = ec2
            .describe_addresses()
            .filters(tag_filter())
            .send()
            .await
            .unwrap();
        let id = instance_id(&ec2).await;
        assert_eq!(
            addrs.addresses()[0].instance_id(),
            Some(id.as_str()),
            "EIP attached after resume {k}"
        );
        let data = data_volume(&ec2).await;
        assert_eq!(
            data.attachments().first().and_then(|a| a.instance_id()),
            Some(id.as_str()),
            "data volume attached after resume {k}"
        );
        let launches = moto
            .calls()
            .iter()
            .filter(|(a, _)| a == "RunInstances")
            .count();
        assert_eq!(
            launches, 1,
            "exactly one launch across interrupted and resumed up (k={k})"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_makes_no_mutating_call() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let read_only = |calls: Vec<(String, String)>| {
        let bad: Vec<_> = calls
            .into_iter()
            .map(|(a, _)| a)
            .filter(|a| {
                !a.starts_with("Describe") && !a.starts_with("Get") && !a.starts_with("List")
            })
            .collect();
        assert!(bad.is_empty(), "dry run made mutating calls: {bad:?}");
    };

    // On an empty account: the whole plan, nothing created. (One read
    // first: moto builds the region's default VPC and images lazily.)
    ec2(&moto).await.describe_vpcs().send().await.unwrap();
    let before = moto.resources();
    Skiff::new(&moto, home.path())
        .run(&["up", "--dry-run", "--allow", ALLOW])
        .ok()
        .stdout_has(&[
            "would create skiff-skiff allowing tcp/9092 from 203.0.113.7/32",
            "would allocate an Elastic IP",
            "would launch t3.micro",
            "Estimated monthly cost",
            "Run `skiff up` to apply",
        ]);
    assert_unchanged(&before, &moto.resources(), "dry run");
    read_only(moto.calls());

    // On a deployment, with a changed rule: planned, not applied.
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    let before = moto.resources();
    moto.clear_recording();
    let run = Skiff::new(&moto, home.path())
        .run(&["up", "--dry-run", "--allow", "198.51.100.0/24"])
        .ok();
    assert_unchanged(&before, &moto.resources(), "dry run");
    read_only(moto.calls());
    assert!(run.stdout.contains("would update rules"), "{}", run.stdout);
    assert!(
        run.stdout.contains("+198.51.100.0/24 -203.0.113.7/32"),
        "{}",
        run.stdout
    );

    let run = Skiff::new(&moto, home.path())
        .run(&["up", "--dry-run", "--allow", ALLOW])
        .ok();
    assert!(
        run.stdout.contains("Nothing to change: already up"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_prints_the_results_but_no_step_lines() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    // A quiet dry run still shows the plan: its steps are the result.
    let run = Skiff::new(&moto, home.path())
        .run(&["--quiet", "up", "--dry-run", "--allow", ALLOW])
        .ok()
        .stdout_has(&["[7/15] instance", "would launch t3.micro", "Run `skiff up`"]);
    // Only warnings (moto serves neither the Free Tier API nor the EC2
    // vCPU quota, which the preflight says): no progress, no step lines.
    assert!(
        run.stderr.lines().all(|l| l.starts_with("warning: ")),
        "{}",
        run.stderr
    );
    let run = Skiff::new(&moto, home.path())
        .run(&["up", "-q", "--allow", ALLOW, "--no-wait"])
        .ok()
        .stdout_has(&["Bootstrap address: ", "Estimated monthly cost"]);
    assert!(!run.stdout.contains("[1/15]"), "{}", run.stdout);
    assert!(!run.stdout.contains("Deploying"), "{}", run.stdout);
    assert_eq!(tagged_counts(&ec2(&moto).await).await, (1, 1, 1, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_allow_list_converges_the_rules() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    Skiff::new(&moto, home.path())
        .run(&[
            "up",
            "--allow",
            "198.51.100.0/24",
            "--allow",
            "192.0.2.4/32",
            "--no-wait",
        ])
        .ok();
    let ec2 = ec2(&moto).await;
    let sgs = ec2
        .describe_security_groups()
        .filters(tag_filter())
        .send()
        .await
        .unwrap();
    let mut cidrs: Vec<String> = sgs.security_groups()[0]
        .ip_permissions()
        .iter()
        .flat_map(|p| p.ip_ranges())
        .filter_map(|r| r.cidr_ip().map(str::to_string))
        .collect();
    cidrs.sort();
    assert_eq!(cidrs, vec!["192.0.2.4/32", "198.51.100.0/24"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn detected_public_address_is_allowed_as_slash_32() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let url = checkip_server("198.51.100.23\n");
    let run = Skiff::new(&moto, home.path())
        .env("SKIFF_CHECKIP_URL", &url)
        .run(&["up", "--no-wait"])
        .ok();
    assert!(run
        .stdout
        .contains("allowing your public address 198.51.100.23/32"));
    let ec2 = ec2(&moto).await;
    let sgs = ec2
        .describe_security_groups()
        .filters(tag_filter())
        .send()
        .await
        .unwrap();
    let cidrs: Vec<_> = sgs.security_groups()[0]
        .ip_permissions()
        .iter()
        .flat_map(|p| p.ip_ranges())
        .filter_map(|r| r.cidr_ip())
        .collect();
    assert_eq!(cidrs, vec!["198.51.100.23/32"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn undetectable_address_asks_for_allow() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let run = Skiff::new(&moto, home.path())
        .run(&["up", "--no-wait"])
        .fails();
    assert!(
        run.stderr.contains("cannot detect your public IP address"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--allow"), "{}", run.stderr);
    assert_eq!(tagged_counts(&ec2(&moto).await).await, (0, 0, 0, 0));
    // A dry run still shows the plan, with a placeholder and the warning.
    let run = Skiff::new(&moto, home.path())
        .run(&["up", "--dry-run"])
        .ok();
    assert!(
        run.stderr.contains("warning: cannot detect"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("from <your public IP>/32"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn public_flag_opens_the_world() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    // SASL_SSL (the default): said, not warned (tests/security.rs has the
    // plaintext rules).
    let run = Skiff::new(&moto, home.path())
        .run(&["up", "--public", "--no-wait"])
        .ok();
    assert!(run
        .stdout
        .contains("allowing the whole internet (0.0.0.0/0) on port 9092"));
    let ec2 = ec2(&moto).await;
    let sgs = ec2
        .describe_security_groups()
        .filters(tag_filter())
        .send()
        .await
        .unwrap();
    let cidrs: Vec<_> = sgs.security_groups()[0]
        .ip_permissions()
        .iter()
        .flat_map(|p| p.ip_ranges())
        .filter_map(|r| r.cidr_ip())
        .collect();
    assert_eq!(cidrs, vec!["0.0.0.0/0"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn t4g_gets_the_arm64_image() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let run = Skiff::new(&moto, home.path())
        .run(&[
            "up",
            "--instance-type",
            "t4g.micro",
            "--allow",
            ALLOW,
            "--no-wait",
        ])
        .ok();
    assert!(
        run.stdout.contains("(Amazon Linux 2023, arm64)"),
        "{}",
        run.stdout
    );
    let arm_ami = ssm(&moto)
        .await
        .get_parameter()
        .name("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64")
        .send()
        .await
        .unwrap()
        .parameter()
        .unwrap()
        .value()
        .unwrap()
        .to_string();
    let res = ec2(&moto)
        .await
        .describe_instances()
        .filters(tag_filter())
        .send()
        .await
        .unwrap();
    let inst = &res.reservations()[0].instances()[0];
    assert_eq!(inst.image_id(), Some(arm_ami.as_str()));
    assert_eq!(inst.instance_type().unwrap().as_str(), "t4g.micro");
}

#[tokio::test(flavor = "multi_thread")]
async fn up_starts_a_stopped_instance_instead_of_launching_another() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    let ec2 = ec2(&moto).await;
    let res = ec2
        .describe_instances()
        .filters(tag_filter())
        .send()
        .await
        .unwrap();
    let id = res.reservations()[0].instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    ec2.stop_instances().instance_ids(&id).send().await.unwrap();
    let run = Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    assert!(
        run.stdout.contains(&format!("started {id}")),
        "{}",
        run.stdout
    );
    assert_eq!(tagged_counts(&ec2).await, (1, 1, 1, 2));
    let res = ec2
        .describe_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.reservations()[0].instances()[0].state().unwrap().name(),
        Some(&InstanceStateName::Running)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_waiting_a_t3_launches_in_its_configured_standard_mode() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    // `up` switches a first-boot `unlimited` back only when it waits for
    // the broker: with --no-wait the launch is already `standard`.
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    let calls = moto.calls();
    let body = &calls
        .iter()
        .find(|(a, _)| a == "RunInstances")
        .expect("RunInstances")
        .1;
    assert!(
        body.contains("CreditSpecification.CpuCredits=standard"),
        "{body}"
    );
    assert!(!calls
        .iter()
        .any(|(a, _)| a == "ModifyInstanceCreditSpecification"));
}
