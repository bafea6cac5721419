//! The SQLite tables behind users and ACLs, as plain functions over a
//! connection: the storage writer calls the writing ones inside its
//! transactions (so a change is durable before the in-memory tables show
//! it), start-up calls the loading ones.
//!
//! Only verifiers are stored (salt, iterations, StoredKey, ServerKey), never
//! a password. Rows are validated when loaded: a row that could not have been
//! written by Skiff is an error naming it, not a silently weaker credential.

use rusqlite::{params, Connection, OptionalExtension};

use super::acl::{AclBinding, Operation, PatternType, Permission, ResourceType};
use super::scram::{Mechanism, ScramCredential};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS scram_credentials (
    username   TEXT NOT NULL,
    mechanism  INTEGER NOT NULL,   -- KIP-554: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512
    salt       BLOB NOT NULL,
    stored_key BLOB NOT NULL,
    server_key BLOB NOT NULL,
    iterations INTEGER NOT NULL,
    PRIMARY KEY (username, mechanism)
) WITHOUT ROWID;
-- One row per ACL binding; the codes are Kafka's wire values.
CREATE TABLE IF NOT EXISTS acls (
    resource_type INTEGER NOT NULL,
    resource_name TEXT NOT NULL,
    pattern_type  INTEGER NOT NULL,
    principal     TEXT NOT NULL,
    host          TEXT NOT NULL,
    operation     INTEGER NOT NULL,
    permission    INTEGER NOT NULL,
    PRIMARY KEY (resource_type, resource_name, pattern_type, principal, host, operation, permission)
) WITHOUT ROWID;
-- Bumped by every change to the two tables above, by the broker or by
-- `skiff-broker user`: a running broker reloads them when it changes.
CREATE TABLE IF NOT EXISTS security_generation (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    n  INTEGER NOT NULL
);
INSERT OR IGNORE INTO security_generation (id, n) VALUES (0, 0);
";

/// Why the security tables could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error("stored credential of user {user:?} ({mechanism}) is invalid: {reason}")]
    BadCredential {
        user: String,
        mechanism: String,
        reason: String,
    },
    #[error("stored ACL is invalid: {0}")]
    BadAcl(String),
}

/// Creates the tables if they do not exist.
pub fn create_schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)
}

/// Marks a change to users or ACLs, in the transaction that makes it.
pub fn bump_generation(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute("UPDATE security_generation SET n = n + 1 WHERE id = 0", [])?;
    Ok(())
}

/// The change counter (0 when the table does not exist yet).
pub fn generation(conn: &Connection) -> rusqlite::Result<i64> {
    Ok(conn
        .query_row("SELECT n FROM security_generation WHERE id = 0", [], |r| {
            r.get(0)
        })
        .optional()
        .or_else(|e| match e {
            rusqlite::Error::SqliteFailure(_, Some(ref m)) if m.contains("no such table") => {
                Ok(None)
            }
            e => Err(e),
        })?
        .unwrap_or(0))
}

/// Every stored verifier.
pub fn load_credentials(
    conn: &Connection,
) -> Result<Vec<(String, Mechanism, ScramCredential)>, PersistError> {
    let mut stmt = conn.prepare(
        "SELECT username, mechanism, salt, stored_key, server_key, iterations
         FROM scram_credentials ORDER BY username, mechanism",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Vec<u8>>(2)?,
            r.get::<_, Vec<u8>>(3)?,
            r.get::<_, Vec<u8>>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (user, mech, salt, stored_key, server_key, iterations) = row?;
        let bad = |reason: String| PersistError::BadCredential {
            user: user.clone(),
            mechanism: mech.to_string(),
            reason,
        };
        let mechanism = i8::try_from(mech)
            .ok()
            .and_then(Mechanism::from_kafka_type)
            .ok_or_else(|| bad("unknown mechanism".into()))?;
        let cred = ScramCredential {
            salt,
            stored_key,
            server_key,
            iterations: u32::try_from(iterations)
                .map_err(|_| bad("iterations out of range".into()))?,
        };
        cred.validate(mechanism).map_err(|e| bad(e.to_string()))?;
        out.push((user, mechanism, cred));
    }
    Ok(out)
}

