//! The provisioner's integration tests, in one binary: the real `skiff`
//! binary against a private `moto_server` per test (see `common`).

mod common;

mod alerts;
mod backup;
mod broker;
mod cli;
mod converge;
mod credits;
mod down;
mod iam_policy;
mod logs;
mod perf;
mod preflight;
mod resize;
mod security;
mod topics;
mod up;
mod users;
