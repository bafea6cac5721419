//! `skiff.yaml`: what a deployment looks like, its defaults, and validation.
//!
//! Every field has a default, so `skiff` works without a file. Parsing is
//! strict (`deny_unknown_fields`): a typo must not silently fall back to a
//! default and deploy something else. Every error names the field, the value
//! and what is accepted, because the user fixes it by editing that field.
//! Command-line flags are applied on top of the file and validated again.

use crate::instance_types;
use ipnet::Ipv4Net;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The file looked for in the current directory when `--config` is absent.
pub const DEFAULT_FILE: &str = "skiff.yaml";
/// The broker image repository used when none is configured.
pub const DEFAULT_IMAGE: &str = "ghcr.io/skiff-kafka/skiff-broker";
/// Default of `alert_credit_balance_pct`.
pub const DEFAULT_ALERT_CREDIT_PCT: u32 = 20;
/// Default of `log_retention_days`.
pub const DEFAULT_LOG_RETENTION_DAYS: u32 = 14;
/// The retention periods CloudWatch Logs accepts (PutRetentionPolicy).
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
/// Most snapshots a backup schedule keeps (Data Lifecycle Manager's limit
/// on a retain rule's count).
pub const MAX_BACKUPS_KEPT: u32 = 1000;
/// Settings of the broker that skiff itself owns (rendered into broker.env).
pub const RESERVED_SETTINGS: &[&str] = &[
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SKIFF_SECURITY_PROTOCOL",
    "SKIFF_TLS_CERT_FILE",
    "SKIFF_TLS_KEY_FILE",
    "SKIFF_SASL_ENABLED_MECHANISMS",
    "SKIFF_AUTHORIZER",
    "SKIFF_SUPER_USERS",
    "SKIFF_BOOTSTRAP_USER",
];

/// A configuration error, worded for the person editing `skiff.yaml`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid {origin}: field `{field}` has value `{value}`; accepted: {accepted}")]
    Invalid {
        origin: String,
        field: String,
        value: String,
        accepted: String,
    },
}

/// CPU credit mode of a burstable instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CreditMode {
    /// Throttled to baseline when credits run out; never billed extra.
    #[default]
    Standard,
    /// May burst beyond the balance; surplus is billed.
    Unlimited,
}

impl CreditMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CreditMode::Standard => "standard",
            CreditMode::Unlimited => "unlimited",
        }
    }
}

/// How clients reach the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// TLS (a deployment CA made by `skiff up`), SCRAM-SHA-512 logins and
    /// the ACL authorizer with `admin` as super user.
    #[default]
    SaslSsl,
    /// No encryption, no authentication: anyone who reaches the port can
    /// read and write every topic. The explicit opt-out.
    Plaintext,
}

/// How often `backup_schedule` snapshots the data volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackupEvery {
    /// Once a day at `at` (UTC).
    #[default]
    Daily,
    /// Once a week, on Sunday at `at` (UTC).
    Weekly,
}

impl BackupEvery {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupEvery::Daily => "daily",
            BackupEvery::Weekly => "weekly",
        }
    }
}

/// `backup_schedule:`: scheduled EBS snapshots of the data volume, the
/// newest `keep` kept (an EBS lifecycle policy, see `deploy::schedule`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSchedule {
    pub every: BackupEvery,
    pub keep: u32,
    /// Start time, `HH:MM` in UTC.
    pub at: String,
}

impl Default for BackupSchedule {
    fn default() -> Self {
        BackupSchedule {
            every: BackupEvery::Daily,
            keep: 7,
            at: "03:00".into(),
        }
    }
}

impl BackupSchedule {
    /// `daily, keep 7, at 03:00 UTC`.
    pub fn describe(&self) -> String {
        format!(
            "{}, keep {}, at {} UTC",
            self.every.as_str(),
            self.keep,
            self.at
        )
    }

    /// The (hour, minute) of `at`; valid after validation.
    pub fn time(&self) -> Option<(u32, u32)> {
        let (h, m) = self.at.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some((h, m))
    }
}

