//! The deployment's secrets on the user's machine, and nowhere else: the
//! admin password (the broker only ever gets its SCRAM verifier) and the
//! deployment CA certificate clients trust. One directory per deployment,
//! `<config dir>/skiff/<name>` (`$SKIFF_CONFIG_DIR/<name>` when set; the
//! config dir is `$XDG_CONFIG_HOME` or `~/.config`, on macOS
//! `~/Library/Application Support`), created 0700; the password file is
//! written 0600 (created with that mode, never widened later), the CA
//! file 0644 (it is public).

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

const PASSWORD_FILE: &str = "admin.password";
const VERIFIER_FILE: &str = "admin.scram";
const CA_FILE: &str = "ca.pem";
/// The longest password file read (ours are 32 characters).
const MAX_PASSWORD: u64 = 1024;

/// A deployment's secrets directory.
#[derive(Debug, Clone)]
pub struct Dir {
    path: PathBuf,
}

fn config_root() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("SKIFF_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    let base = if cfg!(target_os = "macos") {
        home.map(|h| PathBuf::from(h).join("Library/Application Support"))
    } else {
        std::env::var_os("XDG_CONFIG_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.map(|h| PathBuf::from(h).join(".config")))
    };
    match base {
        Some(b) => Ok(b.join("skiff")),
        None => bail!(
            "cannot find a config directory for the deployment's secrets: set HOME or SKIFF_CONFIG_DIR"
        ),
    }
}

#[cfg(unix)]
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)
}

/// Writes `text` to `path` through a temporary file created with `mode`,
/// then renamed over it: never a moment with a partial file or a wider mode.
fn write_file(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = o.open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl Dir {
    /// The directory of deployment `name` (a validated deployment name);
    /// not created until something is written.
    pub fn for_deployment(name: &str) -> Result<Dir> {
        Ok(Dir {
            path: config_root()?.join(name),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn password_path(&self) -> PathBuf {
        self.path.join(PASSWORD_FILE)
    }

    pub fn ca_path(&self) -> PathBuf {
        self.path.join(CA_FILE)
    }

    fn create(&self) -> Result<()> {
        create_private_dir(&self.path)
            .with_context(|| format!("cannot create {}", self.path.display()))
    }

    /// Writes the admin password, owner-only (0600).
    pub fn write_admin_password(&self, password: &str) -> Result<()> {
        self.create()?;
        let p = self.password_path();
        write_file(&p, &format!("{password}\n"), 0o600)
            .with_context(|| format!("cannot write {}", p.display()))
    }

    /// The admin password, None if there is no file yet.
    pub fn read_admin_password(&self) -> Result<Option<String>> {
        let p = self.password_path();
        let f = match std::fs::File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
        };
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(f, MAX_PASSWORD), &mut text)
            .with_context(|| format!("cannot read {}", p.display()))?;
        let pw = text.trim_end_matches(['\n', '\r']).to_string();
        if pw.is_empty() || pw.chars().any(|c| c.is_control()) {
            bail!(
                "{} is not a password file (empty or several lines); delete it to have `skiff up` make a new password",
                p.display()
            );
        }
        Ok(Some(pw))
    }

    /// Writes the admin's SCRAM verifier (0600: not a password, but an
    /// offline guessing target), kept so that every `up` renders the same
    /// one (a new random salt would change the user data each time).
    pub fn write_admin_verifier(&self, verifier: &str) -> Result<()> {
        self.create()?;
        let p = self.path.join(VERIFIER_FILE);
        write_file(&p, &format!("{verifier}\n"), 0o600)
            .with_context(|| format!("cannot write {}", p.display()))
    }

    /// The stored verifier, None if there is none (or it is not one line).
    pub fn read_admin_verifier(&self) -> Result<Option<String>> {
        let p = self.path.join(VERIFIER_FILE);
        match std::fs::read_to_string(&p) {
            Ok(t) => {
                let v = t.trim_end().to_string();
                Ok((!v.is_empty() && v.len() < 4096 && v.bytes().all(|b| b.is_ascii_graphic()))
                    .then_some(v))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
        }
    }

    /// Writes the CA certificate clients trust (0644: it is public).
    pub fn write_ca(&self, pem: &str) -> Result<()> {
        self.create()?;
        let p = self.ca_path();
        write_file(&p, pem, 0o644).with_context(|| format!("cannot write {}", p.display()))
    }

    /// The CA certificate, None if there is no file yet.
    pub fn read_ca(&self) -> Result<Option<String>> {
        let p = self.ca_path();
        match std::fs::read_to_string(&p) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
        }
    }

    /// Deletes the directory (`down --forget-secrets`); true if it existed.
    pub fn remove(&self) -> Result<bool> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("cannot delete {}", self.path.display())),
        }
    }
}
