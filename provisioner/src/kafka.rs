//! The CLI's side of the `kafka-client` crate: where `topics`, `perf` and
//! `users` connect (`--bootstrap HOST:PORT`, with no AWS call at all, or the
//! deployment's Elastic IP found in the inventory as `status` does), how
//! (`security.protocol`, the CA, the admin credentials from
//! `crate::secrets` or the flags), and the client's errors worded for a
//! user, with the fix.
//!
//! Security: SASL_SSL with SCRAM-SHA-512 as `admin` when the deployment's
//! admin password is stored on this machine or any of `--ca-file`, `--user`,
//! `--password-file` is given (and always for `users`); PLAINTEXT otherwise
//! (a broker without authentication); `--security-protocol` decides
//! outright.

use crate::aws::inventory::Inventory;
use crate::aws::{self, Clients};
use crate::config::Overrides;
use crate::render::BROKER_PORT;
use crate::secrets;
use crate::Global;
use anyhow::{anyhow, bail, Result};
use aws_sdk_ec2::types::InstanceStateName;
use kafka_client::scram;
use kafka_client::{Connection, Error, Mechanism, Options, Sasl, Security, Tls};
use std::path::PathBuf;
use std::time::Duration;

/// The SASL mechanism skiff uses and configures clients with.
pub const MECHANISM: scram::Mechanism = scram::Mechanism::Sha512;

/// Kafka's `security.protocol` values.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Protocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

/// `--bootstrap`, shared by `topics` and `perf`.
#[derive(clap::Args, Debug, Clone)]
pub struct TargetArgs {
    /// Talk to the Skiff broker at HOST:PORT (a local one, say) instead of
    /// the deployment; no AWS call is made.
    #[arg(long, global = true, value_name = "HOST:PORT", value_parser = parse_bootstrap)]
    pub bootstrap: Option<String>,
    /// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (default: SASL_SSL when
    /// the admin password is stored here or a flag below is given).
    #[arg(long, global = true, value_enum, value_name = "PROTOCOL")]
    pub security_protocol: Option<Protocol>,
    /// The CA certificate (PEM) to trust (default: the deployment's ca.pem
    /// if stored, else the system's roots).
    #[arg(long, global = true, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Authenticate as this user (default: admin).
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// The file holding the password (default: the deployment's
    /// admin.password).
    #[arg(long, global = true, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
}

/// The deployment behind an address, when it came from AWS.
pub struct Deployment {
    pub clients: Clients,
    pub instance_id: String,
    pub instance_type: String,
}

/// Where to send Kafka requests, and how.
pub struct Target {
    pub addr: String,
    /// `None` with `--bootstrap`.
    pub deployment: Option<Deployment>,
    pub security: Security,
    /// The file the password came from (for error messages).
    pub password_file: Option<PathBuf>,
}

/// How to connect: the protocol, CA and credentials the flags and the
/// stored secrets give. `always_auth`: SASL_SSL unless
/// `--security-protocol` says otherwise (commands that need the admin).
pub fn security(
    deployment: &str,
    args: &TargetArgs,
    always_auth: bool,
) -> Result<(Security, Option<PathBuf>)> {
    let dir = secrets::Dir::for_deployment(deployment)?;
    let flags = args.ca_file.is_some() || args.user.is_some() || args.password_file.is_some();
    let protocol = args.security_protocol.unwrap_or(
        if always_auth || flags || dir.admin_password_path().exists() {
            Protocol::SaslSsl
        } else {
            Protocol::Plaintext
        },
    );
    let tls = || Tls {
        ca_file: args
            .ca_file
            .clone()
            .or_else(|| Some(dir.ca_path()).filter(|p| p.exists())),
        server_name: None,
    };
    let sasl = || -> Result<(Sasl, PathBuf)> {
        let (password, file) = match &args.password_file {
            Some(p) => (secrets::read_password_file(p)?, p.clone()),
            None => (dir.read_admin_password()?, dir.admin_password_path()),
        };
        let user = args
            .user
            .clone()
            .unwrap_or_else(|| secrets::ADMIN_USER.to_string());
        let sasl = Sasl {
            mechanism: Mechanism::Scram(MECHANISM),
            user,
            password,
        };
        Ok((sasl, file))
    };
    Ok(match protocol {
        Protocol::Plaintext => (Security::Plaintext, None),
        Protocol::Ssl => (Security::Ssl(tls()), None),
        Protocol::SaslPlaintext => {
            let (s, f) = sasl()?;
            (Security::SaslPlaintext(s), Some(f))
        }
        Protocol::SaslSsl => {
            let (s, f) = sasl()?;
            (Security::SaslSsl(tls(), s), Some(f))
        }
    })
}

