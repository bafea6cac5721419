//! The producer of `skiff perf produce`: batches of up to `batch_bytes`
//! (one partition each, partitions in turn), up to `inflight` Produce
//! requests on the wire at once, paced to `--rate`.
//!
//! Two futures share the connection's halves in one task: the sender
//! builds and writes requests while it holds an in-flight permit; the
//! receiver reads the answers in order, checks every partition's error
//! code, records each batch's latency for all its records and returns the
//! permit. The first error stops both.
//!
//! Latency is per record, from the moment its batch is built (or, with
//! `--rate`, from the moment it was due, so a broker that falls behind the
//! pace shows up as latency instead of a silently lower rate) to the
//! broker's acknowledgement. With acks=0 there is no acknowledgement: no
//! latency, and the count is confirmed from the end offsets afterwards.

use super::stats::{unix_now, Latency, Outcome};
use kafka_client::admin::produce_request;
use kafka_client::api::{Produce, LATEST};
use kafka_client::records::{record_size, BatchBuilder, BATCH_HEADER};
use kafka_client::{Connection, Error, KafkaError, Ticket};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

/// How long the broker may take to acknowledge (Kafka's request.timeout.ms).
const PRODUCE_TIMEOUT_MS: i32 = 30_000;
/// With `--rate`, a batch holds about this much time's worth of records
/// (Kafka's default linger is 5 ms).
const PACED_BATCH: Duration = Duration::from_millis(5);
/// How long acks=0 waits for the end offsets to show every record.
const CONFIRM_WAIT: Duration = Duration::from_secs(10);

pub struct Settings {
    pub topic: String,
    pub partitions: Vec<i32>,
    pub records: u64,
    pub size: usize,
    /// Records per second.
    pub rate: Option<u64>,
    /// -1 (all), 1 or 0.
    pub acks: i16,
    pub batch_bytes: usize,
    pub inflight: usize,
}

impl Settings {
    /// Records per batch: as many as fit `batch_bytes` (at least one), or
    /// about 5 ms worth at `--rate`.
    pub fn records_per_batch(&self) -> u64 {
        let per_record = record_size(i32::MAX, None, Some(self.size)) as u64;
        let fit = (self.batch_bytes.saturating_sub(BATCH_HEADER) as u64 / per_record).max(1);
        let paced = self
            .rate
            .map(|r| ((r as f64 * PACED_BATCH.as_secs_f64()).ceil() as u64).max(1))
            .unwrap_or(u64::MAX);
        fit.min(paced).min(self.records.max(1))
    }
}

/// A record value of `size` bytes: uppercase letters from a fixed
/// xorshift sequence (what `kafka-producer-perf-test` sends, more or less).
pub fn payload(size: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b'A' + (x % 26) as u8
        })
        .collect()
}

struct InFlight {
    ticket: Ticket,
    records: u64,
    origin: Instant,
}