/// Adds or replaces one verifier.
pub fn upsert_credential(
    conn: &Connection,
    user: &str,
    mechanism: Mechanism,
    cred: &ScramCredential,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO scram_credentials (username, mechanism, salt, stored_key, server_key, iterations)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (username, mechanism) DO UPDATE SET
             salt = excluded.salt, stored_key = excluded.stored_key,
             server_key = excluded.server_key, iterations = excluded.iterations",
        params![
            user,
            mechanism.kafka_type(),
            cred.salt,
            cred.stored_key,
            cred.server_key,
            cred.iterations
        ],
    )?;
    Ok(())
}

/// Deletes one verifier; whether there was one.
pub fn delete_credential(
    conn: &Connection,
    user: &str,
    mechanism: Mechanism,
) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "DELETE FROM scram_credentials WHERE username = ?1 AND mechanism = ?2",
        params![user, mechanism.kafka_type()],
    )? > 0)
}

/// Deletes every verifier of a user; how many there were.
pub fn delete_user(conn: &Connection, user: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM scram_credentials WHERE username = ?1",
        params![user],
    )
}

/// Whether a user has any verifier (for `user add` refusing to overwrite
/// without being asked, for example).
pub fn user_exists(conn: &Connection, user: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM scram_credentials WHERE username = ?1 LIMIT 1",
        params![user],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
}

/// Every stored ACL.
pub fn load_acls(conn: &Connection) -> Result<Vec<AclBinding>, PersistError> {
    let mut stmt = conn.prepare(
        "SELECT resource_type, resource_name, pattern_type, principal, host, operation, permission
         FROM acls",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, i64>(6)?,
        ))
    })?;
    let code = |v: i64| i8::try_from(v).unwrap_or(-1);
    let mut out = Vec::new();
    for row in rows {
        let (rt, name, pt, principal, host, op, perm) = row?;
        let binding = AclBinding {
            resource_type: ResourceType::from_code(code(rt))
                .ok_or_else(|| PersistError::BadAcl(format!("resource type {rt}")))?,
            resource_name: name,
            pattern_type: PatternType::from_code(code(pt))
                .ok_or_else(|| PersistError::BadAcl(format!("pattern type {pt}")))?,
            principal,
            host,
            operation: Operation::from_code(code(op))
                .ok_or_else(|| PersistError::BadAcl(format!("operation {op}")))?,
            permission: Permission::from_code(code(perm))
                .ok_or_else(|| PersistError::BadAcl(format!("permission {perm}")))?,
        };
        binding
            .validate()
            .map_err(|e| PersistError::BadAcl(format!("{binding}: {e}")))?;
        out.push(binding);
    }
    Ok(out)
}

fn acl_params(b: &AclBinding) -> [rusqlite::types::Value; 7] {
    use rusqlite::types::Value::{Integer, Text};
    [
        Integer(b.resource_type.code().into()),
        Text(b.resource_name.clone()),
        Integer(b.pattern_type.code().into()),
        Text(b.principal.clone()),
        Text(b.host.clone()),
        Integer(b.operation.code().into()),
        Integer(b.permission.code().into()),
    ]
}

/// Inserts an ACL (validated by the caller); whether it is new.
pub fn insert_acl(conn: &Connection, b: &AclBinding) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "INSERT OR IGNORE INTO acls
         (resource_type, resource_name, pattern_type, principal, host, operation, permission)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        rusqlite::params_from_iter(acl_params(b)),
    )? > 0)
}

