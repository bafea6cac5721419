//! Fetch (v4-12): stored batches served as they were produced, the newest
//! from the partition's in-memory tail (`tail.rs`), older ones from SQLite.
//!
//! Long poll: when less than `min_bytes` is available the request waits, up
//! to `max_wait_ms`, for an append to any of its partitions; it wakes on the
//! partition's notification, not by polling. Limits follow Kafka: the
//! response stays within `max_bytes` and each partition within its own
//! maximum, except that the first batch of the response is always included
//! so a consumer can progress past a batch larger than its limits.
//!
//! Bounds (issue: small requests must not build huge responses): a
//! partition listed more than once is served once (Kafka keeps such a
//! request's partitions in a map, so the last listing wins; here the first
//! does); `max_bytes` is lowered to `SKIFF_FETCH_MAX_BYTES`; and the record
//! bytes of the response are taken from the in-flight budget before they
//! are read and held until the response is written. Only the first read of
//! a response waits for budget (nothing is held then); later partitions are
//! left out when the budget is spent, as if `max_bytes` were reached, so two
//! fetches can never wait on each other.
//!
//! read_committed (KIP-98): reads stop at the partition's last stable
//! offset (the first offset of its oldest open transaction), and each
//! partition's answer lists the aborted transactions its records overlap
//! (producer id, first offset): batch-level metadata from the abort index,
//! no record is read.
//!
//! Incremental fetch sessions (KIP-227) are kept by `fetch_sessions.rs`:
//! an incremental request is served over its session's partitions and its
//! answer leaves out those with nothing new.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::select_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchResponse, ProducerId, TopicName};
use tokio::time::Instant;
use tracing::error;

use super::str;
use crate::batch;
use crate::broker::Broker;
use crate::budget::Held;
use crate::catalog::Partition;
use crate::metrics::TopicLabel;
use crate::protocol::reader::{Reader, Result};

pub struct FetchPartition {
    pub index: i32,
    pub fetch_offset: i64,
    pub max_bytes: i32,
}

pub struct FetchRequest {
    /// 1: read_committed (up to the last stable offset, with the aborted
    /// transactions of the range).
    pub isolation_level: i8,
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub session_id: i32,
    pub session_epoch: i32,
    pub topics: Vec<(String, Vec<FetchPartition>)>,
    /// Partitions to drop from the session (v7+).
    pub forgotten: Vec<(String, Vec<i32>)>,
}

impl FetchRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let _replica_id = r.i32()?;
        let max_wait_ms = r.i32()?;
        let min_bytes = r.i32()?;
        let max_bytes = r.i32()?;
        let isolation_level = r.i8()?;
        let (session_id, session_epoch) = if version >= 7 {
            (r.i32()?, r.i32()?)
        } else {
            (0, -1)
        };
        let topics = r.array("topics", |r| {
            let name = r.string("topic name")?;
            let partitions = r.array("partitions", |r| {
                let index = r.i32()?;
                if version >= 9 {
                    r.i32()?; // current leader epoch
                }
                let fetch_offset = r.i64()?;
                if version >= 12 {
                    r.i32()?; // last fetched epoch
                }
                if version >= 5 {
                    r.i64()?; // log start offset (followers only)
                }
                let max_bytes = r.i32()?;
                r.tagged_fields()?;
                Ok(FetchPartition {
                    index,
                    fetch_offset,
                    max_bytes,
                })
            })?;
            r.tagged_fields()?;
            Ok((name, partitions))
        })?;
        let forgotten = if version >= 7 {
            r.array("forgotten topics", |r| {
                let name = r.string("topic name")?;
                let partitions = r.array("partitions", |r| r.i32())?;
                r.tagged_fields()?;
                Ok((name, partitions))
            })?
        } else {
            Vec::new()
        };
        if version >= 11 {
            r.string("rack id")?;
        }
        r.tagged_fields()?;
        Ok(FetchRequest {
            isolation_level,
            max_wait_ms,
            min_bytes,
            max_bytes,
            session_id,
            session_epoch,
            topics,
            forgotten,
        })
    }
}