/// The whole of `skiff.yaml`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub name: String,
    pub region: Option<String>,
    pub instance_type: String,
    pub credit_mode: CreditMode,
    pub allowed_cidrs: Vec<String>,
    pub volume_size_gb: u32,
    pub broker: BrokerConfig,
    pub alert_email: Option<String>,
    /// The credit-balance alarm fires below this percent of the type's maximum.
    pub alert_credit_balance_pct: u32,
    pub keep_data: bool,
    /// Scheduled snapshots of the data volume; none by default.
    pub backup_schedule: Option<BackupSchedule>,
    /// Days CloudWatch Logs keeps the broker's log lines; 0 sends them
    /// nowhere (they stay on the instance, `skiff logs` shows the console).
    pub log_retention_days: u32,
    /// `sasl_ssl` (the default) or `plaintext` (the opt-out).
    pub security: Security,
}

/// The `broker:` section: which image runs and with what settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    pub image: String,
    #[serde(deserialize_with = "scalar_string")]
    pub version: String,
    pub settings: BTreeMap<String, Scalar>,
}

/// A YAML scalar (string, number or boolean) kept as the string the broker
/// will read from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar_string(d).map(Scalar)
    }
}

fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string, number or boolean")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: "skiff".into(),
            region: None,
            instance_type: "t3.micro".into(),
            credit_mode: CreditMode::Standard,
            allowed_cidrs: Vec::new(),
            volume_size_gb: 8,
            broker: BrokerConfig::default(),
            alert_email: None,
            alert_credit_balance_pct: DEFAULT_ALERT_CREDIT_PCT,
            keep_data: false,
            backup_schedule: None,
            log_retention_days: DEFAULT_LOG_RETENTION_DAYS,
            security: Security::SaslSsl,
        }
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let mut settings = BTreeMap::new();
        settings.insert("RUST_LOG".to_string(), Scalar("info".into()));
        BrokerConfig {
            image: DEFAULT_IMAGE.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            settings,
        }
    }
}

/// Values given on the command line; `None`/empty means "keep the file's".
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub name: Option<String>,
    pub region: Option<String>,
    pub instance_type: Option<String>,
    pub credit_mode: Option<CreditMode>,
    pub allow: Vec<String>,
    pub volume_size_gb: Option<u32>,
    pub image: Option<String>,
    pub broker_version: Option<String>,
    pub alert_email: Option<String>,
    pub alert_credit_balance_pct: Option<u32>,
    pub keep_data: bool,
}

