//! The in-memory table of users and their SCRAM verifiers: what SASL looks up
//! on every authentication (no SQL on that path) and what
//! DescribeUserScramCredentials lists. It mirrors the `scram_credentials`
//! table (`persist`); it changes only after the write that backs it has
//! committed, like the topic catalog.
//!
//! Also the bootstrap user's format: a deployment tool creates the first
//! administrator by handing the broker a verifier, never a password.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use super::scram::{CredentialError, Mechanism, ScramCredential, MAX_USERNAME_LEN};

/// Checks a user name given to `user add`, AlterUserScramCredentials or the
/// bootstrap setting. Names are also principals (`User:NAME`) and appear in
/// logs, so control characters are refused.
pub fn validate_username(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the user name is empty".into());
    }
    if name.len() > MAX_USERNAME_LEN {
        return Err(format!(
            "the user name has {} bytes; at most {MAX_USERNAME_LEN} are allowed",
            name.len()
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("the user name contains a control character".into());
    }
    Ok(())
}

/// One user's verifiers, at most one per mechanism.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserCredentials {
    pub sha256: Option<ScramCredential>,
    pub sha512: Option<ScramCredential>,
}

impl UserCredentials {
    fn slot(&mut self, m: Mechanism) -> &mut Option<ScramCredential> {
        match m {
            Mechanism::Sha256 => &mut self.sha256,
            Mechanism::Sha512 => &mut self.sha512,
        }
    }

    pub fn get(&self, m: Mechanism) -> Option<&ScramCredential> {
        match m {
            Mechanism::Sha256 => self.sha256.as_ref(),
            Mechanism::Sha512 => self.sha512.as_ref(),
        }
    }

    /// The mechanisms this user has, with their iteration counts (what
    /// DescribeUserScramCredentials returns).
    pub fn mechanisms(&self) -> Vec<(Mechanism, u32)> {
        Mechanism::ALL
            .into_iter()
            .filter_map(|m| self.get(m).map(|c| (m, c.iterations)))
            .collect()
    }
}

/// All users, shared by every connection.
#[derive(Debug, Default)]
pub struct CredentialStore {
    users: RwLock<HashMap<String, UserCredentials>>,
}

