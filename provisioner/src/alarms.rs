//! The CloudWatch alarms of a deployment, as data: which alarms it should
//! have for an instance, its type and credit mode, and what to put or
//! delete to get there from what exists.
//!
//! Four alarms, all on namespace `AWS/EC2` with dimension `InstanceId`,
//! 5-minute periods (the credit metrics have no finer ones) and missing
//! data treated as missing, each notifying the deployment's SNS topic:
//! - `credit-balance-low`: CPUCreditBalance (Minimum) below a share of the
//!   type's maximum for two periods *while the CPU works at its baseline or
//!   above* (metric math, [`busy_balance_expression`]): a T3 starts with no
//!   credits, so a plain balance alarm would fire for hours after every
//!   launch and resize;
//! - `ebs-burst-low` (Nitro types: not t2): EBSByteBalance% (Minimum)
//!   below [`EBS_BURST_LOW_PCT`] for two periods: on a t3.micro the EBS
//!   bucket (10.9 MB/s baseline) empties before the CPU credits under a
//!   produce-heavy load, and then every write waits;
//! - `surplus-charged` (unlimited mode only): CPUSurplusCreditsCharged
//!   (Sum) above zero;
//! - `status-check-failed`: StatusCheckFailed (Maximum) at least 1 for two
//!   periods; besides notifying, it recovers the instance (EC2's `recover`
//!   action moves it to healthy hardware, same id, addresses and volumes).
//!
//! Every alarm also notifies when it is back to OK, so an e-mail about a
//! problem is followed by one saying it is over.
//!
//! Alarms are found by name (`skiff-<name>-<kind>`): CloudWatch cannot list
//! alarms by tag. Only the exact names below count as the deployment's, so
//! deployment `a` never touches the alarms of deployment `a-b`.

use crate::config::CreditMode;
use crate::instance_types::InstanceType;

pub const NAMESPACE: &str = "AWS/EC2";
pub const DIMENSION: &str = "InstanceId";
pub const PERIOD: i32 = 300;
pub const TREAT_MISSING: &str = "missing";

/// The kinds of alarm, as name suffixes.
pub const CREDIT_LOW: &str = "credit-balance-low";
pub const SURPLUS: &str = "surplus-charged";
pub const STATUS: &str = "status-check-failed";
pub const EBS_LOW: &str = "ebs-burst-low";
pub const KINDS: &[&str] = &[CREDIT_LOW, EBS_LOW, SURPLUS, STATUS];

/// The EBS burst-balance alarm threshold, percent of the bucket.
pub const EBS_BURST_LOW_PCT: f64 = 20.0;

/// Does the type publish the EBS burst balances? Only Nitro instances do
/// ("Amazon EBS metrics for Nitro-based instances", EC2 User Guide); of
/// the burstable families, t2 runs on Xen.
pub fn publishes_ebs_balance(t: &InstanceType) -> bool {
    !t.name.starts_with("t2.")
}

/// Prefix of every alarm name of deployment `name`.
pub fn prefix(name: &str) -> String {
    crate::aws::tags::alarm_prefix(name)
}

/// Is `alarm_name` one of deployment `name`'s alarms?
pub fn is_ours(name: &str, alarm_name: &str) -> bool {
    alarm_name
        .strip_prefix(&prefix(name))
        .is_some_and(|k| KINDS.contains(&k))
}

/// The SNS topic name of deployment `name`.
pub fn topic_name(name: &str) -> String {
    format!("skiff-{name}-alerts")
}

/// One alarm as skiff wants it, or as CloudWatch has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub name: String,
    pub description: String,
    pub metric: String,
    pub namespace: String,
    pub statistic: String,
    /// (name, value) dimensions.
    pub dimensions: Vec<(String, String)>,
    pub period: i32,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: i32,
    pub threshold: f64,
    pub comparison: String,
    pub treat_missing: String,
    pub actions: Vec<String>,
    /// Notified when the alarm returns to OK.
    pub ok_actions: Vec<String>,
    /// A metric-math alarm: `metric` (query id `balance`) and
    /// CPUUtilization (Average, query id `cpu`) combined by this
    /// expression, which the threshold applies to.
    pub expression: Option<String>,
}

/// The credit-balance alarm's expression: the balance while the CPU works
/// at (90% of) its baseline or above, else the type's maximum. So a low
/// balance alarms only while it is not recovering: not after the first
/// boot of a T3 (which starts with no credits, then idles and earns them
/// back), and not after a resize; but when a workload keeps the instance
/// throttled at its baseline (standard mode) or bursting on surplus
/// credits (unlimited). CloudWatch metric math: `IF(condition, a, b)`
/// with time series and scalars ("Use metric math", CloudWatch User
/// Guide).
pub fn busy_balance_expression(t: &InstanceType) -> String {
    let busy = (t.baseline_pct * 0.9 * 10.0).round() / 10.0;
    format!("IF(cpu >= {busy}, balance, {})", t.max_credits)
}

