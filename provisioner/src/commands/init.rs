//! `skiff init`: writes the commented default `skiff.yaml`, so every option
//! is discoverable in the file itself.

use crate::config::{commented_default, DEFAULT_FILE};
use crate::printer::Printer;
use crate::Global;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

pub fn run(g: &Global, out: &Printer, a: &InitArgs) -> Result<()> {
    let path = g
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE));
    if path.exists() && !a.force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        );
    }
    std::fs::write(&path, commented_default())
        .with_context(|| format!("cannot write {}", path.display()))?;
    out.out(format!(
        "wrote {} (all fields are optional; edit and run `skiff up`)",
        path.display()
    ));
    Ok(())
}
