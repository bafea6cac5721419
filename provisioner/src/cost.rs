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

/// A monthly estimate, in USD.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub instance_type: &'static str,
    pub instance: f64,
    pub volume_gib: u32,
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
            volume: f64::from(volume_gib) * GP3_USD_PER_GIB_MONTH,
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
            "  gp3 volume {:>4} GiB   ${:>7.2}",
            self.volume_gib, self.volume
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance_types::lookup;

    #[test]
    fn t3_micro_default_estimate() {
        let e = Estimate::new(lookup("t3.micro").unwrap(), 8, false);
        assert!((e.instance - 7.592).abs() < 1e-9);
        assert!((e.volume - 0.64).abs() < 1e-9);
        assert!((e.public_ipv4 - 3.65).abs() < 1e-9);
        assert!((e.total() - 11.882).abs() < 1e-9);
        let text = e.to_string();
        assert!(text.contains("$  11.88"), "{text}");
        assert!(!text.contains("unlimited"));
    }

    #[test]
    fn unlimited_is_flagged() {
        let e = Estimate::new(lookup("t4g.small").unwrap(), 30, true);
        assert!(e.to_string().contains("unlimited credit mode"));
    }
}
