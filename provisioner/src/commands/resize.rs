//! `skiff resize TYPE [--yes]`: moves the instance to another burstable
//! size, keeping its volumes (the data volume with the broker's SQLite
//! file), its Elastic IP (the bootstrap address) and its image.
//!
//! Flow: validate (known type, same architecture as the AMI) and, before
//! anything is stopped, ask EC2 whether the type is offered in the
//! instance's zone (DescribeInstanceTypeOfferings) and available to this
//! account in this region (DescribeInstanceTypes); show the before/after
//! table, confirm; then stop → wait stopped → ModifyInstanceAttribute
//! InstanceType → re-apply the configured credit mode → start → wait
//! running → check the Elastic IP is still attached → wait until the broker
//! answers → update the alarm thresholds to the new maximum. If the
//! instance does not start with the new type (no capacity, a type the
//! account may not run), it is changed back and started again, and the
//! error says so. Any failure after the stop says what state the instance
//! is in. Every step looks at the instance first, so a resize interrupted
//! anywhere resumes when run again (an instance left stopped, with or
//! without the new type, is started); resizing to the current type of a
//! running instance does nothing but check the alarms.

use crate::aws::alerts::Alerts;
use crate::aws::inventory::{Instance, Inventory};
use crate::aws::{self, api, Clients};
use crate::config::{Config, Overrides};
use crate::deploy::{address, alerts as deploy_alerts, power, ready, zone};
use crate::instance_types::{self, Arch};
use crate::printer::{Printer, Progress};
use crate::render::BROKER_PORT;
use crate::runner::{Outcome, Runner};
use crate::{resize, Global};
use anyhow::{anyhow, bail, Result};
use aws_sdk_ec2::types::InstanceStateName;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ResizeArgs {
    /// The new instance type, of the same architecture as the image (e.g. t3.small).
    #[arg(value_name = "TYPE")]
    pub instance_type: String,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Do not wait for the broker to answer after the restart.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds to wait for the broker to answer.
    #[arg(long, env = "SKIFF_WAIT_TIMEOUT", default_value_t = 600)]
    pub wait_timeout: u64,
}

/// Number of steps of a resize.
const STEPS: usize = 7;
const STATE_TIMEOUT: Duration = Duration::from_secs(600);

pub async fn run(g: &Global, out: &Printer, a: &ResizeArgs) -> Result<()> {
    let config = super::load_config(g, Overrides::default())?;
    let clients = aws::connect(config.region.as_deref()).await?;
    let inv = Inventory::load(&clients, &config.name).await?;
    let Some(instance) = inv.instance().cloned() else {
        bail!(
            "deployment `{}` has no instance in {}; run `skiff up` first",
            config.name,
            clients.region
        );
    };
    let ami_arch = image_arch(&clients, &instance).await?;
    let target = resize::validate(
        &a.instance_type,
        &instance.id,
        &instance.instance_type,
        &instance.image_id,
        ami_arch,
    )?;
    let same = instance.instance_type == target.name;
    let running = matches!(
        instance.state,
        InstanceStateName::Running | InstanceStateName::Pending
    );

    if same && running {
        power::wait_running(&clients, &instance.id, STATE_TIMEOUT).await?;
        out.out(format!(
            "nothing to do: {} is already {} and running",
            instance.id, target.name
        ));
        let progress = out.progress("alerts");
        let outcome = update_alerts(&clients, &config, &instance.id, target, &progress).await?;
        progress.clear();
        if outcome.changed {
            out.out(format!("alerts: {}", outcome.text));
        }
        return Ok(());
    }
    if same {
        out.out(format!(
            "resuming: {} is already {} but {}; starting it",
            instance.id,
            target.name,
            instance.state.as_str()
        ));
    } else {
        // The type check of `up`, before anything is stopped.
        let from_vcpus = instance_types::lookup(&instance.instance_type).map_or(0, |t| t.vcpus);
        let req = crate::preflight::Request {
            instance_type: target,
            new_address: false,
            new_vcpus: i64::from(target.vcpus) - if running { i64::from(from_vcpus) } else { 0 },
            config: None,
            plan: g
                .hooks
                .account_plan
                .as_deref()
                .and_then(crate::preflight::Plan::parse),
        };
        crate::preflight::check(&clients, &req)
            .await
            .into_result(out)?;
        check_offered(&clients, out, &instance, target).await?;
        let from = instance_types::lookup(&instance.instance_type);
        let volume = inv
            .volumes
            .iter()
            .find(|v| v.attached_to.as_deref() == Some(&instance.id))
            .map(|v| v.size_gib.max(0) as u32)
            .unwrap_or(config.volume_size_gb);
        out.out(format!(
            "skiff resize: {} ({}) from {} to {}",
            instance.id,
            instance.state.as_str(),
            instance.instance_type,
            target.name
        ));
        if let Some(from) = from {
            let table = resize::comparison(
                from,
                target,
                &clients.region,
                volume,
                config.credit_mode == crate::config::CreditMode::Unlimited,
            );
            out.out(table.trim_end_matches('\n'));
        }
        out.out(
            "The instance stops for a minute or two; the data volume and the bootstrap address stay.",
        );
        if !a.yes && !out.confirm("Resize now?")? {
            bail!("cancelled; nothing was changed");
        }
    }

    let id = instance.id.as_str();
    let result = steps(g, out, a, &clients, &config, &instance, target, same).await;
    match result {
        Ok(()) => Ok(()),
        // Whatever went wrong after the stop: say what state it left.
        Err(e) => Err(e.context(state_now(&clients, id).await)),
    }
}

