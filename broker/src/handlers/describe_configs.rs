//! DescribeConfigs (v1-4): a topic's effective configs, each marked as a
//! topic override or Kafka's default; the broker's (resource type 4, name
//! its node id or empty) as Skiff's settings under their Kafka names, all
//! read-only, each marked as set at start-up (STATIC_BROKER_CONFIG) or left
//! at Skiff's default (DEFAULT_CONFIG), judged against the default in the
//! setting's own definition (`config::Settings`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::DescribeConfigsResponse;

use super::create_topics::{SOURCE_DEFAULT, SOURCE_TOPIC};
use super::str;
use crate::broker::Broker;
use crate::config::{Config, Endpoint, Settings};
use crate::protocol::reader::{Reader, Result};
use crate::topic_config::DEFS as TOPIC_DEFS;

/// A broker setting given at start-up (environment or flag).
pub const SOURCE_STATIC_BROKER: i8 = 4;
/// Kafka's config types.
const TYPE_BOOLEAN: i8 = 1;
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

pub struct DescribeConfigsRequest {
    pub resources: Vec<(i8, String, Option<Vec<String>>)>,
}

impl DescribeConfigsRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let resources = r.array("resources", |r| {
            let kind = r.i8()?;
            let name = r.string("resource name")?;
            let keys = r.nullable_array("configuration keys", |r| r.string("config name"))?;
            r.tagged_fields()?;
            Ok((kind, name, keys))
        })?;
        if version >= 1 {
            r.bool()?; // include synonyms
        }
        if version >= 3 {
            r.bool()?; // include documentation
        }
        r.tagged_fields()?;
        Ok(DescribeConfigsRequest { resources })
    }
}

