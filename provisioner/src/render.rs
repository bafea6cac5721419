//! Renders the files the instance boots with: the cloud-config user data
//! (`cloud-init/user-data.yaml`) with the compose file, the broker's env file
//! and the two shell scripts embedded in it.
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
const COMPOSE: &str = include_str!("../../templates/compose.yaml");
const BROKER_ENV: &str = include_str!("../../templates/broker.env");

/// Where the files live on the instance.
pub const INSTANCE_DIR: &str = "/opt/skiff";
/// The host directory mounted as the broker's `/data` (on the root volume).
pub const DATA_DIR: &str = "/var/lib/skiff";
/// The Kafka port the broker listens on and the security group opens.
pub const BROKER_PORT: u16 = 9092;
/// EC2's limit on user data (before base64).
pub const MAX_USER_DATA: usize = 16 * 1024;

/// The rendered files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub user_data: String,
    pub compose: String,
    pub env: String,
    pub install_compose: String,
    pub start_broker: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("rendered user data is {0} bytes, over EC2's limit of {MAX_USER_DATA} bytes")]
    TooLarge(usize),
}

fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
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
    /// (the Elastic IP in `up`).
    pub fn new(config: &Config, advertised_host: &str) -> Result<Bundle, RenderError> {
        let port = BROKER_PORT.to_string();
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
        let vars: &[(&str, &str)] = &[
            ("dir", INSTANCE_DIR),
            ("data_dir", DATA_DIR),
            ("port", &port),
            ("image", &image),
            ("advertised_host", advertised_host),
        ];
        let compose = fill(COMPOSE, vars);
        let mut env = fill(BROKER_ENV, vars).replace("{{settings}}", &settings.join("\n"));
        if !env.ends_with('\n') {
            env.push('\n');
        }
        let install_compose = fill(INSTALL_COMPOSE, vars);
        let start_broker = fill(START_BROKER, vars);
        let user_data = fill(
            USER_DATA,
            &[
                ("dir", INSTANCE_DIR),
                ("data_dir", DATA_DIR),
                ("compose", &indent(&compose, 6)),
                ("env", &indent(&env, 6)),
                ("install_compose", &indent(&install_compose, 6)),
                ("start_broker", &indent(&start_broker, 6)),
            ],
        );
        if user_data.len() > MAX_USER_DATA {
            return Err(RenderError::TooLarge(user_data.len()));
        }
        Ok(Bundle {
            user_data,
            compose,
            env,
            install_compose,
            start_broker,
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
        let files: [(&str, &str); 5] = [
            ("user-data.yaml", &self.user_data),
            ("compose.yaml", &self.compose),
            ("broker.env", &self.env),
            ("install-compose.sh", &self.install_compose),
            ("start-broker.sh", &self.start_broker),
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
        for text in [
            &b.user_data,
            &b.compose,
            &b.env,
            &b.install_compose,
            &b.start_broker,
        ] {
            assert!(!text.contains("{{"), "placeholder left in:\n{text}");
        }
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
        assert_eq!(doc["packages"][0].as_str(), Some("docker"));
        let runcmd = serde_yaml::to_string(&doc["runcmd"]).unwrap();
        assert!(runcmd.contains("enable"), "{runcmd}");
        assert!(runcmd.contains("docker.service"), "{runcmd}");
        assert!(b
            .install_compose
            .contains("dnf install -y spal-release && dnf install -y docker-compose"));
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
