//! Is the deployed broker up? The `kafka-probe` crate's ApiVersions round
//! trip (shared with `skiff-broker healthcheck` and the tests' fake
//! broker), run on a blocking thread, and a wait loop around it for `up`
//! and `resize`.

use std::time::{Duration, Instant};

pub use kafka_probe::ProbeError;

const CLIENT_ID: &str = "skiff-probe";

/// Sends one ApiVersions request to `addr` and checks the answer.
pub async fn api_versions(addr: &str, timeout: Duration) -> Result<(), ProbeError> {
    let target = addr.to_string();
    tokio::task::spawn_blocking(move || kafka_probe::probe(&target, CLIENT_ID, timeout))
        .await
        .unwrap_or_else(|e| {
            Err(ProbeError::Io {
                addr: addr.to_string(),
                source: std::io::Error::other(e),
            })
        })
}

/// Probes `addr` every few seconds until it answers or `timeout` passes.
/// `on_attempt` sees each failure (for the spinner).
pub async fn wait_until_ready(
    addr: &str,
    timeout: Duration,
    mut on_attempt: impl FnMut(&ProbeError),
) -> Result<Duration, ProbeError> {
    let start = Instant::now();
    let per_try = Duration::from_secs(5);
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        match api_versions(addr, per_try.min(left.max(Duration::from_millis(100)))).await {
            Ok(()) => return Ok(start.elapsed()),
            Err(e) => {
                on_attempt(&e);
                if start.elapsed() + Duration::from_millis(500) >= timeout {
                    return Err(ProbeError::Timeout {
                        addr: addr.to_string(),
                        timeout,
                    });
                }
                let left = timeout.saturating_sub(start.elapsed());
                tokio::time::sleep(Duration::from_secs(2).min(left)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_listening_times_out() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let t = Duration::from_millis(1500);
        let mut attempts = 0;
        let e = wait_until_ready(&addr, t, |_| attempts += 1)
            .await
            .unwrap_err();
        assert!(matches!(e, ProbeError::Timeout { .. }), "{e}");
        assert!(attempts >= 1);
    }
}
