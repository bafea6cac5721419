//! `up` step 6: the instance that runs the broker. Its launch inputs (the
//! rendered user data: image, settings, address, data volume, log group;
//! and the instance profile) are hashed into its `skiff:launch` tag (the
//! hash, never the contents: user data may hold settings). An instance
//! whose hash is what `up` would launch now is the one to keep (started if
//! stopped); if there is none, a new one is launched and the flow's later
//! steps move the data volume and the address to it and terminate the
//! old one (a replacement). An instance without the tag was made before
//! data volumes: its data is on its root volume, so it is never replaced.
//!
//! Launched with the settings a free-tier broker needs: the credit mode set
//! *at launch* (the configured one; a T3/T3a/T4g configured `standard`
//! boots `unlimited` when `up` waits for the broker, which then switches it
//! to `standard`: see [`first_boot_unlimited`]), IMDSv2
//! required with hop limit 2 (containers can still reach it), an 8 GiB
//! encrypted gp3 root volume (disposable: the data is on the data volume),
//! in the data volume's zone, with the instance profile of `access`, tags
//! on the instance, its root volume and its network interface, the user
//! data (base64: the SDK does not encode it), the latest AMI, and a client
//! token per deployment generation and launch hash, so a retried launch
//! returns the first instance instead of starting a second one.

use super::access::Access;
use super::data_volume::DataVolume;
use super::power;
use crate::aws::inventory::{Address, Instance, Inventory};
use crate::aws::{api, tags, Clients};
use crate::config::Config;
use crate::printer::Progress;
use crate::render::{Bundle, DataVolumeId, Target};
use crate::runner::{Impact, Outcome};
use anyhow::{bail, Context, Result};
use aws_sdk_ec2::types::{
    BlockDeviceMapping, CreditSpecificationRequest, EbsBlockDevice, HttpTokensState,
    IamInstanceProfileSpecification, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceStateName, InstanceType, ResourceType, VolumeType,
};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// Size of the root volume: the AL2023 image's own (it holds the OS, Docker
/// and the broker image; the data is on the data volume).
pub const ROOT_VOLUME_GIB: i32 = 8;
/// Version of the launch inputs' hash: raise it when a launch setting that
/// is not in the user data changes, so `up` replaces older instances.
const LAUNCH_VERSION: &str = "skiff-launch-1";
/// How long a new instance profile may take to be usable by RunInstances
/// (IAM is eventually consistent: "Invalid IAM Instance Profile name").
const PROFILE_PROPAGATION: Duration = Duration::from_secs(90);

/// How long to wait for `running` after a launch or start.
const RUNNING_TIMEOUT: Duration = Duration::from_secs(300);

/// FNV-1a, 64 bit: a stable hash for the client token (std's hasher is
/// not guaranteed stable across Rust releases).
fn fnv1a(data: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The RunInstances client token: the same for every retry of one
/// deployment (same name, security group and Elastic IP), different after
/// a `down` (new group and address), at most 64 ASCII characters.
pub fn client_token(name: &str, sg_id: &str, allocation_id: &str, attempt: u32) -> String {
    let h = fnv1a(&format!("{name}|{sg_id}|{allocation_id}|{attempt}"));
    format!("skiff-{}-{h:016x}", &name[..name.len().min(32)])
}

/// The hash of an instance's launch inputs: the user data and the
/// instance profile (32 hex digits of SHA-256).
pub fn launch_hash(bundle: &Bundle, profile: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(LAUNCH_VERSION.as_bytes());
    h.update([0]);
    h.update(profile.unwrap_or("").as_bytes());
    h.update([0]);
    h.update(bundle.user_data.as_bytes());
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a new instance is launched with, from the earlier steps.
pub struct Launch<'a> {
    pub ami: &'a str,
    pub security_group: &'a str,
    pub address: &'a Address,
    /// None: a deployment made before data volumes.
    pub volume: Option<&'a DataVolume>,
    pub access: Option<&'a Access>,
    /// The broker's TLS and SASL settings; None: `security: plaintext`.
    pub security: Option<&'a crate::render::BrokerSecurity>,
    /// Launch a T3/T3a/T4g in `unlimited` for its first boot although the
    /// config says `standard` (switched once the broker answers).
    pub first_boot_unlimited: bool,
}

/// Whether a new instance of `instance_type` launched for `config` should
/// boot in `unlimited` mode: T3, T3a and T4g in `standard` mode start with
/// no credits (only T2 gets launch credits: EC2 User Guide, "Launch
/// credits"), so their first boot (dnf, the image pull) would crawl at the
/// 10% baseline. Only when `up` waits for the broker, which is when it
/// switches the instance back to `standard`.
pub fn first_boot_unlimited(config: &Config, instance_type: &str, waits: bool) -> bool {
    waits
        && config.credit_mode == crate::config::CreditMode::Standard
        && !instance_type.starts_with("t2.")
}

/// The instance that runs (or will run) the broker.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub id: String,
    /// Launched by this step (its credit mode was set at launch).
    pub launched: bool,
    /// Its type.
    pub instance_type: String,
    /// Launched `unlimited` for its first boot, to be set `standard`.
    pub first_boot_unlimited: bool,
}

