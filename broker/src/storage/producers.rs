//! Idempotent-producer bookkeeping, per partition: for each producer id its
//! epoch and its last few batches' sequence ranges, with Kafka's rules for
//! what an incoming batch is.
//!
//! - a retry of one of the last `RECENT` batches is a duplicate: it is
//!   acknowledged with its original offset and not stored again;
//! - a batch must continue the sequence (last + 1, wrapping at i32::MAX),
//!   otherwise OUT_OF_ORDER_SEQUENCE_NUMBER;
//! - a new epoch must start at sequence 0; an older epoch is fenced
//!   (INVALID_PRODUCER_EPOCH);
//! - a producer Skiff knows nothing about (new, or its state was lost) may
//!   start at any sequence, as Kafka allows.
//!
//! A producer's state is dropped once it has not written for
//! `SKIFF_PRODUCER_ID_EXPIRATION_MS` (Kafka's producer.id.expiration.ms), so
//! producer ids taken from batch headers cannot accumulate.

use std::collections::{HashMap, VecDeque};

use crate::batch::BatchHeader;

/// How many recent batches per producer are remembered for duplicates
/// (Kafka's max.in.flight.requests.per.connection limit for idempotence).
pub const RECENT: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentBatch {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ProducerEntry {
    pub epoch: i16,
    /// When it last wrote (ms since the epoch).
    pub last_ms: i64,
    pub recent: VecDeque<RecentBatch>,
}

/// What to do with an incoming idempotent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Append,
    Duplicate { base_offset: i64 },
    OutOfOrder,
    Fenced,
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

/// The producers of one partition.
#[derive(Debug, Clone, Default)]
pub struct Producers {
    entries: HashMap<i64, ProducerEntry>,
}

impl Producers {
    pub fn restore(&mut self, producer_id: i64, epoch: i16, last: RecentBatch, last_ms: i64) {
        let entry = self.entries.entry(producer_id).or_default();
        entry.epoch = epoch;
        entry.last_ms = entry.last_ms.max(last_ms);
        entry.recent.push_back(last);
        while entry.recent.len() > RECENT {
            entry.recent.pop_front();
        }
    }

    pub fn check(&self, b: &BatchHeader) -> Verdict {
        let Some(entry) = self.entries.get(&b.producer_id) else {
            return Verdict::Append;
        };
        if b.producer_epoch < entry.epoch {
            return Verdict::Fenced;
        }
        if b.producer_epoch > entry.epoch {
            return if b.base_sequence == 0 {
                Verdict::Append
            } else {
                Verdict::OutOfOrder
            };
        }
        let last = b.last_sequence();
        if let Some(dup) = entry
            .recent
            .iter()
            .find(|r| r.first_seq == b.base_sequence && r.last_seq == last)
        {
            return Verdict::Duplicate {
                base_offset: dup.base_offset,
            };
        }
        match entry.recent.back() {
            Some(prev) if next_seq(prev.last_seq) != b.base_sequence => Verdict::OutOfOrder,
            _ => Verdict::Append,
        }
    }

    /// Records an appended batch (call only after `check` said `Append`).
    pub fn record(&mut self, b: &BatchHeader, base_offset: i64, now_ms: i64) -> RecentBatch {
        let entry = self.entries.entry(b.producer_id).or_default();
        entry.last_ms = now_ms;
        if entry.epoch != b.producer_epoch {
            entry.recent.clear();
            entry.epoch = b.producer_epoch;
        }
        let recent = RecentBatch {
            first_seq: b.base_sequence,
            last_seq: b.last_sequence(),
            base_offset,
        };
        entry.recent.push_back(recent);
        while entry.recent.len() > RECENT {
            entry.recent.pop_front();
        }
        recent
    }
}

impl Producers {
    /// A transaction marker of this producer was written at `epoch`: a
    /// newer epoch fences the older one and restarts its sequence (the
    /// same epoch continues it, as Kafka).
    pub fn marker(&mut self, producer_id: i64, epoch: i16, now_ms: i64) {
        let entry = self.entries.entry(producer_id).or_default();
        if epoch > entry.epoch || entry.recent.is_empty() {
            if epoch != entry.epoch {
                entry.recent.clear();
            }
            entry.epoch = epoch;
        }
        entry.last_ms = now_ms;
    }

    /// Drops the producers that last wrote before `cutoff_ms`; answers how
    /// many went.
    pub fn expire(&mut self, cutoff_ms: i64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| e.last_ms >= cutoff_ms);
        if self.entries.len() < before / 2 {
            self.entries.shrink_to_fit();
        }
        before - self.entries.len()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every producer's last write time, appended to `out`.
    pub fn last_writes(&self, out: &mut Vec<i64>) {
        out.extend(self.entries.values().map(|e| e.last_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::make_batch;

    fn header(pid: i64, epoch: i16, seq: i32, n: usize) -> BatchHeader {
        let values: Vec<&[u8]> = vec![b"x"; n];
        BatchHeader::parse(&make_batch(&values, 0, Some((pid, epoch, seq)))).unwrap()
    }

    #[test]
    fn in_order_duplicate_and_out_of_order() {
        let mut p = Producers::default();
        let b0 = header(7, 0, 0, 3);
        assert_eq!(p.check(&b0), Verdict::Append);
        p.record(&b0, 100, 0);
        assert_eq!(p.check(&b0), Verdict::Duplicate { base_offset: 100 });
        let b1 = header(7, 0, 3, 2);
        assert_eq!(p.check(&b1), Verdict::Append);
        p.record(&b1, 103, 0);
        assert_eq!(p.check(&header(7, 0, 9, 1)), Verdict::OutOfOrder);
        assert_eq!(
            p.check(&header(7, 0, 3, 2)),
            Verdict::Duplicate { base_offset: 103 }
        );
    }

    #[test]
    fn epochs() {
        let mut p = Producers::default();
        p.record(&header(7, 1, 0, 1), 0, 0);
        assert_eq!(p.check(&header(7, 0, 1, 1)), Verdict::Fenced);
        assert_eq!(p.check(&header(7, 2, 5, 1)), Verdict::OutOfOrder);
        assert_eq!(p.check(&header(7, 2, 0, 1)), Verdict::Append);
    }

    #[test]
    fn producers_silent_past_the_expiration_are_forgotten() {
        let mut p = Producers::default();
        p.record(&header(7, 0, 0, 1), 0, 1_000);
        p.record(&header(8, 0, 0, 1), 1, 5_000);
        assert_eq!(p.expire(2_000), 1);
        assert_eq!(p.len(), 1);
        // Forgotten: producer 7 may start anywhere again, 8 may not.
        assert_eq!(p.check(&header(7, 0, 42, 1)), Verdict::Append);
        assert_eq!(p.check(&header(8, 0, 42, 1)), Verdict::OutOfOrder);
    }

    #[test]
    fn unknown_producer_may_start_anywhere() {
        let p = Producers::default();
        assert_eq!(p.check(&header(9, 0, 42, 1)), Verdict::Append);
    }
}
