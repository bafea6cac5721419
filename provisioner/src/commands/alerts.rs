//! `skiff alerts`: the deployment's SNS topic, its e-mail subscriptions
//! (confirmed or pending) and its CloudWatch alarms with their state and
//! condition. Read-only; `up` creates and updates them, `down` removes them.

use crate::aws::alerts::Alerts;
use crate::aws::{self};
use crate::config::Overrides;
use crate::deploy::alerts::comparison_symbol;
use crate::printer::Printer;
use crate::Global;
use anyhow::Result;

pub async fn run(g: &Global, out: &Printer) -> Result<()> {
    let config = super::load_config(g, Overrides::default())?;
    let clients = aws::connect(config.region.as_deref()).await?;
    let alerts = Alerts::load(&clients, &config.name).await?;
    if alerts.is_empty() {
        out.out(format!(
            "no alerts for deployment `{}` in {}; set alert_email in skiff.yaml (or `skiff up --alert-email ADDRESS`) and run `skiff up`",
            config.name, clients.region
        ));
        return Ok(());
    }
    match &alerts.topic_arn {
        Some(arn) => out.out(format!("topic:  {arn}")),
        None => out.out("topic:  none (alarms notify nobody; run `skiff up`)"),
    }
    for s in &alerts.subscriptions {
        let status = if s.confirmed() {
            "confirmed"
        } else {
            "pending confirmation: open the link in the e-mail from AWS"
        };
        out.out(format!("  {} {} ({status})", s.protocol, s.endpoint));
    }
    if alerts.alarms.is_empty() {
        out.out("alarms: none (run `skiff up`)");
    } else {
        out.out("alarms:");
    }
    for e in &alerts.alarms {
        let a = &e.alarm;
        let instance = a
            .dimensions
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(",");
        out.out(format!(
            "  {:<40} {:<17} {}({}) {} {} for {} x {} s",
            a.name,
            e.state,
            a.statistic,
            a.metric,
            comparison_symbol(&a.comparison),
            a.threshold,
            a.evaluation_periods,
            a.period,
        ));
        if let Some(expr) = &a.expression {
            out.out(format!(
                "  {:<40} only while the CPU works at its baseline: {expr}",
                ""
            ));
        }
        out.out(format!("  {:<40} instance {instance}: {}", "", e.reason));
    }
    Ok(())
}
