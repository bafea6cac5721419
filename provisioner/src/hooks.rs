//! Test hooks: the knobs the test suite turns to run `skiff` against local
//! stand-ins (a fake broker, a local echo service) and to interrupt or
//! speed up a command. They are hidden arguments of every command, set
//! through the environment, and read in this one place by clap; the rest
//! of the code gets them as plain values. Nothing a user needs is here.

use crate::public_ip;

/// Env var that makes a multi-step command stop after step N.
pub const STOP_AFTER_STEP_ENV: &str = "SKIFF_STOP_AFTER_STEP";

/// The hidden test hooks, flattened into the global options.
#[derive(clap::Args, Debug, Clone)]
pub struct Hooks {
    /// Stop `up`, `resize` or `down` after step N, as if interrupted.
    #[arg(
        long,
        hide = true,
        global = true,
        env = STOP_AFTER_STEP_ENV,
        value_name = "N"
    )]
    pub stop_after_step: Option<usize>,
    /// Use this address instead of `<Elastic IP>:9092` (the readiness
    /// probe, `status`, `topics`, `perf`).
    #[arg(
        long,
        hide = true,
        global = true,
        env = "SKIFF_PROBE_ADDR",
        value_name = "HOST:PORT"
    )]
    pub probe_addr: Option<String>,
    /// Seconds between the CloudWatch polls of `credits --watch` (default
    /// 300) and `perf` (default 60).
    #[arg(
        long,
        hide = true,
        global = true,
        env = "SKIFF_WATCH_INTERVAL",
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub watch_interval: Option<u64>,
    /// Seconds between the polls of `logs --follow`.
    #[arg(
        long,
        hide = true,
        global = true,
        env = "SKIFF_FOLLOW_INTERVAL",
        value_name = "SECONDS",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub follow_interval: u64,
    /// The echo service that tells the caller's public address.
    #[arg(
        long,
        hide = true,
        global = true,
        env = "SKIFF_CHECKIP_URL",
        value_name = "URL",
        default_value = public_ip::DEFAULT_URL
    )]
    pub checkip_url: String,
    /// The account's free-tier plan (`free` or `paid`) to assume instead
    /// of asking the Free Tier API (GetAccountPlanState), which moto does
    /// not serve: the tests' stand-in for it (see `crate::preflight`).
    #[arg(
        long,
        hide = true,
        global = true,
        env = "SKIFF_ACCOUNT_PLAN",
        value_name = "free|paid",
        value_parser = ["free", "paid"]
    )]
    pub account_plan: Option<String>,
}
