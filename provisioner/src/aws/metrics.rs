//! The burst-bucket metrics of one instance from CloudWatch (namespace
//! `AWS/EC2`, dimension `InstanceId`, 5-minute periods) in one
//! GetMetricData call (paged), turned into [`credits::Series`]: the five
//! CPU-credit metrics, the two EBS burst balances, EBS bytes and
//! operations, and network in and out. GetMetricData is billed per metric
//! requested ($0.01 per 1,000 in us-east-1, CloudWatch pricing), so one
//! report costs 13 thousandths of a cent.

use super::{api, ApiError};
use crate::credits::{Point, Series, PERIOD_SECS};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

pub const NAMESPACE: &str = "AWS/EC2";
pub const DIMENSION: &str = "InstanceId";

/// (query id, metric, statistic) of the five series.
const QUERIES: &[(&str, &str, &str)] = &[
    ("balance", "CPUCreditBalance", "Average"),
    ("usage", "CPUCreditUsage", "Sum"),
    ("surplusbalance", "CPUSurplusCreditBalance", "Maximum"),
    ("surpluscharged", "CPUSurplusCreditsCharged", "Sum"),
    ("utilization", "CPUUtilization", "Average"),
    ("ebsbytebalance", "EBSByteBalance%", "Average"),
    ("ebsiobalance", "EBSIOBalance%", "Average"),
    ("ebsreadbytes", "EBSReadBytes", "Sum"),
    ("ebswritebytes", "EBSWriteBytes", "Sum"),
    ("ebsreadops", "EBSReadOps", "Sum"),
    ("ebswriteops", "EBSWriteOps", "Sum"),
    ("networkin", "NetworkIn", "Sum"),
    ("networkout", "NetworkOut", "Sum"),
];

/// Metrics one [`fetch`] requests (GetMetricData bills per metric requested).
pub const METRICS_PER_POLL: usize = QUERIES.len();

fn query(id: &str, metric: &str, stat: &str, instance_id: &str) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(NAMESPACE)
                        .metric_name(metric)
                        .dimensions(
                            Dimension::builder()
                                .name(DIMENSION)
                                .value(instance_id)
                                .build(),
                        )
                        .build(),
                )
                .period(PERIOD_SECS as i32)
                .stat(stat)
                .build(),
        )
        .return_data(true)
        .build()
}

/// Reads the series of `instance_id` between `start` and `end` (Unix
/// seconds), sorted oldest first.
pub async fn fetch(
    cw: &aws_sdk_cloudwatch::Client,
    instance_id: &str,
    start: i64,
    end: i64,
) -> Result<Series, ApiError> {
    let mut series = Series::default();
    let mut token: Option<String> = None;
    loop {
        let mut req = cw
            .get_metric_data()
            .start_time(DateTime::from_secs(start))
            .end_time(DateTime::from_secs(end))
            .set_next_token(token.clone());
        for (id, metric, stat) in QUERIES {
            req = req.metric_data_queries(query(id, metric, stat, instance_id));
        }
        let out = req
            .send()
            .await
            .map_err(api("read the burst-bucket metrics (GetMetricData)"))?;
        for r in out.metric_data_results() {
            let target = match r.id() {
                Some("balance") => &mut series.balance,
                Some("usage") => &mut series.usage,
                Some("surplusbalance") => &mut series.surplus_balance,
                Some("surpluscharged") => &mut series.surplus_charged,
                Some("utilization") => &mut series.utilization,
                Some("ebsbytebalance") => &mut series.ebs_byte_balance,
                Some("ebsiobalance") => &mut series.ebs_io_balance,
                Some("ebsreadbytes" | "ebswritebytes") => &mut series.ebs_bytes,
                Some("ebsreadops" | "ebswriteops") => &mut series.ebs_ops,
                Some("networkin") => &mut series.network_in,
                Some("networkout") => &mut series.network_out,
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
    series.sort();
    Ok(series)
}
