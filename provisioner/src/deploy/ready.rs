//! `up` step 7 and `resize` step 6: wait until the broker answers a Kafka ApiVersions request on the
//! Elastic IP. A fresh instance needs a few minutes (boot, dnf, image
//! pull); when it takes longer than the timeout the message points at
//! `skiff logs`, which shows cloud-init's progress without SSH.

use crate::printer::Progress;
use crate::probe;
use crate::runner::Outcome;
use anyhow::Result;
use std::time::Duration;

/// The message when the broker did not answer in time.
pub fn timeout_message(addr: &str, secs: u64) -> String {
    format!(
        "the broker at {addr} did not answer a Kafka ApiVersions request within {secs} s.\n\
         The instance may still be installing Docker or pulling the broker image.\n\
         See its boot progress and errors with `skiff logs`, then run `skiff up` again \
         (it only waits when everything exists)."
    )
}

/// Waits up to `wait` for the broker at `addr`; `None` does not wait.
/// Returns whether it answered.
pub async fn wait(
    dry_run: bool,
    wait: Option<Duration>,
    addr: &str,
    ui: &Progress,
) -> Result<(bool, Outcome)> {
    if dry_run {
        return Ok((
            false,
            Outcome::found(format!(
                "would wait for a Kafka ApiVersions answer on {addr}"
            )),
        ));
    }
    let Some(timeout) = wait else {
        return Ok((false, Outcome::found("not waiting (--no-wait)")));
    };
    ui.set(format!("probing {addr}"));
    let result = probe::wait_until_ready(addr, timeout, |e| {
        tracing::debug!("probe: {e}");
        ui.set(format!("probing {addr}: {e}"));
    })
    .await;
    match result {
        Ok(took) => Ok((
            true,
            Outcome::found(format!(
                "broker answered on {addr} after {:.1} s",
                took.as_secs_f64()
            )),
        )),
        Err(_) => anyhow::bail!(timeout_message(addr, timeout.as_secs())),
    }
}
