//! `skiff backup [--wait]`: an EBS snapshot of the data volume, tagged like
//! every Skiff resource (plus `skiff:role=data`, `skiff:backup=manual`) and
//! named `skiff-<name>-<UTC time>`. The broker keeps running: a snapshot is
//! crash-consistent (what a power loss at that moment would leave), which
//! SQLite in WAL mode recovers from; what it may miss is said in the
//! output and the README. `skiff backups` lists the backups, `skiff
//! restore` brings one back.

use crate::aws::inventory::Inventory;
use crate::aws::{self, snapshots};
use crate::config::Overrides;
use crate::printer::Printer;
use crate::{age, cost, Global};
use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::error::DisplayErrorContext;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// Wait until the snapshot is complete (at most 2 hours).
    #[arg(long)]
    pub wait: bool,
}

/// What a crash-consistent snapshot holds, for the output and the README.
pub const CONSISTENCY: &str = "A snapshot is crash-consistent: it holds what a power loss at \
that moment would leave, and the broker recovers from it like from a power loss. With the broker's \
default durability (SKIFF_DURABILITY=normal) the writes acknowledged in the last moments before \
the snapshot may be missing from it; with `full` every acknowledged write is in it.";

pub async fn run(g: &Global, out: &Printer, a: &BackupArgs) -> Result<()> {
    let config = super::load_config(g, Overrides::default())?;
    let clients = aws::connect(config.region.as_deref()).await?;
    let inv = Inventory::load(&clients, &config.name).await?;
    let Some(volume) = inv
        .data_volume()
        .or_else(|| inv.kept_data_volumes().first().copied())
    else {
        if let Some(i) = inv.instances.iter().find(|i| i.is_legacy()) {
            bail!(
                "deployment `{}` keeps its data on the root volume of {} (made before data volumes); \
                 see \"Deployments made before data volumes\" in the README",
                config.name,
                i.id
            );
        }
        bail!(
            "deployment `{}` has no data volume in {}; run `skiff up` first",
            config.name,
            clients.region
        );
    };
    let stamp = age::stamp(age::now_s());
    let snap = snapshots::create(&clients, &config.name, &volume.id, &stamp).await?;
    out.out(format!(
        "backup {} of data volume {} ({} GiB) started: {}",
        snap.id, volume.id, volume.size_gib, snap.name
    ));
    if a.wait {
        let progress = out.progress("waiting for the snapshot to complete");
        clients
            .ec2
            .wait_until_snapshot_completed()
            .snapshot_ids(&snap.id)
            .wait(Duration::from_secs(2 * 3600))
            .await
            .map_err(|e| anyhow!("{}", DisplayErrorContext(e)))
            .with_context(|| format!("waiting for {} to complete", snap.id))?;
        progress.clear();
        out.out(format!("{} is complete", snap.id));
    } else {
        out.out(
            "It completes in the background (minutes; `skiff backups` shows its state). The broker keeps running.",
        );
    }
    out.out(CONSISTENCY);
    out.out(format!("Cost: {}", cost::snapshot_line(volume.size_gib)));
    out.out(format!(
        "Restore it with `skiff restore {}`; delete it with `aws ec2 delete-snapshot --snapshot-id {}`.",
        snap.id, snap.id
    ));
    Ok(())
}
