//! The `skiff-broker` binary: parse settings, start the server, wait for
//! SIGTERM/SIGINT, finish in-flight work and close the database.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use skiff_broker::config::Settings;
use skiff_broker::{healthcheck, server, shutdown};

#[derive(Parser)]
#[command(
    name = "skiff-broker",
    version,
    about = "A Kafka-compatible broker that keeps all its data in one SQLite file.",
    long_about = "A Kafka-compatible broker that keeps all its data in one SQLite file.\n\n\
Every setting can be given as a flag or as the environment variable shown. \
Logging is set with RUST_LOG (e.g. RUST_LOG=info, RUST_LOG=skiff_broker=debug)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Sub {
    /// Check that the broker at the listener address answers a Kafka
    /// ApiVersions request (exit 0) or not (exit 1). For container health checks.
    Healthcheck {
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Write a consistent copy of the database (STORAGE_ENGINE) to a new
    /// file while the broker keeps serving. Restore: stop the broker, put the
    /// copy in place of the file (removing its -wal and -shm), start it.
    Backup {
        /// The new file to write.
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Shrink the database file (STORAGE_ENGINE) in place, returning the
    /// space that retention and deleted topics freed. The broker must be
    /// stopped.
    Compact,
}

fn main() -> ExitCode {
    skiff_broker::memory::tune_allocator();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = match cli.settings.validate() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skiff-broker: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(Sub::Backup { to }) = &cli.command {
        return match skiff_broker::backup::backup(&config.database, to) {
            Ok(bytes) => {
                println!(
                    "backup of {} written to {} ({bytes} bytes)",
                    config.database.display(),
                    to.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("skiff-broker backup: {e}");
                ExitCode::from(1)
            }
        };
    }
    if let Some(Sub::Compact) = &cli.command {
        return match skiff_broker::backup::compact(&config.database) {
            Ok((before, after)) => {
                println!(
                    "compacted {}: {before} -> {after} bytes",
                    config.database.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("skiff-broker compact: {e}");
                ExitCode::from(1)
            }
        };
    }
    if let Some(Sub::Healthcheck { timeout }) = cli.command {
        let host = match config.listen.host.as_str() {
            "0.0.0.0" => "127.0.0.1",
            "::" => "::1",
            h => h,
        };
        return match healthcheck::check(host, config.listen.port, Duration::from_secs(timeout)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("skiff-broker healthcheck: {e}");
                ExitCode::from(1)
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("skiff-broker: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let started = match skiff_broker::start(config).await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("skiff-broker: {e}");
                return ExitCode::from(2);
            }
        };
        tokio::spawn(skiff_broker::memory::trim_periodically(
            Duration::from_secs(10),
        ));
        let broker = started.broker;
        if let Some(listener) = started.metrics_listener {
            tokio::spawn(skiff_broker::metrics::serve(listener, broker.clone()));
        }
        tokio::spawn(skiff_broker::retention::run(
            broker.clone(),
            broker.config.retention_check_interval,
        ));
        let serving = tokio::spawn(server::run(started.listener, broker.clone()));
        shutdown::signal().await;
        tracing::info!("shutting down");
        started.shutdown.fire();
        let _ = serving.await;
        let storage_broker = broker.clone();
        let _ = tokio::task::spawn_blocking(move || storage_broker.storage.close()).await;
        tracing::info!("stopped cleanly");
        ExitCode::SUCCESS
    })
}
