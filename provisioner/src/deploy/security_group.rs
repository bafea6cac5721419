//! `up` step 2: the security group in the default VPC. It allows the broker port
//! only, and only from the configured CIDRs; there is no SSH rule because
//! nothing needs one (`skiff logs` reads the console). On every `up` the
//! rules converge to the config: missing CIDRs are added, others revoked.

use crate::aws::inventory::Inventory;
use crate::aws::{api, tags, Clients};
use crate::printer::Progress;
use crate::render::BROKER_PORT;
use crate::runner::{Impact, Outcome};
use anyhow::{bail, Result};
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, ResourceType};

fn permission(cidrs: &[String]) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(i32::from(BROKER_PORT))
        .to_port(i32::from(BROKER_PORT))
        .set_ip_ranges(Some(
            cidrs
                .iter()
                .map(|c| {
                    IpRange::builder()
                        .cidr_ip(c)
                        .description("skiff: Kafka clients")
                        .build()
                })
                .collect(),
        ))
        .build()
}

/// The default VPC of the region.
async fn default_vpc(clients: &Clients) -> Result<String> {
    let out = clients
        .ec2
        .describe_vpcs()
        .filters(Filter::builder().name("isDefault").values("true").build())
        .send()
        .await
        .map_err(api("find the default VPC"))?;
    match out.vpcs().first().and_then(|v| v.vpc_id()) {
        Some(id) => Ok(id.to_string()),
        None => bail!(
            "region {} has no default VPC; create one with `aws ec2 create-default-vpc` and run `skiff up` again",
            clients.region
        ),
    }
}

/// The group of deployment `name`, created or converged so tcp/9092 is
/// open to exactly `cidrs`.
pub async fn ensure(
    clients: &Clients,
    name: &str,
    cidrs: &[String],
    dry_run: bool,
    inventory: &Inventory,
    ui: &Progress,
) -> Result<(String, Outcome)> {
    let mut want = cidrs.to_vec();
    want.sort();
    want.dedup();
    let rules = want.join(", ");

    let Some(group) = inventory.security_groups.first() else {
        if dry_run {
            return Ok((
                "<new security group>".into(),
                Outcome::with(
                    Impact::Create,
                    format!("would create skiff-{name} allowing tcp/{BROKER_PORT} from {rules}"),
                ),
            ));
        }
        ui.set("finding the default VPC");
        let vpc = default_vpc(clients).await?;
        ui.set("creating");
        let id = clients
            .ec2
            .create_security_group()
            .group_name(format!("skiff-{name}"))
            .description(format!(
                "Skiff broker {name}: Kafka port {BROKER_PORT} only, managed by skiff"
            ))
            .vpc_id(&vpc)
            .tag_specifications(tags::spec(ResourceType::SecurityGroup, name, Some("sg")))
            .send()
            .await
            .map_err(api("create the security group"))?
            .group_id()
            .unwrap_or_default()
            .to_string();
        clients
            .ec2
            .authorize_security_group_ingress()
            .group_id(&id)
            .ip_permissions(permission(&want))
            .send()
            .await
            .map_err(api("allow the broker port"))?;
        return Ok((
            id.clone(),
            Outcome::with(
                Impact::Create,
                format!("created {id} allowing tcp/{BROKER_PORT} from {rules}"),
            ),
        ));
    };

    let missing: Vec<String> = want
        .iter()
        .filter(|c| !group.broker_cidrs.contains(c))
        .cloned()
        .collect();
    let extra: Vec<String> = group
        .broker_cidrs
        .iter()
        .filter(|c| !want.contains(c))
        .cloned()
        .collect();
    if missing.is_empty() && extra.is_empty() {
        if group.other_rules > 0 {
            tracing::warn!(
                "security group {} has {} rule(s) not made by skiff; review them in the AWS console",
                group.id,
                group.other_rules
            );
        }
        return Ok((
            group.id.clone(),
            Outcome::found(format!(
                "found {} allowing tcp/{BROKER_PORT} from {rules}",
                group.id
            )),
        ));
    }
    let change = format!(
        "{}{}",
        if missing.is_empty() {
            String::new()
        } else {
            format!(" +{}", missing.join(" +"))
        },
        if extra.is_empty() {
            String::new()
        } else {
            format!(" -{}", extra.join(" -"))
        }
    );
    if dry_run {
        return Ok((
            group.id.clone(),
            Outcome::changed(format!("would update rules of {}:{change}", group.id)),
        ));
    }
    if !missing.is_empty() {
        clients
            .ec2
            .authorize_security_group_ingress()
            .group_id(&group.id)
            .ip_permissions(permission(&missing))
            .send()
            .await
            .map_err(api("allow the broker port"))?;
    }
    if !extra.is_empty() {
        clients
            .ec2
            .revoke_security_group_ingress()
            .group_id(&group.id)
            .ip_permissions(permission(&extra))
            .send()
            .await
            .map_err(api("revoke old broker-port rules"))?;
    }
    Ok((
        group.id.clone(),
        Outcome::changed(format!("updated rules of {}:{change}", group.id)),
    ))
}
