//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka speaks them:
//! the stored verifier (Kafka's `ScramCredential`: salt, iterations, StoredKey,
//! ServerKey; never the password) and the server side of the exchange.
//!
//! The exchange is two round trips, carried in SaslAuthenticate (or raw
//! frames after a v0 SaslHandshake):
//!
//! ```text
//! client-first  n,,n=user,r=CNONCE                     -> ScramServer::start
//! server-first  r=CNONCE SNONCE,s=SALT,i=ITERATIONS    <-
//! client-final  c=biws,r=CNONCE SNONCE,p=PROOF         -> AwaitingClientFinal::finish
//! server-final  v=SERVER-SIGNATURE                     <-
//! ```
//!
//! Everything in a client message is attacker-controlled before
//! authentication: each message is bounded (`MAX_CLIENT_FIRST_LEN`, ...) and
//! each field is checked before any work is done on it. The proof is compared
//! in constant time. An unknown user gets a server-first message like a known
//! one (a salt derived from the name with a per-process secret), and fails
//! only at the proof with the same message as a wrong password, so user names
//! cannot be probed. The server never runs PBKDF2 in SCRAM: that is the
//! client's cost; the server's is three HMACs and a hash.
//!
//! As in Kafka: no SASLprep (names and passwords are used as UTF-8 bytes), no
//! channel binding (`n` or `y` GS2 flags; `p=` is refused), an authorization
//! id is accepted only when it equals the user name, and the `tokenauth`
//! extension (delegation tokens, which Skiff does not have) is refused; other
//! extensions are ignored.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::OnceLock;

use aws_lc_rs::{constant_time, digest, hmac, pbkdf2, rand};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// Kafka's bounds on the iteration count (`ScramMechanism.minIterations` and
/// `maxIterations`). The maximum also bounds what one PLAIN attempt costs.
pub const MIN_ITERATIONS: u32 = 4096;
pub const MAX_ITERATIONS: u32 = 16384;
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// Length of the random salts Skiff generates.
pub const SALT_LEN: usize = 32;
/// Longest salt accepted from a client (AlterUserScramCredentials) or a file.
pub const MAX_SALT_LEN: usize = 128;
/// Longest user name, in bytes after `=2C`/`=3D` unescaping.
pub const MAX_USERNAME_LEN: usize = 256;
/// Longest client nonce accepted (clients send 20-40 characters).
pub const MAX_NONCE_LEN: usize = 128;
/// Longest client-first message: GS2 header, a maximal escaped name (3 bytes
/// per character at worst), a maximal nonce and some extensions.
pub const MAX_CLIENT_FIRST_LEN: usize = 2048;
/// Longest client-final message: channel binding, both nonces, a SHA-512
/// proof in base64 (88 characters) and some extensions.
pub const MAX_CLIENT_FINAL_LEN: usize = 2048;
/// Random bytes in the server's part of the nonce (32 base64 characters).
const SERVER_NONCE_BYTES: usize = 24;

/// The SCRAM hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanism {
    Sha256,
    Sha512,
}

impl Mechanism {
    pub const ALL: [Mechanism; 2] = [Mechanism::Sha256, Mechanism::Sha512];

    /// The SASL mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Sha256 => "SCRAM-SHA-256",
            Mechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The mechanism's number in DescribeUserScramCredentials and
    /// AlterUserScramCredentials (KIP-554: 0 unknown, 1 SHA-256, 2 SHA-512).
    pub fn kafka_type(self) -> i8 {
        match self {
            Mechanism::Sha256 => 1,
            Mechanism::Sha512 => 2,
        }
    }

    pub fn from_kafka_type(t: i8) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.kafka_type() == t)
    }

    /// Length of the hash output, hence of StoredKey, ServerKey and proofs.
    pub fn key_len(self) -> usize {
        match self {
            Mechanism::Sha256 => 32,
            Mechanism::Sha512 => 64,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            Mechanism::Sha256 => &digest::SHA256,
            Mechanism::Sha512 => &digest::SHA512,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Mechanism::Sha256 => hmac::HMAC_SHA256,
            Mechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            Mechanism::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Mechanism::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn hmac_sign(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac(), key), data)
            .as_ref()
            .to_vec()
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.digest(), data).as_ref().to_vec()
    }

    /// `Hi(password, salt, i)` of RFC 5802: PBKDF2 with the mechanism's HMAC
    /// and an output as long as the hash. Costs `iterations` HMACs.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: NonZeroU32) -> Vec<u8> {
        let mut out = vec![0u8; self.key_len()];
        pbkdf2::derive(self.pbkdf2(), iterations, salt, password, &mut out);
        out
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a credential cannot be made or accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialError {
    #[error("iterations {0} is out of range: SCRAM needs {MIN_ITERATIONS} to {MAX_ITERATIONS}")]
    Iterations(u32),
    #[error("a salt of {0} bytes is not accepted: it must have 1 to {MAX_SALT_LEN} bytes")]
    Salt(usize),
    #[error("{what} has {len} bytes; {mechanism} needs {expected}")]
    KeyLength {
        what: &'static str,
        mechanism: Mechanism,
        len: usize,
        expected: usize,
    },
    #[error("the password is empty")]
    EmptyPassword,
    #[error("the system random generator failed")]
    Random,
    #[error("malformed SCRAM credential: {0} (expected salt=BASE64,stored_key=BASE64,server_key=BASE64,iterations=N)")]
    Format(&'static str),
}

/// What the broker stores for one user and mechanism (Kafka's
/// `ScramCredential`). The password cannot be recovered from it, but it lets
/// anyone who has it impersonate nobody: a client proof needs the ClientKey,
/// which only the password gives. (It does allow offline guessing, so it is
/// still kept private.)
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: u32,
}

