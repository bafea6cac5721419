//! SDK clients on moto, for reading back what `skiff` made, and the counts
//! of the resources the tests compare.

use super::moto::Moto;
use aws_sdk_ec2::types::{Filter, InstanceStateName};

/// The SDK config for moto.
pub async fn sdk(moto: &Moto) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto.url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// An EC2 client on moto, for reading resources back.
pub async fn ec2(moto: &Moto) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk(moto).await)
}

/// A CloudWatch client on moto.
pub async fn cloudwatch(moto: &Moto) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&sdk(moto).await)
}

/// An SNS client on moto.
pub async fn sns(moto: &Moto) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(&sdk(moto).await)
}

/// An IAM client on moto.
pub async fn iam(moto: &Moto) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&sdk(moto).await)
}

/// A CloudWatch Logs client on moto.
pub async fn logs(moto: &Moto) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(&sdk(moto).await)
}

/// An SSM client on moto.
pub async fn ssm(moto: &Moto) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&sdk(moto).await)
}

pub fn tag_filter() -> Filter {
    Filter::builder()
        .name("tag:managed-by")
        .values("skiff")
        .build()
}

fn live(i: &&aws_sdk_ec2::types::Instance) -> bool {
    i.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated)
}

/// The id of the one Skiff instance that is not terminated.
pub async fn instance_id(ec2: &aws_sdk_ec2::Client) -> String {
    ec2.describe_instances()
        .filters(tag_filter())
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find(live)
        .and_then(|i| i.instance_id())
        .expect("a skiff instance")
        .to_string()
}

/// Counts of Skiff-tagged live resources: (security groups, addresses,
/// non-terminated instances, volumes).
pub async fn tagged_counts(ec2: &aws_sdk_ec2::Client) -> (usize, usize, usize, usize) {
    let sgs = ec2
        .describe_security_groups()
        .filters(tag_filter())
        .send()
        .await
        .unwrap()
        .security_groups()
        .len();
    let addrs = ec2
        .describe_addresses()
        .filters(tag_filter())
        .send()
        .await
        .unwrap()
        .addresses()
        .len();
    let instances = ec2
        .describe_instances()
        .filters(tag_filter())
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(live)
        .count();
    let vols = ec2
        .describe_volumes()
        .filters(tag_filter())
        .send()
        .await
        .unwrap()
        .volumes()
        .len();
    (sgs, addrs, instances, vols)
}

/// Counts of *all* resources, tagged or not: (security groups, addresses,
/// instances, volumes).
pub async fn all_counts(ec2: &aws_sdk_ec2::Client) -> (usize, usize, usize, usize) {
    let sgs = ec2
        .describe_security_groups()
        .send()
        .await
        .unwrap()
        .security_groups()
        .len();
    let addrs = ec2
        .describe_addresses()
        .send()
        .await
        .unwrap()
        .addresses()
        .len();
    let instances = ec2
        .describe_instances()
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .map(|r| r.instances().len())
        .sum();
    let vols = ec2.describe_volumes().send().await.unwrap().volumes().len();
    (sgs, addrs, instances, vols)
}

/// The Skiff volumes tagged `skiff:role=data`, newest last.
pub async fn data_volumes(ec2: &aws_sdk_ec2::Client) -> Vec<aws_sdk_ec2::types::Volume> {
    let mut v: Vec<_> = ec2
        .describe_volumes()
        .filters(tag_filter())
        .filters(
            Filter::builder()
                .name("tag:skiff:role")
                .values("data")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .volumes()
        .to_vec();
    v.sort_by_key(|v| v.create_time().map(|t| t.as_nanos()).unwrap_or(0));
    v
}

/// The deployment's data volume (the one not tagged as kept).
pub async fn data_volume(ec2: &aws_sdk_ec2::Client) -> aws_sdk_ec2::types::Volume {
    data_volumes(ec2)
        .await
        .into_iter()
        .rev()
        .find(|v| !v.tags().iter().any(|t| t.key() == Some("skiff:kept")))
        .expect("a data volume")
}

/// (IAM roles, instance profiles, log groups) of Skiff's making.
pub async fn role_profile_logs(moto: &Moto) -> (usize, usize, usize) {
    let iam = iam(moto).await;
    let roles = iam
        .list_roles()
        .path_prefix("/skiff/")
        .send()
        .await
        .unwrap()
        .roles()
        .len();
    let profiles = iam
        .list_instance_profiles()
        .path_prefix("/skiff/")
        .send()
        .await
        .unwrap()
        .instance_profiles()
        .len();
    let groups = logs(moto)
        .await
        .describe_log_groups()
        .log_group_name_prefix("/skiff/")
        .send()
        .await
        .unwrap()
        .log_groups()
        .len();
    (roles, profiles, groups)
}
