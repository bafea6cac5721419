//! Start-up settings, from flags or the environment (the environment names
//! match those of Tansu's compose files, so Skiff drops into them).
//!
//! Everything is validated before the broker starts: a bad setting stops it
//! with one line that names the setting and says what is accepted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args};

pub use crate::storage::Durability;

/// The settings as given, before validation.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Where to listen for Kafka clients, as tcp://HOST:PORT. The default
    /// listens on loopback only, so a local run is not exposed.
    #[arg(
        long,
        global = true,
        env = "LISTENER_URL",
        default_value = "tcp://127.0.0.1:9092"
    )]
    pub listener_url: String,

    /// The address clients are told to connect to (Metadata), as
    /// tcp://HOST:PORT. Defaults to the listener (with 0.0.0.0 replaced by
    /// 127.0.0.1). Set it to the public name or IP when behind NAT or Docker.
    #[arg(long, global = true, env = "ADVERTISED_LISTENER_URL")]
    pub advertised_listener_url: Option<String>,

    /// The database, as sqlite://PATH (sqlite://skiff.db is ./skiff.db;
    /// sqlite:///data/skiff.db is absolute).
    #[arg(
        long,
        global = true,
        env = "STORAGE_ENGINE",
        default_value = "sqlite://skiff.db"
    )]
    pub storage_engine: String,

    /// What an acknowledged write survives. Both modes fsync the rollback
    /// journal and the database file in every group commit, so an
    /// acknowledged write survives a broker crash or kill and a power loss.
    /// `normal` (SQLite synchronous=NORMAL) syncs the journal once per commit;
    /// `full` (synchronous=FULL) twice, ordering its pages before its header,
    /// which guards against corruption by a power loss during a commit on
    /// file systems that reorder writes.
    #[arg(
        long,
        global = true,
        env = "SKIFF_DURABILITY",
        value_enum,
        default_value = "normal"
    )]
    pub durability: Durability,

    /// Create a topic when a client asks for its metadata or produces to it,
    /// as Kafka's auto.create.topics.enable.
    #[arg(long, global = true, env = "SKIFF_AUTO_CREATE_TOPICS", default_value_t = true, action = ArgAction::Set)]
    pub auto_create_topics: bool,

    /// Partitions of auto-created topics (Kafka's num.partitions).
    #[arg(long, global = true, env = "SKIFF_NUM_PARTITIONS", default_value_t = 1)]
    pub num_partitions: i32,

    /// Most partitions the broker holds, summed over all topics. A
    /// CreateTopics, CreatePartitions or auto-creation that would go past it
    /// is refused with POLICY_VIOLATION before anything is written (Kafka has
    /// no such cap; KIP-578 proposed `max.broker.partitions`).
    #[arg(
        long,
        global = true,
        env = "SKIFF_MAX_PARTITIONS",
        default_value_t = 10_000
    )]
    pub max_partitions: u32,

    /// Test hook: the storage writer thread panics when asked to create a
    /// topic of this name, so tests can prove the process then exits.
    #[arg(
        long,
        global = true,
        env = "SKIFF_TEST_WRITER_PANIC_TOPIC",
        hide = true
    )]
    pub test_writer_panic_topic: Option<String>,

    /// The broker's node id, as reported in Metadata.
    #[arg(long, global = true, env = "SKIFF_NODE_ID", default_value_t = 0)]
    pub node_id: i32,

    /// The cluster id reported in Metadata and DescribeCluster.
    #[arg(long, global = true, env = "CLUSTER_ID", default_value = "skiff")]
    pub cluster_id: String,

    /// Largest request accepted, in bytes (Kafka's socket.request.max.bytes).
    /// A larger frame closes the connection.
    #[arg(
        long,
        global = true,
        env = "SKIFF_MAX_REQUEST_BYTES",
        default_value_t = 104_857_600
    )]
    pub max_request_bytes: u32,

    /// Most client connections open at once (Kafka's max.connections); a
    /// connection over it is accepted and closed at once.
    #[arg(
        long,
        global = true,
        env = "SKIFF_MAX_CONNECTIONS",
        default_value_t = 1024
    )]
    pub max_connections: usize,

    /// How long a group that had no members waits for more joiners before its
    /// first rebalance completes (Kafka's group.initial.rebalance.delay.ms).
    /// 0 lets a lone consumer start at once.
    #[arg(
        long,
        global = true,
        env = "SKIFF_GROUP_INITIAL_REBALANCE_DELAY_MS",
        default_value_t = 0
    )]
    pub group_initial_rebalance_delay_ms: u64,

    /// Where to serve Prometheus metrics at /metrics, as tcp://HOST:PORT
    /// (e.g. tcp://127.0.0.1:9308). Off when unset.
    #[arg(long, global = true, env = "SKIFF_METRICS_LISTENER_URL")]
    pub metrics_listener_url: Option<String>,

    /// Bytes of large requests (over 64 KiB) in flight across all
    /// connections; past it, connections stop reading until earlier requests
    /// are done (back-pressure instead of buffering).
    #[arg(
        long,
        global = true,
        env = "SKIFF_MAX_INFLIGHT_BYTES",
        default_value_t = 33_554_432
    )]
    pub max_inflight_bytes: usize,

    /// Largest footprint, in bytes, of the database: its pages in use plus
    /// 4 MiB for its journal. Beyond it produce, and past a 1 MiB reserve
    /// offset commits and topic changes, get KAFKA_STORAGE_ERROR (clients
    /// retry) while fetches and deletions go on; writes resume by themselves
    /// once retention, DeleteRecords or DeleteTopics frees pages. 0: no cap.
    #[arg(long, global = true, env = "SKIFF_MAX_DB_BYTES", default_value_t = 0)]
    pub max_db_bytes: u64,

    /// Free space, in bytes, always left on the database's volume (the
    /// file's free pages count as usable): growing writes are refused
    /// (KAFKA_STORAGE_ERROR) rather than fill it, and resume once space is
    /// freed.
    #[arg(
        long,
        global = true,
        env = "SKIFF_MIN_FREE_DISK_BYTES",
        default_value_t = 268_435_456
    )]
    pub min_free_disk_bytes: u64,

    /// How often topics' retention.ms and retention.bytes are enforced
    /// (Kafka's log.retention.check.interval.ms).
    #[arg(
        long,
        global = true,
        env = "SKIFF_RETENTION_CHECK_INTERVAL_MS",
        default_value_t = 300_000
    )]
    pub retention_check_interval_ms: u64,

    /// Smallest session timeout a group member may ask for
    /// (group.min.session.timeout.ms).
    #[arg(
        long,
        global = true,
        env = "SKIFF_GROUP_MIN_SESSION_TIMEOUT_MS",
        default_value_t = 6000
    )]
    pub group_min_session_timeout_ms: i32,

    /// Largest session timeout a group member may ask for
    /// (group.max.session.timeout.ms).
    #[arg(
        long,
        global = true,
        env = "SKIFF_GROUP_MAX_SESSION_TIMEOUT_MS",
        default_value_t = 1_800_000
    )]
    pub group_max_session_timeout_ms: i32,

    /// Most members in one consumer group (group.max.size); bounds a group's
    /// memory together with the request size limit.
    #[arg(
        long,
        global = true,
        env = "SKIFF_GROUP_MAX_SIZE",
        default_value_t = 1000
    )]
    pub group_max_size: usize,

    /// How long a group with no members and no committed offsets is kept
    /// before it is forgotten (Kafka drops such groups at its periodic
    /// cleanup, every 10 minutes by default).
    #[arg(
        long,
        global = true,
        env = "SKIFF_GROUP_EMPTY_RETENTION_MS",
        default_value_t = 600_000
    )]
    pub group_empty_retention_ms: u64,

    /// Most consumer groups the broker holds (with members or committed
    /// offsets). A JoinGroup or OffsetCommit that would add a group past it
    /// gets POLICY_VIOLATION, which clients report instead of retrying
    /// (Kafka has no such cap).
    #[arg(
        long,
        global = true,
        env = "SKIFF_MAX_GROUPS",
        default_value_t = 10_000
    )]
    pub max_groups: usize,

    /// How long the committed offsets of a group are kept once it has had
    /// no member and no commit (Kafka's offsets.retention.minutes, 7 days).
    /// Checked every SKIFF_RETENTION_CHECK_INTERVAL_MS.
    #[arg(
        long,
        global = true,
        env = "SKIFF_OFFSETS_RETENTION_MS",
        default_value_t = 604_800_000
    )]
    pub offsets_retention_ms: u64,

    /// How long an idempotent producer's state (epoch, last sequence
    /// numbers) is kept after its last write (Kafka's
    /// producer.id.expiration.ms). Checked every
    /// SKIFF_RETENTION_CHECK_INTERVAL_MS and at start-up.
    #[arg(
        long,
        global = true,
        env = "SKIFF_PRODUCER_ID_EXPIRATION_MS",
        default_value_t = 86_400_000
    )]
    pub producer_id_expiration_ms: u64,

    /// Most idempotent-producer states held, counted per (partition,
    /// producer id); each costs about 150 bytes of memory and a row. Past
    /// it the least recently written tenth is forgotten (those producers'
    /// next batches are accepted as from new producers). Kafka has no such
    /// cap; it only expires them (producer.id.expiration.ms).
    #[arg(
        long,
        global = true,
        env = "SKIFF_MAX_PRODUCER_IDS",
        default_value_t = 100_000
    )]
    pub max_producer_ids: usize,

    /// The longest `transaction.timeout.ms` a transactional producer may
    /// ask for (Kafka's transaction.max.timeout.ms): a longer one gets
    /// INVALID_TRANSACTION_TIMEOUT.
    #[arg(
        long,
        global = true,
        env = "SKIFF_TRANSACTION_MAX_TIMEOUT_MS",
        default_value_t = 900_000
    )]
    pub transaction_max_timeout_ms: u64,

    /// How long a transactional id with no open transaction is kept after
    /// its last use (Kafka's transactional.id.expiration.ms).
    #[arg(
        long,
        global = true,
        env = "SKIFF_TRANSACTIONAL_ID_EXPIRATION_MS",
        default_value_t = 604_800_000
    )]
    pub transactional_id_expiration_ms: u64,

    /// Most transactional ids held (each a row and about 200 bytes of
    /// memory); InitProducerId for a new id past it gets POLICY_VIOLATION.
    /// Kafka has no such cap.
    #[arg(
        long,
        global = true,
        env = "SKIFF_MAX_TRANSACTIONAL_IDS",
        default_value_t = 10_000
    )]
    pub max_transactional_ids: usize,

    /// Most record bytes one Fetch response carries, over all its
    /// partitions (Kafka's fetch.max.bytes); a larger `max_bytes` asked by a
    /// client is lowered to it. The first batch is always served whole so a
    /// consumer can move past a batch larger than the limit.
    #[arg(
        long,
        global = true,
        env = "SKIFF_FETCH_MAX_BYTES",
        default_value_t = 57_671_680
    )]
    pub fetch_max_bytes: i32,

    /// How long a response may take to be written to a client that does not
    /// read it; past it the connection is closed and its memory freed (Kafka
    /// has no direct equivalent: its sockets are closed by
    /// connections.max.idle.ms).
    #[arg(
        long,
        global = true,
        env = "SKIFF_RESPONSE_WRITE_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub response_write_timeout_ms: u64,

    /// A connection with no request for this long is closed (Kafka's
    /// connections.max.idle.ms). Clients reconnect by themselves.
    #[arg(
        long,
        global = true,
        env = "SKIFF_CONNECTIONS_MAX_IDLE_MS",
        default_value_t = 600_000
    )]
    pub connections_max_idle_ms: u64,

    /// Once the first byte of a request has arrived, the whole request must
    /// arrive within this long, or the connection is closed (time spent
    /// waiting for the in-flight budget does not count). Kafka has no such
    /// setting; it bounds slow senders with its request buffer pool.
    #[arg(
        long,
        global = true,
        env = "SKIFF_FRAME_READ_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub frame_read_timeout_ms: u64,

    /// Most connections open at once from one client address (Kafka's
    /// max.connections.per.ip, which is unlimited by default). A connection
    /// over this cap, or over SKIFF_MAX_CONNECTIONS, is accepted and closed
    /// at once.
    #[arg(
        long,
        global = true,
        env = "SKIFF_MAX_CONNECTIONS_PER_IP",
        default_value_t = 512
    )]
    pub max_connections_per_ip: usize,

    /// Incremental fetch sessions held at once (KIP-227; Kafka's
    /// max.incremental.fetch.session.cache.slots); the least recently used
    /// is evicted for a new one. 0 turns sessions off.
    #[arg(
        long,
        global = true,
        env = "SKIFF_MAX_INCREMENTAL_FETCH_SESSION_CACHE_SLOTS",
        default_value_t = 1000
    )]
    pub max_incremental_fetch_session_cache_slots: usize,

    /// How clients connect: PLAINTEXT (no TLS, no authentication), SSL
    /// (TLS, every client anonymous), SASL_PLAINTEXT (SASL without TLS) or
    /// SASL_SSL (TLS, then SASL). Before a SASL client has authenticated,
    /// only ApiVersions, SaslHandshake and SaslAuthenticate are served.
    #[arg(
        long,
        global = true,
        env = "SKIFF_SECURITY_PROTOCOL",
        default_value = "PLAINTEXT"
    )]
    pub security_protocol: String,

    /// The server certificate chain (PEM, leaf first) for SSL and SASL_SSL.
    /// Reloaded on SIGHUP and when the file changes (checked every 30 s).
    #[arg(long, global = true, env = "SKIFF_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1). Never
    /// logged; a warning at start-up if others may read the file.
    #[arg(long, global = true, env = "SKIFF_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,

    /// SASL mechanisms offered, comma-separated: SCRAM-SHA-256,
    /// SCRAM-SHA-512, PLAIN (PLAIN only when listed: it sends the password
    /// itself, so use it over SASL_SSL only).
    #[arg(
        long,
        global = true,
        env = "SKIFF_SASL_ENABLED_MECHANISMS",
        default_value = "SCRAM-SHA-256,SCRAM-SHA-512"
    )]
    pub sasl_enabled_mechanisms: String,

    /// Who may do what: `none` (every client that connected, authenticated
    /// when SASL is on, may do everything) or `acl` (Kafka's ACLs, managed
    /// with CreateAcls/DescribeAcls/DeleteAcls; no ACL, no access).
    #[arg(long, global = true, env = "SKIFF_AUTHORIZER", default_value = "none")]
    pub authorizer: String,

    /// Principals every ACL check allows, in Kafka's form
    /// `User:alice;User:bob`.
    #[arg(long, global = true, env = "SKIFF_SUPER_USERS", default_value = "")]
    pub super_users: String,

    /// A user created at start-up unless it already has a credential of that
    /// mechanism, given as a SCRAM verifier (never a password):
    /// NAME:SCRAM-SHA-512:salt=BASE64,stored_key=BASE64,server_key=BASE64,iterations=N
    /// (`skiff-broker user verifier NAME` prints one from a password).
    #[arg(
        long,
        global = true,
        env = "SKIFF_BOOTSTRAP_USER",
        hide_env_values = true
    )]
    pub bootstrap_user: Option<String>,
}

