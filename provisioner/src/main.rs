//! `skiff`: puts the Skiff broker on an AWS burstable instance in one
//! command (`up`) and removes every trace in another (`down`).
//!
//! This file is only the command line: clap definitions, logging setup,
//! the output policy (one [`printer::Printer`] built from the flags) and
//! the one place a failed command is reported. Each command lives in
//! `commands/`, AWS access in `aws/`, the steps of `up`, `resize` and
//! `down` in `deploy/`, run by `runner`.

mod age;
mod alarms;
mod aws;
mod buckets;
mod commands;
mod config;
mod cost;
mod credits;
mod deploy;
mod hooks;
mod iam_policy;
mod instance_types;
mod kafka;
mod perf;
mod preflight;
mod printer;
mod probe;
mod public_ip;
mod render;
mod resize;
mod runner;
mod scram;
mod secrets;
mod tls;

use clap::{Args, Parser, Subcommand};
use printer::{Format, Printer, Verbosity};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "skiff",
    version,
    about = "Deploy the Skiff Kafka-compatible broker on an AWS burstable instance",
    long_about = "Deploy the Skiff Kafka-compatible broker on an AWS burstable instance \
        (t3.micro by default).\n\n\
        Free tier: on an account created on or after 15 July 2025 (AWS Free Plan) only \
        free-tier-eligible types launch, paid from the plan's credits; older accounts get \
        750 h/month of t2.micro (t3.micro only where there is no t2.micro) in their first \
        year. The Elastic IP and the volumes are billed either way. `skiff up --dry-run` \
        checks the account and prints the monthly cost at the region's prices.\n\n\
        Reads ./skiff.yaml (or --config) if present; every setting has a default.\n\
        AWS credentials and region come from the standard AWS config chain."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Config file (default: ./skiff.yaml if it exists).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Deployment name (overrides `name` in the config).
    #[arg(long, global = true)]
    pub name: Option<String>,
    /// AWS region (overrides `region` in the config and the AWS chain).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// More log output (repeat for more); RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only results, warnings and errors: no progress, no step lines.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(flatten)]
    pub hooks: hooks::Hooks,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a commented skiff.yaml with the defaults.
    Init(commands::init::InitArgs),
    /// Create the deployment, or converge it to skiff.yaml (plan first).
    Up(commands::up::UpArgs),
    /// Set broker.version in skiff.yaml and converge (replaces the instance).
    Upgrade(commands::upgrade::UpgradeArgs),
    /// Can I connect? Instance, volume, broker, firewall, alerts, backups.
    Status,
    /// The broker's log lines (CloudWatch Logs); --boot: the console.
    Logs(commands::logs::LogsArgs),
    /// Take a backup: an EBS snapshot of the data volume.
    Backup(commands::backup::BackupArgs),
    /// List the backups with size, age and cost.
    Backups,
    /// Restore a backup as the deployment's data (new or running deployment).
    Restore(commands::restore::RestoreArgs),
    /// Delete everything the deployment created.
    Down(commands::down::DownArgs),
    /// Write the user data, compose file and env file `up` would send.
    Render(commands::render::RenderArgs),
    /// CPU credits: balance, earn vs burn, time to empty, chart.
    Credits(commands::credits::CreditsArgs),
    /// The alert topic, its subscriptions and the alarms with their state.
    Alerts,
    /// Change the instance type, keeping the data and the address.
    Resize(commands::resize::ResizeArgs),
    /// List, create, describe, alter and delete topics through the Kafka port.
    Topics(commands::topics::TopicsArgs),
    /// Load-test the broker from this machine: throughput, latency, credits per GB.
    Perf(commands::perf::PerfArgs),
    /// Add, list and remove the broker's users (SCRAM credentials and ACLs).
    Users(commands::users::UsersArgs),
    /// Print the settings a Kafka client needs (SASL_SSL, user, CA file).
    ClientConfig(commands::client_config::ClientConfigArgs),
    /// Print the least-privilege IAM policy (JSON) for every call skiff makes.
    IamPolicy,
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "skiff=warn",
        1 => "skiff=info",
        2 => "skiff=debug",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}

/// The output policy the flags ask for.
fn printer(cli: &Cli) -> Printer {
    let format = match &cli.command {
        Command::Credits(a) if a.json => Format::Json,
        Command::Topics(a) if a.json => Format::Json,
        Command::Perf(a) if a.json => Format::Json,
        Command::Users(a) if a.json => Format::Json,
        _ => Format::Text,
    };
    let verbosity = if cli.global.quiet {
        Verbosity::Quiet
    } else {
        Verbosity::Normal
    };
    Printer::new(format, verbosity)
}

async fn run(cli: &Cli, out: &Printer) -> anyhow::Result<()> {
    let g = &cli.global;
    match &cli.command {
        Command::Init(a) => commands::init::run(g, out, a),
        Command::Up(a) => commands::up::run(g, out, a).await,
        Command::Upgrade(a) => commands::upgrade::run(g, out, a).await,
        Command::Status => commands::status::run(g, out).await,
        Command::Logs(a) => commands::logs::run(g, out, a).await,
        Command::Backup(a) => commands::backup::run(g, out, a).await,
        Command::Backups => commands::backups::run(g, out).await,
        Command::Restore(a) => commands::restore::run(g, out, a).await,
        Command::Down(a) => commands::down::run(g, out, a).await,
        Command::Render(a) => commands::render::run(g, out, a),
        Command::Credits(a) => commands::credits::run(g, out, a).await,
        Command::Alerts => commands::alerts::run(g, out).await,
        Command::Resize(a) => commands::resize::run(g, out, a).await,
        Command::Topics(a) => commands::topics::run(g, out, a).await,
        Command::Perf(a) => commands::perf::run(g, out, a).await,
        Command::Users(a) => commands::users::run(g, out, a).await,
        Command::ClientConfig(a) => commands::client_config::run(g, out, a).await,
        Command::IamPolicy => iam_policy::run(out),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    let out = printer(&cli);
    match run(&cli, &out).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            std::process::ExitCode::FAILURE
        }
    }
}
