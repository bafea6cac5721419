//! `skiff up [--dry-run]`: resolves who may connect, checks credentials,
//! then runs the steps of a deployment as find-or-create actions and prints
//! the bootstrap address, a client config and the monthly cost estimate.
//!
//! Each step looks for its resource by tags (through the [`Inventory`]),
//! creates it only if missing, and reports what it found or did. Because
//! the tags are the only state, an `up` interrupted anywhere resumes on the
//! next run, and a second `up` changes nothing. `--dry-run` walks the very
//! same steps with mutation switched off, so the plan cannot drift from
//! what `up` does.

use crate::aws::inventory::Inventory;
use crate::aws::Clients;
use crate::config::{Config, CreditMode, Overrides};
use crate::cost::Estimate;
use crate::deploy::{address, alerts, ami, instance, ready, security_group};
use crate::printer::Printer;
use crate::render::BROKER_PORT;
use crate::runner::Runner;
use crate::{aws, public_ip, Global};
use anyhow::Result;
use std::time::Duration;

#[derive(clap::Args, Debug, Default)]
pub struct UpArgs {
    /// Print the plan and the cost estimate; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Allow this IPv4 CIDR on the broker port (repeatable); default: your
    /// public address as /32.
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<String>,
    /// Allow the whole internet (0.0.0.0/0) on the broker port.
    #[arg(long, conflicts_with = "allow")]
    pub public: bool,
    /// Instance type (t2/t3/t3a/t4g, e.g. t3.micro).
    #[arg(long)]
    pub instance_type: Option<String>,
    /// CPU credit mode.
    #[arg(long, value_enum)]
    pub credit_mode: Option<CreditMode>,
    /// Root volume size in GiB.
    #[arg(long, value_name = "GIB")]
    pub volume_size: Option<u32>,
    /// Broker image repository (without tag).
    #[arg(long)]
    pub image: Option<String>,
    /// Broker image tag.
    #[arg(long)]
    pub broker_version: Option<String>,
    /// E-mail address for alerts (SNS topic + CloudWatch alarms).
    #[arg(long)]
    pub alert_email: Option<String>,
    /// Alert when the CPU credit balance stays below this percent of the
    /// type's maximum (default 20).
    #[arg(long, value_name = "PCT")]
    pub alert_credit_balance_pct: Option<u32>,
    /// Do not wait for the broker to answer.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds to wait for the broker to answer.
    #[arg(long, env = "SKIFF_WAIT_TIMEOUT", default_value_t = 600)]
    pub wait_timeout: u64,
}

/// Number of steps of `up`.
const STEPS: usize = 7;