/// The most fetch sessions `SKIFF_MAX_INCREMENTAL_FETCH_SESSION_CACHE_SLOTS`
/// may ask for.
pub const MAX_FETCH_SESSION_SLOTS: usize = 100_000;

/// The largest `SKIFF_FETCH_MAX_BYTES` accepted (1 GiB).
pub const MAX_FETCH_BYTES_CEILING: i32 = 1 << 30;

/// The largest `SKIFF_MAX_GROUPS` accepted.
pub const MAX_GROUPS_CEILING: usize = 1_000_000;
/// The largest `SKIFF_MAX_PRODUCER_IDS` accepted (about 1.5 GB of state).
pub const MAX_PRODUCER_IDS_CEILING: usize = 10_000_000;
/// The largest retention or expiration accepted, in ms (about 10 years):
/// larger values would overflow timestamp arithmetic.
pub const MAX_RETENTION_MS: u64 = 315_360_000_000;

/// The largest `SKIFF_MAX_PARTITIONS` accepted: each partition costs about
/// 300 bytes of catalog and writer state and a row, and creating a million
/// takes the writer seconds.
pub const MAX_PARTITIONS_CEILING: u32 = 1_000_000;

/// A setting that cannot be used, with the setting's names and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct SettingError {
    pub setting: &'static str,
    pub message: String,
}

