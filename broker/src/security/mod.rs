//! Authentication and authorization: the parts of Kafka's security model that
//! Skiff implements, each in its own module and free of I/O, so the
//! connection layer, the storage writer and the request handlers only have to
//! call them.
//!
//! - `scram`: SCRAM-SHA-256/512 verifiers and the server side of the exchange.
//! - `plain`: SASL PLAIN, checked against the same SCRAM verifiers.
//! - `credentials`: the in-memory table of users and their verifiers.
//! - `rate_limit`: failed authentications per client address, in fixed memory.
//!
//! Everything a client sends before it has authenticated is hostile: every
//! parser here bounds its input before it spends memory or CPU on it.

pub mod credentials;
pub mod plain;
pub mod rate_limit;
pub mod scram;