/// The partitions of a request resolved against the catalog.
fn resolve(broker: &Broker, req: &FetchRequest) -> Vec<Vec<Option<Arc<Partition>>>> {
    req.topics
        .iter()
        .map(|(name, parts)| {
            let topic = broker.catalog.get(name);
            parts
                .iter()
                .map(|p| topic.as_ref().and_then(|t| t.partition(p.index)))
                .collect()
        })
        .collect()
}

/// The most bytes one partition's read reserves and returns (the first
/// batch of a response excepted).
const READ_BUDGET: usize = 8 * 1024 * 1024;

/// Drops every listing of a partition after its first.
fn collapse_duplicates(topics: &mut Vec<(String, Vec<FetchPartition>)>) {
    let mut seen = std::collections::HashSet::new();
    for (name, parts) in topics.iter_mut() {
        parts.retain(|p| seen.insert((name.clone(), p.index)));
    }
    topics.retain(|(_, parts)| !parts.is_empty());
}

/// The response and the in-flight budget its record bytes hold.
/// Topics the principal may not READ get TOPIC_AUTHORIZATION_FAILED.
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    mut req: FetchRequest,
) -> (FetchResponse, Held) {
    use crate::fetch_sessions::{Plan, Wanted};
    collapse_duplicates(&mut req.topics);
    let wanted: Vec<Wanted> = req
        .topics
        .iter()
        .flat_map(|(t, ps)| {
            ps.iter().map(|p| Wanted {
                read_committed: req.isolation_level == 1,
                topic: t.clone(),
                partition: p.index,
                fetch_offset: p.fetch_offset,
                max_bytes: p.max_bytes,
            })
        })
        .collect();
    let sessions = &broker.fetch_sessions;
    tracing::trace!(
        session = req.session_id,
        epoch = req.session_epoch,
        partitions = wanted.len(),
        forgotten = req.forgotten.len(),
        max_wait_ms = req.max_wait_ms,
        "fetch"
    );
    let plan = sessions.begin(
        req.session_id,
        req.session_epoch,
        &wanted,
        &req.forgotten,
        |topic, index| broker.catalog.get(topic).and_then(|t| t.partition(index)),
    );
    let (session_id, incremental) = match plan {
        Plan::Refused(code) => {
            return (
                FetchResponse::default().with_error_code(code),
                Held::default(),
            )
        }
        Plan::Full { session_id } => (session_id, false),
        Plan::Incremental { session_id } => {
            // Wait (up to max_wait_ms) until some partition has news, looking
            // only at atomics; then read just those.
            let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
            let candidates = loop {
                let any = crate::catalog::ANY_APPEND.notified();
                tokio::pin!(any);
                any.as_mut().enable();
                let found = sessions.candidates(session_id);
                if !found.is_empty() || Instant::now() >= deadline || broker.shutdown.is_cancelled()
                {
                    break found;
                }
                tokio::select! {
                    _ = any => {},
                    _ = tokio::time::sleep_until(deadline) => {},
                    _ = broker.shutdown.cancelled() => {},
                }
            };
            req.max_wait_ms = 0;
            let mut topics: Vec<(String, Vec<FetchPartition>)> = Vec::new();
            for ((topic, index), fetch_offset, max_bytes) in candidates {
                let p = FetchPartition {
                    index,
                    fetch_offset,
                    max_bytes,
                };
                match topics.last_mut() {
                    Some((t, ps)) if *t == topic => ps.push(p),
                    _ => topics.push((topic, vec![p])),
                }
            }
            req.topics = topics;
            (session_id, true)
        }
    };
    let (mut response, held) = serve(broker, conn, req).await;
    if session_id != 0 {
        let seen = response.responses.iter().flat_map(|t| {
            t.partitions.iter().map(|p| {
                let must = p.error_code != 0 || p.records.as_ref().is_some_and(|r| !r.is_empty());
                (
                    (t.topic.0.to_string(), p.partition_index),
                    p.high_watermark,
                    p.log_start_offset,
                    must,
                )
            })
        });
        let keep = sessions.observe(session_id, seen.collect::<Vec<_>>());
        if incremental {
            let mut keep = keep.into_iter();
            for t in response.responses.iter_mut() {
                t.partitions.retain(|_| keep.next().unwrap_or(true));
            }
            response.responses.retain(|t| !t.partitions.is_empty());
        }
    }
    (response.with_session_id(session_id), held)
}

