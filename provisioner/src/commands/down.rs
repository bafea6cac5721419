//! `skiff down`: deletes everything the deployment created, found by tags,
//! in dependency order, as numbered steps: the alert alarms and SNS topic
//! first (so the terminating instance sends no alert), the backup schedule
//! (lifecycle policy), then, with `--keep-data`, the data volume is tagged
//! to be kept (a deployment made before data volumes: its root volume is
//! marked to survive); the Elastic IP is detached, the instance terminated
//! and waited for (AWS refuses to delete a security group an instance
//! still uses), then the address released and the group deleted (retrying
//! on DependencyViolation while AWS catches up), then the volumes left
//! (the data volume, unless kept), the instance role, the log group and
//! the TLS key and certificate parameters, and last the backups, which it asks about separately (`--keep-backups`
//! keeps them). Works after a partial `up` or `down`; with nothing left it
//! says so and succeeds.
//!
//! The local secrets (admin password, CA file) stay unless
//! `--forget-secrets`: a later `up` of the same name then logs in with the
//! same password (a kept data volume's broker knows only that one, so
//! `--forget-secrets` is refused with `--keep-data`).

use crate::aws::alerts::Alerts;
use crate::aws::inventory::Inventory;
use crate::aws::{self, api, snapshots, tags, Clients};
use crate::config::Overrides;
use crate::deploy::{access, alerts as deploy_alerts, data_volume, schedule, security};
use crate::printer::Printer;
use crate::render::DATA_DIR;
use crate::runner::{Outcome, Runner};
use crate::{cost, Global};
use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::error::DisplayErrorContext;
use aws_sdk_ec2::types::{
    EbsInstanceBlockDeviceSpecification, InstanceBlockDeviceMappingSpecification, Tag,
};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct DownArgs {
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Keep the data volume (the broker's data); the next `skiff up`
    /// attaches it again.
    #[arg(long)]
    pub keep_data: bool,
    /// Keep the backups (snapshots) instead of deleting them.
    #[arg(long)]
    pub keep_backups: bool,
    /// Also delete this machine's secrets of the deployment (the admin
    /// password and the CA file); kept by default, so a later `up` of the
    /// same name keeps the password.
    #[arg(long)]
    pub forget_secrets: bool,
}

/// The refusal of `--forget-secrets` with `--keep-data`.
pub const FORGET_WITH_KEEP: &str = "--forget-secrets with --keep-data would lock you out: the \
    kept data volume's broker knows only the current admin password, and the next `skiff up` \
    would make a new one. Drop --forget-secrets (the password stays in the secrets directory)";

/// Number of steps of `down`.
const STEPS: usize = 10;
const TERMINATE_TIMEOUT: Duration = Duration::from_secs(600);
const SG_DELETE_TIMEOUT: Duration = Duration::from_secs(300);

pub async fn run(g: &Global, out: &Printer, a: &DownArgs) -> Result<()> {
    let config = super::load_config(
        g,
        Overrides {
            keep_data: a.keep_data,
            ..Default::default()
        },
    )?;
    let keep = config.keep_data;
    if keep && a.forget_secrets {
        bail!(FORGET_WITH_KEEP);
    }
    let secrets_dir = crate::secrets::Dir::for_deployment(&config.name)?;
    let clients = aws::connect(config.region.as_deref()).await?;
    let inv = Inventory::load(&clients, &config.name).await?;
    // Alerts are optional: an account without SNS/CloudWatch permissions
    // (that never had alerts) can still remove its deployment.
    let alerts = Alerts::load(&clients, &config.name)
        .await
        .unwrap_or_else(|e| {
            out.warn(format!(
                "could not look for alarms and the alert topic: {e}"
            ));
            Alerts::default()
        });
    // The role and log group are optional too (an account without IAM
    // or CloudWatch Logs permissions that never had them).
    let mut extras = access::existing(&clients, &config.name)
        .await
        .unwrap_or_else(|e| {
            out.warn(format!(
                "could not look for the instance role and log group: {e:#}"
            ));
            Vec::new()
        });
    extras.extend(
        security::existing(&clients, &config.name)
            .await
            .unwrap_or_else(|e| {
                out.warn(format!("could not look for the TLS key parameters: {e:#}"));
                Vec::new()
            }),
    );
    let backups = snapshots::list(&clients, &config.name).await?;
    if inv.is_empty() && alerts.is_empty() && extras.is_empty() && backups.is_empty() {
        out.out(format!(
            "nothing to delete: no resources tagged skiff:name={} in {}",
            config.name, clients.region
        ));
        forget_secrets(out, &secrets_dir, a.forget_secrets)?;
        for v in inv.volumes.iter().filter(|v| v.kept) {
            out.out(format!(
                "kept volume {} ({} GiB, ${:.2}/month) from an earlier `down --keep-data` remains; `skiff up` uses it again, or delete it with `aws ec2 delete-volume --volume-id {}`",
                v.id,
                v.size_gib,
                f64::from(v.size_gib.max(0)) * cost::GP3_USD_PER_GIB_MONTH,
                v.id
            ));
        }
        return Ok(());
    }

    out.out(format!(
        "skiff down will delete deployment `{}` in {}:",
        config.name, clients.region
    ));
    for i in &inv.instances {
        out.out(format!(
            "  instance        {} ({}, {})",
            i.id,
            i.instance_type,
            i.state.as_str()
        ));
    }
    let legacy = inv.data_volume().is_none();
    for v in inv.volumes.iter().filter(|v| !v.kept) {
        let holds_data = v.is_data() || (legacy && v.attached_to.is_some());
        let fate = if keep && holds_data {
            "KEPT (--keep-data)"
        } else {
            "deleted"
        };
        let what = if v.is_data() { "data volume" } else { "volume" };
        out.out(format!(
            "  {what:<15} {} ({} GiB, {fate})",
            v.id, v.size_gib
        ));
    }
    for ad in &inv.addresses {
        out.out(format!(
            "  Elastic IP      {} ({})",
            ad.public_ip, ad.allocation_id
        ));
    }
    for sg in &inv.security_groups {
        out.out(format!("  security group  {} ({})", sg.id, sg.name));
    }
    for al in &alerts.alarms {
        out.out(format!("  alarm           {}", al.alarm.name));
    }
    if let Some(arn) = &alerts.topic_arn {
        out.out(format!("  SNS topic       {arn}"));
    }
    for e in &extras {
        out.out(format!("  {e}"));
    }
    if secrets_dir.path().exists() {
        out.out(format!(
            "  local secrets   {} ({})",
            secrets_dir.path().display(),
            if a.forget_secrets {
                "deleted (--forget-secrets)"
            } else {
                "KEPT: the next `up` of this name keeps the admin password; --forget-secrets deletes them"
            }
        ));
    }
    let backup_gib: i64 = backups.iter().map(|b| i64::from(b.volume_gib.max(0))).sum();
    if !backups.is_empty() {
        out.out(format!(
            "  backups         {} snapshot(s) of {backup_gib} GiB in all (at most ${:.2}/month): {}",
            backups.len(),
            backup_gib as f64 * cost::SNAPSHOT_USD_PER_GIB_MONTH,
            if a.keep_backups {
                "KEPT (--keep-backups)"
            } else {
                "deleted if you say so below (--keep-backups keeps them)"
            }
        ));
    }
    if !a.yes && !out.confirm("Delete all of this?")? {
        bail!("cancelled; nothing was deleted");
    }
    let delete_backups = !backups.is_empty()
        && !a.keep_backups
        && (a.yes
            || out.confirm(&format!(
                "Also delete the {} backup(s)? They are the only copy of the data once the volume is gone.",
                backups.len()
            ))?);

    let resume = if keep {
        "skiff down --keep-data"
    } else {
        "skiff down"
    };
    let mut r = Runner::new(out, STEPS, resume).stop_after(g.hooks.stop_after_step);
    let ec2 = &clients.ec2;

    let s = r.start("alerts");
    let outcome = deploy_alerts::remove(&clients, &alerts, false, "down").await?;
    r.finish(s, outcome)?;

    let s = r.start("backup schedule");
    let outcome = match inv.data_volume().filter(|v| v.schedule.is_some()) {
        Some(v) => schedule::remove(&clients, &config.name, &v.id, false).await?,
        None => Outcome::found("none"),
    };
    r.finish(s, outcome)?;

    let s = r.start("data");
    let outcome = match (keep, inv.data_volume()) {
        (true, Some(v)) => keep_data_volume(&clients, &inv, &config.name, &v.id).await?,
        (true, None) => keep_root_volumes(&clients, &inv, &config.name).await?,
        (false, Some(v)) => {
            Outcome::found(format!("{} is deleted once the instance is gone", v.id))
        }
        (false, None) => Outcome::found("the root volume goes with the instance"),
    };
    r.finish(s, outcome)?;

    let s = r.start("detach Elastic IP");
    let mut detached = Vec::new();
    for ad in &inv.addresses {
        if let Some(assoc) = &ad.association_id {
            let r = ec2
                .disassociate_address()
                .association_id(assoc)
                .send()
                .await
                .map_err(api("detach the Elastic IP"));
            match r {
                Ok(_) => detached.push(ad.public_ip.clone()),
                Err(e) if e.code_is("InvalidAssociationID.NotFound") => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let outcome = if detached.is_empty() {
        Outcome::found("none attached")
    } else {
        Outcome::changed(format!("detached {}", detached.join(", ")))
    };
    r.finish(s, outcome)?;

    let s = r.start("instance");
    let outcome = if inv.instances.is_empty() {
        Outcome::found("none")
    } else {
        let ids: Vec<String> = inv.instances.iter().map(|i| i.id.clone()).collect();
        s.progress().set(format!("terminating {}", ids.join(", ")));
        ec2.terminate_instances()
            .set_instance_ids(Some(ids.clone()))
            .send()
            .await
            .map_err(api("terminate the instance"))?;
        ec2.wait_until_instance_terminated()
            .set_instance_ids(Some(ids.clone()))
            .wait(TERMINATE_TIMEOUT)
            .await
            .map_err(|e| anyhow!("{}", DisplayErrorContext(e)))
            .context("waiting for the instance to terminate")?;
        Outcome::changed(format!("terminated {}", ids.join(", ")))
    };
    r.finish(s, outcome)?;

    let s = r.start("Elastic IP");
    let mut released = Vec::new();
    for ad in &inv.addresses {
        let r = ec2
            .release_address()
            .allocation_id(&ad.allocation_id)
            .send()
            .await
            .map_err(api("release the Elastic IP"));
        match r {
            Ok(_) => released.push(format!("released Elastic IP {}", ad.public_ip)),
            Err(e) if e.code_is("InvalidAllocationID.NotFound") => {}
            Err(e) => return Err(e.into()),
        }
    }
    r.finish(s, done_or_none(released))?;

    let s = r.start("security group");
    let mut deleted = Vec::new();
    for sg in &inv.security_groups {
        delete_security_group(&clients, &sg.id).await?;
        deleted.push(format!("deleted security group {}", sg.id));
    }
    r.finish(s, done_or_none(deleted))?;

    // Volumes: the root volume goes with the instance (DeleteOnTermination);
    // the data volume (unless kept) and anything still tagged and detached
    // (a leftover of a partial run) are deleted here.
    let s = r.start("volumes");
    let after = Inventory::load(&clients, &config.name).await?;
    let mut deleted = Vec::new();
    for v in after.volumes.iter().filter(|v| !v.kept) {
        // The data volume detaches as its instance terminates; give it the
        // moment AWS needs (no live instance holds it any more).
        let holder_live = v
            .attached_to
            .as_deref()
            .is_some_and(|h| after.instances.iter().any(|i| i.id == h));
        if v.is_data() && v.state != "available" && !holder_live {
            s.progress().set(format!("waiting for {} to detach", v.id));
            data_volume::wait_available(&clients, &v.id).await?;
        }
        if v.state == "available" || (v.is_data() && !holder_live) {
            match ec2
                .delete_volume()
                .volume_id(&v.id)
                .send()
                .await
                .map_err(api("delete the volume"))
            {
                Ok(_) => deleted.push(format!("deleted volume {}", v.id)),
                Err(e) if e.code_is("InvalidVolume.NotFound") => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    r.finish(s, done_or_none(deleted))?;

    let s = r.start("instance role, logs");
    let removed = match access::remove(&clients, &config.name).await {
        // A backup schedule's role left by an interrupted `up` (one whose
        // policy exists went with step 2).
        Ok(mut r) => {
            let dlm_role = schedule::role_name(&config.name, &clients.region);
            r.extend(crate::aws::iam::delete_role(&clients, &config.name, &dlm_role, None).await?);
            r.extend(security::remove(&clients, &config.name).await?);
            r
        }
        Err(e) if extras.is_empty() => {
            s.progress().warn(format!(
                "could not check for the instance role and log group: {e:#}"
            ));
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    r.finish(
        s,
        done_or_none(removed.iter().map(|x| format!("deleted {x}")).collect()),
    )?;

    let s = r.start("backups");
    let outcome = if backups.is_empty() {
        Outcome::found("none")
    } else if !delete_backups {
        Outcome::found(format!(
            "kept {} snapshot(s) (at most ${:.2}/month): `skiff backups` lists them, `skiff restore` uses them",
            backups.len(),
            backup_gib as f64 * cost::SNAPSHOT_USD_PER_GIB_MONTH
        ))
    } else {
        for b in &backups {
            s.progress().set(format!("deleting {}", b.id));
            snapshots::delete(&clients, &b.id).await?;
        }
        Outcome::changed(format!("deleted {} snapshot(s)", backups.len()))
    };
    r.finish(s, outcome)?;

    let kept: Vec<_> = after.volumes.iter().filter(|v| v.kept).collect();
    for v in &kept {
        let cost = f64::from(v.size_gib.max(0)) * cost::GP3_USD_PER_GIB_MONTH;
        if v.is_data() {
            out.out(format!(
                "\nkept volume {} ({} GiB, the data volume, tagged {}=true, ${cost:.2}/month): `skiff up` attaches it again \
                 (same name and region). Delete it when you no longer need it: `aws ec2 delete-volume --volume-id {}`.",
                v.id,
                v.size_gib,
                tags::KEPT_KEY,
                v.id
            ));
        } else {
            out.out(format!(
                "\nkept volume {} ({} GiB, tagged {}=true, ${cost:.2}/month): a root volume made before data volumes, \
                 the broker's data is {DATA_DIR}/skiff.db on it.\n\
                 To reuse it, attach it to an instance (`aws ec2 attach-volume --volume-id {} --instance-id <id> --device /dev/sdf`),\n\
                 mount it and copy {DATA_DIR}/skiff.db into the new deployment's {DATA_DIR} while the broker is stopped.\n\
                 Delete it when done: `aws ec2 delete-volume --volume-id {}`.",
                v.id,
                v.size_gib,
                tags::KEPT_KEY,
                v.id,
                v.id
            ));
        }
    }
    forget_secrets(out, &secrets_dir, a.forget_secrets)?;
    out.out(format!("\ndeployment `{}` is down", config.name));
    Ok(())
}

/// Deletes the local secrets directory when asked to, else says where it
/// stays.
fn forget_secrets(out: &Printer, dir: &crate::secrets::Dir, forget: bool) -> Result<()> {
    if forget {
        if dir.remove()? {
            out.out(format!(
                "deleted the local secrets {}",
                dir.path().display()
            ));
        }
    } else if dir.path().exists() {
        out.out(format!(
            "kept the local secrets {} (admin password, CA file): the next `skiff up` of this name \
             keeps the password; `skiff down --forget-secrets` deletes them",
            dir.path().display()
        ));
    }
    Ok(())
}

/// The outcome of a step that did each of `done`, or found nothing to do.
fn done_or_none(done: Vec<String>) -> Outcome {
    if done.is_empty() {
        Outcome::found("none")
    } else {
        Outcome::changed(done.join("; "))
    }
}

/// Tags the data volume as kept (it is DeleteOnTermination=false already;
/// made sure of on the instance it is attached to).
async fn keep_data_volume(
    clients: &Clients,
    inv: &Inventory,
    name: &str,
    volume_id: &str,
) -> Result<Outcome> {
    for i in &inv.instances {
        data_volume::keep_on_termination(clients, false, i, volume_id).await?;
    }
    clients
        .ec2
        .create_tags()
        .resources(volume_id)
        .tags(Tag::builder().key(tags::KEPT_KEY).value("true").build())
        .tags(
            Tag::builder()
                .key("Name")
                .value(format!("{name}-data-kept"))
                .build(),
        )
        .send()
        .await
        .map_err(api("tag the kept data volume"))?;
    Ok(Outcome::changed(format!(
        "kept {volume_id} (tagged {}=true; `skiff up` attaches it again)",
        tags::KEPT_KEY
    )))
}

/// Marks the root volumes to survive termination and tags them as kept
/// (a deployment made before data volumes).
async fn keep_root_volumes(clients: &Clients, inv: &Inventory, name: &str) -> Result<Outcome> {
    for i in &inv.instances {
        let device = i.root_device.clone().unwrap_or_else(|| "/dev/xvda".into());
        clients
            .ec2
            .modify_instance_attribute()
            .instance_id(&i.id)
            .block_device_mappings(
                InstanceBlockDeviceMappingSpecification::builder()
                    .device_name(device)
                    .ebs(
                        EbsInstanceBlockDeviceSpecification::builder()
                            .delete_on_termination(false)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(api("keep the root volume"))?;
    }
    let ids: Vec<String> = inv
        .volumes
        .iter()
        .filter(|v| {
            inv.instances
                .iter()
                .any(|i| v.attached_to.as_deref() == Some(&i.id))
        })
        .map(|v| v.id.clone())
        .collect();
    if !ids.is_empty() {
        clients
            .ec2
            .create_tags()
            .set_resources(Some(ids.clone()))
            .tags(Tag::builder().key(tags::KEPT_KEY).value("true").build())
            .tags(
                Tag::builder()
                    .key("Name")
                    .value(format!("{name}-data-kept"))
                    .build(),
            )
            .send()
            .await
            .map_err(api("tag the kept volume"))?;
        return Ok(Outcome::changed(format!(
            "kept {} (not deleted on termination, tagged {}=true)",
            ids.join(", "),
            tags::KEPT_KEY
        )));
    }
    Ok(Outcome::found("no root volume to keep"))
}

/// Deletes a security group, retrying while AWS still sees it in use
/// (DependencyViolation lasts a little past instance termination).
async fn delete_security_group(clients: &Clients, id: &str) -> Result<()> {
    let start = Instant::now();
    let mut delay = Duration::from_secs(2);
    loop {
        let r = clients
            .ec2
            .delete_security_group()
            .group_id(id)
            .send()
            .await
            .map_err(api("delete the security group"));
        match r {
            Ok(_) => return Ok(()),
            Err(e) if e.code_is("InvalidGroup.NotFound") => return Ok(()),
            Err(e) if e.code_is("DependencyViolation") && start.elapsed() < SG_DELETE_TIMEOUT => {
                tracing::info!("security group {id} still in use, retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
