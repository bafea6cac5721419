//! What can go wrong in storage, in two kinds: a `StorageError` is the
//! database failing (it aborts the whole group commit), a `WriteError` is one
//! write refused for a reason its client can act on (it maps to one Kafka
//! error code and leaves the rest of the group alone).

use kafka_protocol::error::ResponseError;

use crate::topic_config::ConfigError;

/// The database failed, or its content is not what Skiff wrote.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored value has the wrong type: {0}")]
    Type(#[from] rusqlite::types::FromSqlError),
    #[error("database content is invalid: {0}")]
    Corrupt(String),
    #[error("storage full: {0}")]
    Full(String),
    #[error("the database is in use by another skiff-broker (lock {0} is held); stop that broker or use another file")]
    InUse(String),
    #[error("cannot create the lock file {path}: {error}")]
    Lock { path: String, error: std::io::Error },
    #[error("cannot start the writer thread: {0}")]
    Thread(std::io::Error),
    #[error("converting the database to the current format failed (it is left in its old format, whole; the conversion needs free space for up to twice the database's size): {0}")]
    Convert(rusqlite::Error),
    #[error("the storage writer has stopped")]
    WriterGone,
    #[error("read task failed: {0}")]
    Join(String),
}

/// Why a write was refused. Each maps to one Kafka error code.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum WriteError {
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    #[error("topic already exists")]
    TopicExists,
    #[error("{0}")]
    InvalidTopic(String),
    #[error("the disk guard refuses new data: the database reached its size cap or the volume its free-space margin; retention or DeleteRecords will make room")]
    StorageFull,
    #[error("offset is beyond the high watermark")]
    OffsetOutOfRange,
    #[error("out of order sequence number")]
    OutOfOrderSequence,
    #[error("producer epoch is fenced by a newer one")]
    InvalidProducerEpoch,
    #[error("{0}")]
    InvalidConfig(String),
    #[error("invalid partition count: {0}")]
    InvalidPartitions(String),
    /// A broker limit (named in the message) refuses the request.
    #[error("{0}")]
    PolicyViolation(String),
    /// A transactional producer whose epoch a newer one (or a timeout)
    /// has replaced.
    #[error("producer fenced: a newer producer with this transactional id exists")]
    ProducerFenced,
    /// A transactional request that does not fit the transaction's state
    /// (a batch for a partition not added, EndTxn with nothing open, ...).
    #[error("{0}")]
    InvalidTxnState(String),
    /// The producer id does not belong to this transactional id.
    #[error("the producer id does not match the transactional id")]
    InvalidProducerIdMapping,
    #[error("storage failure: {0}")]
    Storage(String),
}

/// A write's answer: its value, or why it was refused.
pub type WriteResult<T> = Result<T, WriteError>;

impl WriteError {
    /// The Kafka error code a client gets for this refusal.
    pub fn kafka_code(&self) -> i16 {
        match self {
            WriteError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
            WriteError::TopicExists => ResponseError::TopicAlreadyExists,
            WriteError::InvalidTopic(_) => ResponseError::InvalidTopicException,
            WriteError::OffsetOutOfRange => ResponseError::OffsetOutOfRange,
            // Retriable for clients: producers back off and resume once
            // retention frees space.
            WriteError::StorageFull => ResponseError::KafkaStorageError,
            WriteError::OutOfOrderSequence => ResponseError::OutOfOrderSequenceNumber,
            WriteError::InvalidProducerEpoch => ResponseError::InvalidProducerEpoch,
            WriteError::InvalidConfig(_) => ResponseError::InvalidConfig,
            WriteError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
            WriteError::PolicyViolation(_) => ResponseError::PolicyViolation,
            WriteError::ProducerFenced => ResponseError::ProducerFenced,
            WriteError::InvalidTxnState(_) => ResponseError::InvalidTxnState,
            WriteError::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping,
            WriteError::Storage(_) => ResponseError::KafkaStorageError,
        }
        .code()
    }
}

impl From<ConfigError> for WriteError {
    fn from(e: ConfigError) -> Self {
        WriteError::InvalidConfig(e.to_string())
    }
}

impl From<StorageError> for WriteError {
    fn from(e: StorageError) -> Self {
        WriteError::Storage(e.to_string())
    }
}

/// The name under which partition-limit refusals are logged.
pub const PARTITION_LIMIT: &str = "SKIFF_MAX_PARTITIONS";

/// Why adding `adding` partitions to the `current` ones breaks the
/// broker-wide limit `max`, if it does.
pub fn over_partition_limit(current: usize, adding: i64, max: u32) -> Option<String> {
    let total = current as i64 + adding.max(0);
    (total > max as i64).then(|| {
        format!(
            "{adding} more partitions would bring the broker to {total}, over its limit of {max} \
             partitions in all topics (SKIFF_MAX_PARTITIONS / --max-partitions)"
        )
    })
}
