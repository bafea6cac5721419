//! What the rest of the broker reads about transactions (KIP-98), as the
//! storage writer last committed them: each transactional id's producer id,
//! epoch, state, partitions and pending group offsets (`Transactions`, for
//! DescribeTransactions, ListTransactions, OffsetFetch's `require_stable`
//! and the timeout check), and each partition's newest aborted
//! transactions (`AbortIndex`, for read_committed fetches).
//!
//! The writer (`storage/txn.rs`) owns the rules and the file; these are
//! copies published after each commit, so a reader never sees a
//! transaction state that a crash could take back.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

/// A transaction's state as Kafka names it (DescribeTransactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    Empty,
    Ongoing,
    CompleteCommit,
    CompleteAbort,
}

impl TxnState {
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }
    pub fn code(self) -> i64 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::CompleteCommit => 2,
            TxnState::CompleteAbort => 3,
        }
    }
    pub fn from_code(code: i64) -> TxnState {
        match code {
            1 => TxnState::Ongoing,
            2 => TxnState::CompleteCommit,
            3 => TxnState::CompleteAbort,
            _ => TxnState::Empty,
        }
    }
}

/// One transactional id as committed.
#[derive(Debug, Clone)]
pub struct TxnSummary {
    pub producer_id: i64,
    pub epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// When the ongoing transaction began (its first AddPartitions or
    /// AddOffsets), else -1.
    pub started_ms: i64,
    /// The topic partitions in the transaction.
    pub partitions: Vec<(String, i32)>,
    /// (group, topic, partition) of offsets committed in the transaction
    /// and not yet visible.
    pub pending: BTreeSet<(String, String, i32)>,
}

/// Every transactional id, as committed.
#[derive(Debug, Default)]
pub struct Transactions {
    map: Mutex<HashMap<String, TxnSummary>>,
}

