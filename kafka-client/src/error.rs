//! What can go wrong talking to a broker: the connection (resolve, connect,
//! I/O, timeouts), a response that breaks the protocol or a bound, a
//! version the broker does not serve, and errors the broker answers with
//! (Kafka error codes, named as Kafka names them).

use crate::decode::DecodeError;
use std::time::Duration;

/// A Kafka error code from a response, with the broker's message if it sent
/// one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaError {
    pub code: i16,
    pub message: Option<String>,
}

impl KafkaError {
    pub fn new(code: i16, message: Option<String>) -> KafkaError {
        KafkaError { code, message }
    }

    /// Kafka's name of the code (`TOPIC_ALREADY_EXISTS`).
    pub fn name(&self) -> &'static str {
        describe(self.code).0
    }

    /// What the code means, in Kafka's words (shortened).
    pub fn meaning(&self) -> &'static str {
        describe(self.code).1
    }

    /// `Ok` for code 0.
    pub fn check(code: i16, message: Option<String>) -> std::result::Result<(), KafkaError> {
        if code == 0 {
            Ok(())
        } else {
            Err(KafkaError::new(code, message))
        }
    }
}

impl std::fmt::Display for KafkaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name())?;
        match self.message.as_deref().filter(|m| !m.is_empty()) {
            Some(m) => write!(f, ": {m}"),
            None => write!(f, ": {}", self.meaning()),
        }
    }
}

impl std::error::Error for KafkaError {}

/// Kafka error codes (from the protocol's error table) a topic, produce or
/// fetch request can meet: name and meaning.
pub fn describe(code: i16) -> (&'static str, &'static str) {
    match code {
        -1 => ("UNKNOWN_SERVER_ERROR", "the broker failed unexpectedly"),
        0 => ("NONE", "no error"),
        1 => (
            "OFFSET_OUT_OF_RANGE",
            "the offset is outside the partition's range",
        ),
        2 => ("CORRUPT_MESSAGE", "a record batch failed its CRC check"),
        3 => (
            "UNKNOWN_TOPIC_OR_PARTITION",
            "the topic or partition does not exist",
        ),
        4 => ("INVALID_FETCH_SIZE", "the fetch size is invalid"),
        5 => ("LEADER_NOT_AVAILABLE", "the partition has no leader yet"),
        6 => (
            "NOT_LEADER_OR_FOLLOWER",
            "this broker does not lead the partition",
        ),
        7 => ("REQUEST_TIMED_OUT", "the request timed out on the broker"),
        10 => (
            "MESSAGE_TOO_LARGE",
            "a record batch is larger than the topic's max.message.bytes",
        ),
        17 => ("INVALID_TOPIC_EXCEPTION", "the topic name is not valid"),
        18 => (
            "RECORD_LIST_TOO_LARGE",
            "the request is larger than the broker accepts",
        ),
        19 => ("NOT_ENOUGH_REPLICAS", "not enough in-sync replicas"),
        29 => (
            "TOPIC_AUTHORIZATION_FAILED",
            "not authorized to access the topic",
        ),
        30 => (
            "GROUP_AUTHORIZATION_FAILED",
            "not authorized to access the group",
        ),
        31 => (
            "CLUSTER_AUTHORIZATION_FAILED",
            "not authorized for cluster operations",
        ),
        33 => (
            "UNSUPPORTED_SASL_MECHANISM",
            "the broker does not enable this SASL mechanism",
        ),
        34 => (
            "ILLEGAL_SASL_STATE",
            "the request is not valid in the current SASL state",
        ),
        35 => (
            "UNSUPPORTED_VERSION",
            "the broker does not serve this request version",
        ),
        36 => ("TOPIC_ALREADY_EXISTS", "the topic already exists"),
        37 => ("INVALID_PARTITIONS", "the number of partitions is invalid"),
        38 => (
            "INVALID_REPLICATION_FACTOR",
            "the replication factor is invalid",
        ),
        40 => ("INVALID_CONFIG", "the configuration is invalid"),
        41 => ("NOT_CONTROLLER", "this broker is not the controller"),
        42 => (
            "INVALID_REQUEST",
            "the broker refused the request as malformed",
        ),
        44 => ("POLICY_VIOLATION", "the request breaks a broker policy"),
        45 => (
            "OUT_OF_ORDER_SEQUENCE_NUMBER",
            "out-of-order sequence number",
        ),
        54 => ("SECURITY_DISABLED", "security features are disabled"),
        56 => (
            "KAFKA_STORAGE_ERROR",
            "the broker could not write to its storage",
        ),
        58 => ("SASL_AUTHENTICATION_FAILED", "authentication failed"),
        91 => (
            "RESOURCE_NOT_FOUND",
            "the request refers to something that does not exist",
        ),
        92 => (
            "DUPLICATE_RESOURCE",
            "the request names the same resource twice",
        ),
        93 => (
            "UNACCEPTABLE_CREDENTIAL",
            "the credential does not meet the broker's criteria",
        ),
        73 => (
            "TOPIC_DELETION_DISABLED",
            "topic deletion is disabled on the broker",
        ),
        87 => ("INVALID_RECORD", "the broker refused a record batch"),
        89 => (
            "THROTTLING_QUOTA_EXCEEDED",
            "the broker's quota for this operation is exhausted",
        ),
        _ => (
            "UNKNOWN_ERROR_CODE",
            "an error code this client does not know",
        ),
    }
}

