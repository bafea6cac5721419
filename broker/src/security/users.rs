//! `skiff-broker user add|list|remove|verifier`: users managed in the
//! database file directly, with the broker running or stopped (a running
//! broker sees the change within `context::FOLLOW_PERIOD`, through the
//! change counter every write here bumps). Passwords are read from stdin,
//! turned into SCRAM verifiers here and never stored or printed.

use std::io::BufRead;
use std::path::Path;

use rusqlite::TransactionBehavior;

use super::credentials::{validate_username, BootstrapUser};
use super::persist;
use super::scram::{Mechanism, ScramCredential};

/// Longest password accepted from stdin.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Kafka's iteration bounds for SCRAM credentials.
pub const MIN_ITERATIONS: u32 = 4096;
pub const MAX_ITERATIONS: u32 = 16384;

/// Why a user command failed; the message names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user name: {0}")]
    Name(String),
    #[error("no password on stdin: give it as the first line, e.g. `printf '%s\\n' \"$PASSWORD\" | skiff-broker user add NAME`")]
    NoPassword,
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong,
    #[error("cannot read the password from stdin: {0}")]
    Stdin(std::io::Error),
    #[error("--iterations must be from {MIN_ITERATIONS} to {MAX_ITERATIONS}")]
    Iterations,
    #[error("cannot make the credential: {0}")]
    Credential(String),
    #[error("database '{path}': {source}")]
    Database {
        path: String,
        source: rusqlite::Error,
    },
    #[error("database '{path}': {source}")]
    Load {
        path: String,
        source: persist::PersistError,
    },
    #[error("user '{0}' does not exist")]
    NoSuchUser(String),
}

/// The first line of stdin, without its line ending.
pub fn read_password(input: impl BufRead) -> Result<String, UserError> {
    let mut line = String::new();
    input
        .take(MAX_PASSWORD_BYTES as u64 + 2)
        .read_line(&mut line)
        .map_err(UserError::Stdin)?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(UserError::PasswordTooLong);
    }
    if password.is_empty() {
        return Err(UserError::NoPassword);
    }
    Ok(password)
}

fn credentials(
    name: &str,
    mechanisms: &[Mechanism],
    password: &str,
    iterations: u32,
) -> Result<Vec<(Mechanism, ScramCredential)>, UserError> {
    validate_username(name).map_err(UserError::Name)?;
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(UserError::Iterations);
    }
    mechanisms
        .iter()
        .map(|&m| {
            ScramCredential::generate(m, password.as_bytes(), iterations)
                .map(|c| (m, c))
                .map_err(|e| UserError::Credential(e.to_string()))
        })
        .collect()
}

/// The `SKIFF_BOOTSTRAP_USER` value for a user and password.
pub fn verifier(
    name: &str,
    mechanism: Mechanism,
    password: &str,
    iterations: u32,
) -> Result<String, UserError> {
    let (mechanism, credential) = credentials(name, &[mechanism], password, iterations)?
        .pop()
        .expect("one mechanism asked for");
    Ok(BootstrapUser {
        username: name.to_string(),
        mechanism,
        credential,
    }
    .to_setting())
}

fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> UserError + '_ {
    move |source| UserError::Database {
        path: path.display().to_string(),
        source,
    }
}

/// Adds the user, or replaces its credentials of these mechanisms.
pub fn add(
    db: &Path,
    name: &str,
    mechanisms: &[Mechanism],
    password: &str,
    iterations: u32,
) -> Result<(), UserError> {
    let creds = credentials(name, mechanisms, password, iterations)?;
    let mut conn = crate::storage::open_admin(db).map_err(db_err(db))?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err(db))?;
    for (m, c) in &creds {
        persist::upsert_credential(&tx, name, *m, c).map_err(db_err(db))?;
    }
    persist::bump_generation(&tx).map_err(db_err(db))?;
    tx.commit().map_err(db_err(db))
}

/// A user and its mechanisms with their iteration counts.
pub type UserRow = (String, Vec<(Mechanism, u32)>);

/// Every user.
pub fn list(db: &Path) -> Result<Vec<UserRow>, UserError> {
    let conn = crate::storage::open_admin(db).map_err(db_err(db))?;
    let rows = persist::load_credentials(&conn).map_err(|source| UserError::Load {
        path: db.display().to_string(),
        source,
    })?;
    let mut out: Vec<UserRow> = Vec::new();
    for (user, m, c) in rows {
        match out.last_mut() {
            Some((u, list)) if *u == user => list.push((m, c.iterations)),
            _ => out.push((user, vec![(m, c.iterations)])),
        }
    }
    Ok(out)
}

/// Removes every credential of the user (its ACLs stay, as in Kafka).
pub fn remove(db: &Path, name: &str) -> Result<(), UserError> {
    let mut conn = crate::storage::open_admin(db).map_err(db_err(db))?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err(db))?;
    if persist::delete_user(&tx, name).map_err(db_err(db))? == 0 {
        return Err(UserError::NoSuchUser(name.to_string()));
    }
    persist::bump_generation(&tx).map_err(db_err(db))?;
    tx.commit().map_err(db_err(db))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_list_remove_and_the_password_is_never_stored() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("skiff.db");
        add(&db, "alice", &Mechanism::ALL, "s3cret-pw", 4096).unwrap();
        add(&db, "bob", &[Mechanism::Sha512], "other", 8192).unwrap();
        let users = list(&db).unwrap();
        assert_eq!(
            users,
            vec![
                (
                    "alice".to_string(),
                    vec![(Mechanism::Sha256, 4096), (Mechanism::Sha512, 4096)]
                ),
                ("bob".to_string(), vec![(Mechanism::Sha512, 8192)]),
            ]
        );
        let bytes = std::fs::read(&db).unwrap();
        assert!(!bytes.windows(9).any(|w| w == b"s3cret-pw"));
        remove(&db, "alice").unwrap();
        assert_eq!(list(&db).unwrap().len(), 1);
        assert!(matches!(
            remove(&db, "alice"),
            Err(UserError::NoSuchUser(_))
        ));
    }

    #[test]
    fn bad_input_is_refused_with_what_to_fix() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("skiff.db");
        assert!(matches!(
            add(&db, "", &Mechanism::ALL, "pw", 4096),
            Err(UserError::Name(_))
        ));
        assert!(matches!(
            add(&db, "a", &Mechanism::ALL, "pw", 100),
            Err(UserError::Iterations)
        ));
        assert!(matches!(
            read_password(&b"\n"[..]),
            Err(UserError::NoPassword)
        ));
        let long = vec![b'x'; 5000];
        assert!(matches!(
            read_password(&long[..]),
            Err(UserError::PasswordTooLong)
        ));
        assert_eq!(read_password(&b"pw\r\nrest"[..]).unwrap(), "pw");
    }

    #[test]
    fn the_verifier_is_a_valid_bootstrap_setting() {
        let v = verifier("admin", Mechanism::Sha512, "pw", 4096).unwrap();
        let parsed = BootstrapUser::parse(&v).unwrap();
        assert_eq!(parsed.username, "admin");
        assert!(parsed.credential.verify_password(Mechanism::Sha512, b"pw"));
        assert!(!v.contains("pw,"));
    }
}
