//! The broker's security state, built once at start-up and shared by every
//! connection: the listener protocol, the TLS acceptor (with its reloadable
//! certificate), the enabled SASL mechanisms, the users and ACLs held in
//! memory (so no request reads SQL to authenticate or authorize), and the
//! failed-authentication limiter.
//!
//! The tables change three ways: through the Kafka APIs (the handler writes
//! through the storage writer, then updates memory), through
//! `skiff-broker user` in another process, and at start-up (the bootstrap
//! user). Every write bumps a change counter in the file; [`follow_changes`]
//! reloads both tables whenever the counter moved, so a change made by
//! another process is seen within [`FOLLOW_PERIOD`].

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use super::acl::{Authorizer, AuthorizerMode, Operation, ResourceType, ANONYMOUS};
use super::credentials::CredentialStore;
use super::rate_limit::{FailedAuthLimiter, LimiterConfig};
use super::sasl::EnabledMechanisms;
use super::tls::{self, ReloadableCert, TlsError};
use crate::broker::Broker;
use crate::config::{SecurityConfig, SecurityProtocol};
use crate::storage::SecuritySnapshot;

/// How often the change counter is read.
pub const FOLLOW_PERIOD: Duration = Duration::from_secs(2);

pub struct Security {
    pub protocol: SecurityProtocol,
    pub mechanisms: EnabledMechanisms,
    pub credentials: CredentialStore,
    pub authorizer: Authorizer,
    pub limiter: FailedAuthLimiter,
    /// Set for SSL and SASL_SSL.
    pub tls: Option<TlsAcceptor>,
    cert: Option<Arc<ReloadableCert>>,
    /// The change counter the tables in memory belong to.
    generation: AtomicI64,
}

impl Security {
    /// Loads the certificate (if the protocol uses TLS) and the tables.
    pub fn new(config: &SecurityConfig, snapshot: SecuritySnapshot) -> Result<Security, TlsError> {
        let (tls, cert) = match &config.tls {
            Some(files) if config.protocol.tls() => {
                if let Some(w) = tls::key_file_warning(&files.key) {
                    warn!("{w}");
                }
                let cert = ReloadableCert::load(files.clone(), tls::provider())?;
                let server = tls::server_config(cert.clone())?;
                (Some(TlsAcceptor::from(server)), Some(cert))
            }
            _ => (None, None),
        };
        Ok(Security {
            protocol: config.protocol,
            mechanisms: config.mechanisms.clone(),
            credentials: CredentialStore::from_rows(snapshot.credentials),
            authorizer: Authorizer::new(
                config.authorizer,
                config.super_users.clone(),
                snapshot.acls,
            ),
            limiter: FailedAuthLimiter::new(LimiterConfig::default()),
            tls,
            cert,
            generation: AtomicI64::new(snapshot.generation),
        })
    }

    /// Whether clients must authenticate with SASL before anything else.
    pub fn sasl(&self) -> bool {
        self.protocol.sasl()
    }

    /// The principal of a connection that has not authenticated (and of
    /// every connection when SASL is off).
    pub fn anonymous() -> &'static str {
        ANONYMOUS
    }

    /// Whether ACLs are checked at all (`SKIFF_AUTHORIZER=acl`).
    pub fn acl_enabled(&self) -> bool {
        self.authorizer.mode() == AuthorizerMode::Acl
    }

    /// Whether `principal` from `host` may do `op` on the resource.
    pub fn allows(
        &self,
        principal: &str,
        host: IpAddr,
        op: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        !self.acl_enabled()
            || self
                .authorizer
                .authorize(principal, host, op, resource_type, name)
    }

    /// Replaces both tables with what the file holds.
    pub fn reload(&self, snapshot: SecuritySnapshot) {
        self.credentials.replace_all(snapshot.credentials);
        self.authorizer.replace_all(snapshot.acls);
        self.generation
            .store(snapshot.generation, Ordering::Relaxed);
    }

    /// The certificate, for its reloader.
    pub fn cert(&self) -> Option<Arc<ReloadableCert>> {
        self.cert.clone()
    }
}

/// Reloads users and ACLs whenever another writer (or this broker) changed
/// them, until shutdown. Cheap: one indexed read of one row per period.
pub async fn follow_changes(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(FOLLOW_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let security = &broker.security;
        let seen = security.generation.load(Ordering::Relaxed);
        match broker.storage.security_generation().await {
            Ok(g) if g == seen => continue,
            Ok(_) => {}
            Err(e) => {
                warn!(error = %e, "cannot read the users and ACLs change counter");
                continue;
            }
        }
        match broker.storage.read_security().await {
            Ok(snapshot) => {
                let (users, acls) = (snapshot.credentials.len(), snapshot.acls.len());
                security.reload(snapshot);
                info!(credentials = users, acls, "users and ACLs reloaded");
            }
            Err(e) => {
                warn!(error = %e, "cannot reload users and ACLs; the previous ones stay in use")
            }
        }
    }
}