/// Keys are not printed, even in debug output.
impl fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredential")
            .field("salt_len", &self.salt.len())
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

fn iterations(i: u32) -> Result<NonZeroU32, CredentialError> {
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&i) {
        return Err(CredentialError::Iterations(i));
    }
    NonZeroU32::new(i).ok_or(CredentialError::Iterations(i))
}

fn check_salt(salt: &[u8]) -> Result<(), CredentialError> {
    if salt.is_empty() || salt.len() > MAX_SALT_LEN {
        return Err(CredentialError::Salt(salt.len()));
    }
    Ok(())
}

/// Fills a buffer from the system's random generator.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], CredentialError> {
    let mut b = [0u8; N];
    rand::fill(&mut b).map_err(|_| CredentialError::Random)?;
    Ok(b)
}

impl ScramCredential {
    /// A verifier for `password` with a fresh random salt. Costs
    /// `iterations` HMACs (about 1-3 ms at 4096).
    pub fn generate(
        mechanism: Mechanism,
        password: &[u8],
        iterations: u32,
    ) -> Result<Self, CredentialError> {
        let salt = random_bytes::<SALT_LEN>()?;
        Self::with_salt(mechanism, password, salt.to_vec(), iterations)
    }

    /// A verifier for `password` with the given salt.
    pub fn with_salt(
        mechanism: Mechanism,
        password: &[u8],
        salt: Vec<u8>,
        iterations_: u32,
    ) -> Result<Self, CredentialError> {
        if password.is_empty() {
            return Err(CredentialError::EmptyPassword);
        }
        check_salt(&salt)?;
        let salted = mechanism.salted_password(password, &salt, iterations(iterations_)?);
        Self::from_salted_password(mechanism, &salted, salt, iterations_)
    }

    /// A verifier from the salted password, as AlterUserScramCredentials
    /// sends it (KIP-554: the client salts, the password never travels).
    pub fn from_salted_password(
        mechanism: Mechanism,
        salted_password: &[u8],
        salt: Vec<u8>,
        iterations_: u32,
    ) -> Result<Self, CredentialError> {
        iterations(iterations_)?;
        check_salt(&salt)?;
        if salted_password.len() != mechanism.key_len() {
            return Err(CredentialError::KeyLength {
                what: "the salted password",
                mechanism,
                len: salted_password.len(),
                expected: mechanism.key_len(),
            });
        }
        let client_key = mechanism.hmac_sign(salted_password, b"Client Key");
        Ok(ScramCredential {
            salt,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac_sign(salted_password, b"Server Key"),
            iterations: iterations_,
        })
    }

    /// Checks a credential read from the database or the environment.
    pub fn validate(&self, mechanism: Mechanism) -> Result<(), CredentialError> {
        iterations(self.iterations)?;
        check_salt(&self.salt)?;
        for (what, key) in [
            ("StoredKey", &self.stored_key),
            ("ServerKey", &self.server_key),
        ] {
            if key.len() != mechanism.key_len() {
                return Err(CredentialError::KeyLength {
                    what,
                    mechanism,
                    len: key.len(),
                    expected: mechanism.key_len(),
                });
            }
        }
        Ok(())
    }

    /// Whether `password` is the one this verifier was made from: derives the
    /// salted password (the full PBKDF2 cost) and compares the StoredKey in
    /// constant time. Used by PLAIN.
    pub fn verify_password(&self, mechanism: Mechanism, password: &[u8]) -> bool {
        let Ok(n) = iterations(self.iterations) else {
            return false;
        };
        let salted = mechanism.salted_password(password, &self.salt, n);
        let client_key = mechanism.hmac_sign(&salted, b"Client Key");
        let stored = mechanism.hash(&client_key);
        constant_time::verify_slices_are_equal(&stored, &self.stored_key).is_ok()
    }

    /// Kafka's text form of a credential (`ScramCredentialUtils`):
    /// `salt=BASE64,stored_key=BASE64,server_key=BASE64,iterations=N`. Safe
    /// to hand to a deployment tool: it holds no password.
    pub fn to_kafka_string(&self) -> String {
        format!(
            "salt={},stored_key={},server_key={},iterations={}",
            B64.encode(&self.salt),
            B64.encode(&self.stored_key),
            B64.encode(&self.server_key),
            self.iterations
        )
    }

    /// Parses [`Self::to_kafka_string`]'s form (any order, each key once) and
    /// validates it for `mechanism`.
    pub fn parse_kafka_string(mechanism: Mechanism, s: &str) -> Result<Self, CredentialError> {
        if s.len() > 1024 {
            return Err(CredentialError::Format("longer than 1024 characters"));
        }
        let (mut salt, mut stored, mut server, mut iters) = (None, None, None, None);
        for part in s.trim().split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or(CredentialError::Format("a field without '='"))?;
            let slot = match k.trim() {
                "salt" => &mut salt,
                "stored_key" => &mut stored,
                "server_key" => &mut server,
                "iterations" => {
                    if iters.is_some() {
                        return Err(CredentialError::Format("iterations given twice"));
                    }
                    iters = Some(
                        v.trim()
                            .parse::<u32>()
                            .map_err(|_| CredentialError::Format("iterations is not a number"))?,
                    );
                    continue;
                }
                _ => return Err(CredentialError::Format("unknown field")),
            };
            if slot.is_some() {
                return Err(CredentialError::Format("a field given twice"));
            }
            *slot = Some(
                B64.decode(v.trim())
                    .map_err(|_| CredentialError::Format("a key is not valid base64"))?,
            );
        }
        let cred = ScramCredential {
            salt: salt.ok_or(CredentialError::Format("salt is missing"))?,
            stored_key: stored.ok_or(CredentialError::Format("stored_key is missing"))?,
            server_key: server.ok_or(CredentialError::Format("server_key is missing"))?,
            iterations: iters.ok_or(CredentialError::Format("iterations is missing"))?,
        };
        cred.validate(mechanism)?;
        Ok(cred)
    }
}

