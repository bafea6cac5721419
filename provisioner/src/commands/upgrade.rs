//! `skiff upgrade [VERSION] [--dry-run] [--yes]`: sets `broker.version` in
//! skiff.yaml (VERSION, default: this skiff's own version) and converges
//! like `skiff up`, which replaces the instance (plan, confirmation, clean
//! stop, the data volume and the address moved to the new instance).
//!
//! It edits the file rather than overriding the version for one run: the
//! config is what `up` converges to, so a later plain `skiff up` must not
//! plan a downgrade. The edit changes only the `version:` line under
//! `broker:` (comments and the rest stay), and is checked by parsing the
//! result: everything but `broker.version` must read the same, or nothing
//! is written. Without a skiff.yaml it writes the commented default with
//! that version. `--dry-run` writes nothing and shows the plan.

use super::up::{self, Options};
use crate::aws::inventory::Inventory;
use crate::config::{commented_default, Config, DEFAULT_FILE};
use crate::printer::Printer;
use crate::{aws, Global};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct UpgradeArgs {
    /// The broker image tag to run (default: this skiff's version).
    #[arg(value_name = "VERSION")]
    pub version: Option<String>,
    /// Show the plan; change nothing (skiff.yaml included).
    #[arg(long)]
    pub dry_run: bool,
    /// Replace the instance without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Do not wait for the broker to answer.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds to wait for the broker to answer.
    #[arg(long, env = "SKIFF_WAIT_TIMEOUT", default_value_t = 600)]
    pub wait_timeout: u64,
}

/// `text` with `broker.version` set to `version`, or why not.
pub fn set_version(text: &str, version: &str) -> Result<String, String> {
    let line = format!("version: \"{version}\"");
    let lines: Vec<&str> = text.lines().collect();
    let top = |l: &str| !l.is_empty() && !l.starts_with([' ', '\t', '#']);
    let Some(b) = lines
        .iter()
        .position(|l| l.split('#').next().unwrap_or("").trim_end() == "broker:")
    else {
        if lines.iter().any(|l| top(l) && l.starts_with("broker:")) {
            return Err(
                "`broker:` is written in flow style ({...}); set broker.version there by hand"
                    .into(),
            );
        }
        let mut out = text.trim_end_matches('\n').to_string();
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("broker:\n  {line}\n"));
        return Ok(out);
    };
    let end = lines[b + 1..]
        .iter()
        .position(|l| top(l))
        .map_or(lines.len(), |p| b + 1 + p);
    let block = &lines[b + 1..end];
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    match block
        .iter()
        .position(|l| l.trim_start().starts_with("version:"))
    {
        Some(v) => {
            let l = block[v];
            let indent = &l[..l.len() - l.trim_start().len()];
            out[b + 1 + v] = format!("{indent}{line}");
        }
        None => {
            let indent = block
                .iter()
                .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .map(|l| &l[..l.len() - l.trim_start().len()])
                .unwrap_or("  ");
            out.insert(b + 1, format!("{indent}{line}"));
        }
    }
    let mut s = out.join("\n");
    s.push('\n');
    Ok(s)
}

pub async fn run(g: &Global, out: &Printer, a: &UpgradeArgs) -> Result<()> {
    let version = a
        .version
        .clone()
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string());
    let path = g
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE));
    let (text, existed) = match std::fs::read_to_string(&path) {
        Ok(t) => (t, true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (commented_default(), false),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let origin = path.display().to_string();
    let before = Config::from_yaml(&text, &origin)?;
    let edited = set_version(&text, &version)
        .map_err(|why| anyhow::anyhow!("cannot set broker.version in {origin}: {why}"))?;
    let mut after = Config::from_yaml(&edited, &origin).with_context(|| {
        format!(
            "broker.version `{}`",
            version.chars().take(40).collect::<String>()
        )
    })?;
    let mut expected = before.clone();
    expected.broker.version = version.clone();
    if after != expected {
        bail!(
            "cannot set broker.version in {origin} safely (the edit would change more than the version); \
             set `version: \"{version}\"` under `broker:` by hand and run `skiff up`"
        );
    }
    // Name and region flags apply as for every command.
    after = after.apply(&crate::config::Overrides {
        name: g.name.clone(),
        region: g.region.clone(),
        ..Default::default()
    })?;
    // Credentials first: a failed login must not leave the file edited
    // and nothing else done.
    let clients = aws::connect(after.region.as_deref()).await?;
    if before.broker.version == version && existed {
        out.out(format!("{origin}: broker.version is already {version}"));
    } else if a.dry_run {
        out.out(format!(
            "{origin}: would set broker.version {} -> {version} (dry run: not written)",
            before.broker.version
        ));
    } else {
        let tmp = path.with_extension("yaml.skiff-tmp");
        std::fs::write(&tmp, &edited).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        out.out(format!(
            "{origin}: broker.version {} -> {version}{}",
            before.broker.version,
            if existed {
                ""
            } else {
                " (new file with every default)"
            }
        ));
    }

    let inv = Inventory::load(&clients, &after.name).await?;
    if inv.instances.is_empty() {
        out.out(format!(
            "deployment `{}` is not running in {}; `skiff up` deploys it with broker {version}",
            after.name, clients.region
        ));
        return Ok(());
    }
    // An upgrade is not about the firewall: the rules in place stay.
    let keep = inv.security_groups.first().map(|s| s.broker_cidrs.clone());
    let cidrs = up::cidrs(g, out, &after, up::Public::No, a.dry_run, keep).await?;
    let options = Options {
        dry_run: a.dry_run,
        yes: a.yes,
        cidrs,
        wait: (!a.no_wait).then(|| Duration::from_secs(a.wait_timeout)),
        resume: "skiff up".into(),
        expect_mbps: crate::cost::DEFAULT_EXPECT_MBPS,
    };
    up::converge(g, out, &clients, &after, &options).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_line_is_replaced_or_added_and_nothing_else_changes() {
        let t = "# mine\nname: prod\nbroker:\n  image: x/y   # repo\n  version: \"0.1.0\" # old\n  settings:\n    RUST_LOG: info\nalert_email: a@b.c\n";
        let e = set_version(t, "0.2.0").unwrap();
        assert_eq!(
            e,
            "# mine\nname: prod\nbroker:\n  image: x/y   # repo\n  version: \"0.2.0\"\n  settings:\n    RUST_LOG: info\nalert_email: a@b.c\n"
        );
        let e = set_version("name: a\nbroker:\n    image: x/y\n", "1.0").unwrap();
        assert_eq!(
            e,
            "name: a\nbroker:\n    version: \"1.0\"\n    image: x/y\n"
        );
        assert_eq!(
            set_version("name: a\n", "1.0").unwrap(),
            "name: a\nbroker:\n  version: \"1.0\"\n"
        );
        assert!(set_version("broker: {version: 1}\n", "2").is_err());
        // The commented default round-trips to the defaults plus the version.
        let d = set_version(&commented_default(), "9.9.9").unwrap();
        let c = Config::from_yaml(&d, "x").unwrap();
        let mut want = Config::default();
        want.broker.version = "9.9.9".into();
        assert_eq!(c, want);
    }
}
