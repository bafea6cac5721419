//! `skiff up [--dry-run]`: resolves who may connect, checks credentials,
//! then runs the deploy steps and prints the bootstrap address, a client
//! config and the monthly cost estimate.

use crate::config::{CreditMode, Overrides};
use crate::cost::Estimate;
use crate::deploy::{self, Plan, STOP_AFTER_ENV};
use crate::render::BROKER_PORT;
use crate::{aws, public_ip, Global};
use anyhow::{Context, Result};
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

/// Env var replacing `<Elastic IP>:9092` as the probe address (tests).
pub const PROBE_ADDR_ENV: &str = "SKIFF_PROBE_ADDR";

pub async fn run(g: &Global, a: &UpArgs) -> Result<()> {
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
        eprintln!(
            "warning: --public opens port {BROKER_PORT} to the whole internet (0.0.0.0/0); \
             the broker has no authentication, so anyone can read and write its topics"
        );
        vec!["0.0.0.0/0".to_string()]
    } else if !config.allowed_cidrs.is_empty() {
        config.allowed_cidrs.clone()
    } else {
        match public_ip::detect().await {
            Ok(ip) => {
                println!("allowing your public address {ip}/32 (override with --allow CIDR)");
                vec![format!("{ip}/32")]
            }
            // A plan can still be shown; `up` itself needs the address.
            Err(e) if a.dry_run => {
                eprintln!("warning: {e}");
                vec!["<your public IP>/32".to_string()]
            }
            Err(e) => return Err(e.into()),
        }
    };

    let stop_after = match std::env::var(STOP_AFTER_ENV) {
        Ok(v) => Some(
            v.parse()
                .with_context(|| format!("{STOP_AFTER_ENV}={v} is not a step number"))?,
        ),
        Err(_) => None,
    };
    let plan = Plan {
        cidrs,
        dry_run: a.dry_run,
        wait: (!a.no_wait).then(|| Duration::from_secs(a.wait_timeout)),
        probe_addr: std::env::var(PROBE_ADDR_ENV).ok(),
        stop_after,
        config,
    };
    let estimate = Estimate::new(
        plan.config.instance(),
        plan.config.volume_size_gb,
        plan.config.credit_mode == CreditMode::Unlimited,
    );

    if plan.dry_run {
        println!(
            "Plan for deployment `{}` in {} (dry run: nothing is changed)",
            plan.config.name, clients.region
        );
    } else {
        println!("Deploying `{}` in {}", plan.config.name, clients.region);
    }
    let report = deploy::run(&clients, &plan).await?;

    if plan.dry_run {
        if report.changed {
            println!("\n{estimate}\n\nRun `skiff up` to apply this plan.");
        } else {
            println!("\nNothing to change: already up.\n\n{estimate}");
        }
        return Ok(());
    }
    if !report.changed {
        println!("\nalready up: every resource exists, nothing was created");
    }
    let ip = report.public_ip.unwrap_or_default();
    let bootstrap = format!("{ip}:{BROKER_PORT}");
    println!("\nBootstrap address: {bootstrap}");
    if !report.ready {
        println!(
            "(not checked: the broker may still be starting; see `skiff status` and `skiff logs`)"
        );
    }
    println!(
        "\nClient config (e.g. client.properties):\n  bootstrap.servers={bootstrap}\n  security.protocol=PLAINTEXT\n"
    );
    println!("{estimate}");
    Ok(())
}
