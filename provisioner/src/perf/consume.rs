//! The consumer of `skiff perf consume`: reads a topic from its log start,
//! one Fetch per partition in flight and up to `inflight` in all (a
//! partition's next offset is known only from its last answer), paced to
//! `--rate`.
//!
//! Fetched record sets are walked by batch header only
//! (`kafka_client::records::batches`: CRC32C checked, nothing
//! decompressed), so the client does no per-record work. Records before
//! the requested offset in a first batch are not counted. Without
//! `--records` it stops at the end offsets the topic had when it started;
//! with it, it waits for more until `idle_timeout` passes without a new
//! record. Latency here is each Fetch's round trip.

use super::stats::{unix_now, Latency, Outcome};
use kafka_client::admin::fetch_request;
use kafka_client::api::{Fetch, EARLIEST, LATEST};
use kafka_client::records::batches;
use kafka_client::{Connection, Error, KafkaError, Ticket};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long the broker holds a fetch that finds nothing new.
const MAX_WAIT_MS: i32 = 500;

pub struct Settings {
    pub topic: String,
    pub partitions: Vec<i32>,
    /// `None`: what the topic holds when the run starts.
    pub records: Option<u64>,
    pub rate: Option<u64>,
    pub inflight: usize,
    pub fetch_bytes: i32,
    pub idle_timeout: Duration,
}

struct Part {
    index: i32,
    next: i64,
    end: i64,
    busy: bool,
}

/// The records of a fetched set from `from` on: (records, bytes, next
/// offset).
fn count(records: &[u8], from: i64) -> Result<(u64, u64, Option<i64>), String> {
    let (mut n, mut bytes, mut next) = (0u64, 0u64, None);
    for b in batches(records) {
        let b = b.map_err(|e| e.to_string())?;
        next = Some(b.last_offset + 1);
        if b.last_offset < from {
            continue;
        }
        let span = (b.last_offset - b.base_offset.max(from) + 1) as u64;
        n += span.min(b.records as u64);
        bytes += b.bytes as u64;
    }
    Ok((n, bytes, next))
}

/// What `run` reads and the reason it stopped short, if it did.
pub struct Consumed {
    pub outcome: Outcome,
    /// Records wanted, when fewer arrived before `idle_timeout`.
    pub short_of: Option<u64>,
}

pub async fn run(
    mut conn: Connection,
    s: &Settings,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Consumed, Error> {
    let starts = conn.list_offsets(&s.topic, &s.partitions, EARLIEST).await?;
    let ends = conn.list_offsets(&s.topic, &s.partitions, LATEST).await?;
    let available: i64 = starts.iter().zip(&ends).map(|(a, b)| (b - a).max(0)).sum();
    let target = s.records.unwrap_or(available as u64);
    if target == 0 {
        return Err(Error::Invalid(format!(
            "topic '{}' has no records to consume; `skiff perf produce --topic {}` writes some",
            s.topic, s.topic
        )));
    }
    let follow = s.records.is_some();
    let mut parts: Vec<Part> = s
        .partitions
        .iter()
        .zip(starts.iter().zip(&ends))
        .map(|(p, (a, b))| Part {
            index: *p,
            next: *a,
            end: *b,
            busy: false,
        })
        .collect();
    let (mut writer, mut reader) = conn.split();
    let mut queue: VecDeque<(Ticket, usize, Instant, i64)> = VecDeque::new();
    let mut latency = Latency::new();
    let (mut consumed, mut bytes, mut requests, mut throttled_ms) = (0u64, 0u64, 0u64, 0u64);
    let started = unix_now();
    let start = Instant::now();
    let mut last_progress = Instant::now();
    let mut turn = 0usize;

    while consumed < target {
        // Keep up to `inflight` fetches out, one per partition.
        while queue.len() < s.inflight.max(1)
            && super::due(s.rate, start, consumed).is_none_or(|d| d <= Instant::now())
        {
            let n = parts.len();
            let Some(i) = (0..n)
                .map(|k| (turn + k) % n)
                .find(|i| !parts[*i].busy && (follow || parts[*i].next < parts[*i].end))
            else {
                break;
            };
            turn = i + 1;
            let p = &mut parts[i];
            let req = fetch_request(
                &s.topic,
                &[(p.index, p.next)],
                MAX_WAIT_MS,
                s.fetch_bytes,
                s.fetch_bytes,
            );
            let ticket = writer.send::<Fetch>(&req).await?;
            p.busy = true;
            requests += 1;
            queue.push_back((ticket, i, Instant::now(), p.next));
        }
        let Some((ticket, i, sent, from)) = queue.pop_front() else {
            if parts.iter().all(|p| p.next >= p.end) && !follow {
                break;
            }
            // Ahead of --rate: wait for the pace.
            super::pace(s.rate, start, consumed).await;
            continue;
        };
        let answer = reader.recv::<Fetch>(ticket).await?;
        latency.record(sent.elapsed(), 1);
        throttled_ms += answer.throttle_time_ms.max(0) as u64;
        let p = &mut parts[i];
        p.busy = false;
        let data = answer
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .find(|d| d.index == p.index)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "the Fetch answer lacks partition {} of '{}'",
                    p.index, s.topic
                ))
            })?;
        KafkaError::check(data.error_code, None).map_err(|error| Error::Broker {
            what: format!(
                "fetch from '{}' partition {} at offset {from}",
                s.topic, p.index
            ),
            error,
        })?;
        let (n, b, next) = count(&data.records, from)
            .map_err(|e| Error::Invalid(format!("'{}' partition {}: {e}", s.topic, p.index)))?;
        match next {
            Some(next) if next > p.next => p.next = next,
            Some(_) => {}
            None if !data.records.is_empty() => {
                return Err(Error::Invalid(format!(
                    "'{}' partition {} at offset {from}: a record batch is larger than --fetch-bytes {}",
                    s.topic, p.index, s.fetch_bytes
                )))
            }
            None => {}
        }
        if n > 0 {
            consumed += n;
            bytes += b;
            last_progress = Instant::now();
            progress(consumed);
        } else if last_progress.elapsed() >= s.idle_timeout {
            break;
        }
    }
    let short_of = (consumed < target).then_some(target);
    Ok(Consumed {
        outcome: Outcome {
            records: consumed,
            bytes,
            elapsed: start.elapsed(),
            started,
            ended: unix_now(),
            latency: latency.summary(),
            requests,
            throttled_ms,
            confirmed: None,
        },
        short_of,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_client::records::BatchBuilder;

    fn batch(base: i64, n: usize) -> Vec<u8> {
        let mut b = BatchBuilder::new(0, 256);
        for _ in 0..n {
            b.push(None, Some(b"v"));
        }
        let mut v = b.finish().to_vec();
        v[0..8].copy_from_slice(&base.to_be_bytes());
        v
    }

    #[test]
    fn counting_skips_offsets_before_the_fetch_and_stops_at_a_cut() {
        let mut set = batch(0, 5);
        let first = set.len() as u64;
        set.extend(batch(5, 3));
        // From offset 3: 2 of the first batch, 3 of the second.
        assert_eq!(
            count(&set, 3).unwrap(),
            (5, first + (set.len() as u64 - first), Some(8))
        );
        // From 6: the first batch is skipped.
        assert_eq!(count(&set, 6).unwrap().0, 2);
        // The second batch cut short: only the first counts.
        let cut = &set[..set.len() - 1];
        assert_eq!(count(cut, 0).unwrap(), (5, first, Some(5)));
        let mut bad = set.clone();
        bad[20] ^= 0xff;
        assert!(count(&bad, 0).unwrap_err().contains("CRC"));
    }
}
