//! Renders the files the instance boots with: the cloud-config user data
//! (`cloud-init/user-data.yaml`) with the compose file, the broker's env file,
//! three shell scripts and three systemd units embedded in it.
//!
//! What the instance is told besides `skiff.yaml` ([`Target`]) is the
//! advertised host (the Elastic IP), optionally the EBS volume id of the
//! broker's data volume ([`DataVolumeId`]): with it, `data-volume.sh` finds
//! that volume by its id (the NVMe serial on Nitro), formats it if blank
//! and mounts it at [`DATA_DIR`] before the broker starts; without it the
//! data stays on the root volume. The provisioner must attach the volume
//! as [`DATA_VOLUME_DEVICE`] (the name only matters on Xen, i.e. t2). And
//! optionally the CloudWatch Logs group the broker's container logs to
//! ([`LogSettings`], Docker's awslogs driver, `compose.awslogs.yaml`).
//!
//! And, with `security: sasl_ssl` (the default), the broker's TLS and SASL
//! settings ([`BrokerSecurity`]): the names of the SSM parameters holding
//! the server's private key and certificate chain (start-broker.sh fetches
//! them with the instance role's credentials into the data directory, the
//! key 0600, before every start), the chain's SHA-256 (checked there, and
//! so part of the launch hash: a new certificate replaces the instance),
//! and the admin's SCRAM verifier. No private key or password is ever
//! rendered. (The chain itself would not fit: EC2's 16 KB.)
//!
//! The templates are compiled into the binary with `include_str!`, so the
//! `skiff` a user installs cannot drift from the files the test suite
//! validates, and `skiff render` writes exactly what `skiff up` sends.
//! Templating is plain `{{key}}` replacement: nothing here needs logic, and
//! a leftover placeholder is a bug the tests catch.

use crate::config::Config;
use std::path::Path;

const USER_DATA: &str = include_str!("../../cloud-init/user-data.yaml");
const INSTALL_COMPOSE: &str = include_str!("../../cloud-init/install-compose.sh");
const START_BROKER: &str = include_str!("../../cloud-init/start-broker.sh");
const DATA_VOLUME: &str = include_str!("../../cloud-init/data-volume.sh");
const BROKER_UNIT: &str = include_str!("../../cloud-init/skiff-broker.service");
const GROW_SERVICE: &str = include_str!("../../cloud-init/skiff-data-grow.service");
const GROW_TIMER: &str = include_str!("../../cloud-init/skiff-data-grow.timer");
const COMPOSE: &str = include_str!("../../templates/compose.yaml");
const COMPOSE_AWSLOGS: &str = include_str!("../../templates/compose.awslogs.yaml");
const BROKER_ENV: &str = include_str!("../../templates/broker.env");

/// Where the files live on the instance.
pub const INSTANCE_DIR: &str = "/opt/skiff";
/// The host directory mounted as the broker's `/data`: the data volume's
/// mount point, or a directory on the root volume without one.
pub const DATA_DIR: &str = "/var/lib/skiff";
/// The device name to attach the data volume as (AttachVolume `Device`).
/// Nitro instances ignore it (the volume is found by its id); Xen (t2)
/// shows it as `/dev/xvdf`, the only handle it has.
pub const DATA_VOLUME_DEVICE: &str = "/dev/sdf";
/// Seconds Docker waits for the broker to stop before killing it (compose
/// `stop_grace_period`, `docker run --stop-timeout`).
pub const STOP_TIMEOUT_S: u32 = 30;
/// json-file log rotation of the broker container, in compose and in the
/// `docker run` fallback alike.
pub const LOG_MAX_SIZE: &str = "10m";
pub const LOG_MAX_FILE: &str = "3";
/// The awslogs driver's buffer in non-blocking mode: what is kept while
/// CloudWatch Logs is slow or unreachable (then lines are dropped, the
/// broker never blocks on its log output).
pub const LOG_BUFFER: &str = "4m";
/// The Kafka port the broker listens on and the security group opens.
pub const BROKER_PORT: u16 = 9092;
/// EC2's limit on user data (before base64).
pub const MAX_USER_DATA: usize = 16 * 1024;