/// Why a SCRAM exchange failed. The message is what the client is told (in
/// SaslAuthenticate's error message): precise about the protocol, silent
/// about whether the user exists.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScramError {
    #[error("SCRAM {what} message of {len} bytes is longer than the {max} allowed")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("malformed SCRAM {what} message: {why}")]
    Malformed {
        what: &'static str,
        why: &'static str,
    },
    #[error("SCRAM channel binding is not supported: use the mechanism without -PLUS")]
    ChannelBinding,
    #[error("SCRAM mandatory extensions (m=) are not supported")]
    MandatoryExtension,
    #[error("delegation token authentication (tokenauth) is not supported")]
    TokenAuth,
    #[error(
        "the SCRAM authorization id differs from the user name; impersonation is not supported"
    )]
    AuthorizationId,
    #[error("the nonce of the SCRAM client-final message is not the one the server sent")]
    NonceMismatch,
    #[error("the channel binding of the SCRAM client-final message does not match the client-first GS2 header")]
    ChannelBindingMismatch,
    #[error("Authentication failed: Invalid user credentials")]
    InvalidCredentials,
    #[error("the system random generator failed")]
    Random,
}

const FIRST: &str = "client-first";
const FINAL: &str = "client-final";

fn malformed(what: &'static str, why: &'static str) -> ScramError {
    ScramError::Malformed { what, why }
}

/// A parsed client-first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The GS2 header exactly as sent (`n,,` usually), echoed in `c=`.
    pub gs2_header: String,
    /// The message without the GS2 header: part of the AuthMessage.
    pub bare: String,
    /// The user name, unescaped.
    pub username: String,
    pub client_nonce: String,
}

/// `saslname` of RFC 5802: `=2C` is `,`, `=3D` is `=`, any other `=` or a
/// bare `,` is an error.
fn decode_saslname(s: &str, what: &'static str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['=', ',']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("=2C") {
            out.push(',');
        } else if tail.starts_with("=3D") {
            out.push('=');
        } else {
            return Err(malformed(
                what,
                "'=' in a name must be escaped as =3D and ',' as =2C",
            ));
        }
        rest = &tail[3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `printable` of RFC 5802: 0x21-0x7E except ','.
fn valid_nonce(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

fn utf8<'a>(msg: &'a [u8], what: &'static str, max: usize) -> Result<&'a str, ScramError> {
    if msg.len() > max {
        return Err(ScramError::TooLong {
            what,
            len: msg.len(),
            max,
        });
    }
    std::str::from_utf8(msg).map_err(|_| malformed(what, "not valid UTF-8"))
}

impl ClientFirst {
    /// Parses `gs2-header client-first-message-bare`, every field bounded.
    pub fn parse(msg: &[u8]) -> Result<ClientFirst, ScramError> {
        let s = utf8(msg, FIRST, MAX_CLIENT_FIRST_LEN)?;
        let (cbind, rest) = s.split_once(',').ok_or(malformed(FIRST, "no GS2 header"))?;
        match cbind {
            "n" | "y" => {}
            c if c.starts_with("p=") => return Err(ScramError::ChannelBinding),
            _ => return Err(malformed(FIRST, "the GS2 flag must be 'n', 'y' or 'p='")),
        }
        let (authzid, bare) = rest.split_once(',').ok_or(malformed(
            FIRST,
            "no authorization id field in the GS2 header",
        ))?;
        let authzid = match authzid {
            "" => None,
            a => Some(decode_saslname(
                a.strip_prefix("a=").ok_or(malformed(
                    FIRST,
                    "the authorization id must start with 'a='",
                ))?,
                FIRST,
            )?),
        };
        let gs2_header = s[..s.len() - bare.len()].to_string();
        let mut attrs = bare.split(',');
        let user = attrs.next().unwrap_or_default();
        if user.starts_with("m=") {
            return Err(ScramError::MandatoryExtension);
        }
        let username = decode_saslname(
            user.strip_prefix("n=")
                .ok_or(malformed(FIRST, "the user name (n=) must come first"))?,
            FIRST,
        )?;
        if username.is_empty() {
            return Err(malformed(FIRST, "the user name is empty"));
        }
        if username.len() > MAX_USERNAME_LEN {
            return Err(malformed(FIRST, "the user name is longer than 256 bytes"));
        }
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(malformed(FIRST, "the nonce (r=) must follow the user name"))?;
        if nonce.len() > MAX_NONCE_LEN {
            return Err(malformed(FIRST, "the nonce is longer than 128 characters"));
        }
        if !valid_nonce(nonce) {
            return Err(malformed(
                FIRST,
                "the nonce must be printable ASCII without ','",
            ));
        }
        // Extensions (Kafka's ScramExtensions): key=value. Only tokenauth has
        // a meaning, and Skiff has no delegation tokens.
        for ext in attrs {
            let (k, v) = ext.split_once('=').unwrap_or((ext, ""));
            if k == "tokenauth" && v.eq_ignore_ascii_case("true") {
                return Err(ScramError::TokenAuth);
            }
        }
        if let Some(a) = authzid {
            if a != username {
                return Err(ScramError::AuthorizationId);
            }
        }
        Ok(ClientFirst {
            gs2_header,
            bare: bare.to_string(),
            username,
            client_nonce: nonce.to_string(),
        })
    }
}

/// The server side of one SCRAM exchange, before the client-first message.
pub struct ScramServer;

/// The server side after it sent server-first: what it needs to check the
/// client's proof. Holds key material; not printed.
pub struct AwaitingClientFinal {
    mechanism: Mechanism,
    username: String,
    known_user: bool,
    credential: ScramCredential,
    gs2_header: String,
    nonce: String,
    /// The client's part of `nonce` (its prefix).
    client_nonce_len: usize,
    client_first_bare: String,
    server_first: String,
}

impl fmt::Debug for AwaitingClientFinal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwaitingClientFinal")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A successful exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub username: String,
    /// The server-final message (`v=...`) the client must still receive and
    /// check: it proves the server knew the verifier.
    pub server_final: Vec<u8>,
}

/// The per-process key that makes unknown users' fake salts stable within a
/// run (a repeated probe sees the same salt) and unpredictable across runs.
fn unknown_user_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| random_bytes::<32>().unwrap_or([0x5a; 32]))
}

