//! Where the deployment lives: an Availability Zone and its default subnet.
//!
//! The data volume and the instance must be in the same zone ("you can
//! attach a volume to an instance in the same Availability Zone", Amazon
//! EBS User Guide, "Attach an Amazon EBS volume to an instance"), and the
//! volume's id is in the user data, so the volume is made first and the
//! instance is launched into its zone. A new deployment takes the first
//! zone (by name) that offers the instance type and has a default subnet;
//! later instances (replacements, restores) follow the volume.

use crate::aws::{api, Clients};
use anyhow::{bail, Result};
use aws_sdk_ec2::types::{Filter, LocationType};

/// A zone and the default subnet in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub zone: String,
    pub subnet_id: String,
}

/// The zones that offer `instance_type` (DescribeInstanceTypeOfferings),
/// sorted. `zone` narrows the question to one zone.
pub async fn offering_zones(
    clients: &Clients,
    instance_type: &str,
    zone: Option<&str>,
) -> Result<Vec<String>> {
    let mut filters = vec![Filter::builder()
        .name("instance-type")
        .values(instance_type)
        .build()];
    if let Some(z) = zone {
        filters.push(Filter::builder().name("location").values(z).build());
    }
    let mut zones = Vec::new();
    let mut token: Option<String> = None;
    // Each zone appears once per type: a handful of pages at most.
    for _ in 0..10 {
        let out = clients
            .ec2
            .describe_instance_type_offerings()
            .location_type(LocationType::AvailabilityZone)
            .set_filters(Some(filters.clone()))
            .set_next_token(token)
            .send()
            .await
            .map_err(api("list the zones offering the instance type"))?;
        zones.extend(
            out.instance_type_offerings()
                .iter()
                .filter_map(|o| o.location().map(str::to_string)),
        );
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    zones.sort();
    zones.dedup();
    Ok(zones)
}

/// The default subnets by zone, sorted by zone.
async fn default_subnets(clients: &Clients) -> Result<Vec<(String, String)>> {
    let out = clients
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
    let mut subnets: Vec<(String, String)> = out
        .subnets()
        .iter()
        .filter_map(|s| {
            Some((
                s.availability_zone()?.to_string(),
                s.subnet_id()?.to_string(),
            ))
        })
        .collect();
    subnets.sort();
    Ok(subnets)
}

/// The default subnet of `zone`, which must offer `instance_type`.
pub async fn in_zone(clients: &Clients, zone: &str, instance_type: &str) -> Result<Placement> {
    if offering_zones(clients, instance_type, Some(zone))
        .await?
        .is_empty()
    {
        bail!(
            "{instance_type} is not offered in {zone}, where the deployment's data volume is; \
             pick a type offered there (`aws ec2 describe-instance-type-offerings --location-type \
             availability-zone --filters Name=location,Values={zone}`)"
        );
    }
    match default_subnets(clients)
        .await?
        .into_iter()
        .find(|(z, _)| z == zone)
    {
        Some((zone, subnet_id)) => Ok(Placement { zone, subnet_id }),
        None => bail!(
            "the default VPC has no default subnet in {zone}, where the data volume is; create one \
             with `aws ec2 create-default-subnet --availability-zone {zone}`"
        ),
    }
}

/// The first zone (by name) with a default subnet that offers
/// `instance_type`, for a new deployment.
pub async fn choose(clients: &Clients, instance_type: &str) -> Result<Placement> {
    let offering = offering_zones(clients, instance_type, None).await?;
    let subnets = default_subnets(clients).await?;
    match subnets.into_iter().find(|(z, _)| offering.contains(z)) {
        Some((zone, subnet_id)) => Ok(Placement { zone, subnet_id }),
        None if offering.is_empty() => bail!(
            "{instance_type} is not offered in any Availability Zone of {}; pick another instance_type",
            clients.region
        ),
        None => bail!(
            "no default subnet in a zone that offers {instance_type} ({}); create one with \
             `aws ec2 create-default-subnet --availability-zone {}`",
            offering.join(", "),
            offering[0]
        ),
    }
}
