//! `skiff topics list | create | describe | delete | alter`: topic
//! administration through the Kafka port of the deployment (or of any
//! broker with `--bootstrap`), so nobody needs a shell on the instance or a
//! Java install. Every argument is checked here first, with a message
//! naming the flag; the broker's refusals come back as Kafka error names
//! with the fix (`crate::kafka::explain`).

use crate::kafka::{self, Target, TargetArgs};
use crate::printer::Printer;
use crate::Global;
use anyhow::{bail, Result};
use kafka_client::api::{self, EARLIEST, LATEST};
use kafka_client::Connection;
use serde_json::json;

/// Partitions a topic may be created or grown to with `skiff`.
pub const MAX_PARTITIONS: i32 = 1000;
/// `--topic-config` pairs in one command.
pub const MAX_CONFIGS: usize = 64;
const MAX_CONFIG_KEY: usize = 255;
const MAX_CONFIG_VALUE: usize = 4096;

#[derive(clap::Args, Debug)]
pub struct TopicsArgs {
    #[command(subcommand)]
    pub command: TopicsCommand,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum TopicsCommand {
    /// The topics and their partition counts.
    List,
    /// Create a topic.
    Create {
        #[arg(id = "topic", value_name = "NAME", value_parser = parse_topic)]
        name: String,
        /// Partitions (1 to 1000).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=MAX_PARTITIONS as i64))]
        partitions: i32,
        /// A topic config KEY=VALUE (repeatable, at most 64), e.g. retention.ms=86400000.
        /// (`--config` is skiff's own config file.)
        #[arg(long = "topic-config", short = 'c', value_name = "KEY=VALUE", value_parser = parse_config)]
        configs: Vec<(String, String)>,
    },
    /// Partitions with their offsets, and every config with its value.
    Describe {
        #[arg(id = "topic", value_name = "NAME", value_parser = parse_topic)]
        name: String,
    },
    /// Delete a topic and all its records.
    Delete {
        #[arg(id = "topic", value_name = "NAME", value_parser = parse_topic)]
        name: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Change a topic's configs or add partitions.
    Alter {
        #[arg(id = "topic", value_name = "NAME", value_parser = parse_topic)]
        name: String,
        /// Set a topic config KEY=VALUE (repeatable, at most 64).
        #[arg(long = "topic-config", short = 'c', value_name = "KEY=VALUE", value_parser = parse_config)]
        configs: Vec<(String, String)>,
        /// Remove a topic config override, back to the default (repeatable).
        #[arg(long = "delete-topic-config", value_name = "KEY", value_parser = parse_config_key)]
        delete_configs: Vec<String>,
        /// Grow the topic to N partitions (up to 1000; partitions never shrink).
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..=MAX_PARTITIONS as i64))]
        partitions: Option<i32>,
    },
}

/// Kafka's topic-name rule: 1 to 249 of `[A-Za-z0-9._-]`, not `.` or `..`.
pub fn parse_topic(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 249 {
        return Err(format!(
            "topic names are 1 to 249 characters, this one has {}",
            s.len()
        ));
    }
    if s == "." || s == ".." {
        return Err("a topic cannot be named `.` or `..`".into());
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "`{s}` contains {c:?}; topic names use only ASCII letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(s.to_string())
}

/// A config name: 1 to 255 of `[A-Za-z0-9._-]`.
pub fn parse_config_key(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > MAX_CONFIG_KEY {
        return Err(format!(
            "config names are 1 to {MAX_CONFIG_KEY} characters (e.g. retention.ms)"
        ));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!(
            "`{s}` is not a config name (letters, digits, '.', '_', '-', e.g. retention.ms)"
        ));
    }
    Ok(s.to_string())
}