/// Checks `HOST:PORT` (IPv6 hosts in brackets) without resolving it.
pub fn parse_bootstrap(s: &str) -> Result<String, String> {
    let bad = |why: &str| format!("`{s}`: {why}; expected HOST:PORT such as 127.0.0.1:9092");
    let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    if host.is_empty() || host.len() > 253 {
        return Err(bad("the host must be 1 to 253 characters"));
    }
    let inner = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if inner.contains(':') && !host.starts_with('[') {
        return Err(bad("put an IPv6 address in brackets ([::1]:9092)"));
    }
    if !inner
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    {
        return Err(bad("the host has characters a host name cannot have"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(s.to_string()),
        _ => Err(bad("the port must be 1 to 65535")),
    }
}

/// `--bootstrap` as given, else the deployment's Elastic IP (or the
/// `SKIFF_PROBE_ADDR` test hook) on port 9092, with the instance behind it.
pub async fn target(g: &Global, args: &TargetArgs) -> Result<Target> {
    target_with(g, args, false).await
}

/// [`target`], authenticating as the admin unless `--security-protocol`
/// says otherwise.
pub async fn admin_target(g: &Global, args: &TargetArgs) -> Result<Target> {
    target_with(g, args, true).await
}

async fn target_with(g: &Global, args: &TargetArgs, always_auth: bool) -> Result<Target> {
    let config = crate::commands::load_config(g, Overrides::default())?;
    let (security, password_file) = security(&config.name, args, always_auth)?;
    if let Some(addr) = &args.bootstrap {
        return Ok(Target {
            addr: addr.clone(),
            deployment: None,
            security,
            password_file,
        });
    }
    let clients = aws::connect(config.region.as_deref()).await?;
    let inv = Inventory::load(&clients, &config.name).await?;
    let hint = "run `skiff up` first, or pass --bootstrap HOST:PORT for another broker";
    let Some(instance) = inv.instance() else {
        bail!(
            "deployment `{}` has no instance in {}; {hint}",
            config.name,
            clients.region
        );
    };
    if !matches!(
        instance.state,
        InstanceStateName::Running | InstanceStateName::Pending
    ) {
        bail!(
            "the instance {} of deployment `{}` is {}; `skiff up` starts it",
            instance.id,
            config.name,
            instance.state.as_str()
        );
    }
    let addr = match (&g.hooks.probe_addr, inv.addresses.first()) {
        (Some(a), _) => a.clone(),
        (None, Some(a)) => format!("{}:{BROKER_PORT}", a.public_ip),
        (None, None) => bail!("deployment `{}` has no Elastic IP; {hint}", config.name),
    };
    Ok(Target {
        addr,
        deployment: Some(Deployment {
            clients,
            instance_id: instance.id.clone(),
            instance_type: instance.instance_type.clone(),
        }),
        security,
        password_file,
    })
}

/// The client options of every `skiff` connection.
pub fn options() -> Options {
    Options {
        client_id: format!("skiff/{}", env!("CARGO_PKG_VERSION")),
        connect_timeout: Duration::from_secs(10),
        timeout: Duration::from_secs(30),
        ..Options::default()
    }
}

/// Opens a connection to the target.
pub async fn connect(t: &Target) -> Result<Connection> {
    let options = Options {
        security: t.security.clone(),
        ..options()
    };
    Connection::open(&t.addr, &options)
        .await
        .map_err(|e| explain(e, t))
}

/// A client error with what to do about it.
pub fn explain(e: Error, t: &Target) -> anyhow::Error {
    let reach = if t.deployment.is_some() {
        "is the deployment up (`skiff status`), and is your address allowed on port 9092 (`skiff up --allow CIDR`)?"
    } else {
        "is a Skiff broker listening there?"
    };
    let fix = match &e {
        Error::Resolve { .. } | Error::Connect { .. } | Error::Closed { .. } | Error::Io { .. } => {
            Some(reach.to_string())
        }
        Error::Timeout { .. } => Some(format!("the broker may be overloaded or out of CPU credits (`skiff credits`); {reach}")),
        Error::Broker { error, .. } => match error.code {
            3 => Some("`skiff topics list` shows the topics; `skiff topics create NAME` makes one".into()),
            36 => Some("`skiff topics describe NAME` shows it".into()),
            37 => Some("a topic's partition count can only grow, from 1".into()),
            40 => Some("`skiff topics describe NAME` lists the configs the broker knows, with their defaults".into()),
            10 | 18 => Some("lower --size or --batch-bytes, or raise the topic's max.message.bytes (`skiff topics alter NAME --topic-config max.message.bytes=N`)".into()),
            56 => Some("the broker's disk is full or at its database cap (SKIFF_MAX_DB_BYTES): lower retention (`skiff topics alter NAME --topic-config retention.ms=N`) or delete topics".into()),
            29..=31 => Some("this user's ACLs do not allow it (`skiff users list` shows them)".into()),
            58 => Some("the broker refused these credentials".into()),
            _ => None,
        },
        Error::Auth { user, .. } => Some(match &t.password_file {
            Some(f) => format!(
                "the password in {} is not the broker's password for '{user}': pass the right one with --password-file PATH (and --user NAME)",
                f.display()
            ),
            None => "check --user and --password-file".into(),
        }),
        Error::Tls { .. } => Some(
            "pass the broker's CA certificate with --ca-file PATH (the deployment's is stored as ca.pem beside admin.password), or check the address matches the certificate".into(),
        ),
        _ => None,
    };
    match fix {
        Some(f) => anyhow!("{e}\n  fix: {f}"),
        None => anyhow!(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_has_no_clashing_flags() {
        // Global flags (`--config`, `--name`) reach every subcommand: an
        // argument of `topics` or `perf` with the same name would clash.
        use clap::CommandFactory;
        crate::Cli::command().debug_assert();
    }

    fn args(protocol: Option<Protocol>, ca: Option<&str>, pw: Option<&str>) -> TargetArgs {
        TargetArgs {
            bootstrap: Some("127.0.0.1:9092".into()),
            security_protocol: protocol,
            ca_file: ca.map(Into::into),
            user: None,
            password_file: pw.map(Into::into),
        }
    }

    #[test]
    fn security_from_flags() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let pw = t.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
        let pw = pw.to_str().unwrap();
        // A deployment name no test stores secrets for.
        let name = "no-secrets-stored-here";
        let (s, f) = security(name, &args(None, None, None), false).unwrap();
        assert_eq!((s, f), (Security::Plaintext, None));
        let (s, f) = security(name, &args(None, Some("/ca.pem"), Some(pw)), false).unwrap();
        let Security::SaslSsl(tls, sasl) = s else {
            panic!("{s:?}")
        };
        assert_eq!(
            tls.ca_file.as_deref(),
            Some(std::path::Path::new("/ca.pem"))
        );
        assert_eq!(
            (sasl.user.as_str(), sasl.password.as_str()),
            ("admin", "s3cret")
        );
        assert_eq!(sasl.mechanism, Mechanism::Scram(MECHANISM));
        assert_eq!(f.as_deref(), Some(std::path::Path::new(pw)));
        let (s, _) = security(name, &args(Some(Protocol::Ssl), None, None), true).unwrap();
        assert!(matches!(s, Security::Ssl(_)), "{s:?}");
        // Commands that need the admin fail without a password, naming
        // where it was looked for.
        let e = security(name, &args(None, None, None), true).unwrap_err();
        assert!(e.to_string().contains("admin.password"), "{e}");
    }

    #[test]
    fn bootstrap_addresses() {
        for ok in [
            "127.0.0.1:9092",
            "broker.example.com:19092",
            "[::1]:9092",
            "localhost:1",
        ] {
            assert_eq!(parse_bootstrap(ok).as_deref(), Ok(ok), "{ok}");
        }
        for bad in [
            "",
            "127.0.0.1",
            ":9092",
            "host:0",
            "host:65536",
            "host:x",
            "::1:9092",
            "a b:1",
            "h/x:1",
        ] {
            let e = parse_bootstrap(bad).unwrap_err();
            assert!(e.contains("HOST:PORT"), "{bad}: {e}");
        }
        assert!(parse_bootstrap(&format!("{}:1", "a".repeat(254))).is_err());
    }
}
