//! An instance's console output (GetConsoleOutput), where cloud-init and
//! Skiff's boot scripts print their progress: read by `skiff logs --boot`
//! and by `up`/`resize` when the broker did not answer in time, to say what
//! step the boot was at.
//!
//! `Latest=true` returns the newest 64 KB on Nitro instances (t3, t3a,
//! t4g); Xen instances (t2) answer `UnsupportedOperation`, and get the
//! default (the output as of the last boot-time snapshot) instead (EC2 API
//! Reference, GetConsoleOutput).

use super::{api, ApiError, Clients};
use base64::Engine;

/// The console text of `instance_id` (empty if AWS has none yet).
pub async fn output(clients: &Clients, instance_id: &str) -> Result<String, ApiError> {
    let console = clients
        .ec2
        .get_console_output()
        .instance_id(instance_id)
        .latest(true)
        .send()
        .await;
    let console = match console {
        Ok(o) => o,
        Err(e) => {
            let e = api("read the console output")(e);
            if !e.code_is("UnsupportedOperation") {
                return Err(e);
            }
            clients
                .ec2
                .get_console_output()
                .instance_id(instance_id)
                .send()
                .await
                .map_err(api("read the console output"))?
        }
    };
    Ok(console
        .output()
        .map(|o| {
            base64::engine::general_purpose::STANDARD
                .decode(o.trim())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|_| o.to_string())
        })
        .unwrap_or_default())
}

/// The last line of `text` that tells a boot step: Skiff's own
/// (`skiff: ...`, from the boot scripts and runcmd) or cloud-init's
/// (`Cloud-init v. ... running 'modules:final'`, its final message, its
/// errors), without the kernel's time stamp; None if there is none.
pub fn boot_step(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .map(clean)
        .find(|l| {
            l.contains("skiff: ")
                || l.contains("Cloud-init v.")
                || l.contains("cloud-init[")
                || l.contains("cloud-init:")
        })
        .map(|l| cut(&l, 240))
}

/// The last non-empty line, for when no step is recognisable.
pub fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .map(clean)
        .find(|l| !l.is_empty())
        .map(|l| cut(&l, 240))
}

/// A console line without control characters and the `[   12.345678] `
/// kernel time stamp.
fn clean(line: &str) -> String {
    let l: String = line
        .chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .collect();
    let l = l.trim();
    let l = match l.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((stamp, rest)) if stamp.trim().parse::<f64>().is_ok() => rest.trim(),
        _ => l,
    };
    l.to_string()
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AL2023: &str = "\
[    8.101] cloud-init[1702]: Cloud-init v. 22.2.2 running 'modules:config' at Wed, 02 Dec 2026 03:00:10 +0000. Up 8.05 seconds.\r
[   12.500] cloud-init[1850]: skiff: cloud-init runcmd starting\r
[   30.000] cloud-init[1850]: skiff: docker-compose installed from SPAL\r
[   31.200] systemd[1]: Started docker.service - Docker Application Container Engine.\r
[   32.000] skiff: pulling ghcr.io/skiff-kafka/skiff-broker:0.1.0\r
[   40.000] random kernel line\r
";

    #[test]
    fn the_last_skiff_or_cloud_init_line_without_its_stamp() {
        assert_eq!(
            boot_step(AL2023).as_deref(),
            Some("skiff: pulling ghcr.io/skiff-kafka/skiff-broker:0.1.0")
        );
        let early = AL2023.lines().take(1).collect::<Vec<_>>().join("\n");
        assert!(boot_step(&early)
            .unwrap()
            .starts_with("cloud-init[1702]: Cloud-init v. 22.2.2 running 'modules:config'"));
    }

    #[test]
    fn no_step_falls_back_to_the_last_line() {
        let text = "Linux version 6.1\nEnabling fast FPU save and restore... done.\n\n";
        assert_eq!(boot_step(text), None);
        assert_eq!(
            last_line(text).as_deref(),
            Some("Enabling fast FPU save and restore... done.")
        );
        assert_eq!(last_line(""), None);
        assert_eq!(
            boot_step(&format!("skiff: {}", "x".repeat(500)))
                .unwrap()
                .len(),
            243
        );
    }
}
