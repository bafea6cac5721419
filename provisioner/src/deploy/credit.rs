//! `up` step 10: the credit mode, changed in place on the running instance
//! (ModifyInstanceCreditSpecification works on a running or stopped T2/T3/
//! T4g instance: EC2 User Guide, "Modify the credit specification of a
//! burstable performance instance"). A new instance got it at launch. The
//! mode the instance ends up in (not only the config's) decides the alarms.

use super::instance::Chosen;
use super::power;
use crate::aws::Clients;
use crate::config::{Config, CreditMode};
use crate::printer::Progress;
use crate::runner::{Impact, Outcome};
use anyhow::Result;

/// Converges the credit mode of `chosen`; returns the mode it is in now
/// (as far as EC2 says) and the step's outcome.
pub async fn ensure(
    clients: &Clients,
    config: &Config,
    dry_run: bool,
    chosen: &Chosen,
    ui: &Progress,
) -> Result<(Option<CreditMode>, Outcome)> {
    let want = config.credit_mode;
    if chosen.launched && chosen.first_boot_unlimited {
        return Ok((
            Some(CreditMode::Unlimited),
            Outcome::found(
                "unlimited for the first boot (set at launch); standard once the broker answers",
            ),
        ));
    }
    if chosen.launched {
        return Ok((
            Some(want),
            Outcome::found(format!("{} (set at launch)", want.as_str())),
        ));
    }
    let actual = match power::credit_mode(clients, &chosen.id).await? {
        Some(m) if m == "unlimited" => Some(CreditMode::Unlimited),
        Some(_) => Some(CreditMode::Standard),
        None => None,
    };
    if actual == Some(want) {
        return Ok((actual, Outcome::found(want.as_str())));
    }
    let from = actual.map(CreditMode::as_str).unwrap_or("unknown");
    if dry_run {
        return Ok((
            actual,
            Outcome::with(
                Impact::InPlace,
                format!(
                    "would change {from} -> {} (in place, no restart)",
                    want.as_str()
                ),
            ),
        ));
    }
    let (applied, text) = power::apply_credit_mode(clients, &chosen.id, want.as_str(), ui).await?;
    let now = if applied { Some(want) } else { actual };
    Ok((
        now,
        Outcome::with(Impact::InPlace, format!("{from} -> {text}")),
    ))
}

/// After the first boot of an instance launched `unlimited` for it: the
/// configured `standard`. Returns the mode it is in now and a line for the
/// step's outcome. Surplus credits spent during the boot are billed when
/// the mode changes (EC2 User Guide, "Unlimited mode concepts"): a few
/// cents at most.
pub async fn after_first_boot(
    clients: &Clients,
    chosen: &Chosen,
    ui: &Progress,
) -> Result<(CreditMode, String)> {
    let (applied, text) = power::apply_credit_mode(clients, &chosen.id, "standard", ui).await?;
    let now = if applied {
        CreditMode::Standard
    } else {
        CreditMode::Unlimited
    };
    Ok((
        now,
        format!("credit mode unlimited -> {text} after the first boot"),
    ))
}
