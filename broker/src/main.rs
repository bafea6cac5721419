//! The `skiff-broker` binary: parse settings, then serve (start the broker,
//! wait for SIGTERM/SIGINT, stop it cleanly) or run one of the maintenance
//! subcommands. Every failure comes back to `main` as one `Failure`, printed
//! in one place with the exit status it calls for.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use skiff_broker::backup::BackupError;
use skiff_broker::config::{Config, SettingError, Settings};
use skiff_broker::security::scram::Mechanism;
use skiff_broker::security::users::{self, UserError};
use skiff_broker::{healthcheck, StartError};

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
    /// Manage SASL users in the database (STORAGE_ENGINE), with the broker
    /// running or stopped; a running broker sees changes within 2 s. Only
    /// SCRAM verifiers are stored, never passwords.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user or replace its password. The password is the first line
    /// of stdin.
    Add {
        name: String,
        /// SCRAM-SHA-256, SCRAM-SHA-512 or all.
        #[arg(long, default_value = "all")]
        mechanism: String,
        /// PBKDF2 iterations (4096 to 16384, as Kafka).
        #[arg(long, default_value_t = 4096)]
        iterations: u32,
    },
    /// List users and their mechanisms (never secrets).
    List,
    /// Remove a user (its ACLs stay, as in Kafka).
    Remove { name: String },
    /// Print the SKIFF_BOOTSTRAP_USER value (a verifier) for a user whose
    /// password is the first line of stdin. Writes nothing.
    Verifier {
        name: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long, default_value = "SCRAM-SHA-512")]
        mechanism: String,
        #[arg(long, default_value_t = 4096)]
        iterations: u32,
    },
}

/// Why the program stops with an error: the message, prefixed with the
/// command that failed, and the exit status.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("skiff-broker: {0}")]
    Setting(#[from] SettingError),
    #[error("skiff-broker: {0}")]
    Start(#[from] StartError),
    #[error("skiff-broker: cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("skiff-broker: cannot wait for SIGTERM: {0}")]
    Signal(std::io::Error),
    #[error("skiff-broker backup: {0}")]
    Backup(BackupError),
    #[error("skiff-broker compact: {0}")]
    Compact(BackupError),
    #[error("skiff-broker healthcheck: {0}")]
    Healthcheck(String),
    #[error("skiff-broker user: {0}")]
    User(#[from] UserError),
    #[error(
        "skiff-broker user: --mechanism '{0}' is unknown; use SCRAM-SHA-256, SCRAM-SHA-512 or all"
    )]
    Mechanism(String),
}

impl Failure {
    /// 2 for a setting that cannot be used (like a usage error), else 1.
    fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Setting(_) | Failure::Start(StartError::Setting(_)) => ExitCode::from(2),
            _ => ExitCode::from(1),
        }
    }
}

fn main() -> ExitCode {
    skiff_broker::memory::tune_allocator();
    match run() {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("{failure}");
            failure.exit_code()
        }
    }
}

fn run() -> Result<ExitCode, Failure> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = cli.settings.validate()?;
    match cli.command {
        None => serve(config),
        Some(Sub::Healthcheck { timeout }) => check_health(&config, timeout),
        Some(Sub::Backup { to }) => backup(&config, &to),
        Some(Sub::Compact) => compact(&config),
        Some(Sub::User { action }) => user(&config, action),
    }
}

fn mechanisms(name: &str, all: bool) -> Result<Vec<Mechanism>, Failure> {
    if all && name.eq_ignore_ascii_case("all") {
        return Ok(Mechanism::ALL.to_vec());
    }
    Mechanism::from_name(&name.to_ascii_uppercase())
        .map(|m| vec![m])
        .ok_or_else(|| Failure::Mechanism(name.to_string()))
}

fn user(config: &Config, action: UserAction) -> Result<ExitCode, Failure> {
    let db = &config.database;
    match action {
        UserAction::Add {
            name,
            mechanism,
            iterations,
        } => {
            let mechs = mechanisms(&mechanism, true)?;
            let password = users::read_password(std::io::stdin().lock())?;
            users::add(db, &name, &mechs, &password, iterations)?;
            let names: Vec<&str> = mechs.iter().map(|m| m.name()).collect();
            println!("user {name} saved ({})", names.join(", "));
        }
        UserAction::List => {
            for (name, mechs) in users::list(db)? {
                let list: Vec<String> = mechs
                    .iter()
                    .map(|(m, it)| format!("{m} ({it} iterations)"))
                    .collect();
                println!("{name}\t{}", list.join(", "));
            }
        }
        UserAction::Remove { name } => {
            users::remove(db, &name)?;
            println!("user {name} removed");
        }
        UserAction::Verifier {
            name,
            mechanism,
            iterations,
        } => {
            let m = mechanisms(&mechanism, false)?[0];
            let password = users::read_password(std::io::stdin().lock())?;
            println!("{}", users::verifier(&name, m, &password, iterations)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Serves until SIGTERM or SIGINT, then stops cleanly.
fn serve(config: Config) -> Result<ExitCode, Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build()
        .map_err(Failure::Runtime)?;
    runtime.block_on(async move {
        // Listening for the signals before the broker answers anyone: a
        // SIGTERM right after start-up is a clean stop, not a kill.
        let signal = shutdown_signal().map_err(Failure::Signal)?;
        let running = skiff_broker::start(config).await?;
        tokio::select! {
            signal = signal => signal.map_err(Failure::Signal)?,
            _ = running.writer_stopped() => {
                // Nothing can be stored any more: exit non-zero, so that the
                // supervisor (Docker's restart policy) starts a new broker,
                // which reads its state back from the file.
                tracing::error!("the storage writer stopped unexpectedly; exiting");
                let _ = tokio::time::timeout(Duration::from_secs(10), running.stop()).await;
                return Ok(ExitCode::FAILURE);
            }
        }
        tracing::info!("shutting down");
        running.stop().await;
        tracing::info!("stopped cleanly");
        Ok(ExitCode::SUCCESS)
    })
}

/// Installs the SIGTERM and SIGINT handlers at once; the future completes
/// on either signal.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = std::io::Result<()>>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => Ok(()),
            _ = int.recv() => Ok(()),
        }
    })
}

fn check_health(config: &Config, timeout: u64) -> Result<ExitCode, Failure> {
    let host = match config.listen.host.as_str() {
        "0.0.0.0" => "127.0.0.1",
        "::" => "::1",
        h => h,
    };
    let timeout = Duration::from_secs(timeout);
    if config.security.protocol.tls() {
        healthcheck::check_tls(host, config.listen.port, timeout)
    } else {
        healthcheck::check(host, config.listen.port, timeout)
    }
    .map_err(Failure::Healthcheck)?;
    Ok(ExitCode::SUCCESS)
}

fn backup(config: &Config, to: &Path) -> Result<ExitCode, Failure> {
    let bytes = skiff_broker::backup::backup(&config.database, to).map_err(Failure::Backup)?;
    println!(
        "backup of {} written to {} ({bytes} bytes)",
        config.database.display(),
        to.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn compact(config: &Config) -> Result<ExitCode, Failure> {
    let (before, after) =
        skiff_broker::backup::compact(&config.database).map_err(Failure::Compact)?;
    println!(
        "compacted {}: {before} -> {after} bytes",
        config.database.display()
    );
    Ok(ExitCode::SUCCESS)
}
