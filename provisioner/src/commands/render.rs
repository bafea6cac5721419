//! `skiff render --out DIR`: writes the exact user data, compose file, env
//! file and embedded scripts that `up` sends, for review and for the
//! Docker end-to-end test. No AWS call: the advertised host is a flag
//! (`up` uses the Elastic IP).

use crate::config::Overrides;
use crate::printer::Printer;
use crate::render::{Bundle, MAX_USER_DATA};
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
}

pub fn run(g: &Global, out: &Printer, a: &RenderArgs) -> Result<()> {
    let config = super::load_config(g, Overrides::default())?;
    let bundle = Bundle::new(&config, &a.advertised_host)?;
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
