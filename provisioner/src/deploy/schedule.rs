//! `up` step 14: `backup_schedule`, as an EBS lifecycle policy of Amazon
//! Data Lifecycle Manager (see `aws::dlm`) that snapshots the data volume
//! and keeps the newest N, running as a role DLM may assume with AWS's
//! managed policy for it (`AWSDataLifecycleManagerServiceRole`).
//!
//! The data volume carries `skiff:backup-schedule=<name>`, the policy's one
//! target tag, from before the policy is created until after it is deleted:
//! so without the tag there is no policy, and a deployment without a
//! schedule makes no DLM call at all (the moto emulator has no DLM; see the
//! README). Without `backup_schedule` in the config the policy, the tag and
//! the role are removed; snapshots already taken stay (`skiff backups`).

use super::data_volume::DataVolume;
use crate::aws::{dlm, iam, tags, Clients};
use crate::config::Config;
use crate::cost;
use crate::printer::Progress;
use crate::runner::{Impact, Outcome};
use anyhow::{bail, Context, Result};
use aws_sdk_ec2::types::Tag;
use std::time::{Duration, Instant};

/// The role DLM runs the policy as.
pub fn role_name(name: &str, region: &str) -> String {
    format!("skiff-{name}-{region}-dlm")
}

/// AWS's managed policy for DLM's default role (Amazon EBS User Guide,
/// "AWS managed policies for Amazon Data Lifecycle Manager").
pub fn managed_policy(partition: &str) -> String {
    format!("arn:{partition}:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole")
}

/// How long a new role may take before DLM accepts it.
const ROLE_PROPAGATION: Duration = Duration::from_secs(60);

/// Converges the schedule of data volume `volume` (with its current
/// `skiff:backup-schedule` tag `tagged`).
pub async fn ensure(
    clients: &Clients,
    config: &Config,
    dry_run: bool,
    volume: Option<&DataVolume>,
    tagged: bool,
    ui: &Progress,
) -> Result<Outcome> {
    let name = &config.name;
    let Some(volume) = volume else {
        return Ok(Outcome::found("none (no data volume)"));
    };
    let Some(want) = &config.backup_schedule else {
        if !tagged {
            return Ok(Outcome::found("none (no backup_schedule configured)"));
        }
        return remove(clients, name, &volume.id, dry_run).await;
    };
    let cost = cost::schedule_line(want.keep, volume.size_gib);
    let existing = if tagged {
        ui.set("reading the lifecycle policy");
        dlm::find(clients, name).await?
    } else {
        None
    };
    if let Some(p) = &existing {
        if p.schedule.as_ref() == Some(want) && p.state == "ENABLED" {
            return Ok(Outcome::found(format!(
                "{} (lifecycle policy {}); {cost}",
                want.describe(),
                p.id
            )));
        }
    }
    if dry_run {
        let verb = if existing.is_some() {
            "update"
        } else {
            "create"
        };
        let what = if volume.planned {
            "the new data volume"
        } else {
            volume.id.as_str()
        };
        return Ok(Outcome::with(
            Impact::InPlace,
            format!(
                "would {verb} an EBS lifecycle policy: snapshots of {what} {}; {cost}",
                want.describe()
            ),
        ));
    }
    ui.set("role for the lifecycle policy");
    let role = dlm_role(clients, name).await?;
    if !tagged {
        // The tag before the policy: no policy without the tag.
        clients
            .ec2
            .create_tags()
            .resources(&volume.id)
            .tags(Tag::builder().key(tags::SCHEDULE_KEY).value(name).build())
            .send()
            .await
            .map_err(crate::aws::api(
                "tag the data volume for the backup schedule",
            ))?;
    }
    ui.set("lifecycle policy");
    let started = Instant::now();
    let id = loop {
        let r = match &existing {
            Some(p) => dlm::update(clients, &p.id, name, &role, want)
                .await
                .map(|_| p.id.clone()),
            None => dlm::create(clients, name, &role, want).await,
        };
        match r {
            Ok(id) => break id,
            // A new role is not assumable by DLM for a few seconds.
            Err(e)
                if e.code_is("InvalidRequestException")
                    && e.detail.to_lowercase().contains("role")
                    && started.elapsed() < ROLE_PROPAGATION =>
            {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    Ok(Outcome::with(
        Impact::InPlace,
        format!(
            "{} lifecycle policy {id}: snapshots of {} {}; {cost}",
            if existing.is_some() {
                "updated"
            } else {
                "created"
            },
            volume.id,
            want.describe()
        ),
    ))
}

/// The DLM role (created with AWS's managed policy if missing); its ARN.
async fn dlm_role(clients: &Clients, name: &str) -> Result<String> {
    let role_name = role_name(name, &clients.region);
    let role = match iam::role(clients, name, &role_name).await? {
        Some(r) if !r.ours => bail!(
            "an IAM role named {role_name} exists but is not tagged as skiff deployment `{name}`'s; delete or rename it"
        ),
        Some(r) => r,
        None => {
            iam::create_role(
                clients,
                name,
                &role_name,
                "dlm.amazonaws.com",
                &format!("skiff deployment {name}: Data Lifecycle Manager takes and prunes its backups"),
            )
            .await?
        }
    };
    let (partition, _) = role
        .partition_and_account()
        .with_context(|| format!("cannot read role ARN {}", role.arn))?;
    let policy = managed_policy(partition);
    if !iam::has_managed_policy(clients, &role_name, &policy).await? {
        iam::attach_managed_policy(clients, &role_name, &policy).await?;
    }
    Ok(role.arn)
}

/// Deletes the policy, then the volume's tag, then the role.
pub async fn remove(
    clients: &Clients,
    name: &str,
    volume_id: &str,
    dry_run: bool,
) -> Result<Outcome> {
    if dry_run {
        return Ok(Outcome::with(
            Impact::Delete,
            "would delete the EBS lifecycle policy (backups taken so far stay)",
        ));
    }
    let mut done = Vec::new();
    if let Some(p) = dlm::find(clients, name).await? {
        dlm::delete(clients, &p.id).await?;
        done.push(format!("deleted lifecycle policy {}", p.id));
    }
    match clients
        .ec2
        .delete_tags()
        .resources(volume_id)
        .tags(Tag::builder().key(tags::SCHEDULE_KEY).build())
        .send()
        .await
        .map_err(crate::aws::api("untag the data volume"))
    {
        Err(e) if e.code_is("InvalidVolume.NotFound") => {}
        r => {
            r?;
        }
    }
    let role = role_name(name, &clients.region);
    done.extend(iam::delete_role(clients, name, &role, None).await?);
    Ok(Outcome::with(
        Impact::Delete,
        format!(
            "{} (backups taken so far stay: `skiff backups`)",
            if done.is_empty() {
                "no lifecycle policy left".to_string()
            } else {
                done.join("; ")
            }
        ),
    ))
}