fn err(setting: &'static str, message: impl Into<String>) -> SettingError {
    SettingError {
        setting,
        message: message.into(),
    }
}

/// A host and port from a tcp:// URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

/// The consumer-group settings the coordinator works with.
#[derive(Debug, Clone, Copy)]
pub struct GroupConfig {
    pub initial_rebalance_delay: Duration,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub max_size: usize,
    /// How long an empty group without committed offsets is kept.
    pub empty_retention: Duration,
    /// Most groups held (`SKIFF_MAX_GROUPS`).
    pub max_groups: usize,
    /// How long an empty group's offsets are kept after its last commit
    /// (`SKIFF_OFFSETS_RETENTION_MS`).
    pub offsets_retention: Duration,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Endpoint,
    pub advertised: Endpoint,
    pub database: PathBuf,
    pub durability: Durability,
    pub auto_create_topics: bool,
    pub num_partitions: i32,
    /// Partitions summed over all topics (`SKIFF_MAX_PARTITIONS`).
    pub max_partitions: u32,
    /// Test hook (`SKIFF_TEST_WRITER_PANIC_TOPIC`).
    pub test_writer_panic_topic: Option<String>,
    pub node_id: i32,
    pub cluster_id: String,
    pub max_request_bytes: u32,
    pub max_connections: usize,
    pub groups: GroupConfig,
    pub retention_check_interval: Duration,
    /// `SKIFF_PRODUCER_ID_EXPIRATION_MS`.
    pub producer_id_expiration: Duration,
    /// `SKIFF_MAX_PRODUCER_IDS`.
    pub max_producer_ids: usize,
    /// `SKIFF_TRANSACTION_MAX_TIMEOUT_MS`.
    pub transaction_max_timeout_ms: i32,
    /// `SKIFF_TRANSACTIONAL_ID_EXPIRATION_MS`.
    pub transactional_id_expiration_ms: i64,
    /// `SKIFF_MAX_TRANSACTIONAL_IDS`.
    pub max_transactional_ids: usize,
    pub max_db_bytes: u64,
    pub min_free_disk_bytes: u64,
    pub max_inflight_bytes: usize,
    pub metrics_listen: Option<Endpoint>,
    /// `SKIFF_FETCH_MAX_BYTES`.
    pub fetch_max_bytes: i32,
    /// `SKIFF_RESPONSE_WRITE_TIMEOUT_MS`.
    pub response_write_timeout: Duration,
    /// `SKIFF_CONNECTIONS_MAX_IDLE_MS`.
    pub connections_max_idle: Duration,
    /// `SKIFF_FRAME_READ_TIMEOUT_MS`.
    pub frame_read_timeout: Duration,
    /// `SKIFF_MAX_CONNECTIONS_PER_IP`.
    pub max_connections_per_ip: usize,
    pub fetch_session_cache_slots: usize,
    pub security: SecurityConfig,
}