/// Serves the partitions of `req` (those of its session, for an
/// incremental fetch).
async fn serve(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    mut req: FetchRequest,
) -> (FetchResponse, Held) {
    req.max_bytes = req.max_bytes.clamp(0, broker.config.fetch_max_bytes);
    let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let resolved = resolve(broker, &req);
    let denied: Vec<bool> = req
        .topics
        .iter()
        .map(|(name, _)| {
            !super::topic_allowed(broker, conn, crate::security::acl::Operation::Read, name)
        })
        .collect();
    let any_denied = denied.iter().any(|d| *d);
    let read_committed = req.isolation_level == 1;
    loop {
        // Listen before looking, so an append between the look and the wait
        // is not missed.
        let mut wakeups: Vec<_> = resolved
            .iter()
            .flatten()
            .flatten()
            .map(|p| Box::pin(p.appended.notified()))
            .collect();
        for w in wakeups.iter_mut() {
            w.as_mut().enable();
        }
        let mut ready = any_denied;
        for (parts, (_, requested)) in resolved.iter().zip(&req.topics) {
            for (p, r) in parts.iter().zip(requested) {
                match p {
                    None => ready = true,
                    Some(p) => {
                        let hw = p.high_watermark();
                        let readable = if read_committed {
                            r.fetch_offset < p.last_stable() || r.fetch_offset > hw
                        } else {
                            r.fetch_offset != hw
                        };
                        if readable || p.is_deleted() {
                            ready = true; // data, or an out-of-range error
                        }
                    }
                }
            }
        }
        let now = Instant::now();
        let stopping = broker.shutdown.is_cancelled();
        if ready || now >= deadline || wakeups.is_empty() || stopping {
            let (response, held) = collect(broker, &req, &resolved, &denied).await;
            let bytes: usize = response
                .responses
                .iter()
                .flat_map(|t| &t.partitions)
                .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
                .sum();
            let has_error = response
                .responses
                .iter()
                .flat_map(|t| &t.partitions)
                .any(|p| p.error_code != 0);
            if bytes >= req.min_bytes.max(1) as usize || has_error || now >= deadline || stopping {
                return (response, held);
            }
        }
        tokio::select! {
            _ = select_all(wakeups) => {},
            _ = tokio::time::sleep_until(deadline) => {},
            _ = broker.shutdown.cancelled() => {},
        }
    }
}

/// The aborted transactions of `p` overlapping `from..to`, from memory or,
/// for an older range, from the file.
async fn aborted_in(
    broker: &Broker,
    p: &Partition,
    from: i64,
    to: i64,
) -> std::result::Result<Vec<AbortedTransaction>, crate::storage::StorageError> {
    let list = match p.aborted.overlapping(from, to) {
        Some(list) => list,
        None => broker.storage.aborted_between(p.db_id, from, to).await?,
    };
    Ok(list
        .into_iter()
        .map(|a| {
            AbortedTransaction::default()
                .with_producer_id(ProducerId(a.producer_id))
                .with_first_offset(a.first_offset)
        })
        .collect())
}

