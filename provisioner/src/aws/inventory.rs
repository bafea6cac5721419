//! What exists of a deployment right now, found by its tags: security
//! groups, Elastic IPs, instances and volumes.
//!
//! `up` reads it to create only what is missing, `down` to delete what is
//! there, `status` to report, `--dry-run` to plan. All calls here are
//! Describe* calls: building an inventory never changes anything.

use super::{api, tags, ApiError, Clients};
use crate::render::BROKER_PORT;
use aws_sdk_ec2::types::{Filter, InstanceStateName};

/// A Skiff security group and the broker-port CIDRs it allows.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub vpc_id: String,
    /// IPv4 CIDRs allowed on tcp/9092.
    pub broker_cidrs: Vec<String>,
    /// Any ingress rule that is not tcp/9092 from an IPv4 range (drift).
    pub other_rules: usize,
}

/// A Skiff Elastic IP.
#[derive(Debug, Clone, PartialEq)]
pub struct Address {
    pub allocation_id: String,
    pub public_ip: String,
    pub association_id: Option<String>,
    pub instance_id: Option<String>,
}

/// A Skiff instance that is not terminated.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: String,
    pub state: InstanceStateName,
    pub instance_type: String,
    pub image_id: String,
    pub public_ip: Option<String>,
    pub public_dns: Option<String>,
    pub root_device: Option<String>,
}

/// A Skiff EBS volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub id: String,
    pub state: String,
    pub size_gib: i32,
    pub attached_to: Option<String>,
    /// Preserved by `down --keep-data`.
    pub kept: bool,
}

/// Everything of one deployment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    pub security_groups: Vec<SecurityGroup>,
    pub addresses: Vec<Address>,
    pub instances: Vec<Instance>,
    pub volumes: Vec<Volume>,
}

impl Inventory {
    /// Nothing of the deployment exists (kept volumes do not count).
    pub fn is_empty(&self) -> bool {
        self.security_groups.is_empty()
            && self.addresses.is_empty()
            && self.instances.is_empty()
            && self.volumes.iter().all(|v| v.kept)
    }

    /// The instance `up` manages: the first running or starting one,
    /// else any live one.
    pub fn instance(&self) -> Option<&Instance> {
        self.instances
            .iter()
            .find(|i| {
                matches!(
                    i.state,
                    InstanceStateName::Running | InstanceStateName::Pending
                )
            })
            .or_else(|| {
                self.instances.iter().find(|i| {
                    matches!(
                        i.state,
                        InstanceStateName::Stopped | InstanceStateName::Stopping
                    )
                })
            })
    }

    /// Loads the inventory of deployment `name`.
    pub async fn load(clients: &Clients, name: &str) -> Result<Inventory, ApiError> {
        Ok(Inventory {
            security_groups: security_groups(clients, name).await?,
            addresses: addresses(clients, name).await?,
            instances: instances(clients, name).await?,
            volumes: volumes(clients, name).await?,
        })
    }
}

async fn security_groups(c: &Clients, name: &str) -> Result<Vec<SecurityGroup>, ApiError> {
    let out = c
        .ec2
        .describe_security_groups()
        .set_filters(Some(tags::filters(name)))
        .send()
        .await
        .map_err(api("describe security groups"))?;
    Ok(out
        .security_groups()
        .iter()
        .map(|g| {
            let mut broker_cidrs = Vec::new();
            let mut other_rules = 0;
            for p in g.ip_permissions() {
                let is_broker = p.ip_protocol() == Some("tcp")
                    && p.from_port() == Some(i32::from(BROKER_PORT))
                    && p.to_port() == Some(i32::from(BROKER_PORT));
                if is_broker {
                    broker_cidrs.extend(
                        p.ip_ranges()
                            .iter()
                            .filter_map(|r| r.cidr_ip().map(str::to_string)),
                    );
                    other_rules += p.ipv6_ranges().len()
                        + p.user_id_group_pairs().len()
                        + p.prefix_list_ids().len();
                } else {
                    other_rules += 1;
                }
            }
            broker_cidrs.sort();
            SecurityGroup {
                id: g.group_id().unwrap_or_default().to_string(),
                name: g.group_name().unwrap_or_default().to_string(),
                vpc_id: g.vpc_id().unwrap_or_default().to_string(),
                broker_cidrs,
                other_rules,
            }
        })
        .collect())
}

async fn addresses(c: &Clients, name: &str) -> Result<Vec<Address>, ApiError> {
    let out = c
        .ec2
        .describe_addresses()
        .set_filters(Some(tags::filters(name)))
        .send()
        .await
        .map_err(api("describe Elastic IPs"))?;
    Ok(out
        .addresses()
        .iter()
        .map(|a| Address {
            allocation_id: a.allocation_id().unwrap_or_default().to_string(),
            public_ip: a.public_ip().unwrap_or_default().to_string(),
            association_id: a.association_id().map(str::to_string),
            instance_id: a
                .instance_id()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        })
        .collect())
}

async fn instances(c: &Clients, name: &str) -> Result<Vec<Instance>, ApiError> {
    let mut filters = tags::filters(name);
    filters.push(
        Filter::builder()
            .name("instance-state-name")
            .values("pending")
            .values("running")
            .values("stopping")
            .values("stopped")
            .values("shutting-down")
            .build(),
    );
    let out = c
        .ec2
        .describe_instances()
        .set_filters(Some(filters))
        .send()
        .await
        .map_err(api("describe instances"))?;
    let mut found = Vec::new();
    for r in out.reservations() {
        for i in r.instances() {
            let state = i
                .state()
                .and_then(|s| s.name())
                .cloned()
                .unwrap_or(InstanceStateName::Pending);
            if matches!(state, InstanceStateName::Terminated) {
                continue;
            }
            found.push(Instance {
                id: i.instance_id().unwrap_or_default().to_string(),
                state,
                instance_type: i
                    .instance_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                image_id: i.image_id().unwrap_or_default().to_string(),
                public_ip: i.public_ip_address().map(str::to_string),
                public_dns: i
                    .public_dns_name()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                root_device: i.root_device_name().map(str::to_string),
            });
        }
    }
    Ok(found)
}

async fn volumes(c: &Clients, name: &str) -> Result<Vec<Volume>, ApiError> {
    let out = c
        .ec2
        .describe_volumes()
        .set_filters(Some(tags::filters(name)))
        .send()
        .await
        .map_err(api("describe volumes"))?;
    Ok(out
        .volumes()
        .iter()
        .map(|v| Volume {
            id: v.volume_id().unwrap_or_default().to_string(),
            state: v
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            size_gib: v.size().unwrap_or_default(),
            attached_to: v
                .attachments()
                .iter()
                .find_map(|a| a.instance_id().map(str::to_string)),
            kept: tags::has(v.tags(), tags::KEPT_KEY),
        })
        .collect())
}