impl Transactions {
    /// Publishes one id's committed state (None: forgotten).
    pub fn publish(&self, id: &str, summary: Option<TxnSummary>) {
        let mut map = self.map.lock().expect("transactions lock");
        match summary {
            Some(s) => {
                map.insert(id.to_string(), s);
            }
            None => {
                map.remove(id);
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<TxnSummary> {
        self.map.lock().expect("transactions lock").get(id).cloned()
    }

    /// Every id with its state, sorted by id.
    pub fn list(&self) -> Vec<(String, TxnSummary)> {
        let map = self.map.lock().expect("transactions lock");
        let mut out: Vec<_> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Whether some ongoing transaction has outlived its timeout at `now_ms`.
    pub fn any_expired(&self, now_ms: i64) -> bool {
        self.map
            .lock()
            .expect("transactions lock")
            .values()
            .any(|t| expired(t.state, t.started_ms, t.timeout_ms, now_ms))
    }

    /// Whether an open transaction holds an offset of this group for this
    /// partition (OffsetFetch `require_stable`: UNSTABLE_OFFSET_COMMIT).
    pub fn unstable(&self, group: &str, topic: &str, partition: i32) -> bool {
        let key = (group.to_string(), topic.to_string(), partition);
        self.map
            .lock()
            .expect("transactions lock")
            .values()
            .any(|t| t.pending.contains(&key))
    }
}

/// How often the timeout watch looks for transactions past their timeout.
const TIMEOUT_CHECK: std::time::Duration = std::time::Duration::from_millis(500);
/// How often idle transactional ids are looked for (and forgotten past
/// `SKIFF_TRANSACTIONAL_ID_EXPIRATION_MS`).
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(3600);

/// Aborts transactions past their `transaction.timeout.ms` (fencing their
/// producers), as Kafka's coordinator does; looks at memory only, and asks
/// the writer only when one has expired (and hourly, for idle ids).
pub async fn watch_timeouts(broker: std::sync::Arc<crate::broker::Broker>) {
    let mut last_idle = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            _ = tokio::time::sleep(TIMEOUT_CHECK) => {}
        }
        let now = crate::clock::now_ms();
        let idle_due = last_idle.elapsed() >= IDLE_CHECK;
        if !idle_due && !broker.catalog.transactions.any_expired(now) {
            continue;
        }
        if idle_due {
            last_idle = tokio::time::Instant::now();
        }
        let expiration = broker.config.transactional_id_expiration_ms;
        if let Err(e) = broker.storage.txn_expire(now, expiration).await {
            tracing::warn!(error = %e, "aborting timed-out transactions failed; retrying");
        }
    }
}

/// Whether a transaction in `state`, begun at `started_ms`, has timed out.
pub fn expired(state: TxnState, started_ms: i64, timeout_ms: i32, now_ms: i64) -> bool {
    state == TxnState::Ongoing
        && started_ms >= 0
        && now_ms.saturating_sub(started_ms) > i64::from(timeout_ms)
}

/// An aborted transaction on a partition: the producer and the offsets
/// from its first batch to its ABORT marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aborted {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// How many aborted transactions each partition keeps in memory; older
/// ones are read from the file.
pub const ABORTS_IN_MEMORY: usize = 256;

#[derive(Debug, Default)]
struct Held {
    recent: VecDeque<Aborted>,
    /// Every abort whose marker is at or after this offset is in `recent`.
    complete_from: i64,
}

/// A partition's newest aborted transactions, in marker order.
#[derive(Debug, Default)]
pub struct AbortIndex {
    held: Mutex<Held>,
}

impl AbortIndex {
    /// Loads the newest aborts (at most `ABORTS_IN_MEMORY`, oldest first);
    /// `complete` says whether they are all the partition has.
    pub fn load(&self, newest: Vec<Aborted>, complete: bool) {
        let mut held = self.held.lock().expect("abort index lock");
        held.complete_from = if complete {
            0
        } else {
            newest.first().map_or(0, |a| a.last_offset)
        };
        held.recent = newest.into();
    }

    /// Adds an abort (writer only, after its marker committed).
    pub fn push(&self, aborted: Aborted) {
        let mut held = self.held.lock().expect("abort index lock");
        held.recent.push_back(aborted);
        if held.recent.len() > ABORTS_IN_MEMORY {
            if let Some(old) = held.recent.pop_front() {
                held.complete_from = old.last_offset + 1;
            }
        }
    }

    /// Forgets aborts whose marker is below the log start.
    pub fn truncate(&self, log_start: i64) {
        let mut held = self.held.lock().expect("abort index lock");
        while held
            .recent
            .front()
            .is_some_and(|a| a.last_offset < log_start)
        {
            held.recent.pop_front();
        }
    }

    /// The aborts overlapping `from..to` (marker at or after `from`, first
    /// batch before `to`), or None when older ones may be missing from
    /// memory (the caller asks the file).
    pub fn overlapping(&self, from: i64, to: i64) -> Option<Vec<Aborted>> {
        let held = self.held.lock().expect("abort index lock");
        if from < held.complete_from {
            return None;
        }
        Some(
            held.recent
                .iter()
                .filter(|a| a.last_offset >= from && a.first_offset < to)
                .copied()
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(first: i64, last: i64) -> Aborted {
        Aborted {
            producer_id: 7,
            first_offset: first,
            last_offset: last,
        }
    }

    #[test]
    fn overlapping_aborts_and_the_memory_bound() {
        let idx = AbortIndex::default();
        idx.load(vec![a(0, 2), a(5, 9)], true);
        assert_eq!(idx.overlapping(3, 100), Some(vec![a(5, 9)]));
        assert_eq!(idx.overlapping(0, 1), Some(vec![a(0, 2)]));
        assert_eq!(idx.overlapping(10, 100), Some(vec![]));
        for i in 0..ABORTS_IN_MEMORY as i64 {
            idx.push(a(100 + 2 * i, 101 + 2 * i));
        }
        // The two oldest fell out: a fetch from before them asks the file.
        assert_eq!(idx.overlapping(0, 10), None);
        assert!(idx.overlapping(101, 102).is_some());
    }

    #[test]
    fn timeouts_count_from_the_start_of_an_ongoing_transaction() {
        assert!(expired(TxnState::Ongoing, 1_000, 500, 1_501));
        assert!(!expired(TxnState::Ongoing, 1_000, 500, 1_500));
        assert!(!expired(TxnState::CompleteCommit, 1_000, 500, 9_000));
    }
}
