//! `skiff resize TYPE [--yes]`: moves the instance to another burstable
//! size, keeping its root volume (the broker's SQLite file), its Elastic IP
//! (the bootstrap address) and its image.
//!
//! Flow: validate (known type, same architecture as the AMI), show the
//! before/after table, confirm; then stop → wait stopped → ModifyInstance-
//! Attribute InstanceType → re-apply the configured credit mode → start →
//! wait running → check the Elastic IP is still attached → wait until the
//! broker answers → update the alarm thresholds to the new maximum. Every
//! step looks at the instance first, so a resize interrupted anywhere
//! resumes when run again (an instance left stopped, with or without the
//! new type, is started); resizing to the current type of a running
//! instance does nothing but check the alarms.

use crate::aws::alerts::Alerts;
use crate::aws::inventory::{Instance, Inventory};
use crate::aws::{self, api, Clients};
use crate::commands::up::PROBE_ADDR_ENV;
use crate::config::{Config, Overrides};
use crate::deploy::{self, alerts as deploy_alerts, Outcome, Plan};
use crate::instance_types::{self, Arch};
use crate::render::BROKER_PORT;
use crate::ui::{self, StepUi};
use crate::{resize, Global};
use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{AttributeValue, InstanceCreditSpecificationRequest, InstanceStateName};
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

const STEPS: usize = 7;
const STATE_TIMEOUT: Duration = Duration::from_secs(600);

