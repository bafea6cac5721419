//! The baselines of instance types (network bandwidth, EBS bandwidth and
//! IOPS) from DescribeInstanceTypes, for the burst buckets of
//! `skiff credits`: one call for a whole family (at most 7 names; the API
//! takes up to 100).

use super::{api, ApiError};
use crate::buckets::Baseline;
use aws_sdk_ec2::types::InstanceType;

/// The baselines of `names`, by type name; a type EC2 does not describe is
/// left out.
pub async fn baselines(
    ec2: &aws_sdk_ec2::Client,
    names: &[&str],
) -> Result<Vec<(String, Baseline)>, ApiError> {
    let out = ec2
        .describe_instance_types()
        .set_instance_types(Some(names.iter().map(|n| InstanceType::from(*n)).collect()))
        .send()
        .await
        .map_err(api("describe the instance types' baselines"))?;
    Ok(out
        .instance_types()
        .iter()
        .filter_map(|t| {
            let name = t.instance_type()?.as_str().to_string();
            let ebs = t.ebs_info().and_then(|e| e.ebs_optimized_info());
            let network = t
                .network_info()
                .and_then(|n| n.network_cards().first())
                .and_then(|c| c.baseline_bandwidth_in_gbps());
            Some((
                name,
                Baseline {
                    network_gbps: network,
                    ebs_mbps: ebs
                        .and_then(|e| e.baseline_bandwidth_in_mbps())
                        .map(f64::from),
                    ebs_iops: ebs.and_then(|e| e.baseline_iops()).map(f64::from),
                },
            ))
        })
        .collect())
}