/// The rendered files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub user_data: String,
    pub compose: String,
    pub compose_awslogs: String,
    pub env: String,
    pub install_compose: String,
    pub start_broker: String,
    pub data_volume: String,
    pub broker_unit: String,
    pub grow_service: String,
    pub grow_timer: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("rendered user data is {0} bytes, over EC2's limit of {MAX_USER_DATA} bytes")]
    TooLarge(usize),
}

/// An EBS volume id as EC2 prints it: `vol-` and 8 or 17 lowercase hex
/// digits. It is written into shell scripts, so nothing else gets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataVolumeId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("data volume id `{0}` is not an EBS volume id: expected `vol-` and 17 (or 8) lowercase hex digits, e.g. vol-0123456789abcdef0")]
pub struct BadVolumeId(String);

impl std::str::FromStr for DataVolumeId {
    type Err = BadVolumeId;
    fn from_str(s: &str) -> Result<Self, BadVolumeId> {
        let hex = s.strip_prefix("vol-").unwrap_or_default();
        let ok = matches!(hex.len(), 8 | 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(DataVolumeId(s.to_string()))
        } else {
            // Bounded echo: the id may be anything a user typed.
            Err(BadVolumeId(s.chars().take(40).collect()))
        }
    }
}

impl DataVolumeId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where the broker's container logs go: a CloudWatch Logs group and its
/// region (both end up in a shell script and YAML, so both are checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    group: String,
    region: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot send the broker's logs to CloudWatch Logs: {0}")]
pub struct BadLogSettings(String);