pub async fn run(g: &Global, a: &ResizeArgs) -> Result<()> {
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
        wait_running(&clients, &instance.id).await?;
        println!(
            "nothing to do: {} is already {} and running",
            instance.id, target.name
        );
        let outcome = update_alerts(&clients, &config, &instance.id, target).await?;
        if outcome.changed {
            println!("alerts: {}", outcome.text);
        }
        return Ok(());
    }
    if same {
        println!(
            "resuming: {} is already {} but {}; starting it",
            instance.id,
            target.name,
            instance.state.as_str()
        );
    } else {
        let from = instance_types::lookup(&instance.instance_type);
        let volume = inv
            .volumes
            .iter()
            .find(|v| v.attached_to.as_deref() == Some(&instance.id))
            .map(|v| v.size_gib.max(0) as u32)
            .unwrap_or(config.volume_size_gb);
        println!(
            "skiff resize: {} ({}) from {} to {}",
            instance.id,
            instance.state.as_str(),
            instance.instance_type,
            target.name
        );
        if let Some(from) = from {
            print!(
                "{}",
                resize::comparison(
                    from,
                    target,
                    volume,
                    config.credit_mode == crate::config::CreditMode::Unlimited
                )
            );
        }
        println!(
            "The instance stops for a minute or two; the data volume and the bootstrap address stay."
        );
        if !a.yes && !ui::confirm("Resize now?")? {
            bail!("cancelled; nothing was changed");
        }
    }

    let id = instance.id.as_str();
    let ui = StepUi::start(1, STEPS, "stop");
    let outcome = stop(&clients, &instance, &ui).await?;
    ui.finish(&outcome);

    let ui = StepUi::start(2, STEPS, "instance type");
    let outcome = if same {
        format!("already {}", target.name)
    } else {
        clients
            .ec2
            .modify_instance_attribute()
            .instance_id(id)
            .instance_type(AttributeValue::builder().value(target.name).build())
            .send()
            .await
            .map_err(api("change the instance type"))?;
        format!("{} -> {}", instance.instance_type, target.name)
    };
    ui.finish(&outcome);

    let ui = StepUi::start(3, STEPS, "credit mode");
    let outcome = apply_credit_mode(&clients, id, config.credit_mode.as_str()).await?;
    ui.finish(&outcome);

    let ui = StepUi::start(4, STEPS, "start");
    ui.set("starting");
    clients
        .ec2
        .start_instances()
        .instance_ids(id)
        .send()
        .await
        .map_err(api("start the instance"))?;
    ui.set("waiting until running");
    wait_running(&clients, id).await?;
    ui.finish(&format!("{id} is running as {}", target.name));

    let plan = Plan {
        config: config.clone(),
        cidrs: Vec::new(),
        dry_run: false,
        wait: (!a.no_wait).then(|| Duration::from_secs(a.wait_timeout)),
        probe_addr: std::env::var(PROBE_ADDR_ENV).ok(),
        stop_after: None,
    };
    let ui = StepUi::start(5, STEPS, "Elastic IP");
    let address = Inventory::load(&clients, &config.name)
        .await?
        .addresses
        .into_iter()
        .next();
    let outcome = match &address {
        Some(addr) => deploy::address::associate(&clients, &plan, addr, id).await?,
        None => Outcome::found("none (run `skiff up` to allocate one)"),
    };
    ui.finish(&outcome.text);

    let ui = StepUi::start(6, STEPS, "broker ready");
    let probe = plan.probe_addr.clone().or_else(|| {
        address
            .as_ref()
            .map(|a| format!("{}:{BROKER_PORT}", a.public_ip))
    });
    match probe {
        Some(p) => {
            let (_, outcome) = deploy::ready::wait(&plan, &p, &ui).await?;
            ui.finish(&outcome.text);
        }
        None => ui.finish("no address to probe"),
    }

    let ui = StepUi::start(7, STEPS, "alerts");
    let outcome = update_alerts(&clients, &config, id, target).await?;
    ui.finish(&outcome.text);

    println!(
        "\n{id} is now {}{}",
        target.name,
        address
            .map(|a| format!(
                "; bootstrap address unchanged: {}:{BROKER_PORT}",
                a.public_ip
            ))
            .unwrap_or_default()
    );
    if config.instance_type != target.name {
        println!(
            "Set `instance_type: {}` in skiff.yaml so the config matches (skiff up does not change the type).",
            target.name
        );
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

async fn wait_running(clients: &Clients, id: &str) -> Result<()> {
    clients
        .ec2
        .wait_until_instance_running()
        .instance_ids(id)
        .wait(STATE_TIMEOUT)
        .await
        .map_err(|e| anyhow!("{}", DisplayErrorContext(e)))
        .with_context(|| format!("waiting for {id} to be running"))?;
    Ok(())
}

/// Stops the instance and waits until it is stopped (if it is not yet).
/// A pending instance cannot be stopped: it is waited for first.
async fn stop(clients: &Clients, instance: &Instance, ui: &StepUi) -> Result<String> {
    let id = &instance.id;
    match instance.state {
        InstanceStateName::Stopped => return Ok(format!("{id} is already stopped")),
        InstanceStateName::Running | InstanceStateName::Pending => {
            if instance.state == InstanceStateName::Pending {
                ui.set("waiting until running before stopping");
                wait_running(clients, id).await?;
            }
            ui.set("stopping");
            clients
                .ec2
                .stop_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(api("stop the instance"))?;
        }
        _ => {}
    }
    ui.set("waiting until stopped");
    clients
        .ec2
        .wait_until_instance_stopped()
        .instance_ids(id)
        .wait(STATE_TIMEOUT)
        .await
        .map_err(|e| anyhow!("{}", DisplayErrorContext(e)))
        .with_context(|| format!("waiting for {id} to stop"))?;
    Ok(format!("stopped {id}"))
}

/// An HTTP 500 that carries no AWS error code: the endpoint does not
/// implement the call (moto's answer to ModifyInstanceCreditSpecification).
/// AWS's own 500s carry a code (InternalError) and stay errors.
fn is_unimplemented<E: ProvideErrorMetadata>(
    e: &SdkError<E, aws_sdk_ec2::config::http::HttpResponse>,
) -> bool {
    match e {
        SdkError::ServiceError(se) => {
            se.raw().status().as_u16() == 500 && se.err().code().is_none()
        }
        SdkError::ResponseError(re) => re.raw().status().as_u16() == 500,
        _ => false,
    }
}

/// Re-applies the configured credit mode (ModifyInstanceCreditSpecification).
async fn apply_credit_mode(clients: &Clients, id: &str, mode: &str) -> Result<String> {
    let result = clients
        .ec2
        .modify_instance_credit_specification()
        .instance_credit_specifications(
            InstanceCreditSpecificationRequest::builder()
                .instance_id(id)
                .cpu_credits(mode)
                .build(),
        )
        .send()
        .await;
    match result {
        Ok(out) => {
            if let Some(u) = out.unsuccessful_instance_credit_specifications().first() {
                let err = u.error();
                bail!(
                    "setting credit mode {mode} on {id} failed: {}: {}",
                    err.and_then(|e| e.code())
                        .map(|c| c.as_str())
                        .unwrap_or("unknown"),
                    err.and_then(|e| e.message()).unwrap_or("no message")
                );
            }
            Ok(format!("{mode} (re-applied)"))
        }
        Err(e) if is_unimplemented(&e) => {
            let msg = format!(
                "warning: could not re-apply credit mode {mode}: the EC2 endpoint answered \
                 ModifyInstanceCreditSpecification with HTTP 500 and no AWS error (it does not \
                 implement the call; the moto emulator does this); the instance keeps its \
                 current mode, see `skiff status`"
            );
            eprintln!("{msg}");
            Ok(format!(
                "{mode} NOT re-applied (endpoint does not implement it)"
            ))
        }
        Err(e) => Err(api("set the credit mode")(e).into()),
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
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::config::http::HttpResponse;
    use aws_sdk_ec2::error::ErrorMetadata;
    use aws_sdk_ec2::operation::modify_instance_credit_specification::ModifyInstanceCreditSpecificationError as E;
    use aws_smithy_types::body::SdkBody;

    fn error(status: u16, code: Option<&str>) -> SdkError<E, HttpResponse> {
        let mut meta = ErrorMetadata::builder().message("boom");
        if let Some(c) = code {
            meta = meta.code(c);
        }
        SdkError::service_error(
            E::generic(meta.build()),
            HttpResponse::new(status.try_into().unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn only_a_500_without_aws_error_code_counts_as_unimplemented() {
        assert!(is_unimplemented(&error(500, None)));
        assert!(!is_unimplemented(&error(500, Some("InternalError"))));
        assert!(!is_unimplemented(&error(400, None)));
        assert!(!is_unimplemented(&error(
            403,
            Some("UnauthorizedOperation")
        )));
    }
}
