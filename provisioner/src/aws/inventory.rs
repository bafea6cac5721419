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
    /// Its `skiff:launch` tag: the hash of what it was launched with. None
    /// on instances made before data volumes (data on the root volume).
    pub launch_hash: Option<String>,
    /// Its `skiff:image` tag: the broker image it was launched with.
    pub image: Option<String>,
    /// Availability Zone.
    pub zone: String,
    pub subnet_id: Option<String>,
    /// The instance profile, if any.
    pub profile_arn: Option<String>,
    /// EBS volumes by device name, with DeleteOnTermination.
    pub block_devices: Vec<BlockDevice>,
}

/// One EBS volume of an instance's block device mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockDevice {
    pub device: String,
    pub volume_id: String,
    pub delete_on_termination: bool,
}

impl Instance {
    /// Made before data volumes: its data is on its root volume.
    pub fn is_legacy(&self) -> bool {
        self.launch_hash.is_none()
    }

    pub fn is_up(&self) -> bool {
        matches!(
            self.state,
            InstanceStateName::Running | InstanceStateName::Pending
        )
    }
}

/// A Skiff EBS volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub id: String,
    pub state: String,
    pub size_gib: i32,
    pub attached_to: Option<String>,
    /// Preserved by `down --keep-data` (or by a `restore`).
    pub kept: bool,
    /// `skiff:role`: `data` for the broker's data volume.
    pub role: Option<String>,
    pub zone: String,
    /// Seconds since the epoch (0 if unknown), to pick the newest kept one.
    pub created: i64,
    /// `skiff:backup-schedule`, on a data volume with a lifecycle policy.
    pub schedule: Option<String>,
}

impl Volume {
    pub fn is_data(&self) -> bool {
        self.role.as_deref() == Some(tags::ROLE_DATA)
    }
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

    /// The deployment's data volume: the one that is not kept (there is
    /// at most one; if a crash left two, the attached one, else the newest).
    pub fn data_volume(&self) -> Option<&Volume> {
        let mut live: Vec<&Volume> = self
            .volumes
            .iter()
            .filter(|v| v.is_data() && !v.kept)
            .collect();
        live.sort_by_key(|v| (v.attached_to.is_some(), v.created));
        live.last().copied()
    }

    /// Data volumes kept by `down --keep-data` or a `restore`, newest first.
    pub fn kept_data_volumes(&self) -> Vec<&Volume> {
        let mut kept: Vec<&Volume> = self
            .volumes
            .iter()
            .filter(|v| v.is_data() && v.kept)
            .collect();
        kept.sort_by_key(|v| std::cmp::Reverse(v.created));
        kept
    }

    /// The instance the commands look at: the running one holding the
    /// data volume, else the first running or starting one, else any live
    /// one. (During a replacement there may be two.)
    pub fn instance(&self) -> Option<&Instance> {
        let holder = self.data_volume().and_then(|v| v.attached_to.as_deref());
        self.instances
            .iter()
            .find(|i| i.is_up() && Some(i.id.as_str()) == holder)
            .or_else(|| self.instances.iter().find(|i| i.is_up()))
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
                launch_hash: tags::get(i.tags(), tags::LAUNCH_KEY).map(str::to_string),
                image: tags::get(i.tags(), tags::IMAGE_KEY).map(str::to_string),
                zone: i
                    .placement()
                    .and_then(|p| p.availability_zone())
                    .unwrap_or_default()
                    .to_string(),
                subnet_id: i.subnet_id().map(str::to_string),
                profile_arn: i
                    .iam_instance_profile()
                    .and_then(|p| p.arn())
                    .map(str::to_string),
                block_devices: i
                    .block_device_mappings()
                    .iter()
                    .filter_map(|m| {
                        let ebs = m.ebs()?;
                        Some(BlockDevice {
                            device: m.device_name().unwrap_or_default().to_string(),
                            volume_id: ebs.volume_id()?.to_string(),
                            delete_on_termination: ebs.delete_on_termination().unwrap_or(false),
                        })
                    })
                    .collect(),
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
            role: tags::get(v.tags(), tags::ROLE_KEY).map(str::to_string),
            zone: v.availability_zone().unwrap_or_default().to_string(),
            created: v.create_time().map(|t| t.secs()).unwrap_or(0),
            schedule: tags::get(v.tags(), tags::SCHEDULE_KEY).map(str::to_string),
        })
        .collect())
}
