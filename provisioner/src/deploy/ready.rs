//! Step 6: wait until the broker answers a Kafka ApiVersions request on the
//! Elastic IP. A fresh instance needs a few minutes (boot, dnf, image
//! pull); when it takes longer than the timeout the message points at
//! `skiff logs`, which shows cloud-init's progress without SSH.

use super::{Outcome, Plan};
use crate::probe;
use crate::ui::StepUi;
use anyhow::Result;

/// The message when the broker did not answer in time.
pub fn timeout_message(addr: &str, secs: u64) -> String {
    format!(
        "the broker at {addr} did not answer a Kafka ApiVersions request within {secs} s.\n\
         The instance may still be installing Docker or pulling the broker image.\n\
         See its boot progress and errors with `skiff logs`, then run `skiff up` again \
         (it only waits when everything exists)."
    )
}

pub async fn wait(plan: &Plan, addr: &str, ui: &StepUi) -> Result<(bool, Outcome)> {
    if plan.dry_run {
        return Ok((
            false,
            Outcome::found(format!(
                "would wait for a Kafka ApiVersions answer on {addr}"
            )),
        ));
    }
    let Some(timeout) = plan.wait else {
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
