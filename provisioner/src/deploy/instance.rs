//! `up` step 4: the instance. Launched with the settings a free-tier broker needs:
//! the configured credit mode set *at launch* (standard by default; T3
//! would otherwise start unlimited, and changing it later is another call
//! that can fail), IMDSv2 required with hop limit 2 (containers can still
//! reach it), an encrypted gp3 root volume, tags on the instance, its
//! volume and its network interface, the rendered user data (base64: the
//! SDK does not encode it), and a client token so a retried launch returns
//! the first instance instead of starting a second one.

use super::power;
use crate::aws::inventory::{Address, Inventory};
use crate::aws::{api, tags, Clients};
use crate::config::Config;
use crate::printer::Progress;
use crate::render::Bundle;
use crate::runner::Outcome;
use anyhow::{bail, Context, Result};
use aws_sdk_ec2::types::{
    BlockDeviceMapping, CreditSpecificationRequest, EbsBlockDevice, Filter, HttpTokensState,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest, InstanceStateName, InstanceType,
    LocationType, ResourceType, VolumeType,
};
use std::time::Duration;

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

/// What a new instance is launched with, from the earlier steps.
pub struct Launch<'a> {
    pub ami: &'a str,
    pub security_group: &'a str,
    pub address: &'a Address,
}

/// The deployment's instance: found (and started if stopped) or launched.
pub async fn ensure(
    clients: &Clients,
    config: &Config,
    dry_run: bool,
    inventory: &Inventory,
    launch: &Launch<'_>,
    ui: &Progress,
) -> Result<(String, Outcome)> {
    if let Some(i) = inventory.instance() {
        if i.instance_type != config.instance_type {
            ui.warn(format!(
                "instance {} is {}, the config says {}; skiff up does not change the type of a running deployment",
                i.id, i.instance_type, config.instance_type
            ));
        }
        return match i.state {
            InstanceStateName::Running => Ok((
                i.id.clone(),
                Outcome::found(format!("found {} ({}, running)", i.id, i.instance_type)),
            )),
            _ if dry_run => Ok((
                i.id.clone(),
                Outcome::changed(format!(
                    "would start {} ({}, {})",
                    i.id,
                    i.instance_type,
                    i.state.as_str()
                )),
            )),
            InstanceStateName::Pending => {
                ui.set("waiting until running");
                power::wait_running(clients, &i.id, RUNNING_TIMEOUT).await?;
                Ok((
                    i.id.clone(),
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
                    i.id.clone(),
                    Outcome::changed(format!("started {} ({})", i.id, i.instance_type)),
                ))
            }
        };
    }

    let t = config.instance();
    let summary = format!(
        "{} ({} vCPU, {} GiB, credits {}), {} GiB encrypted gp3, IMDSv2",
        t.name,
        t.vcpus,
        t.memory_gib,
        config.credit_mode.as_str(),
        config.volume_size_gb
    );
    if dry_run {
        return Ok((
            "<new instance>".into(),
            Outcome::changed(format!("would launch {summary}")),
        ));
    }

    let Launch {
        ami,
        security_group: sg_id,
        address,
    } = *launch;
    let bundle = Bundle::new(config, &address.public_ip)?;
    let root_device = root_device_name(clients, ami, t.arch).await?;
    let name = &config.name;
    // Subnets to try: none first (EC2 picks a default subnet); if the type
    // is not offered in the AZ EC2 picked ("Unsupported", e.g. t3 in
    // us-east-1e), the default subnets of AZs that offer it.
    let mut subnets: Vec<Option<String>> = vec![None];
    let mut looked_up_subnets = false;
    let mut next = 0;
    let mut attempt = 0;
    while next < subnets.len() && attempt < 8 {
        let subnet = subnets[next].clone();
        ui.set("launching");
        let result = clients
            .ec2
            .run_instances()
            .image_id(ami)
            .instance_type(InstanceType::from(config.instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            .set_subnet_id(subnet.clone())
            .security_group_ids(sg_id)
            .user_data(bundle.user_data_base64())
            .client_token(client_token(name, sg_id, &address.allocation_id, attempt))
            .credit_specification(
                CreditSpecificationRequest::builder()
                    .cpu_credits(config.credit_mode.as_str())
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
                            .volume_size(config.volume_size_gb as i32)
                            .volume_type(VolumeType::Gp3)
                            .encrypted(true)
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build(),
            )
            .tag_specifications(tags::spec(ResourceType::Instance, name, None))
            .tag_specifications(tags::spec(ResourceType::Volume, name, Some("root")))
            .tag_specifications(tags::spec(
                ResourceType::NetworkInterface,
                name,
                Some("eni"),
            ))
            .send()
            .await
            .map_err(api("launch the instance"));
        attempt += 1;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.code_is("Unsupported") => {
                tracing::info!(?subnet, "{e}; trying another availability zone");
                if !looked_up_subnets {
                    looked_up_subnets = true;
                    subnets.extend(
                        offering_subnets(clients, &config.instance_type)
                            .await?
                            .into_iter()
                            .map(Some),
                    );
                }
                next += 1;
                if next >= subnets.len() {
                    return Err(e.into());
                }
                continue;
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
            // terminated by hand; AWS hands that one back. Use a new token.
            tracing::info!(%id, "client token belongs to a terminated instance, retrying");
            continue;
        }
        ui.set(format!("{id}: waiting until running"));
        power::wait_running(clients, &id, RUNNING_TIMEOUT).await?;
        return Ok((
            id.clone(),
            Outcome::changed(format!("launched {id}: {summary}")),
        ));
    }
    bail!(
        "could not launch: every attempt returned a terminated instance or an unsupported zone; \
         run `skiff down` and then `skiff up`"
    )
}

/// Default subnets in availability zones that offer `instance_type`.
async fn offering_subnets(clients: &Clients, instance_type: &str) -> Result<Vec<String>> {
    let offerings = clients
        .ec2
        .describe_instance_type_offerings()
        .location_type(LocationType::AvailabilityZone)
        .filters(
            Filter::builder()
                .name("instance-type")
                .values(instance_type)
                .build(),
        )
        .send()
        .await
        .map_err(api("list the zones offering the instance type"))?;
    let zones: Vec<&str> = offerings
        .instance_type_offerings()
        .iter()
        .filter_map(|o| o.location())
        .collect();
    let subnets = clients
        .ec2
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("default-for-az")
                .values("true")
                .build(),
        )
        .send()
        .await
        .map_err(api("list the default subnets"))?;
    Ok(subnets
        .subnets()
        .iter()
        .filter(|s| s.availability_zone().is_some_and(|z| zones.contains(&z)))
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect())
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