pub fn parse_endpoint(setting: &'static str, value: &str) -> Result<Endpoint, SettingError> {
    let url = url::Url::parse(value).map_err(|e| {
        err(
            setting,
            format!("'{value}' is not a URL ({e}); expected tcp://HOST:PORT"),
        )
    })?;
    if url.scheme() != "tcp" {
        return Err(err(
            setting,
            format!(
                "scheme '{}' is not supported; expected tcp://HOST:PORT",
                url.scheme()
            ),
        ));
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| {
        err(
            setting,
            format!("'{value}' has no host; expected tcp://HOST:PORT"),
        )
    })?;
    let port = url.port().ok_or_else(|| {
        err(
            setting,
            format!("'{value}' has no port; expected tcp://HOST:PORT"),
        )
    })?;
    Ok(Endpoint {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
    })
}

pub fn parse_storage(value: &str) -> Result<PathBuf, SettingError> {
    const SETTING: &str = "STORAGE_ENGINE (--storage-engine)";
    let (scheme, rest) = value.split_once("://").ok_or_else(|| {
        err(
            SETTING,
            format!("'{value}' is not an engine URL; expected sqlite://PATH"),
        )
    })?;
    if scheme != "sqlite" {
        return Err(err(
            SETTING,
            format!(
                "engine '{scheme}' is not supported; Skiff stores data in SQLite: sqlite://PATH"
            ),
        ));
    }
    if rest.is_empty() {
        return Err(err(SETTING, "the path is empty; expected sqlite://PATH"));
    }
    Ok(PathBuf::from(rest))
}

