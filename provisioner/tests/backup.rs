//! Backups against moto: `backup` snapshots the data volume (tagged and
//! named), `backups` lists it with size, age and cost, `restore` brings it
//! back into a running deployment (asking first) or as a new deployment,
//! `down` asks before it deletes backups and keeps them with
//! `--keep-backups`, `down --keep-data` then `up` reuses the same volume,
//! and a backup schedule is planned (moto has no Data Lifecycle Manager).

use crate::common::*;

async fn snapshots(ec2: &aws_sdk_ec2::Client) -> Vec<aws_sdk_ec2::types::Snapshot> {
    ec2.describe_snapshots()
        .owner_ids("self")
        .filters(tag_filter())
        .send()
        .await
        .unwrap()
        .snapshots()
        .to_vec()
}

fn tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_backups_and_restore_into_the_running_deployment() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let broker = FakeBroker::deployed(&moto);
    let skiff = || Skiff::new(&moto, home.path()).env("SKIFF_PROBE_ADDR", &broker.addr);
    skiff().run(&["up", "--allow", ALLOW]).ok();
    let ec2 = ec2(&moto).await;
    let old_instance = instance_id(&ec2).await;
    let old_volume = data_volume(&ec2).await.volume_id().unwrap().to_string();

    skiff()
        .run(&["backups"])
        .ok()
        .stdout_has(&["no backups of deployment `skiff`"]);
    let run = skiff().run(&["backup"]).ok().stdout_has(&[
        &format!("of data volume {old_volume} (8 GiB) started: skiff-skiff-"),
        "crash-consistent",
        "SKIFF_DURABILITY=normal",
        "$0.05 per GiB-month",
        "at most $0.40/month",
    ]);
    let snaps = snapshots(&ec2).await;
    assert_eq!(snaps.len(), 1);
    let snap = &snaps[0];
    let snap_id = snap.snapshot_id().unwrap().to_string();
    assert!(run.stdout.contains(&format!("skiff restore {snap_id}")));
    assert_eq!(snap.volume_id(), Some(old_volume.as_str()));
    assert_eq!(tag(snap.tags(), "managed-by"), Some("skiff"));
    assert_eq!(tag(snap.tags(), "skiff:name"), Some("skiff"));
    assert_eq!(tag(snap.tags(), "skiff:role"), Some("data"));
    assert_eq!(tag(snap.tags(), "skiff:backup"), Some("manual"));
    let name = tag(snap.tags(), "Name").unwrap();
    assert!(
        name.starts_with("skiff-skiff-2") && name.ends_with('Z') && name.len() == 26,
        "{name}"
    );

    skiff().run(&["backups"]).ok().stdout_has(&[
        snap_id.as_str(),
        "8 GiB",
        "manual",
        "completed",
        name,
        "1 backup(s) of volumes totalling 8 GiB: at most $0.40/month",
    ]);
    skiff()
        .run(&["status"])
        .ok()
        .stdout_has(&["last backup:  ", &snap_id, "1 backup(s) in all"]);

    // A bad id never reaches AWS; another deployment's snapshot that is
    // not a Skiff data volume is refused.
    moto.clear_recording();
    skiff()
        .run(&["restore", "snap-123; reboot", "--yes"])
        .fails()
        .stderr_has(&["is not a snapshot id", "e.g. snap-0123456789abcdef0"]);
    assert!(moto.calls().is_empty());

    // Restore into the running deployment asks first.
    let run = skiff().run(&["restore", &snap_id]).fails();
    assert!(
        run.stdout
            .contains("replaces the data of deployment `skiff`"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("{old_volume} (8 GiB) is set aside")),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
    assert_eq!(
        data_volume(&ec2).await.volume_id(),
        Some(old_volume.as_str())
    );

    moto.clear_recording();
    skiff()
        .run(&["restore", &snap_id, "--yes"])
        .ok()
        .stdout_has(&[
            "created data volume vol-",
            &format!("from {snap_id}"),
            "launched i-",
        ]);
    let new_volume = data_volume(&ec2).await;
    let new_id = new_volume.volume_id().unwrap().to_string();
    assert_ne!(new_id, old_volume);
    assert_eq!(new_volume.snapshot_id(), Some(snap_id.as_str()));
    assert_eq!(new_volume.encrypted(), Some(true));
    let new_instance = instance_id(&ec2).await;
    assert_ne!(new_instance, old_instance);
    assert_eq!(
        new_volume
            .attachments()
            .first()
            .and_then(|a| a.instance_id()),
        Some(new_instance.as_str())
    );
    // The old data volume is kept, detached, never deleted.
    let old = data_volumes(&ec2)
        .await
        .into_iter()
        .find(|v| v.volume_id() == Some(old_volume.as_str()))
        .expect("the old data volume still exists");
    assert_eq!(tag(old.tags(), "skiff:kept"), Some("true"));
    assert!(old.attachments().is_empty());
    let calls = moto.calls();
    assert!(!calls.iter().any(|(a, _)| a == "DeleteVolume"));
    let pos = |a: &str| calls.iter().position(|(c, _)| c == a).unwrap();
    assert!(pos("CreateVolume") < pos("RunInstances"));
    assert!(pos("StopInstances") < pos("AttachVolume"));
}

