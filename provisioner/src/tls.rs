//! The deployment's TLS identity, made on the user's machine by `skiff up`:
//! a deployment CA and a server certificate it signs, whose subject
//! alternative names are the Elastic IP (an IP SAN) and its public DNS
//! name, so a Kafka client that trusts the CA file verifies the host with
//! its default settings (librdkafka's
//! `ssl.endpoint.identification.algorithm=https`).
//!
//! Why this design (option (b) of the security issue): the only channels
//! to the instance that AWS authenticates are its API calls. The server's
//! private key is put in SSM Parameter Store as a SecureString by the
//! user's own credentials, and read at boot by the instance's role (which
//! may read that one parameter and nothing else); the CA certificate stays
//! on the user's machine for clients to trust. No private key is ever in
//! user data (readable by anyone who may DescribeInstanceAttribute) or in
//! tags. The CA's own key is used once, to sign the server certificate,
//! and then dropped: it is never written anywhere, so nobody (skiff
//! included) can mint another certificate this CA vouches for. The price:
//! a new server certificate (a new Elastic IP, the parameter lost, expiry)
//! needs a new CA, which clients must be given again; `up` says so.
//!
//! Key type: ECDSA P-256 (rcgen's default; every TLS 1.2/1.3 client
//! speaks it, and its handshake costs the t3.micro least). Validity: 825
//! days, the longest some platforms accept for a server certificate;
//! `up` issues a new one when less than [`RENEW_BEFORE`] is left.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How long a new certificate is valid.
pub const VALIDITY: Duration = Duration::from_secs(825 * 24 * 3600);
/// `up` replaces a certificate with less than this left.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Clock skew tolerated at the start of the validity (the instance's clock
/// or a client's may be a little behind the user's).
const BACKDATE: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot make the deployment's certificate: {0}")]
    Issue(#[from] rcgen::Error),
    #[error("the CA file holds no usable certificate: {0}")]
    BadCa(String),
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

/// A freshly issued identity. The server key is only in `key_pem`; Debug
/// does not print it.
pub struct Issued {
    /// The CA certificate (PEM): what clients trust.
    pub ca_pem: String,
    /// Server certificate then CA certificate (PEM): what the broker
    /// presents.
    pub chain_pem: String,
    /// The server's PKCS#8 private key (PEM).
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("ca_pem", &self.ca_pem)
            .field("chain_pem", &self.chain_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// The public IPv4 DNS name EC2 gives `ip` in `region`: in us-east-1
/// `ec2-A-B-C-D.compute-1.amazonaws.com`, elsewhere
/// `ec2-A-B-C-D.REGION.compute.amazonaws.com` (EC2 User Guide, "EC2
/// instance hostnames, DNS names, and domains",
/// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-naming.html;
/// the default VPC has DNS hostnames on, so the name resolves to the
/// Elastic IP from the internet).
pub fn public_dns_name(ip: Ipv4Addr, region: &str) -> String {
    let dashed = ip.to_string().replace('.', "-");
    if region == "us-east-1" {
        format!("ec2-{dashed}.compute-1.amazonaws.com")
    } else {
        format!("ec2-{dashed}.{region}.compute.amazonaws.com")
    }
}

fn validity(params: &mut CertificateParams, now: SystemTime) {
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + VALIDITY).into();
}

/// Makes a CA for deployment `name` and a server certificate for `ip`
/// and `dns`, valid from `now`. The CA key is dropped on return.
pub fn issue(name: &str, ip: Ipv4Addr, dns: &str, now: SystemTime) -> Result<Issued, TlsError> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("skiff deployment {name} CA"));
    ca.distinguished_name = dn;
    // It signs end-entity certificates only.
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca, now);
    let ca_cert = ca.self_signed(&ca_key)?;

    let key = KeyPair::generate()?;
    let mut server = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, dns);
    server.distinguished_name = dn;
    server.subject_alt_names = vec![
        SanType::IpAddress(IpAddr::V4(ip)),
        SanType::DnsName(dns.try_into()?),
    ];
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    validity(&mut server, now);
    let issuer = Issuer::new(ca, ca_key);
    let server_cert = server.signed_by(&key, &issuer)?;
    // The CA key goes with `issuer`, here.
    drop(issuer);

    let ca_pem = ca_cert.pem();
    Ok(Issued {
        chain_pem: format!("{}{}", server_cert.pem(), ca_pem),
        ca_pem,
        key_pem: key.serialize_pem(),
    })
}

