//! The metrics `skiff perf` reads for a run's window, in one GetMetricData
//! call (paged): CPUCreditUsage (Sum), CPUCreditBalance (Average) and
//! EBSWriteBytes (Sum, published by Nitro instances such as t3) of one
//! instance in `AWS/EC2`, at 5-minute periods, oldest first.

use super::metrics::{DIMENSION, NAMESPACE};
use super::{api, ApiError};
use crate::credits::Point;
use crate::perf::cost::PERIOD;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

/// The three series.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub credit_usage: Vec<Point>,
    pub credit_balance: Vec<Point>,
    pub ebs_write_bytes: Vec<Point>,
}

/// (query id, metric, statistic).
const QUERIES: &[(&str, &str, &str)] = &[
    ("usage", "CPUCreditUsage", "Sum"),
    ("balance", "CPUCreditBalance", "Average"),
    ("ebswrite", "EBSWriteBytes", "Sum"),
];

/// Number of metrics one [`fetch`] asks for (GetMetricData bills per metric).
pub const METRICS_PER_CALL: usize = QUERIES.len();

/// Reads the series of `instance_id` for periods starting in `[start, end)`.
pub async fn fetch(
    cw: &aws_sdk_cloudwatch::Client,
    instance_id: &str,
    start: i64,
    end: i64,
) -> Result<Usage, ApiError> {
    let mut usage = Usage::default();
    let mut token: Option<String> = None;
    loop {
        let mut req = cw
            .get_metric_data()
            .start_time(DateTime::from_secs(start))
            .end_time(DateTime::from_secs(end))
            .set_next_token(token.clone());
        for (id, metric, stat) in QUERIES {
            let m = Metric::builder()
                .namespace(NAMESPACE)
                .metric_name(*metric)
                .dimensions(
                    Dimension::builder()
                        .name(DIMENSION)
                        .value(instance_id)
                        .build(),
                )
                .build();
            req = req.metric_data_queries(
                MetricDataQuery::builder()
                    .id(*id)
                    .metric_stat(
                        MetricStat::builder()
                            .metric(m)
                            .period(PERIOD as i32)
                            .stat(*stat)
                            .build(),
                    )
                    .return_data(true)
                    .build(),
            );
        }
        let out = req.send().await.map_err(api(
            "read the instance's metrics for the run (GetMetricData)",
        ))?;
        for r in out.metric_data_results() {
            let target = match r.id() {
                Some("usage") => &mut usage.credit_usage,
                Some("balance") => &mut usage.credit_balance,
                Some("ebswrite") => &mut usage.ebs_write_bytes,
                _ => continue,
            };
            target.extend(
                r.timestamps()
                    .iter()
                    .zip(r.values())
                    .map(|(t, v)| Point { t: t.secs(), v: *v }),
            );
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for s in [
        &mut usage.credit_usage,
        &mut usage.credit_balance,
        &mut usage.ebs_write_bytes,
    ] {
        s.sort_by_key(|p| p.t);
        s.dedup_by_key(|p| p.t);
    }
    Ok(usage)
}
