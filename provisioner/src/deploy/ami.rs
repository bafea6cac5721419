//! `up` step 1: the latest Amazon Linux 2023 AMI for the instance type's
//! architecture, from AWS's public SSM parameter (the documented way; image
//! creation dates are not reliable, and moto fakes them all).

use crate::aws::inventory::Inventory;
use crate::aws::{api, Clients};
use crate::instance_types::Arch;
use crate::runner::Outcome;
use anyhow::{Context, Result};

/// The SSM parameter naming the latest AL2023 AMI for `arch`.
pub fn parameter(arch: Arch) -> String {
    format!(
        "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{}",
        arch.ssm_suffix()
    )
}

/// The latest AL2023 AMI for `arch`: what a new instance (a new
/// deployment or a replacement) is launched with. A new AMI alone is not a
/// reason to replace the broker's machine: the running instance keeps its
/// image until something else replaces it.
pub async fn resolve(
    clients: &Clients,
    arch: Arch,
    inventory: &Inventory,
) -> Result<(String, Outcome)> {
    let name = parameter(arch);
    let out = clients
        .ssm
        .get_parameter()
        .name(&name)
        .send()
        .await
        .map_err(api("look up the Amazon Linux 2023 AMI"))?;
    let ami = out
        .parameter()
        .and_then(|p| p.value())
        .filter(|v| v.starts_with("ami-"))
        .with_context(|| format!("SSM parameter {name} holds no AMI id"))?
        .to_string();
    let mut text = format!("{ami} (Amazon Linux 2023, {})", arch.ec2_name());
    if let Some(i) = inventory.instance().filter(|i| i.image_id != ami) {
        text.push_str(&format!(
            "; {} runs {} until it is replaced",
            i.id, i.image_id
        ));
    }
    Ok((ami, Outcome::found(text)))
}