/// Produces `s.records` records; `progress` sees the running count.
pub async fn run(
    mut conn: Connection,
    s: &Settings,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Outcome, Error> {
    let value = payload(s.size);
    let per_batch = s.records_per_batch();
    let before = if s.acks == 0 {
        Some(conn.list_offsets(&s.topic, &s.partitions, LATEST).await?)
    } else {
        None
    };
    let (mut writer, mut reader) = conn.split();
    let permits = Semaphore::new(s.inflight.max(1));
    let (tx, mut rx) = mpsc::unbounded_channel::<InFlight>();
    let started = unix_now();
    let start = Instant::now();
    let mut requests = 0u64;

    let send = async {
        let mut sent = 0u64;
        let mut partitions: VecDeque<i32> = s.partitions.iter().copied().collect();
        while sent < s.records {
            let n = per_batch.min(s.records - sent);
            super::pace(s.rate, start, sent).await;
            let origin = super::due(s.rate, start, sent).unwrap_or_else(Instant::now);
            if s.acks != 0 {
                permits
                    .acquire()
                    .await
                    .map_err(|_| Error::Invalid("the producer stopped".into()))?
                    .forget();
            }
            let mut batch = BatchBuilder::new(
                (unix_now() * 1000.0) as i64,
                BATCH_HEADER + n as usize * (value.len() + 16),
            );
            for _ in 0..n {
                batch.push(None, Some(&value));
            }
            let partition = partitions.front().copied().unwrap_or(0);
            partitions.rotate_left(1.min(partitions.len()));
            let req = produce_request(
                &s.topic,
                partition,
                s.acks,
                PRODUCE_TIMEOUT_MS,
                batch.finish(),
            );
            let ticket = writer.send::<Produce>(&req).await?;
            requests += 1;
            sent += n;
            if s.acks == 0 {
                progress(sent);
            } else {
                // The receiver outlives the sender; a send fails only if it
                // stopped on an error, which try_join reports.
                let _ = tx.send(InFlight {
                    ticket,
                    records: n,
                    origin,
                });
            }
        }
        drop(tx);
        Ok::<_, Error>(sent)
    };

    let receive = async {
        let mut latency = Latency::new();
        let mut acked = 0u64;
        let mut throttled_ms = 0u64;
        while let Some(f) = rx.recv().await {
            let answer = match reader.recv::<Produce>(f.ticket).await {
                Ok(a) => a,
                Err(e) => {
                    permits.close();
                    return Err(e);
                }
            };
            latency.record(f.origin.elapsed(), f.records);
            throttled_ms += answer.throttle_time_ms.max(0) as u64;
            for t in &answer.topics {
                for p in &t.partitions {
                    if let Err(error) = KafkaError::check(p.error_code, p.error_message.clone()) {
                        permits.close();
                        return Err(Error::Broker {
                            what: format!("produce to '{}' partition {}", t.name, p.index),
                            error,
                        });
                    }
                }
            }
            acked += f.records;
            progress(acked);
            permits.add_permits(1);
        }
        Ok((latency, acked, throttled_ms))
    };

    let (sent, (latency, acked, throttled_ms)) = tokio::try_join!(send, receive)?;
    let elapsed = start.elapsed();
    let ended = unix_now();
    let mut conn = Connection::unsplit(writer, reader);
    let confirmed = match before {
        Some(before) => Some(confirm(&mut conn, s, &before, sent).await?),
        None => None,
    };
    let records = if s.acks == 0 { sent } else { acked };
    Ok(Outcome {
        records,
        bytes: records * s.size as u64,
        elapsed,
        started,
        ended,
        latency: latency.summary(),
        requests,
        throttled_ms,
        confirmed,
    })
}

/// acks=0: how many records the end offsets moved by, waiting a little for
/// the broker to commit what it has read.
async fn confirm(
    conn: &mut Connection,
    s: &Settings,
    before: &[i64],
    sent: u64,
) -> Result<u64, Error> {
    let deadline = Instant::now() + CONFIRM_WAIT;
    loop {
        let now = conn.list_offsets(&s.topic, &s.partitions, LATEST).await?;
        let moved: i64 = now.iter().zip(before).map(|(n, b)| n - b).sum();
        let moved = moved.max(0) as u64;
        if moved >= sent || Instant::now() >= deadline {
            return Ok(moved);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(size: usize, batch_bytes: usize, rate: Option<u64>, records: u64) -> Settings {
        Settings {
            topic: "t".into(),
            partitions: vec![0],
            records,
            size,
            rate,
            acks: -1,
            batch_bytes,
            inflight: 5,
        }
    }

    #[test]
    fn batches_fill_the_byte_budget_or_5_ms_of_the_rate() {
        // A 1024-byte value takes 13 more with the longest offset delta:
        // length 2, attributes 1, timestamp delta 1, offset delta 5, null
        // key 1, value length 2, header count 1.
        let per = record_size(i32::MAX, None, Some(1024)) as u64;
        assert_eq!(per, 1024 + 13);
        assert_eq!(
            settings(1024, 65536, None, 1_000_000).records_per_batch(),
            (65536 - 61) / per
        );
        // A record larger than the batch budget still goes, alone.
        assert_eq!(settings(100_000, 65536, None, 10).records_per_batch(), 1);
        // 1000/s: 5 per batch; 10/s: 1.
        assert_eq!(
            settings(100, 65536, Some(1000), 1_000_000).records_per_batch(),
            5
        );
        assert_eq!(
            settings(100, 65536, Some(10), 1_000_000).records_per_batch(),
            1
        );
        // Never more than asked for.
        assert_eq!(settings(10, 65536, None, 3).records_per_batch(), 3);
    }

    #[test]
    fn payload_is_letters_of_the_size_asked() {
        let p = payload(1000);
        assert_eq!(p.len(), 1000);
        assert!(p.iter().all(u8::is_ascii_uppercase));
        assert!(payload(0).is_empty());
    }
}
