//! `skiff status`: answers "can I connect?". The instance (id, state,
//! type, credit mode), the data volume (state, size, a growth in progress),
//! the address, whether the broker answers from here, whether *your*
//! current public address is inside the allowed CIDRs (if not: the
//! `skiff up --allow` that fixes it), the alarms and whether the alert
//! e-mail subscription still waits for its confirmation, and the age of
//! the last backup. Read-only; every part that cannot be read says so
//! instead of failing the rest.

use crate::aws::alerts::Alerts;
use crate::aws::inventory::Inventory;
use crate::aws::{self, snapshots};
use crate::config::{parse_cidr, Overrides};
use crate::deploy::power;
use crate::printer::Printer;
use crate::render::BROKER_PORT;
use crate::{age, probe, public_ip, Global};
use anyhow::Result;
use std::net::Ipv4Addr;
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
                "kept volume:  {} ({} GiB, from `down --keep-data`{})",
                v.id,
                v.size_gib,
                if v.is_data() {
                    "; `skiff up` attaches it again"
                } else {
                    ""
                }
            ));
        }
        last_backup(&clients, out, &config.name).await;
        return Ok(());
    }

    let address = inv.addresses.first();
    match inv.instance() {
        Some(i) => {
            out.out(format!("instance:     {}", i.id));
            out.out(format!("state:        {}", i.state.as_str()));
            out.out(format!("type:         {}", i.instance_type));
            let mode = match power::credit_mode(&clients, &i.id).await {
                Ok(Some(m)) => m,
                Ok(None) => "unknown".into(),
                Err(e) => format!("unknown ({e:#})"),
            };
            out.out(format!("credit mode:  {mode}"));
            for other in inv.instances.iter().filter(|o| o.id != i.id) {
                out.out(format!(
                    "also:         {} ({}): an unfinished replacement; `skiff up` finishes it",
                    other.id,
                    other.state.as_str()
                ));
            }
        }
        None => out.out("instance:     none (run `skiff up` to finish the deployment)"),
    }
    match inv.data_volume() {
        Some(v) => out.out(format!(
            "data volume:  {} ({} GiB, {}{}{})",
            v.id,
            v.size_gib,
            v.state,
            v.attached_to
                .as_deref()
                .map(|a| format!(", attached to {a}"))
                .unwrap_or_else(|| ", NOT attached: run `skiff up`".into()),
            growth(&clients, &v.id).await
        )),
        None if inv.instances.iter().any(|i| i.is_legacy()) => out.out(
            "data volume:  none: the data is on the instance's root volume (made before data volumes; see the README)",
        ),
        None => out.out("data volume:  none (run `skiff up`)"),
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
    for sg in &inv.security_groups {
        out.out(format!(
            "firewall:     {} allows tcp/{BROKER_PORT} from {}",
            sg.id,
            sg.broker_cidrs.join(", ")
        ));
    }
    let allowed: Vec<String> = inv
        .security_groups
        .iter()
        .flat_map(|s| s.broker_cidrs.iter().cloned())
        .collect();
    match public_ip::detect(&g.hooks.checkip_url).await {
        Ok(d) => out.out(you(d.ip, &allowed)),
        Err(e) => out.out(format!("you:          unknown ({e})")),
    }

    let probe_addr = g
        .hooks
        .probe_addr
        .clone()
        .or_else(|| address.map(|a| format!("{}:{BROKER_PORT}", a.public_ip)));
    let tls = address.map(|a| probe::Tls::for_deployment(&config, &a.public_ip));
    match (probe_addr, tls) {
        (Some(_), Some(Err(e))) => out.out(format!("broker:       not checked: {e}")),
        (Some(addr), tls) => {
            let tls = tls.and_then(Result::ok).flatten();
            let how = if tls.is_some() {
                "over TLS, certificate verified"
            } else {
                "plaintext"
            };
            match probe::api_versions(&addr, tls.as_ref(), Duration::from_secs(5)).await {
                Ok(()) => out.out(format!(
                    "broker:       reachable on {addr} (Kafka ApiVersions answered, {how})"
                )),
                Err(e) => out.out(format!(
                    "broker:       NOT reachable ({e}); see `skiff logs` and `skiff logs --boot`"
                )),
            }
        }
        (None, _) => out.out("broker:       unknown (no address)"),
    }

    // Only this deployment's exact alarm names (not `skiff-<name>-x-...`
    // of a deployment named `<name>-x`).
    match Alerts::load(&clients, &config.name).await {
        Ok(alerts) => {
            if alerts.alarms.is_empty() {
                out.out("alarms:       none");
            } else {
                out.out("alarms:");
                for a in &alerts.alarms {
                    out.out(format!("  {} {}", a.alarm.name, a.state));
                }
            }
            for s in alerts
                .subscriptions
                .iter()
                .filter(|s| s.protocol == "email")
            {
                out.out(email_line(s));
            }
        }
        Err(e) => out.out(format!("alarms:       unknown ({e})")),
    }
    last_backup(&clients, out, &config.name).await;
    Ok(())
}