/// A credential for a user that does not exist: a salt that looks like a
/// real one and keys no proof matches (the exchange is failed regardless).
fn unknown_user_credential(mechanism: Mechanism, username: &str) -> ScramCredential {
    let mac = |label: &[u8]| {
        let mut data = label.to_vec();
        data.extend_from_slice(mechanism.name().as_bytes());
        data.push(0);
        data.extend_from_slice(username.as_bytes());
        mechanism.hmac_sign(unknown_user_key(), &data)
    };
    let mut salt = mac(b"salt");
    salt.truncate(SALT_LEN);
    ScramCredential {
        salt,
        stored_key: mac(b"stored"),
        server_key: mac(b"server"),
        iterations: DEFAULT_ITERATIONS,
    }
}

impl ScramServer {
    /// Handles the client-first message: parses it, looks the user up, and
    /// returns the server-first message and the state awaiting the
    /// client-final message.
    pub fn start(
        mechanism: Mechanism,
        client_first: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<(Vec<u8>, AwaitingClientFinal), ScramError> {
        let nonce = random_bytes::<SERVER_NONCE_BYTES>().map_err(|_| ScramError::Random)?;
        Self::start_with_nonce(mechanism, client_first, &B64.encode(nonce), lookup)
    }

    fn start_with_nonce(
        mechanism: Mechanism,
        client_first: &[u8],
        server_nonce: &str,
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<(Vec<u8>, AwaitingClientFinal), ScramError> {
        let first = ClientFirst::parse(client_first)?;
        let found = lookup(&first.username).filter(|c| c.validate(mechanism).is_ok());
        let known_user = found.is_some();
        let credential =
            found.unwrap_or_else(|| unknown_user_credential(mechanism, &first.username));
        let nonce = format!("{}{server_nonce}", first.client_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&credential.salt),
            credential.iterations
        );
        Ok((
            server_first.clone().into_bytes(),
            AwaitingClientFinal {
                mechanism,
                username: first.username,
                known_user,
                credential,
                gs2_header: first.gs2_header,
                client_nonce_len: first.client_nonce.len(),
                nonce,
                client_first_bare: first.bare,
                server_first,
            },
        ))
    }
}

impl AwaitingClientFinal {
    /// The user name the client claimed (not yet proven).
    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Handles the client-final message: checks the channel binding, the
    /// nonce and, in constant time, the proof.
    pub fn finish(self, client_final: &[u8]) -> Result<Authenticated, ScramError> {
        let s = utf8(client_final, FINAL, MAX_CLIENT_FINAL_LEN)?;
        let (without_proof, proof) = s
            .rsplit_once(",p=")
            .ok_or(malformed(FINAL, "the proof (p=) must be the last field"))?;
        let mut attrs = without_proof.split(',');
        let cbind = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(malformed(FINAL, "the channel binding (c=) must come first"))?;
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(malformed(
                FINAL,
                "the nonce (r=) must follow the channel binding",
            ))?;
        let cbind = B64
            .decode(cbind)
            .map_err(|_| malformed(FINAL, "the channel binding is not valid base64"))?;
        if cbind != self.gs2_header.as_bytes() {
            return Err(ScramError::ChannelBindingMismatch);
        }
        // librdkafka before 2.6.1 (Debian's and Ubuntu's kcat among them)
        // sends the client nonce twice: client + client + server
        // (librdkafka #4895). Kafka 3.x accepts it; so does Skiff. The
        // proof covers the message as sent, so it still binds the exchange.
        let doubled = nonce.len() == self.nonce.len() + self.client_nonce_len
            && nonce.ends_with(self.nonce.as_str())
            && nonce[..self.client_nonce_len] == self.nonce[..self.client_nonce_len];
        if nonce != self.nonce && !doubled {
            return Err(ScramError::NonceMismatch);
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| malformed(FINAL, "the proof is not valid base64"))?;
        let m = self.mechanism;
        if proof.len() != m.key_len() {
            return Err(malformed(
                FINAL,
                "the proof's length does not match the mechanism",
            ));
        }
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let signature = m.hmac_sign(&self.credential.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        let stored = m.hash(&client_key);
        let proof_ok =
            constant_time::verify_slices_are_equal(&stored, &self.credential.stored_key).is_ok();
        if !(proof_ok && self.known_user) {
            return Err(ScramError::InvalidCredentials);
        }
        let server_signature = m.hmac_sign(&self.credential.server_key, auth_message.as_bytes());
        Ok(Authenticated {
            username: self.username,
            server_final: format!("v={}", B64.encode(server_signature)).into_bytes(),
        })
    }
}

/// The client side of SCRAM, as a Kafka client does it: for Skiff's tests and
/// benchmarks, and for tools that log in to a broker. It checks the server
/// too: the server-first message is bounded and its iteration count must be
/// within Kafka's range, and the server-final signature must match.
pub struct ScramClient {
    mechanism: Mechanism,
    username: String,
    password: Vec<u8>,
    nonce: String,
    gs2_header: String,
    /// The expected server-final message, once client-final is made.
    server_final: Option<Vec<u8>>,
}

const SERVER_FIRST: &str = "server-first";

impl ScramClient {
    /// A client with a random nonce.
    pub fn new(mechanism: Mechanism, username: &str, password: &[u8]) -> Result<Self, ScramError> {
        let nonce = random_bytes::<18>().map_err(|_| ScramError::Random)?;
        Ok(Self::with_nonce(
            mechanism,
            username,
            password,
            &B64.encode(nonce),
        ))
    }

