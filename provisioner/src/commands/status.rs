//! `skiff status`: instance id, state, type, credit mode, address, whether
//! the broker answers, and the deployment's CloudWatch alarms.

use crate::aws::inventory::Inventory;
use crate::aws::{self, alerts, api};
use crate::config::Overrides;
use crate::printer::Printer;
use crate::render::BROKER_PORT;
use crate::{probe, Global};
use anyhow::Result;
use std::time::Duration;

pub async fn run(g: &Global, out: &Printer) -> Result<()> {
    let config = super::load_config(g, Overrides::default())?;
    let clients = aws::connect(config.region.as_deref()).await?;
    let inv = Inventory::load(&clients, &config.name).await?;
    out.out(format!(
        "deployment:   {} ({})",
        config.name, clients.region
    ));
    if inv.is_empty() {
        out.out(format!(
            "state:        not deployed (no resources tagged skiff:name={})",
            config.name
        ));
        for v in inv.volumes.iter().filter(|v| v.kept) {
            out.out(format!(
                "kept volume:  {} ({} GiB, from `down --keep-data`)",
                v.id, v.size_gib
            ));
        }
        return Ok(());
    }

    let address = inv.addresses.first();
    match inv.instance() {
        Some(i) => {
            out.out(format!("instance:     {}", i.id));
            out.out(format!("state:        {}", i.state.as_str()));
            out.out(format!("type:         {}", i.instance_type));
            let credits = clients
                .ec2
                .describe_instance_credit_specifications()
                .instance_ids(&i.id)
                .send()
                .await
                .map_err(api("read the credit specification"))?;
            let mode = credits
                .instance_credit_specifications()
                .first()
                .and_then(|c| c.cpu_credits())
                .unwrap_or("unknown");
            out.out(format!("credit mode:  {mode}"));
        }
        None => out.out("instance:     none (run `skiff up` to finish the deployment)"),
    }
    match address {
        Some(a) => out.out(format!(
            "address:      {} ({}{})",
            a.public_ip,
            a.allocation_id,
            if a.instance_id.is_some() {
                ""
            } else {
                ", not attached"
            }
        )),
        None => out.out("address:      no Elastic IP"),
    }
    for g in &inv.security_groups {
        out.out(format!(
            "firewall:     {} allows tcp/{BROKER_PORT} from {}",
            g.id,
            g.broker_cidrs.join(", ")
        ));
    }

    let probe_addr = g
        .hooks
        .probe_addr
        .clone()
        .or_else(|| address.map(|a| format!("{}:{BROKER_PORT}", a.public_ip)));
    match probe_addr {
        Some(addr) => match probe::api_versions(&addr, Duration::from_secs(5)).await {
            Ok(()) => out.out(format!(
                "broker:       reachable on {addr} (Kafka ApiVersions answered)"
            )),
            Err(e) => out.out(format!(
                "broker:       NOT reachable ({e}); see `skiff logs`"
            )),
        },
        None => out.out("broker:       unknown (no address)"),
    }

    // Only this deployment's exact alarm names (not `skiff-<name>-x-...`
    // of a deployment named `<name>-x`).
    match alerts::alarms(&clients, &config.name).await {
        Ok(alarms) if alarms.is_empty() => out.out("alarms:       none"),
        Ok(alarms) => {
            out.out("alarms:");
            for a in alarms {
                out.out(format!("  {} {}", a.alarm.name, a.state));
            }
        }
        Err(e) => out.out(format!("alarms:       unknown ({e})")),
    }
    Ok(())
}