impl CredentialStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The store as loaded from the database (`persist::load_credentials`).
    pub fn from_rows(rows: impl IntoIterator<Item = (String, Mechanism, ScramCredential)>) -> Self {
        let store = Self::new();
        for (user, m, cred) in rows {
            store.upsert(&user, m, cred);
        }
        store
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, UserCredentials>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (every update is one insert or remove), so poisoning is ignored.
        self.users.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, UserCredentials>> {
        self.users.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The verifier SCRAM needs for `user` with `mechanism`.
    pub fn get(&self, user: &str, mechanism: Mechanism) -> Option<ScramCredential> {
        self.read().get(user)?.get(mechanism).cloned()
    }

    /// The verifier PLAIN checks a password against: SHA-256 when the user
    /// has it, since its PBKDF2 costs the broker a quarter of SHA-512's on
    /// CPUs with SHA extensions (0.8 ms against 3.2 ms at 4096 iterations,
    /// measured by `examples/security_bench.rs`), else SHA-512.
    pub fn plain_verifier(&self, user: &str) -> Option<(Mechanism, ScramCredential)> {
        let users = self.read();
        let u = users.get(user)?;
        Mechanism::ALL
            .into_iter()
            .find_map(|m| u.get(m).map(|c| (m, c.clone())))
    }

    /// Adds or replaces one verifier.
    pub fn upsert(&self, user: &str, mechanism: Mechanism, cred: ScramCredential) {
        *self
            .write()
            .entry(user.to_string())
            .or_default()
            .slot(mechanism) = Some(cred);
    }

    /// Removes one verifier; the user goes when its last one does. Returns
    /// whether there was one.
    pub fn remove(&self, user: &str, mechanism: Mechanism) -> bool {
        let mut users = self.write();
        let Some(u) = users.get_mut(user) else {
            return false;
        };
        let had = u.slot(mechanism).take().is_some();
        if u.sha256.is_none() && u.sha512.is_none() {
            users.remove(user);
        }
        had
    }

    /// Replaces every user at once (after another process, such as
    /// `skiff-broker user add`, changed the table): readers see the old
    /// table or the new one, never a mix.
    pub fn replace_all(
        &self,
        rows: impl IntoIterator<Item = (String, Mechanism, ScramCredential)>,
    ) {
        let fresh = CredentialStore::from_rows(rows);
        let map = fresh.users.into_inner().unwrap_or_else(|e| e.into_inner());
        *self.write() = map;
    }

    /// Removes a user and all its verifiers.
    pub fn remove_user(&self, user: &str) -> bool {
        self.write().remove(user).is_some()
    }

    pub fn describe(&self, user: &str) -> Option<Vec<(Mechanism, u32)>> {
        self.read().get(user).map(UserCredentials::mechanisms)
    }

    /// Every user with its mechanisms, sorted by name.
    pub fn list(&self) -> BTreeMap<String, Vec<(Mechanism, u32)>> {
        self.read()
            .iter()
            .map(|(name, u)| (name.clone(), u.mechanisms()))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A user given to the broker as a verifier, for a deployment tool to create
/// the first administrator without sending a password anywhere. Format:
///
/// ```text
/// NAME:MECHANISM:salt=BASE64,stored_key=BASE64,server_key=BASE64,iterations=N
/// ```
///
/// e.g. `admin:SCRAM-SHA-512:salt=...,stored_key=...,server_key=...,iterations=4096`.
/// The last part is Kafka's own text form of a SCRAM credential; the name
/// may contain ':' (the two other parts cannot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapUser {
    pub username: String,
    pub mechanism: Mechanism,
    pub credential: ScramCredential,
}

/// Why a bootstrap user setting was refused. Never quotes the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BootstrapError {
    #[error("expected NAME:SCRAM-SHA-256|SCRAM-SHA-512:salt=...,stored_key=...,server_key=...,iterations=N")]
    Format,
    #[error("unknown mechanism (expected SCRAM-SHA-256 or SCRAM-SHA-512)")]
    Mechanism,
    #[error("{0}")]
    Username(String),
    #[error(transparent)]
    Credential(#[from] CredentialError),
}

impl BootstrapUser {
    pub fn parse(s: &str) -> Result<BootstrapUser, BootstrapError> {
        let mut parts = s.trim().rsplitn(3, ':');
        let (Some(cred), Some(mech), Some(username)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(BootstrapError::Format);
        };
        let mechanism = Mechanism::from_name(mech).ok_or(BootstrapError::Mechanism)?;
        validate_username(username).map_err(BootstrapError::Username)?;
        Ok(BootstrapUser {
            username: username.to_string(),
            mechanism,
            credential: ScramCredential::parse_kafka_string(mechanism, cred)?,
        })
    }

    pub fn to_setting(&self) -> String {
        format!(
            "{}:{}:{}",
            self.username,
            self.mechanism,
            self.credential.to_kafka_string()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(m: Mechanism, i: u32) -> ScramCredential {
        ScramCredential::generate(m, b"pw", i).unwrap()
    }

    #[test]
    fn upsert_get_remove() {
        let s = CredentialStore::new();
        assert!(s.is_empty());
        s.upsert("alice", Mechanism::Sha512, cred(Mechanism::Sha512, 4096));
        assert!(s.get("alice", Mechanism::Sha256).is_none());
        assert!(s.get("alice", Mechanism::Sha512).is_some());
        s.upsert("alice", Mechanism::Sha256, cred(Mechanism::Sha256, 8192));
        assert_eq!(
            s.describe("alice").unwrap(),
            vec![(Mechanism::Sha256, 8192), (Mechanism::Sha512, 4096)]
        );
        // PLAIN takes the cheaper verifier.
        assert_eq!(s.plain_verifier("alice").unwrap().0, Mechanism::Sha256);
        assert!(s.remove("alice", Mechanism::Sha256));
        assert_eq!(s.plain_verifier("alice").unwrap().0, Mechanism::Sha512);
        s.upsert("alice", Mechanism::Sha256, cred(Mechanism::Sha256, 8192));
        assert!(s.remove("alice", Mechanism::Sha512));
        assert!(!s.remove("alice", Mechanism::Sha512));
        assert!(s.remove("alice", Mechanism::Sha256));
        assert!(s.describe("alice").is_none(), "no verifier left, no user");
        s.upsert("bob", Mechanism::Sha256, cred(Mechanism::Sha256, 4096));
        s.upsert("amy", Mechanism::Sha256, cred(Mechanism::Sha256, 4096));
        assert_eq!(s.list().keys().collect::<Vec<_>>(), ["amy", "bob"]);
        assert!(s.remove_user("bob"));
        assert_eq!(s.len(), 1);
        s.replace_all(vec![(
            "carol".to_string(),
            Mechanism::Sha512,
            cred(Mechanism::Sha512, 4096),
        )]);
        assert_eq!(s.list().keys().collect::<Vec<_>>(), ["carol"]);
    }

    #[test]
    fn usernames() {
        assert!(validate_username("alice").is_ok());
        assert!(validate_username("CN=a,O=b").is_ok());
        assert!(validate_username("").is_err());
        assert!(validate_username("a\nb").is_err());
        assert!(validate_username(&"x".repeat(257)).is_err());
    }

    #[test]
    fn bootstrap_user_round_trip_and_errors() {
        let user = BootstrapUser {
            username: "ad:min".into(),
            mechanism: Mechanism::Sha512,
            credential: cred(Mechanism::Sha512, 4096),
        };
        let setting = user.to_setting();
        assert_eq!(BootstrapUser::parse(&setting).unwrap(), user);
        assert_eq!(
            BootstrapUser::parse("admin").unwrap_err(),
            BootstrapError::Format
        );
        assert_eq!(
            BootstrapUser::parse("admin:SCRAM-MD5:salt=AA==").unwrap_err(),
            BootstrapError::Mechanism
        );
        // A password where the verifier belongs is refused, and not quoted.
        let err = BootstrapUser::parse("admin:SCRAM-SHA-512:hunter2").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let cred256 = cred(Mechanism::Sha256, 4096).to_kafka_string();
        assert!(matches!(
            BootstrapUser::parse(&format!("admin:SCRAM-SHA-512:{cred256}")),
            Err(BootstrapError::Credential(
                CredentialError::KeyLength { .. }
            ))
        ));
    }
}
