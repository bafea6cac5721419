//! The endpoint's security against moto: `up` deploys SASL_SSL by default
//! (the TLS key as an SSM SecureString, the role allowed to read exactly
//! that parameter, the admin's SCRAM verifier and no secret in the user
//! data, the password file 0600, a certificate for the Elastic IP and its
//! DNS name that chains to the CA file), converges without rotating
//! anything, issues a new certificate when its parameter is lost, and
//! `down` removes the parameters and the role. `security: plaintext` and
//! `--public`/`--insecure` give the exact messages.
//!
//! The probe of `up` runs over TLS against `FakeBroker::deployed`, which
//! serves the certificate and key it reads back from moto's Parameter
//! Store, so "broker answered" here means the probe verified the deployed
//! certificate with the CA file `up` wrote.

use crate::common::*;
use base64::Engine;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The deployment's local secrets directory (HOME/.config/skiff/NAME).
fn secrets(home: &Path) -> PathBuf {
    home.join(".config/skiff/skiff")
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

async fn user_data(ec2: &aws_sdk_ec2::Client) -> String {
    let id = instance_id(ec2).await;
    let ud = ec2
        .describe_instance_attribute()
        .instance_id(&id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(ud.user_data().unwrap().value().unwrap())
        .unwrap();
    String::from_utf8(raw).unwrap()
}

async fn parameter(moto: &Moto, name: &str) -> Option<aws_sdk_ssm::types::Parameter> {
    ssm(moto)
        .await
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .ok()
        .and_then(|o| o.parameter().cloned())
}

async fn elastic_ip(ec2: &aws_sdk_ec2::Client) -> String {
    ec2.describe_addresses()
        .filters(tag_filter())
        .send()
        .await
        .unwrap()
        .addresses()[0]
        .public_ip()
        .unwrap()
        .to_string()
}

async fn role_policy(moto: &Moto) -> serde_json::Value {
    let doc = iam(moto)
        .await
        .get_role_policy()
        .role_name("skiff-skiff-us-east-1")
        .policy_name("skiff-broker-logs")
        .send()
        .await
        .unwrap();
    let doc = doc.policy_document();
    serde_json::from_str(&if doc.starts_with('{') {
        doc.to_string()
    } else {
        percent_decode(doc)
    })
    .unwrap()
}

/// Verifies `chain_pem` for `name` with a client that trusts only
/// `ca_pem`: what librdkafka does with `ssl.ca.location`.
fn verify(ca_pem: &str, chain_pem: &str, name: &str) -> Result<(), rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .map(Result::unwrap)
        .collect();
    verifier
        .verify_server_cert(
            &chain[0],
            &chain[1..],
            &ServerName::try_from(name.to_string()).unwrap(),
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
}

/// SHA-256 of the chain's base64 lines, as start-broker.sh computes it
/// (`grep -v -- ----- | tr -d '\r\n' | sha256sum`).
fn chain_sha256(chain_pem: &str) -> String {
    let body: String = chain_pem
        .lines()
        .filter(|l| !l.contains("-----"))
        .map(|l| l.trim_end_matches('\r'))
        .collect();
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The subject alternative names of the chain's first certificate.
fn sans(chain_pem: &str) -> Vec<String> {
    let der = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let ext = cert.subject_alternative_name().unwrap().unwrap();
    ext.value
        .general_names
        .iter()
        .map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => format!("DNS:{d}"),
            x509_parser::extensions::GeneralName::IPAddress(ip) => format!("IP:{ip:?}"),
            other => format!("{other:?}"),
        })
        .collect()
}

/// SCRAM-SHA-512's StoredKey check: does `verifier` (Kafka's text form)
/// accept `password`? Computed here from RFC 5802's definitions.
fn verifier_accepts(verifier: &str, password: &str) -> bool {
    use aws_lc_rs::{digest, hmac, pbkdf2};
    let field = |k: &str| {
        let p = format!("{k}=");
        verifier
            .split(',')
            .find_map(|f| f.strip_prefix(&p))
            .unwrap()
            .to_string()
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let salt = b64.decode(field("salt")).unwrap();
    let iterations: u32 = field("iterations").parse().unwrap();
    assert!(iterations >= 4096, "{iterations} iterations");
    let mut salted = [0u8; 64];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA512,
        std::num::NonZeroU32::new(iterations).unwrap(),
        &salt,
        password.as_bytes(),
        &mut salted,
    );
    let client_key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA512, &salted), b"Client Key");
    let stored = digest::digest(&digest::SHA512, client_key.as_ref());
    b64.encode(stored.as_ref()) == field("stored_key")
}