async fn collect(
    broker: &Broker,
    req: &FetchRequest,
    resolved: &[Vec<Option<Arc<Partition>>>],
    denied: &[bool],
) -> (FetchResponse, Held) {
    let mut held = Held::default();
    let read_committed = req.isolation_level == 1;
    let mut remaining = req.max_bytes.max(0) as usize;
    let mut any_records = false;
    let mut topics = Vec::with_capacity(req.topics.len());
    for ((parts, (name, requested)), denied) in resolved.iter().zip(&req.topics).zip(denied) {
        let mut out = Vec::with_capacity(requested.len());
        for (p, r) in parts.iter().zip(requested) {
            let data = PartitionData::default().with_partition_index(r.index);
            if *denied {
                out.push(data.with_error_code(super::TOPIC_AUTHORIZATION_FAILED));
                continue;
            }
            let Some(p) = p.as_ref().filter(|p| !p.is_deleted()) else {
                out.push(data.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                continue;
            };
            // The last stable offset before the high watermark: a batch
            // committed between the two reads is then past both.
            let lso = p.last_stable();
            let hw = p.high_watermark();
            let log_start = p.log_start();
            let data = data
                .with_high_watermark(hw)
                .with_last_stable_offset(lso)
                .with_log_start_offset(log_start);
            if r.fetch_offset < log_start || r.fetch_offset > hw {
                out.push(data.with_error_code(ResponseError::OffsetOutOfRange.code()));
                continue;
            }
            // read_committed reads only up to the last stable offset.
            let end = if read_committed { lso.min(hw) } else { hw };
            if r.fetch_offset >= end || (remaining == 0 && any_records) {
                out.push(data.with_aborted_transactions(read_committed.then(Vec::new)));
                continue;
            }
            // One read takes at most READ_BUDGET, so a consumer asking for
            // huge partitions does not wait for the whole budget to be free.
            let limit = (r.max_bytes.max(0) as usize)
                .min(remaining)
                .min(READ_BUDGET);
            // Budget for the bytes about to be read: only the first read
            // waits for it; a later one is left out if it is not free now.
            let before = held.bytes();
            let want = limit.max(1);
            if !any_records {
                broker.budget.grow(&mut held, want).await;
            } else if !broker.budget.try_grow(&mut held, want) {
                out.push(data);
                remaining = 0;
                continue;
            }
            // The newest batches come from memory; older ones from SQLite.
            let read = match p.tail.read(r.fetch_offset, end, limit, !any_records) {
                Some(records) => Ok(records),
                None => {
                    broker
                        .storage
                        .read_batches(p.db_id, r.fetch_offset, end, limit, !any_records)
                        .await
                }
            };
            // read_committed: the aborted transactions the records overlap,
            // which the client uses to drop their records.
            let read = match read {
                Ok(records) if read_committed => {
                    let upto = batch::end_of_set(&records).unwrap_or(r.fetch_offset);
                    aborted_in(broker, p, r.fetch_offset, upto)
                        .await
                        .map(|list| (records, Some(list)))
                }
                read => read.map(|records| (records, None)),
            };
            match read {
                Ok((records, aborted)) => {
                    if !records.is_empty() {
                        let label = TopicLabel {
                            topic: name.clone(),
                        };
                        let m = &broker.metrics;
                        m.bytes_out
                            .get_or_create(&label)
                            .inc_by(records.len() as u64);
                        m.records_out
                            .get_or_create(&label)
                            .inc_by(batch::records_in_set(&records));
                    }
                    held.shrink_to(before + records.len());
                    remaining = remaining.saturating_sub(records.len());
                    any_records |= !records.is_empty();
                    out.push(
                        data.with_records(Some(records))
                            .with_aborted_transactions(aborted),
                    );
                }
                Err(e) => {
                    held.shrink_to(before);
                    error!(topic = %name, partition = r.index, error = %e, "fetch read failed");
                    out.push(data.with_error_code(ResponseError::KafkaStorageError.code()));
                }
            }
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(TopicName(str(name)))
                .with_partitions(out),
        );
    }
    (FetchResponse::default().with_responses(topics), held)
}