/// The rendered files for `launch`, and their hash.
pub fn render(config: &Config, launch: &Launch<'_>) -> Result<Option<(Bundle, String)>> {
    let Some(volume) = launch.volume else {
        return Ok(None);
    };
    let id: DataVolumeId = volume
        .id
        .parse()
        .with_context(|| format!("data volume id {}", volume.id))?;
    let bundle = Bundle::for_target(
        config,
        &Target {
            advertised_host: &launch.address.public_ip,
            data_volume: Some(&id),
            logs: launch.access.and_then(|a| a.logs.as_ref()),
            security: launch.security,
        },
    )?;
    let hash = launch_hash(&bundle, launch.access.map(|a| a.profile.as_str()));
    Ok(Some((bundle, hash)))
}

/// Why a replacement: what changed, as far as the tags tell.
fn why(old: &Instance, config: &Config) -> String {
    let new = config.image_ref();
    match old.image.as_deref() {
        Some(o) if o != new => format!("broker image {o} -> {new}"),
        _ => {
            "user data changed (broker.settings, the address, the data volume or the log settings)"
                .to_string()
        }
    }
}

/// The instance to keep (started if stopped), or a new one.
pub async fn ensure(
    clients: &Clients,
    config: &Config,
    dry_run: bool,
    inventory: &Inventory,
    launch: &Launch<'_>,
    ui: &Progress,
) -> Result<(Chosen, Outcome)> {
    let Some((bundle, hash)) = render(config, launch)? else {
        // Made before data volumes: keep it as it is, whatever changed.
        let Some(i) = inventory.instance() else {
            bail!("no data volume and no instance: run `skiff up` again");
        };
        return keep(clients, config, dry_run, i, ui).await;
    };
    let mut same: Vec<&Instance> = inventory
        .instances
        .iter()
        .filter(|i| i.launch_hash.as_deref() == Some(hash.as_str()))
        .collect();
    // The one holding the data volume, else a running one, else any.
    let holder = launch.volume.map(|v| v.id.as_str());
    same.sort_by_key(|i| {
        (
            i.block_devices
                .iter()
                .any(|b| Some(b.volume_id.as_str()) == holder),
            i.is_up(),
        )
    });
    if let Some(i) = same.last() {
        return keep(clients, config, dry_run, i, ui).await;
    }

    // Launch: a new deployment, or the replacement of the current instance.
    let current = inventory.instance();
    let instance_type = current
        .filter(|i| crate::instance_types::lookup(&i.instance_type).is_some())
        .map(|i| i.instance_type.clone())
        .unwrap_or_else(|| config.instance_type.clone());
    let t = crate::instance_types::lookup(&instance_type).unwrap_or(config.instance());
    let volume = launch.volume.expect("rendered with a volume");
    let unlimited_first = launch.first_boot_unlimited && !instance_type.starts_with("t2.");
    let credits = if unlimited_first {
        "unlimited for the first boot, then standard".to_string()
    } else {
        config.credit_mode.as_str().to_string()
    };
    let summary = format!(
        "{} ({} vCPU, {} GiB, credits {}) in {}, {ROOT_VOLUME_GIB} GiB encrypted gp3 root, IMDSv2{}",
        t.name,
        t.vcpus,
        t.memory_gib,
        credits,
        volume.placement.zone,
        match (
            launch.access.is_some_and(|a| a.logs.is_some()),
            launch.security.is_some()
        ) {
            (true, true) => ", logs to CloudWatch, SASL_SSL",
            (true, false) => ", logs to CloudWatch",
            (false, true) => ", SASL_SSL",
            (false, false) => "",
        }
    );
    let (impact, what) = match current {
        Some(old) => (
            Impact::Replace,
            format!(
                "replace {} ({}): {}; new instance {summary}; the data volume and the Elastic IP move over",
                old.id,
                old.state.as_str(),
                why(old, config)
            ),
        ),
        None => (Impact::Create, summary.clone()),
    };
    if dry_run {
        return Ok((
            Chosen {
                id: "<new instance>".into(),
                launched: true,
                instance_type,
                first_boot_unlimited: unlimited_first,
            },
            Outcome::with(impact, format!("would {}", launch_verb(impact, &what))),
        ));
    }
    let id = run(clients, config, launch, &bundle, &hash, &instance_type, ui).await?;
    let text = match current {
        Some(old) => format!("launched {id} to replace {}: {}", old.id, why(old, config)),
        None => format!("launched {id}: {summary}"),
    };
    Ok((
        Chosen {
            id,
            launched: true,
            instance_type,
            first_boot_unlimited: unlimited_first,
        },
        Outcome::with(impact, text),
    ))
}