impl Settings {
    pub fn validate(&self) -> Result<Config, SettingError> {
        let listen = parse_endpoint("LISTENER_URL (--listener-url)", &self.listener_url)?;
        let advertised = match &self.advertised_listener_url {
            Some(url) => {
                parse_endpoint("ADVERTISED_LISTENER_URL (--advertised-listener-url)", url)?
            }
            None => Endpoint {
                host: match listen.host.as_str() {
                    "0.0.0.0" | "::" => "127.0.0.1".to_string(),
                    h => h.to_string(),
                },
                port: listen.port,
            },
        };
        if self.num_partitions < 1 {
            return Err(err(
                "SKIFF_NUM_PARTITIONS (--num-partitions)",
                format!(
                    "{} is not a partition count; use 1 or more",
                    self.num_partitions
                ),
            ));
        }
        if self.max_partitions < 1 || self.max_partitions > MAX_PARTITIONS_CEILING {
            return Err(err(
                "SKIFF_MAX_PARTITIONS (--max-partitions)",
                format!(
                    "{} is out of range; use 1 to {MAX_PARTITIONS_CEILING}",
                    self.max_partitions
                ),
            ));
        }
        if self.num_partitions as u32 > self.max_partitions {
            return Err(err(
                "SKIFF_NUM_PARTITIONS (--num-partitions)",
                format!(
                    "{} is above SKIFF_MAX_PARTITIONS ({}); no topic could be auto-created",
                    self.num_partitions, self.max_partitions
                ),
            ));
        }
        if self.max_request_bytes < 1024 {
            return Err(err(
                "SKIFF_MAX_REQUEST_BYTES (--max-request-bytes)",
                "must be at least 1024 bytes",
            ));
        }
        if self.group_min_session_timeout_ms < 1
            || self.group_max_session_timeout_ms < self.group_min_session_timeout_ms
        {
            return Err(err(
                "SKIFF_GROUP_MIN_SESSION_TIMEOUT_MS / SKIFF_GROUP_MAX_SESSION_TIMEOUT_MS",
                "the minimum must be at least 1 ms and not above the maximum",
            ));
        }
        if self.group_max_size < 1 {
            return Err(err(
                "SKIFF_GROUP_MAX_SIZE (--group-max-size)",
                "must be at least 1",
            ));
        }
        if self.retention_check_interval_ms < 1000 {
            return Err(err(
                "SKIFF_RETENTION_CHECK_INTERVAL_MS (--retention-check-interval-ms)",
                "must be at least 1000 ms",
            ));
        }
        if self.max_groups < 1 || self.max_groups > MAX_GROUPS_CEILING {
            return Err(err(
                "SKIFF_MAX_GROUPS (--max-groups)",
                format!(
                    "{} is out of range; use 1 to {MAX_GROUPS_CEILING}",
                    self.max_groups
                ),
            ));
        }
        if self.max_producer_ids < 10 || self.max_producer_ids > MAX_PRODUCER_IDS_CEILING {
            return Err(err(
                "SKIFF_MAX_PRODUCER_IDS (--max-producer-ids)",
                format!(
                    "{} is out of range; use 10 to {MAX_PRODUCER_IDS_CEILING}",
                    self.max_producer_ids
                ),
            ));
        }
        if self.max_transactional_ids < 1 || self.max_transactional_ids > MAX_PRODUCER_IDS_CEILING {
            return Err(err(
                "SKIFF_MAX_TRANSACTIONAL_IDS (--max-transactional-ids)",
                format!(
                    "{} is out of range; use 1 to {MAX_PRODUCER_IDS_CEILING}",
                    self.max_transactional_ids
                ),
            ));
        }
        if !(1000..=i32::MAX as u64).contains(&self.transaction_max_timeout_ms) {
            return Err(err(
                "SKIFF_TRANSACTION_MAX_TIMEOUT_MS (--transaction-max-timeout-ms)",
                format!(
                    "{} is out of range; use 1000 to {} ms",
                    self.transaction_max_timeout_ms,
                    i32::MAX
                ),
            ));
        }
        for (setting, value) in [
            (
                "SKIFF_TRANSACTIONAL_ID_EXPIRATION_MS (--transactional-id-expiration-ms)",
                self.transactional_id_expiration_ms,
            ),
            (
                "SKIFF_OFFSETS_RETENTION_MS (--offsets-retention-ms)",
                self.offsets_retention_ms,
            ),
            (
                "SKIFF_PRODUCER_ID_EXPIRATION_MS (--producer-id-expiration-ms)",
                self.producer_id_expiration_ms,
            ),
        ] {
            if !(1000..=MAX_RETENTION_MS).contains(&value) {
                return Err(err(
                    setting,
                    format!("{value} is out of range; use 1000 to {MAX_RETENTION_MS} ms"),
                ));
            }
        }
        if !(1024..=MAX_FETCH_BYTES_CEILING).contains(&self.fetch_max_bytes) {
            return Err(err(
                "SKIFF_FETCH_MAX_BYTES (--fetch-max-bytes)",
                format!(
                    "{} is out of range; use 1024 to {MAX_FETCH_BYTES_CEILING}",
                    self.fetch_max_bytes
                ),
            ));
        }
        for (setting, value) in [
            (
                "SKIFF_RESPONSE_WRITE_TIMEOUT_MS (--response-write-timeout-ms)",
                self.response_write_timeout_ms,
            ),
            (
                "SKIFF_CONNECTIONS_MAX_IDLE_MS (--connections-max-idle-ms)",
                self.connections_max_idle_ms,
            ),
            (
                "SKIFF_FRAME_READ_TIMEOUT_MS (--frame-read-timeout-ms)",
                self.frame_read_timeout_ms,
            ),
        ] {
            if !(100..=MAX_RETENTION_MS).contains(&value) {
                return Err(err(
                    setting,
                    format!("{value} is out of range; use 100 to {MAX_RETENTION_MS} ms"),
                ));
            }
        }
        if self.max_connections_per_ip < 1 {
            return Err(err(
                "SKIFF_MAX_CONNECTIONS_PER_IP (--max-connections-per-ip)",
                "must be at least 1",
            ));
        }
        let security = self.security()?;
        if self.max_incremental_fetch_session_cache_slots > MAX_FETCH_SESSION_SLOTS {
            return Err(err(
                "SKIFF_MAX_INCREMENTAL_FETCH_SESSION_CACHE_SLOTS (--max-incremental-fetch-session-cache-slots)",
                format!("use 0 to {MAX_FETCH_SESSION_SLOTS}"),
            ));
        }
        let metrics_listen = match &self.metrics_listener_url {
            Some(url) => Some(parse_endpoint(
                "SKIFF_METRICS_LISTENER_URL (--metrics-listener-url)",
                url,
            )?),
            None => None,
        };
        Ok(Config {
            metrics_listen,
            max_inflight_bytes: self.max_inflight_bytes.max(1),
            max_db_bytes: self.max_db_bytes,
            min_free_disk_bytes: self.min_free_disk_bytes,
            retention_check_interval: Duration::from_millis(self.retention_check_interval_ms),
            producer_id_expiration: Duration::from_millis(self.producer_id_expiration_ms),
            max_producer_ids: self.max_producer_ids,
            transaction_max_timeout_ms: self.transaction_max_timeout_ms as i32,
            transactional_id_expiration_ms: self.transactional_id_expiration_ms as i64,
            max_transactional_ids: self.max_transactional_ids,
            groups: GroupConfig {
                initial_rebalance_delay: Duration::from_millis(
                    self.group_initial_rebalance_delay_ms,
                ),
                min_session_timeout_ms: self.group_min_session_timeout_ms,
                max_session_timeout_ms: self.group_max_session_timeout_ms,
                max_size: self.group_max_size,
                empty_retention: Duration::from_millis(self.group_empty_retention_ms),
                max_groups: self.max_groups,
                offsets_retention: Duration::from_millis(self.offsets_retention_ms),
            },
            listen,
            advertised,
            database: parse_storage(&self.storage_engine)?,
            durability: self.durability,
            auto_create_topics: self.auto_create_topics,
            num_partitions: self.num_partitions,
            max_partitions: self.max_partitions,
            test_writer_panic_topic: self.test_writer_panic_topic.clone(),
            node_id: self.node_id,
            cluster_id: self.cluster_id.clone(),
            max_request_bytes: self.max_request_bytes,
            max_connections: self.max_connections.max(1),
            fetch_max_bytes: self.fetch_max_bytes,
            response_write_timeout: Duration::from_millis(self.response_write_timeout_ms),
            connections_max_idle: Duration::from_millis(self.connections_max_idle_ms),
            frame_read_timeout: Duration::from_millis(self.frame_read_timeout_ms),
            max_connections_per_ip: self.max_connections_per_ip,
            fetch_session_cache_slots: self.max_incremental_fetch_session_cache_slots,
            security,
        })
    }

