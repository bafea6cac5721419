//! What a topic may be: Kafka's rule for topic names, and topic
//! configuration (the settings Skiff understands, their Kafka defaults, and
//! validation). A topic stores only its overrides; everything else reports
//! Kafka's default, as DescribeConfigs shows it.
//!
//! `cleanup.policy=compact` is refused with INVALID_CONFIG rather than
//! accepted and ignored: Skiff does not compact by key.

use std::collections::BTreeMap;

/// Kafka's rule for topic names: 1..=249 of [a-zA-Z0-9._-], not "." or "..".
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 249 {
        return Err(format!(
            "topic name must be 1 to 249 characters long, '{name}' is {}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err("topic name cannot be '.' or '..'".to_string());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name '{name}' contains '{c}'; only ASCII letters, digits, '.', '_' and '-' are allowed"
        ));
    }
    Ok(())
}

/// How the timestamps of a topic's records are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// One known config: name, Kafka's default, and how to check a value.
pub struct ConfigDef {
    pub name: &'static str,
    pub default: &'static str,
    kind: Kind,
    /// Accepted for compatibility with tools that always send it; documented
    /// as having no effect on a single-file store.
    pub no_effect: bool,
}

enum Kind {
    Long { min: i64 },
    Int { min: i64 },
    OneOf(&'static [&'static str]),
}

pub const DEFS: &[ConfigDef] = &[
    ConfigDef {
        name: "cleanup.policy",
        default: "delete",
        kind: Kind::OneOf(&["delete"]),
        no_effect: false,
    },
    ConfigDef {
        name: "max.message.bytes",
        default: "1048588",
        kind: Kind::Int { min: 0 },
        no_effect: false,
    },
    // Kafka 4.0's defaults (KIP-1030 made the future bound one hour).
    ConfigDef {
        name: "message.timestamp.after.max.ms",
        default: "3600000",
        kind: Kind::Long { min: 0 },
        no_effect: false,
    },
    ConfigDef {
        name: "message.timestamp.before.max.ms",
        default: "9223372036854775807",
        kind: Kind::Long { min: 0 },
        no_effect: false,
    },
    ConfigDef {
        name: "message.timestamp.type",
        default: "CreateTime",
        kind: Kind::OneOf(&["CreateTime", "LogAppendTime"]),
        no_effect: false,
    },
    ConfigDef {
        name: "retention.bytes",
        default: "-1",
        kind: Kind::Long { min: -1 },
        no_effect: false,
    },
    ConfigDef {
        name: "retention.ms",
        default: "604800000",
        kind: Kind::Long { min: -1 },
        no_effect: false,
    },
    ConfigDef {
        name: "segment.bytes",
        default: "1073741824",
        kind: Kind::Int { min: 14 },
        no_effect: true,
    },
    ConfigDef {
        name: "segment.ms",
        default: "604800000",
        kind: Kind::Long { min: 1 },
        no_effect: true,
    },
];

/// A config name or value Skiff cannot accept; becomes INVALID_CONFIG.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("unknown topic config '{0}'")]
    Unknown(String),
    #[error("invalid value '{value}' for '{name}': {expected}")]
    InvalidValue {
        name: String,
        value: String,
        expected: String,
    },
}

fn def(name: &str) -> Option<&'static ConfigDef> {
    DEFS.iter().find(|d| d.name == name)
}

impl ConfigDef {
    /// The DescribeConfigs `config_type` code (STRING 2, INT 3, LONG 5, LIST 7).
    pub fn type_code(&self) -> i8 {
        match self.kind {
            Kind::Long { .. } => 5,
            Kind::Int { .. } => 3,
            Kind::OneOf(_) if self.name == "cleanup.policy" => 7,
            Kind::OneOf(_) => 2,
        }
    }
}