#[tokio::test(flavor = "multi_thread")]
async fn up_deploys_sasl_ssl_with_the_key_in_ssm_and_no_secret_in_user_data() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let broker = FakeBroker::deployed(&moto);
    let up = || {
        Skiff::new(&moto, home.path())
            .env("SKIFF_PROBE_ADDR", &broker.addr)
            .run(&["up", "--allow", ALLOW])
            .ok()
    };
    let run = up();
    let dir = secrets(home.path());
    let password_file = dir.join("admin.password");
    let ca_file = dir.join("ca.pem");
    run.stdout_has(&[
        "(TLS, certificate verified with the deployment's CA)".to_string(),
        "security.protocol=SASL_SSL".to_string(),
        "sasl.mechanism=SCRAM-SHA-512".to_string(),
        "sasl.username=admin".to_string(),
        format!(
            "sasl.password=<the contents of {}>",
            password_file.display()
        ),
        format!("ssl.ca.location={}", ca_file.display()),
    ]);

    // The local secrets: owner-only password, public CA.
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&password_file), 0o600);
    let password = std::fs::read_to_string(&password_file).unwrap();
    let password = password.trim_end();
    assert!(password.len() >= 32, "a short password: {}", password.len());
    let ca = std::fs::read_to_string(&ca_file).unwrap();
    assert!(!ca.contains("PRIVATE KEY"));

    // The key: a standard-tier SecureString; the chain: a String.
    let key = parameter(&moto, "/skiff/skiff/tls-key").await.unwrap();
    assert_eq!(
        key.r#type(),
        Some(&aws_sdk_ssm::types::ParameterType::SecureString)
    );
    assert!(key.value().unwrap().contains("BEGIN PRIVATE KEY"));
    let chain = parameter(&moto, "/skiff/skiff/tls-cert").await.unwrap();
    assert_eq!(
        chain.r#type(),
        Some(&aws_sdk_ssm::types::ParameterType::String)
    );
    let chain = chain.value().unwrap().to_string();
    let described = ssm(&moto).await.describe_parameters().send().await.unwrap();
    for p in described
        .parameters()
        .iter()
        .filter(|p| p.name().is_some_and(|n| n.starts_with("/skiff/")))
    {
        assert_eq!(
            p.tier(),
            Some(&aws_sdk_ssm::types::ParameterTier::Standard),
            "{p:?}"
        );
    }

    // The certificate: the Elastic IP and its DNS name, chaining to the
    // CA file, for both names; not for another address.
    let ec2 = ec2(&moto).await;
    let ip = elastic_ip(&ec2).await;
    let dns = format!("ec2-{}.compute-1.amazonaws.com", ip.replace('.', "-"));
    let names = sans(&chain);
    assert!(names.contains(&format!("DNS:{dns}")), "{names:?}");
    let ip_bytes: Vec<u8> = ip.split('.').map(|o| o.parse().unwrap()).collect();
    assert!(names.contains(&format!("IP:{ip_bytes:?}")), "{names:?}");
    verify(&ca, &chain, &ip).unwrap();
    verify(&ca, &chain, &dns).unwrap();
    assert!(verify(&ca, &chain, "198.51.100.1").is_err());

    // The user data: the broker's settings and the verifier, which accepts
    // the password; neither the password nor any private key.
    let ud = user_data(&ec2).await;
    for line in [
        "SKIFF_SECURITY_PROTOCOL=SASL_SSL",
        "SKIFF_TLS_CERT_FILE=/data/tls/cert.pem",
        "SKIFF_TLS_KEY_FILE=/data/tls/key.pem",
        "SKIFF_SASL_ENABLED_MECHANISMS=SCRAM-SHA-512",
        "SKIFF_AUTHORIZER=acl",
        "SKIFF_SUPER_USERS=User:admin",
        "tls_key_parameter=\"/skiff/skiff/tls-key\"",
        "tls_cert_parameter=\"/skiff/skiff/tls-cert\"",
    ] {
        assert!(ud.contains(line), "user data lacks {line}");
    }
    let bootstrap = ud
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("SKIFF_BOOTSTRAP_USER=admin:SCRAM-SHA-512:")
        })
        .expect("the bootstrap user");
    assert!(verifier_accepts(bootstrap, password));
    assert!(!verifier_accepts(bootstrap, "not the password"));
    assert!(!ud.contains(password), "the password is in the user data");
    assert!(
        !ud.contains("PRIVATE KEY"),
        "a private key is in the user data"
    );
    // The chain's hash, as start-broker.sh computes it, is launched with.
    assert!(
        ud.contains(&format!("tls_cert_sha256=\"{}\"", chain_sha256(&chain))),
        "{ud}"
    );
    let inst = ec2
        .describe_instances()
        .filters(tag_filter())
        .send()
        .await
        .unwrap();
    let tags = format!("{:?}", inst.reservations()[0].instances()[0].tags());
    assert!(!tags.contains(password) && !tags.contains("PRIVATE"));

    // The role: the logs statement and GetParameter on exactly those two
    // ARNs.
    let policy = role_policy(&moto).await;
    let ssm_statements: Vec<&serde_json::Value> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s.to_string().contains("ssm:") || s.to_string().contains("kms:"))
        .collect();
    assert_eq!(ssm_statements.len(), 1, "{policy}");
    assert_eq!(
        ssm_statements[0]["Action"],
        serde_json::json!(["ssm:GetParameter"])
    );
    assert_eq!(
        ssm_statements[0]["Resource"],
        serde_json::json!([
            "arn:aws:ssm:us-east-1:123456789012:parameter/skiff/skiff/tls-key",
            "arn:aws:ssm:us-east-1:123456789012:parameter/skiff/skiff/tls-cert"
        ])
    );

    // A second up changes nothing: no call that writes, same password,
    // same CA, same parameters.
    let before = moto.resources();
    moto.clear_recording();
    let run = up();
    assert!(run.stdout.contains("already up"), "{}", run.stdout);
    assert!(
        mutating(moto.calls()).is_empty(),
        "{:?}",
        mutating(moto.calls())
    );
    assert_unchanged(&before, &moto.resources(), "the second up");
    assert_eq!(
        std::fs::read_to_string(&password_file).unwrap().trim_end(),
        password
    );
    assert_eq!(std::fs::read_to_string(&ca_file).unwrap(), ca);

    // down: the parameters and the role go; the local secrets stay.
    Skiff::new(&moto, home.path())
        .run(&["down", "--yes"])
        .ok()
        .stdout_has(&[
            "SSM parameter /skiff/skiff/tls-key",
            "kept the local secrets",
        ]);
    assert!(parameter(&moto, "/skiff/skiff/tls-key").await.is_none());
    assert!(parameter(&moto, "/skiff/skiff/tls-cert").await.is_none());
    assert_eq!(role_profile_logs(&moto).await, (0, 0, 0));
    assert!(password_file.exists());
    // Nothing left in AWS; --forget-secrets deletes the directory.
    Skiff::new(&moto, home.path())
        .run(&["down", "--yes", "--forget-secrets"])
        .ok()
        .stdout_has(&["nothing to delete", "deleted the local secrets"]);
    assert!(!dir.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_key_parameter_gets_a_new_certificate_and_ca_but_the_same_password() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let broker = FakeBroker::deployed(&moto);
    let up = || {
        Skiff::new(&moto, home.path())
            .env("SKIFF_PROBE_ADDR", &broker.addr)
            .run(&["up", "--allow", ALLOW, "--yes"])
            .ok()
    };
    up();
    let dir = secrets(home.path());
    let password = std::fs::read_to_string(dir.join("admin.password")).unwrap();
    let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let ec2 = ec2(&moto).await;
    let old = instance_id(&ec2).await;
    ssm(&moto)
        .await
        .delete_parameter()
        .name("/skiff/skiff/tls-key")
        .send()
        .await
        .unwrap();

    let run = up();
    assert!(
        run.stdout.contains(&format!(
            "issued a new certificate (no parameter /skiff/skiff/tls-key) and CA: clients must trust the new {}",
            dir.join("ca.pem").display()
        )),
        "{}",
        run.stdout
    );
    let new_ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    assert_ne!(new_ca, ca);
    assert_eq!(
        std::fs::read_to_string(dir.join("admin.password")).unwrap(),
        password
    );
    let chain = parameter(&moto, "/skiff/skiff/tls-cert").await.unwrap();
    let chain = chain.value().unwrap();
    let ip = elastic_ip(&ec2).await;
    verify(&new_ca, chain, &ip).unwrap();
    assert!(verify(&ca, chain, &ip).is_err(), "the old CA still vouches");
    assert!(parameter(&moto, "/skiff/skiff/tls-key").await.is_some());
    // The chain's hash is in the user data: the instance was replaced, and
    // its start script accepts only the new pair.
    let new = instance_id(&ec2).await;
    assert_ne!(new, old);
    assert!(user_data(&ec2)
        .await
        .contains(&format!("tls_cert_sha256=\"{}\"", chain_sha256(chain))));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_makes_no_secret() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--dry-run"])
        .ok()
        .stdout_has(&[
            "would make an admin password",
            "would issue a CA and a certificate for the Elastic IP and its DNS name",
        ]);
    assert!(!secrets(home.path()).exists());
    assert!(mutating(moto.calls()).is_empty());
}