/// Checks before anything is stopped: the type is offered in the
/// instance's zone and available to this account here.
async fn check_offered(
    clients: &Clients,
    out: &Printer,
    instance: &Instance,
    target: &'static instance_types::InstanceType,
) -> Result<()> {
    let zone = instance.zone.as_str();
    if zone::offering_zones(clients, target.name, Some(zone))
        .await?
        .is_empty()
    {
        let elsewhere = zone::offering_zones(clients, target.name, None).await?;
        bail!(
            "{} is not offered in {zone}, the Availability Zone of {} and its data volume, so it could \
             not start there; nothing was changed (the instance was not stopped).{}",
            target.name,
            instance.id,
            if elsewhere.is_empty() {
                format!(" No zone of {} offers it.", clients.region)
            } else {
                format!(
                    " Zones that offer it: {}; pick a type offered in {zone}.",
                    elsewhere.join(", ")
                )
            }
        );
    }
    let types = clients
        .ec2
        .describe_instance_types()
        .instance_types(aws_sdk_ec2::types::InstanceType::from(target.name))
        .send()
        .await
        .map_err(api("describe the instance type"));
    let info = match types {
        Ok(o) => o.instance_types().first().cloned(),
        Err(e) if e.code_is("InvalidInstanceType") => None,
        Err(e) => return Err(e.into()),
    };
    let Some(info) = info else {
        bail!(
            "{} is not available to this account in {}; nothing was changed (the instance was not stopped)",
            target.name,
            clients.region
        );
    };
    let current_free = clients
        .ec2
        .describe_instance_types()
        .instance_types(aws_sdk_ec2::types::InstanceType::from(
            instance.instance_type.as_str(),
        ))
        .send()
        .await
        .ok()
        .and_then(|o| {
            o.instance_types()
                .first()
                .and_then(|t| t.free_tier_eligible())
        });
    if info.free_tier_eligible() == Some(false) && current_free == Some(true) {
        out.warn(format!(
            "{} is not free-tier eligible: on an AWS Free Plan account (created from 15 July 2025) \
             it will not start, and skiff then changes the instance back to {}",
            target.name, instance.instance_type
        ));
    }
    Ok(())
}

/// "i-... is now running as t3.small" (or stopped, or unknown), for errors.
async fn state_now(clients: &Clients, id: &str) -> String {
    let out = clients
        .ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await;
    match out.ok().and_then(|o| {
        o.reservations()
            .first()
            .and_then(|r| r.instances().first())
            .cloned()
    }) {
        Some(i) => {
            let state = i
                .state()
                .and_then(|s| s.name())
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "in an unknown state".into());
            let t = i
                .instance_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default();
            let hint = if state == "stopped" {
                format!(": the broker is DOWN; `skiff resize {t}` or `skiff up` starts it")
            } else {
                String::new()
            };
            format!("{id} is now {state} with type {t}{hint}")
        }
        None => format!("could not read the state of {id}; see `skiff status`"),
    }
}

