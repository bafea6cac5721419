//! The Elastic IP, allocated before the instance so the broker can
//! advertise it from its first boot (`up` step 3), and its association
//! with the instance (`up` step 5, `resize` step 5). The address survives
//! stop/start and resize, which Kafka clients need: they reconnect to the
//! advertised address.

use crate::aws::inventory::{Address, Inventory};
use crate::aws::{api, tags, Clients};
use crate::runner::{Impact, Outcome};
use anyhow::Result;
use aws_sdk_ec2::types::{DomainType, ResourceType};

/// The deployment's Elastic IP, allocated (tagged for `name`) if missing.
pub async fn ensure(
    clients: &Clients,
    name: &str,
    dry_run: bool,
    inventory: &Inventory,
) -> Result<(Address, Outcome)> {
    if let Some(a) = inventory.addresses.first() {
        return Ok((
            a.clone(),
            Outcome::found(format!("found {} ({})", a.public_ip, a.allocation_id)),
        ));
    }
    if dry_run {
        let a = Address {
            allocation_id: "<new allocation>".into(),
            public_ip: "<new Elastic IP>".into(),
            association_id: None,
            instance_id: None,
        };
        return Ok((
            a,
            Outcome::with(Impact::Create, "would allocate an Elastic IP"),
        ));
    }
    let out = clients
        .ec2
        .allocate_address()
        .domain(DomainType::Vpc)
        .tag_specifications(tags::spec(ResourceType::ElasticIp, name, Some("eip")))
        .send()
        .await
        .map_err(api("allocate an Elastic IP"))?;
    let a = Address {
        allocation_id: out.allocation_id().unwrap_or_default().to_string(),
        public_ip: out.public_ip().unwrap_or_default().to_string(),
        association_id: None,
        instance_id: None,
    };
    let text = format!("allocated {} ({})", a.public_ip, a.allocation_id);
    Ok((a, Outcome::with(Impact::Create, text)))
}

/// Attaches `address` to the instance unless it already is.
pub async fn associate(
    clients: &Clients,
    dry_run: bool,
    address: &Address,
    instance_id: &str,
) -> Result<Outcome> {
    if address.instance_id.as_deref() == Some(instance_id) {
        return Ok(Outcome::found(format!(
            "{} is attached to {instance_id}",
            address.public_ip
        )));
    }
    if dry_run {
        return Ok(Outcome::changed(format!(
            "would attach {} to {instance_id}",
            address.public_ip
        )));
    }
    clients
        .ec2
        .associate_address()
        .allocation_id(&address.allocation_id)
        .instance_id(instance_id)
        .allow_reassociation(true)
        .send()
        .await
        .map_err(api("attach the Elastic IP"))?;
    Ok(Outcome::changed(format!(
        "attached {} to {instance_id}",
        address.public_ip
    )))
}
