//! The checks and the before/after comparison of `skiff resize`, without
//! AWS: the target must be a burstable type skiff knows, of the same
//! architecture as the instance's AMI (an x86_64 image cannot boot on a
//! Graviton t4g, and the root volume holds the broker's data, so a resize
//! never changes the image).

use crate::cost::Estimate;
use crate::instance_types::{self, Arch, InstanceType};

/// Why a resize is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResizeError {
    #[error(
        "`{target}` is not a type skiff can resize to; accepted: {}",
        instance_types::accepted_description()
    )]
    Unknown { target: String },
    #[error(
        "cannot resize {instance_id} from {current} to {target}: its image {ami} is {ami_arch} \
         and {target} needs {target_arch}. Pick a {ami_arch} type ({families}), or deploy \
         {target} as a new deployment (`skiff --name NEW up --instance-type {target}`) and move \
         the data"
    )]
    Architecture {
        instance_id: String,
        current: String,
        target: String,
        ami: String,
        ami_arch: &'static str,
        target_arch: &'static str,
        families: String,
    },
}

/// The families whose types run on `arch`.
fn families(arch: Arch) -> String {
    let mut f: Vec<&str> = instance_types::TABLE
        .iter()
        .filter(|t| t.arch == arch)
        .map(|t| t.name.split('.').next().unwrap_or(t.name))
        .collect();
    f.dedup();
    f.join(", ")
}

/// Checks `target` against the instance's image architecture.
pub fn validate(
    target: &str,
    instance_id: &str,
    current: &str,
    ami: &str,
    ami_arch: Arch,
) -> Result<&'static InstanceType, Box<ResizeError>> {
    let t = instance_types::lookup(target).ok_or_else(|| ResizeError::Unknown {
        target: target.to_string(),
    })?;
    if t.arch != ami_arch {
        return Err(Box::new(ResizeError::Architecture {
            instance_id: instance_id.to_string(),
            current: current.to_string(),
            target: target.to_string(),
            ami: ami.to_string(),
            ami_arch: ami_arch.ec2_name(),
            target_arch: t.arch.ec2_name(),
            families: families(ami_arch),
        }));
    }
    Ok(t)
}

/// The before/after table: vCPU, memory, baseline, credits, monthly cost
/// (at `region`'s prices, data transfer at the default rate).
pub fn comparison(
    from: &InstanceType,
    to: &InstanceType,
    region: &str,
    volume_gib: u32,
    unlimited: bool,
) -> String {
    let cost = |t: &InstanceType| {
        Estimate::with(
            t,
            &crate::cost::Inputs {
                region,
                volume_gib,
                unlimited,
                ..Default::default()
            },
        )
        .total()
    };
    let rows = [
        ("", from.name.to_string(), to.name.to_string()),
        ("vCPU", from.vcpus.to_string(), to.vcpus.to_string()),
        (
            "memory",
            format!("{} GiB", from.memory_gib),
            format!("{} GiB", to.memory_gib),
        ),
        (
            "baseline",
            format!("{}% per vCPU", from.baseline_pct),
            format!("{}% per vCPU", to.baseline_pct),
        ),
        (
            "credits/h",
            format!("{}", from.credits_per_hour),
            format!("{}", to.credits_per_hour),
        ),
        (
            "max credits",
            format!("{}", from.max_credits),
            format!("{}", to.max_credits),
        ),
        (
            "monthly cost",
            format!("${:.2}", cost(from)),
            format!("${:.2}", cost(to)),
        ),
    ];
    rows.iter()
        .map(|(k, a, b)| format!("  {k:<13} {a:<14} {b}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_arch_passes_other_arch_is_refused_naming_both() {
        assert_eq!(
            validate("t3.small", "i-1", "t3.micro", "ami-1", Arch::X86_64)
                .unwrap()
                .name,
            "t3.small"
        );
        let e = validate("t4g.micro", "i-1", "t3.micro", "ami-1", Arch::X86_64)
            .unwrap_err()
            .to_string();
        for want in ["t3.micro", "t4g.micro", "x86_64", "arm64", "ami-1", "t3a"] {
            assert!(e.contains(want), "{want}: {e}");
        }
        let e = validate("m5.large", "i-1", "t3.micro", "ami-1", Arch::X86_64).unwrap_err();
        assert!(matches!(*e, ResizeError::Unknown { .. }));
    }

    #[test]
    fn comparison_shows_both_columns() {
        let t = comparison(
            instance_types::lookup("t3.micro").unwrap(),
            instance_types::lookup("t3.small").unwrap(),
            "us-east-1",
            8,
            false,
        );
        assert!(t.contains("t3.micro") && t.contains("t3.small"), "{t}");
        assert!(t.contains("$12.52"), "{t}");
        // eu-west-1's prices: 8.322 + 1.408 + 3.65.
        let t = comparison(
            instance_types::lookup("t3.micro").unwrap(),
            instance_types::lookup("t3.small").unwrap(),
            "eu-west-1",
            8,
            false,
        );
        assert!(t.contains("$13.38"), "{t}");
        assert!(t.contains("credits/h     12             24"), "{t}");
    }
}