#[tokio::test(flavor = "multi_thread")]
async fn down_asks_about_backups_and_restore_makes_a_new_deployment() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let skiff = || Skiff::new(&moto, home.path());
    skiff().run(&["up", "--allow", ALLOW, "--no-wait"]).ok();
    skiff().run(&["backup"]).ok();
    let ec2 = ec2(&moto).await;
    let snap_id = snapshots(&ec2).await[0].snapshot_id().unwrap().to_string();

    // Without --keep-backups, down lists them and asks.
    let run = skiff().run(&["down"]).fails();
    assert!(
        run.stdout
            .contains("backups         1 snapshot(s) of 8 GiB in all (at most $0.40/month): deleted if you say so below (--keep-backups keeps them)"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
    assert_eq!(snapshots(&ec2).await.len(), 1);

    skiff()
        .run(&["down", "--yes", "--keep-backups"])
        .ok()
        .stdout_has(&["KEPT (--keep-backups)", "kept 1 snapshot(s)"]);
    assert_eq!(tagged_counts(&ec2).await, (0, 0, 0, 0));
    assert_eq!(role_profile_logs(&moto).await, (0, 0, 0));
    assert_eq!(snapshots(&ec2).await.len(), 1);

    // A new deployment from the backup.
    skiff()
        .run(&["restore", &snap_id, "--no-wait", "--allow", ALLOW])
        .ok()
        .stdout_has(&["makes a new deployment `skiff`", "created data volume"]);
    assert_eq!(tagged_counts(&ec2).await, (1, 1, 1, 2));
    let data = data_volume(&ec2).await;
    assert_eq!(data.snapshot_id(), Some(snap_id.as_str()));
    assert_eq!(
        data.attachments().first().and_then(|a| a.instance_id()),
        Some(instance_id(&ec2).await.as_str())
    );

    // With --yes, down deletes the backups too.
    skiff()
        .run(&["down", "--yes"])
        .ok()
        .stdout_has(&["deleted 1 snapshot(s)"]);
    assert!(snapshots(&ec2).await.is_empty());
    assert_eq!(tagged_counts(&ec2).await, (0, 0, 0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn down_keep_data_then_up_reuses_the_same_volume() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let skiff = || Skiff::new(&moto, home.path());
    skiff().run(&["up", "--allow", ALLOW, "--no-wait"]).ok();
    let ec2 = ec2(&moto).await;
    let volume = data_volume(&ec2).await.volume_id().unwrap().to_string();
    skiff().run(&["down", "--yes", "--keep-data"]).ok();
    assert_eq!(tagged_counts(&ec2).await, (0, 0, 0, 1));
    skiff().run(&["status"]).ok().stdout_has(&[
        "not deployed",
        &format!("kept volume:  {volume}"),
        "`skiff up` attaches it again",
    ]);

    skiff()
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok()
        .stdout_has(&[&format!("reusing {volume}")]);
    assert_eq!(tagged_counts(&ec2).await, (1, 1, 1, 2));
    let data = data_volume(&ec2).await;
    assert_eq!(data.volume_id(), Some(volume.as_str()));
    assert!(tag(data.tags(), "skiff:kept").is_none());
    assert_eq!(
        data.attachments().first().and_then(|a| a.instance_id()),
        Some(instance_id(&ec2).await.as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_schedule_is_planned_as_a_lifecycle_policy() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("skiff.yaml"),
        "backup_schedule: {every: daily, keep: 7, at: \"03:30\"}\n",
    )
    .unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--dry-run"])
        .ok()
        .stdout_has(&[
            "[15/15] backup schedule",
            "would create an EBS lifecycle policy: snapshots of the new data volume daily, keep 7, at 03:30 UTC",
            "at most $2.80/month for 7 of 8 GiB",
        ]);
    // No Data Lifecycle Manager call in a plan (and none without a
    // schedule: moto has no DLM).
    assert!(!moto.calls().iter().any(|(a, _)| a.contains("Lifecycle")));
}
