//! TLS for the client listener: the PEM certificate chain and private key
//! from files, the rustls server configuration, and reloading the
//! certificate without a restart (on SIGHUP, or when either file changes).
//!
//! The crypto provider is aws-lc-rs rather than ring. Measured on this
//! project's x86_64 build machine (AMD EPYC, AES-NI and SHA extensions) with
//! `examples/security_bench.rs` and the same code built against ring: TLS 1.3
//! AES-256-GCM records at about 2 GB/s per core either way and the same
//! handshake cost, but PBKDF2-SHA-256 (PLAIN checks, new verifiers) 30%
//! cheaper with aws-lc. On arm64 aws-lc carries AES-GCM code tuned for
//! Graviton cores (unmeasured here). It builds with a C compiler alone (no
//! cmake, no Go), the workspace already builds it for the AWS SDK, and it
//! links into the static glibc binary (`+crt-static`, checked by building and
//! running the benchmark that way). SCRAM's primitives come from the same
//! library, so no other crypto crate is needed.
//!
//! Connections pick the certificate in force when their handshake starts:
//! the resolver swaps an `Arc<CertifiedKey>` under a lock, so a reload never
//! disturbs a handshake in progress and never leaves a half-loaded key. A
//! reload that fails (a key that does not match the certificate, a file half
//! written) keeps the current certificate and is logged.
//!
//! Secrets: no error or log line quotes the key file's contents; PEM parse
//! errors are reduced to what was wrong, never the offending line.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tracing::{info, warn};

/// Largest certificate or key file read (a chain is a few KiB).
pub const MAX_PEM_FILE_BYTES: u64 = 1 << 20;
/// How often the files are checked for changes by [`spawn_reloader`].
pub const DEFAULT_POLL: Duration = Duration::from_secs(30);

/// The certificate chain and key files (`SKIFF_TLS_CERT_FILE`,
/// `SKIFF_TLS_KEY_FILE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Why the certificate or key could not be used. Messages name the file
/// and the fix, never the contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} file '{path}': {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} file '{path}' is larger than {MAX_PEM_FILE_BYTES} bytes")]
    TooLarge { what: &'static str, path: PathBuf },
    #[error("certificate file '{path}' holds no PEM certificate ('-----BEGIN CERTIFICATE-----')")]
    NoCertificate { path: PathBuf },
    #[error("certificate file '{path}' is not valid PEM ({reason})")]
    BadCertificatePem { path: PathBuf, reason: &'static str },
    #[error("key file '{path}' holds no PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC)")]
    NoKey { path: PathBuf },
    #[error("key file '{path}' is not valid PEM ({reason})")]
    BadKeyPem { path: PathBuf, reason: &'static str },
    #[error("the private key in '{path}' is not a supported RSA, ECDSA or Ed25519 key")]
    UnsupportedKey { path: PathBuf },
    #[error("the private key in '{key}' does not belong to the certificate in '{cert}'")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("the certificate in '{path}' cannot be parsed: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// A PEM error reduced to its kind: pki-types' own messages may quote a line
/// of the file, which for the key file would be key material.
fn pem_reason(e: &rustls::pki_types::pem::Error) -> &'static str {
    use rustls::pki_types::pem::Error as E;
    match e {
        E::MissingSectionEnd { .. } => "a section has no END line",
        E::IllegalSectionStart { .. } => "a malformed BEGIN line",
        E::Base64Decode(_) => "invalid base64",
        E::NoItemsFound => "no item found",
        E::SectionTooLarge => "a section is too large",
        _ => "unreadable",
    }
}

/// The crypto provider Skiff uses for TLS (aws-lc-rs).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn read_bounded(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let read = |source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_FILE_BYTES + 1).read_to_end(&mut out))
        .map_err(read)?;
    if out.len() as u64 > MAX_PEM_FILE_BYTES {
        out.fill(0);
        return Err(TlsError::TooLarge {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// A warning when the key file can be read by users other than its owner
/// (mode bits 077), for the log at start-up; the file is still used, since
/// the broker may run as a user that does not own it (a container volume).
pub fn key_file_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "TLS key file '{}' is readable by other users (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )
    })
}

/// Loads and checks a certificate chain and its key: the key must parse
/// with the provider and match the first certificate.
pub fn load_certified_key(
    files: &TlsFiles,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let cert_pem = read_bounded("certificate", &files.cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificatePem {
            path: files.cert.clone(),
            reason: pem_reason(&e),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    let mut key_pem = read_bounded("private key", &files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem);
    key_pem.fill(0);
    let key = key.map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: files.key.clone(),
        },
        e => TlsError::BadKeyPem {
            path: files.key.clone(),
            reason: pem_reason(&e),
        },
    })?;
    let signing_key =
        provider
            .key_provider
            .load_private_key(key)
            .map_err(|_| TlsError::UnsupportedKey {
                path: files.key.clone(),
            })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
            cert: files.cert.clone(),
            key: files.key.clone(),
        }),
        Err(e) => Err(TlsError::BadCertificate {
            path: files.cert.clone(),
            reason: e.to_string(),
        }),
    }
}