/// Checks one name/value pair.
pub fn validate(name: &str, value: &str) -> Result<(), ConfigError> {
    let d = def(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
    let invalid = |expected: String| ConfigError::InvalidValue {
        name: name.to_string(),
        value: value.to_string(),
        expected,
    };
    match d.kind {
        Kind::Long { min } => match value.trim().parse::<i64>() {
            Ok(v) if v >= min => Ok(()),
            _ => Err(invalid(format!("a whole number >= {min}"))),
        },
        Kind::Int { min } => match value.trim().parse::<i32>() {
            Ok(v) if v as i64 >= min => Ok(()),
            _ => Err(invalid(format!("a 32-bit whole number >= {min}"))),
        },
        Kind::OneOf(allowed) => {
            if allowed.contains(&value.trim()) {
                Ok(())
            } else if name == "cleanup.policy" {
                Err(invalid(
                    "only 'delete' (Skiff does not compact topics by key)".to_string(),
                ))
            } else {
                Err(invalid(format!("one of {}", allowed.join(", "))))
            }
        }
    }
}

/// A topic's effective settings, parsed from its overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    pub overrides: BTreeMap<String, String>,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub max_message_bytes: i32,
    pub timestamp_type: TimestampType,
    /// How far in the future (CreateTime) a batch's timestamps may be.
    pub timestamp_after_max_ms: i64,
    /// How far in the past (CreateTime) a batch's first timestamp may be.
    pub timestamp_before_max_ms: i64,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig::from_overrides(BTreeMap::new()).expect("defaults are valid")
    }
}

impl TopicConfig {
    pub fn from_overrides(overrides: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        for (k, v) in &overrides {
            validate(k, v)?;
        }
        let get = |name: &str| -> &str {
            overrides
                .get(name)
                .map(|s| s.trim())
                .unwrap_or_else(|| def(name).expect("known").default)
        };
        Ok(TopicConfig {
            retention_ms: get("retention.ms").parse().expect("validated"),
            retention_bytes: get("retention.bytes").parse().expect("validated"),
            max_message_bytes: get("max.message.bytes").parse().expect("validated"),
            timestamp_type: if get("message.timestamp.type") == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            timestamp_after_max_ms: get("message.timestamp.after.max.ms")
                .parse()
                .expect("validated"),
            timestamp_before_max_ms: get("message.timestamp.before.max.ms")
                .parse()
                .expect("validated"),
            overrides,
        })
    }

    /// Every known config with its effective value and whether it is the
    /// default, in name order.
    pub fn describe(&self) -> Vec<(&'static ConfigDef, String, bool)> {
        DEFS.iter()
            .map(|d| match self.overrides.get(d.name) {
                Some(v) => (d, v.clone(), false),
                None => (d, d.default.to_string(), true),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let c = TopicConfig::default();
        assert_eq!(c.retention_ms, 604_800_000);
        assert_eq!(c.retention_bytes, -1);
        assert_eq!(c.max_message_bytes, 1_048_588);
        assert_eq!(c.timestamp_type, TimestampType::CreateTime);
        assert_eq!(c.timestamp_after_max_ms, 3_600_000);
        assert_eq!(c.timestamp_before_max_ms, i64::MAX);
    }

    #[test]
    fn overrides_parse_and_validate() {
        let mut m = BTreeMap::new();
        m.insert("retention.ms".to_string(), "1000".to_string());
        m.insert(
            "message.timestamp.type".to_string(),
            "LogAppendTime".to_string(),
        );
        let c = TopicConfig::from_overrides(m).unwrap();
        assert_eq!(c.retention_ms, 1000);
        assert_eq!(c.timestamp_type, TimestampType::LogAppendTime);
        assert!(validate("retention.ms", "-5").is_err());
        assert!(validate("max.message.bytes", "99999999999").is_err());
        assert!(matches!(
            validate("nope", "1"),
            Err(ConfigError::Unknown(_))
        ));
        assert!(validate("cleanup.policy", "compact")
            .unwrap_err()
            .to_string()
            .contains("does not compact"));
    }
}
