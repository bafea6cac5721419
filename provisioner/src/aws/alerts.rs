//! AWS calls behind alerts: the deployment's SNS topic (found by name
//! among ListTopics, created with the Skiff tags) and its e-mail
//! subscriptions, and its CloudWatch alarms (DescribeAlarms by name prefix,
//! PutMetricAlarm, DeleteAlarms). The decisions are in `crate::alarms`
//! and `deploy::alerts`; this module only talks to AWS.

use super::{api, tags, ApiError, Clients};
use crate::alarms::{self, Alarm};
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat, Statistic,
};

/// Query ids of a metric-math alarm: the alarm's metric, the CPU, the
/// expression (see `alarms::busy_balance_expression`).
const BALANCE_ID: &str = "balance";
const CPU_ID: &str = "cpu";
const EXPRESSION_ID: &str = "busybalance";

/// An e-mail (or other) subscription of the topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// `PendingConfirmation` until the recipient confirms.
    pub arn: String,
    pub protocol: String,
    pub endpoint: String,
}

impl Subscription {
    pub fn confirmed(&self) -> bool {
        self.arn.starts_with("arn:")
    }
}

/// A deployment's alarm as CloudWatch has it, with its state.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing {
    pub alarm: Alarm,
    pub state: String,
    pub reason: String,
}

/// The deployment's alert resources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alerts {
    pub topic_arn: Option<String>,
    pub subscriptions: Vec<Subscription>,
    pub alarms: Vec<Existing>,
}

impl Alerts {
    pub fn is_empty(&self) -> bool {
        self.topic_arn.is_none() && self.alarms.is_empty()
    }

    /// Loads the topic, its subscriptions and the alarms (read-only calls).
    pub async fn load(c: &Clients, name: &str) -> Result<Alerts, ApiError> {
        let topic_arn = find_topic(c, name).await?;
        let subscriptions = match &topic_arn {
            Some(arn) => subscriptions(c, arn).await?,
            None => Vec::new(),
        };
        Ok(Alerts {
            topic_arn,
            subscriptions,
            alarms: alarms(c, name).await?,
        })
    }

    pub fn current(&self) -> Vec<Alarm> {
        self.alarms.iter().map(|e| e.alarm.clone()).collect()
    }
}

/// The ARN of topic `skiff-<name>-alerts`, if it exists.
pub async fn find_topic(c: &Clients, name: &str) -> Result<Option<String>, ApiError> {
    let suffix = format!(":{}", alarms::topic_name(name));
    let mut token = None;
    loop {
        let out = c
            .sns()
            .list_topics()
            .set_next_token(token)
            .send()
            .await
            .map_err(api("list SNS topics"))?;
        if let Some(arn) = out
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .find(|a| a.ends_with(&suffix))
        {
            return Ok(Some(arn.to_string()));
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(None);
        }
    }
}

/// Creates the topic (idempotent by name), tagged as Skiff's.
pub async fn create_topic(c: &Clients, name: &str) -> Result<String, ApiError> {
    let mut req = c.sns().create_topic().name(alarms::topic_name(name));
    for t in tags::tags(name, Some("alerts")) {
        req = req.tags(
            aws_sdk_sns::types::Tag::builder()
                .key(t.key().unwrap_or_default())
                .value(t.value().unwrap_or_default())
                .build()
                .expect("key and value set"),
        );
    }
    let out = req
        .send()
        .await
        .map_err(api("create the SNS topic for alerts"))?;
    Ok(out.topic_arn().unwrap_or_default().to_string())
}

pub async fn subscriptions(c: &Clients, topic_arn: &str) -> Result<Vec<Subscription>, ApiError> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let out = c
            .sns()
            .list_subscriptions_by_topic()
            .topic_arn(topic_arn)
            .set_next_token(token)
            .send()
            .await
            .map_err(api("list the alert subscriptions"))?;
        found.extend(out.subscriptions().iter().map(|s| Subscription {
            arn: s.subscription_arn().unwrap_or_default().to_string(),
            protocol: s.protocol().unwrap_or_default().to_string(),
            endpoint: s.endpoint().unwrap_or_default().to_string(),
        }));
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

pub async fn subscribe(c: &Clients, topic_arn: &str, email: &str) -> Result<(), ApiError> {
    c.sns()
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("email")
        .endpoint(email)
        .send()
        .await
        .map_err(api("subscribe the alert e-mail"))?;
    Ok(())
}

pub async fn unsubscribe(c: &Clients, subscription_arn: &str) -> Result<(), ApiError> {
    c.sns()
        .unsubscribe()
        .subscription_arn(subscription_arn)
        .send()
        .await
        .map_err(api("remove an old alert subscription"))?;
    Ok(())
}

/// Deletes the topic (and with it its subscriptions); gone already is fine.
pub async fn delete_topic(c: &Clients, topic_arn: &str) -> Result<(), ApiError> {
    match c
        .sns()
        .delete_topic()
        .topic_arn(topic_arn)
        .send()
        .await
        .map_err(api("delete the SNS topic"))
    {
        Err(e) if e.code_is("NotFound") => Ok(()),
        r => r.map(|_| ()),
    }
}

