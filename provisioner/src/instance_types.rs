//! The burstable instance types Skiff deploys on (t2, t3, t3a, t4g): vCPUs,
//! memory, baseline, CPU credits earned per hour, the maximum balance, the
//! architecture (which AMI to use) and the on-demand price.
//!
//! A static table rather than a `DescribeInstanceTypes` call: `skiff up
//! --dry-run`, config validation and the cost estimate must work before any
//! AWS call, and the credit figures are not in that API at all. The figures
//! are from the EC2 burstable-performance tables; prices are us-east-1 Linux
//! on-demand (other regions differ by a few percent, the estimate says so).
//! The later `credits` and `resize` commands read the same table.

/// CPU architecture of an instance type, which decides the AMI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Arm64,
}

impl Arch {
    /// The suffix of the Amazon Linux 2023 SSM parameter for this arch.
    pub fn ssm_suffix(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The name EC2 uses in `DescribeImages` (`Architecture`).
    pub fn ec2_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstanceType {
    pub name: &'static str,
    pub vcpus: u32,
    pub memory_gib: f64,
    /// Baseline utilisation per vCPU, in percent.
    pub baseline_pct: f64,
    /// CPU credits earned per hour (one credit = one vCPU at 100% for a minute).
    pub credits_per_hour: f64,
    /// Maximum credits an instance can accrue.
    pub max_credits: f64,
    pub arch: Arch,
    /// On-demand price in USD per hour (us-east-1, Linux).
    pub usd_per_hour: f64,
}

/// The families accepted, for error messages.
pub const FAMILIES: &[&str] = &["t2", "t3", "t3a", "t4g"];

/// The sizes accepted in every family, for error messages.
pub const SIZES: &[&str] = &[
    "nano", "micro", "small", "medium", "large", "xlarge", "2xlarge",
];

macro_rules! t {
    ($name:expr, $vcpu:expr, $mem:expr, $base:expr, $cph:expr, $max:expr, $arch:ident, $price:expr) => {
        InstanceType {
            name: $name,
            vcpus: $vcpu,
            memory_gib: $mem,
            baseline_pct: $base,
            credits_per_hour: $cph,
            max_credits: $max,
            arch: Arch::$arch,
            usd_per_hour: $price,
        }
    };
}

/// Every supported type.
pub const TABLE: &[InstanceType] = &[
    t!("t3.nano", 2, 0.5, 5.0, 6.0, 144.0, X86_64, 0.0052),
    t!("t3.micro", 2, 1.0, 10.0, 12.0, 288.0, X86_64, 0.0104),
    t!("t3.small", 2, 2.0, 20.0, 24.0, 576.0, X86_64, 0.0208),
    t!("t3.medium", 2, 4.0, 20.0, 24.0, 576.0, X86_64, 0.0416),
    t!("t3.large", 2, 8.0, 30.0, 36.0, 864.0, X86_64, 0.0832),
    t!("t3.xlarge", 4, 16.0, 40.0, 96.0, 2304.0, X86_64, 0.1664),
    t!("t3.2xlarge", 8, 32.0, 40.0, 192.0, 4608.0, X86_64, 0.3328),
    t!("t3a.nano", 2, 0.5, 5.0, 6.0, 144.0, X86_64, 0.0047),
    t!("t3a.micro", 2, 1.0, 10.0, 12.0, 288.0, X86_64, 0.0094),
    t!("t3a.small", 2, 2.0, 20.0, 24.0, 576.0, X86_64, 0.0188),
    t!("t3a.medium", 2, 4.0, 20.0, 24.0, 576.0, X86_64, 0.0376),
    t!("t3a.large", 2, 8.0, 30.0, 36.0, 864.0, X86_64, 0.0752),
    t!("t3a.xlarge", 4, 16.0, 40.0, 96.0, 2304.0, X86_64, 0.1504),
    t!("t3a.2xlarge", 8, 32.0, 40.0, 192.0, 4608.0, X86_64, 0.3008),
    t!("t4g.nano", 2, 0.5, 5.0, 6.0, 144.0, Arm64, 0.0042),
    t!("t4g.micro", 2, 1.0, 10.0, 12.0, 288.0, Arm64, 0.0084),
    t!("t4g.small", 2, 2.0, 20.0, 24.0, 576.0, Arm64, 0.0168),
    t!("t4g.medium", 2, 4.0, 20.0, 24.0, 576.0, Arm64, 0.0336),
    t!("t4g.large", 2, 8.0, 30.0, 36.0, 864.0, Arm64, 0.0672),
    t!("t4g.xlarge", 4, 16.0, 40.0, 96.0, 2304.0, Arm64, 0.1344),
    t!("t4g.2xlarge", 8, 32.0, 40.0, 192.0, 4608.0, Arm64, 0.2688),
    t!("t2.nano", 1, 0.5, 5.0, 3.0, 72.0, X86_64, 0.0058),
    t!("t2.micro", 1, 1.0, 10.0, 6.0, 144.0, X86_64, 0.0116),
    t!("t2.small", 1, 2.0, 20.0, 12.0, 288.0, X86_64, 0.023),
    t!("t2.medium", 2, 4.0, 20.0, 24.0, 576.0, X86_64, 0.0464),
    t!("t2.large", 2, 8.0, 30.0, 36.0, 864.0, X86_64, 0.0928),
    t!("t2.xlarge", 4, 16.0, 22.5, 54.0, 1296.0, X86_64, 0.1856),
    t!("t2.2xlarge", 8, 32.0, 17.0, 81.0, 1944.0, X86_64, 0.3712),
];

/// Looks a type up by its exact name (`t3.micro`).
pub fn lookup(name: &str) -> Option<&'static InstanceType> {
    TABLE.iter().find(|t| t.name == name)
}

/// "t2, t3, t3a, t4g (nano, micro, ... 2xlarge), e.g. t3.micro", for errors.
pub fn accepted_description() -> String {
    format!(
        "a burstable type {}.<size> with size one of {} (e.g. t3.micro, t4g.small)",
        FAMILIES.join("|"),
        SIZES.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_every_size() {
        for f in FAMILIES {
            for s in SIZES {
                let name = format!("{f}.{s}");
                assert!(lookup(&name).is_some(), "{name} missing");
            }
        }
        assert_eq!(TABLE.len(), FAMILIES.len() * SIZES.len());
    }

    #[test]
    fn t3_micro_matches_the_notes() {
        let t = lookup("t3.micro").unwrap();
        assert_eq!(
            (t.vcpus, t.credits_per_hour, t.max_credits),
            (2, 12.0, 288.0)
        );
        assert_eq!(t.arch, Arch::X86_64);
        assert_eq!(lookup("t4g.micro").unwrap().arch, Arch::Arm64);
        assert!(lookup("m5.large").is_none());
    }

    #[test]
    fn max_credits_is_24_hours_of_earning() {
        for t in TABLE {
            assert_eq!(t.max_credits, t.credits_per_hour * 24.0, "{}", t.name);
        }
    }
}