    /// The security settings, checked together: a combination that cannot
    /// work stops start-up with the setting named.
    fn security(&self) -> Result<SecurityConfig, SettingError> {
        use crate::security::acl::{parse_super_users, AuthorizerMode};
        use crate::security::credentials::BootstrapUser;
        use crate::security::sasl::EnabledMechanisms;
        use crate::security::tls::TlsFiles;
        const PROTOCOL: &str = "SKIFF_SECURITY_PROTOCOL (--security-protocol)";
        let protocol = SecurityProtocol::parse(&self.security_protocol).ok_or_else(|| {
            err(
                PROTOCOL,
                format!(
                    "'{}' is unknown; use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
                    self.security_protocol
                ),
            )
        })?;
        let tls = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(err(
                    "SKIFF_TLS_KEY_FILE (--tls-key-file)",
                    "SKIFF_TLS_CERT_FILE is set but its key file is not",
                ))
            }
            (None, Some(_)) => {
                return Err(err(
                    "SKIFF_TLS_CERT_FILE (--tls-cert-file)",
                    "SKIFF_TLS_KEY_FILE is set but the certificate file is not",
                ))
            }
        };
        if protocol.tls() && tls.is_none() {
            return Err(err(
                "SKIFF_TLS_CERT_FILE (--tls-cert-file)",
                format!(
                    "{} needs a certificate: set SKIFF_TLS_CERT_FILE and SKIFF_TLS_KEY_FILE",
                    protocol.name()
                ),
            ));
        }
        if !protocol.tls() && tls.is_some() {
            return Err(err(
                PROTOCOL,
                format!(
                    "{} does not use TLS but SKIFF_TLS_CERT_FILE is set; use SSL or SASL_SSL",
                    protocol.name()
                ),
            ));
        }
        let mechanisms = EnabledMechanisms::parse(&self.sasl_enabled_mechanisms).map_err(|m| {
            err(
                "SKIFF_SASL_ENABLED_MECHANISMS (--sasl-enabled-mechanisms)",
                m,
            )
        })?;
        let authorizer = AuthorizerMode::parse(&self.authorizer)
            .map_err(|e| err("SKIFF_AUTHORIZER (--authorizer)", e.0))?;
        let super_users = parse_super_users(&self.super_users)
            .map_err(|e| err("SKIFF_SUPER_USERS (--super-users)", e.0))?;
        let bootstrap_user = match self.bootstrap_user.as_deref() {
            None | Some("") => None,
            Some(s) => Some(
                BootstrapUser::parse(s)
                    .map_err(|e| err("SKIFF_BOOTSTRAP_USER (--bootstrap-user)", e.to_string()))?,
            ),
        };
        Ok(SecurityConfig {
            protocol,
            tls,
            mechanisms,
            authorizer,
            super_users,
            bootstrap_user,
        })
    }
}

