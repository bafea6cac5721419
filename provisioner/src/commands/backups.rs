//! `skiff backups`: the deployment's snapshots (manual and scheduled),
//! oldest first, with size, age, kind and state, and what they cost a
//! month at most. Read-only.

use crate::aws::{self, snapshots};
use crate::config::Overrides;
use crate::printer::Printer;
use crate::{age, cost, Global};
use anyhow::Result;

pub async fn run(g: &Global, out: &Printer) -> Result<()> {
    let config = super::load_config(g, Overrides::default())?;
    let clients = aws::connect(config.region.as_deref()).await?;
    let list = snapshots::list(&clients, &config.name).await?;
    if list.is_empty() {
        out.out(format!(
            "no backups of deployment `{}` in {}; `skiff backup` takes one{}",
            config.name,
            clients.region,
            if config.backup_schedule.is_some() {
                " (the schedule takes the first at its next time)"
            } else {
                ", `backup_schedule` in skiff.yaml takes them on a schedule"
            }
        ));
        return Ok(());
    }
    let now = age::now_s();
    out.out(format!(
        "{:<22} {:<20} {:>8} {:>8} {:<9} {:<9} {}",
        "SNAPSHOT", "TAKEN (UTC)", "AGE", "SIZE", "KIND", "STATE", "NAME"
    ));
    let mut gib = 0i64;
    for s in &list {
        gib += i64::from(s.volume_gib.max(0));
        out.out(format!(
            "{:<22} {:<20} {:>8} {:>8} {:<9} {:<9} {}",
            s.id,
            age::rfc3339(s.started),
            age::short(now - s.started),
            format!("{} GiB", s.volume_gib),
            s.kind,
            s.state,
            s.name
        ));
    }
    out.out(format!(
        "\n{} backup(s) of volumes totalling {gib} GiB: at most ${:.2}/month (snapshot storage ${:.2} per GiB-month; \
         snapshots are incremental, so usually much less)",
        list.len(),
        gib as f64 * cost::SNAPSHOT_USD_PER_GIB_MONTH,
        cost::SNAPSHOT_USD_PER_GIB_MONTH
    ));
    if let Some(last) = list.last() {
        out.out(format!(
            "Newest: {} ({} ago). Restore one with `skiff restore SNAPSHOT`.",
            last.id,
            age::short(now - last.started)
        ));
    }
    Ok(())
}
