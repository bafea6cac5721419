//! `skiff users add | list | remove`: the broker's users, managed through
//! its Kafka port as the admin (SASL_SSL, SCRAM-SHA-512), no shell on the
//! instance. A user is a SCRAM-SHA-512 credential (AlterUserScramCredentials,
//! the verifier computed here from a password drawn from the OS generator
//! and shown once, never stored) plus PREFIXED ACLs (CreateAcls):
//!
//! - `--read P`: READ and DESCRIBE on topics starting with P;
//! - `--write P`: WRITE and DESCRIBE on topics starting with P (idempotent
//!   producers need nothing more: since Kafka 2.8 WRITE on a topic implies
//!   IDEMPOTENT_WRITE, KIP-679);
//! - `--group P`: READ on consumer groups starting with P.

use crate::commands::client_config::{self, Settings};
use crate::kafka::{self, Target, TargetArgs, MECHANISM};
use crate::printer::Printer;
use crate::secrets::ADMIN_USER;
use crate::Global;
use anyhow::{bail, Result};
use kafka_client::api::{acl_name, operation, pattern, permission, resource, AclBinding};
use kafka_client::{scram, AclFilter, Connection};
use serde_json::json;

/// PBKDF2 rounds of a new credential: twice Kafka's minimum; it costs the
/// client a few milliseconds per login and the broker nothing (it keeps
/// the derived keys).
pub const ITERATIONS: u32 = 8192;
/// Length of a generated password (62-letter alphabet: ~190 bits).
pub const PASSWORD_LEN: usize = 32;
/// Prefixes of one kind per command.
const MAX_PREFIXES: usize = 32;

