//! The steps of `up`, `resize` and `down`, each a find-or-create (or
//! find-or-delete) action on one kind of resource that looks at what exists
//! first, so any flow can be interrupted and run again. Each step takes
//! only what it reads (the clients, `&Config` or a field of it, `dry_run`,
//! ids from earlier steps) and returns a [`crate::runner::Outcome`]; with
//! `dry_run` it changes nothing and says what it would do, so a plan is
//! the same code as the change. The flows that order them live in
//! `crate::commands`, and `crate::runner` runs them.

pub mod access;
pub mod address;
pub mod alerts;
pub mod ami;
pub mod credit;
pub mod data_volume;
pub mod instance;
pub mod power;
pub mod ready;
pub mod replace;
pub mod schedule;
pub mod security;
pub mod security_group;
pub mod zone;
