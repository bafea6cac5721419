//! `skiff down` against moto: removes every tagged resource, is harmless
//! twice, works after a partial `up`, keeps the volume with `--keep-data`,
//! and never deletes without confirmation.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn down_leaves_no_tagged_resource_and_is_harmless_twice() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    let ec2 = ec2(&moto).await;
    assert_eq!(tagged_counts(&ec2).await, (1, 1, 1, 2));

    Skiff::new(&moto, home.path())
        .run(&["down", "--yes"])
        .ok()
        .stdout_has(&[
            "instance",
            "Elastic IP",
            "security group",
            "volume",
            "is down",
        ]);
    assert_eq!(tagged_counts(&ec2).await, (0, 0, 0, 0));
    // The instance was terminated (and waited for) before the group went.
    let calls: Vec<String> = moto.calls().into_iter().map(|(a, _)| a).collect();
    let pos = |a: &str| {
        calls
            .iter()
            .position(|c| c == a)
            .unwrap_or_else(|| panic!("no {a} in {calls:?}"))
    };
    assert!(pos("TerminateInstances") < pos("ReleaseAddress"));
    assert!(pos("TerminateInstances") < pos("DeleteSecurityGroup"));
    assert!(pos("DisassociateAddress") < pos("ReleaseAddress"));

    let run = Skiff::new(&moto, home.path()).run(&["down", "--yes"]).ok();
    assert!(run.stdout.contains("nothing to delete"), "{}", run.stdout);
    assert_eq!(tagged_counts(&ec2).await, (0, 0, 0, 0));

    // And `up` after `down` deploys afresh (a new client token).
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    assert_eq!(tagged_counts(&ec2).await, (1, 1, 1, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn down_after_partial_up_removes_what_exists() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let ec2 = ec2(&moto).await;
    for k in [2, 3, 4] {
        moto.reset();
        Skiff::new(&moto, home.path())
            .env("SKIFF_STOP_AFTER_STEP", k.to_string())
            .run(&["up", "--allow", ALLOW, "--no-wait"])
            .fails();
        assert_ne!(tagged_counts(&ec2).await, (0, 0, 0, 0));
        Skiff::new(&moto, home.path()).run(&["down", "--yes"]).ok();
        assert_eq!(
            tagged_counts(&ec2).await,
            (0, 0, 0, 0),
            "after partial up to step {k}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupted_down_resumes() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    let ec2 = ec2(&moto).await;
    // After step 5 the instance (and its root volume) are gone; the
    // address, the group and the data volume are left.
    Skiff::new(&moto, home.path())
        .env("SKIFF_STOP_AFTER_STEP", "5")
        .run(&["down", "--yes"])
        .fails()
        .stdout_has(&["[5/10] instance", "terminated i-"])
        .stderr_has(&["stopped after step 5", "run `skiff down` again"]);
    assert_eq!(tagged_counts(&ec2).await, (1, 1, 0, 1));
    Skiff::new(&moto, home.path())
        .run(&["down", "--yes"])
        .ok()
        .stdout_has(&["released Elastic IP", "deleted security group", "is down"]);
    assert_eq!(tagged_counts(&ec2).await, (0, 0, 0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn down_only_touches_its_own_deployment() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    for name in ["alpha", "beta"] {
        Skiff::new(&moto, home.path())
            .run(&["--name", name, "up", "--allow", ALLOW, "--no-wait"])
            .ok();
    }
    let ec2 = ec2(&moto).await;
    assert_eq!(tagged_counts(&ec2).await, (2, 2, 2, 4));
    Skiff::new(&moto, home.path())
        .run(&["--name", "alpha", "down", "--yes"])
        .ok();
    assert_eq!(tagged_counts(&ec2).await, (1, 1, 1, 2));
    let run = Skiff::new(&moto, home.path())
        .run(&["--name", "beta", "status"])
        .ok();
    assert!(
        run.stdout.contains("state:        running"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn down_keep_data_keeps_the_volume_and_says_how_to_reuse_it() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    let ec2 = ec2(&moto).await;
    let vol_id = data_volume(&ec2).await.volume_id().unwrap().to_string();
    let run = Skiff::new(&moto, home.path())
        .run(&["down", "--yes", "--keep-data"])
        .ok();
    assert!(
        run.stdout.contains(&format!("kept volume {vol_id}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("`skiff up` attaches it again"),
        "{}",
        run.stdout
    );
    assert_eq!(tagged_counts(&ec2).await, (0, 0, 0, 1));
    let vols = ec2
        .describe_volumes()
        .filters(tag_filter())
        .send()
        .await
        .unwrap();
    let v = &vols.volumes()[0];
    assert_eq!(v.volume_id(), Some(vol_id.as_str()));
    assert!(v.tags().iter().any(|t| t.key() == Some("skiff:kept")));

    // A second down leaves the kept data alone.
    let run = Skiff::new(&moto, home.path()).run(&["down", "--yes"]).ok();
    assert!(run.stdout.contains("nothing to delete"), "{}", run.stdout);
    assert_eq!(tagged_counts(&ec2).await, (0, 0, 0, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn down_without_yes_and_without_terminal_deletes_nothing() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok();
    let run = Skiff::new(&moto, home.path()).run(&["down"]).fails();
    assert!(
        run.stdout.contains("skiff down will delete"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
    assert_eq!(tagged_counts(&ec2(&moto).await).await, (1, 1, 1, 2));
}
