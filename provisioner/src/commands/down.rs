//! `skiff down`: deletes everything the deployment created, found by tags,
//! in dependency order, as numbered steps: the alert alarms and SNS topic
//! first (so the terminating instance sends no alert), then, with
//! `--keep-data`, the root volume is marked to survive; the Elastic IP is
//! detached, the instance terminated and waited for (AWS refuses to delete
//! a security group an instance still uses), then the address released and
//! the group deleted (retrying on DependencyViolation while AWS catches
//! up), then any leftover volume. Works after a partial `up` or `down`;
//! with nothing left it says so and succeeds.

use crate::aws::alerts::Alerts;
use crate::aws::inventory::Inventory;
use crate::aws::{self, api, tags, Clients};
use crate::config::Overrides;
use crate::deploy::alerts as deploy_alerts;
use crate::printer::Printer;
use crate::render::DATA_DIR;
use crate::runner::{Outcome, Runner};
use crate::Global;
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
    /// Keep the root volume (with the broker's data) instead of deleting it.
    #[arg(long)]
    pub keep_data: bool,
}

/// Number of steps of `down`.
const STEPS: usize = 7;
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
    if inv.is_empty() && alerts.is_empty() {
        out.out(format!(
            "nothing to delete: no resources tagged skiff:name={} in {}",
            config.name, clients.region
        ));
        for v in inv.volumes.iter().filter(|v| v.kept) {
            out.out(format!(
                "kept volume {} from an earlier `down --keep-data` remains; delete it with `aws ec2 delete-volume --volume-id {}`",
                v.id, v.id
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
    for v in inv.volumes.iter().filter(|v| !v.kept) {
        let fate = if keep {
            "KEPT (--keep-data)"
        } else {
            "deleted"
        };
        out.out(format!(
            "  volume          {} ({} GiB, {fate})",
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
    if !a.yes && !out.confirm("Delete all of this?")? {
        bail!("cancelled; nothing was deleted");
    }

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

    let s = r.start("data");
    let outcome = if keep {
        keep_root_volumes(&clients, &inv, &config.name).await?
    } else {
        Outcome::found("the root volume goes with the instance")
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
    // anything still tagged and detached is a leftover of a partial run.
    let s = r.start("leftover volumes");
    let after = Inventory::load(&clients, &config.name).await?;
    let mut deleted = Vec::new();
    for v in after.volumes.iter().filter(|v| !v.kept) {
        if v.state == "available" {
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

    let kept: Vec<_> = after.volumes.iter().filter(|v| v.kept).collect();
    for v in &kept {
        out.out(format!(
            "\nkept volume {} ({} GiB, tagged {}=true): the broker's data is {DATA_DIR}/skiff.db on it.\n\
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
    out.out(format!("\ndeployment `{}` is down", config.name));
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

/// Marks the root volumes to survive termination and tags them as kept.
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