fn launch_verb(impact: Impact, what: &str) -> String {
    if impact == Impact::Replace {
        what.to_string()
    } else {
        format!("launch {what}")
    }
}

/// Keeps instance `i`: started if stopped.
async fn keep(
    clients: &Clients,
    config: &Config,
    dry_run: bool,
    i: &Instance,
    ui: &Progress,
) -> Result<(Chosen, Outcome)> {
    if i.instance_type != config.instance_type {
        ui.warn(format!(
            "instance {} is {}, the config says {}; skiff up does not change the type of a running deployment (`skiff resize {}` does)",
            i.id, i.instance_type, config.instance_type, config.instance_type
        ));
    }
    let chosen = Chosen {
        id: i.id.clone(),
        launched: false,
        instance_type: i.instance_type.clone(),
        first_boot_unlimited: false,
    };
    match i.state {
        InstanceStateName::Running => Ok((
            chosen,
            Outcome::found(format!("found {} ({}, running)", i.id, i.instance_type)),
        )),
        _ if dry_run => Ok((
            chosen,
            Outcome::with(
                Impact::Restart,
                format!(
                    "would start {} ({}, {})",
                    i.id,
                    i.instance_type,
                    i.state.as_str()
                ),
            ),
        )),
        InstanceStateName::Pending => {
            ui.set("waiting until running");
            power::wait_running(clients, &i.id, RUNNING_TIMEOUT).await?;
            Ok((
                chosen,
                Outcome::found(format!("found {} ({}, now running)", i.id, i.instance_type)),
            ))
        }
        _ => {
            if i.state == InstanceStateName::Stopping {
                ui.set("waiting until stopped");
                power::wait_stopped(clients, &i.id, RUNNING_TIMEOUT).await?;
            }
            ui.set("starting");
            power::start(clients, &i.id).await?;
            power::wait_running(clients, &i.id, RUNNING_TIMEOUT).await?;
            Ok((
                chosen,
                Outcome::with(
                    Impact::Restart,
                    format!("started {} ({})", i.id, i.instance_type),
                ),
            ))
        }
    }
}

