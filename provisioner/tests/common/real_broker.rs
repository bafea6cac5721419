//! The real `skiff-broker` (`SKIFF_BROKER_BIN`) on a free 127.0.0.1 port
//! with its database in a temporary directory, ready (it answers
//! ApiVersions) when `start` returns, killed when dropped. Without the
//! variable the test fails in CI (`CI` set) and is skipped, with the reason
//! printed, on a developer machine that has not built the broker.

use super::free_port;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RealBroker {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl RealBroker {
    pub fn start() -> Option<RealBroker> {
        RealBroker::start_with(&[], |addr| {
            kafka_probe::probe(addr, "test", Duration::from_secs(1)).is_ok()
        })
    }

    /// With extra environment (security settings, say); ready once
    /// `ready(addr)` is true.
    pub fn start_with(
        env: &[(String, String)],
        ready: impl Fn(&str) -> bool,
    ) -> Option<RealBroker> {
        let bin = match std::env::var("SKIFF_BROKER_BIN") {
            Ok(b) if !b.is_empty() => b,
            _ if std::env::var_os("CI").is_some() => panic!(
                "SKIFF_BROKER_BIN is not set: in CI these tests run against the real skiff-broker \
                 (scripts/test sets it after building the workspace)"
            ),
            _ => {
                eprintln!(
                    "SKIPPED: SKIFF_BROKER_BIN is not set (and CI is not set); build skiff-broker \
                     and set SKIFF_BROKER_BIN=target/debug/skiff-broker to run this test"
                );
                return None;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let listener = format!("tcp://{addr}");
        let child = Command::new(&bin)
            .args(["--listener-url", &listener])
            .env(
                "STORAGE_ENGINE",
                format!("sqlite://{}", dir.path().join("skiff.db").display()),
            )
            .env("ADVERTISED_LISTENER_URL", &listener)
            .env("SKIFF_AUTO_CREATE_TOPICS", "false")
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let broker = RealBroker {
            child,
            addr,
            _dir: dir,
        };
        let start = Instant::now();
        while !ready(&broker.addr) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "skiff-broker did not answer on {} within 30 s",
                broker.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(broker)
    }
}

impl Drop for RealBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
