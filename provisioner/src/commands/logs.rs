//! `skiff logs`: the instance's console output, which carries cloud-init's
//! progress and errors (the scripts log `skiff: ...` lines to the console),
//! so a failed boot can be diagnosed without SSH or an instance profile.

use crate::aws::inventory::Inventory;
use crate::aws::{self, api};
use crate::config::Overrides;
use crate::printer::Printer;
use crate::Global;
use anyhow::{bail, Result};
use base64::Engine;

pub async fn run(g: &Global, out: &Printer) -> Result<()> {
    let config = super::load_config(g, Overrides::default())?;
    let clients = aws::connect(config.region.as_deref()).await?;
    let inventory = Inventory::load(&clients, &config.name).await?;
    let Some(instance) = inventory.instance() else {
        bail!(
            "deployment `{}` has no instance in {}; run `skiff up` first",
            config.name,
            clients.region
        );
    };
    let console = clients
        .ec2
        .get_console_output()
        .instance_id(&instance.id)
        .latest(true)
        .send()
        .await;
    let console = match console {
        Ok(o) => o,
        Err(e) => {
            let e = api("read the console output")(e);
            if !e.code_is("UnsupportedOperation") {
                return Err(e.into());
            }
            clients
                .ec2
                .get_console_output()
                .instance_id(&instance.id)
                .send()
                .await
                .map_err(api("read the console output"))?
        }
    };
    let text = console
        .output()
        .map(|o| {
            base64::engine::general_purpose::STANDARD
                .decode(o.trim())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|_| o.to_string())
        })
        .unwrap_or_default();
    if text.trim().is_empty() {
        out.out(format!(
            "no console output yet for {} (AWS publishes it a few minutes after boot); try again shortly",
            instance.id
        ));
    } else {
        out.out(format!(
            "console output of {} ({}):",
            instance.id,
            instance.state.as_str()
        ));
        out.out(text.strip_suffix('\n').unwrap_or(&text));
    }
    Ok(())
}