const PUBLIC_REFUSED: &str = "--public with `security: plaintext` would open an unencrypted \
    broker without logins to the whole internet: anyone who finds port 9092 could read, write \
    and delete every topic, and see all traffic. Remove `security: plaintext` from skiff.yaml \
    (SASL_SSL with a password is the default), or allow only your addresses (--allow CIDR), or \
    add --insecure if that is really what you want";

const PLAINTEXT_WARNING: &str = "security: plaintext: the broker has no TLS and no logins; \
    whoever can reach port 9092 (see the allowed addresses) can read and write every topic, and \
    the traffic is readable on the way. Remove `security: plaintext` from skiff.yaml for SASL_SSL";

#[tokio::test(flavor = "multi_thread")]
async fn plaintext_is_an_explicit_opt_out_and_public_plaintext_needs_insecure() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("skiff.yaml"), "security: plaintext\n").unwrap();

    // --public with plaintext: refused before anything is made.
    Skiff::new(&moto, home.path())
        .run(&["up", "--public", "--no-wait"])
        .fails()
        .stderr_has(&[PUBLIC_REFUSED, PLAINTEXT_WARNING]);
    assert!(mutating(moto.calls()).is_empty());
    // --insecure alone means nothing.
    Skiff::new(&moto, home.path())
        .run(&["up", "--insecure", "--allow", ALLOW])
        .fails()
        .stderr_has(&["--public"]);

    // Both: done, with the warnings; no parameter, no secret, no SASL.
    Skiff::new(&moto, home.path())
        .run(&["up", "--public", "--insecure", "--no-wait"])
        .ok()
        .stderr_has(&[
            PLAINTEXT_WARNING,
            "--public --insecure opens port 9092 to the whole internet (0.0.0.0/0) with no authentication",
        ])
        .stdout_has(&["security.protocol=PLAINTEXT", "off (security: plaintext)"]);
    let ec2 = ec2(&moto).await;
    let sg = ec2
        .describe_security_groups()
        .filters(tag_filter())
        .send()
        .await
        .unwrap();
    let cidrs: Vec<_> = sg.security_groups()[0].ip_permissions()[0]
        .ip_ranges()
        .iter()
        .filter_map(|r| r.cidr_ip())
        .collect();
    assert_eq!(cidrs, ["0.0.0.0/0"]);
    let ud = user_data(&ec2).await;
    assert!(ud.contains("SKIFF_SECURITY_PROTOCOL=PLAINTEXT"));
    assert!(!ud.contains("SKIFF_BOOTSTRAP_USER"));
    assert!(ud.contains("tls_key_parameter=\"\""));
    assert!(parameter(&moto, "/skiff/skiff/tls-key").await.is_none());
    assert!(!secrets(home.path()).exists());
    // The role is for the logs only.
    let policy = role_policy(&moto).await;
    assert!(!policy.to_string().contains("ssm:"), "{policy}");
}