/// A topic needs DESCRIBE_CONFIGS on it, the broker DESCRIBE_CONFIGS on the
/// cluster.
pub fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    use crate::security::acl::Operation;
    let results = req
        .resources
        .into_iter()
        .map(|(kind, name, keys)| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(kind)
                .with_resource_name(str(&name));
            let permitted = match kind {
                RESOURCE_TOPIC => {
                    super::topic_allowed(broker, conn, Operation::DescribeConfigs, &name)
                }
                _ => super::cluster_allowed(broker, conn, Operation::DescribeConfigs),
            };
            if !permitted {
                let code = if kind == RESOURCE_TOPIC {
                    super::TOPIC_AUTHORIZATION_FAILED
                } else {
                    super::CLUSTER_AUTHORIZATION_FAILED
                };
                return result.with_error_code(code);
            }
            match kind {
                RESOURCE_TOPIC => match broker.catalog.get(&name) {
                    None => result
                        .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        .with_error_message(Some(str(format!("topic '{name}' does not exist")))),
                    Some(topic) => result.with_configs(
                        topic
                            .config()
                            .describe()
                            .into_iter()
                            .filter(|(def, _, _)| {
                                keys.as_ref()
                                    .is_none_or(|k| k.iter().any(|k| k == def.name))
                            })
                            .map(|(def, value, is_default)| {
                                DescribeConfigsResourceResult::default()
                                    .with_name(str(def.name))
                                    .with_value(Some(str(value)))
                                    .with_config_source(if is_default {
                                        SOURCE_DEFAULT
                                    } else {
                                        SOURCE_TOPIC
                                    })
                                    .with_config_type(def.type_code())
                            })
                            .collect(),
                    ),
                },
                RESOURCE_BROKER => {
                    let node = broker.config.node_id;
                    if !name.is_empty() && name != node.to_string() {
                        return result
                            .with_error_code(ResponseError::InvalidRequest.code())
                            .with_error_message(Some(str(format!(
                                "broker '{name}' is not this broker (node id {node})"
                            ))));
                    }
                    result.with_configs(
                        broker_configs(&broker.config)
                            .into_iter()
                            .filter(|c| {
                                keys.as_ref().is_none_or(|k| k.iter().any(|k| k == c.name))
                            })
                            .map(|c| {
                                DescribeConfigsResourceResult::default()
                                    .with_name(str(c.name))
                                    .with_value(Some(str(c.value)))
                                    .with_read_only(true)
                                    .with_config_source(if c.default {
                                        SOURCE_DEFAULT
                                    } else {
                                        SOURCE_STATIC_BROKER
                                    })
                                    .with_config_type(c.kind)
                            })
                            .collect(),
                    )
                }
                _ => result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str(format!(
                        "resource type {kind} is not supported; Skiff describes topics (2) and the broker (4)"
                    )))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// One broker config as described.
pub struct BrokerConfig {
    pub name: &'static str,
    pub value: String,
    /// Left at Skiff's default.
    pub default: bool,
    pub kind: i8,
}

/// The default of the setting whose field is `id` in `Settings`, as its
/// definition gives it (None: no default).
fn default_of(id: &str) -> Option<String> {
    use clap::Args;
    static DEFAULTS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    DEFAULTS
        .get_or_init(|| {
            Settings::augment_args(clap::Command::new("defaults"))
                .get_arguments()
                .filter_map(|a| {
                    let d = a.get_default_values().first()?;
                    Some((a.get_id().to_string(), d.to_string_lossy().into_owned()))
                })
                .collect()
        })
        .iter()
        .find(|(name, _)| name == id)
        .map(|(_, d)| d.clone())
}

fn listener(e: &Endpoint) -> String {
    if e.host.contains(':') {
        format!("PLAINTEXT://[{}]:{}", e.host, e.port)
    } else {
        format!("PLAINTEXT://{}:{}", e.host, e.port)
    }
}

/// Skiff's settings under their Kafka names, with the values in force.
pub fn broker_configs(c: &Config) -> Vec<BrokerConfig> {
    // (Kafka name, value, Settings field whose default it is compared with
    // (None: fixed in Skiff, always the default), type)
    let ms = |d: std::time::Duration| d.as_millis().to_string();
    let default_listen = default_of("listener_url")
        .and_then(|d| crate::config::parse_endpoint("LISTENER_URL", &d).ok());
    let derived_advertised = Endpoint {
        host: match c.listen.host.as_str() {
            "0.0.0.0" | "::" => "127.0.0.1".to_string(),
            h => h.to_string(),
        },
        port: c.listen.port,
    };
    let topic_default = |name: &str| {
        TOPIC_DEFS
            .iter()
            .find(|d| d.name == name)
            .map_or("", |d| d.default)
            .to_string()
    };
    let dir = c
        .database
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or(".".into(), |p| p.display().to_string());
    let setting = |name, value: String, id: &str, kind| BrokerConfig {
        name,
        default: default_of(id).is_some_and(|d| d == value),
        value,
        kind,
    };
    let fixed = |name, value: String, kind| BrokerConfig {
        name,
        value,
        default: true,
        kind,
    };
    let g = &c.groups;
    vec![
        setting("broker.id", c.node_id.to_string(), "node_id", TYPE_INT),
        setting("node.id", c.node_id.to_string(), "node_id", TYPE_INT),
        BrokerConfig {
            name: "listeners",
            value: listener(&c.listen),
            default: default_listen.as_ref() == Some(&c.listen),
            kind: TYPE_STRING,
        },
        BrokerConfig {
            name: "advertised.listeners",
            value: listener(&c.advertised),
            default: c.advertised == derived_advertised,
            kind: TYPE_STRING,
        },
        fixed("log.dirs", dir, TYPE_STRING),
        setting(
            "num.partitions",
            c.num_partitions.to_string(),
            "num_partitions",
            TYPE_INT,
        ),
        setting(
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
            "auto_create_topics",
            TYPE_BOOLEAN,
        ),
        fixed("log.retention.ms", topic_default("retention.ms"), TYPE_LONG),
        fixed(
            "log.retention.bytes",
            topic_default("retention.bytes"),
            TYPE_LONG,
        ),
        fixed(
            "message.max.bytes",
            topic_default("max.message.bytes"),
            TYPE_INT,
        ),
        setting(
            "log.retention.check.interval.ms",
            ms(c.retention_check_interval),
            "retention_check_interval_ms",
            TYPE_LONG,
        ),
        setting(
            "socket.request.max.bytes",
            c.max_request_bytes.to_string(),
            "max_request_bytes",
            TYPE_INT,
        ),
        setting(
            "max.connections",
            c.max_connections.to_string(),
            "max_connections",
            TYPE_INT,
        ),
        setting(
            "max.connections.per.ip",
            c.max_connections_per_ip.to_string(),
            "max_connections_per_ip",
            TYPE_INT,
        ),
        setting(
            "connections.max.idle.ms",
            ms(c.connections_max_idle),
            "connections_max_idle_ms",
            TYPE_LONG,
        ),
        setting(
            "fetch.max.bytes",
            c.fetch_max_bytes.to_string(),
            "fetch_max_bytes",
            TYPE_INT,
        ),
        setting(
            "producer.id.expiration.ms",
            ms(c.producer_id_expiration),
            "producer_id_expiration_ms",
            TYPE_INT,
        ),
        setting(
            "group.initial.rebalance.delay.ms",
            ms(g.initial_rebalance_delay),
            "group_initial_rebalance_delay_ms",
            TYPE_INT,
        ),
        setting(
            "group.min.session.timeout.ms",
            g.min_session_timeout_ms.to_string(),
            "group_min_session_timeout_ms",
            TYPE_INT,
        ),
        setting(
            "group.max.session.timeout.ms",
            g.max_session_timeout_ms.to_string(),
            "group_max_session_timeout_ms",
            TYPE_INT,
        ),
        setting(
            "group.max.size",
            g.max_size.to_string(),
            "group_max_size",
            TYPE_INT,
        ),
        BrokerConfig {
            name: "offsets.retention.minutes",
            value: (g.offsets_retention.as_millis() / 60_000).to_string(),
            default: default_of("offsets_retention_ms")
                .is_some_and(|d| d == ms(g.offsets_retention)),
            kind: TYPE_INT,
        },
        fixed("default.replication.factor", "1".into(), TYPE_INT),
        fixed("min.insync.replicas", "1".into(), TYPE_INT),
        fixed("offsets.topic.replication.factor", "1".into(), TYPE_INT),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    fn configs(args: &[&str]) -> Vec<BrokerConfig> {
        use clap::Parser;
        let mut all = vec!["skiff-broker"];
        all.extend_from_slice(args);
        broker_configs(&Cli::parse_from(all).settings.validate().unwrap())
    }

    fn find<'a>(all: &'a [BrokerConfig], name: &str) -> &'a BrokerConfig {
        all.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn broker_configs_carry_the_settings_and_say_which_were_set() {
        let defaults = configs(&[]);
        for c in &defaults {
            assert!(c.default, "{} = {} is not marked default", c.name, c.value);
        }
        assert_eq!(
            find(&defaults, "listeners").value,
            "PLAINTEXT://127.0.0.1:9092"
        );
        assert_eq!(find(&defaults, "log.retention.ms").value, "604800000");
        assert_eq!(find(&defaults, "message.max.bytes").value, "1048588");

        let set = configs(&[
            "--num-partitions",
            "3",
            "--listener-url",
            "tcp://0.0.0.0:19092",
            "--advertised-listener-url",
            "tcp://broker.example:29092",
            "--node-id",
            "7",
            "--storage-engine",
            "sqlite:///data/x/skiff.db",
        ]);
        let changed = |name: &str, value: &str| {
            let c = find(&set, name);
            assert_eq!((c.value.as_str(), c.default), (value, false), "{name}");
        };
        changed("num.partitions", "3");
        changed("listeners", "PLAINTEXT://0.0.0.0:19092");
        changed("advertised.listeners", "PLAINTEXT://broker.example:29092");
        changed("broker.id", "7");
        changed("node.id", "7");
        assert_eq!(find(&set, "log.dirs").value, "/data/x");
        // Untouched settings stay defaults.
        assert!(find(&set, "auto.create.topics.enable").default);
        assert!(find(&set, "socket.request.max.bytes").default);
    }
}
