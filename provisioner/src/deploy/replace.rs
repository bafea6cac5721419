//! The two ends of an instance replacement (`up` steps 7 and 12), around
//! the data volume's move (step 8) and the Elastic IP's (step 9):
//!
//! - [`stop_others`]: every instance of the deployment other than the one
//!   chosen to run the broker is stopped (StopInstances: the OS shuts down,
//!   `skiff-broker.service` runs `docker stop`, the broker checkpoints its
//!   WAL and exits) and waited for, before the volume is detached. A
//!   mounted volume is never detached from a running instance (Amazon EBS
//!   User Guide, "Detach an Amazon EBS volume from an instance": unmount
//!   it first or stop the instance, or data may be lost).
//! - [`terminate_others`]: once the new broker answers, the old instances
//!   are terminated (their root volumes go with them; the data volume is
//!   DeleteOnTermination=false and was moved already).
//!
//! Both look at the instances as they are now, so a replacement interrupted
//! anywhere resumes on the next `up`, and running `up` with the old config
//! again makes the old instance the chosen one: the same steps move
//! everything back.

use super::power;
use crate::aws::inventory::Inventory;
use crate::aws::Clients;
use crate::printer::Progress;
use crate::runner::{Impact, Outcome};
use anyhow::{anyhow, Context, Result};
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::error::DisplayErrorContext;
use aws_sdk_ec2::types::InstanceStateName;
use std::time::Duration;

const STATE_TIMEOUT: Duration = Duration::from_secs(600);

/// Stops every instance of deployment `name` except `keep`.
pub async fn stop_others(
    clients: &Clients,
    name: &str,
    keep: &str,
    dry_run: bool,
    ui: &Progress,
) -> Result<Outcome> {
    let inv = Inventory::load(clients, name).await?;
    let others: Vec<_> = inv
        .instances
        .iter()
        .filter(|i| i.id != keep)
        .filter(|i| {
            matches!(
                i.state,
                InstanceStateName::Running
                    | InstanceStateName::Pending
                    | InstanceStateName::Stopping
            )
        })
        .collect();
    if others.is_empty() {
        let stopped: Vec<&str> = inv
            .instances
            .iter()
            .filter(|i| i.id != keep)
            .map(|i| i.id.as_str())
            .collect();
        return Ok(Outcome::found(if stopped.is_empty() {
            "no other instance".to_string()
        } else {
            format!("{} already stopped", stopped.join(", "))
        }));
    }
    let ids: Vec<&str> = others.iter().map(|i| i.id.as_str()).collect();
    if dry_run {
        return Ok(Outcome::with(
            Impact::Replace,
            format!(
                "would stop {} (the broker stops cleanly: docker stop, WAL checkpointed)",
                ids.join(", ")
            ),
        ));
    }
    for i in &others {
        ui.set(format!(
            "stopping {} (the broker checkpoints and exits)",
            i.id
        ));
        power::stop(clients, i, STATE_TIMEOUT, ui).await?;
    }
    Ok(Outcome::with(
        Impact::Replace,
        format!("stopped {} (clean shutdown)", ids.join(", ")),
    ))
}

/// Terminates every instance of deployment `name` except `keep`, and
/// waits until they are gone.
pub async fn terminate_others(
    clients: &Clients,
    name: &str,
    keep: &str,
    dry_run: bool,
    ui: &Progress,
) -> Result<Outcome> {
    let inv = Inventory::load(clients, name).await?;
    let ids: Vec<String> = inv
        .instances
        .iter()
        .filter(|i| i.id != keep)
        .map(|i| i.id.clone())
        .collect();
    if ids.is_empty() {
        return Ok(Outcome::found("none"));
    }
    if dry_run {
        return Ok(Outcome::with(
            Impact::Delete,
            format!("would terminate {} (and its root volume)", ids.join(", ")),
        ));
    }
    // Never with the data volume still attached: it would survive
    // (DeleteOnTermination is off) but this is not the state to end in.
    if let Some(v) = inv.data_volume() {
        if let Some(holder) = v
            .attached_to
            .as_deref()
            .filter(|h| ids.iter().any(|i| i == h))
        {
            anyhow::bail!(
                "data volume {} is still attached to {holder}; run `skiff up` again to move it first",
                v.id
            );
        }
    }
    ui.set(format!("terminating {}", ids.join(", ")));
    clients
        .ec2
        .terminate_instances()
        .set_instance_ids(Some(ids.clone()))
        .send()
        .await
        .map_err(crate::aws::api("terminate the old instance"))?;
    clients
        .ec2
        .wait_until_instance_terminated()
        .set_instance_ids(Some(ids.clone()))
        .wait(STATE_TIMEOUT)
        .await
        .map_err(|e| anyhow!("{}", DisplayErrorContext(e)))
        .context("waiting for the old instance to terminate")?;
    Ok(Outcome::with(
        Impact::Delete,
        format!("terminated {}", ids.join(", ")),
    ))
}