#[derive(clap::Args, Debug)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub command: UsersCommand,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum UsersCommand {
    /// Create a user with a new random password (shown once) and its ACLs.
    Add {
        #[arg(id = "user_name", value_name = "NAME", value_parser = parse_user)]
        name: String,
        /// Let it read (consume, describe) topics whose name starts with
        /// PREFIX (repeatable).
        #[arg(long, value_name = "TOPIC_PREFIX", value_parser = parse_prefix)]
        read: Vec<String>,
        /// Let it write (produce to) topics whose name starts with PREFIX
        /// (repeatable).
        #[arg(long, value_name = "TOPIC_PREFIX", value_parser = parse_prefix)]
        write: Vec<String>,
        /// Let it use consumer groups whose id starts with PREFIX
        /// (repeatable).
        #[arg(long, value_name = "PREFIX", value_parser = parse_prefix)]
        group: Vec<String>,
    },
    /// The users with their SCRAM credentials and ACLs.
    List,
    /// Delete a user's credentials and every ACL of it.
    Remove {
        #[arg(id = "user_name", value_name = "NAME", value_parser = parse_user)]
        name: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// A user name: 1 to 64 of `[A-Za-z0-9._@-]` (no `,` `=` `:` or spaces,
/// which SCRAM and principals would need escaped).
pub fn parse_user(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 64 {
        return Err(format!(
            "user names are 1 to 64 characters, this one has {}",
            s.len()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
    {
        return Err(format!(
            "`{s}` contains {c:?}; user names use only ASCII letters, digits, '.', '_', '-' and '@'"
        ));
    }
    Ok(s.to_string())
}

/// A topic or group prefix: 1 to 249 of `[A-Za-z0-9._-]` (Kafka's topic
/// characters).
pub fn parse_prefix(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 249 {
        return Err(format!(
            "prefixes are 1 to 249 characters, this one has {} (a prefix matches every name starting with it)",
            s.len()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "`{s}` contains {c:?}; prefixes use only ASCII letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(s.to_string())
}

/// A new password: [`PASSWORD_LEN`] letters and digits from the OS
/// generator (rejection sampling, so every letter is equally likely).
pub fn new_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(PASSWORD_LEN);
    while out.len() < PASSWORD_LEN {
        for b in scram::random_bytes(64) {
            // 248 = 4 * 62: bytes above are dropped, not folded.
            if b < 248 && out.len() < PASSWORD_LEN {
                out.push(ALPHABET[usize::from(b) % 62] as char);
            }
        }
    }
    out
}

/// The ACL bindings `add` creates.
pub fn bindings(
    user: &str,
    read: &[String],
    write: &[String],
    group: &[String],
) -> Vec<AclBinding> {
    let principal = format!("User:{user}");
    let b = |resource_type, name: &str, op| AclBinding {
        resource_type,
        resource_name: name.to_string(),
        pattern_type: pattern::PREFIXED,
        principal: principal.clone(),
        host: "*".into(),
        operation: op,
        permission: permission::ALLOW,
    };
    let mut out = Vec::new();
    for p in read {
        out.push(b(resource::TOPIC, p, operation::READ));
        out.push(b(resource::TOPIC, p, operation::DESCRIBE));
    }
    for p in write {
        out.push(b(resource::TOPIC, p, operation::WRITE));
        out.push(b(resource::TOPIC, p, operation::DESCRIBE));
    }
    for p in group {
        out.push(b(resource::GROUP, p, operation::READ));
    }
    // `--read x --write x` asks for DESCRIBE on x twice.
    let mut seen = std::collections::HashSet::new();
    out.retain(|b| seen.insert((b.resource_type, b.resource_name.clone(), b.operation)));
    out
}

/// `ALLOW WRITE on TOPIC PREFIXED 'orders.'`.
pub fn describe_binding(b: &AclBinding) -> String {
    let pattern = match b.pattern_type {
        pattern::PREFIXED => "prefixed",
        pattern::LITERAL if b.resource_name == "*" => "any",
        pattern::LITERAL => "named",
        _ => acl_name("pattern", b.pattern_type),
    };
    let host = if b.host == "*" {
        String::new()
    } else {
        format!(" from {}", b.host)
    };
    format!(
        "{} {} on {} {pattern} '{}'{host}",
        acl_name("permission", b.permission),
        acl_name("operation", b.operation),
        acl_name("resource", b.resource_type).to_lowercase(),
        b.resource_name
    )
}

pub async fn run(g: &Global, out: &Printer, a: &UsersArgs) -> Result<()> {
    if let UsersCommand::Add {
        name,
        read,
        write,
        group,
    } = &a.command
    {
        if name == ADMIN_USER {
            bail!("`{ADMIN_USER}` is skiff's administrator; pick another name");
        }
        for (flag, v) in [("--read", read), ("--write", write), ("--group", group)] {
            if v.len() > MAX_PREFIXES {
                bail!("{flag}: {} given, at most {MAX_PREFIXES}", v.len());
            }
        }
    }
    if let UsersCommand::Remove { name, .. } = &a.command {
        if name == ADMIN_USER {
            bail!("`{ADMIN_USER}` is skiff's administrator and cannot be removed");
        }
    }
    let target = kafka::admin_target(g, &a.target).await?;
    let mut conn = kafka::connect(&target).await?;
    let result = match &a.command {
        UsersCommand::Add {
            name,
            read,
            write,
            group,
        } => add(g, out, &target, &mut conn, name, read, write, group).await,
        UsersCommand::List => list(out, &mut conn).await,
        UsersCommand::Remove { name, yes } => remove(out, &mut conn, name, *yes).await,
    };
    result.map_err(|e| match e.downcast::<kafka_client::Error>() {
        Ok(e) => kafka::explain(e, &target),
        Err(e) => e,
    })
}

/// Whether `user` has any SCRAM credential.
async fn exists(conn: &mut Connection, user: &str) -> Result<Vec<(i8, i32)>> {
    let users = conn.describe_scram_credentials(Some(&[user])).await?;
    Ok(users
        .into_iter()
        .find(|u| u.user == user && u.error_code == 0)
        .map(|u| u.credentials)
        .unwrap_or_default())
}

#[allow(clippy::too_many_arguments)]
async fn add(
    g: &Global,
    out: &Printer,
    target: &Target,
    conn: &mut Connection,
    name: &str,
    read: &[String],
    write: &[String],
    group: &[String],
) -> Result<()> {
    if !exists(conn, name).await?.is_empty() {
        bail!("user '{name}' already exists; `skiff users remove {name}` first to replace it");
    }
    let acls = bindings(name, read, write, group);
    if !acls.is_empty() {
        conn.create_acls(&acls).await?;
    }
    let password = new_password();
    if let Err(e) = conn
        .upsert_scram_credential(name, MECHANISM, &password, ITERATIONS)
        .await
    {
        // No user without a credential keeps ACLs behind.
        let _ = conn
            .delete_acls(&AclFilter::principal(&format!("User:{name}")))
            .await;
        return Err(e.into());
    }
    let settings = Settings::for_user(g, target, name)?;
    if out.is_json() {
        out.json(&json!({
            "user": name,
            "password": password,
            "mechanism": MECHANISM.name(),
            "iterations": ITERATIONS,
            "acls": acls.iter().map(describe_binding).collect::<Vec<_>>(),
            "bootstrap": target.addr,
        }));
        return Ok(());
    }
    out.out(format!(
        "created user '{name}' ({}, {ITERATIONS} iterations)",
        MECHANISM.name()
    ));
    if acls.is_empty() {
        out.out("  no ACLs: it can log in but use nothing (give --read, --write or --group)");
    }
    for b in &acls {
        out.out(format!("  {}", describe_binding(b)));
    }
    out.out("");
    out.out(format!("password: {password}"));
    out.out("  shown this once and stored nowhere: keep it in your secret store now");
    out.out("");
    out.out("client settings (librdkafka, e.g. confluent-kafka; `skiff client-config --user NAME --format ...` for others):");
    for line in client_config::render(
        &settings,
        client_config::Format::Librdkafka,
        Some(&password),
    )
    .lines()
    {
        out.out(format!("  {line}"));
    }
    Ok(())
}

async fn list(out: &Printer, conn: &mut Connection) -> Result<()> {
    let mut users = conn.describe_scram_credentials(None).await?;
    users.retain(|u| u.error_code == 0);
    users.sort_by(|a, b| a.user.cmp(&b.user));
    let mut acls = conn.describe_acls(&AclFilter::all()).await?;
    acls.sort_by(|a, b| {
        (&a.principal, a.resource_type, &a.resource_name, a.operation).cmp(&(
            &b.principal,
            b.resource_type,
            &b.resource_name,
            b.operation,
        ))
    });
    let of = |user: &str| {
        let p = format!("User:{user}");
        acls.iter().filter(|b| b.principal == p).collect::<Vec<_>>()
    };
    let mechs = |c: &[(i8, i32)]| {
        c.iter()
            .map(|(m, i)| {
                let name = scram::Mechanism::from_kafka_type(*m).map_or("UNKNOWN", |m| m.name());
                format!("{name} ({i} iterations)")
            })
            .collect::<Vec<_>>()
    };
    // Principals with ACLs but no credential (they cannot log in).
    let mut orphans: Vec<&str> = acls
        .iter()
        .filter_map(|b| b.principal.strip_prefix("User:"))
        .filter(|u| *u != "*" && !users.iter().any(|x| x.user == *u))
        .collect();
    orphans.dedup();
    if out.is_json() {
        out.json(&json!({
            "users": users.iter().map(|u| json!({
                "name": u.user,
                "credentials": mechs(&u.credentials),
                "acls": of(&u.user).into_iter().map(describe_binding).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "acls_without_credentials": orphans.iter().map(|u| json!({
                "name": u,
                "acls": of(u).into_iter().map(describe_binding).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    if users.is_empty() {
        out.out("no users");
    }
    for u in &users {
        let admin = if u.user == ADMIN_USER {
            " (administrator: every operation)"
        } else {
            ""
        };
        out.out(format!(
            "{}{admin}: {}",
            u.user,
            mechs(&u.credentials).join(", ")
        ));
        let bs = of(&u.user);
        if bs.is_empty() && u.user != ADMIN_USER {
            out.out("  no ACLs");
        }
        for b in bs {
            out.out(format!("  {}", describe_binding(b)));
        }
    }
    for u in orphans {
        out.out(format!("{u} (ACLs but no credential: cannot log in)"));
        for b in of(u) {
            out.out(format!("  {}", describe_binding(b)));
        }
    }
    Ok(())
}

async fn remove(out: &Printer, conn: &mut Connection, name: &str, yes: bool) -> Result<()> {
    let creds = exists(conn, name).await?;
    let principal = format!("User:{name}");
    let acls = conn
        .describe_acls(&AclFilter::principal(&principal))
        .await?;
    if creds.is_empty() && acls.is_empty() {
        bail!("user '{name}' does not exist (`skiff users list` shows the users)");
    }
    if !yes
        && !out.confirm(&format!(
            "remove user '{name}' and its {} ACLs?",
            acls.len()
        ))?
    {
        bail!("not removed");
    }
    for (m, _) in &creds {
        if let Some(m) = scram::Mechanism::from_kafka_type(*m) {
            conn.delete_scram_credential(name, m).await?;
        }
    }
    let deleted = conn.delete_acls(&AclFilter::principal(&principal)).await?;
    if out.is_json() {
        out.json(&json!({
            "removed": name,
            "credentials": creds.len(),
            "acls": deleted.iter().map(describe_binding).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    out.out(format!(
        "removed user '{name}': {} credential{}, {} ACL{}",
        creds.len(),
        if creds.len() == 1 { "" } else { "s" },
        deleted.len(),
        if deleted.len() == 1 { "" } else { "s" }
    ));
    out.out("  connections it already has open stay open until they close");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_alphanumeric_and_differ() {
        let a = new_password();
        let b = new_password();
        assert_eq!(a.len(), PASSWORD_LEN);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn names_and_prefixes() {
        assert!(parse_user("app-1.x@corp").is_ok());
        for bad in ["", "a,b", "a=b", "User:x", "a b", &"x".repeat(65)] {
            assert!(parse_user(bad).is_err(), "{bad:?}");
        }
        assert!(parse_prefix("orders.").is_ok());
        for bad in ["", "*", "a b", "x/y", &"x".repeat(250)] {
            assert!(parse_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn acl_bindings() {
        let b = bindings(
            "app",
            &["orders.".into()],
            &["orders.".into()],
            &["app-".into()],
        );
        let shown: Vec<_> = b.iter().map(describe_binding).collect();
        assert_eq!(
            shown,
            vec![
                "ALLOW READ on topic prefixed 'orders.'",
                "ALLOW DESCRIBE on topic prefixed 'orders.'",
                "ALLOW WRITE on topic prefixed 'orders.'",
                "ALLOW READ on group prefixed 'app-'",
            ]
        );
        assert!(b.iter().all(|b| b.principal == "User:app" && b.host == "*"));
    }
}