pub async fn run(g: &Global, out: &Printer, a: &UpArgs) -> Result<()> {
    let config = super::load_config(
        g,
        Overrides {
            instance_type: a.instance_type.clone(),
            credit_mode: a.credit_mode,
            allow: a.allow.clone(),
            volume_size_gb: a.volume_size,
            image: a.image.clone(),
            broker_version: a.broker_version.clone(),
            alert_email: a.alert_email.clone(),
            alert_credit_balance_pct: a.alert_credit_balance_pct,
            ..Default::default()
        },
    )?;
    let clients = aws::connect(config.region.as_deref()).await?;

    let cidrs = if a.public {
        out.warn(format!(
            "--public opens port {BROKER_PORT} to the whole internet (0.0.0.0/0); \
             the broker has no authentication, so anyone can read and write its topics"
        ));
        vec!["0.0.0.0/0".to_string()]
    } else if !config.allowed_cidrs.is_empty() {
        config.allowed_cidrs.clone()
    } else {
        match public_ip::detect(&g.hooks.checkip_url).await {
            Ok(ip) => {
                // What is opened is a result, shown when quiet too.
                out.out(format!(
                    "allowing your public address {ip}/32 (override with --allow CIDR)"
                ));
                vec![format!("{ip}/32")]
            }
            // A plan can still be shown; `up` itself needs the address.
            Err(e) if a.dry_run => {
                out.warn(e);
                vec!["<your public IP>/32".to_string()]
            }
            Err(e) => return Err(e.into()),
        }
    };
    let estimate = Estimate::new(
        config.instance(),
        config.volume_size_gb,
        config.credit_mode == CreditMode::Unlimited,
    );

    if a.dry_run {
        out.out(format!(
            "Plan for deployment `{}` in {} (dry run: nothing is changed)",
            config.name, clients.region
        ));
    } else {
        out.info(format!("Deploying `{}` in {}", config.name, clients.region));
    }
    let mut runner = Runner::new(out, STEPS, "skiff up")
        .stop_after(g.hooks.stop_after_step)
        .plan(a.dry_run);
    let wait = (!a.no_wait).then(|| Duration::from_secs(a.wait_timeout));
    let deployed = deploy(
        &clients,
        &mut runner,
        &config,
        &cidrs,
        a.dry_run,
        wait,
        g.hooks.probe_addr.as_deref(),
    )
    .await?;

    if a.dry_run {
        if runner.changed() {
            out.out(format!(
                "\n{estimate}\n\nRun `skiff up` to apply this plan."
            ));
        } else {
            out.out(format!("\nNothing to change: already up.\n\n{estimate}"));
        }
        return Ok(());
    }
    if !runner.changed() {
        out.out("\nalready up: every resource exists, nothing was created");
    }
    let bootstrap = format!("{}:{BROKER_PORT}", deployed.public_ip);
    out.out(format!("\nBootstrap address: {bootstrap}"));
    if !deployed.ready {
        out.out(
            "(not checked: the broker may still be starting; see `skiff status` and `skiff logs`)",
        );
    }
    out.out(format!(
        "\nClient config (e.g. client.properties):\n  bootstrap.servers={bootstrap}\n  security.protocol=PLAINTEXT\n"
    ));
    out.out(estimate);
    Ok(())
}

/// What a finished `up` has to tell.
struct Deployed {
    public_ip: String,
    ready: bool,
}

/// The steps of `up`, in order. Each takes only what it reads; a dry run
/// passes `dry_run` to each, which then reports what it would do.
async fn deploy(
    clients: &Clients,
    r: &mut Runner<'_>,
    config: &Config,
    cidrs: &[String],
    dry_run: bool,
    wait: Option<Duration>,
    probe_addr: Option<&str>,
) -> Result<Deployed> {
    let name = &config.name;
    let inventory = Inventory::load(clients, name).await?;

    let s = r.start("AMI");
    let (ami, outcome) = ami::resolve(clients, config.instance().arch, &inventory).await?;
    r.finish(s, outcome)?;

    let s = r.start("security group");
    let (sg_id, outcome) =
        security_group::ensure(clients, name, cidrs, dry_run, &inventory, s.progress()).await?;
    r.finish(s, outcome)?;

    let s = r.start("Elastic IP");
    let (address, outcome) = address::ensure(clients, name, dry_run, &inventory).await?;
    r.finish(s, outcome)?;

    let s = r.start("instance");
    let launch = instance::Launch {
        ami: &ami,
        security_group: &sg_id,
        address: &address,
    };
    let (instance_id, outcome) =
        instance::ensure(clients, config, dry_run, &inventory, &launch, s.progress()).await?;
    r.finish(s, outcome)?;

    let s = r.start("attach Elastic IP");
    let outcome = address::associate(clients, dry_run, &address, &instance_id).await?;
    r.finish(s, outcome)?;

    let s = r.start("alerts");
    let instance_type = inventory
        .instance()
        .and_then(|i| crate::instance_types::lookup(&i.instance_type))
        .unwrap_or_else(|| config.instance());
    let target = alerts::Target {
        instance_id: &instance_id,
        instance_type,
    };
    let outcome = alerts::ensure(
        clients,
        config,
        dry_run,
        config.alert_email.as_deref(),
        &target,
        s.progress(),
    )
    .await?;
    r.finish(s, outcome)?;

    let s = r.start("broker ready");
    let probe = probe_addr
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}:{BROKER_PORT}", address.public_ip));
    let (ready, outcome) = ready::wait(dry_run, wait, &probe, s.progress()).await?;
    r.finish(s, outcome)?;

    Ok(Deployed {
        public_ip: address.public_ip,
        ready,
    })
}
