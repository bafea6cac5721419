//! `skiff render --out DIR`: writes the exact user data, compose files, env
//! file, embedded scripts and systemd units that `up` sends, for review and
//! for the Docker end-to-end test. No AWS call: the advertised host and the
//! data volume are flags (`up` uses the Elastic IP and the data volume's
//! id); the log group follows from the name and the region (`--region` or
//! `region:`), and is left out without a region or with
//! `log_retention_days: 0`.
//!
//! With `security: sasl_ssl` (the default), render cannot use the
//! deployment's CA and key (the key lives only in SSM Parameter Store), so
//! it issues a throwaway set for the advertised host and writes it next to
//! the files, for a local run of them: `tls/cert.pem` and `tls/key.pem`
//! (0600; what start-broker.sh would fetch), `ca.pem` for clients, and a
//! fresh admin password in `admin.password` (0600), whose verifier is in
//! `broker.env`. None of it is the deployment's.

use crate::config::Overrides;
use crate::config::Security;
use crate::printer::Printer;
use crate::render::{
    BrokerSecurity, Bundle, DataVolumeId, LogSettings, Target, MAX_USER_DATA, TLS_DIR,
};
use crate::Global;
use crate::{scram, tls};
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
    let mut extra: Vec<(String, String, u32)> = Vec::new();
    let security = if config.security == Security::SaslSsl {
        let region = config.region.clone().unwrap_or_else(|| "us-east-1".into());
        let host = &a.advertised_host;
        // An IP address gets its EC2 DNS name too, as in `up`; a name is
        // the certificate's only name.
        let (ip, dns) = match host.parse::<std::net::Ipv4Addr>() {
            Ok(ip) => (ip, tls::public_dns_name(ip, &region)),
            Err(_) => (std::net::Ipv4Addr::LOCALHOST, host.clone()),
        };
        let issued = tls::issue(&config.name, ip, &dns, std::time::SystemTime::now())?;
        let password = scram::new_password()?;
        let verifier = scram::verifier(&password)?;
        extra.push((
            format!("{TLS_DIR}/cert.pem"),
            issued.chain_pem.clone(),
            0o644,
        ));
        extra.push((format!("{TLS_DIR}/key.pem"), issued.key_pem, 0o600));
        extra.push(("ca.pem".into(), issued.ca_pem, 0o644));
        extra.push(("admin.password".into(), format!("{password}\n"), 0o600));
        Some(BrokerSecurity::new(
            &issued.chain_pem,
            &config.name,
            &region,
            scram::bootstrap_user(&verifier),
        )?)
    } else {
        None
    };
    let bundle = Bundle::for_target(
        &config,
        &Target {
            advertised_host: &a.advertised_host,
            data_volume: a.data_volume_id.as_ref(),
            logs: logs.as_ref(),
            security: security.as_ref(),
        },
    )?;
    let files = bundle
        .write_to(&a.out)
        .with_context(|| format!("cannot write into {}", a.out.display()))?;
    for f in files {
        out.out(a.out.join(f).display());
    }
    for (name, text, mode) in &extra {
        let path = a.out.join(name);
        write_private(&path, text, *mode)
            .with_context(|| format!("cannot write {}", path.display()))?;
        out.out(path.display());
    }
    out.out(format!(
        "user data: {} bytes (limit {MAX_USER_DATA})",
        bundle.user_data.len()
    ));
    Ok(())
}

/// Writes `text` to `path` created with `mode` (parents created).
fn write_private(path: &std::path::Path, text: &str, mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let _ = std::fs::remove_file(path);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    o.open(path)?.write_all(text.as_bytes())
}