/// The alert e-mail: confirmed, or still waiting for its confirmation.
fn email_line(s: &crate::aws::alerts::Subscription) -> String {
    if s.confirmed() {
        format!("alert e-mail: {} (confirmed)", s.endpoint)
    } else {
        format!(
            "alert e-mail: {} PENDING CONFIRMATION: open the link in the e-mail from AWS \
             (subject \"AWS Notification - Subscription Confirmation\"); until then no alert reaches you",
            s.endpoint
        )
    }
}

/// Whether `ip` may connect, and how to fix it if not.
fn you(ip: Ipv4Addr, allowed: &[String]) -> String {
    let inside = allowed
        .iter()
        .filter_map(|c| c.parse::<ipnet::Ipv4Net>().ok())
        .find(|n| n.contains(&ip));
    match inside {
        Some(n) => format!("you:          {ip} is allowed (inside {n})"),
        None => {
            let mut fix: Vec<String> = allowed
                .iter()
                .filter(|c| parse_cidr(c).is_ok())
                .map(|c| format!("--allow {c}"))
                .collect();
            fix.push(format!("--allow {ip}/32"));
            format!(
                "you:          {ip} is NOT allowed: the broker port is closed to you. Fix: `skiff up {}` \
                 (or add {ip}/32 to allowed_cidrs in skiff.yaml)",
                fix.join(" ")
            )
        }
    }
}

/// ", growing to N GiB (optimizing)" while a ModifyVolume is under way.
async fn growth(clients: &aws::Clients, id: &str) -> String {
    let Ok(out) = clients
        .ec2
        .describe_volumes_modifications()
        .volume_ids(id)
        .send()
        .await
    else {
        return String::new();
    };
    out.volumes_modifications()
        .iter()
        .filter(|m| {
            matches!(
                m.modification_state().map(|s| s.as_str()),
                Some("modifying" | "optimizing")
            )
        })
        .map(|m| {
            format!(
                ", growing to {} GiB ({})",
                m.target_size().unwrap_or(0),
                m.modification_state().map(|s| s.as_str()).unwrap_or("")
            )
        })
        .next()
        .unwrap_or_default()
}

async fn last_backup(clients: &aws::Clients, out: &Printer, name: &str) {
    match snapshots::list(clients, name).await {
        Ok(list) => match list.last() {
            Some(s) => out.out(format!(
                "last backup:  {} ago ({}, {}, {} backup(s) in all)",
                age::short(age::now_s() - s.started),
                s.id,
                s.state,
                list.len()
            )),
            None => {
                out.out("last backup:  none (`skiff backup`, or backup_schedule in skiff.yaml)")
            }
        },
        Err(e) => out.out(format!("last backup:  unknown ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_whether_you_may_connect_and_how_to_fix_it() {
        let allowed = vec!["203.0.113.0/24".to_string(), "198.51.100.7/32".to_string()];
        let ok = you("203.0.113.9".parse().unwrap(), &allowed);
        assert!(ok.contains("is allowed (inside 203.0.113.0/24)"), "{ok}");
        let no = you("192.0.2.1".parse().unwrap(), &allowed);
        assert!(no.contains("NOT allowed"), "{no}");
        assert!(
            no.contains(
                "skiff up --allow 203.0.113.0/24 --allow 198.51.100.7/32 --allow 192.0.2.1/32"
            ),
            "{no}"
        );
        let open = you("192.0.2.1".parse().unwrap(), &["0.0.0.0/0".to_string()]);
        assert!(open.contains("is allowed"), "{open}");
    }

    #[test]
    fn a_pending_subscription_says_what_to_do() {
        // SNS lists an unconfirmed subscription with this ARN (moto
        // confirms at once, so only this test sees it).
        let mut s = crate::aws::alerts::Subscription {
            arn: "PendingConfirmation".into(),
            protocol: "email".into(),
            endpoint: "ops@example.com".into(),
        };
        let l = email_line(&s);
        assert!(l.contains("ops@example.com PENDING CONFIRMATION"), "{l}");
        assert!(l.contains("open the link"), "{l}");
        s.arn = "arn:aws:sns:us-east-1:1:t:abc".into();
        assert_eq!(email_line(&s), "alert e-mail: ops@example.com (confirmed)");
    }
}
