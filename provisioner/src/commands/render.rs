//! `skiff render --out DIR`: writes the exact user data, compose files, env
//! file, embedded scripts and systemd units that `up` sends, for review and
//! for the Docker end-to-end test. No AWS call: the advertised host and the
//! data volume are flags (`up` uses the Elastic IP and the data volume's
//! id); the log group follows from the name and the region (`--region` or
//! `region:`), and is left out without a region or with
//! `log_retention_days: 0`.

use crate::config::Overrides;
use crate::printer::Printer;
use crate::render::{Bundle, DataVolumeId, LogSettings, Target, MAX_USER_DATA};
use crate::Global;
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// Directory to write the files into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Host the broker advertises (`up` uses the Elastic IP).
    #[arg(long, default_value = "localhost")]
    pub advertised_host: String,
    /// EBS volume id of the broker's data volume (vol-...); without it the
    /// data stays on the root volume.
    #[arg(long, value_name = "VOLUME_ID")]
    pub data_volume_id: Option<DataVolumeId>,
}

pub fn run(g: &Global, out: &Printer, a: &RenderArgs) -> Result<()> {
    let config = super::load_config(g, Overrides::default())?;
    let logs = match (&config.region, config.log_retention_days) {
        (_, 0) => None,
        (Some(region), _) => Some(LogSettings::new(&config.name, region)?),
        (None, _) => {
            out.info(
                "no region given: rendered without CloudWatch Logs (pass --region to include them)",
            );
            None
        }
    };
    let bundle = Bundle::for_target(
        &config,
        &Target {
            advertised_host: &a.advertised_host,
            data_volume: a.data_volume_id.as_ref(),
            logs: logs.as_ref(),
        },
    )?;
    let files = bundle
        .write_to(&a.out)
        .with_context(|| format!("cannot write into {}", a.out.display()))?;
    for f in files {
        out.out(a.out.join(f).display());
    }
    out.out(format!(
        "user data: {} bytes (limit {MAX_USER_DATA})",
        bundle.user_data.len()
    ));
    Ok(())
}