/// The certificates of a PEM text, in order.
pub fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .collect()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn roots(ca_pem: &str) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    let cas = certs(ca_pem);
    if cas.is_empty() {
        return Err(TlsError::BadCa("no PEM certificate in it".into()));
    }
    for c in cas {
        roots.add(c).map_err(|e| TlsError::BadCa(format!("{e}")))?;
    }
    Ok(roots)
}

/// A TLS client configuration that trusts only `ca_pem` (the probe's).
pub fn client_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_pem)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Whether `chain_pem` is what a client trusting `ca_pem` accepts for
/// `ip` and for `dns`, still at `at` (give now + [`RENEW_BEFORE`] to ask
/// "good for a while yet"). The same verifier rustls clients use.
pub fn check(
    ca_pem: &str,
    chain_pem: &str,
    ip: Ipv4Addr,
    dns: &str,
    at: SystemTime,
) -> Result<(), String> {
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots(ca_pem).map_err(|e| e.to_string())?),
        provider(),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let chain = certs(chain_pem);
    let Some((leaf, rest)) = chain.split_first() else {
        return Err("no certificate in the chain".into());
    };
    let at = UnixTime::since_unix_epoch(
        at.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default(),
    );
    let dns_name = ServerName::try_from(dns.to_string()).map_err(|e| e.to_string())?;
    for name in [ServerName::IpAddress(IpAddr::V4(ip).into()), dns_name] {
        verifier
            .verify_server_cert(leaf, rest, &name, &[], at)
            .map_err(|e| format!("{}: {e}", name.to_str()))?;
    }
    Ok(())
}

/// Whether `key_pem` is the private key of `chain_pem`'s first
/// certificate (the two parameters are written one after the other; an
/// interrupted `up` may leave a pair that does not belong together).
pub fn key_matches(chain_pem: &str, key_pem: &str) -> bool {
    let Ok(key) = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()) else {
        return false;
    };
    let chain = certs(chain_pem);
    if chain.is_empty() {
        return false;
    }
    let provider = provider();
    let Ok(key) = provider.key_provider.load_private_key(key) else {
        return false;
    };
    rustls::sign::CertifiedKey::new(chain, key)
        .keys_match()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

    #[test]
    fn dns_names_per_region() {
        assert_eq!(
            public_dns_name(IP, "us-east-1"),
            "ec2-203-0-113-9.compute-1.amazonaws.com"
        );
        assert_eq!(
            public_dns_name(IP, "eu-west-1"),
            "ec2-203-0-113-9.eu-west-1.compute.amazonaws.com"
        );
    }

    #[test]
    fn the_certificate_verifies_for_both_names_and_only_them() {
        let now = SystemTime::now();
        let dns = public_dns_name(IP, "eu-west-1");
        let id = issue("prod", IP, &dns, now).unwrap();
        assert!(id.key_pem.contains("PRIVATE KEY"));
        assert!(!id.chain_pem.contains("PRIVATE KEY"));
        assert!(!id.ca_pem.contains("PRIVATE KEY"));
        assert!(!format!("{id:?}").contains("PRIVATE KEY"));
        assert_eq!(certs(&id.chain_pem).len(), 2);
        check(&id.ca_pem, &id.chain_pem, IP, &dns, now).unwrap();
        check(&id.ca_pem, &id.chain_pem, IP, &dns, now + RENEW_BEFORE).unwrap();
        // Another address, another name, another CA, expiry.
        let other = Ipv4Addr::new(203, 0, 113, 10);
        assert!(check(&id.ca_pem, &id.chain_pem, other, &dns, now).is_err());
        let e = check(&id.ca_pem, &id.chain_pem, IP, "example.com", now).unwrap_err();
        assert!(e.contains("example.com"), "{e}");
        let stranger = issue("prod", IP, &dns, now).unwrap();
        assert!(check(&stranger.ca_pem, &id.chain_pem, IP, &dns, now).is_err());
        let day = Duration::from_secs(24 * 3600);
        assert!(check(&id.ca_pem, &id.chain_pem, IP, &dns, now + VALIDITY + day).is_err());
        assert!(check("not pem", &id.chain_pem, IP, &dns, now).is_err());
        assert!(client_config(&id.ca_pem).is_ok());
        assert!(key_matches(&id.chain_pem, &id.key_pem));
        assert!(!key_matches(&id.chain_pem, &stranger.key_pem));
        assert!(!key_matches(&id.chain_pem, "junk"));
        assert!(client_config("").is_err());
    }
}
