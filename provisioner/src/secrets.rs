//! The deployment's secrets on this machine: the admin password the broker
//! was bootstrapped with and the CA certificate its TLS certificate chains
//! to. Owns where they live and who may read them, nothing else.
//!
//! Layout: `<config dir>/skiff/<deployment>/` (`dirs::config_dir()`, so
//! `~/.config/skiff/NAME` on Linux, `~/Library/Application Support/skiff/NAME`
//! on macOS), or `$SKIFF_CONFIG_DIR/<deployment>/` when that variable is set
//! (tests, or a user keeping secrets elsewhere). The directory is 0700,
//! `admin.password` 0600, `ca.pem` 0644 (a certificate is public). Files are
//! written to a fresh temporary file in the same directory and renamed over
//! the old one, so a reader never sees half a secret and a crash never
//! leaves a truncated one. A password file that group or others can read is
//! refused, as ssh refuses such a key: it may already have leaked.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The broker's administrator (a super user, `User:admin`), whose
/// password `admin.password` holds.
pub const ADMIN_USER: &str = "admin";
/// The environment variable that replaces `<config dir>/skiff`.
pub const CONFIG_DIR_ENV: &str = "SKIFF_CONFIG_DIR";
/// The admin password's file name inside the deployment's directory.
pub const ADMIN_PASSWORD_FILE: &str = "admin.password";
/// The CA certificate's file name inside the deployment's directory.
pub const CA_FILE: &str = "ca.pem";
/// The admin's SCRAM verifier (kept so every `up` renders the same one; a
/// fresh salt would change the user data each time).
pub const ADMIN_VERIFIER_FILE: &str = "admin.scram";
/// Longest password file read (a generated one is 32 characters).
const MAX_PASSWORD_BYTES: u64 = 1024;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "no configuration directory on this system (no home directory?): set {CONFIG_DIR_ENV} \
         to a directory for skiff's secrets"
    )]
    NoConfigDir,
    #[error(
        "deployment name {0:?} cannot name a secrets directory: use 1 to 32 lowercase letters, \
         digits or '-', not starting with '-'"
    )]
    BadName(String),
    #[error(
        "no admin password at {0}: it is written by `skiff up` on the machine that created the \
         deployment; copy it from there (mode 0600), or pass --password-file"
    )]
    MissingPassword(PathBuf),
    #[error(
        "{path} is readable by group or others (mode {mode:o}): the password may have leaked; \
         run `chmod 600 {path}` (and consider rotating it)"
    )]
    PasswordTooOpen { path: PathBuf, mode: u32 },
    #[error("{0} is not a password file: longer than {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong(PathBuf),
    #[error("{0} is empty or not UTF-8 text: expected the admin password on one line")]
    PasswordUnreadable(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, SecretsError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SecretsError + '_ {
    move |source| SecretsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One deployment's secrets directory (not created until something is
/// written to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dir {
    path: PathBuf,
}

impl Dir {
    /// The directory for deployment `name` (the same name rule as
    /// skiff.yaml's `name`, so it can never climb out of the skiff dir).
    pub fn for_deployment(name: &str) -> Result<Dir> {
        let ok = (1..=32).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-');
        if !ok {
            return Err(SecretsError::BadName(name.to_string()));
        }
        let base = match std::env::var_os(CONFIG_DIR_ENV) {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => dirs::config_dir()
                .ok_or(SecretsError::NoConfigDir)?
                .join("skiff"),
        };
        Ok(Dir {
            path: base.join(name),
        })
    }

    /// The deployment's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the admin password is (or would be) stored.
    pub fn admin_password_path(&self) -> PathBuf {
        self.path.join(ADMIN_PASSWORD_FILE)
    }

    /// Where the CA certificate is (or would be) stored.
    pub fn ca_path(&self) -> PathBuf {
        self.path.join(CA_FILE)
    }

    /// Stores the admin password (0600), replacing any previous one.
    pub fn write_admin_password(&self, password: &str) -> Result<()> {
        self.ensure_dir()?;
        write_atomic(&self.admin_password_path(), password.as_bytes(), 0o600)
    }

    /// The stored admin password (see [`read_password_file`]).
    pub fn read_admin_password(&self) -> Result<String> {
        read_password_file(&self.admin_password_path())
    }

    /// Stores the CA certificate (PEM, 0644), replacing any previous one.
    pub fn write_ca(&self, pem: &str) -> Result<()> {
        self.ensure_dir()?;
        write_atomic(&self.ca_path(), pem.as_bytes(), 0o644)
    }