    /// A client with a given nonce (test vectors).
    pub fn with_nonce(mechanism: Mechanism, username: &str, password: &[u8], nonce: &str) -> Self {
        ScramClient {
            mechanism,
            username: username.to_string(),
            password: password.to_vec(),
            nonce: nonce.to_string(),
            gs2_header: "n,,".into(),
            server_final: None,
        }
    }

    /// Sends an authorization id in the GS2 header.
    pub fn with_authzid(mut self, authzid: &str) -> Self {
        self.gs2_header = format!("n,a={},", escape_saslname(authzid));
        self
    }

    fn first_bare(&self) -> String {
        format!("n={},r={}", escape_saslname(&self.username), self.nonce)
    }

    /// The client-first message.
    pub fn client_first(&self) -> Vec<u8> {
        format!("{}{}", self.gs2_header, self.first_bare()).into_bytes()
    }

    /// The client-final message answering `server_first`. Costs the PBKDF2
    /// derivation (`iterations` HMACs).
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        let bad = |why| malformed(SERVER_FIRST, why);
        let sf = utf8(server_first, SERVER_FIRST, MAX_CLIENT_FIRST_LEN)?;
        let mut it = sf.split(',');
        let nonce = it
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(bad("no nonce"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() || !valid_nonce(nonce)
        {
            return Err(ScramError::NonceMismatch);
        }
        let salt = it
            .next()
            .and_then(|a| a.strip_prefix("s="))
            .and_then(|s| B64.decode(s).ok())
            .ok_or(bad("no valid salt"))?;
        check_salt(&salt).map_err(|_| bad("salt length out of range"))?;
        let n = it
            .next()
            .and_then(|a| a.strip_prefix("i="))
            .and_then(|i| i.parse::<u32>().ok())
            .ok_or(bad("no valid iteration count"))?;
        let n = iterations(n).map_err(|_| bad("iteration count out of range"))?;
        let m = self.mechanism;
        let salted = m.salted_password(&self.password, &salt, n);
        let client_key = m.hmac_sign(&salted, b"Client Key");
        let stored = m.hash(&client_key);
        let without_proof = format!("c={},r={nonce}", B64.encode(&self.gs2_header));
        let auth_message = format!("{},{sf},{without_proof}", self.first_bare());
        let signature = m.hmac_sign(&stored, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = m.hmac_sign(&salted, b"Server Key");
        let server_signature = m.hmac_sign(&server_key, auth_message.as_bytes());
        self.server_final = Some(format!("v={}", B64.encode(server_signature)).into_bytes());
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks the server-final message: the server knew the verifier.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), ScramError> {
        match &self.server_final {
            Some(want) if constant_time::verify_slices_are_equal(want, server_final).is_ok() => {
                Ok(())
            }
            _ => Err(ScramError::InvalidCredentials),
        }
    }
}

/// `saslname` escaping: `,` as `=2C`, `=` as `=3D`.
fn escape_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        B64.decode(s).unwrap()
    }

