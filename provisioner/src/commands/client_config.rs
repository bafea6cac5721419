//! `skiff client-config [--user NAME] [--format ...]`: the settings a
//! Kafka client needs for the deployment (bootstrap address, SASL_SSL,
//! SCRAM-SHA-512, user, CA file), in the form of the client at hand, to
//! paste. Prints where the password is, not the password: the admin's is
//! read from its 0600 file by the snippet itself (python, kcat) and shown
//! inline only with `--show-password`; an app user's is stored nowhere
//! (`users add` printed it once), so the snippet reads it from the
//! environment variable `KAFKA_PASSWORD` or leaves a placeholder.

use crate::kafka::{self, TargetArgs, MECHANISM};
use crate::printer::Printer;
use crate::secrets::{self, ADMIN_USER};
use crate::Global;
use anyhow::Result;
use std::path::PathBuf;

/// The environment variable the snippets read an app user's password from.
pub const PASSWORD_ENV: &str = "KAFKA_PASSWORD";

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Java clients (client.properties).
    Properties,
    /// librdkafka's names (confluent-kafka, kcat -F, node-rdkafka, ...).
    Librdkafka,
    /// A kcat command line.
    Kcat,
    /// A confluent-kafka (Python) config dict.
    Python,
}

#[derive(clap::Args, Debug)]
pub struct ClientConfigArgs {
    /// The user the settings are for (default: the administrator).
    #[arg(long, value_name = "NAME", value_parser = crate::commands::users::parse_user)]
    pub user: Option<String>,
    /// The client the settings are for.
    #[arg(long, value_enum, default_value = "librdkafka")]
    pub format: Format,
    /// Print the admin password itself instead of where it is stored
    /// (it will be in your terminal's scrollback).
    #[arg(long)]
    pub show_password: bool,
    /// The broker at HOST:PORT instead of the deployment's Elastic IP.
    #[arg(long, value_name = "HOST:PORT", value_parser = kafka::parse_bootstrap)]
    pub bootstrap: Option<String>,
    /// The CA file to name (default: the deployment's stored ca.pem).
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
}

/// What the snippets are made of.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bootstrap: String,
    pub user: String,
    pub ca_file: PathBuf,
    /// The admin's password file; `None` for an app user (not stored).
    pub password_file: Option<PathBuf>,
}

impl Settings {
    /// Settings for `user` of the deployment `target` points at.
    pub fn for_user(g: &Global, target: &kafka::Target, user: &str) -> Result<Settings> {
        let name = crate::commands::load_config(g, Default::default())?.name;
        let dir = secrets::Dir::for_deployment(&name)?;
        let ca_file = match &target.security {
            kafka_client::Security::Ssl(t) | kafka_client::Security::SaslSsl(t, _) => {
                t.ca_file.clone().unwrap_or_else(|| dir.ca_path())
            }
            _ => dir.ca_path(),
        };
        Ok(Settings {
            bootstrap: target.addr.clone(),
            user: user.to_string(),
            ca_file,
            password_file: (user == ADMIN_USER).then(|| dir.admin_password_path()),
        })
    }
}

/// Single-quoted for a POSIX shell.
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A Python string literal.
fn py(s: &str) -> String {
    serde_json::to_string(s).expect("a string")
}