fn from_cloudwatch(a: &MetricAlarm) -> Alarm {
    if let Some(balance) = a
        .metrics()
        .iter()
        .find(|q| q.id() == Some(BALANCE_ID))
        .and_then(|q| q.metric_stat())
    {
        let m = balance.metric();
        let plain = from_plain(a);
        return Alarm {
            metric: m.and_then(|m| m.metric_name()).unwrap_or_default().into(),
            namespace: m.and_then(|m| m.namespace()).unwrap_or_default().into(),
            statistic: balance.stat().unwrap_or_default().into(),
            dimensions: m
                .map(|m| m.dimensions())
                .unwrap_or_default()
                .iter()
                .map(|d| {
                    (
                        d.name().unwrap_or_default().to_string(),
                        d.value().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            period: balance.period().unwrap_or_default(),
            expression: a
                .metrics()
                .iter()
                .find(|q| q.id() == Some(EXPRESSION_ID))
                .and_then(|q| q.expression())
                .map(str::to_string),
            ..plain
        };
    }
    from_plain(a)
}

fn from_plain(a: &MetricAlarm) -> Alarm {
    Alarm {
        name: a.alarm_name().unwrap_or_default().into(),
        description: a.alarm_description().unwrap_or_default().into(),
        metric: a.metric_name().unwrap_or_default().into(),
        namespace: a.namespace().unwrap_or_default().into(),
        statistic: a
            .statistic()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        dimensions: a
            .dimensions()
            .iter()
            .map(|d| {
                (
                    d.name().unwrap_or_default().to_string(),
                    d.value().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        period: a.period().unwrap_or_default(),
        evaluation_periods: a.evaluation_periods().unwrap_or_default(),
        datapoints_to_alarm: a
            .datapoints_to_alarm()
            .or(a.evaluation_periods())
            .unwrap_or_default(),
        threshold: a.threshold().unwrap_or_default(),
        comparison: a
            .comparison_operator()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        treat_missing: a.treat_missing_data().unwrap_or("missing").into(),
        actions: a.alarm_actions().to_vec(),
        ok_actions: a.ok_actions().to_vec(),
        expression: None,
    }
}

/// The deployment's alarms (exact names only), sorted by name.
pub async fn alarms(c: &Clients, name: &str) -> Result<Vec<Existing>, ApiError> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let out = c
            .cloudwatch()
            .describe_alarms()
            .alarm_name_prefix(alarms::prefix(name))
            .set_next_token(token)
            .send()
            .await
            .map_err(api("describe CloudWatch alarms"))?;
        found.extend(
            out.metric_alarms()
                .iter()
                .filter(|a| a.alarm_name().is_some_and(|n| alarms::is_ours(name, n)))
                .map(|a| Existing {
                    alarm: from_cloudwatch(a),
                    state: a
                        .state_value()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_else(|| "?".into()),
                    reason: a.state_reason().unwrap_or_default().to_string(),
                }),
        );
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    found.sort_by(|a, b| a.alarm.name.cmp(&b.alarm.name));
    Ok(found)
}

/// Creates or replaces one alarm (PutMetricAlarm is an upsert; the tags
/// only apply when it is created).
pub async fn put_alarm(c: &Clients, name: &str, a: &Alarm) -> Result<(), ApiError> {
    let mut req = c
        .cloudwatch()
        .put_metric_alarm()
        .alarm_name(&a.name)
        .alarm_description(&a.description);
    req = match &a.expression {
        None => {
            let mut r = req
                .namespace(&a.namespace)
                .metric_name(&a.metric)
                .statistic(Statistic::from(a.statistic.as_str()))
                .period(a.period);
            for (k, v) in &a.dimensions {
                r = r.dimensions(Dimension::builder().name(k).value(v).build());
            }
            r
        }
        Some(expr) => {
            let stat = |id: &str, metric: &str, stat: &str| {
                let mut m = Metric::builder()
                    .namespace(&a.namespace)
                    .metric_name(metric);
                for (k, v) in &a.dimensions {
                    m = m.dimensions(Dimension::builder().name(k).value(v).build());
                }
                MetricDataQuery::builder()
                    .id(id)
                    .metric_stat(
                        MetricStat::builder()
                            .metric(m.build())
                            .period(a.period)
                            .stat(stat)
                            .build(),
                    )
                    .return_data(false)
                    .build()
            };
            req.metrics(stat(BALANCE_ID, &a.metric, &a.statistic))
                .metrics(stat(CPU_ID, "CPUUtilization", "Average"))
                .metrics(
                    MetricDataQuery::builder()
                        .id(EXPRESSION_ID)
                        .expression(expr)
                        .label(format!("{} while busy", a.metric))
                        .return_data(true)
                        .build(),
                )
        }
    };
    let mut req = req
        .evaluation_periods(a.evaluation_periods)
        .datapoints_to_alarm(a.datapoints_to_alarm)
        .threshold(a.threshold)
        .comparison_operator(ComparisonOperator::from(a.comparison.as_str()))
        .treat_missing_data(&a.treat_missing)
        .actions_enabled(true)
        .set_alarm_actions(Some(a.actions.clone()))
        .set_ok_actions(Some(a.ok_actions.clone()));
    for t in tags::tags(name, Some("alarm")) {
        req = req.tags(
            aws_sdk_cloudwatch::types::Tag::builder()
                .key(t.key().unwrap_or_default())
                .value(t.value().unwrap_or_default())
                .build(),
        );
    }
    req.send()
        .await
        .map_err(api("create or update a CloudWatch alarm"))?;
    Ok(())
}

pub async fn delete_alarms(c: &Clients, names: &[String]) -> Result<(), ApiError> {
    if names.is_empty() {
        return Ok(());
    }
    c.cloudwatch()
        .delete_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .send()
        .await
        .map_err(api("delete CloudWatch alarms"))?;
    Ok(())
}