    /// RFC 7677 section 3: user "user", password "pencil".
    #[test]
    fn rfc7677_sha256_example() {
        let salt = b64("W22ZaJ0SNY7soEsUEjb6gQ==");
        let cred = ScramCredential::with_salt(Mechanism::Sha256, b"pencil", salt, 4096).unwrap();
        // StoredKey/ServerKey as Python's hashlib.pbkdf2_hmac + hmac compute
        // them for the RFC's salt (see the SHA-512 test for the script).
        assert_eq!(
            cred.stored_key,
            b64("WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=")
        );
        assert_eq!(
            cred.server_key,
            b64("wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=")
        );
        let (server_first, state) = ScramServer::start_with_nonce(
            Mechanism::Sha256,
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            |u| (u == "user").then(|| cred.clone()),
        )
        .unwrap();
        assert_eq!(
            server_first,
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let done = state
            .finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert_eq!(done.username, "user");
        assert_eq!(
            done.server_final,
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    /// A SHA-512 vector computed independently with Python's hashlib/hmac:
    ///
    /// ```python
    /// import hashlib, hmac, base64
    /// h, salt = hashlib.sha512, base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    /// salted = hashlib.pbkdf2_hmac("sha512", b"pencil", salt, 4096)
    /// ck = hmac.new(salted, b"Client Key", h).digest(); stored = h(ck).digest()
    /// sk = hmac.new(salted, b"Server Key", h).digest()
    /// cn, sn = "rOprNGfwEbeRWgbNEkqO", "3rfcNHYJY1ZVvWVs7j"
    /// sf = f"r={cn}{sn},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    /// am = f"n=user,r={cn},{sf},c=biws,r={cn}{sn}".encode()
    /// proof = bytes(a ^ b for a, b in zip(ck, hmac.new(stored, am, h).digest()))
    /// ss = hmac.new(sk, am, h).digest()   # printed base64 below
    /// ```
    #[test]
    fn sha512_vector_from_python() {
        let salt = b64("W22ZaJ0SNY7soEsUEjb6gQ==");
        let cred = ScramCredential::with_salt(Mechanism::Sha512, b"pencil", salt, 4096).unwrap();
        assert_eq!(cred.stored_key, b64("6AAub3065EYRmyFpM2RNwqK+eGnrkYuEWbXn19LsEmBqzu8QaCXNc1FwpnX9NhH2hK/60dzj9DoO5DvVkOHbvg=="));
        assert_eq!(cred.server_key, b64("jZHbYjC1aHh0/hKbxyBuGFjDrgjgKTT1esA7awWiKcRZ0o/0b1yWEebBeSVkkCFewf91nLDfKF24mvD5nmE6rA=="));
        let (server_first, state) = ScramServer::start_with_nonce(
            Mechanism::Sha512,
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            "3rfcNHYJY1ZVvWVs7j",
            |_| Some(cred.clone()),
        )
        .unwrap();
        assert_eq!(
            server_first,
            b"r=rOprNGfwEbeRWgbNEkqO3rfcNHYJY1ZVvWVs7j,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let done = state.finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO3rfcNHYJY1ZVvWVs7j,p=VUqc6osW6RpC1UhYGKpiJiHsJhx9zoaeu2VwbosgP44Z+L5wHJtbJk516F68jqQVsxVeyoDOOVZJ4aHoV4zVwQ==").unwrap();
        assert_eq!(done.server_final, b"v=XgY5tKmDbMh+tmaKYD/U99f0NQXZT2VVb9x3h/Iykdv3w+Zsfhp0yDza2/y5NN217oPRfJvfgK15KMNAQ94cow==".to_vec());
    }

    fn exchange(
        m: Mechanism,
        client: &mut ScramClient,
        cred: Option<ScramCredential>,
    ) -> Result<Authenticated, ScramError> {
        let (sf, state) = ScramServer::start(m, &client.client_first(), |_| cred)?;
        let cf = client.client_final(&sf)?;
        let done = state.finish(&cf)?;
        client.verify_server_final(&done.server_final)?;
        assert!(client.verify_server_final(b"v=AAAA").is_err());
        Ok(done)
    }

    #[test]
    fn generated_verifiers_authenticate_both_mechanisms() {
        for m in Mechanism::ALL {
            let cred = ScramCredential::generate(m, b"s3cret", 4096).unwrap();
            assert_eq!(cred.salt.len(), SALT_LEN);
            let again = ScramCredential::generate(m, b"s3cret", 4096).unwrap();
            assert_ne!(cred.salt, again.salt, "salts are random");
            let mut client = ScramClient::new(m, "alice", b"s3cret").unwrap();
            assert_eq!(
                exchange(m, &mut client, Some(cred.clone()))
                    .unwrap()
                    .username,
                "alice"
            );
            let mut wrong = ScramClient::new(m, "alice", b"s3cret!").unwrap();
            let (sf, state) =
                ScramServer::start(m, &wrong.client_first(), |_| Some(cred.clone())).unwrap();
            assert_eq!(
                state.finish(&wrong.client_final(&sf).unwrap()).unwrap_err(),
                ScramError::InvalidCredentials
            );
        }
    }

    #[test]
    fn escaped_names_round_trip() {
        let cred = ScramCredential::generate(Mechanism::Sha256, b"pw", 4096).unwrap();
        let mut client = ScramClient::new(Mechanism::Sha256, "a,b=c", b"pw").unwrap();
        assert!(String::from_utf8(client.client_first())
            .unwrap()
            .starts_with("n,,n=a=2Cb=3Dc,"));
        let mut seen = String::new();
        let (sf, state) = ScramServer::start(Mechanism::Sha256, &client.client_first(), |u| {
            seen = u.to_string();
            Some(cred.clone())
        })
        .unwrap();
        assert_eq!(seen, "a,b=c");
        assert_eq!(
            state
                .finish(&client.client_final(&sf).unwrap())
                .unwrap()
                .username,
            "a,b=c"
        );
    }

    #[test]
    fn unknown_user_looks_like_a_known_one_until_the_proof() {
        let mut client = ScramClient::new(Mechanism::Sha256, "mallory", b"guess").unwrap();
        let (sf1, state) =
            ScramServer::start(Mechanism::Sha256, &client.client_first(), |_| None).unwrap();
        let (sf2, _) =
            ScramServer::start(Mechanism::Sha256, &client.client_first(), |_| None).unwrap();
        let salt = |sf: &[u8]| {
            std::str::from_utf8(sf)
                .unwrap()
                .split(',')
                .nth(1)
                .unwrap()
                .to_string()
        };
        assert_eq!(salt(&sf1), salt(&sf2), "a probe sees a stable salt");
        assert!(std::str::from_utf8(&sf1).unwrap().ends_with(",i=4096"));
        assert_eq!(
            state
                .finish(&client.client_final(&sf1).unwrap())
                .unwrap_err(),
            ScramError::InvalidCredentials
        );
    }

    #[test]
    fn authorization_id_must_equal_the_user() {
        let cred = ScramCredential::generate(Mechanism::Sha256, b"pw", 4096).unwrap();
        // The channel binding echoes this header: c=bixhPWJvYiw=, not biws.
        let mut client = ScramClient::new(Mechanism::Sha256, "bob", b"pw")
            .unwrap()
            .with_authzid("bob");
        exchange(Mechanism::Sha256, &mut client, Some(cred.clone())).unwrap();
        let client = ScramClient::new(Mechanism::Sha256, "bob", b"pw")
            .unwrap()
            .with_authzid("admin");
        assert_eq!(
            ScramServer::start(Mechanism::Sha256, &client.client_first(), |_| Some(
                cred.clone()
            ))
            .unwrap_err(),
            ScramError::AuthorizationId
        );
    }

    fn first_err(msg: &[u8]) -> ScramError {
        ClientFirst::parse(msg).unwrap_err()
    }

    #[test]
    fn hostile_client_first_messages() {
        assert!(matches!(first_err(b""), ScramError::Malformed { .. }));
        assert!(matches!(first_err(b"n,,"), ScramError::Malformed { .. }));
        assert!(matches!(
            first_err(b"n,,n=,r=abc"),
            ScramError::Malformed { .. }
        ));
        assert!(matches!(first_err(b"n,,n=u"), ScramError::Malformed { .. }));
        assert!(matches!(
            first_err(b"n,,n=u,r="),
            ScramError::Malformed { .. }
        ));
        assert!(matches!(
            first_err(b"n,,r=abc,n=u"),
            ScramError::Malformed { .. }
        ));
        assert!(matches!(
            first_err(b"x,,n=u,r=abc"),
            ScramError::Malformed { .. }
        ));
        assert!(matches!(
            first_err(b"n,b=u,n=u,r=abc"),
            ScramError::Malformed { .. }
        ));
        assert!(matches!(
            first_err(b"n,,n=a=b,r=abc"),
            ScramError::Malformed { .. }
        ));
        assert!(matches!(
            first_err(b"n,,n=a=2,r=abc"),
            ScramError::Malformed { .. }
        ));
        assert!(matches!(
            first_err(b"n,,n=u,r=a\x01b"),
            ScramError::Malformed { .. }
        ));
        assert!(matches!(
            first_err(b"n,,n=\xff\xfe,r=abc"),
            ScramError::Malformed { .. }
        ));
        assert_eq!(
            first_err(b"p=tls-unique,,n=u,r=abc"),
            ScramError::ChannelBinding
        );
        assert_eq!(
            first_err(b"n,,m=ext,n=u,r=abc"),
            ScramError::MandatoryExtension
        );
        assert_eq!(
            first_err(b"n,,n=u,r=abc,tokenauth=true"),
            ScramError::TokenAuth
        );
        // Unknown extensions are ignored, as Kafka does; "y" is accepted.
        assert_eq!(
            ClientFirst::parse(b"y,,n=u,r=abc,foo=bar")
                .unwrap()
                .username,
            "u"
        );
        // Size bounds: the whole message, the name, the nonce.
        let huge = vec![b'a'; 10 << 20];
        assert!(matches!(first_err(&huge), ScramError::TooLong { len, .. } if len == 10 << 20));
        let long_name = format!("n,,n={},r=abc", "u".repeat(MAX_USERNAME_LEN + 1));
        assert!(matches!(
            first_err(long_name.as_bytes()),
            ScramError::Malformed { .. }
        ));
        let ok_name = format!("n,,n={},r=abc", "u".repeat(MAX_USERNAME_LEN));
        assert!(ClientFirst::parse(ok_name.as_bytes()).is_ok());
        let long_nonce = format!("n,,n=u,r={}", "x".repeat(MAX_NONCE_LEN + 1));
        assert!(matches!(
            first_err(long_nonce.as_bytes()),
            ScramError::Malformed { .. }
        ));
    }

    /// librdkafka before 2.6.1 repeats the client nonce in client-final.
    #[test]
    fn a_doubled_client_nonce_is_accepted_and_other_forms_are_not() {
        let m = Mechanism::Sha256;
        let cred = ScramCredential::generate(m, b"pw", 4096).unwrap();
        let (sf, _) =
            ScramServer::start_with_nonce(m, b"n,,n=u,r=CLIENT", "SERVER", |_| Some(cred.clone()))
                .unwrap();
        let sf = String::from_utf8(sf).unwrap();
        let salted = m.salted_password(
            b"pw",
            &cred.salt,
            std::num::NonZeroU32::new(cred.iterations).unwrap(),
        );
        let final_with = |nonce: &str| {
            let without_proof = format!("c=biws,r={nonce}");
            let am = format!("n=u,r=CLIENT,{sf},{without_proof}");
            let client_key = m.hmac_sign(&salted, b"Client Key");
            let sig = m.hmac_sign(&m.hash(&client_key), am.as_bytes());
            let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
            format!("{without_proof},p={}", B64.encode(proof)).into_bytes()
        };
        let start = || {
            ScramServer::start_with_nonce(m, b"n,,n=u,r=CLIENT", "SERVER", |_| Some(cred.clone()))
                .unwrap()
                .1
        };
        assert!(start().finish(&final_with("CLIENTSERVER")).is_ok());
        assert!(start().finish(&final_with("CLIENTCLIENTSERVER")).is_ok());
        for bad in [
            "XXXXXXCLIENTSERVER",
            "CLIENTSERVERSERVER",
            "CLIENTCLIENTCLIENTSERVER",
        ] {
            assert_eq!(
                start().finish(&final_with(bad)).unwrap_err(),
                ScramError::NonceMismatch,
                "{bad}"
            );
        }
    }

    #[test]
    fn hostile_client_final_messages() {
        let cred = ScramCredential::generate(Mechanism::Sha256, b"pw", 4096).unwrap();
        let mut client = ScramClient::new(Mechanism::Sha256, "u", b"pw").unwrap();
        let first = client.client_first();
        let start =
            || ScramServer::start(Mechanism::Sha256, &first, |_| Some(cred.clone())).unwrap();
        let (sf, _) = start();
        let good = client.client_final(&sf).unwrap();
        let good = String::from_utf8(good).unwrap();
        let nonce = std::str::from_utf8(&sf).unwrap().split(',').next().unwrap()[2..].to_string();
        let proof = good.rsplit_once(",p=").unwrap().1.to_string();
        type Expect = fn(&ScramError) -> bool;
        let cases: Vec<(String, Expect)> = vec![
            (String::new(), |e| matches!(e, ScramError::Malformed { .. })),
            ("c=biws".into(), |e| {
                matches!(e, ScramError::Malformed { .. })
            }),
            (format!("r={nonce},c=biws,p={proof}"), |e| {
                matches!(e, ScramError::Malformed { .. })
            }),
            (format!("c=biws,r={nonce}x,p={proof}"), |e| {
                *e == ScramError::NonceMismatch
            }),
            (format!("c=biws,r={},p={proof}", &nonce[..10]), |e| {
                *e == ScramError::NonceMismatch
            }),
            (format!("c=eSws,r={nonce},p={proof}"), |e| {
                *e == ScramError::ChannelBindingMismatch
            }),
            (format!("c=@@@@,r={nonce},p={proof}"), |e| {
                matches!(e, ScramError::Malformed { .. })
            }),
            (format!("c=biws,r={nonce},p=!!!"), |e| {
                matches!(e, ScramError::Malformed { .. })
            }),
            (format!("c=biws,r={nonce},p=AAAA"), |e| {
                matches!(e, ScramError::Malformed { .. })
            }),
            (
                format!("c=biws,r={nonce},p={}", B64.encode([0u8; 32])),
                |e| *e == ScramError::InvalidCredentials,
            ),
            (
                format!("c=biws,r={nonce},p={proof}{}", "A".repeat(4096)),
                |e| matches!(e, ScramError::TooLong { .. }),
            ),
        ];
        for (msg, expected) in cases {
            let (_, state) = start();
            // Each start has a fresh server nonce: substitute it.
            let fresh = state.nonce.clone();
            let msg = msg.replace(&nonce, &fresh);
            let err = state.finish(msg.as_bytes()).unwrap_err();
            assert!(expected(&err), "{msg:.80}: {err:?}");
        }
        // And the well-formed message still works against its own state.
        let (sf, state) = start();
        state.finish(&client.client_final(&sf).unwrap()).unwrap();
    }

    #[test]
    fn iteration_and_salt_bounds() {
        let m = Mechanism::Sha256;
        assert_eq!(
            ScramCredential::generate(m, b"pw", 4095).unwrap_err(),
            CredentialError::Iterations(4095)
        );
        assert_eq!(
            ScramCredential::generate(m, b"pw", 16385).unwrap_err(),
            CredentialError::Iterations(16385)
        );
        assert_eq!(
            ScramCredential::generate(m, b"", 4096).unwrap_err(),
            CredentialError::EmptyPassword
        );
        assert!(ScramCredential::generate(m, b"pw", MAX_ITERATIONS).is_ok());
        assert_eq!(
            ScramCredential::from_salted_password(m, &[0; 32], vec![], 4096).unwrap_err(),
            CredentialError::Salt(0)
        );
        assert!(matches!(
            ScramCredential::from_salted_password(m, &[0; 31], vec![1], 4096),
            Err(CredentialError::KeyLength { len: 31, .. })
        ));
        // A stored credential outside the bounds is treated as no credential.
        let mut bad = ScramCredential::generate(m, b"pw", 4096).unwrap();
        bad.iterations = 1_000_000;
        assert!(!bad.verify_password(m, b"pw"));
        let mut client = ScramClient::new(m, "u", b"pw").unwrap();
        let (sf, state) =
            ScramServer::start(m, &client.client_first(), |_| Some(bad.clone())).unwrap();
        assert!(std::str::from_utf8(&sf).unwrap().ends_with(",i=4096"));
        assert_eq!(
            state
                .finish(&client.client_final(&sf).unwrap())
                .unwrap_err(),
            ScramError::InvalidCredentials
        );
    }

    #[test]
    fn salted_password_upsert_matches_password_verifier() {
        for m in Mechanism::ALL {
            let salt = b"0123456789abcdef".to_vec();
            let salted = m.salted_password(b"pw", &salt, NonZeroU32::new(8192).unwrap());
            let a = ScramCredential::from_salted_password(m, &salted, salt.clone(), 8192).unwrap();
            let b = ScramCredential::with_salt(m, b"pw", salt, 8192).unwrap();
            assert_eq!(a, b);
            assert!(a.verify_password(m, b"pw"));
            assert!(!a.verify_password(m, b"pW"));
        }
    }

    #[test]
    fn kafka_string_form_round_trips_and_rejects_garbage() {
        let cred = ScramCredential::generate(Mechanism::Sha512, b"pw", 8192).unwrap();
        let s = cred.to_kafka_string();
        assert!(s.starts_with("salt=") && s.ends_with(",iterations=8192"));
        assert_eq!(
            ScramCredential::parse_kafka_string(Mechanism::Sha512, &s).unwrap(),
            cred
        );
        // A SHA-512 verifier is not a SHA-256 one.
        assert!(matches!(
            ScramCredential::parse_kafka_string(Mechanism::Sha256, &s),
            Err(CredentialError::KeyLength { .. })
        ));
        for bad in [
            "",
            "salt=AAAA",
            "salt=AAAA,stored_key=AAAA,server_key=AAAA,iterations=x",
            "salt=!!,stored_key=AAAA,server_key=AAAA,iterations=4096",
            "salt=AAAA,salt=AAAA,stored_key=AAAA,server_key=AAAA,iterations=4096",
            "password=hunter2",
        ] {
            assert!(
                ScramCredential::parse_kafka_string(Mechanism::Sha256, bad).is_err(),
                "{bad}"
            );
        }
        assert!(!format!("{cred:?}").contains(&B64.encode(&cred.stored_key)));
    }
}
