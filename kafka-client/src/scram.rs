//! SCRAM (RFC 5802, with SHA-256 per RFC 7677 and SHA-512 as Kafka names
//! it): the client's side of the exchange, and the salted password and
//! stored/server keys a credential is made of (what AlterUserScramCredentials
//! sends and what a broker stores).
//!
//! Hand-written on aws-lc-rs (already linked by rustls) because the SCRAM
//! client crates on crates.io either pull in a second crypto library or are
//! unmaintained; the exchange is four messages. Kafka's form of it: no
//! channel binding (`n,,`), no SASLprep (the password's UTF-8 bytes, as
//! Kafka's ScramFormatter), iterations at least 4096 and, here, at most
//! 16384 (Kafka's own maximum), so a hostile server cannot make the client
//! spend minutes in PBKDF2. The server's signature is always verified: a
//! server that does not know the password cannot finish the exchange.

use aws_lc_rs::{constant_time, digest, hmac, pbkdf2, rand};
use base64::Engine;
use std::num::NonZeroU32;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Kafka's minimum iteration count (ScramMechanism.minIterations).
pub const MIN_ITERATIONS: u32 = 4096;
/// Kafka's maximum iteration count for a stored credential.
pub const MAX_ITERATIONS: u32 = 16384;
/// Longest server message accepted (a real one is ~100 bytes).
const MAX_SERVER_MESSAGE: usize = 4096;

/// A SCRAM hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Sha256,
    Sha512,
}

impl Mechanism {
    /// The SASL name (`SCRAM-SHA-512`).
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Sha256 => "SCRAM-SHA-256",
            Mechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// Kafka's ScramMechanism type in the credential APIs (1 = SHA-256,
    /// 2 = SHA-512).
    pub fn kafka_type(self) -> i8 {
        match self {
            Mechanism::Sha256 => 1,
            Mechanism::Sha512 => 2,
        }
    }

    pub fn from_kafka_type(t: i8) -> Option<Mechanism> {
        match t {
            1 => Some(Mechanism::Sha256),
            2 => Some(Mechanism::Sha512),
            _ => None,
        }
    }

    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name.to_ascii_uppercase().as_str() {
            "SCRAM-SHA-256" => Some(Mechanism::Sha256),
            "SCRAM-SHA-512" => Some(Mechanism::Sha512),
            _ => None,
        }
    }

    fn hmac_alg(self) -> hmac::Algorithm {
        match self {
            Mechanism::Sha256 => hmac::HMAC_SHA256,
            Mechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest_alg(self) -> &'static digest::Algorithm {
        match self {
            Mechanism::Sha256 => &digest::SHA256,
            Mechanism::Sha512 => &digest::SHA512,
        }
    }

    fn pbkdf2_alg(self) -> pbkdf2::Algorithm {
        match self {
            Mechanism::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Mechanism::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn len(self) -> usize {
        self.digest_alg().output_len()
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac_alg(), key), data)
            .as_ref()
            .to_vec()
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.digest_alg(), data).as_ref().to_vec()
    }

    /// Hi(password, salt, i) of RFC 5802 (PBKDF2 with the mechanism's HMAC).
    pub fn salted_password(self, password: &str, salt: &[u8], iterations: NonZeroU32) -> Vec<u8> {
        let mut out = vec![0; self.len()];
        pbkdf2::derive(
            self.pbkdf2_alg(),
            iterations,
            salt,
            password.as_bytes(),
            &mut out,
        );
        out
    }

    /// A new credential for `password` in Kafka's text form
    /// (`salt=B64,stored_key=B64,server_key=B64,iterations=N`, as
    /// kafka-configs and a broker's bootstrap user take it), with a random
    /// 32-byte salt. Only the verifier: the password cannot be recovered.
    pub fn credential_text(self, password: &str, iterations: NonZeroU32) -> String {
        let salt = random_bytes(32);
        let (stored, server) = self.keys(&self.salted_password(password, &salt, iterations));
        format!(
            "salt={},stored_key={},server_key={},iterations={iterations}",
            B64.encode(&salt),
            B64.encode(stored),
            B64.encode(server)
        )
    }

    /// (StoredKey, ServerKey) of a salted password: what a server keeps.
    pub fn keys(self, salted_password: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let client_key = self.hmac(salted_password, b"Client Key");
        let stored_key = self.hash(&client_key);
        let server_key = self.hmac(salted_password, b"Server Key");
        (stored_key, server_key)
    }
}

