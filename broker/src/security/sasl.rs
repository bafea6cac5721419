//! One connection's SASL exchange, whatever carries its tokens (SaslAuthenticate
//! requests, or raw frames after a v0 SaslHandshake): the enabled mechanisms
//! (`SKIFF_SASL_ENABLED_MECHANISMS`), the mechanism chosen by SaslHandshake,
//! and the steps from the first token to an authenticated principal, with the
//! failed-authentication limiter charged before any password work.
//!
//! The connection layer owns the framing and the order of requests; this
//! module owns what a token means and what the answer is (a challenge, the
//! final server message, or an error with Kafka's code and message).

use std::fmt;
use std::net::IpAddr;

use super::credentials::CredentialStore;
use super::plain::{self, PlainError};
use super::rate_limit::{FailedAuthLimiter, RetryAfter};
use super::scram::{AwaitingClientFinal, Mechanism, ScramError, ScramServer};

/// Kafka's error codes for SASL.
pub const ILLEGAL_SASL_STATE: i16 = 34;
pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
pub const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// A SASL mechanism Skiff serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    Plain,
    Scram(Mechanism),
}

impl SaslMechanism {
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::Scram(m) => m.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<SaslMechanism> {
        match name {
            "PLAIN" => Some(SaslMechanism::Plain),
            n => Mechanism::from_name(n).map(SaslMechanism::Scram),
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The mechanisms a listener offers, in the order SaslHandshake lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnabledMechanisms(Vec<SaslMechanism>);

impl Default for EnabledMechanisms {
    /// SCRAM-SHA-256 and SCRAM-SHA-512; PLAIN only when listed.
    fn default() -> Self {
        EnabledMechanisms(
            Mechanism::ALL
                .into_iter()
                .map(SaslMechanism::Scram)
                .collect(),
        )
    }
}

impl EnabledMechanisms {
    /// Parses a comma-separated list (`SKIFF_SASL_ENABLED_MECHANISMS`); the
    /// error names the unknown mechanism and the accepted ones.
    pub fn parse(s: &str) -> Result<EnabledMechanisms, String> {
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let m = SaslMechanism::from_name(&name.to_ascii_uppercase()).ok_or_else(|| {
                format!(
                    "unknown SASL mechanism '{name}': use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                )
            })?;
            if !out.contains(&m) {
                out.push(m);
            }
        }
        if out.is_empty() {
            return Err(
                "no SASL mechanism given: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512".into(),
            );
        }
        Ok(EnabledMechanisms(out))
    }

    /// The names SaslHandshake returns.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|m| m.name()).collect()
    }

    /// SaslHandshake: the mechanism the client asked for, if enabled; else
    /// UNSUPPORTED_SASL_MECHANISM (and the list to send back).
    pub fn select(&self, requested: &str) -> Result<SaslMechanism, i16> {
        SaslMechanism::from_name(requested)
            .filter(|m| self.0.contains(m))
            .ok_or(UNSUPPORTED_SASL_MECHANISM)
    }
}

/// Why an authentication failed; `Display` is the message for the client.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SaslError {
    #[error(transparent)]
    RateLimited(#[from] RetryAfter),
    #[error(transparent)]
    Scram(#[from] ScramError),
    #[error(transparent)]
    Plain(#[from] PlainError),
    #[error("the SASL exchange is already complete")]
    Complete,
}

impl SaslError {
    /// The SaslAuthenticate error code. Kafka closes the connection after
    /// sending it.
    pub fn code(&self) -> i16 {
        match self {
            SaslError::Complete => ILLEGAL_SASL_STATE,
            _ => SASL_AUTHENTICATION_FAILED,
        }
    }
}

/// What to send back after a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// A challenge; another token is expected (SCRAM's server-first).
    Continue(Vec<u8>),
    /// Authenticated as `principal` (`User:NAME`); `response` is the last
    /// server message (SCRAM's server-final, empty for PLAIN).
    Done {
        principal: String,
        response: Vec<u8>,
    },
}

#[derive(Debug)]
enum State {
    Start(SaslMechanism),
    ScramFinal(Box<AwaitingClientFinal>),
    Finished,
}

/// One connection's exchange, from SaslHandshake's choice to a principal.
#[derive(Debug)]
pub struct Authenticator {
    peer: IpAddr,
    state: State,
}

impl Authenticator {
    pub fn new(mechanism: SaslMechanism, peer: IpAddr) -> Self {
        Authenticator {
            peer,
            state: State::Start(mechanism),
        }
    }

    /// Handles one token. The step that checks the password (PLAIN's only
    /// token, SCRAM's client-final) is charged to the peer's failure budget
    /// before the check, and refunded on success; SCRAM's first step only
    /// asks whether the peer is over budget. After an
    /// error the exchange is over (the connection should be closed).
    pub fn step(
        &mut self,
        token: &[u8],
        credentials: &CredentialStore,
        limiter: &FailedAuthLimiter,
    ) -> Result<Step, SaslError> {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Finished => Err(SaslError::Complete),
            State::Start(mechanism) => {
                match mechanism {
                    SaslMechanism::Plain => {
                        limiter.try_acquire(self.peer)?;
                        let user = plain::authenticate(token, |u| credentials.plain_verifier(u))?;
                        limiter.succeeded(self.peer);
                        Ok(Step::Done {
                            principal: format!("User:{user}"),
                            response: Vec::new(),
                        })
                    }
                    SaslMechanism::Scram(m) => {
                        // The proof comes in the next step; charging only
                        // there keeps the window between charge and refund
                        // to one HMAC, so many right logins at once from
                        // one address all pass.
                        limiter.check(self.peer)?;
                        let (server_first, awaiting) =
                            ScramServer::start(m, token, |u| credentials.get(u, m)).inspect_err(
                                |_| {
                                    // A malformed first message is a failure too.
                                    let _ = limiter.try_acquire(self.peer);
                                },
                            )?;
                        self.state = State::ScramFinal(Box::new(awaiting));
                        Ok(Step::Continue(server_first))
                    }
                }
            }
            State::ScramFinal(awaiting) => {
                limiter.try_acquire(self.peer)?;
                let done = awaiting.finish(token)?;
                limiter.succeeded(self.peer);
                Ok(Step::Done {
                    principal: format!("User:{}", done.username),
                    response: done.server_final,
                })
            }
        }
    }

    /// Whether the exchange is waiting for the client's final SCRAM message.
    pub fn in_progress(&self) -> bool {
        matches!(self.state, State::ScramFinal(_))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::rate_limit::LimiterConfig;
    use super::super::scram::{ScramClient, ScramCredential};
    use super::*;

    const PEER: &str = "198.51.100.20";

    fn setup() -> (CredentialStore, FailedAuthLimiter) {
        let store = CredentialStore::new();
        for m in Mechanism::ALL {
            store.upsert(
                "alice",
                m,
                ScramCredential::generate(m, b"secret", 4096).unwrap(),
            );
        }
        let limiter = FailedAuthLimiter::new(LimiterConfig {
            capacity: 16,
            burst: 3,
            refill: Duration::from_secs(60),
        });
        (store, limiter)
    }

    fn peer() -> IpAddr {
        PEER.parse().unwrap()
    }

    fn scram(
        m: Mechanism,
        password: &[u8],
        store: &CredentialStore,
        limiter: &FailedAuthLimiter,
    ) -> Result<String, SaslError> {
        let mut client = ScramClient::new(m, "alice", password).unwrap();
        let mut auth = Authenticator::new(SaslMechanism::Scram(m), peer());
        let Step::Continue(server_first) = auth.step(&client.client_first(), store, limiter)?
        else {
            panic!("SCRAM needs two steps");
        };
        assert!(auth.in_progress());
        let fin = client.client_final(&server_first).unwrap();
        match auth.step(&fin, store, limiter)? {
            Step::Done {
                principal,
                response,
            } => {
                client.verify_server_final(&response).unwrap();
                assert_eq!(auth.step(b"more", store, limiter), Err(SaslError::Complete));
                Ok(principal)
            }
            Step::Continue(_) => panic!("SCRAM ends after two steps"),
        }
    }

    #[test]
    fn scram_and_plain_give_the_principal() {
        let (store, limiter) = setup();
        for m in Mechanism::ALL {
            assert_eq!(scram(m, b"secret", &store, &limiter).unwrap(), "User:alice");
        }
        let mut auth = Authenticator::new(SaslMechanism::Plain, peer());
        assert_eq!(
            auth.step(b"\0alice\0secret", &store, &limiter).unwrap(),
            Step::Done {
                principal: "User:alice".into(),
                response: vec![]
            }
        );
    }

    #[test]
    fn failures_are_answered_with_kafka_codes_and_then_rate_limited() {
        let (store, limiter) = setup();
        // Successes cost nothing.
        for _ in 0..10 {
            scram(Mechanism::Sha256, b"secret", &store, &limiter).unwrap();
        }
        let e = scram(Mechanism::Sha512, b"wrong", &store, &limiter).unwrap_err();
        assert_eq!(e.code(), SASL_AUTHENTICATION_FAILED);
        assert_eq!(
            e.to_string(),
            "Authentication failed: Invalid user credentials"
        );
        let mut garbage = Authenticator::new(SaslMechanism::Scram(Mechanism::Sha256), peer());
        assert!(matches!(
            garbage.step(b"\xff", &store, &limiter),
            Err(SaslError::Scram(ScramError::Malformed { .. }))
        ));
        let mut plain = Authenticator::new(SaslMechanism::Plain, peer());
        assert_eq!(
            plain
                .step(b"\0alice\0nope", &store, &limiter)
                .unwrap_err()
                .code(),
            SASL_AUTHENTICATION_FAILED
        );
        // Three failures: the budget is spent, even the right password waits,
        // and nothing is checked.
        let e = scram(Mechanism::Sha256, b"secret", &store, &limiter).unwrap_err();
        assert!(matches!(e, SaslError::RateLimited(_)), "{e}");
        assert!(e.to_string().contains("retry in"));
        let mut plain = Authenticator::new(SaslMechanism::Plain, peer());
        assert!(matches!(
            plain.step(b"\0alice\0secret", &store, &limiter),
            Err(SaslError::RateLimited(_))
        ));
        // Another address is not affected.
        let mut other = Authenticator::new(SaslMechanism::Plain, "198.51.100.21".parse().unwrap());
        other.step(b"\0alice\0secret", &store, &limiter).unwrap();
    }

    /// Mutated and random tokens through every mechanism: errors, never a
    /// panic (a cheap, deterministic stand-in for the fuzzer).
    #[test]
    fn mutated_tokens_never_panic() {
        let (store, _) = setup();
        let limiter = FailedAuthLimiter::new(LimiterConfig {
            capacity: 4,
            burst: u32::MAX, // clamped: never limits here
            refill: Duration::from_secs(1),
        });
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut client = ScramClient::new(Mechanism::Sha256, "alice", b"secret").unwrap();
        let first = client.client_first();
        let mut auth = Authenticator::new(SaslMechanism::Scram(Mechanism::Sha256), peer());
        let Ok(Step::Continue(server_first)) = auth.step(&first, &store, &limiter) else {
            panic!("valid client-first refused");
        };
        let fin = client.client_final(&server_first).unwrap();
        let seeds: [&[u8]; 4] = [
            &first,
            &fin,
            b"\0alice\0secret",
            b"n,a=alice,n=alice,r=x,ext=1",
        ];
        let mechanisms = [
            SaslMechanism::Plain,
            SaslMechanism::Scram(Mechanism::Sha256),
            SaslMechanism::Scram(Mechanism::Sha512),
        ];
        for i in 0..3000 {
            let mut token = seeds[i % seeds.len()].to_vec();
            for _ in 0..1 + next() % 4 {
                let r = next() as usize;
                match r % 4 {
                    0 if !token.is_empty() => {
                        let at = r / 4 % token.len();
                        token[at] ^= 1 << (r / 64 % 8);
                    }
                    1 => token.truncate(r / 4 % (token.len() + 1)),
                    2 => {
                        let at = r / 4 % (token.len() + 1);
                        token.insert(at, [b',', b'=', 0, 0xff][r / 64 % 4]);
                    }
                    _ => token.extend(std::iter::repeat_n(b'A', r / 4 % 300)),
                }
            }
            let m = mechanisms[i % mechanisms.len()];
            let mut auth = Authenticator::new(m, peer());
            let first = auth.step(&token, &store, &limiter);
            if let Ok(Step::Continue(_)) = first {
                let _ = auth.step(&token, &store, &limiter);
                let mut auth2 = Authenticator::new(m, peer());
                if auth2.step(seeds[0], &store, &limiter).is_ok() {
                    let _ = auth2.step(&token, &store, &limiter);
                }
            }
        }
    }

    #[test]
    fn enabled_mechanisms() {
        let d = EnabledMechanisms::default();
        assert_eq!(d.names(), ["SCRAM-SHA-256", "SCRAM-SHA-512"]);
        assert_eq!(d.select("PLAIN"), Err(UNSUPPORTED_SASL_MECHANISM));
        assert_eq!(d.select("GSSAPI"), Err(UNSUPPORTED_SASL_MECHANISM));
        assert_eq!(
            d.select("SCRAM-SHA-512"),
            Ok(SaslMechanism::Scram(Mechanism::Sha512))
        );
        let e = EnabledMechanisms::parse(" plain, SCRAM-SHA-512 ,PLAIN").unwrap();
        assert_eq!(e.names(), ["PLAIN", "SCRAM-SHA-512"]);
        assert!(EnabledMechanisms::parse("SCRAM-SHA-1")
            .unwrap_err()
            .contains("SCRAM-SHA-1"));
        assert!(EnabledMechanisms::parse(" , ").is_err());
    }
}