/// `KEY=VALUE`, the value at most 4096 bytes without control characters.
pub fn parse_config(s: &str) -> Result<(String, String), String> {
    let Some((k, v)) = s.split_once('=') else {
        return Err(format!(
            "`{s}` has no `=`; write KEY=VALUE, e.g. retention.ms=86400000"
        ));
    };
    let k = parse_config_key(k)?;
    if v.len() > MAX_CONFIG_VALUE {
        return Err(format!(
            "the value of {k} has {} bytes; at most {MAX_CONFIG_VALUE}",
            v.len()
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("the value of {k} contains a control character"));
    }
    Ok((k, v.to_string()))
}

/// At most [`MAX_CONFIGS`] pairs, each key once.
fn check_configs(configs: &[(String, String)], deletes: &[String]) -> Result<()> {
    if configs.len() + deletes.len() > MAX_CONFIGS {
        bail!(
            "--topic-config/--delete-topic-config: {} given, at most {MAX_CONFIGS} at once",
            configs.len() + deletes.len()
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for k in configs.iter().map(|(k, _)| k).chain(deletes) {
        if !seen.insert(k) {
            bail!(
                "--topic-config/--delete-topic-config: {k} is given twice; give each config once"
            );
        }
    }
    Ok(())
}

pub async fn run(g: &Global, out: &Printer, a: &TopicsArgs) -> Result<()> {
    // Local checks before any connection.
    match &a.command {
        TopicsCommand::Create { configs, .. } => check_configs(configs, &[])?,
        TopicsCommand::Alter {
            configs,
            delete_configs,
            partitions,
            name,
        } => {
            if configs.is_empty() && delete_configs.is_empty() && partitions.is_none() {
                bail!(
                    "nothing to change for '{name}': give --topic-config KEY=VALUE, --delete-topic-config KEY or --partitions N"
                );
            }
            check_configs(configs, delete_configs)?;
        }
        _ => {}
    }
    let target = kafka::target(g, &a.target).await?;
    let mut conn = kafka::connect(&target).await?;
    let result = match &a.command {
        TopicsCommand::List => list(out, &target, &mut conn).await,
        TopicsCommand::Create {
            name,
            partitions,
            configs,
        } => create(out, &mut conn, name, *partitions, configs).await,
        TopicsCommand::Describe { name } => describe(out, &target, &mut conn, name).await,
        TopicsCommand::Delete { name, yes } => delete(out, &mut conn, name, *yes).await,
        TopicsCommand::Alter {
            name,
            configs,
            delete_configs,
            partitions,
        } => alter(out, &mut conn, name, configs, delete_configs, *partitions).await,
    };
    result.map_err(|e| match e.downcast::<kafka_client::Error>() {
        Ok(e) => kafka::explain(e, &target),
        Err(e) => e,
    })
}

async fn list(out: &Printer, t: &Target, conn: &mut Connection) -> Result<()> {
    let md = conn.metadata(None).await?;
    let mut topics: Vec<_> = md.topics.iter().filter(|t| t.error_code == 0).collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    if out.is_json() {
        out.json(&json!({
            "bootstrap": t.addr,
            "topics": topics.iter().map(|t| json!({
                "name": t.name,
                "partitions": t.partitions.len(),
                "internal": t.is_internal,
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    if topics.is_empty() {
        out.out(format!("no topics on {}", t.addr));
        return Ok(());
    }
    let w = topics
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    out.out(format!("{:<w$}  PARTITIONS", "TOPIC"));
    for t in topics {
        out.out(format!("{:<w$}  {}", t.name, t.partitions.len()));
    }
    Ok(())
}

async fn create(
    out: &Printer,
    conn: &mut Connection,
    name: &str,
    partitions: i32,
    configs: &[(String, String)],
) -> Result<()> {
    conn.create_topic(name, partitions, configs).await?;
    if out.is_json() {
        out.json(&json!({
            "created": name,
            "partitions": partitions,
            "configs": configs.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        }));
        return Ok(());
    }
    let mut line = format!(
        "created topic '{name}' ({partitions} partition{}",
        if partitions == 1 { "" } else { "s" }
    );
    for (k, v) in configs {
        line.push_str(&format!(", {k}={v}"));
    }
    out.out(format!("{line})"));
    Ok(())
}

/// Start and end offset of each partition (in partition order).
async fn offsets(conn: &mut Connection, name: &str, parts: &[i32]) -> Result<Vec<(i64, i64)>> {
    let start = conn.list_offsets(name, parts, EARLIEST).await?;
    let end = conn.list_offsets(name, parts, LATEST).await?;
    Ok(start.into_iter().zip(end).collect())
}

async fn describe(out: &Printer, t: &Target, conn: &mut Connection, name: &str) -> Result<()> {
    let meta = conn.topic(name).await?;
    let mut parts: Vec<_> = meta.partitions.iter().collect();
    parts.sort_by_key(|p| p.index);
    let indexes: Vec<i32> = parts.iter().map(|p| p.index).collect();
    let offs = offsets(conn, name, &indexes).await?;
    let mut configs = conn.describe_topic_configs(name).await?;
    configs.sort_by(|a, b| a.name.cmp(&b.name));
    let value = |c: &api::ConfigEntry| {
        if c.is_sensitive {
            "(sensitive)".to_string()
        } else {
            c.value.clone().unwrap_or_else(|| "(null)".into())
        }
    };
    if out.is_json() {
        out.json(&json!({
            "bootstrap": t.addr,
            "name": meta.name,
            "partitions": parts.iter().zip(&offs).map(|(p, (s, e))| json!({
                "partition": p.index,
                "leader": p.leader,
                "start_offset": s,
                "end_offset": e,
                "records": e - s,
            })).collect::<Vec<_>>(),
            "configs": configs.iter().map(|c| json!({
                "name": c.name,
                "value": value(c),
                "set_on_topic": c.source == api::SOURCE_TOPIC,
                "read_only": c.read_only,
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    out.out(format!("topic:       {}", meta.name));
    out.out(format!("partitions:  {}", parts.len()));
    out.out(format!(
        "records:     {} (end offsets minus start offsets)",
        offs.iter().map(|(s, e)| e - s).sum::<i64>()
    ));
    out.out(format!(
        "  {:>9}  {:>6}  {:>12}  {:>12}",
        "PARTITION", "LEADER", "START", "END"
    ));
    for (p, (s, e)) in parts.iter().zip(&offs) {
        out.out(format!(
            "  {:>9}  {:>6}  {:>12}  {:>12}",
            p.index, p.leader, s, e
        ));
    }
    out.out("configs (* set on the topic, the others are defaults):");
    let w = configs.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in &configs {
        let mark = if c.source == api::SOURCE_TOPIC {
            '*'
        } else {
            ' '
        };
        out.out(format!("{mark} {:<w$}  {}", c.name, value(c)));
    }
    Ok(())
}

async fn delete(out: &Printer, conn: &mut Connection, name: &str, yes: bool) -> Result<()> {
    let meta = conn.topic(name).await?;
    if !yes {
        let parts: Vec<i32> = meta.partitions.iter().map(|p| p.index).collect();
        let records: i64 = offsets(conn, name, &parts)
            .await?
            .iter()
            .map(|(s, e)| e - s)
            .sum();
        if !out.confirm(&format!(
            "Delete topic '{name}' ({} partitions, {records} records)?",
            parts.len()
        ))? {
            bail!("not deleted");
        }
    }
    conn.delete_topic(name).await?;
    if out.is_json() {
        out.json(&json!({ "deleted": name }));
    } else {
        out.out(format!("deleted topic '{name}'"));
    }
    Ok(())
}

async fn alter(
    out: &Printer,
    conn: &mut Connection,
    name: &str,
    configs: &[(String, String)],
    deletes: &[String],
    partitions: Option<i32>,
) -> Result<()> {
    let meta = conn.topic(name).await?;
    let before = meta.partitions.len() as i32;
    if let Some(n) = partitions {
        if n < before {
            bail!(
                "--partitions {n}: '{name}' has {before} partitions and a partition count can only grow"
            );
        }
    }
    let mut done = Vec::new();
    if !configs.is_empty() || !deletes.is_empty() {
        conn.alter_topic_configs(name, configs, deletes).await?;
        done.extend(configs.iter().map(|(k, v)| format!("set {k}={v}")));
        done.extend(
            deletes
                .iter()
                .map(|k| format!("removed {k} (default again)")),
        );
    }
    if let Some(n) = partitions.filter(|n| *n > before) {
        conn.create_partitions(name, n).await?;
        done.push(format!("partitions {before} -> {n}"));
    } else if partitions.is_some() {
        done.push(format!("partitions stay {before}"));
    }
    if out.is_json() {
        out.json(&json!({ "altered": name, "changes": done }));
    } else {
        out.out(format!("topic '{name}': {}", done.join("; ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert!(parse_topic("orders.eu-1_x").is_ok());
        assert!(parse_topic(&"a".repeat(249)).is_ok());
        for bad in ["", ".", "..", "a b", "é", "a/b"] {
            assert!(parse_topic(bad).is_err(), "{bad}");
        }
        assert!(parse_topic(&"a".repeat(250)).unwrap_err().contains("249"));
    }

    #[test]
    fn config_pairs() {
        assert_eq!(
            parse_config("retention.ms=1000"),
            Ok(("retention.ms".into(), "1000".into()))
        );
        assert_eq!(parse_config("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_config("a="), Ok(("a".into(), "".into())));
        assert!(parse_config("retention.ms")
            .unwrap_err()
            .contains("KEY=VALUE"));
        assert!(parse_config("=1").is_err());
        assert!(parse_config("a b=1").is_err());
        assert!(parse_config("a=x\ny").is_err());
        assert!(parse_config(&format!("a={}", "v".repeat(4097)))
            .unwrap_err()
            .contains("4096"));
        let many: Vec<(String, String)> = (0..65).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(check_configs(&many, &[])
            .unwrap_err()
            .to_string()
            .contains("at most 64"));
        let twice = vec![("a".to_string(), "1".to_string())];
        assert!(check_configs(&twice, &["a".to_string()])
            .unwrap_err()
            .to_string()
            .contains("twice"));
    }
}
