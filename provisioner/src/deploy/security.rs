//! `up` step 4: the endpoint's security (`security: sasl_ssl`, the
//! default): the admin's password and SCRAM verifier, the deployment CA
//! and the broker's certificate and key (see `crate::tls` for why the key
//! travels through SSM Parameter Store and the CA key is thrown away).
//!
//! Converges like every step, and never rotates what works: the password
//! (and its verifier) is made once and kept in the local secrets directory
//! (`crate::secrets`); the certificate is issued again only when it is no
//! longer right: a parameter is missing, the key and certificate do not
//! belong together, the local CA file is missing or does not sign it, it
//! does not name the Elastic IP and its DNS name, or it expires within
//! `tls::RENEW_BEFORE`. A new certificate means a new CA file, so the
//! outcome says clients must take the new file, and the user data changes
//! (the chain's hash is in it), so the instance is replaced and fetches
//! the new pair.

use crate::aws::{parameters, Clients};
use crate::config::{Config, Security};
use crate::printer::Progress;
use crate::render::BrokerSecurity;
use crate::runner::{Impact, Outcome};
use crate::{scram, secrets, tls};
use anyhow::{Context, Result};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::SystemTime;

/// What the later steps and the summary need.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// For the user data.
    pub broker: BrokerSecurity,
    /// The CA file clients trust, and its contents (for the probe).
    pub ca_path: PathBuf,
    pub ca_pem: Option<String>,
    /// The admin's password file.
    pub password_path: PathBuf,
    /// The name the probe verifies (the Elastic IP).
    pub server_name: String,
}

