//! `skiff restore SNAPSHOT [--yes]`: brings a backup back as the
//! deployment's data volume.
//!
//! - No deployment yet: a data volume is made from the snapshot, then `up`
//!   deploys around it (a new deployment with that data).
//! - A running deployment: its data volume is set aside (tagged
//!   `skiff:kept=true`, never deleted by skiff), a new one is made from the
//!   snapshot in the same zone, and `up` replaces the instance so the
//!   broker starts on the restored data (the old instance stops cleanly
//!   first). This asks first (`--yes` does not).
//!
//! Crash cases: after the old volume is set aside and before the new one
//! exists, the next `up` takes the newest kept volume (the old data) back:
//! nothing is lost, the restore did not happen. Once the new volume exists,
//! the next `up` finishes the replacement.

use super::up::{self, Options};
use crate::aws::inventory::Inventory;
use crate::aws::{self, api, snapshots, tags};
use crate::config::Overrides;
use crate::deploy::{data_volume, zone};
use crate::printer::Printer;
use crate::{age, cost, Global};
use anyhow::{bail, Result};
use aws_sdk_ec2::types::Tag;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The snapshot to restore (snap-..., see `skiff backups`).
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,
    /// For a new deployment: allow this IPv4 CIDR on the broker port
    /// (repeatable); default: your public address as /32.
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<String>,
    /// Do not ask before replacing a running deployment's data.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Do not wait for the broker to answer.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds to wait for the broker to answer.
    #[arg(long, env = "SKIFF_WAIT_TIMEOUT", default_value_t = 600)]
    pub wait_timeout: u64,
}

pub async fn run(g: &Global, out: &Printer, a: &RestoreArgs) -> Result<()> {
    let id = snapshots::parse_id(&a.snapshot).map_err(anyhow::Error::msg)?;
    let config = super::load_config(
        g,
        Overrides {
            allow: a.allow.clone(),
            ..Default::default()
        },
    )?;
    let clients = aws::connect(config.region.as_deref()).await?;
    let Some(snap) = snapshots::get(&clients, &id).await? else {
        bail!(
            "snapshot {id} does not exist in {} (or is not this account's); `skiff backups` lists the deployment's",
            clients.region
        );
    };
    if !snap.is_data {
        bail!(
            "snapshot {id} is not a backup of a skiff data volume (no tags managed-by=skiff and \
             {}={}); `skiff backups` lists the deployment's",
            tags::ROLE_KEY,
            tags::ROLE_DATA
        );
    }
    if snap.state != "completed" {
        bail!(
            "snapshot {id} is {}, not completed yet; try again when `skiff backups` says completed",
            snap.state
        );
    }
    let inv = Inventory::load(&clients, &config.name).await?;
    if let Some(i) = inv.instances.iter().find(|i| i.is_legacy()) {
        bail!(
            "deployment `{}` keeps its data on the root volume of {} (made before data volumes) and \
             cannot take a data volume in place; `skiff down` it first (`--keep-data` keeps the old \
             root volume), then run `skiff restore {id}` again",
            config.name,
            i.id
        );
    }
    let size = (config.volume_size_gb as i32).max(snap.volume_gib);
    let from = match snap.deployment.as_deref() {
        Some(d) if d != config.name => format!(" (a backup of deployment `{d}`)"),
        _ => String::new(),
    };
    let taken = format!(
        "taken {} ago, {}",
        age::short(age::now_s() - snap.started),
        age::rfc3339(snap.started)
    );
    let current = inv.data_volume().cloned();
    let zone = match &current {
        Some(v) => v.zone.clone(),
        None => match inv.kept_data_volumes().first() {
            Some(k) => k.zone.clone(),
            None => zone::choose(&clients, &config.instance_type).await?.zone,
        },
    };

    match &current {
        Some(old) => {
            out.out(format!(
                "skiff restore replaces the data of deployment `{}` with {id}{from} ({taken}):",
                config.name
            ));
            out.out(format!(
                "  - data volume {} ({} GiB) is set aside, not deleted (tagged {}=true; ${:.2}/month until you delete it)",
                old.id,
                old.size_gib,
                tags::KEPT_KEY,
                f64::from(old.size_gib.max(0)) * cost::GP3_USD_PER_GIB_MONTH
            ));
            out.out(format!(
                "  - a new {size} GiB encrypted gp3 volume is made from {id} in {zone}"
            ));
            out.out(format!(
                "  - the instance is replaced so the broker starts on it: downtime {}",
                up::downtime(crate::runner::Impact::Replace)
            ));
            if !a.yes && !out.confirm("Restore now?")? {
                bail!("cancelled; nothing was changed");
            }
            // Set the current volume aside first: until the new one
            // exists, `up` would take this one back.
            clients
                .ec2
                .create_tags()
                .resources(&old.id)
                .tags(Tag::builder().key(tags::KEPT_KEY).value("true").build())
                .tags(
                    Tag::builder()
                        .key("Name")
                        .value(format!("{}-data-before-restore", config.name))
                        .build(),
                )
                .send()
                .await
                .map_err(api("set the current data volume aside"))?;
            if old.schedule.is_some() {
                // The backup schedule follows the new volume.
                clients
                    .ec2
                    .delete_tags()
                    .resources(&old.id)
                    .tags(Tag::builder().key(tags::SCHEDULE_KEY).build())
                    .send()
                    .await
                    .map_err(api("untag the old data volume"))?;
            }
        }
        None => out.out(format!(
            "skiff restore makes a new deployment `{}` from {id}{from} ({taken}): a data volume of {size} GiB in {zone}",
            config.name
        )),
    }
    let progress = out.progress("creating the data volume from the snapshot");
    let new = data_volume::create(&clients, &config.name, &zone, size, Some(&id)).await?;
    progress.clear();
    out.out(format!("created data volume {new} from {id}"));
    out.out(format!(
        "Cost: the data volume ${:.2}/month (gp3 {size} GiB)",
        f64::from(size) * cost::GP3_USD_PER_GIB_MONTH
    ));

    let keep = inv.security_groups.first().map(|s| s.broker_cidrs.clone());
    let cidrs = up::cidrs(g, out, &config, up::Public::No, false, keep).await?;
    let options = Options {
        dry_run: false,
        yes: true,
        cidrs,
        wait: (!a.no_wait).then(|| Duration::from_secs(a.wait_timeout)),
        resume: "skiff up".into(),
        expect_mbps: crate::cost::DEFAULT_EXPECT_MBPS,
    };
    up::converge(g, out, &clients, &config, &options).await?;
    if let Some(old) = current {
        out.out(format!(
            "\nrestored {id}; the previous data volume {} is kept. Delete it when you no longer need it: `aws ec2 delete-volume --volume-id {}`",
            old.id, old.id
        ));
    }
    Ok(())
}
