//! The provisioner's integration tests, in one binary: the real `skiff`
//! binary against a private `moto_server` per test (see `common`).

mod common;

mod alerts;
mod broker;
mod cli;
mod credits;
mod down;
mod perf;
mod resize;
mod topics;
mod up;
