//! `skiff up` as an ordered list of find-or-create steps.
//!
//! Each step looks for its resource by tags (through the [`Inventory`]),
//! creates it only if missing, and reports what it found or did. Because
//! the tags are the only state, an `up` interrupted anywhere resumes on the
//! next run, and a second `up` changes nothing. `--dry-run` walks the very
//! same steps with mutation switched off, so the plan cannot drift from
//! what `up` does. `resize` reuses the address, alerts and ready steps.

pub mod address;
pub mod alerts;
mod ami;
mod instance;
pub mod ready;
mod security_group;

use crate::aws::inventory::Inventory;
use crate::aws::Clients;
use crate::config::Config;
use crate::ui::StepUi;
use anyhow::Result;
use std::time::Duration;

/// Number of visible steps of `up`.
pub const STEPS: usize = 7;

/// Env var that makes `up` stop after step N, as if interrupted (tests).
pub const STOP_AFTER_ENV: &str = "SKIFF_STOP_AFTER_STEP";

/// Everything `up` needs besides the clients.
#[derive(Debug, Clone)]
pub struct Plan {
    pub config: Config,
    /// CIDRs the security group allows on 9092 (already resolved).
    pub cidrs: Vec<String>,
    pub dry_run: bool,
    /// How long to wait for the broker; `None` skips the wait.
    pub wait: Option<Duration>,
    /// Probe this address instead of `<EIP>:9092` (tests).
    pub probe_addr: Option<String>,
    /// Stop after this step (tests, see [`STOP_AFTER_ENV`]).
    pub stop_after: Option<usize>,
}

/// What a step found or did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub text: String,
    pub changed: bool,
}

impl Outcome {
    pub fn found(text: impl Into<String>) -> Outcome {
        Outcome {
            text: text.into(),
            changed: false,
        }
    }
    pub fn changed(text: impl Into<String>) -> Outcome {
        Outcome {
            text: text.into(),
            changed: true,
        }
    }
}

/// The result of a whole `up`.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub changed: bool,
    pub public_ip: Option<String>,
    pub instance_id: Option<String>,
    pub ready: bool,
}

struct Runner<'a> {
    plan: &'a Plan,
    report: Report,
    step: usize,
}

impl Runner<'_> {
    fn start(&mut self, label: &str) -> StepUi {
        self.step += 1;
        StepUi::start(self.step, STEPS, label)
    }

    fn done(&mut self, ui: StepUi, outcome: Outcome) -> Result<()> {
        self.report.changed |= outcome.changed;
        ui.finish(&outcome.text);
        if self.plan.stop_after == Some(self.step) {
            anyhow::bail!(
                "stopped after step {} because {STOP_AFTER_ENV} is set; run `skiff up` again to resume",
                self.step
            );
        }
        Ok(())
    }
}

/// Runs (or, with `dry_run`, plans) every step of `up`.
pub async fn run(clients: &Clients, plan: &Plan) -> Result<Report> {
    let name = &plan.config.name;
    let inventory = Inventory::load(clients, name).await?;
    let mut r = Runner {
        plan,
        report: Report::default(),
        step: 0,
    };

    let ui = r.start("AMI");
    let (ami, outcome) = ami::resolve(clients, &plan.config, &inventory).await?;
    r.done(ui, outcome)?;

    let ui = r.start("security group");
    let (sg_id, outcome) = security_group::ensure(clients, plan, &inventory, &ui).await?;
    r.done(ui, outcome)?;

    let ui = r.start("Elastic IP");
    let (address, outcome) = address::ensure(clients, plan, &inventory).await?;
    r.report.public_ip = Some(address.public_ip.clone());
    r.done(ui, outcome)?;

    let ui = r.start("instance");
    let (instance_id, outcome) =
        instance::ensure(clients, plan, &inventory, &ami, &sg_id, &address, &ui).await?;
    r.report.instance_id = Some(instance_id.clone());
    r.done(ui, outcome)?;

    let ui = r.start("attach Elastic IP");
    let outcome = address::associate(clients, plan, &address, &instance_id).await?;
    r.done(ui, outcome)?;

    let ui = r.start("alerts");
    let instance_type = inventory
        .instance()
        .and_then(|i| crate::instance_types::lookup(&i.instance_type))
        .unwrap_or_else(|| plan.config.instance());
    let target = alerts::Target {
        instance_id: &instance_id,
        instance_type,
    };
    let outcome = alerts::ensure(
        clients,
        &plan.config,
        plan.dry_run,
        plan.config.alert_email.as_deref(),
        &target,
    )
    .await?;
    r.done(ui, outcome)?;

    let ui = r.start("broker ready");
    let probe = plan
        .probe_addr
        .clone()
        .unwrap_or_else(|| format!("{}:{}", address.public_ip, crate::render::BROKER_PORT));
    let (ready, outcome) = ready::wait(plan, &probe, &ui).await?;
    r.report.ready = ready;
    r.done(ui, outcome)?;

    Ok(r.report)
}