/// The settings the alarms are made from.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    pub name: &'a str,
    pub instance_id: &'a str,
    pub instance_type: &'a InstanceType,
    /// The credit mode the surplus alarm is for: unlimited if the config
    /// *or* the instance itself says so (a failed switch to standard must
    /// not hide the surplus charges).
    pub credit_mode: CreditMode,
    /// Credit-balance alarm threshold, percent of the type's maximum.
    pub credit_pct: u32,
    pub topic_arn: &'a str,
    /// For the EC2 recover action's ARN.
    pub region: &'a str,
}

/// The credit mode the alarms watch: unlimited if either says so.
pub fn watched_mode(config: CreditMode, actual: Option<CreditMode>) -> CreditMode {
    if config == CreditMode::Unlimited || actual == Some(CreditMode::Unlimited) {
        CreditMode::Unlimited
    } else {
        CreditMode::Standard
    }
}

/// EC2's recover action for alarms on an instance's status checks.
/// CloudWatch accepts it on any per-instance EC2 metric but
/// StatusCheckFailed_Instance ("Create alarms to stop, terminate, reboot,
/// or recover an EC2 instance", CloudWatch User Guide); recovery itself
/// acts on system (hardware/host) failures ("CloudWatch action based
/// recovery works with the StatusCheckFailed_System metric", EC2 User
/// Guide).
pub fn recover_action(region: &str) -> String {
    format!("arn:aws:automate:{region}:ec2:recover")
}

/// The credit-balance threshold for a type and share: rounded to a tenth.
pub fn credit_threshold(t: &InstanceType, pct: u32) -> f64 {
    (t.max_credits * f64::from(pct) / 100.0 * 10.0).round() / 10.0
}

#[allow(clippy::too_many_arguments)]
fn alarm(
    s: &Settings,
    kind: &str,
    description: String,
    metric: &str,
    statistic: &str,
    periods: i32,
    threshold: f64,
    comparison: &str,
) -> Alarm {
    Alarm {
        name: format!("{}{kind}", prefix(s.name)),
        description,
        metric: metric.into(),
        namespace: NAMESPACE.into(),
        statistic: statistic.into(),
        dimensions: vec![(DIMENSION.into(), s.instance_id.into())],
        period: PERIOD,
        evaluation_periods: periods,
        datapoints_to_alarm: periods,
        threshold,
        comparison: comparison.into(),
        treat_missing: TREAT_MISSING.into(),
        actions: vec![s.topic_arn.into()],
        ok_actions: vec![s.topic_arn.into()],
        expression: None,
    }
}

/// The alarms deployment `s.name` should have.
pub fn desired(s: &Settings) -> Vec<Alarm> {
    let t = s.instance_type;
    let threshold = credit_threshold(t, s.credit_pct);
    let mut low = alarm(
        s,
        CREDIT_LOW,
        format!(
            "skiff {}: CPU credit balance of {} ({}) below {}% of its maximum {:.0} ({threshold}) for 10 minutes while the CPU works at its baseline or above (the balance is not recovering)",
            s.name, s.instance_id, t.name, s.credit_pct, t.max_credits
        ),
        "CPUCreditBalance",
        "Minimum",
        2,
        threshold,
        "LessThanThreshold",
    );
    low.expression = Some(busy_balance_expression(t));
    let mut out = vec![low];
    if publishes_ebs_balance(t) {
        out.push(alarm(
            s,
            EBS_LOW,
            format!(
                "skiff {}: EBS burst balance of {} ({}) below {EBS_BURST_LOW_PCT}% for 10 minutes: \
                 disk I/O will soon be held at the type's baseline",
                s.name, s.instance_id, t.name
            ),
            "EBSByteBalance%",
            "Minimum",
            2,
            EBS_BURST_LOW_PCT,
            "LessThanThreshold",
        ));
    }
    if s.credit_mode == CreditMode::Unlimited {
        out.push(alarm(
            s,
            SURPLUS,
            format!(
                "skiff {}: {} is being charged for surplus CPU credits (unlimited mode)",
                s.name, s.instance_id
            ),
            "CPUSurplusCreditsCharged",
            "Sum",
            1,
            0.0,
            "GreaterThanThreshold",
        ));
    }
    let mut status = alarm(
        s,
        STATUS,
        format!(
            "skiff {}: status checks of {} failed for 10 minutes",
            s.name, s.instance_id
        ),
        "StatusCheckFailed",
        "Maximum",
        2,
        1.0,
        "GreaterThanOrEqualToThreshold",
    );
    status.actions.insert(0, recover_action(s.region));
    out.push(status);
    out
}

/// What to change to get from `current` to `desired`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// New or different alarms (PutMetricAlarm creates or replaces).
    pub put: Vec<Alarm>,
    /// Names of alarms that should not exist.
    pub delete: Vec<String>,
}

