//! `skiff logs [--since 1h] [--follow] [--lines N]`: the broker's own log
//! lines, from the deployment's CloudWatch Logs group `/skiff/<name>`
//! (Docker's awslogs driver on the instance writes them; one stream per
//! container, read interleaved in time order). `skiff logs --boot`: the
//! instance's console output, which carries cloud-init's progress and the
//! start scripts' `skiff: ...` lines, so a failed boot can be diagnosed
//! without SSH or an instance role.
//!
//! Bounded: at most `--lines` lines (the newest), 20 pages per read, and
//! each line cut at 16 KiB. `--follow` polls every 5 seconds and prints
//! only lines it has not printed, until Ctrl-C.

use crate::aws::inventory::Inventory;
use crate::aws::{self, logs, Clients};
use crate::config::Overrides;
use crate::printer::Printer;
use crate::render::log_group;
use crate::{age, Global};
use anyhow::{bail, Result};
use std::collections::HashSet;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Show the instance's console output (cloud-init, boot) instead.
    #[arg(long)]
    pub boot: bool,
    /// Lines from this long ago (e.g. 10m, 2h, 3d; up to 3653d).
    #[arg(long, default_value = "1h", value_parser = parse_since)]
    pub since: u64,
    /// Keep printing new lines until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Most lines printed (the newest), 1 to 10000.
    #[arg(long, short = 'n', default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub lines: u32,
}

/// CloudWatch Logs keeps lines at most 10 years (3653 days).
const MAX_SINCE_SECS: u64 = 3653 * 86_400;

/// Parses `--since` (humantime: `90m`, `2h`, `3d`) into whole seconds.
pub fn parse_since(s: &str) -> Result<u64, String> {
    let secs = humantime::parse_duration(s)
        .map_err(|e| format!("`{s}`: {e}; expected a duration such as 10m, 2h or 3d"))?
        .as_secs();
    if secs == 0 || secs > MAX_SINCE_SECS {
        return Err(format!(
            "`{s}`: from 1s to 3653d (CloudWatch Logs' longest retention)"
        ));
    }
    Ok(secs)
}

pub async fn run(g: &Global, out: &Printer, a: &LogsArgs) -> Result<()> {
    let config = super::load_config(g, Overrides::default())?;
    let clients = aws::connect(config.region.as_deref()).await?;
    if a.boot {
        return boot(&clients, out, &config.name).await;
    }
    let group = log_group(&config.name);
    if logs::group(&clients, &group).await?.is_none() {
        bail!(
            "deployment `{}` has no CloudWatch Logs group {group} in {} (not deployed, made before \
             broker logs went to CloudWatch, or log_retention_days: 0); `skiff logs --boot` shows \
             the instance's console",
            config.name,
            clients.region
        );
    }
    let max = a.lines as usize;
    let start_ms = (age::now_s() - a.since as i64) * 1000;
    let read = logs::lines(&clients, &group, start_ms, max).await?;
    if read.older_left_out > 0 {
        out.info(format!(
            "({} older lines left out; --lines or a shorter --since shows others)",
            read.older_left_out
        ));
    }
    if read.lines.is_empty() && !a.follow {
        out.out(format!(
            "no broker log lines in {group} since {} ago (a new instance sends its first lines once \
             the broker starts; `skiff logs --boot` shows the boot)",
            age::short(a.since as i64)
        ));
    }
    print(out, &read.lines);
    if read.newer_not_read {
        out.warn(format!(
            "stopped after {} pages; newer lines were not read: use a shorter --since",
            logs::MAX_PAGES
        ));
    }
    if !a.follow {
        return Ok(());
    }
    follow(g, out, &clients, &group, read.lines, max).await
}

fn print(out: &Printer, lines: &[logs::Line]) {
    for l in lines {
        out.out(format!("{} {}", stamp_ms(l.timestamp), l.message));
    }
}

/// `2026-12-01T05:51:58.123Z`.
fn stamp_ms(ms: i64) -> String {
    let t = age::rfc3339(ms.div_euclid(1000));
    format!("{}.{:03}Z", t.trim_end_matches('Z'), ms.rem_euclid(1000))
}

/// Polls for lines newer than the last one printed until Ctrl-C. Lines
/// with the same timestamp as the last one are told apart by event id.
async fn follow(
    g: &Global,
    out: &Printer,
    clients: &Clients,
    group: &str,
    printed: Vec<logs::Line>,
    max: usize,
) -> Result<()> {
    let mut last = printed
        .last()
        .map(|l| l.timestamp)
        .unwrap_or_else(|| age::now_s() * 1000);
    let mut seen: HashSet<String> = printed
        .iter()
        .filter(|l| l.timestamp == last)
        .map(|l| l.event_id.clone())
        .collect();
    let interval = Duration::from_secs(g.hooks.follow_interval);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
        let read = match logs::lines(clients, group, last, max).await {
            Ok(r) => r,
            Err(e) => {
                out.warn(format!("{e}; trying again in {} s", interval.as_secs()));
                continue;
            }
        };
        let new: Vec<logs::Line> = read
            .lines
            .into_iter()
            .filter(|l| l.timestamp > last || !seen.contains(&l.event_id))
            .collect();
        if let Some(newest) = new.last().map(|l| l.timestamp) {
            if newest > last {
                seen.clear();
                last = newest;
            }
            seen.extend(
                new.iter()
                    .filter(|l| l.timestamp == last)
                    .map(|l| l.event_id.clone()),
            );
            print(out, &new);
        }
    }
}

/// The console output of the deployment's instance.
async fn boot(clients: &Clients, out: &Printer, name: &str) -> Result<()> {
    let inventory = Inventory::load(clients, name).await?;
    let Some(instance) = inventory.instance() else {
        bail!(
            "deployment `{name}` has no instance in {}; run `skiff up` first",
            clients.region
        );
    };
    let text = crate::aws::console::output(clients, &instance.id).await?;
    if text.trim().is_empty() {
        out.out(format!(
            "no console output yet for {} (AWS publishes it a few minutes after boot); try again shortly",
            instance.id
        ));
    } else {
        out.out(format!(
            "console output of {} ({}):",
            instance.id,
            instance.state.as_str()
        ));
        out.out(text.strip_suffix('\n').unwrap_or(&text));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_bounded_and_stamps_have_milliseconds() {
        assert_eq!(parse_since("1h"), Ok(3600));
        assert_eq!(parse_since("3653d"), Ok(3653 * 86_400));
        for bad in ["0s", "3654d", "soon", "-1h", ""] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
        assert_eq!(stamp_ms(1_796_104_319_349), "2026-12-01T05:51:59.349Z");
    }
}
