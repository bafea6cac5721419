//! skiff-broker's integration tests, linked as one binary. Each module
//! drives a real broker on 127.0.0.1, started in-process by
//! `common::TestBroker` with `skiff_broker::start`, the same start-up the
//! binary uses.

mod common;

mod backup;
mod groups;
mod hardening;
mod hostile_frames;
mod legacy;
mod metrics;
mod requests;
mod security;