    /// The stored admin password, None when there is none yet (any other
    /// problem, such as a file others can read, is an error).
    pub fn admin_password(&self) -> Result<Option<String>> {
        match self.read_admin_password() {
            Ok(p) => Ok(Some(p)),
            Err(SecretsError::MissingPassword(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores the admin's SCRAM verifier (0600: not a password, but an
    /// offline guessing target).
    pub fn write_admin_verifier(&self, verifier: &str) -> Result<()> {
        self.ensure_dir()?;
        write_atomic(
            &self.path.join(ADMIN_VERIFIER_FILE),
            verifier.as_bytes(),
            0o600,
        )
    }

    /// The stored verifier, None if there is none or it is not one short
    /// printable line (then `up` makes a new one).
    pub fn read_admin_verifier(&self) -> Result<Option<String>> {
        let p = self.path.join(ADMIN_VERIFIER_FILE);
        match fs::read_to_string(&p) {
            Ok(t) => {
                let v = t.trim_end();
                Ok(
                    (!v.is_empty() && v.len() < 4096 && v.bytes().all(|b| b.is_ascii_graphic()))
                        .then(|| v.to_string()),
                )
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&p)(e)),
        }
    }

    /// The CA certificate, None if there is none yet.
    pub fn read_ca(&self) -> Result<Option<String>> {
        let p = self.ca_path();
        match fs::read_to_string(&p) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&p)(e)),
        }
    }

    /// Deletes the directory (`down --forget-secrets`); true if it existed.
    pub fn remove(&self) -> Result<bool> {
        match fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(&self.path)(e)),
        }
    }

    /// Creates the directory (and `skiff/` above it) owner-only, and
    /// tightens it if it exists with wider permissions.
    fn ensure_dir(&self) -> Result<()> {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(&self.path).map_err(io(&self.path))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&self.path, fs::Permissions::from_mode(0o700))
                .map_err(io(&self.path))?;
        }
        Ok(())
    }
}

/// Reads a password file: at most 1 KiB, UTF-8, one line (a trailing
/// newline is dropped, so `echo pw > file` works), and on Unix not readable
/// by group or others.
pub fn read_password_file(path: &Path) -> Result<String> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SecretsError::MissingPassword(path.to_path_buf()))
        }
        Err(e) => return Err(io(path)(e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(io(path))?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretsError::PasswordTooOpen {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let mut buf = Vec::new();
    file.take(MAX_PASSWORD_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(io(path))?;
    if buf.len() as u64 > MAX_PASSWORD_BYTES {
        return Err(SecretsError::PasswordTooLong(path.to_path_buf()));
    }
    let text = String::from_utf8(buf).map_err(|_| SecretsError::PasswordUnreadable(path.into()))?;
    let pw = text.strip_suffix('\n').unwrap_or(&text);
    let pw = pw.strip_suffix('\r').unwrap_or(pw);
    if pw.is_empty() || pw.contains('\n') {
        return Err(SecretsError::PasswordUnreadable(path.to_path_buf()));
    }
    Ok(pw.to_string())
}

/// Writes `bytes` to a new file beside `path` created with `mode` (never
/// following a symlink, never reusing a file), then renames it over `path`.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("secret");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        #[cfg(unix)]
        {
            // The umask may have narrowed the mode; set it exactly.
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io(path)(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_in(base: &Path, name: &str) -> Dir {
        Dir {
            path: base.join(name),
        }
    }

    #[test]
    fn names_that_could_escape_are_refused() {
        for bad in ["", "..", "../x", "a/b", "-x", "UPPER", &"x".repeat(33)] {
            assert!(
                matches!(Dir::for_deployment(bad), Err(SecretsError::BadName(_))),
                "{bad:?}"
            );
        }
        let d = Dir::for_deployment("prod-1").unwrap();
        assert!(d.path().ends_with("prod-1"), "{}", d.path().display());
        assert!(d.ca_path().ends_with("prod-1/ca.pem"));
    }

    #[cfg(unix)]
    #[test]
    fn password_round_trip_with_owner_only_modes() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let d = dir_in(t.path(), "prod");
        assert!(matches!(
            d.read_admin_password(),
            Err(SecretsError::MissingPassword(_))
        ));
        d.write_admin_password("s3cret").unwrap();
        d.write_admin_password("s3cret-2").unwrap();
        assert_eq!(d.read_admin_password().unwrap(), "s3cret-2");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(d.path()), 0o700);
        assert_eq!(mode(&d.admin_password_path()), 0o600);
        d.write_ca("-----BEGIN CERTIFICATE-----\n").unwrap();
        assert_eq!(mode(&d.ca_path()), 0o644);
        // Nothing but the two files is left behind.
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn open_long_or_empty_password_files_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("pw");
        fs::write(&p, "pw\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_password_file(&p).unwrap_err().to_string();
        assert!(e.contains("chmod 600") && e.contains("pw"), "{e}");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_password_file(&p).unwrap(), "pw");
        fs::write(&p, "x".repeat(2000)).unwrap();
        assert!(matches!(
            read_password_file(&p),
            Err(SecretsError::PasswordTooLong(_))
        ));
        fs::write(&p, "\n").unwrap();
        assert!(matches!(
            read_password_file(&p),
            Err(SecretsError::PasswordUnreadable(_))
        ));
    }
}