/// The snippet in `format`; `password` inline when given.
pub fn render(s: &Settings, format: Format, password: Option<&str>) -> String {
    let ca = s.ca_file.display().to_string();
    let mech = MECHANISM.name();
    let placeholder = format!("<the password `skiff users add {}` printed>", s.user);
    match format {
        Format::Librdkafka | Format::Properties => {
            let mut out = String::new();
            let (pw_line, note) = match (password, &s.password_file) {
                (Some(p), _) => (Some(p.to_string()), None),
                (None, Some(f)) => (
                    None,
                    Some(format!(
                        "# password: the contents of {} (skiff client-config --show-password prints it)",
                        f.display()
                    )),
                ),
                (None, None) => (None, Some(format!("# password: {placeholder}"))),
            };
            if let Some(n) = &note {
                out.push_str(n);
                out.push('\n');
            }
            out.push_str(&format!("bootstrap.servers={}\n", s.bootstrap));
            out.push_str("security.protocol=SASL_SSL\n");
            if format == Format::Librdkafka {
                out.push_str(&format!("sasl.mechanisms={mech}\n"));
                out.push_str(&format!("sasl.username={}\n", s.user));
                out.push_str(&format!(
                    "sasl.password={}\n",
                    pw_line.as_deref().unwrap_or("PASSWORD")
                ));
                out.push_str(&format!("ssl.ca.location={ca}\n"));
            } else {
                // JAAS quotes: a generated password has only letters and
                // digits; escape anyway.
                let q = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
                out.push_str(&format!("sasl.mechanism={mech}\n"));
                out.push_str(&format!(
                    "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{}\" password=\"{}\";\n",
                    q(&s.user),
                    q(pw_line.as_deref().unwrap_or("PASSWORD"))
                ));
                // PEM trust stores: Kafka 2.7+ (KIP-651).
                out.push_str("ssl.truststore.type=PEM\n");
                out.push_str(&format!("ssl.truststore.location={ca}\n"));
            }
            out
        }
        Format::Kcat => {
            let pw = match (password, &s.password_file) {
                (Some(p), _) => sh(p),
                (None, Some(f)) => format!("\"$(cat {})\"", sh(&f.display().to_string())),
                (None, None) => format!("\"${PASSWORD_ENV}\""),
            };
            let mut out = String::new();
            if password.is_none() && s.password_file.is_none() {
                out.push_str(&format!("# set {PASSWORD_ENV} to {placeholder} first\n"));
            }
            out.push_str(&format!(
                "kcat -b {} -X security.protocol=SASL_SSL -X sasl.mechanisms={mech} -X sasl.username={} -X sasl.password={pw} -X ssl.ca.location={} -L\n",
                sh(&s.bootstrap),
                sh(&s.user),
                sh(&ca)
            ));
            out
        }
        Format::Python => {
            let pw = match (password, &s.password_file) {
                (Some(p), _) => py(p),
                (None, Some(f)) => format!("open({}).read().strip()", py(&f.display().to_string())),
                (None, None) => format!("os.environ[{}]", py(PASSWORD_ENV)),
            };
            let mut out = String::new();
            if password.is_none() && s.password_file.is_none() {
                out.push_str(&format!("# {PASSWORD_ENV}: {placeholder}\nimport os\n\n"));
            }
            out.push_str("conf = {\n");
            for (k, v) in [
                ("bootstrap.servers", py(&s.bootstrap)),
                ("security.protocol", py("SASL_SSL")),
                ("sasl.mechanism", py(mech)),
                ("sasl.username", py(&s.user)),
                ("sasl.password", pw),
                ("ssl.ca.location", py(&ca)),
            ] {
                out.push_str(&format!("    {}: {v},\n", py(k)));
            }
            out.push_str("}\n");
            out
        }
    }
}

pub async fn run(g: &Global, out: &Printer, a: &ClientConfigArgs) -> Result<()> {
    let user = a.user.clone().unwrap_or_else(|| ADMIN_USER.to_string());
    // Only the address is needed: no Kafka connection, no credentials.
    let args = TargetArgs {
        bootstrap: a.bootstrap.clone(),
        security_protocol: Some(kafka::Protocol::Ssl),
        ca_file: a.ca_file.clone(),
        user: None,
        password_file: None,
    };
    let target = kafka::target(g, &args).await?;
    let settings = Settings::for_user(g, &target, &user)?;
    let password = match (&settings.password_file, a.show_password) {
        (Some(f), true) => Some(secrets::read_password_file(f)?),
        (None, true) => anyhow::bail!(
            "--show-password: the password of '{user}' is stored nowhere; `skiff users add` printed it once (remove and add the user again for a new one)"
        ),
        _ => None,
    };
    if !settings.ca_file.exists() {
        out.warn(format!(
            "{} does not exist on this machine (yet): clients need the deployment's CA certificate there",
            settings.ca_file.display()
        ));
    }
    out.out(render(&settings, a.format, password.as_deref()).trim_end());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(admin: bool) -> Settings {
        Settings {
            bootstrap: "203.0.113.7:9092".into(),
            user: if admin { "admin" } else { "app" }.into(),
            ca_file: "/home/u/.config/skiff/prod/ca.pem".into(),
            password_file: admin.then(|| "/home/u/.config/skiff/prod/admin.password".into()),
        }
    }

    #[test]
    fn the_admin_password_is_shown_only_when_given() {
        for f in [
            Format::Properties,
            Format::Librdkafka,
            Format::Kcat,
            Format::Python,
        ] {
            let text = render(&settings(true), f, None);
            assert!(text.contains("admin.password"), "{f:?}: {text}");
            assert!(
                text.contains("203.0.113.7:9092") && text.contains("ca.pem"),
                "{text}"
            );
            let shown = render(&settings(true), f, Some("Pw123"));
            assert!(shown.contains("Pw123"), "{f:?}: {shown}");
        }
    }

    #[test]
    fn app_users_read_the_password_from_the_environment_or_a_placeholder() {
        let py = render(&settings(false), Format::Python, None);
        assert!(py.contains("os.environ[\"KAFKA_PASSWORD\"]"), "{py}");
        assert!(py.contains("\"sasl.username\": \"app\""), "{py}");
        let kcat = render(&settings(false), Format::Kcat, None);
        assert!(kcat.contains("\"$KAFKA_PASSWORD\""), "{kcat}");
        let props = render(&settings(false), Format::Properties, None);
        assert!(props.contains("skiff users add app"), "{props}");
        assert!(props.contains("ssl.truststore.type=PEM"), "{props}");
        assert_eq!(sh("a'b"), r"'a'\''b'");
    }
}