pub fn diff(desired: &[Alarm], current: &[Alarm]) -> Changes {
    Changes {
        put: desired
            .iter()
            .filter(|d| !current.iter().any(|c| c == *d))
            .cloned()
            .collect(),
        delete: current
            .iter()
            .filter(|c| !desired.iter().any(|d| d.name == c.name))
            .map(|c| c.name.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance_types::lookup;

    fn settings(mode: CreditMode, pct: u32) -> Settings<'static> {
        Settings {
            name: "prod",
            instance_id: "i-1",
            instance_type: lookup("t3.micro").unwrap(),
            credit_mode: mode,
            credit_pct: pct,
            topic_arn: "arn:aws:sns:us-east-1:1:skiff-prod-alerts",
            region: "us-east-1",
        }
    }

    #[test]
    fn credit_alarm_watches_the_balance_only_while_the_cpu_is_busy() {
        let e = |t: &str| busy_balance_expression(lookup(t).unwrap());
        assert_eq!(e("t3.micro"), "IF(cpu >= 9, balance, 288)");
        assert_eq!(e("t3.large"), "IF(cpu >= 27, balance, 864)");
        assert_eq!(e("t2.micro"), "IF(cpu >= 9, balance, 144)");
        let a = desired(&settings(CreditMode::Standard, 20));
        assert_eq!(
            a[0].expression.as_deref(),
            Some("IF(cpu >= 9, balance, 288)")
        );
        assert!(a[1..].iter().all(|x| x.expression.is_none()));
    }

    #[test]
    fn standard_mode_has_credit_and_status_alarms() {
        let a = desired(&settings(CreditMode::Standard, 20));
        let names: Vec<_> = a.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "skiff-prod-credit-balance-low",
                "skiff-prod-ebs-burst-low",
                "skiff-prod-status-check-failed"
            ]
        );
        let ebs = &a[1];
        assert_eq!(ebs.metric, "EBSByteBalance%");
        assert_eq!((ebs.threshold, ebs.statistic.as_str()), (20.0, "Minimum"));
        assert_eq!(ebs.comparison, "LessThanThreshold");
        assert_eq!(ebs.evaluation_periods, 2);
        let low = &a[0];
        assert_eq!(low.threshold, 57.6);
        assert_eq!(
            (low.period, low.evaluation_periods, low.datapoints_to_alarm),
            (300, 2, 2)
        );
        assert_eq!(low.comparison, "LessThanThreshold");
        assert_eq!(low.dimensions, [("InstanceId".into(), "i-1".into())]);
        assert_eq!(low.actions, ["arn:aws:sns:us-east-1:1:skiff-prod-alerts"]);
        assert_eq!(low.ok_actions, low.actions);
        let status = &a[2];
        assert_eq!(
            status.actions,
            [
                "arn:aws:automate:us-east-1:ec2:recover",
                "arn:aws:sns:us-east-1:1:skiff-prod-alerts"
            ]
        );
        assert_eq!(
            status.ok_actions,
            ["arn:aws:sns:us-east-1:1:skiff-prod-alerts"]
        );
    }

    #[test]
    fn t2_has_no_ebs_burst_alarm() {
        let mut s = settings(CreditMode::Standard, 20);
        s.instance_type = lookup("t2.micro").unwrap();
        assert!(!desired(&s).iter().any(|a| a.name.ends_with(EBS_LOW)));
        assert!(is_ours("prod", "skiff-prod-ebs-burst-low"));
    }

    #[test]
    fn the_surplus_alarm_follows_config_or_instance() {
        use CreditMode::*;
        assert_eq!(watched_mode(Standard, Some(Standard)), Standard);
        assert_eq!(watched_mode(Standard, None), Standard);
        assert_eq!(watched_mode(Standard, Some(Unlimited)), Unlimited);
        assert_eq!(watched_mode(Unlimited, Some(Standard)), Unlimited);
    }

    #[test]
    fn unlimited_adds_surplus_alarm() {
        let a = desired(&settings(CreditMode::Unlimited, 20));
        let s = a.iter().find(|a| a.name.ends_with(SURPLUS)).unwrap();
        assert_eq!(s.metric, "CPUSurplusCreditsCharged");
        assert_eq!(
            (s.threshold, s.comparison.as_str()),
            (0.0, "GreaterThanThreshold")
        );
    }

    #[test]
    fn diff_puts_changed_and_deletes_extra() {
        let old = desired(&settings(CreditMode::Unlimited, 20));
        assert_eq!(diff(&old, &old), Changes::default());
        let new = desired(&settings(CreditMode::Standard, 30));
        let c = diff(&new, &old);
        assert_eq!(c.put.len(), 1);
        assert_eq!(c.put[0].threshold, 86.4);
        assert_eq!(c.delete, ["skiff-prod-surplus-charged"]);
    }

    #[test]
    fn names_of_other_deployments_are_not_ours() {
        assert!(is_ours("a", "skiff-a-credit-balance-low"));
        assert!(!is_ours("a", "skiff-a-b-credit-balance-low"));
        assert!(!is_ours("a", "skiff-a-something"));
        assert_eq!(credit_threshold(lookup("t3.large").unwrap(), 25), 216.0);
    }
}