/// Why a SCRAM exchange failed on the client's side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("the server's SCRAM message is malformed: {0}")]
    Malformed(&'static str),
    #[error("the server's nonce does not extend the client's (replayed or forged exchange)")]
    NonceMismatch,
    #[error(
        "the server asks for {0} iterations; {MIN_ITERATIONS} to {MAX_ITERATIONS} are accepted"
    )]
    Iterations(u64),
    #[error("the server refused the credentials: {0}")]
    ServerError(String),
    #[error("the server's signature is wrong: it does not know this user's credential (wrong server, or a man in the middle)")]
    BadServerSignature,
}

/// Random bytes from the OS generator (aws-lc-rs's SystemRandom).
pub fn random_bytes(n: usize) -> Vec<u8> {
    use rand::SecureRandom;
    let mut b = vec![0; n];
    rand::SystemRandom::new()
        .fill(&mut b)
        .expect("the OS random generator failed");
    b
}

/// A new client nonce: 24 random bytes, base64 (printable, no ',').
fn new_nonce() -> String {
    B64.encode(random_bytes(24))
}

/// `=` and `,` escaped in a SCRAM user name (RFC 5802 §5.1).
fn escape_user(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// One exchange, step by step: [`Client::first`], then
/// [`Client::final_message`] with the server's first message, then
/// [`Client::verify`] with its final one.
pub struct Client {
    mechanism: Mechanism,
    password: String,
    nonce: String,
    first_bare: String,
    /// Set by `final_message`: the server signature to expect.
    expected_signature: Option<Vec<u8>>,
}

impl Client {
    pub fn new(mechanism: Mechanism, user: &str, password: &str) -> Client {
        Client::with_nonce(mechanism, user, password, new_nonce())
    }

    /// With a given nonce (the RFC's test vectors).
    pub fn with_nonce(mechanism: Mechanism, user: &str, password: &str, nonce: String) -> Client {
        let first_bare = format!("n={},r={nonce}", escape_user(user));
        Client {
            mechanism,
            password: password.to_string(),
            nonce,
            first_bare,
            expected_signature: None,
        }
    }

    /// client-first-message.
    pub fn first(&self) -> String {
        format!("n,,{}", self.first_bare)
    }

    /// client-final-message for the server's first message.
    pub fn final_message(&mut self, server_first: &[u8]) -> Result<String, ScramError> {
        let server_first = text(server_first)?;
        if let Some(e) = server_first.strip_prefix("e=") {
            return Err(ScramError::ServerError(e.to_string()));
        }
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attr in server_first.split(',') {
            match attr.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                Some(("m", _)) => return Err(ScramError::Malformed("mandatory extension")),
                _ => {}
            }
        }
        let nonce = nonce.ok_or(ScramError::Malformed("no nonce"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(ScramError::NonceMismatch);
        }
        let salt = B64
            .decode(salt.ok_or(ScramError::Malformed("no salt"))?)
            .map_err(|_| ScramError::Malformed("the salt is not base64"))?;
        let iterations: u64 = iterations
            .ok_or(ScramError::Malformed("no iteration count"))?
            .parse()
            .map_err(|_| ScramError::Malformed("the iteration count is not a number"))?;
        if !(u64::from(MIN_ITERATIONS)..=u64::from(MAX_ITERATIONS)).contains(&iterations) {
            return Err(ScramError::Iterations(iterations));
        }
        let iterations = NonZeroU32::new(iterations as u32).expect("at least 4096");

        let m = self.mechanism;
        let salted = m.salted_password(&self.password, &salt, iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.first_bare);
        let client_signature = m.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = m.hmac(&salted, b"Server Key");
        self.expected_signature = Some(m.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    /// Checks the server's final message: `v=` with the signature only a
    /// holder of the credential can compute.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let server_final = text(server_final)?;
        if let Some(e) = server_final.strip_prefix("e=") {
            return Err(ScramError::ServerError(e.to_string()));
        }
        let v = server_final
            .split(',')
            .find_map(|a| a.strip_prefix("v="))
            .ok_or(ScramError::Malformed("no verifier"))?;
        let got = B64
            .decode(v)
            .map_err(|_| ScramError::Malformed("the verifier is not base64"))?;
        let want = self
            .expected_signature
            .as_deref()
            .ok_or(ScramError::Malformed("final message before the first"))?;
        constant_time::verify_slices_are_equal(&got, want)
            .map_err(|_| ScramError::BadServerSignature)
    }
}

fn text(b: &[u8]) -> Result<&str, ScramError> {
    if b.len() > MAX_SERVER_MESSAGE {
        return Err(ScramError::Malformed("longer than 4096 bytes"));
    }
    std::str::from_utf8(b).map_err(|_| ScramError::Malformed("not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3.
    #[test]
    fn rfc7677_sha256_exchange() {
        let mut c = Client::with_nonce(
            Mechanism::Sha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        assert_eq!(c.first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first =
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_eq!(
            c.final_message(server_first.as_bytes()).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        // A changed server signature is refused.
        assert_eq!(
            c.verify(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Err(ScramError::BadServerSignature)
        );
        assert!(matches!(
            c.verify(b"e=invalid-proof"),
            Err(ScramError::ServerError(_))
        ));
    }

    #[test]
    fn hostile_server_first_messages_are_refused() {
        let mut c = Client::with_nonce(Mechanism::Sha512, "u", "p", "abc".into());
        for (msg, want) in [
            ("r=xyz123,s=c2FsdA==,i=4096", ScramError::NonceMismatch),
            ("r=abc,s=c2FsdA==,i=4096", ScramError::NonceMismatch),
            ("r=abcd,s=c2FsdA==,i=4095", ScramError::Iterations(4095)),
            (
                "r=abcd,s=c2FsdA==,i=99999999999",
                ScramError::Iterations(99999999999),
            ),
            (
                "r=abcd,s=c2FsdA==",
                ScramError::Malformed("no iteration count"),
            ),
            (
                "r=abcd,s=!!,i=4096",
                ScramError::Malformed("the salt is not base64"),
            ),
            ("s=c2FsdA==,i=4096", ScramError::Malformed("no nonce")),
        ] {
            assert_eq!(c.final_message(msg.as_bytes()), Err(want), "{msg}");
        }
        assert!(c.final_message(&vec![b'r'; 5000]).is_err());
        assert!(c.verify(b"v=AAAA").is_err(), "verify before final");
    }

    #[test]
    fn user_names_are_escaped() {
        let c = Client::with_nonce(Mechanism::Sha256, "a,b=c", "p", "n".into());
        assert_eq!(c.first(), "n,,n=a=2Cb=3Dc,r=n");
    }

    #[test]
    fn keys_match_the_exchange() {
        // The stored key derived for a credential verifies the client's
        // proof the way a server does: H(proof XOR signature) == StoredKey.
        let m = Mechanism::Sha512;
        let salt = b"0123456789abcdef";
        let salted = m.salted_password("pw", salt, NonZeroU32::new(4096).unwrap());
        let (stored, server) = m.keys(&salted);
        assert_eq!((stored.len(), server.len()), (64, 64));
        let mut c = Client::with_nonce(m, "u", "pw", "cn".into());
        let server_first = format!("r=cnsn,s={},i=4096", B64.encode(salt));
        let fin = c.final_message(server_first.as_bytes()).unwrap();
        let proof = B64.decode(fin.rsplit_once(",p=").unwrap().1).unwrap();
        let auth = format!("n=u,r=cn,{server_first},c=biws,r=cnsn");
        let sig = m.hmac(&stored, auth.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        assert_eq!(m.hash(&client_key), stored);
        let v = format!("v={}", B64.encode(m.hmac(&server, auth.as_bytes())));
        c.verify(v.as_bytes()).unwrap();
    }
}
