//! SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL password` in one
//! message, checked against the user's stored SCRAM verifier, so Skiff never
//! stores a password even for PLAIN.
//!
//! Checking a password means deriving the salted password with the stored
//! salt and iteration count (PBKDF2: `iterations` HMACs, about a millisecond
//! at 4096 with SHA-256) and comparing the resulting StoredKey in constant
//! time. That cost falls on the broker at every attempt, unlike SCRAM where
//! the client pays it: PLAIN is off unless listed in the enabled mechanisms,
//! and failed attempts are rate-limited per address (`rate_limit`). An
//! unknown user costs the same derivation, so timing does not reveal which
//! names exist. PLAIN sends the password itself: only over TLS.

use super::scram::{Mechanism, ScramCredential, DEFAULT_ITERATIONS, SALT_LEN};

/// RFC 4616 limits each field to 255 octets.
pub const MAX_FIELD_LEN: usize = 255;
pub const MAX_MESSAGE_LEN: usize = 3 * MAX_FIELD_LEN + 2;

/// Why a PLAIN message was refused; the message is what the client is told.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlainError {
    #[error("SASL PLAIN message of {0} bytes is longer than the {MAX_MESSAGE_LEN} allowed")]
    TooLong(usize),
    #[error("malformed SASL PLAIN message: {0}")]
    Malformed(&'static str),
    #[error(
        "the PLAIN authorization id differs from the user name; impersonation is not supported"
    )]
    AuthorizationId,
    #[error("Authentication failed: Invalid username or password")]
    InvalidCredentials,
}

/// The fields of a PLAIN message, borrowed from it.
#[derive(Debug, PartialEq, Eq)]
pub struct PlainMessage<'a> {
    pub username: &'a str,
    pub password: &'a [u8],
}

impl<'a> PlainMessage<'a> {
    /// Parses and bounds a PLAIN message. As Kafka does, an authorization id
    /// is accepted only when empty or equal to the user name.
    pub fn parse(msg: &'a [u8]) -> Result<PlainMessage<'a>, PlainError> {
        if msg.len() > MAX_MESSAGE_LEN {
            return Err(PlainError::TooLong(msg.len()));
        }
        let mut parts = msg.splitn(3, |b| *b == 0);
        let (Some(authzid), Some(user), Some(password)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(PlainError::Malformed(
                "expected [authzid] NUL username NUL password",
            ));
        };
        if password.contains(&0) {
            return Err(PlainError::Malformed("the password contains NUL"));
        }
        if [authzid, user, password]
            .iter()
            .any(|f| f.len() > MAX_FIELD_LEN)
        {
            return Err(PlainError::Malformed("a field is longer than 255 bytes"));
        }
        if user.is_empty() {
            return Err(PlainError::Malformed("the username is empty"));
        }
        if password.is_empty() {
            return Err(PlainError::Malformed("the password is empty"));
        }
        let username = std::str::from_utf8(user)
            .map_err(|_| PlainError::Malformed("the username is not UTF-8"))?;
        if !authzid.is_empty() && authzid != user {
            return Err(PlainError::AuthorizationId);
        }
        Ok(PlainMessage { username, password })
    }
}

/// Authenticates a PLAIN message: returns the user name when the password
/// matches the verifier `lookup` gives for it (the cheaper mechanism when a
/// user has both; see `credentials::CredentialStore::plain_verifier`).
pub fn authenticate(
    msg: &[u8],
    lookup: impl FnOnce(&str) -> Option<(Mechanism, ScramCredential)>,
) -> Result<String, PlainError> {
    let m = PlainMessage::parse(msg)?;
    match lookup(m.username) {
        Some((mechanism, cred)) if cred.verify_password(mechanism, m.password) => {
            Ok(m.username.to_string())
        }
        Some(_) => Err(PlainError::InvalidCredentials),
        None => {
            // Same work as a known user, so the answer's timing says nothing.
            let dummy = ScramCredential {
                salt: vec![0; SALT_LEN],
                stored_key: vec![0; Mechanism::Sha256.key_len()],
                server_key: Vec::new(),
                iterations: DEFAULT_ITERATIONS,
            };
            let _ = dummy.verify_password(Mechanism::Sha256, m.password);
            Err(PlainError::InvalidCredentials)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(m: Mechanism, pw: &str) -> Option<(Mechanism, ScramCredential)> {
        Some((
            m,
            ScramCredential::generate(m, pw.as_bytes(), 4096).unwrap(),
        ))
    }

    #[test]
    fn good_and_bad_passwords_against_both_verifiers() {
        for m in Mechanism::ALL {
            assert_eq!(
                authenticate(b"\0alice\0pw", |_| cred(m, "pw")).unwrap(),
                "alice"
            );
            assert_eq!(
                authenticate(b"alice\0alice\0pw", |_| cred(m, "pw")).unwrap(),
                "alice"
            );
            assert_eq!(
                authenticate(b"\0alice\0pw2", |_| cred(m, "pw")).unwrap_err(),
                PlainError::InvalidCredentials
            );
        }
        assert_eq!(
            authenticate(b"\0nobody\0pw", |_| None).unwrap_err(),
            PlainError::InvalidCredentials
        );
    }

    #[test]
    fn lookup_gets_the_username() {
        let mut seen = String::new();
        let _ = authenticate(b"\0caf\xc3\xa9\0pw", |u| {
            seen = u.to_string();
            None
        });
        assert_eq!(seen, "café");
    }

    #[test]
    fn hostile_messages() {
        let p = PlainMessage::parse;
        let huge = vec![0u8; 10 << 20];
        assert_eq!(p(&huge).unwrap_err(), PlainError::TooLong(10 << 20));
        for bad in [
            &b""[..],
            b"alice",
            b"\0alice",
            b"\0\0pw",
            b"\0alice\0",
            b"\0alice\0p\0w",
            b"\0\xff\0pw",
        ] {
            assert!(matches!(p(bad), Err(PlainError::Malformed(_))), "{bad:?}");
        }
        assert_eq!(
            p(b"admin\0alice\0pw").unwrap_err(),
            PlainError::AuthorizationId
        );
        let long = [b"\0".as_slice(), &[b'a'; 256], b"\0pw"].concat();
        assert!(matches!(p(&long), Err(PlainError::Malformed(_))));
        let max = [b"\0".as_slice(), &[b'a'; 255], b"\0", &[b'p'; 255]].concat();
        assert_eq!(p(&max).unwrap().username.len(), 255);
    }
}
