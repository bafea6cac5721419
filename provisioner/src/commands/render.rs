//! `skiff render --out DIR`: writes the exact user data, compose file, env
//! file, embedded scripts and systemd units that `up` sends, for review and
//! for the Docker end-to-end test. No AWS call: the advertised host and the
//! data volume are flags (`up` uses the Elastic IP).

use crate::config::Overrides;
use crate::printer::Printer;
use crate::render::{Bundle, DataVolumeId, MAX_USER_DATA};
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
    let bundle = Bundle::with_data_volume(&config, &a.advertised_host, a.data_volume_id.as_ref())?;
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