/// Deletes an ACL; whether it was there.
pub fn delete_acl(conn: &Connection, b: &AclBinding) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "DELETE FROM acls WHERE resource_type = ?1 AND resource_name = ?2 AND pattern_type = ?3
         AND principal = ?4 AND host = ?5 AND operation = ?6 AND permission = ?7",
        rusqlite::params_from_iter(acl_params(b)),
    )? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skiff.db");
        create_schema(&Connection::open(&path).unwrap()).unwrap();
        (dir, path)
    }

    #[test]
    fn credentials_survive_reopening() {
        let (_dir, path) = db();
        let c256 = ScramCredential::generate(Mechanism::Sha256, b"pw", 4096).unwrap();
        let c512 = ScramCredential::generate(Mechanism::Sha512, b"pw", 8192).unwrap();
        {
            let conn = Connection::open(&path).unwrap();
            upsert_credential(&conn, "alice", Mechanism::Sha256, &c256).unwrap();
            let older = ScramCredential::generate(Mechanism::Sha512, b"old", 4096).unwrap();
            upsert_credential(&conn, "alice", Mechanism::Sha512, &older).unwrap();
            // Replaced.
            upsert_credential(&conn, "alice", Mechanism::Sha512, &c512).unwrap();
            upsert_credential(&conn, "bob", Mechanism::Sha256, &c256).unwrap();
            assert!(user_exists(&conn, "bob").unwrap());
            assert_eq!(delete_user(&conn, "bob").unwrap(), 1);
            assert!(!user_exists(&conn, "bob").unwrap());
        }
        let conn = Connection::open(&path).unwrap();
        create_schema(&conn).unwrap();
        let rows = load_credentials(&conn).unwrap();
        assert_eq!(
            rows,
            vec![
                ("alice".into(), Mechanism::Sha256, c256.clone()),
                ("alice".into(), Mechanism::Sha512, c512),
            ]
        );
        assert!(delete_credential(&conn, "alice", Mechanism::Sha512).unwrap());
        assert!(!delete_credential(&conn, "alice", Mechanism::Sha512).unwrap());
        assert_eq!(load_credentials(&conn).unwrap().len(), 1);
    }

    #[test]
    fn a_tampered_credential_is_an_error_naming_it() {
        let (_dir, path) = db();
        let conn = Connection::open(&path).unwrap();
        let c = ScramCredential::generate(Mechanism::Sha256, b"pw", 4096).unwrap();
        upsert_credential(&conn, "eve", Mechanism::Sha256, &c).unwrap();
        conn.execute("UPDATE scram_credentials SET iterations = 1", [])
            .unwrap();
        let e = load_credentials(&conn).unwrap_err().to_string();
        assert!(e.contains("\"eve\"") && e.contains("iterations 1"), "{e}");
        conn.execute(
            "UPDATE scram_credentials SET iterations = 4096, mechanism = 9",
            [],
        )
        .unwrap();
        assert!(load_credentials(&conn)
            .unwrap_err()
            .to_string()
            .contains("unknown mechanism"));
    }

    #[test]
    fn acls_insert_delete_load() {
        let (_dir, path) = db();
        let conn = Connection::open(&path).unwrap();
        let b = AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: "orders.".into(),
            pattern_type: PatternType::Prefixed,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: Operation::Write,
            permission: Permission::Allow,
        };
        let mut deny = b.clone();
        deny.permission = Permission::Deny;
        assert!(insert_acl(&conn, &b).unwrap());
        assert!(!insert_acl(&conn, &b).unwrap(), "duplicate");
        assert!(insert_acl(&conn, &deny).unwrap());
        let mut loaded = load_acls(&Connection::open(&path).unwrap()).unwrap();
        loaded.sort();
        let mut want = vec![b.clone(), deny.clone()];
        want.sort();
        assert_eq!(loaded, want);
        assert!(delete_acl(&conn, &deny).unwrap());
        assert!(!delete_acl(&conn, &deny).unwrap());
        assert_eq!(load_acls(&conn).unwrap(), vec![b]);
        conn.execute("UPDATE acls SET operation = 99", []).unwrap();
        assert!(load_acls(&conn)
            .unwrap_err()
            .to_string()
            .contains("operation 99"));
    }
}
