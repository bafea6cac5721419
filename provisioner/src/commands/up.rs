//! `skiff up [--dry-run] [--yes]`: makes the deployment what `skiff.yaml`
//! says, whether it exists or not, and prints the bootstrap address, a
//! client config and the monthly cost estimate.
//!
//! Each step looks at what exists (by tags) and changes only what differs:
//! missing resources are created; the firewall, alerts, credit mode, data
//! volume size, log group and backup schedule are changed in place; a
//! change of the instance's launch inputs (broker image or version,
//! `broker.settings`, the log settings) replaces the instance: a new one
//! with the new user data and the latest AMI, the old one stopped cleanly,
//! the data volume and the Elastic IP moved over, the old one terminated.
//! On an existing deployment the steps first run as a dry run to show the
//! plan (`terraform plan` style: `+` create, `~` in place, `-/+` replace,
//! with the expected downtime); a replacement asks before it goes on
//! (`--yes` does not ask). `--dry-run` shows only the plan: the same steps
//! with mutation switched off, so the plan cannot drift from what `up`
//! does. Because the tags are the only state, an `up` interrupted anywhere
//! (a replacement too) resumes on the next run, and a second `up` makes
//! only read calls.
//!
//! The endpoint is SASL_SSL by default (`deploy::security`): `up` ends by
//! printing the client settings (bootstrap address, SASL_SSL,
//! SCRAM-SHA-512, user `admin`, and where the password and CA files are).
//! `security: plaintext` is the explicit opt-out and is warned about on
//! every run; `--public` (0.0.0.0/0) is refused with it unless
//! `--insecure` is given too.

use crate::aws::inventory::Inventory;
use crate::aws::Clients;
use crate::config::{Config, CreditMode, Overrides, Security};
use crate::cost::Estimate;
use crate::deploy::{
    access, address, alerts, ami, credit, data_volume, instance, ready, replace, schedule,
    security, security_group,
};
use crate::printer::Printer;
use crate::render::BROKER_PORT;
use crate::runner::{Impact, Runner};
use crate::{aws, public_ip, Global};
use anyhow::{bail, Result};
use std::time::Duration;

#[derive(clap::Args, Debug, Default)]
pub struct UpArgs {
    /// Print the plan and the cost estimate; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply a plan that replaces the instance (minutes of downtime)
    /// without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Allow this IPv4 CIDR on the broker port (repeatable); default: your
    /// public address as /32.
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<String>,
    /// Allow the whole internet (0.0.0.0/0) on the broker port (with the
    /// default `security: sasl_ssl`: TLS and SCRAM logins).
    #[arg(long, conflicts_with = "allow")]
    pub public: bool,
    /// With `--public` and `security: plaintext`: open an unauthenticated,
    /// unencrypted broker to the whole internet anyway.
    #[arg(long)]
    pub insecure: bool,
    /// Instance type of a new deployment (t2/t3/t3a/t4g, e.g. t3.micro);
    /// `skiff resize` changes a running one.
    #[arg(long)]
    pub instance_type: Option<String>,
    /// CPU credit mode (changed in place on a running instance).
    #[arg(long, value_enum)]
    pub credit_mode: Option<CreditMode>,
    /// Data volume size in GiB (grows a running deployment's volume online).
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
    /// Expected average data out to clients outside AWS, in Mbit/s, for the
    /// cost estimate's data-transfer line (each consumer group counts).
    #[arg(long, value_name = "MBPS", default_value_t = crate::cost::DEFAULT_EXPECT_MBPS, value_parser = parse_mbps)]
    pub expect_mbps: f64,
}

