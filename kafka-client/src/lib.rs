//! The small Kafka client of `skiff topics` and `skiff perf`.
//!
//! Its one job is to speak Kafka to a broker that may be anything (a
//! `--bootstrap` can point anywhere): requests are encoded with the
//! `kafka-protocol` crate; responses are decoded here, bounded
//! (`decode`: every count checked against the bytes present, every frame
//! against a limit), because that crate's decoders allocate whatever count
//! the peer sends. Record batches are built and walked in `records` without
//! per-record allocation.
//!
//! - `transport`: the stream (plain TCP or TLS) and the SASL
//!   authentication step after ApiVersions.
//! - `connection`: framing, correlation ids, ApiVersions on open, version
//!   checks, one call at a time or split into writer and reader halves for
//!   pipelining.
//! - `api`: the request types and versions, and the response decoders.
//! - `admin`: typed topic calls and the produce/fetch request builders.
//! - `access`: typed SCRAM credential and ACL calls.
//! - `scram`: the SCRAM client exchange and credential derivation.
//! - `records`: v2 record batches.
//! - `error`: errors, and Kafka error codes by name.
//!
//! Skiff is one broker: callers send everything to the bootstrap address.

pub mod access;
pub mod admin;
pub mod api;
pub mod connection;
pub mod decode;
pub mod error;
pub mod records;
pub mod scram;
pub mod transport;

pub use access::AclFilter;
pub use connection::{Connection, Options, RequestWriter, ResponseReader, Ticket, Versions};
pub use error::{Error, KafkaError, Result};
pub use transport::{Mechanism, Sasl, Security, Tls};
