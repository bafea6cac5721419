//! The deployment's admin user: a random password made on the user's
//! machine at the first `up`, and its SCRAM-SHA-512 verifier (RFC 5802,
//! RFC 7677), the only form of it that leaves that machine.
//!
//! The verifier is written in Kafka's text form of a SCRAM credential
//! (`salt=B64,stored_key=B64,server_key=B64,iterations=N`, as
//! `kafka-configs --describe` prints it) and handed to the broker as
//! `SKIFF_BOOTSTRAP_USER=admin:SCRAM-SHA-512:<that>`. It is safe in user
//! data: it lets a server check a proof of the password but not produce
//! one (StoredKey is a hash of the ClientKey a client proves it knows),
//! and with a random 192-bit password it cannot be brute-forced.
//!
//! Crypto from aws-lc-rs (already built for rustls): PBKDF2-HMAC-SHA512,
//! HMAC-SHA512, SHA-512 and the OS random generator.

use aws_lc_rs::{digest, hmac, pbkdf2, rand};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use std::num::NonZeroU32;

/// The admin user's name (a super user: `SKIFF_SUPER_USERS=User:admin`).
pub const ADMIN: &str = "admin";
/// The SASL mechanism.
pub const MECHANISM: &str = "SCRAM-SHA-512";
/// PBKDF2 iterations: twice Kafka's minimum of 4096 (clients pay them once
/// per connection; the broker never does).
pub const ITERATIONS: u32 = 8192;
/// Random bytes in a password (192 bits; 32 base64url characters, which
/// need no SASLprep and no quoting in a properties file).
const PASSWORD_BYTES: usize = 24;
const SALT_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random generator failed")]
pub struct RngError;

/// A new random password.
pub fn new_password() -> Result<String, RngError> {
    let mut bytes = [0u8; PASSWORD_BYTES];
    rand::fill(&mut bytes).map_err(|_| RngError)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The SCRAM-SHA-512 verifier of `password` with `salt`.
pub fn verifier_with_salt(password: &str, salt: &[u8], iterations: u32) -> String {
    let mut salted = [0u8; 64];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA512,
        NonZeroU32::new(iterations.max(1)).expect("at least 1"),
        salt,
        password.as_bytes(),
        &mut salted,
    );
    let key = hmac::Key::new(hmac::HMAC_SHA512, &salted);
    let client_key = hmac::sign(&key, b"Client Key");
    let stored_key = digest::digest(&digest::SHA512, client_key.as_ref());
    let server_key = hmac::sign(&key, b"Server Key");
    format!(
        "salt={},stored_key={},server_key={},iterations={iterations}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key.as_ref()),
        STANDARD.encode(server_key.as_ref()),
    )
}

/// The verifier of `password` with a fresh random salt.
pub fn verifier(password: &str) -> Result<String, RngError> {
    let mut salt = [0u8; SALT_BYTES];
    rand::fill(&mut salt).map_err(|_| RngError)?;
    Ok(verifier_with_salt(password, &salt, ITERATIONS))
}

/// Whether `verifier` (Kafka's text form) is `password`'s.
pub fn matches(password: &str, verifier: &str) -> bool {
    let field = |k: &str| {
        let p = format!("{k}=");
        verifier.split(',').find_map(|f| f.strip_prefix(&p))
    };
    let (Some(salt), Some(iterations)) = (field("salt"), field("iterations")) else {
        return false;
    };
    let (Ok(salt), Ok(iterations)) = (STANDARD.decode(salt), iterations.parse::<u32>()) else {
        return false;
    };
    (4096..=16384).contains(&iterations)
        && verifier_with_salt(password, &salt, iterations) == verifier
}

/// The broker's `SKIFF_BOOTSTRAP_USER` value for the admin.
pub fn bootstrap_user(verifier: &str) -> String {
    format!("{ADMIN}:{MECHANISM}:{verifier}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full SCRAM-SHA-512 exchange computed by hand from RFC 5802's
    /// definitions: the server's check of the client's proof against the
    /// stored verifier passes for the password and fails for another.
    #[test]
    fn a_client_proof_verifies_against_the_verifier() {
        let password = new_password().unwrap();
        assert_eq!(password.len(), 32);
        assert_ne!(password, new_password().unwrap());
        let v = verifier(&password).unwrap();
        let field = |k: &str| {
            let p = format!("{k}=");
            v.split(',')
                .find_map(|f| f.strip_prefix(&p))
                .unwrap()
                .to_string()
        };
        let salt = STANDARD.decode(field("salt")).unwrap();
        let stored = STANDARD.decode(field("stored_key")).unwrap();
        assert_eq!(field("iterations"), "8192");
        assert_eq!(stored.len(), 64);
        let auth_message = b"n=admin,r=abc,r=abcdef,s=xyz,i=8192,c=biws,r=abcdef";
        let proof = |pw: &str| {
            let mut salted = [0u8; 64];
            pbkdf2::derive(
                pbkdf2::PBKDF2_HMAC_SHA512,
                NonZeroU32::new(8192).unwrap(),
                &salt,
                pw.as_bytes(),
                &mut salted,
            );
            let k = hmac::Key::new(hmac::HMAC_SHA512, &salted);
            let client_key = hmac::sign(&k, b"Client Key");
            let stored = digest::digest(&digest::SHA512, client_key.as_ref());
            let sig = hmac::sign(
                &hmac::Key::new(hmac::HMAC_SHA512, stored.as_ref()),
                auth_message,
            );
            client_key
                .as_ref()
                .iter()
                .zip(sig.as_ref())
                .map(|(a, b)| a ^ b)
                .collect::<Vec<u8>>()
        };
        // The server side: ClientKey = proof XOR HMAC(StoredKey, msg);
        // H(ClientKey) must be StoredKey.
        let server_checks = |p: Vec<u8>| {
            let sig = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA512, &stored), auth_message);
            let client_key: Vec<u8> = p.iter().zip(sig.as_ref()).map(|(a, b)| a ^ b).collect();
            digest::digest(&digest::SHA512, &client_key).as_ref() == stored.as_slice()
        };
        assert!(server_checks(proof(&password)));
        assert!(!server_checks(proof("wrong password")));
        assert!(!v.contains(&password));
        assert!(matches(&password, &v));
        assert!(!matches("wrong password", &v));
        assert!(!matches(&password, "salt=x,iterations=8192"));
        assert!(bootstrap_user(&v).starts_with("admin:SCRAM-SHA-512:salt="));
    }

    /// RFC 7677's test vector is for SHA-256; for SHA-512 the value below
    /// was computed once with Python's hashlib/hmac from the same inputs,
    /// so a change of the formula fails here.
    #[test]
    fn known_answer() {
        let v = verifier_with_salt("pencil", b"QSXCR+Q6sek8bf92", 4096);
        assert_eq!(
            v,
            "salt=UVNYQ1IrUTZzZWs4YmY5Mg==,\
             stored_key=VA4qrB/urSH80H/n9A17BEHveAnKi/Zl5+PlDiad82tLQd/VfJYKwyMYgedLNJojLDL2+ckXXRSxMpKFbdXf/w==,\
             server_key=ugN/v+isemRhoXkL1BOk7E62xElRNpH2doAEjl3vlxj0ywVd8YgF0jAkga0oMBD5HGQtT9/H2fvzKDdfSSUX5g==,\
             iterations=4096"
        );
    }
}
