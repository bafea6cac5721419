//! `up` step 6 (and the last step of `resize`): alerts. With an alert
//! e-mail configured: the SNS topic `skiff-<name>-alerts` with that e-mail
//! subscribed (other e-mails unsubscribed), and the alarms of
//! `crate::alarms` pointing at it, with thresholds from the instance's
//! *actual* type (after a `resize` the config may still name the old one).
//! Only what differs is put or deleted, so a second `up` changes nothing.
//! Without an e-mail, existing alarms and the topic are removed: the
//! config is the source of truth, as for the firewall rules.

use crate::alarms::{self, Settings};
use crate::aws::alerts::{self as aws_alerts, Alerts};
use crate::aws::Clients;
use crate::config::Config;
use crate::instance_types::InstanceType;
use crate::printer::Progress;
use crate::runner::Outcome;
use anyhow::Result;

/// What the alarms are about.
pub struct Target<'a> {
    pub instance_id: &'a str,
    pub instance_type: &'static InstanceType,
    /// The instance's credit mode as EC2 reports it, if known.
    pub credit_mode: Option<crate::config::CreditMode>,
}

/// Converges topic, subscription and alarms to `email` (none: removes
/// them) for `target`.
pub async fn ensure(
    clients: &Clients,
    config: &Config,
    dry_run: bool,
    email: Option<&str>,
    target: &Target<'_>,
    ui: &Progress,
) -> Result<Outcome> {
    let name = &config.name;
    let existing = match Alerts::load(clients, name).await {
        Ok(a) => a,
        // Without alerts configured, an account that may not use SNS or
        // CloudWatch (no permission) must still be able to run `up`.
        Err(e) if email.is_none() => {
            ui.warn(format!("could not check for old alerts: {e}"));
            return Ok(Outcome::found(
                "none (no alert_email configured; old alerts not checked)",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let Some(email) = email else {
        return remove(clients, &existing, dry_run, "no alert_email configured").await;
    };
    let mut done: Vec<String> = Vec::new();
    let verb = |now: &str, would: &str| {
        if dry_run {
            would.to_string()
        } else {
            now.to_string()
        }
    };

    let topic_arn = match &existing.topic_arn {
        Some(arn) => arn.clone(),
        None if dry_run => {
            done.push(format!(
                "would create SNS topic {}",
                alarms::topic_name(name)
            ));
            format!("<new topic {}>", alarms::topic_name(name))
        }
        None => {
            let arn = aws_alerts::create_topic(clients, name).await?;
            done.push(format!("created SNS topic {arn}"));
            arn
        }
    };
    let subscribed = existing
        .subscriptions
        .iter()
        .any(|s| s.protocol == "email" && s.endpoint == email);
    if !subscribed {
        if !dry_run {
            aws_alerts::subscribe(clients, &topic_arn, email).await?;
        }
        done.push(format!(
            "{} {email} (AWS sends a confirmation e-mail: open its link)",
            verb("subscribed", "would subscribe")
        ));
    }
    for old in existing
        .subscriptions
        .iter()
        .filter(|s| s.protocol == "email" && s.endpoint != email && s.confirmed())
    {
        if !dry_run {
            aws_alerts::unsubscribe(clients, &old.arn).await?;
        }
        done.push(format!(
            "{} {}",
            verb("unsubscribed", "would unsubscribe"),
            old.endpoint
        ));
    }

    let desired = alarms::desired(&Settings {
        name,
        instance_id: target.instance_id,
        instance_type: target.instance_type,
        credit_mode: alarms::watched_mode(config.credit_mode, target.credit_mode),
        credit_pct: config.alert_credit_balance_pct,
        topic_arn: &topic_arn,
        region: &clients.region,
    });
    let changes = alarms::diff(&desired, &existing.current());
    for a in &changes.put {
        let new = !existing.alarms.iter().any(|e| e.alarm.name == a.name);
        if !dry_run {
            aws_alerts::put_alarm(clients, name, a).await?;
        }
        done.push(format!(
            "{} alarm {} ({} {} {})",
            if new {
                verb("created", "would create")
            } else {
                verb("updated", "would update")
            },
            a.name,
            a.metric,
            comparison_symbol(&a.comparison),
            a.threshold
        ));
    }
    if !changes.delete.is_empty() {
        if !dry_run {
            aws_alerts::delete_alarms(clients, &changes.delete).await?;
        }
        done.push(format!(
            "{} alarm {}",
            verb("deleted", "would delete"),
            changes.delete.join(", ")
        ));
    }
    if done.is_empty() {
        return Ok(Outcome::found(format!(
            "{} alarms notify {email} ({})",
            desired.len(),
            alarms::topic_name(name)
        )));
    }
    Ok(Outcome::changed(done.join("; ")))
}

/// Deletes the alarms and the topic (for `up` without e-mail, and `down`).
pub async fn remove(
    clients: &Clients,
    existing: &Alerts,
    dry_run: bool,
    why: &str,
) -> Result<Outcome> {
    if existing.is_empty() {
        return Ok(Outcome::found(format!("none ({why})")));
    }
    let names: Vec<String> = existing
        .alarms
        .iter()
        .map(|e| e.alarm.name.clone())
        .collect();
    let mut what = Vec::new();
    if !names.is_empty() {
        what.push(format!("alarms {}", names.join(", ")));
    }
    if let Some(arn) = &existing.topic_arn {
        what.push(format!("SNS topic {arn}"));
    }
    if dry_run {
        return Ok(Outcome::changed(format!(
            "would remove {} ({why})",
            what.join(" and ")
        )));
    }
    aws_alerts::delete_alarms(clients, &names).await?;
    if let Some(arn) = &existing.topic_arn {
        aws_alerts::delete_topic(clients, arn).await?;
    }
    Ok(Outcome::changed(format!(
        "removed {} ({why})",
        what.join(" and ")
    )))
}

pub fn comparison_symbol(c: &str) -> &str {
    match c {
        "LessThanThreshold" => "<",
        "GreaterThanThreshold" => ">",
        "GreaterThanOrEqualToThreshold" => ">=",
        "LessThanOrEqualToThreshold" => "<=",
        other => other,
    }
}