/// RunInstances (retried while a new instance profile propagates), then
/// the wait for `running`. Returns the new instance's id.
async fn run(
    clients: &Clients,
    config: &Config,
    launch: &Launch<'_>,
    bundle: &Bundle,
    hash: &str,
    instance_type: &str,
    ui: &Progress,
) -> Result<String> {
    let credit_mode = if launch.first_boot_unlimited && !instance_type.starts_with("t2.") {
        "unlimited"
    } else {
        config.credit_mode.as_str()
    };
    let Launch {
        ami,
        security_group: sg_id,
        address,
        volume,
        access,
        ..
    } = *launch;
    let volume = volume.expect("a launch has a data volume");
    let arch = crate::instance_types::lookup(instance_type)
        .map(|t| t.arch)
        .unwrap_or(config.instance().arch);
    let root_device = root_device_name(clients, ami, arch).await?;
    let name = &config.name;
    let image = config.image_ref();
    let mut instance_tags: Vec<(&str, &str)> = vec![(tags::LAUNCH_KEY, hash)];
    if image.len() <= 256 {
        instance_tags.push((tags::IMAGE_KEY, &image));
    }
    let generation = format!("{}|{hash}", address.allocation_id);
    let started = Instant::now();
    let mut attempt = 0;
    let mut profile_retries = 0;
    loop {
        ui.set("launching");
        let result = clients
            .ec2
            .run_instances()
            .image_id(ami)
            .instance_type(InstanceType::from(instance_type))
            .min_count(1)
            .max_count(1)
            .subnet_id(&volume.placement.subnet_id)
            .security_group_ids(sg_id)
            .user_data(bundle.user_data_base64())
            .client_token(client_token(
                name,
                sg_id,
                &format!("{generation}|{profile_retries}"),
                attempt,
            ))
            .set_iam_instance_profile(access.map(|a| {
                IamInstanceProfileSpecification::builder()
                    .name(&a.profile)
                    .build()
            }))
            .credit_specification(
                CreditSpecificationRequest::builder()
                    .cpu_credits(credit_mode)
                    .build(),
            )
            .metadata_options(
                InstanceMetadataOptionsRequest::builder()
                    .http_endpoint(InstanceMetadataEndpointState::Enabled)
                    .http_tokens(HttpTokensState::Required)
                    .http_put_response_hop_limit(2)
                    .build(),
            )
            .block_device_mappings(
                BlockDeviceMapping::builder()
                    .device_name(&root_device)
                    .ebs(
                        EbsBlockDevice::builder()
                            .volume_size(ROOT_VOLUME_GIB)
                            .volume_type(VolumeType::Gp3)
                            .encrypted(true)
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build(),
            )
            .tag_specifications(tags::spec_with(
                ResourceType::Instance,
                name,
                None,
                &instance_tags,
            ))
            .tag_specifications(tags::spec_with(
                ResourceType::Volume,
                name,
                Some("root"),
                &[(tags::ROLE_KEY, tags::ROLE_ROOT)],
            ))
            .tag_specifications(tags::spec(
                ResourceType::NetworkInterface,
                name,
                Some("eni"),
            ))
            .send()
            .await
            .map_err(api("launch the instance"));
        let out = match result {
            Ok(out) => out,
            Err(e)
                if e.code_is("InvalidParameterValue")
                    && e.detail.to_lowercase().contains("instance profile")
                    && started.elapsed() < PROFILE_PROPAGATION =>
            {
                // A new instance profile takes a few seconds to be usable.
                // The failed call launched nothing; a new token for the
                // next one.
                ui.set("waiting for the new instance profile to propagate");
                tokio::time::sleep(Duration::from_secs(5)).await;
                profile_retries += 1;
                continue;
            }
            Err(e) if e.code_is("InsufficientInstanceCapacity") || e.code_is("Unsupported") => {
                bail!(
                    "{e}\nAWS cannot launch {instance_type} in {} (the data volume's zone) right now; \
                     try again later, or `skiff resize` to another type first",
                    volume.placement.zone
                )
            }
            Err(e) => return Err(e.into()),
        };
        let instance = out
            .instances()
            .first()
            .context("RunInstances returned no instance")?;
        let id = instance.instance_id().unwrap_or_default().to_string();
        let state = instance.state().and_then(|s| s.name());
        if matches!(
            state,
            Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)
        ) {
            // The token was used by an instance that has since been
            // terminated; AWS hands that one back. Use a new token.
            attempt += 1;
            if attempt >= 8 {
                bail!(
                    "could not launch: every client token returned a terminated instance; run `skiff up` again"
                );
            }
            tracing::info!(%id, "client token belongs to a terminated instance, retrying");
            continue;
        }
        ui.set(format!("{id}: waiting until running"));
        power::wait_running(clients, &id, RUNNING_TIMEOUT).await?;
        return Ok(id);
    }
}

/// The image's root device name (`/dev/xvda` on AL2023), checking that the
/// image is for the instance type's architecture.
async fn root_device_name(
    clients: &Clients,
    ami: &str,
    arch: crate::instance_types::Arch,
) -> Result<String> {
    let out = clients
        .ec2
        .describe_images()
        .image_ids(ami)
        .send()
        .await
        .map_err(api("describe the AMI"))?;
    let Some(image) = out.images().first() else {
        return Ok("/dev/xvda".into());
    };
    if let Some(a) = image.architecture() {
        if a.as_str() != arch.ec2_name() {
            bail!(
                "AMI {ami} is for {}, the instance type needs {}",
                a.as_str(),
                arch.ec2_name()
            );
        }
    }
    Ok(image.root_device_name().unwrap_or("/dev/xvda").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_token_is_stable_and_bounded() {
        let a = client_token("skiff", "sg-1", "eipalloc-1", 0);
        assert_eq!(a, client_token("skiff", "sg-1", "eipalloc-1", 0));
        assert_ne!(a, client_token("skiff", "sg-1", "eipalloc-2", 0));
        assert_ne!(a, client_token("skiff", "sg-1", "eipalloc-1", 1));
        let long = client_token(&"x".repeat(32), "sg", "e", 0);
        assert!(long.len() <= 64 && long.is_ascii());
    }
}
