//! The monthly cost estimate `up` and `up --dry-run` print: instance hours,
//! the gp3 root volume and the public IPv4 address (Elastic IPs are billed
//! since 2024-02-01). Pure arithmetic on the instance-type table, so it is
//! the same before and after a deployment and testable without AWS.

use crate::instance_types::InstanceType;
use std::fmt;

/// Hours in the month AWS bills by (365 * 24 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;
/// gp3 storage, USD per GiB-month (us-east-1).
pub const GP3_USD_PER_GIB_MONTH: f64 = 0.08;
/// Public IPv4 address (Elastic IP included), USD per hour.
pub const PUBLIC_IPV4_USD_PER_HOUR: f64 = 0.005;
/// EBS snapshot storage (standard tier), USD per GiB-month (us-east-1).
pub const SNAPSHOT_USD_PER_GIB_MONTH: f64 = 0.05;
/// CloudWatch Logs: ingestion per GB and storage per GB-month (us-east-1);
/// the first 5 GB a month are free.
pub const LOGS_USD_PER_GB_INGESTED: f64 = 0.50;
/// The root volume's size (the Amazon Linux 2023 image's).
pub const ROOT_GIB: u32 = 8;

/// A monthly estimate, in USD.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub instance_type: &'static str,
    pub instance: f64,
    /// The data volume; the root volume is [`ROOT_GIB`].
    pub volume_gib: u32,
    /// Both volumes.
    pub volume: f64,
    pub public_ipv4: f64,
    pub unlimited: bool,
}

impl Estimate {
    pub fn new(t: &InstanceType, volume_gib: u32, unlimited: bool) -> Estimate {
        Estimate {
            instance_type: t.name,
            instance: t.usd_per_hour * HOURS_PER_MONTH,
            volume_gib,
            volume: f64::from(ROOT_GIB + volume_gib) * GP3_USD_PER_GIB_MONTH,
            public_ipv4: PUBLIC_IPV4_USD_PER_HOUR * HOURS_PER_MONTH,
            unlimited,
        }
    }

    pub fn total(&self) -> f64 {
        self.instance + self.volume + self.public_ipv4
    }
}

impl fmt::Display for Estimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Estimated monthly cost (on-demand, us-east-1 prices):")?;
        writeln!(
            f,
            "  instance {:<12} ${:>7.2}",
            self.instance_type, self.instance
        )?;
        writeln!(
            f,
            "  gp3 volumes {:>4} GiB   ${:>7.2}   ({ROOT_GIB} GiB root + {} GiB data)",
            ROOT_GIB + self.volume_gib,
            self.volume,
            self.volume_gib
        )?;
        writeln!(f, "  public IPv4 (EIP)     ${:>7.2}", self.public_ipv4)?;
        writeln!(f, "  total                 ${:>7.2}", self.total())?;
        write!(
            f,
            "  (free-tier accounts may pay nothing for eligible instance hours and 30 GiB of storage"
        )?;
        if self.unlimited {
            write!(
                f,
                ";\n   unlimited credit mode: CPU use above baseline is billed extra"
            )?;
        }
        write!(f, ")")
    }
}

/// What snapshots of `gib` GiB may cost a month, at most: the first one
/// stores the volume's used blocks, later ones only the blocks that
/// changed since, so `n` of them usually cost far less than `n` copies.
pub fn snapshots_usd(n: u32, gib: i32) -> f64 {
    f64::from(n) * f64::from(gib.max(0)) * SNAPSHOT_USD_PER_GIB_MONTH
}

/// The cost line of the broker's logs in CloudWatch Logs.
pub fn logs_line(retention_days: u32) -> String {
    format!(
        "  CloudWatch Logs: ${LOGS_USD_PER_GB_INGESTED:.2} per GB of broker log lines after the first 5 GB a month \
         (kept {retention_days} days); a broker at RUST_LOG=info writes a few MB"
    )
}

/// The cost line of one backup of a `gib` GiB volume.
pub fn snapshot_line(gib: i32) -> String {
    format!(
        "snapshot storage costs ${SNAPSHOT_USD_PER_GIB_MONTH:.2} per GiB-month (us-east-1): at most ${:.2}/month for this {gib} GiB volume, less when it is not full (only used blocks are stored; later snapshots store only what changed)",
        snapshots_usd(1, gib)
    )
}

/// The cost line of a schedule keeping `keep` snapshots of `gib` GiB.
pub fn schedule_line(keep: u32, gib: i32) -> String {
    format!(
        "snapshot storage ${SNAPSHOT_USD_PER_GIB_MONTH:.2}/GiB-month: at most ${:.2}/month for {keep} of {gib} GiB, usually little more than one copy (incremental)",
        snapshots_usd(keep, gib)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance_types::lookup;

    #[test]
    fn t3_micro_default_estimate() {
        let e = Estimate::new(lookup("t3.micro").unwrap(), 8, false);
        assert!((e.instance - 7.592).abs() < 1e-9);
        // 8 GiB root + 8 GiB data.
        assert!((e.volume - 1.28).abs() < 1e-9);
        assert!((e.public_ipv4 - 3.65).abs() < 1e-9);
        assert!((e.total() - 12.522).abs() < 1e-9);
        let text = e.to_string();
        assert!(text.contains("$  12.52"), "{text}");
        assert!(
            text.contains("gp3 volumes   16 GiB   $   1.28   (8 GiB root + 8 GiB data)"),
            "{text}"
        );
        assert!(!text.contains("unlimited"));
    }

    #[test]
    fn snapshot_costs() {
        assert!((snapshots_usd(7, 8) - 2.8).abs() < 1e-9);
        assert!(
            snapshot_line(8).contains("$0.40/month"),
            "{}",
            snapshot_line(8)
        );
        assert!(schedule_line(7, 8).contains("$2.80/month for 7 of 8 GiB"));
    }

    #[test]
    fn unlimited_is_flagged() {
        let e = Estimate::new(lookup("t4g.small").unwrap(), 30, true);
        assert!(e.to_string().contains("unlimited credit mode"));
    }
}