#[tokio::test(flavor = "multi_thread")]
async fn public_with_sasl_ssl_is_allowed_without_a_warning() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let run = Skiff::new(&moto, home.path())
        .run(&["up", "--public", "--no-wait"])
        .ok()
        .stdout_has(&[
            "allowing the whole internet (0.0.0.0/0) on port 9092: clients need TLS and the admin password",
            "security.protocol=SASL_SSL",
        ]);
    assert!(!run.stderr.contains("WARNING"), "{}", run.stderr);
    assert!(!run.stderr.contains("no authentication"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_logs_the_role_only_reads_the_key() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("skiff.yaml"), "log_retention_days: 0\n").unwrap();
    Skiff::new(&moto, home.path())
        .run(&["up", "--allow", ALLOW, "--no-wait"])
        .ok()
        .stdout_has(&[
            "created IAM role skiff-skiff-us-east-1 (ssm:GetParameter on /skiff/skiff/tls-key and /skiff/skiff/tls-cert only)",
        ]);
    // A role and its profile, no log group.
    assert_eq!(role_profile_logs(&moto).await, (1, 1, 0));
    let policy = role_policy(&moto).await;
    assert_eq!(policy["Statement"].as_array().unwrap().len(), 1, "{policy}");
    assert_eq!(policy["Statement"][0]["Sid"], "BrokerTlsKey");
}

#[test]
fn forget_secrets_with_keep_data_is_refused() {
    let home = tempfile::tempdir().unwrap();
    Skiff::bare(home.path())
        .run(&["down", "--yes", "--keep-data", "--forget-secrets"])
        .fails()
        .stderr_has(&["--forget-secrets with --keep-data would lock you out"]);
}