impl LogSettings {
    /// The group `/skiff/<name>` in `region`. `name` is a validated
    /// deployment name; `region` is checked here (it may come from the AWS
    /// config chain).
    pub fn new(name: &str, region: &str) -> Result<LogSettings, BadLogSettings> {
        let ok = |s: &str, max: usize| {
            !s.is_empty()
                && s.len() <= max
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !ok(name, 32) {
            return Err(BadLogSettings(format!("bad deployment name `{name}`")));
        }
        if !ok(region, 32) || !region.contains('-') {
            return Err(BadLogSettings(format!(
                "region `{}` is not an AWS region name",
                region.chars().take(40).collect::<String>()
            )));
        }
        Ok(LogSettings {
            group: log_group(name),
            region: region.to_string(),
        })
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    pub fn region(&self) -> &str {
        &self.region
    }
}

/// The CloudWatch Logs group of deployment `name`.
pub fn log_group(name: &str) -> String {
    format!("/skiff/{name}")
}

/// The directory, under the broker's data directory, of its certificate
/// chain and key (on the data volume: `/data/tls` in the container).
pub const TLS_DIR: &str = "tls";
/// The uid and gid the broker's container runs as (distroless nonroot).
pub const BROKER_UID: u32 = 65532;

/// The broker's security settings for `security: sasl_ssl`. Everything
/// here is public: parameter names, a hash, a SCRAM verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSecurity {
    /// The SecureString parameter holding the server's private key.
    pub key_parameter: String,
    /// The String parameter holding its certificate chain.
    pub cert_parameter: String,
    /// SHA-256 (hex) of the chain's base64 lines, as start-broker.sh
    /// computes it ([`chain_sha256`]).
    pub cert_sha256: String,
    /// The parameters' region (the instance's).
    pub region: String,
    /// `SKIFF_BOOTSTRAP_USER`: `admin:SCRAM-SHA-512:salt=...`.
    pub bootstrap_user: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot render the broker's security settings: {0}")]
pub struct BadSecurity(String);

/// The SHA-256 (hex) of a PEM chain's base64 lines (every line without
/// `-----`, line ends dropped): the same whatever line ends or trailing
/// newline the AWS CLI prints it with.
pub fn chain_sha256(chain_pem: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for line in chain_pem.lines().filter(|l| !l.contains("-----")) {
        h.update(line.trim_end_matches('\r').as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl BrokerSecurity {
    /// The settings for deployment `name`'s chain in `region`. Checks what
    /// ends up in shell and YAML: a PEM chain with no private key, a
    /// region name, a one-line verifier.
    pub fn new(
        chain_pem: &str,
        name: &str,
        region: &str,
        bootstrap_user: String,
    ) -> Result<BrokerSecurity, BadSecurity> {
        if !chain_pem.starts_with("-----BEGIN CERTIFICATE-----") || chain_pem.contains("PRIVATE") {
            return Err(BadSecurity(
                "the certificate chain is not a PEM certificate chain".into(),
            ));
        }
        let plain = |s: &str| {
            !s.is_empty()
                && s.len() <= 32
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !plain(name) {
            return Err(BadSecurity(format!("bad deployment name `{name}`")));
        }
        if !plain(region) || !region.contains('-') {
            return Err(BadSecurity(format!(
                "region `{}` is not an AWS region name",
                region.chars().take(40).collect::<String>()
            )));
        }
        if bootstrap_user.is_empty() || !bootstrap_user.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BadSecurity(
                "the admin's verifier is not one printable line".into(),
            ));
        }
        Ok(BrokerSecurity {
            key_parameter: crate::aws::parameters::key_name(name),
            cert_parameter: crate::aws::parameters::cert_name(name),
            cert_sha256: chain_sha256(chain_pem),
            region: region.to_string(),
            bootstrap_user,
        })
    }
}

/// What the instance is told besides the config.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    /// The address the broker advertises (the Elastic IP in `up`).
    pub advertised_host: &'a str,
    pub data_volume: Option<&'a DataVolumeId>,
    pub logs: Option<&'a LogSettings>,
    /// None: `security: plaintext`.
    pub security: Option<&'a BrokerSecurity>,
}

/// Replaces each `{{key}}` of `vars` in one pass: a value is never
/// scanned again, so a setting that contains `{{...}}` stays as written.
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let known = after.find("}}").and_then(|end| {
            let key = &after[..end];
            vars.iter().find(|(k, _)| *k == key).map(|(_, v)| (end, *v))
        });
        match known {
            Some((end, value)) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Indents every non-empty line for a YAML literal block under `content: |`.
fn indent(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    let mut out: String = text
        .lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    // No trailing newline: the template supplies the one after the block.
    while out.ends_with('\n') {
        out.pop();
    }
    out
}

impl Bundle {
    /// Renders everything for `config`, advertising `advertised_host`
    /// (the Elastic IP in `up`), with the data on the root volume.
    #[cfg(test)]
    pub fn new(config: &Config, advertised_host: &str) -> Result<Bundle, RenderError> {
        Bundle::with_data_volume(config, advertised_host, None)
    }

    /// Like [`Bundle::new`], with the broker's data on the EBS volume
    /// `data_volume` when given.
    #[cfg(test)]
    pub fn with_data_volume(
        config: &Config,
        advertised_host: &str,
        data_volume: Option<&DataVolumeId>,
    ) -> Result<Bundle, RenderError> {
        Bundle::for_target(
            config,
            &Target {
                advertised_host,
                data_volume,
                logs: None,
                security: None,
            },
        )
    }

    /// Renders everything for `config` and `target`.
    pub fn for_target(config: &Config, target: &Target) -> Result<Bundle, RenderError> {
        let Target {
            advertised_host,
            data_volume,
            logs,
            security,
        } = *target;
        let port = BROKER_PORT.to_string();
        let stop_timeout = STOP_TIMEOUT_S.to_string();
        // systemd waits for `docker stop` to use its whole grace period.
        let stop_unit_timeout = format!("{}s", STOP_TIMEOUT_S + 15);
        let data_device = DATA_VOLUME_DEVICE.trim_start_matches("/dev/");
        let image = config.image_ref();
        let mut settings: Vec<String> = config
            .broker
            .settings
            .iter()
            .map(|(k, v)| format!("{k}={}", v.0))
            .collect();
        if !config.broker.settings.contains_key("RUST_LOG") {
            settings.insert(0, "RUST_LOG=info".to_string());
        }
        let security_env = match security {
            Some(s) => format!(
                "SKIFF_SECURITY_PROTOCOL=SASL_SSL\n\
                 SKIFF_TLS_CERT_FILE=/data/{TLS_DIR}/cert.pem\n\
                 SKIFF_TLS_KEY_FILE=/data/{TLS_DIR}/key.pem\n\
                 SKIFF_SASL_ENABLED_MECHANISMS={mech}\n\
                 SKIFF_AUTHORIZER=acl\n\
                 SKIFF_SUPER_USERS=User:{admin}\n\
                 SKIFF_BOOTSTRAP_USER={user}",
                mech = crate::scram::MECHANISM,
                admin = crate::scram::ADMIN,
                user = s.bootstrap_user,
            ),
            None => "SKIFF_SECURITY_PROTOCOL=PLAINTEXT".to_string(),
        };
        let broker_uid = BROKER_UID.to_string();
        let vars: &[(&str, &str)] = &[
            ("dir", INSTANCE_DIR),
            ("data_dir", DATA_DIR),
            ("port", &port),
            ("image", &image),
            ("advertised_host", advertised_host),
            (
                "data_volume_id",
                data_volume.map_or("", DataVolumeId::as_str),
            ),
            ("data_device", data_device),
            ("stop_timeout", &stop_timeout),
            ("stop_unit_timeout", &stop_unit_timeout),
            ("log_max_size", LOG_MAX_SIZE),
            ("log_max_file", LOG_MAX_FILE),
            ("log_group", logs.map_or("", LogSettings::group)),
            ("log_region", logs.map_or("", LogSettings::region)),
            ("log_buffer", LOG_BUFFER),
            ("broker_uid", &broker_uid),
            ("tls_dir", TLS_DIR),
            (
                "tls_key_parameter",
                security.map_or("", |s| s.key_parameter.as_str()),
            ),
            (
                "tls_cert_parameter",
                security.map_or("", |s| s.cert_parameter.as_str()),
            ),
            (
                "tls_cert_sha256",
                security.map_or("", |s| s.cert_sha256.as_str()),
            ),
            ("tls_region", security.map_or("", |s| s.region.as_str())),
        ];
        let compose = fill(COMPOSE, vars);
        let compose_awslogs = fill(COMPOSE_AWSLOGS, vars);
        let mut env = fill(BROKER_ENV, vars)
            .replace("{{security}}", &security_env)
            .replace("{{settings}}", &settings.join("\n"));
        if !env.ends_with('\n') {
            env.push('\n');
        }
        let install_compose = fill(INSTALL_COMPOSE, vars);
        let start_broker = fill(START_BROKER, vars);
        let data_volume = fill(DATA_VOLUME, vars);
        let broker_unit = fill(BROKER_UNIT, vars);
        let grow_service = fill(GROW_SERVICE, vars);
        let grow_timer = fill(GROW_TIMER, vars);
        let user_data = fill(
            USER_DATA,
            &[
                ("dir", INSTANCE_DIR),
                ("compose", &indent(&compose, 4)),
                ("compose_awslogs", &indent(&compose_awslogs, 4)),
                ("env", &indent(&env, 4)),
                ("install_compose", &indent(&install_compose, 4)),
                ("start_broker", &indent(&start_broker, 4)),
                ("data_volume", &indent(&data_volume, 4)),
                ("broker_unit", &indent(&broker_unit, 4)),
                ("grow_service", &indent(&grow_service, 4)),
                ("grow_timer", &indent(&grow_timer, 4)),
            ],
        );
        if user_data.len() > MAX_USER_DATA {
            return Err(RenderError::TooLarge(user_data.len()));
        }
        Ok(Bundle {
            user_data,
            compose,
            compose_awslogs,
            env,
            install_compose,
            start_broker,
            data_volume,
            broker_unit,
            grow_service,
            grow_timer,
        })
    }

    /// The user data as RunInstances wants it: the SDK does not encode it.
    pub fn user_data_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&self.user_data)
    }

    /// Writes every file into `dir` (created if missing); returns the names.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<Vec<&'static str>> {
        std::fs::create_dir_all(dir)?;
        let files: [(&str, &str); 10] = [
            ("user-data.yaml", &self.user_data),
            ("compose.yaml", &self.compose),
            ("compose.awslogs.yaml", &self.compose_awslogs),
            ("broker.env", &self.env),
            ("install-compose.sh", &self.install_compose),
            ("start-broker.sh", &self.start_broker),
            ("data-volume.sh", &self.data_volume),
            ("skiff-broker.service", &self.broker_unit),
            ("skiff-data-grow.service", &self.grow_service),
            ("skiff-data-grow.timer", &self.grow_timer),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text)?;
        }
        Ok(files.iter().map(|(n, _)| *n).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scalar;

    fn bundle() -> Bundle {
        let mut c = Config::default();
        c.broker
            .settings
            .insert("SKIFF_EXTRA".into(), Scalar("42".into()));
        Bundle::new(&c, "203.0.113.9").unwrap()
    }

    #[test]
    fn no_placeholder_left() {
        let b = bundle();
        let vol: DataVolumeId = "vol-0123456789abcdef0".parse().unwrap();
        let with_volume = Bundle::with_data_volume(&Config::default(), "h", Some(&vol)).unwrap();
        for b in [&b, &with_volume] {
            for text in [
                &b.user_data,
                &b.compose,
                &b.compose_awslogs,
                &b.env,
                &b.install_compose,
                &b.start_broker,
                &b.data_volume,
                &b.broker_unit,
                &b.grow_service,
                &b.grow_timer,
            ] {
                assert!(!text.contains("{{"), "placeholder left in:\n{text}");
            }
        }
    }

    #[test]
    fn a_setting_is_never_expanded() {
        let mut c = Config::default();
        c.broker
            .settings
            .insert("ODD".into(), Scalar("{{broker_unit}} {{dir}}".into()));
        let b = Bundle::new(&c, "h").unwrap();
        assert!(b.env.contains("ODD={{broker_unit}} {{dir}}\n"), "{}", b.env);
        assert!(b.user_data.contains("ODD={{broker_unit}} {{dir}}\n"));
    }

    #[test]
    fn data_volume_id_is_rendered_only_when_given() {
        let without = bundle();
        assert!(without.data_volume.contains("vol=\"\"\n"));
        assert!(without.start_broker.contains("volume=\"\"\n"));
        let vol: DataVolumeId = "vol-0123456789abcdef0".parse().unwrap();
        let b = Bundle::with_data_volume(&Config::default(), "h", Some(&vol)).unwrap();
        assert!(b.data_volume.contains("vol=\"vol-0123456789abcdef0\"\n"));
        assert!(b.data_volume.contains("mnt=\"/var/lib/skiff\"\n"));
        assert!(b.data_volume.contains("attach=\"sdf\"\n"));
        assert!(b
            .start_broker
            .contains("volume=\"vol-0123456789abcdef0\"\n"));
        assert!(b.user_data.len() < MAX_USER_DATA, "{}", b.user_data.len());
    }

    #[test]
    fn volume_ids_are_checked() {
        for ok in ["vol-0123456789abcdef0", "vol-1a2b3c4d"] {
            assert_eq!(ok.parse::<DataVolumeId>().unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "vol-",
            "0123456789abcdef0",
            "vol-0123456789ABCDEF0",
            "vol-0123456789abcdef",
            "vol-0123456789abcdef01",
            "vol-0123456\"; rm -rf /",
            "vol-0123456789abcdeg0",
            "snap-0123456789abcdef0",
        ] {
            let e = bad.parse::<DataVolumeId>().unwrap_err();
            assert!(e.to_string().contains("vol-0123456789abcdef0"), "{e}");
        }
        let long = format!("vol-{}", "a".repeat(10_000));
        let e = long.parse::<DataVolumeId>().unwrap_err().to_string();
        assert!(
            e.len() < 300,
            "error echoes the whole input: {} bytes",
            e.len()
        );
    }

    #[test]
    fn compose_and_docker_run_share_policy_and_log_rotation() {
        let b = bundle();
        let doc: serde_yaml::Value = serde_yaml::from_str(&b.compose).unwrap();
        let broker = &doc["services"]["broker"];
        assert_eq!(broker["stop_grace_period"].as_str(), Some("30s"));
        assert_eq!(broker["logging"]["driver"].as_str(), Some("json-file"));
        assert_eq!(
            broker["logging"]["options"]["max-size"].as_str(),
            Some("10m")
        );
        assert_eq!(broker["logging"]["options"]["max-file"].as_str(), Some("3"));
        for flag in [
            "--restart unless-stopped",
            "--stop-timeout 30",
            "--log-driver json-file",
            "--log-opt max-size=10m",
            "--log-opt max-file=3",
        ] {
            assert!(b.start_broker.contains(flag), "docker run lacks {flag}");
        }
    }

    #[test]
    fn broker_unit_starts_every_boot_after_docker() {
        let b = bundle();
        let unit = &b.broker_unit;
        for line in [
            "After=network-online.target docker.service",
            "ExecStart=/opt/skiff/start-broker.sh start",
            "ExecStop=/opt/skiff/start-broker.sh stop",
            "Restart=on-failure",
            "StartLimitIntervalSec=0",
            "TimeoutStopSec=45s",
            "WantedBy=multi-user.target",
        ] {
            assert!(
                unit.lines().any(|l| l == line),
                "unit lacks {line}:\n{unit}"
            );
        }
        assert!(b
            .grow_service
            .contains("ExecStart=/opt/skiff/data-volume.sh grow"));
        assert!(b
            .grow_service
            .contains("ConditionPathIsMountPoint=/var/lib/skiff"));
    }

    #[test]
    fn log_settings_are_checked_and_rendered_only_when_given() {
        let without = bundle();
        assert!(without.start_broker.contains("log_group=\"\"\n"));
        let logs = LogSettings::new("prod", "eu-west-1").unwrap();
        let b = Bundle::for_target(
            &Config::default(),
            &Target {
                advertised_host: "h",
                data_volume: None,
                logs: Some(&logs),
                security: None,
            },
        )
        .unwrap();
        assert!(b.start_broker.contains("log_group=\"/skiff/prod\"\n"));
        assert!(b
            .start_broker
            .contains("--log-opt awslogs-region=eu-west-1 "));
        let doc: serde_yaml::Value = serde_yaml::from_str(&b.compose_awslogs).unwrap();
        let logging = &doc["services"]["broker"]["logging"];
        assert_eq!(logging["driver"].as_str(), Some("awslogs"));
        assert_eq!(
            logging["options"]["awslogs-group"].as_str(),
            Some("/skiff/prod")
        );
        assert_eq!(
            logging["options"]["awslogs-region"].as_str(),
            Some("eu-west-1")
        );
        assert_eq!(logging["options"]["mode"].as_str(), Some("non-blocking"));
        assert_ne!(b.user_data, without.user_data);
        for (name, region) in [
            ("prod", "us east"),
            ("prod", "us-east-1; reboot"),
            ("prod", ""),
            ("prod", "useast"),
            ("Prod", "us-east-1"),
        ] {
            assert!(LogSettings::new(name, region).is_err(), "{name} {region}");
        }
    }

    #[test]
    fn security_settings_are_rendered_and_checked() {
        let issued = crate::tls::issue(
            "prod",
            "203.0.113.9".parse().unwrap(),
            "ec2-203-0-113-9.compute-1.amazonaws.com",
            std::time::SystemTime::now(),
        )
        .unwrap();
        let sec = BrokerSecurity::new(
            &issued.chain_pem,
            "prod",
            "us-east-1",
            "admin:SCRAM-SHA-512:salt=c2FsdA==,stored_key=a2V5,server_key=a2V5,iterations=8192"
                .into(),
        )
        .unwrap();
        let b = Bundle::for_target(
            &Config::default(),
            &Target {
                advertised_host: "203.0.113.9",
                data_volume: None,
                logs: None,
                security: Some(&sec),
            },
        )
        .unwrap();
        for line in [
            "SKIFF_SECURITY_PROTOCOL=SASL_SSL",
            "SKIFF_TLS_CERT_FILE=/data/tls/cert.pem",
            "SKIFF_TLS_KEY_FILE=/data/tls/key.pem",
            "SKIFF_SASL_ENABLED_MECHANISMS=SCRAM-SHA-512",
            "SKIFF_AUTHORIZER=acl",
            "SKIFF_SUPER_USERS=User:admin",
            "SKIFF_BOOTSTRAP_USER=admin:SCRAM-SHA-512:salt=c2FsdA==,stored_key=a2V5,server_key=a2V5,iterations=8192",
        ] {
            assert!(b.env.lines().any(|l| l == line), "env lacks {line}:\n{}", b.env);
        }
        assert!(b
            .start_broker
            .contains("tls_key_parameter=\"/skiff/prod/tls-key\"\n"));
        assert!(b
            .start_broker
            .contains("tls_cert_parameter=\"/skiff/prod/tls-cert\"\n"));
        assert!(b.start_broker.contains("tls_region=\"us-east-1\"\n"));
        assert!(b.start_broker.contains(&format!(
            "tls_cert_sha256=\"{}\"\n",
            chain_sha256(&issued.chain_pem)
        )));
        assert!(b.start_broker.contains("umask 077"));
        // The hash ignores line ends and a trailing newline, as the shell's.
        assert_eq!(
            chain_sha256(&issued.chain_pem),
            chain_sha256(&format!("{}\n", issued.chain_pem.replace('\n', "\r\n")))
        );
        assert_eq!(chain_sha256(&issued.chain_pem).len(), 64);
        assert!(!b.user_data.contains("PRIVATE KEY"));
        assert!(b.user_data.len() < MAX_USER_DATA);
        // Plaintext: said so, and nothing to fetch.
        let plain = bundle();
        assert!(plain.env.contains("SKIFF_SECURITY_PROTOCOL=PLAINTEXT\n"));
        assert!(!plain.env.contains("SKIFF_BOOTSTRAP_USER"));
        assert!(plain.start_broker.contains("tls_key_parameter=\"\"\n"));
        // What reaches shell and YAML is checked.
        let chain = issued.chain_pem.clone();
        let ok =
            |c: &str, n: &str, r: &str, u: &str| BrokerSecurity::new(c, n, r, u.into()).is_ok();
        assert!(!ok(&issued.key_pem, "p", "us-east-1", "u"));
        assert!(!ok(&chain, "p\"; reboot", "us-east-1", "u"));
        assert!(!ok(&chain, "p", "us-east-1; x", "u"));
        assert!(!ok(&chain, "p", "us-east-1", "a b"));
        assert!(ok(&chain, "p", "us-east-1", "u"));
    }

    #[test]
    fn env_has_broker_settings() {
        let b = bundle();
        assert!(b.env.contains("LISTENER_URL=tcp://0.0.0.0:9092\n"));
        assert!(b
            .env
            .contains("ADVERTISED_LISTENER_URL=tcp://203.0.113.9:9092\n"));
        assert!(b.env.contains("STORAGE_ENGINE=sqlite:///data/skiff.db\n"));
        assert!(b.env.contains("RUST_LOG=info\n"));
        assert!(b.env.contains("SKIFF_EXTRA=42\n"));
    }

    #[test]
    fn user_data_is_cloud_config_embedding_the_files() {
        let b = bundle();
        assert!(b.user_data.starts_with("#cloud-config\n"));
        assert!(b.user_data.len() < MAX_USER_DATA);
        let doc: serde_yaml::Value = serde_yaml::from_str(&b.user_data).unwrap();
        let files = doc["write_files"].as_sequence().unwrap();
        let content = |path: &str| {
            files
                .iter()
                .find(|f| f["path"].as_str() == Some(path))
                .unwrap_or_else(|| panic!("{path} not written"))["content"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            content("/opt/skiff/compose.yaml").trim_end(),
            b.compose.trim_end()
        );
        assert_eq!(
            content("/opt/skiff/broker.env").trim_end(),
            b.env.trim_end()
        );
        assert_eq!(
            content("/opt/skiff/start-broker.sh").trim_end(),
            b.start_broker.trim_end()
        );
        assert_eq!(
            content("/opt/skiff/data-volume.sh").trim_end(),
            b.data_volume.trim_end()
        );
        assert_eq!(
            content("/etc/systemd/system/skiff-broker.service").trim_end(),
            b.broker_unit.trim_end()
        );
        assert_eq!(doc["packages"][0].as_str(), Some("docker"));
        assert_eq!(doc["packages"][1].as_str(), Some("xfsprogs"));
        let runcmd: Vec<String> = doc["runcmd"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|c| serde_yaml::to_string(c).unwrap().replace("\n- ", " "))
            .collect();
        let enable = runcmd.iter().position(|c| c.contains("enable")).unwrap();
        assert!(runcmd[enable].contains("docker.service"), "{runcmd:?}");
        assert!(
            runcmd[enable].contains("skiff-broker.service"),
            "{runcmd:?}"
        );
        let compose = runcmd
            .iter()
            .position(|c| c.contains("install-compose.sh"))
            .unwrap();
        assert!(
            compose < enable,
            "compose must be installed before docker starts"
        );
        assert!(
            runcmd.iter().any(|c| c.contains("--no-block")),
            "{runcmd:?}"
        );
        assert!(
            !runcmd.iter().any(|c| c.contains("start-broker.sh")),
            "{runcmd:?}"
        );
        // SPAL in two dnf calls; no compose plugin (AL2023 ships none).
        assert!(b.install_compose.contains("dnf install -y spal-release"));
        assert!(b
            .install_compose
            .contains("dnf install -y --allowerasing docker-compose"));
        assert!(!b.install_compose.contains("compose-plugin"));
        assert!(!b.start_broker.contains("docker compose "));
    }

    #[test]
    fn compose_runs_the_configured_image_durably() {
        let b = bundle();
        let doc: serde_yaml::Value = serde_yaml::from_str(&b.compose).unwrap();
        let broker = &doc["services"]["broker"];
        assert_eq!(
            broker["image"].as_str().unwrap(),
            format!(
                "ghcr.io/skiff-kafka/skiff-broker:{}",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(broker["restart"].as_str(), Some("unless-stopped"));
        assert_eq!(broker["ports"][0].as_str(), Some("9092:9092"));
        assert_eq!(broker["volumes"][0].as_str(), Some("/var/lib/skiff:/data"));
        assert!(broker["healthcheck"]["test"].as_sequence().is_some());
    }

    #[test]
    fn base64_round_trips() {
        use base64::Engine;
        let b = bundle();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b.user_data_base64())
            .unwrap();
        assert_eq!(raw, b.user_data.as_bytes());
    }

    #[test]
    fn oversized_user_data_is_refused() {
        let mut c = Config::default();
        c.broker
            .settings
            .insert("BIG".into(), Scalar("x".repeat(MAX_USER_DATA)));
        assert!(matches!(
            Bundle::new(&c, "h"),
            Err(RenderError::TooLarge(_))
        ));
    }
}