/// What identifies a version of a file: a rotation changes at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
        inode: m.ino(),
    })
}

/// The server's certificate, swappable while connections are served.
pub struct ReloadableCert {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' stamps at the last load attempt.
    seen: Mutex<(Option<Stamp>, Option<Stamp>)>,
}

impl fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadableCert")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ReloadableCert {
    /// Loads the certificate for the first time (a failure stops start-up).
    pub fn load(files: TlsFiles, provider: Arc<CryptoProvider>) -> Result<Arc<Self>, TlsError> {
        let seen = (stamp(&files.cert), stamp(&files.key));
        let key = load_certified_key(&files, &provider)?;
        Ok(Arc::new(ReloadableCert {
            files,
            provider,
            current: RwLock::new(Arc::new(key)),
            seen: Mutex::new(seen),
        }))
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The certificate new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Loads the files again and swaps the certificate in; on error the
    /// current one stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) =
            (stamp(&self.files.cert), stamp(&self.files.key));
        let key = Arc::new(load_certified_key(&self.files, &self.provider)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
        Ok(())
    }

    /// Whether either file changed since the last load attempt.
    pub fn changed_on_disk(&self) -> bool {
        let now = (stamp(&self.files.cert), stamp(&self.files.key));
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) != now
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The rustls configuration of the client listener: TLS 1.3 and 1.2 with
/// the provider's default (AEAD-only) suites, no client certificates, the
/// reloadable certificate.
pub fn server_config(cert: Arc<ReloadableCert>) -> Result<Arc<ServerConfig>, TlsError> {
    let config = ServerConfig::builder_with_provider(cert.provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    Ok(Arc::new(config))
}

fn reload_logged(cert: &ReloadableCert, why: &str) {
    match cert.reload() {
        Ok(()) => info!(
            cert = %cert.files.cert.display(),
            reason = why,
            "TLS certificate reloaded"
        ),
        Err(e) => warn!(
            error = %e,
            reason = why,
            "TLS certificate reload failed; the current certificate stays in use"
        ),
    }
}

/// Reloads the certificate on SIGHUP and when either file changes (checked
/// every `poll`), until `shutdown` completes. The SIGHUP handler is
/// installed before this returns, so a SIGHUP sent afterwards cannot kill
/// the process. Must be called inside a tokio runtime.
pub fn spawn_reloader(
    cert: Arc<ReloadableCert>,
    poll: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                got = hangup.recv() => {
                    if got.is_none() {
                        return;
                    }
                    reload_logged(&cert, "SIGHUP");
                }
                _ = tick.tick() => {
                    if cert.changed_on_disk() {
                        reload_logged(&cert, "file changed");
                    }
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// A test CA and the means to issue server certificates from it.
    struct Ca {
        issuer: Issuer<'static, KeyPair>,
        pem: String,
    }

    impl Ca {
        fn new() -> Ca {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            Ca {
                pem: cert.pem(),
                issuer: Issuer::new(params, key),
            }
        }

        /// (certificate PEM, key PEM) for these host names.
        fn issue(&self, names: &[&str]) -> (String, String) {
            let params =
                CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                    .unwrap();
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &self.issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        }

        fn connector(&self) -> tokio_rustls::TlsConnector {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(self.pem.as_bytes()).unwrap())
                .unwrap();
            let config = rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            tokio_rustls::TlsConnector::from(Arc::new(config))
        }
    }

    fn write_files(dir: &Path, cert: &str, key: &str) -> TlsFiles {
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        // Replace, as a rotation does (a new inode each time).
        for (path, body) in [(&files.cert, cert), (&files.key, key)] {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, body).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
        files
    }

    /// Serves TLS echo connections on 127.0.0.1 until the test ends.
    async fn serve(cert: Arc<ReloadableCert>) -> std::net::SocketAddr {
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(cert).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(sock).await {
                        let mut buf = [0u8; 64];
                        while let Ok(n @ 1..) = tls.read(&mut buf).await {
                            if tls.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                });
            }
        });
        addr
    }

    /// Connects with host-name verification, echoes a message, and returns
    /// the certificate the server presented.
    async fn peer_cert(
        ca: &Ca,
        addr: std::net::SocketAddr,
        name: &str,
    ) -> Result<Vec<u8>, std::io::Error> {
        let sock = TcpStream::connect(addr).await?;
        let server_name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
        let mut tls = ca.connector().connect(server_name, sock).await?;
        tls.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ping");
        Ok(tls.get_ref().1.peer_certificates().unwrap()[0].to_vec())
    }

    fn der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn clients_verify_the_host_and_reload_swaps_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new();
        let (cert1, key1) = ca.issue(&["localhost", "127.0.0.1"]);
        let files = write_files(dir.path(), &cert1, &key1);
        let cert = ReloadableCert::load(files.clone(), provider()).unwrap();
        let addr = serve(cert.clone()).await;

        assert_eq!(
            peer_cert(&ca, addr, "localhost").await.unwrap(),
            der(&cert1)
        );
        assert_eq!(
            peer_cert(&ca, addr, "127.0.0.1").await.unwrap(),
            der(&cert1)
        );
        // Host-name verification is on: another name is refused.
        let wrong = peer_cert(&ca, addr, "kafka.example.com").await.unwrap_err();
        assert!(wrong.to_string().contains("not valid for name"), "{wrong}");
        // A client that does not trust the CA is refused too.
        let other_ca = Ca::new();
        assert!(peer_cert(&other_ca, addr, "localhost").await.is_err());

        // Rotation: new files, reload, new connections see the new certificate.
        let (cert2, key2) = ca.issue(&["localhost"]);
        write_files(dir.path(), &cert2, &key2);
        assert!(cert.changed_on_disk());
        cert.reload().unwrap();
        assert!(!cert.changed_on_disk());
        assert_eq!(
            peer_cert(&ca, addr, "localhost").await.unwrap(),
            der(&cert2)
        );
    }

    /// Waits (up to 2 s) until `cert` serves the certificate `want`.
    async fn wait_for(cert: &ReloadableCert, want: &[u8]) {
        for _ in 0..100 {
            if cert.current().cert[0].as_ref() == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the certificate was not reloaded");
    }

    #[tokio::test]
    async fn the_reloader_follows_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new();
        let (cert1, key1) = ca.issue(&["localhost"]);
        let cert =
            ReloadableCert::load(write_files(dir.path(), &cert1, &key1), provider()).unwrap();
        let addr = serve(cert.clone()).await;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = spawn_reloader(cert.clone(), Duration::from_millis(50), async {
            let _ = stopped.await;
        })
        .unwrap();
        let (cert2, key2) = ca.issue(&["localhost"]);
        write_files(dir.path(), &cert2, &key2);
        wait_for(&cert, &der(&cert2)).await;
        assert_eq!(
            peer_cert(&ca, addr, "localhost").await.unwrap(),
            der(&cert2)
        );
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn the_reloader_follows_sighup() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new();
        let (cert1, key1) = ca.issue(&["localhost"]);
        let cert =
            ReloadableCert::load(write_files(dir.path(), &cert1, &key1), provider()).unwrap();
        // Polling once an hour: only the signal can cause the reload.
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = spawn_reloader(cert.clone(), Duration::from_secs(3600), async {
            let _ = stopped.await;
        })
        .unwrap();
        let (cert2, key2) = ca.issue(&["localhost"]);
        write_files(dir.path(), &cert2, &key2);
        assert!(cert.changed_on_disk());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(cert.current().cert[0].as_ref(), der(&cert1).as_slice());
        // SAFETY: raising a signal whose handler is installed (spawn_reloader
        // installs it before returning), so the process is not ended.
        unsafe { libc::raise(libc::SIGHUP) };
        wait_for(&cert, &der(&cert2)).await;
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn bad_files_give_errors_that_never_quote_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new();
        let (cert1, key1) = ca.issue(&["localhost"]);
        let (cert2, key2) = ca.issue(&["localhost"]);
        let p = provider();
        let files = write_files(dir.path(), &cert1, &key1);
        let current = ReloadableCert::load(files.clone(), p.clone()).unwrap();

        let key_lines: Vec<&str> = key1
            .lines()
            .chain(key2.lines())
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let check = |e: TlsError, want: &str| {
            let msg = e.to_string();
            assert!(msg.contains(want), "{msg}");
            for line in &key_lines {
                assert!(!msg.contains(line), "the error quotes the key: {msg}");
                assert!(!format!("{e:?}").contains(line));
            }
        };
        // Mismatched key: refused, and the current certificate stays.
        write_files(dir.path(), &cert2, &key1);
        check(current.reload().unwrap_err(), "does not belong");
        assert_eq!(current.current().cert[0].as_ref(), der(&cert1).as_slice());
        // Garbage and truncation in the key file.
        let truncated = &key2[..key2.len() / 2];
        write_files(dir.path(), &cert2, truncated);
        check(current.reload().unwrap_err(), "key file");
        let garbled = key2.replacen("MI", "M!", 1);
        write_files(dir.path(), &cert2, &garbled);
        check(current.reload().unwrap_err(), "key file");
        // A certificate where the key should be, and the reverse.
        write_files(dir.path(), &cert2, &cert2);
        check(current.reload().unwrap_err(), "no PEM private key");
        write_files(dir.path(), &key2, &key2);
        check(current.reload().unwrap_err(), "no PEM certificate");
        // Missing and oversized files name the file.
        let missing = TlsFiles {
            cert: dir.path().join("nope.pem"),
            key: files.key.clone(),
        };
        check(load_certified_key(&missing, &p).unwrap_err(), "nope.pem");
        std::fs::write(&files.key, vec![b'A'; (MAX_PEM_FILE_BYTES + 1) as usize]).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            let perms = |m| std::fs::Permissions::from_mode(m);
            std::fs::set_permissions(&files.key, perms(0o644)).unwrap();
            assert!(key_file_warning(&files.key).unwrap().contains("mode 644"));
            std::fs::set_permissions(&files.key, perms(0o600)).unwrap();
            assert_eq!(key_file_warning(&files.key), None);
        }
        std::fs::write(&files.cert, &cert2).unwrap();
        check(current.reload().unwrap_err(), "larger than");
        assert_eq!(current.current().cert[0].as_ref(), der(&cert1).as_slice());
    }
}