/// The numbered steps of a resize.
#[allow(clippy::too_many_arguments)]
async fn steps(
    g: &Global,
    out: &Printer,
    a: &ResizeArgs,
    clients: &Clients,
    config: &Config,
    instance: &Instance,
    target: &'static instance_types::InstanceType,
    same: bool,
) -> Result<()> {
    let clients = clients.clone();
    let mut r = Runner::new(out, STEPS, format!("skiff resize {}", target.name))
        .stop_after(g.hooks.stop_after_step);
    let id = instance.id.as_str();

    let s = r.start("stop");
    let outcome = power::stop(&clients, instance, STATE_TIMEOUT, s.progress()).await?;
    r.finish(s, outcome)?;

    let s = r.start("instance type");
    let outcome = if same {
        Outcome::found(format!("already {}", target.name))
    } else {
        power::set_type(&clients, id, target.name).await?;
        Outcome::changed(format!("{} -> {}", instance.instance_type, target.name))
    };
    r.finish(s, outcome)?;

    let s = r.start("credit mode");
    let (_, text) =
        power::apply_credit_mode(&clients, id, config.credit_mode.as_str(), s.progress()).await?;
    r.finish(s, Outcome::changed(text))?;

    let s = r.start("start");
    s.progress().set("starting");
    let started = match power::start(&clients, id).await {
        Ok(()) => {
            s.progress().set("waiting until running");
            power::wait_running(&clients, id, STATE_TIMEOUT).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = started {
        if same {
            return Err(e);
        }
        // Back to the type it ran with, and started again.
        let old = instance.instance_type.as_str();
        s.progress().warn(format!(
            "{id} did not start as {}: {e:#}; changing it back to {old}",
            target.name
        ));
        s.progress().set(format!("changing back to {old}"));
        power::wait_stopped(&clients, id, STATE_TIMEOUT).await?;
        power::set_type(&clients, id, old).await?;
        power::start(&clients, id).await?;
        power::wait_running(&clients, id, STATE_TIMEOUT).await?;
        bail!(
            "could not start {id} as {} ({e:#}); it was changed back to {old} and started again, so the \
             deployment runs as before",
            target.name
        );
    }
    r.finish(
        s,
        Outcome::changed(format!("{id} is running as {}", target.name)),
    )?;

    let s = r.start("Elastic IP");
    let address = Inventory::load(&clients, &config.name)
        .await?
        .addresses
        .into_iter()
        .next();
    let outcome = match &address {
        Some(addr) => address::associate(&clients, false, addr, id).await?,
        None => Outcome::found("none (run `skiff up` to allocate one)"),
    };
    r.finish(s, outcome)?;

    let s = r.start("broker ready");
    let probe = g.hooks.probe_addr.clone().or_else(|| {
        address
            .as_ref()
            .map(|a| format!("{}:{BROKER_PORT}", a.public_ip))
    });
    let outcome = match probe {
        Some(p) => {
            let wait = (!a.no_wait).then(|| Duration::from_secs(a.wait_timeout));
            let tls = match &address {
                Some(addr) if wait.is_some() => {
                    crate::probe::Tls::for_deployment(config, &addr.public_ip)?
                }
                _ => None,
            };
            ready::wait(
                false,
                wait,
                &p,
                tls.as_ref(),
                Some((&clients, id)),
                s.progress(),
            )
            .await?
            .1
        }
        None => Outcome::found("no address to probe"),
    };
    r.finish(s, outcome)?;

    let s = r.start("alerts");
    let outcome = update_alerts(&clients, config, id, target, s.progress()).await?;
    r.finish(s, outcome)?;

    out.out(format!(
        "\n{id} is now {}{}",
        target.name,
        address
            .map(|a| format!(
                "; bootstrap address unchanged: {}:{BROKER_PORT}",
                a.public_ip
            ))
            .unwrap_or_default()
    ));
    if config.instance_type != target.name {
        out.out(format!(
            "Set `instance_type: {}` in skiff.yaml so the config matches (skiff up does not change the type).",
            target.name
        ));
    }
    Ok(())
}

/// The architecture of the instance's image; the current type's if the
/// image is gone (deregistered AMIs keep running instances).
async fn image_arch(clients: &Clients, instance: &Instance) -> Result<Arch> {
    let fallback = instance_types::lookup(&instance.instance_type).map(|t| t.arch);
    let out = clients
        .ec2
        .describe_images()
        .image_ids(&instance.image_id)
        .send()
        .await
        .map_err(api("describe the instance's image"));
    let arch = match out {
        Ok(o) => o
            .images()
            .first()
            .and_then(|i| i.architecture())
            .map(|a| a.as_str().to_string()),
        Err(e) if e.code_is("InvalidAMIID.NotFound") => None,
        Err(e) => return Err(e.into()),
    };
    match arch.as_deref() {
        Some("x86_64") => Ok(Arch::X86_64),
        Some("arm64") => Ok(Arch::Arm64),
        Some(other) => bail!(
            "image {} has architecture {other}, which skiff does not deploy",
            instance.image_id
        ),
        None => fallback.ok_or_else(|| {
            anyhow!(
                "cannot tell the architecture of {} (image {} not found, type {} unknown)",
                instance.id,
                instance.image_id,
                instance.instance_type
            )
        }),
    }
}

/// Converges the alerts for the new type. The e-mail is the config's, or,
/// when the config has none, the one already subscribed: a resize changes
/// thresholds, it does not switch alerts off.
async fn update_alerts(
    clients: &Clients,
    config: &Config,
    id: &str,
    target: &'static instance_types::InstanceType,
    ui: &Progress,
) -> Result<Outcome> {
    let email = match &config.alert_email {
        Some(e) => Some(e.clone()),
        // A failed lookup leaves `email` empty; `ensure` then reports it.
        None => Alerts::load(clients, &config.name)
            .await
            .ok()
            .and_then(|a| a.subscriptions.into_iter().find(|s| s.protocol == "email"))
            .map(|s| s.endpoint),
    };
    deploy_alerts::ensure(
        clients,
        config,
        false,
        email.as_deref(),
        &deploy_alerts::Target {
            instance_id: id,
            instance_type: target,
            credit_mode: power::credit_mode(clients, id)
                .await
                .ok()
                .flatten()
                .map(|m| {
                    if m == "unlimited" {
                        crate::config::CreditMode::Unlimited
                    } else {
                        crate::config::CreditMode::Standard
                    }
                }),
        },
        ui,
    )
    .await
}