/// `SKIFF_SECURITY_PROTOCOL`: Kafka's four listener protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(s: &str) -> Option<SecurityProtocol> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => SecurityProtocol::Plaintext,
            "SSL" => SecurityProtocol::Ssl,
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether the listener speaks TLS.
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether clients must authenticate with SASL.
    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// The validated security settings.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    pub protocol: SecurityProtocol,
    pub tls: Option<crate::security::tls::TlsFiles>,
    pub mechanisms: crate::security::sasl::EnabledMechanisms,
    pub authorizer: crate::security::acl::AuthorizerMode,
    pub super_users: std::collections::HashSet<String>,
    pub bootstrap_user: Option<crate::security::credentials::BootstrapUser>,
}

/// Resolves an endpoint to the socket address to bind.
pub fn resolve(setting: &'static str, endpoint: &Endpoint) -> Result<SocketAddr, SettingError> {
    use std::net::ToSocketAddrs;
    (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| err(setting, format!("cannot resolve host '{}'", endpoint.host)))
}

impl Config {
    /// The socket address to bind.
    pub fn bind_addr(&self) -> Result<SocketAddr, SettingError> {
        resolve("LISTENER_URL (--listener-url)", &self.listen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_urls() {
        assert_eq!(
            parse_storage("sqlite://skiff.db").unwrap(),
            PathBuf::from("skiff.db")
        );
        assert_eq!(
            parse_storage("sqlite:///data/skiff.db").unwrap(),
            PathBuf::from("/data/skiff.db")
        );
        let e = parse_storage("postgres://x").unwrap_err().to_string();
        assert!(e.starts_with("STORAGE_ENGINE"), "{e}");
        assert!(e.contains("postgres"), "{e}");
        assert!(parse_storage("skiff.db").is_err());
    }

    #[test]
    fn listener_urls() {
        let e = parse_endpoint("LISTENER_URL", "tcp://0.0.0.0:9092").unwrap();
        assert_eq!(
            e,
            Endpoint {
                host: "0.0.0.0".into(),
                port: 9092
            }
        );
        assert!(parse_endpoint("LISTENER_URL", "http://a:1").is_err());
        assert!(parse_endpoint("LISTENER_URL", "tcp://a").is_err());
        assert!(parse_endpoint("LISTENER_URL", "nonsense").is_err());
    }

    fn settings(env: &[&str]) -> Result<Config, SettingError> {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            s: Settings,
        }
        use clap::Parser;
        let mut args = vec!["skiff-broker"];
        args.extend_from_slice(env);
        Cli::try_parse_from(args).unwrap().s.validate()
    }

    #[test]
    fn security_settings_that_cannot_work_name_the_setting() {
        let cfg = settings(&[]).unwrap();
        assert_eq!(cfg.security.protocol, SecurityProtocol::Plaintext);
        let e = settings(&["--security-protocol", "SASL_SSL"]).unwrap_err();
        assert!(e.setting.starts_with("SKIFF_TLS_CERT_FILE"), "{e}");
        let e = settings(&["--security-protocol", "TLS"]).unwrap_err();
        assert!(e.setting.starts_with("SKIFF_SECURITY_PROTOCOL"), "{e}");
        let e = settings(&[
            "--security-protocol",
            "SASL_PLAINTEXT",
            "--sasl-enabled-mechanisms",
            "GSSAPI",
        ])
        .unwrap_err();
        assert!(
            e.setting.starts_with("SKIFF_SASL_ENABLED_MECHANISMS"),
            "{e}"
        );
        let e = settings(&["--authorizer", "opa"]).unwrap_err();
        assert!(e.setting.starts_with("SKIFF_AUTHORIZER"), "{e}");
        let e = settings(&["--super-users", "Group:x"]).unwrap_err();
        assert!(e.setting.starts_with("SKIFF_SUPER_USERS"), "{e}");
        let e = settings(&["--tls-cert-file", "/c.pem"]).unwrap_err();
        assert!(e.setting.starts_with("SKIFF_TLS_KEY_FILE"), "{e}");
        let secret = "admin:SCRAM-SHA-512:salt=c2VjcmV0LXNhbHQ=,stored_key=AAAA,server_key=AAAA,iterations=4096";
        let e = settings(&["--bootstrap-user", secret]).unwrap_err();
        assert!(e.setting.starts_with("SKIFF_BOOTSTRAP_USER"), "{e}");
        assert!(
            !e.to_string().contains("c2VjcmV0"),
            "the value is never quoted: {e}"
        );
        let ok = settings(&[
            "--security-protocol",
            "sasl_plaintext",
            "--sasl-enabled-mechanisms",
            "PLAIN,SCRAM-SHA-512",
            "--authorizer",
            "acl",
            "--super-users",
            "User:admin;User:ops",
        ])
        .unwrap();
        assert!(ok.security.protocol.sasl() && !ok.security.protocol.tls());
        assert_eq!(ok.security.super_users.len(), 2);
    }
}
