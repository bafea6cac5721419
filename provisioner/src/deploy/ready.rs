//! `up` step 7 and `resize` step 6: wait until the broker answers a Kafka ApiVersions request on the
//! Elastic IP. A fresh instance needs a few minutes (boot, dnf, image
//! pull); when it takes longer than the timeout the message says what
//! step the instance was at (the last cloud-init or skiff line of its
//! console output) and points at `skiff logs --boot`.

use crate::aws::{console, Clients};
use crate::printer::Progress;
use crate::probe;
use crate::runner::Outcome;
use anyhow::Result;
use std::time::Duration;

/// The message when the broker did not answer in time; `step` is what
/// the instance's console says (see [`console_step`]).
pub fn timeout_message(addr: &str, secs: u64, step: Option<&str>) -> String {
    let step = step.map(|s| format!("\n{s}")).unwrap_or_default();
    format!(
        "the broker at {addr} did not answer a Kafka ApiVersions request within {secs} s.{step}\n\
         The full boot log: `skiff logs --boot` (console) and `skiff logs` (the broker); then run \
         `skiff up` again (it only waits when everything exists), or wait longer with \
         --wait-timeout."
    )
}

/// What step instance `id` was at, from its console output.
pub async fn console_step(clients: &Clients, id: &str) -> String {
    match console::output(clients, id).await {
        Ok(text) => match (console::boot_step(&text), console::last_line(&text)) {
            (Some(step), _) => format!("{id} was at this boot step (its console's last one): {step}"),
            (None, Some(last)) => format!(
                "{id}'s console shows no cloud-init or skiff line yet (still booting?); its last line: {last}"
            ),
            (None, None) => format!(
                "{id} has no console output yet (AWS publishes it a few minutes after boot)"
            ),
        },
        Err(e) => format!("the boot step of {id} is unknown: {e}"),
    }
}

/// Waits up to `wait` for the broker at `addr` (over TLS with `tls`);
/// `None` does not wait.
/// Returns whether it answered. On a timeout the error says what step
/// `instance` (clients and id) was at.
pub async fn wait(
    dry_run: bool,
    wait: Option<Duration>,
    addr: &str,
    tls: Option<&probe::Tls>,
    instance: Option<(&Clients, &str)>,
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
    let result = probe::wait_until_ready(addr, tls, timeout, |e| {
        tracing::debug!("probe: {e}");
        ui.set(format!("probing {addr}: {e}"));
    })
    .await;
    match result {
        Ok(took) => Ok((
            true,
            Outcome::found(format!(
                "broker answered on {addr}{} after {:.1} s",
                if tls.is_some() {
                    " (TLS, certificate verified with the deployment's CA)"
                } else {
                    ""
                },
                took.as_secs_f64()
            )),
        )),
        Err(_) => {
            let step = match instance {
                Some((clients, id)) => Some(console_step(clients, id).await),
                None => None,
            };
            anyhow::bail!(timeout_message(addr, timeout.as_secs(), step.as_deref()))
        }
    }
}