/// Converges the password, verifier, certificate and key parameters of
/// `config`'s deployment at `public_ip`; None when security is off.
pub async fn ensure(
    clients: &Clients,
    config: &Config,
    dry_run: bool,
    public_ip: &str,
    ui: &Progress,
) -> Result<(Option<Endpoint>, Outcome)> {
    if config.security == Security::Plaintext {
        return Ok((
            None,
            Outcome::found("off (security: plaintext): no TLS, no login, no ACLs"),
        ));
    }
    let name = &config.name;
    let dir = secrets::Dir::for_deployment(name)?;
    let mut done: Vec<String> = Vec::new();
    let mut created = false;
    let verb = |now: &str, would: &str| if dry_run { would } else { now }.to_string();

    ui.set("admin password");
    let password = dir.admin_password()?;
    let verifier = match (&password, dir.read_admin_verifier()?) {
        (Some(p), Some(v)) if scram::matches(p, &v) => v,
        (Some(p), _) => {
            done.push(verb(
                "made the admin's SCRAM verifier",
                "would make the admin's SCRAM verifier",
            ));
            let v = scram::verifier(p)?;
            if !dry_run {
                dir.write_admin_verifier(&v)?;
            }
            v
        }
        (None, _) => {
            created = true;
            done.push(format!(
                "{} admin password ({})",
                verb("made the", "would make an"),
                dir.admin_password_path().display()
            ));
            let p = scram::new_password()?;
            let v = scram::verifier(&p)?;
            if !dry_run {
                dir.write_admin_password(&p)?;
                dir.write_admin_verifier(&v)?;
            }
            v
        }
    };

    ui.set("TLS certificate");
    let key_param = parameters::key_name(name);
    let cert_param = parameters::cert_name(name);
    let ip: Option<Ipv4Addr> = public_ip.parse().ok();
    let dns = ip.map(|ip| tls::public_dns_name(ip, &clients.region));
    let key = parameters::get(clients, &key_param).await?;
    let cert = parameters::get(clients, &cert_param).await?;
    let ca = dir.read_ca()?;
    let now = SystemTime::now();
    // Why a new certificate is needed, if it is.
    let problem = match (ip, &dns, &key, &cert, &ca) {
        (None, ..) => Some("a new Elastic IP".to_string()),
        (_, _, None, ..) => Some(format!("no parameter {key_param}")),
        (_, _, _, None, _) => Some(format!("no parameter {cert_param}")),
        (_, _, _, _, None) => Some(format!("no CA file {}", dir.ca_path().display())),
        (Some(ip), Some(dns), Some(key), Some(cert), Some(ca)) => {
            if !tls::key_matches(cert, key) {
                Some(format!("{key_param} is not the key of {cert_param}"))
            } else {
                tls::check(ca, cert, ip, dns, now + tls::RENEW_BEFORE)
                    .err()
                    .map(|e| {
                        format!(
                            "the certificate does not verify with {} for the address and name, \
                             or expires within 30 days ({e})",
                            dir.ca_path().display()
                        )
                    })
            }
        }
        _ => unreachable!("ip and dns go together"),
    };
    let chain = match (problem, ip, &dns) {
        (None, ..) => cert.expect("checked above"),
        (Some(why), Some(ip), Some(dns)) if !dry_run => {
            let issued = tls::issue(name, ip, dns, now)?;
            // Key first: a key without its certificate is issued again.
            parameters::put(
                clients,
                name,
                &key_param,
                &issued.key_pem,
                true,
                key.is_some(),
            )
            .await?;
            parameters::put(
                clients,
                name,
                &cert_param,
                &issued.chain_pem,
                false,
                cert.is_some(),
            )
            .await?;
            dir.write_ca(&issued.ca_pem)?;
            if ca.is_some() {
                done.push(format!(
                    "issued a new certificate ({why}) and CA: clients must trust the new {}",
                    dir.ca_path().display()
                ));
            } else {
                created = true;
                done.push(format!(
                    "issued a CA ({}) and a certificate for {ip} and {dns}; its key is in SSM SecureString {key_param}",
                    dir.ca_path().display()
                ));
            }
            issued.chain_pem
        }
        (Some(why), ..) => {
            if ca.is_none() {
                created = true;
            }
            done.push(format!(
                "would issue a CA and a certificate for the Elastic IP and its DNS name ({why}); its key to SSM SecureString {key_param}"
            ));
            // A placeholder the plan's render accepts; never deployed.
            "-----BEGIN CERTIFICATE-----\n(to be issued)\n-----END CERTIFICATE-----\n".to_string()
        }
    };

    let broker = BrokerSecurity::new(
        &chain,
        name,
        &clients.region,
        scram::bootstrap_user(&verifier),
    )
    .context("security settings")?;
    let endpoint = Endpoint {
        broker,
        ca_path: dir.ca_path(),
        ca_pem: dir.read_ca()?,
        password_path: dir.admin_password_path(),
        server_name: public_ip.to_string(),
    };
    if done.is_empty() {
        return Ok((
            Some(endpoint),
            Outcome::found(format!(
                "SASL_SSL: certificate for {public_ip} and {} (key in {key_param}), admin password in {}",
                dns.unwrap_or_default(),
                dir.path().display()
            )),
        ));
    }
    let impact = if created {
        Impact::Create
    } else {
        Impact::InPlace
    };
    Ok((Some(endpoint), Outcome::with(impact, done.join("; "))))
}

/// The security settings with values as long as real ones can be (a
/// certificate for 255.255.255.255, a verifier), for the preflight's
/// user-data size check; None when security is off.
pub fn worst_case(config: &Config, region: &str) -> Option<BrokerSecurity> {
    if config.security == Security::Plaintext {
        return None;
    }
    let ip = Ipv4Addr::new(255, 255, 255, 255);
    let issued = tls::issue(
        &config.name,
        ip,
        &tls::public_dns_name(ip, region),
        SystemTime::now(),
    )
    .ok()?;
    let verifier = scram::verifier_with_salt("x", &[0xff; 32], scram::ITERATIONS);
    BrokerSecurity::new(
        &issued.chain_pem,
        &config.name,
        region,
        scram::bootstrap_user(&verifier),
    )
    .ok()
}

/// What `down` removes: the two parameters.
pub async fn remove(clients: &Clients, name: &str) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for p in [parameters::key_name(name), parameters::cert_name(name)] {
        if parameters::delete(clients, &p).await? {
            done.push(format!("SSM parameter {p}"));
        }
    }
    Ok(done)
}

/// What `down` would remove (read-only).
pub async fn existing(clients: &Clients, name: &str) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for p in [parameters::key_name(name), parameters::cert_name(name)] {
        if parameters::get(clients, &p).await?.is_some() {
            found.push(format!("SSM parameter {p}"));
        }
    }
    Ok(found)
}