/// Why a request to a broker failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot resolve {addr}: {reason}")]
    Resolve { addr: String, reason: String },
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr} did not answer {what} within {after:?}")]
    Timeout {
        addr: String,
        what: &'static str,
        after: Duration,
    },
    #[error("connection to {addr} failed: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr} closed the connection {when}")]
    Closed { addr: String, when: &'static str },
    #[error("{addr} sent a response frame of {len} bytes, where 4 to {limit} are accepted (is it a Kafka broker?)")]
    FrameTooLarge {
        addr: String,
        len: i64,
        limit: usize,
    },
    #[error(
        "{addr} sent a {api} response this client cannot decode ({source}); is it a Kafka broker?"
    )]
    Decode {
        addr: String,
        api: &'static str,
        source: DecodeError,
    },
    #[error("{addr} answered correlation id {got} where {want} was due (is it a Kafka broker?)")]
    Correlation { addr: String, got: i32, want: i32 },
    #[error("{addr} does not serve {api} v{version}{}", offered_text(.offered))]
    Unsupported {
        addr: String,
        api: &'static str,
        version: i16,
        offered: Option<(i16, i16)>,
    },
    #[error("{what}: {error}")]
    Broker { what: String, error: KafkaError },
    #[error("TLS with {addr} failed: {reason}")]
    Tls { addr: String, reason: String },
    #[error("{addr}: authentication as '{user}' failed: {reason}")]
    Auth {
        addr: String,
        user: String,
        reason: String,
    },
    #[error("{0}")]
    Invalid(String),
}

fn offered_text(range: &Option<(i16, i16)>) -> String {
    match range {
        Some((min, max)) => format!(" (it serves v{min} to v{max})"),
        None => " (it does not serve that API at all)".into(),
    }
}

impl Error {
    /// The Kafka error code, if the broker answered with one.
    pub fn kafka_code(&self) -> Option<i16> {
        match self {
            Error::Broker { error, .. } => Some(error.code),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_named_and_messages_win() {
        let e = KafkaError::new(36, None);
        assert_eq!(
            e.to_string(),
            "TOPIC_ALREADY_EXISTS: the topic already exists"
        );
        let e = KafkaError::new(40, Some("retention.ms: not a number".into()));
        assert_eq!(e.to_string(), "INVALID_CONFIG: retention.ms: not a number");
        assert_eq!(KafkaError::new(999, None).name(), "UNKNOWN_ERROR_CODE");
        assert!(KafkaError::check(0, None).is_ok());
    }
}
