//! The newest committed batches of each partition, kept in memory so that a
//! consumer at the end of a log is served without reading SQLite. With the
//! rollback journal a database read waits for a commit in progress (see
//! `storage/busy.rs`); a tail read never does. Batches are held in their
//! served form (base offset and leader epoch filled in), so a fetch of one
//! batch is a reference count, not a copy.
//!
//! Bounded twice: at most `PARTITION_BYTES` per partition (the oldest go
//! first) and `TOTAL_BYTES` over all partitions (a batch that would pass it
//! empties its partition's tail instead, whose readers go to SQLite). The
//! held batches are always contiguous and end at the newest committed one,
//! so a read the tail can answer gets exactly what SQLite would return.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};

/// The most one partition holds.
pub const PARTITION_BYTES: usize = 1024 * 1024;
/// The most all partitions hold together.
pub const TOTAL_BYTES: usize = 8 * 1024 * 1024;

/// Bytes held by every tail in the process.
static TOTAL: AtomicUsize = AtomicUsize::new(0);

struct Entry {
    base_offset: i64,
    /// One past the batch's last offset.
    end_offset: i64,
    data: Bytes,
}

#[derive(Default)]
struct Held {
    batches: VecDeque<Entry>,
    bytes: usize,
}

impl Held {
    fn pop_front(&mut self) {
        if let Some(e) = self.batches.pop_front() {
            self.bytes -= e.data.len();
            TOTAL.fetch_sub(e.data.len(), Ordering::Relaxed);
        }
    }

    fn clear(&mut self) {
        while !self.batches.is_empty() {
            self.pop_front();
        }
    }
}

/// One partition's tail.
#[derive(Default)]
pub struct Tail {
    held: Mutex<Held>,
}

impl Tail {
    /// Adds a committed batch covering `base_offset..end_offset`, in served
    /// form. Called by the storage writer after the commit and before the
    /// high watermark moves past it.
    pub fn push(&self, base_offset: i64, end_offset: i64, data: Bytes) {
        let len = data.len();
        let mut held = self.held.lock().expect("tail lock");
        if held
            .batches
            .back()
            .is_some_and(|e| e.end_offset != base_offset)
        {
            held.clear();
        }
        if len > PARTITION_BYTES {
            held.clear();
            return;
        }
        while held.bytes + len > PARTITION_BYTES {
            held.pop_front();
        }
        if TOTAL.fetch_add(len, Ordering::Relaxed) + len > TOTAL_BYTES {
            TOTAL.fetch_sub(len, Ordering::Relaxed);
            held.clear();
            return;
        }
        held.bytes += len;
        held.batches.push_back(Entry {
            base_offset,
            end_offset,
            data,
        });
    }

    /// Drops everything held (the partition is deleted).
    pub fn clear(&self) {
        self.held.lock().expect("tail lock").clear();
    }

    /// The batches from the one holding `offset`, below `high_watermark`,
    /// up to `max_bytes` (with `first_always` the first even if larger), as
    /// `storage::read_batches` gives them; None if the tail does not hold
    /// `offset`.
    pub fn read(
        &self,
        offset: i64,
        high_watermark: i64,
        max_bytes: usize,
        first_always: bool,
    ) -> Option<Bytes> {
        let held = self.held.lock().expect("tail lock");
        if held.batches.front()?.base_offset > offset {
            return None;
        }
        let start = held.batches.partition_point(|e| e.end_offset <= offset);
        let mut chosen: Vec<&Bytes> = Vec::new();
        let mut len = 0;
        for e in held.batches.range(start..) {
            if e.end_offset > high_watermark {
                break;
            }
            if (len > 0 || !first_always) && len + e.data.len() > max_bytes {
                break;
            }
            len += e.data.len();
            chosen.push(&e.data);
            if len >= max_bytes {
                break;
            }
        }
        Some(match chosen.as_slice() {
            [] => Bytes::new(),
            [one] => (*one).clone(),
            many => {
                let mut out = BytesMut::with_capacity(len);
                for b in many {
                    out.extend_from_slice(b);
                }
                out.freeze()
            }
        })
    }
}

impl std::fmt::Debug for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.held.lock().expect("tail lock");
        f.debug_struct("Tail")
            .field("batches", &held.batches.len())
            .field("bytes", &held.bytes)
            .finish()
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.held.get_mut().expect("tail lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(batches: &[(i64, i64, usize)]) -> Tail {
        let t = Tail::default();
        for &(base, end, len) in batches {
            t.push(base, end, Bytes::from(vec![base as u8; len]));
        }
        t
    }

    #[test]
    fn reads_what_the_database_would_return_or_nothing() {
        let t = tail_of(&[(10, 20, 100), (20, 25, 50), (25, 40, 100)]);
        // Below the tail: the database answers.
        assert!(t.read(9, 40, 1000, true).is_none());
        // An offset inside a batch gets the whole batch, then the next.
        assert_eq!(t.read(22, 40, 1000, true).unwrap().len(), 150);
        // Limits: the first batch always when asked, then whole batches.
        assert_eq!(t.read(10, 40, 120, true).unwrap().len(), 100);
        assert_eq!(t.read(10, 40, 10, true).unwrap().len(), 100);
        assert_eq!(t.read(10, 40, 10, false).unwrap().len(), 0);
        // Nothing past the high watermark.
        assert_eq!(t.read(10, 25, 1000, true).unwrap().len(), 150);
        // At the end: empty, as the database would be.
        assert_eq!(t.read(40, 40, 1000, true).unwrap().len(), 0);
    }

    #[test]
    fn stays_contiguous_and_within_its_bounds() {
        let t = tail_of(&[(0, 10, 600 * 1024), (10, 20, 600 * 1024)]);
        // The older batch went to keep the partition within 1 MiB.
        assert!(t.read(0, 20, usize::MAX, true).is_none());
        assert_eq!(t.read(10, 20, usize::MAX, true).unwrap().len(), 600 * 1024);
        // A gap (a batch the tail never saw) empties it.
        t.push(30, 31, Bytes::from_static(b"x"));
        assert!(t.read(10, 31, usize::MAX, true).is_none());
        assert_eq!(t.read(30, 31, usize::MAX, true).unwrap().len(), 1);
        // A batch larger than the partition's bound is not held.
        t.push(31, 32, Bytes::from(vec![0; PARTITION_BYTES + 1]));
        assert!(t.read(31, 32, usize::MAX, true).is_none());
    }
}
