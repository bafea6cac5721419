//! Authentication and authorization: the parts of Kafka's security model that
//! Skiff implements, each in its own module with its own tests, so
//! that the connection layer, the storage writer and the request handlers
//! only have to call them.
//!
//! - `scram`: SCRAM-SHA-256/512 verifiers and the server side of the exchange.
//! - `plain`: SASL PLAIN, checked against the same SCRAM verifiers.
//! - `credentials`: the in-memory table of users and their verifiers.
//! - `sasl`: one connection's SASL exchange: mechanisms, steps, error codes.
//! - `rate_limit`: failed authentications per client address, in fixed memory.
//! - `acl`: Kafka's ACL model and the in-memory authorizer.
//! - `persist`: the SQLite tables that hold users and ACLs.
//! - `tls`: certificate loading, the rustls server configuration and reload.
//! - `context`: the broker's security state built from those, shared by
//!   every connection, and the follower of changes made by other processes.
//! - `users`: `skiff-broker user add/list/remove/verifier`.
//!
//! Everything a client sends before it has authenticated is hostile: every
//! parser here bounds its input before it spends memory or CPU on it.

pub mod acl;
pub mod context;
pub mod credentials;
pub mod persist;
pub mod plain;
pub mod rate_limit;
pub mod sasl;
pub mod scram;
pub mod tls;
pub mod users;