/// A rate from 0 to 100,000 Mbit/s.
fn parse_mbps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=100_000.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{s}` is not a rate in Mbit/s from 0 to 100000 (e.g. 0.1 or 5)"
        )),
    }
}

/// Number of steps of `up`.
pub const STEPS: usize = 15;

/// How `converge` runs.
pub struct Options {
    pub dry_run: bool,
    /// Do not ask before a replacement.
    pub yes: bool,
    /// The CIDRs allowed on the broker port.
    pub cidrs: Vec<String>,
    /// How long to wait for the broker; None: do not wait.
    pub wait: Option<Duration>,
    /// The command that resumes this flow (named when it stops).
    pub resume: String,
    /// Expected data out, Mbit/s (the cost estimate).
    pub expect_mbps: f64,
}

pub async fn run(g: &Global, out: &Printer, a: &UpArgs) -> Result<()> {
    if a.insecure && !a.public {
        bail!("--insecure only goes with --public (it allows --public with `security: plaintext`)");
    }
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
    let public = if a.public {
        Public::Yes {
            insecure: a.insecure,
        }
    } else {
        Public::No
    };
    let cidrs = cidrs(g, out, &config, public, a.dry_run, None).await?;
    let options = Options {
        dry_run: a.dry_run,
        yes: a.yes,
        cidrs,
        wait: (!a.no_wait).then(|| Duration::from_secs(a.wait_timeout)),
        resume: "skiff up".into(),
        expect_mbps: a.expect_mbps,
    };
    converge(g, out, &clients, &config, &options).await
}

/// Whether `--public` was given, and `--insecure` with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Public {
    No,
    Yes { insecure: bool },
}

/// The refusal of `--public` with `security: plaintext` and no `--insecure`.
pub const PUBLIC_PLAINTEXT_REFUSED: &str = "--public with `security: plaintext` would open an \
    unencrypted broker without logins to the whole internet: anyone who finds port 9092 could \
    read, write and delete every topic, and see all traffic. Remove `security: plaintext` from \
    skiff.yaml (SASL_SSL with a password is the default), or allow only your addresses \
    (--allow CIDR), or add --insecure if that is really what you want";

/// The warning of every run with `security: plaintext`.
pub const PLAINTEXT_WARNING: &str = "security: plaintext: the broker has no TLS and no logins; \
    whoever can reach port 9092 (see the allowed addresses) can read and write every topic, and \
    the traffic is readable on the way. Remove `security: plaintext` from skiff.yaml for SASL_SSL";

/// Who may connect: `--public`, else the config's CIDRs, else `keep` (the
/// rules in place, for commands that are not about the firewall), else
/// the caller's detected address as /32.
pub async fn cidrs(
    g: &Global,
    out: &Printer,
    config: &Config,
    public: Public,
    dry_run: bool,
    keep: Option<Vec<String>>,
) -> Result<Vec<String>> {
    let plaintext = config.security == Security::Plaintext;
    if plaintext {
        out.warn(PLAINTEXT_WARNING);
    }
    if let Public::Yes { insecure } = public {
        if plaintext && !insecure {
            bail!(PUBLIC_PLAINTEXT_REFUSED);
        }
        if plaintext {
            out.warn(format!(
                "--public --insecure opens port {BROKER_PORT} to the whole internet (0.0.0.0/0) \
                 with no authentication: anyone can read and write its topics"
            ));
        } else {
            out.out(format!(
                "allowing the whole internet (0.0.0.0/0) on port {BROKER_PORT}: clients need TLS \
                 and the admin password (SASL_SSL, SCRAM-SHA-512)"
            ));
        }
        return Ok(vec!["0.0.0.0/0".to_string()]);
    }
    if !config.allowed_cidrs.is_empty() {
        return Ok(config.allowed_cidrs.clone());
    }
    if let Some(k) = keep.filter(|k| !k.is_empty()) {
        return Ok(k);
    }
    match public_ip::detect(&g.hooks.checkip_url).await {
        Ok(d) => {
            // What is opened is a result, shown when quiet too.
            let via = d
                .proxy
                .as_deref()
                .map(|p| format!(" through the proxy {p}"))
                .unwrap_or_default();
            out.out(format!(
                "allowing your public address {}/32, as detected by {}{via} (override with --allow CIDR)",
                d.ip, d.url
            ));
            Ok(vec![format!("{}/32", d.ip)])
        }
        // A plan can still be shown; `up` itself needs the address.
        Err(e) if dry_run => {
            out.warn(e);
            Ok(vec!["<your public IP>/32".to_string()])
        }
        Err(e) => Err(e.into()),
    }
}

/// The expected downtime of a plan whose largest impact is `impact`.
pub fn downtime(impact: Impact) -> &'static str {
    match impact {
        Impact::Replace => {
            "a few minutes, about one first boot of the new instance (installing Docker and \
             pulling the image; longer on a t3 short of CPU credits): the old broker stops \
             cleanly (WAL checkpointed), the data volume and the Elastic IP move to the new \
             instance; clients reconnect to the same address"
        }
        Impact::Restart => "until the stopped instance has started (about a minute)",
        _ => "none",
    }
}

/// Runs the steps of `up` for `config`: plan, confirmation, changes.
pub async fn converge(
    g: &Global,
    out: &Printer,
    clients: &Clients,
    config: &Config,
    o: &Options,
) -> Result<()> {
    let probe = g.hooks.probe_addr.as_deref();

    // Nothing billable is created until every check passes.
    let (launch_type, free_tier) = preflight(g, out, clients, config).await?;
    let unlimited = config.credit_mode == CreditMode::Unlimited;
    let alarms = if config.alert_email.is_some() {
        2 + u32::from(crate::alarms::publishes_ebs_balance(launch_type)) + u32::from(unlimited)
    } else {
        0
    };
    let estimate = Estimate::with(
        launch_type,
        &crate::cost::Inputs {
            region: &clients.region,
            volume_gib: config.volume_size_gb,
            unlimited,
            backups_kept: config.backup_schedule.as_ref().map(|b| b.keep),
            alarms,
            expect_mbps: o.expect_mbps,
            free_tier,
        },
    );

    if o.dry_run {
        out.out(format!(
            "Plan for deployment `{}` in {} (dry run: nothing is changed)",
            config.name, clients.region
        ));
        let mut runner = Runner::new(out, STEPS, o.resume.clone()).plan(true);
        deploy(clients, &mut runner, config, o, probe).await?;
        if runner.changed() {
            print_plan(out, &runner, false);
            out.out(format!(
                "\n{estimate}\n\nRun `{}` to apply this plan.",
                o.resume
            ));
        } else {
            out.out(format!("\nNothing to change: already up.\n\n{estimate}"));
        }
        return Ok(());
    }

    // On an existing deployment, the plan first: what changes, and how
    // long the broker will be down.
    let existing = Inventory::load(clients, &config.name).await?;
    if !existing.instances.is_empty() {
        let mut plan = Runner::new(out, STEPS, o.resume.clone()).silent();
        let plan_options = Options {
            dry_run: true,
            yes: o.yes,
            cidrs: o.cidrs.clone(),
            wait: None,
            resume: o.resume.clone(),
            expect_mbps: o.expect_mbps,
        };
        deploy(clients, &mut plan, config, &plan_options, probe).await?;
        if plan.changed() {
            print_plan(out, &plan, true);
            if plan.impact() == Impact::Replace
                && !o.yes
                && !out.confirm("Replace the instance now?")?
            {
                bail!("cancelled; nothing was changed");
            }
        }
    }

    out.info(format!("Deploying `{}` in {}", config.name, clients.region));
    let mut runner = Runner::new(out, STEPS, o.resume.clone()).stop_after(g.hooks.stop_after_step);
    let deployed = deploy(clients, &mut runner, config, o, probe).await?;

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
    out.out(client_settings(&bootstrap, deployed.endpoint.as_ref()));
    if deployed.legacy {
        out.warn(
            "this deployment keeps its data on its instance's root volume (it was made before \
             data volumes): `up` does not replace that instance, so broker upgrades and setting \
             changes are not applied, and `skiff backup` has no data volume to snapshot; see \
             \"Deployments made before data volumes\" in the README",
        );
    }
    out.out(estimate);
    if config.log_retention_days > 0 {
        out.out(crate::cost::logs_line(config.log_retention_days));
    }
    Ok(())
}

/// The preflight checks for `config`'s deployment: the type a new
/// instance would get, an Elastic IP only if the deployment has none, the
/// vCPUs only if no instance of it runs.
async fn preflight(
    g: &Global,
    out: &Printer,
    clients: &Clients,
    config: &Config,
) -> Result<(
    &'static crate::instance_types::InstanceType,
    crate::cost::FreeTier,
)> {
    let inventory = Inventory::load(clients, &config.name).await?;
    let launch_type = inventory
        .instance()
        .and_then(|i| crate::instance_types::lookup(&i.instance_type))
        .unwrap_or_else(|| config.instance());
    let running = inventory.instances.iter().any(|i| i.is_up());
    let req = crate::preflight::Request {
        instance_type: launch_type,
        new_address: inventory.addresses.is_empty(),
        new_vcpus: if running {
            0
        } else {
            i64::from(launch_type.vcpus)
        },
        config: Some(config),
        plan: g
            .hooks
            .account_plan
            .as_deref()
            .and_then(crate::preflight::Plan::parse),
    };
    let progress = out.progress("preflight");
    progress.set("checking credentials, quotas and the instance type");
    let findings = crate::preflight::check(clients, &req).await;
    progress.clear();
    let free_tier = findings.into_result(out)?;
    Ok((launch_type, free_tier))
}

/// The plan, `terraform plan` style: the changes and the downtime.
fn print_plan(out: &Printer, r: &Runner<'_>, heading: bool) {
    if heading {
        out.out("Plan:");
    } else {
        out.out("\nSummary:");
    }
    for d in r.steps().iter().filter(|d| d.outcome.changed) {
        out.out(format!(
            "  {:>3} {:<20} {}",
            d.outcome.impact.symbol(),
            d.label,
            d.outcome.text
        ));
    }
    let new = r
        .steps()
        .iter()
        .any(|d| d.label == "instance" && d.outcome.impact == Impact::Create);
    if new && r.impact() < Impact::Restart {
        out.out("Expected downtime: none (a new deployment)");
    } else {
        out.out(format!("Expected downtime: {}", downtime(r.impact())));
    }
}

/// The client settings to print after `up`, in client.properties form.
pub fn client_settings(bootstrap: &str, endpoint: Option<&security::Endpoint>) -> String {
    match endpoint {
        Some(e) => format!(
            "\nClient config (e.g. client.properties; librdkafka and Java clients alike):\n  \
             bootstrap.servers={bootstrap}\n  \
             security.protocol=SASL_SSL\n  \
             sasl.mechanism={mech}\n  \
             sasl.username={admin}\n  \
             sasl.password=<the contents of {pw}>\n  \
             ssl.ca.location={ca}\n\
             (Java clients: ssl.truststore.type=PEM, ssl.truststore.location={ca}, and \
             sasl.jaas.config with the same user and password.) The password file is readable by \
             you only; the certificate names the Elastic IP and its public DNS name, so host name \
             verification stays on.\n",
            mech = crate::scram::MECHANISM,
            admin = crate::scram::ADMIN,
            pw = e.password_path.display(),
            ca = e.ca_path.display(),
        ),
        None => format!(
            "\nClient config (e.g. client.properties):\n  bootstrap.servers={bootstrap}\n  security.protocol=PLAINTEXT\n"
        ),
    }
}

/// What a finished `up` has to tell.
struct Deployed {
    public_ip: String,
    /// None: `security: plaintext`.
    endpoint: Option<security::Endpoint>,
    ready: bool,
    /// Made before data volumes (data on the root volume).
    legacy: bool,
}

/// The steps of `up`, in order. Each takes only what it reads; a dry run
/// passes `dry_run` to each, which then reports what it would do.
async fn deploy(
    clients: &Clients,
    r: &mut Runner<'_>,
    config: &Config,
    o: &Options,
    probe_addr: Option<&str>,
) -> Result<Deployed> {
    let name = &config.name;
    let dry_run = o.dry_run;
    let inventory = Inventory::load(clients, name).await?;
    // A new instance gets the running one's type (a `resize` may have
    // changed it), else the config's.
    let launch_type = inventory
        .instance()
        .map(|i| i.instance_type.clone())
        .filter(|t| crate::instance_types::lookup(t).is_some())
        .unwrap_or_else(|| config.instance_type.clone());
    let arch = crate::instance_types::lookup(&launch_type)
        .map(|t| t.arch)
        .unwrap_or(config.instance().arch);

    let s = r.start("AMI");
    let (ami, outcome) = ami::resolve(clients, arch, &inventory).await?;
    r.finish(s, outcome)?;

    let s = r.start("security group");
    let (sg_id, outcome) =
        security_group::ensure(clients, name, &o.cidrs, dry_run, &inventory, s.progress()).await?;
    r.finish(s, outcome)?;

    let s = r.start("Elastic IP");
    let (address, outcome) = address::ensure(clients, name, dry_run, &inventory).await?;
    r.finish(s, outcome)?;

    // Made before data volumes: its instance is never replaced, so it
    // would never use a role, log group, certificate or password.
    let legacy =
        inventory.data_volume().is_none() && inventory.instances.iter().any(|i| i.is_legacy());

    let s = r.start("TLS and admin login");
    let (endpoint, outcome) = if legacy {
        (
            None,
            crate::runner::Outcome::found(
                "none: this deployment's instance was made before data volumes and is never \
                 replaced, so its broker stays as it was",
            ),
        )
    } else {
        security::ensure(clients, config, dry_run, &address.public_ip, s.progress()).await?
    };
    r.finish(s, outcome)?;
    let s = r.start("instance role");
    let (access, outcome) = if legacy {
        (
            None,
            crate::runner::Outcome::found(
                "none: this deployment's instance was made before broker logs went to CloudWatch",
            ),
        )
    } else {
        access::ensure(clients, config, dry_run, s.progress()).await?
    };
    r.finish(s, outcome)?;

    let s = r.start("data volume");
    let (volume, outcome) = data_volume::ensure(
        clients,
        config,
        dry_run,
        &inventory,
        &launch_type,
        s.progress(),
    )
    .await?;
    r.finish(s, outcome)?;

    let s = r.start("instance");
    let launch = instance::Launch {
        ami: &ami,
        security_group: &sg_id,
        address: &address,
        volume: volume.as_ref(),
        access: access.as_ref(),
        security: endpoint.as_ref().map(|e| &e.broker),
        first_boot_unlimited: instance::first_boot_unlimited(
            config,
            &launch_type,
            o.wait.is_some(),
        ),
    };
    let (chosen, outcome) =
        instance::ensure(clients, config, dry_run, &inventory, &launch, s.progress()).await?;
    r.finish(s, outcome)?;

    let s = r.start("stop old instance");
    let outcome = replace::stop_others(clients, name, &chosen.id, dry_run, s.progress()).await?;
    r.finish(s, outcome)?;

    let s = r.start("attach data volume");
    let outcome = match &volume {
        Some(v) => {
            data_volume::attach(clients, dry_run, name, &v.id, &chosen.id, s.progress()).await?
        }
        None => crate::runner::Outcome::found("none (data on the root volume)"),
    };
    r.finish(s, outcome)?;

    let s = r.start("attach Elastic IP");
    let outcome = address::associate(clients, dry_run, &address, &chosen.id).await?;
    r.finish(s, outcome)?;

    let s = r.start("credit mode");
    let (credit_mode, outcome) =
        credit::ensure(clients, config, dry_run, &chosen, s.progress()).await?;
    r.finish(s, outcome)?;

    let s = r.start("broker ready");
    let probe = probe_addr
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}:{BROKER_PORT}", address.public_ip));
    let replacing = chosen.launched && inventory.instance().is_some();
    let tls = match &endpoint {
        Some(e) if !dry_run && o.wait.is_some() => {
            let ca = e.ca_pem.as_deref().ok_or_else(|| {
                anyhow::anyhow!(
                    "no CA file {} to check the broker with",
                    e.ca_path.display()
                )
            })?;
            Some(crate::probe::Tls::new(ca, &e.server_name)?)
        }
        _ => None,
    };
    let (ready, outcome) =
        match ready::wait(
            dry_run,
            o.wait,
            &probe,
            tls.as_ref(),
            Some((clients, &chosen.id)),
            s.progress(),
        )
        .await
        {
            Ok(x) => x,
            // The old instance is only stopped until the new broker answers.
            Err(e) if replacing => return Err(e.context(
                "the new instance's broker did not answer; if it cannot start (a broker image or \
                 setting that does not work), put the previous value back in skiff.yaml and run \
                 `skiff up --yes`: the old instance, only stopped so far, takes the data volume \
                 and the address back",
            )),
            Err(e) if chosen.first_boot_unlimited => {
                return Err(e.context(format!(
                    "{} is still in unlimited credit mode for its first boot; the next `skiff up` \
                 sets it to standard",
                    chosen.id
                )))
            }
            Err(e) => return Err(e),
        };
    // The first boot is over: back to the configured standard mode.
    let (credit_mode, outcome) = if chosen.first_boot_unlimited && ready && !dry_run {
        let (mode, line) = credit::after_first_boot(clients, &chosen, s.progress()).await?;
        let mut outcome = outcome;
        outcome.text = format!("{}; {line}", outcome.text);
        (Some(mode), outcome)
    } else {
        (credit_mode, outcome)
    };
    r.finish(s, outcome)?;

    let s = r.start("old instance");
    let outcome =
        replace::terminate_others(clients, name, &chosen.id, dry_run, s.progress()).await?;
    r.finish(s, outcome)?;

    let s = r.start("alerts");
    let instance_type =
        crate::instance_types::lookup(&chosen.instance_type).unwrap_or_else(|| config.instance());
    let target = alerts::Target {
        instance_id: &chosen.id,
        instance_type,
        credit_mode,
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

    let s = r.start("backup schedule");
    let tagged = inventory
        .data_volume()
        .is_some_and(|v| v.schedule.is_some());
    let outcome = schedule::ensure(
        clients,
        config,
        dry_run,
        volume.as_ref(),
        tagged,
        s.progress(),
    )
    .await?;
    r.finish(s, outcome)?;

    Ok(Deployed {
        public_ip: address.public_ip,
        endpoint,
        ready,
        legacy: volume.is_none(),
    })
}