impl Config {
    /// Parses and validates YAML text; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        // An empty file (or one with only comments) means "all defaults".
        let config: Config = if text.trim().is_empty()
            || text.lines().all(|l| {
                let l = l.trim();
                l.is_empty() || l.starts_with('#') || l == "---"
            }) {
            Config::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| ConfigError::Parse {
                path: origin.to_string(),
                message: e.to_string(),
            })?
        };
        config.validate(&format!("config file {origin}"))?;
        Ok(config)
    }

    /// Loads `path`, or `./skiff.yaml` if present, or the defaults.
    /// Returns the config and where it came from.
    pub fn load(path: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigError> {
        let path = match path {
            Some(p) => Some(p.to_path_buf()),
            None => {
                let p = PathBuf::from(DEFAULT_FILE);
                p.exists().then_some(p)
            }
        };
        match path {
            None => Ok((Config::default(), None)),
            Some(p) => {
                let text = std::fs::read_to_string(&p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                let c = Config::from_yaml(&text, &p.display().to_string())?;
                Ok((c, Some(p)))
            }
        }
    }

    /// Applies command-line flags and validates the result.
    pub fn apply(mut self, o: &Overrides) -> Result<Config, ConfigError> {
        if let Some(v) = &o.name {
            self.name = v.clone();
        }
        if let Some(v) = &o.region {
            self.region = Some(v.clone());
        }
        if let Some(v) = &o.instance_type {
            self.instance_type = v.clone();
        }
        if let Some(v) = o.credit_mode {
            self.credit_mode = v;
        }
        if !o.allow.is_empty() {
            self.allowed_cidrs = o.allow.clone();
        }
        if let Some(v) = o.volume_size_gb {
            self.volume_size_gb = v;
        }
        if let Some(v) = &o.image {
            self.broker.image = v.clone();
        }
        if let Some(v) = &o.broker_version {
            self.broker.version = v.clone();
        }
        if let Some(v) = &o.alert_email {
            self.alert_email = Some(v.clone());
        }
        if let Some(v) = o.alert_credit_balance_pct {
            self.alert_credit_balance_pct = v;
        }
        if o.keep_data {
            self.keep_data = true;
        }
        self.validate("command-line flags")?;
        Ok(self)
    }

    /// The full image reference the instance runs.
    pub fn image_ref(&self) -> String {
        format!("{}:{}", self.broker.image, self.broker.version)
    }

    /// The instance type's row (valid after validation).
    pub fn instance(&self) -> &'static instance_types::InstanceType {
        instance_types::lookup(&self.instance_type).expect("validated instance type")
    }

    /// Checks every field; the first bad one is reported.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |field: &str, value: &str, accepted: &str| ConfigError::Invalid {
            origin: origin.to_string(),
            field: field.to_string(),
            value: value.to_string(),
            accepted: accepted.to_string(),
        };

        let n = &self.name;
        let name_ok = (1..=32).contains(&n.len())
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !n.starts_with('-');
        if !name_ok {
            return Err(bad(
                "name",
                n,
                "1 to 32 lowercase letters, digits or '-', not starting with '-'",
            ));
        }

        if let Some(r) = &self.region {
            let ok = !r.is_empty()
                && r.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && r.contains('-');
            if !ok {
                return Err(bad("region", r, "an AWS region name such as us-east-1"));
            }
        }

        if instance_types::lookup(&self.instance_type).is_none() {
            return Err(bad(
                "instance_type",
                &self.instance_type,
                &instance_types::accepted_description(),
            ));
        }

        for (i, c) in self.allowed_cidrs.iter().enumerate() {
            if let Err(why) = parse_cidr(c) {
                return Err(bad(&format!("allowed_cidrs[{i}]"), c, &why));
            }
        }

        if !(8..=16384).contains(&self.volume_size_gb) {
            return Err(bad(
                "volume_size_gb",
                &self.volume_size_gb.to_string(),
                "a size in GiB of the data volume from 8 to 16384 (it can grow later, never shrink)",
            ));
        }

        let img = &self.broker.image;
        let last = img.rsplit('/').next().unwrap_or("");
        if img.is_empty()
            || img.chars().any(|c| c.is_whitespace())
            || last.contains(':')
            || last.contains('@')
        {
            return Err(bad(
                "broker.image",
                img,
                "an image repository without tag, e.g. ghcr.io/skiff-kafka/skiff-broker (the tag is broker.version)",
            ));
        }
        let v = &self.broker.version;
        if v.is_empty()
            || v.len() > 128
            || !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(bad(
                "broker.version",
                v,
                "an image tag: letters, digits, '.', '-', '_' (e.g. 0.1.0)",
            ));
        }
        for (k, Scalar(val)) in &self.broker.settings {
            let key_ok = !k.is_empty()
                && !k.starts_with(|c: char| c.is_ascii_digit())
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !key_ok {
                return Err(bad(
                    "broker.settings",
                    k,
                    "environment variable names: uppercase letters, digits and '_' (e.g. RUST_LOG)",
                ));
            }
            if RESERVED_SETTINGS.contains(&k.as_str()) {
                return Err(bad(
                    &format!("broker.settings.{k}"),
                    val,
                    &format!(
                        "any setting except {} (skiff sets those itself)",
                        RESERVED_SETTINGS.join(", ")
                    ),
                ));
            }
            if val.contains('\n') || val.contains('\r') {
                return Err(bad(
                    &format!("broker.settings.{k}"),
                    val,
                    "a single-line value",
                ));
            }
        }

        if let Some(e) = &self.alert_email {
            let ok = e.split('@').count() == 2
                && e.split('@').all(|p| !p.is_empty())
                && !e.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                return Err(bad(
                    "alert_email",
                    e,
                    "an e-mail address such as ops@example.com",
                ));
            }
        }
        if let Some(b) = &self.backup_schedule {
            if !(1..=MAX_BACKUPS_KEPT).contains(&b.keep) {
                return Err(bad(
                    "backup_schedule.keep",
                    &b.keep.to_string(),
                    &format!("how many scheduled backups to keep, from 1 to {MAX_BACKUPS_KEPT}"),
                ));
            }
            if b.time().is_none() {
                return Err(bad(
                    "backup_schedule.at",
                    &b.at.chars().take(40).collect::<String>(),
                    "a time of day in UTC as HH:MM, e.g. \"03:00\"",
                ));
            }
        }
        if self.log_retention_days != 0 && !LOG_RETENTION_DAYS.contains(&self.log_retention_days) {
            return Err(bad(
                "log_retention_days",
                &self.log_retention_days.to_string(),
                &format!(
                    "0 (no CloudWatch Logs) or one of CloudWatch Logs' periods: {}",
                    LOG_RETENTION_DAYS
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if !(1..=99).contains(&self.alert_credit_balance_pct) {
            return Err(bad(
                "alert_credit_balance_pct",
                &self.alert_credit_balance_pct.to_string(),
                "a percentage of the type's maximum credit balance from 1 to 99 (default 20)",
            ));
        }
        Ok(())
    }
}

/// Parses an IPv4 CIDR such as `203.0.113.7/32` (with `ipnet`), worded
/// for the person editing it. Refuses host bits set (AWS would silently
/// widen the rule) and `0.0.0.0/0` (opening to the world takes an explicit
/// `--public`).
pub fn parse_cidr(s: &str) -> Result<Ipv4Net, String> {
    const ACCEPTED: &str = "an IPv4 CIDR such as 203.0.113.7/32 or 198.51.100.0/24";
    let net: Ipv4Net = s.parse().map_err(|_| ACCEPTED.to_string())?;
    if net.prefix_len() == 0 {
        return Err(format!(
            "{ACCEPTED}; 0.0.0.0/0 opens the broker to everyone and needs `skiff up --public`"
        ));
    }
    if net.trunc() != net {
        return Err(format!(
            "{ACCEPTED} (host bits set: did you mean {}?)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// The commented default `skiff.yaml` that `skiff init` writes.
pub fn commented_default() -> String {
    include_str!("../../templates/skiff.yaml").replace("{{version}}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(yaml: &str) -> String {
        Config::from_yaml(yaml, "skiff.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn empty_and_commented_default_give_defaults() {
        assert_eq!(Config::from_yaml("", "x").unwrap(), Config::default());
        assert_eq!(Config::from_yaml("# hi\n", "x").unwrap(), Config::default());
        assert_eq!(
            Config::from_yaml(&commented_default(), "x").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn full_file_parses() {
        let c = Config::from_yaml(
            "name: prod\nregion: eu-west-1\ninstance_type: t4g.small\ncredit_mode: unlimited\n\
             allowed_cidrs: [198.51.100.0/24]\nvolume_size_gb: 20\n\
             broker: {image: example.org/b, version: 1.2, settings: {RUST_LOG: debug, MAX: 5}}\n\
             alert_email: a@b.c\nalert_credit_balance_pct: 35\nkeep_data: true\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.instance_type, "t4g.small");
        assert_eq!(c.credit_mode, CreditMode::Unlimited);
        assert_eq!(c.broker.version, "1.2");
        assert_eq!(c.broker.settings["MAX"], Scalar("5".into()));
        assert_eq!(c.image_ref(), "example.org/b:1.2");
        assert!(c.keep_data);
        assert_eq!(c.alert_credit_balance_pct, 35);
    }

    #[test]
    fn unknown_field_names_field_and_accepted() {
        let e = err("instance_typo: t3.micro\n");
        assert!(e.contains("instance_typo"), "{e}");
        assert!(e.contains("instance_type"), "{e}");
    }

    #[test]
    fn wrong_type_names_field_and_value() {
        let e = err("volume_size_gb: lots\n");
        assert!(e.contains("volume_size_gb"), "{e}");
        assert!(e.contains("lots"), "{e}");
        let e = err("credit_mode: turbo\n");
        assert!(e.contains("credit_mode") && e.contains("turbo"), "{e}");
        assert!(e.contains("standard") && e.contains("unlimited"), "{e}");
    }

    #[test]
    fn bad_values_name_field_value_accepted() {
        let e = err("instance_type: m5.large\n");
        assert!(
            e.contains("`instance_type`") && e.contains("`m5.large`"),
            "{e}"
        );
        assert!(e.contains("t3a") && e.contains("t4g"), "{e}");
        let e = err("allowed_cidrs: [10.0.0.300/32]\n");
        assert!(
            e.contains("allowed_cidrs[0]") && e.contains("10.0.0.300/32"),
            "{e}"
        );
        let e = err("allowed_cidrs: [0.0.0.0/0]\n");
        assert!(e.contains("--public"), "{e}");
        let e = err("broker: {settings: {LISTENER_URL: x}}\n");
        assert!(e.contains("LISTENER_URL"), "{e}");
        let e = err("name: Bad_Name\n");
        assert!(e.contains("`name`"), "{e}");
        let e = err("alert_credit_balance_pct: 100\n");
        assert!(
            e.contains("alert_credit_balance_pct") && e.contains("`100`"),
            "{e}"
        );
        let e = err("volume_size_gb: 4\n");
        assert!(e.contains("volume_size_gb") && e.contains("`4`"), "{e}");
        let e = err("backup_schedule: {keep: 0}\n");
        assert!(
            e.contains("backup_schedule.keep") && e.contains("`0`"),
            "{e}"
        );
        let e = err("backup_schedule: {keep: 1001}\n");
        assert!(e.contains("from 1 to 1000"), "{e}");
        for at in ["3:00", "24:00", "03:60", "0300", "aa:bb", "03:00:00"] {
            let e = err(&format!("backup_schedule: {{at: \"{at}\"}}\n"));
            assert!(
                e.contains("backup_schedule.at") && e.contains("HH:MM"),
                "{at}: {e}"
            );
        }
        let e = err("backup_schedule: {every: hourly}\n");
        assert!(
            e.contains("every") && e.contains("daily") && e.contains("weekly"),
            "{e}"
        );
        let e = err("log_retention_days: 10\n");
        assert!(
            e.contains("log_retention_days") && e.contains("`10`") && e.contains("14"),
            "{e}"
        );
    }

    #[test]
    fn backup_schedule_and_log_retention_parse() {
        let c = Config::from_yaml(
            "backup_schedule: {every: weekly, keep: 4, at: \"23:30\"}\nlog_retention_days: 0\n",
            "x",
        )
        .unwrap();
        let b = c.backup_schedule.unwrap();
        assert_eq!(
            (b.every, b.keep, b.time()),
            (BackupEvery::Weekly, 4, Some((23, 30)))
        );
        assert_eq!(c.log_retention_days, 0);
        let c = Config::from_yaml("backup_schedule: {}\n", "x").unwrap();
        assert_eq!(c.backup_schedule, Some(BackupSchedule::default()));
        assert_eq!(c.log_retention_days, 14);
    }

    #[test]
    fn cidr_parsing() {
        assert!(parse_cidr("203.0.113.7/32").is_ok());
        assert!(parse_cidr("198.51.100.0/24").is_ok());
        assert!(parse_cidr("198.51.100.1/24")
            .unwrap_err()
            .contains("198.51.100.0/24"));
        for bad in [
            "",
            "1.2.3.4",
            "1.2.3.4/33",
            "1.2.3/8",
            "::1/128",
            "1.2.3.4/x",
            "1.2.3.4/+8",
            " 1.2.3.4/32",
        ] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn overrides_win_and_are_validated() {
        let o = Overrides {
            instance_type: Some("t3.small".into()),
            allow: vec!["192.0.2.1/32".into()],
            ..Default::default()
        };
        let c = Config::default().apply(&o).unwrap();
        assert_eq!(c.instance_type, "t3.small");
        assert_eq!(c.allowed_cidrs, vec!["192.0.2.1/32"]);
        let o = Overrides {
            instance_type: Some("c5.large".into()),
            ..Default::default()
        };
        let e = Config::default().apply(&o).unwrap_err().to_string();
        assert!(e.contains("command-line") && e.contains("c5.large"), "{e}");
    }
}
