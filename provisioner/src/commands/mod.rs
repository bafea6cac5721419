//! One module per subcommand. Each reads the config, connects to AWS if it
//! needs to (through `aws::connect`, which checks credentials first), runs
//! its flow (the multi-step ones through `crate::runner`) and prints its
//! result through the `Printer` it is handed; the shared pieces live
//! outside `commands/`.

pub mod alerts;
pub mod backup;
pub mod backups;
pub mod client_config;
pub mod credits;
pub mod down;
pub mod init;
pub mod logs;
pub mod perf;
pub mod render;
pub mod resize;
pub mod restore;
pub mod status;
pub mod topics;
pub mod up;
pub mod upgrade;
pub mod users;

use crate::config::{Config, Overrides};
use crate::Global;
use anyhow::Result;

/// The config file plus the global flags (name, region).
pub fn load_config(g: &Global, more: Overrides) -> Result<Config> {
    let (config, source) = Config::load(g.config.as_deref())?;
    if let Some(p) = &source {
        tracing::info!("config from {}", p.display());
    }
    let o = Overrides {
        name: g.name.clone().or(more.name.clone()),
        region: g.region.clone().or(more.region.clone()),
        ..more
    };
    Ok(config.apply(&o)?)
}
