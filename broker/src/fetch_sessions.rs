//! Incremental fetch sessions (KIP-227): a consumer of many partitions sends
//! its partition list once; later Fetch requests name only the partitions
//! whose fetch position moved (and those to forget), and the answers carry
//! only partitions with something new (records, an error, a moved high
//! watermark or log start). A consumer of 1,000 idle partitions then sends
//! and receives almost nothing per poll.
//!
//! Kafka's protocol, per (session id, epoch) of the request:
//! - (0, -1): no session, a full fetch (what librdkafka sends).
//! - (0 or X, 0): a full fetch that creates a session (closing X); the
//!   answer carries the new id, or 0 when the cache has no room.
//! - (X, -1): close X; a full fetch without a session.
//! - (X, n > 0): an incremental fetch of session X at epoch n: unknown X is
//!   FETCH_SESSION_ID_NOT_FOUND, another epoch INVALID_FETCH_SESSION_EPOCH
//!   (the client then starts over with a full fetch).
//!
//! Cost: a session keeps each partition resolved (its `Arc<Partition>`), so
//! an incremental fetch looks only at atomics to find the partitions with
//! news and reads and answers just those; while there are none it waits on
//! one process-wide notification (`catalog::ANY_APPEND`), not one per
//! partition.
//!
//! Bounds: at most `SKIFF_MAX_INCREMENTAL_FETCH_SESSION_CACHE_SLOTS`
//! sessions (Kafka's default 1000; the least recently used is evicted for a
//! new one) and [`MAX_CACHED_PARTITIONS`] partitions over all of them (a
//! session that would pass it is not created, or is closed, and its client
//! falls back to full fetches), so the cache's memory is bounded whatever
//! clients send.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::catalog::Partition;

use kafka_protocol::error::ResponseError;

/// Partitions cached over all sessions (about 100 bytes each).
pub const MAX_CACHED_PARTITIONS: usize = 200_000;

/// What the session remembers of one partition: the client's position and
/// limit, the high watermark and log start it was last told, and the
/// partition (`None`: it did not exist when added).
#[derive(Debug, Clone)]
pub struct Cached {
    pub fetch_offset: i64,
    pub max_bytes: i32,
    pub high_watermark: i64,
    pub log_start: i64,
    pub partition: Option<Arc<Partition>>,
    /// read_committed: records are news only below the last stable offset.
    pub read_committed: bool,
}

impl Cached {
    fn new(w: &Wanted, partition: Option<Arc<Partition>>) -> Self {
        Cached {
            fetch_offset: w.fetch_offset,
            max_bytes: w.max_bytes,
            high_watermark: i64::MIN,
            log_start: i64::MIN,
            partition,
            read_committed: w.read_committed,
        }
    }

    /// Whether the client has something to be told: records to read, a
    /// moved high watermark or log start, or an error (a partition that
    /// does not exist or was deleted).
    fn has_news(&self) -> bool {
        match &self.partition {
            Some(p) if !p.is_deleted() => {
                let hw = p.high_watermark();
                let readable = if self.read_committed {
                    self.fetch_offset < p.last_stable() || self.fetch_offset > hw
                } else {
                    self.fetch_offset != hw
                };
                readable || hw != self.high_watermark || p.log_start() != self.log_start
            }
            _ => true,
        }
    }
}

type Key = (String, i32);

#[derive(Debug)]
struct Session {
    /// The epoch the next incremental request must carry.
    next_epoch: i32,
    partitions: BTreeMap<Key, Cached>,
    last_used: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<i32, Session>,
    partitions: usize,
    next_id: i32,
}

impl Inner {
    fn remove(&mut self, id: i32) {
        if let Some(s) = self.sessions.remove(&id) {
            self.partitions -= s.partitions.len();
        }
    }

    fn fresh_id(&mut self) -> i32 {
        loop {
            self.next_id = self.next_id.wrapping_add(1);
            if self.next_id > 0 && !self.sessions.contains_key(&self.next_id) {
                return self.next_id;
            }
        }
    }
}

/// The broker's session cache.
#[derive(Debug)]
pub struct FetchSessions {
    slots: usize,
    inner: Mutex<Inner>,
}

/// How a Fetch request is served.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Every requested partition answered; `session_id` in the response
    /// (0: none).
    Full { session_id: i32 },
    /// The session's partitions with news (`candidates`) are fetched;
    /// the answer leaves out the others.
    Incremental { session_id: i32 },
    /// Answered with this top-level error and nothing else.
    Refused(i16),
}

/// A partition as a request lists it.
pub struct Wanted {
    pub topic: String,
    pub partition: i32,
    pub fetch_offset: i64,
    pub max_bytes: i32,
    /// The fetch's isolation level is read_committed.
    pub read_committed: bool,
}

impl FetchSessions {
    pub fn new(slots: usize) -> Self {
        FetchSessions {
            slots,
            inner: Mutex::new(Inner {
                // Ids need not be secret (the epoch guards a session), only
                // different after a restart, so clients do not resume
                // sessions of an earlier process.
                next_id: (crate::clock::now_ms() as i32).wrapping_mul(7919) & 0x3fff_ffff,
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides how a request is served and applies its changes to its
    /// session. `wanted` are the partitions the request lists (already
    /// without duplicates), `forgotten` those it asks to drop.
    /// `resolve` finds a partition being added.
    pub fn begin(
        &self,
        session_id: i32,
        epoch: i32,
        wanted: &[Wanted],
        forgotten: &[(String, Vec<i32>)],
        resolve: impl Fn(&str, i32) -> Option<Arc<Partition>>,
    ) -> Plan {
        let mut inner = self.lock();
        if epoch <= 0 {
            if session_id != 0 {
                inner.remove(session_id);
            }
            if epoch < 0 || self.slots == 0 {
                return Plan::Full { session_id: 0 };
            }
            if inner.partitions + wanted.len() > MAX_CACHED_PARTITIONS {
                return Plan::Full { session_id: 0 };
            }
            if inner.sessions.len() >= self.slots {
                let oldest = inner
                    .sessions
                    .iter()
                    .min_by_key(|(_, s)| s.last_used)
                    .map(|(id, _)| *id);
                if let Some(id) = oldest {
                    inner.remove(id);
                }
            }
            let id = inner.fresh_id();
            let partitions: BTreeMap<Key, Cached> = wanted
                .iter()
                .map(|w| {
                    let p = resolve(&w.topic, w.partition);
                    ((w.topic.clone(), w.partition), Cached::new(w, p))
                })
                .collect();
            inner.partitions += partitions.len();
            tracing::debug!(
                session = id,
                partitions = partitions.len(),
                "fetch session created"
            );
            inner.sessions.insert(
                id,
                Session {
                    next_epoch: 1,
                    partitions,
                    last_used: Instant::now(),
                },
            );
            return Plan::Full { session_id: id };
        }
        let Some(session) = inner.sessions.get_mut(&session_id) else {
            return Plan::Refused(ResponseError::FetchSessionIdNotFound.code());
        };
        if session.next_epoch != epoch {
            return Plan::Refused(ResponseError::InvalidFetchSessionEpoch.code());
        }
        let before = session.partitions.len();
        for (topic, parts) in forgotten {
            for p in parts {
                session.partitions.remove(&(topic.clone(), *p));
            }
        }
        for w in wanted {
            let entry = session
                .partitions
                .entry((w.topic.clone(), w.partition))
                .or_insert_with(|| Cached::new(w, resolve(&w.topic, w.partition)));
            entry.fetch_offset = w.fetch_offset;
            entry.read_committed = w.read_committed;
            entry.max_bytes = w.max_bytes;
        }
        let after = session.partitions.len();
        session.next_epoch = session.next_epoch.checked_add(1).unwrap_or(1);
        session.last_used = Instant::now();
        inner.partitions = inner.partitions + after - before;
        if inner.partitions > MAX_CACHED_PARTITIONS {
            inner.remove(session_id);
            return Plan::Refused(ResponseError::FetchSessionIdNotFound.code());
        }
        Plan::Incremental { session_id }
    }

    /// The session's partitions with news for the client, in order, as
    /// (key, fetch offset, max bytes, partition).
    pub fn candidates(&self, session_id: i32) -> Vec<(Key, i64, i32)> {
        let inner = self.lock();
        let Some(session) = inner.sessions.get(&session_id) else {
            return Vec::new();
        };
        session
            .partitions
            .iter()
            .filter(|(_, c)| c.has_news())
            .map(|(k, c)| (k.clone(), c.fetch_offset, c.max_bytes))
            .collect()
    }

    /// Records what a response told the client, so the next incremental
    /// answer leaves out what has not changed since. Returns whether the
    /// partition must be in this answer (something new for the client).
    pub fn observe(
        &self,
        session_id: i32,
        seen: impl IntoIterator<Item = (Key, i64, i64, bool)>,
    ) -> Vec<bool> {
        let mut inner = self.lock();
        let session = inner.sessions.get_mut(&session_id);
        let mut session = session;
        seen.into_iter()
            .map(|(key, hw, log_start, must)| {
                let Some(s) = session.as_mut() else {
                    return true;
                };
                match s.partitions.get_mut(&key) {
                    Some(c) => {
                        let changed = must || c.high_watermark != hw || c.log_start != log_start;
                        c.high_watermark = hw;
                        c.log_start = log_start;
                        changed
                    }
                    None => true,
                }
            })
            .collect()
    }

    /// Sessions held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str, _: i32) -> Option<Arc<Partition>> {
        None
    }

    fn want(t: &str, p: i32, offset: i64) -> Wanted {
        Wanted {
            read_committed: false,
            topic: t.into(),
            partition: p,
            fetch_offset: offset,
            max_bytes: 1 << 20,
        }
    }

    #[test]
    fn the_protocols_states() {
        let cache = FetchSessions::new(2);
        assert_eq!(
            cache.begin(0, -1, &[want("a", 0, 0)], &[], none),
            Plan::Full { session_id: 0 }
        );
        let Plan::Full { session_id: id } =
            cache.begin(0, 0, &[want("a", 0, 0), want("a", 1, 0)], &[], none)
        else {
            panic!()
        };
        assert!(id > 0);
        assert_eq!(
            cache.begin(id, 2, &[], &[], none),
            Plan::Refused(ResponseError::InvalidFetchSessionEpoch.code())
        );
        let plan = cache.begin(id, 1, &[want("a", 1, 5)], &[("a".into(), vec![0])], none);
        assert_eq!(plan, Plan::Incremental { session_id: id });
        // A partition that does not exist always has news (its error).
        assert_eq!(
            cache.candidates(id),
            vec![(("a".to_string(), 1), 5, 1 << 20)]
        );
        assert!(matches!(
            cache.begin(id, 2, &[], &[], none),
            Plan::Incremental { .. }
        ));
        assert_eq!(
            cache.begin(id + 1000, 1, &[], &[], none),
            Plan::Refused(ResponseError::FetchSessionIdNotFound.code())
        );
        // Closing.
        assert_eq!(
            cache.begin(id, -1, &[], &[], none),
            Plan::Full { session_id: 0 }
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn slots_evict_the_least_recently_used_and_partitions_are_capped() {
        let cache = FetchSessions::new(2);
        let ids: Vec<i32> = (0..3)
            .map(|_| match cache.begin(0, 0, &[want("a", 0, 0)], &[], none) {
                Plan::Full { session_id } => session_id,
                p => panic!("{p:?}"),
            })
            .collect();
        assert_eq!(cache.len(), 2);
        assert_eq!(
            cache.begin(ids[0], 1, &[], &[], none),
            Plan::Refused(ResponseError::FetchSessionIdNotFound.code())
        );
        let many: Vec<Wanted> = (0..(MAX_CACHED_PARTITIONS as i32))
            .map(|p| want("b", p, 0))
            .collect();
        assert_eq!(
            cache.begin(0, 0, &many, &[], none),
            Plan::Full { session_id: 0 },
            "no room: no session"
        );
        let off = FetchSessions::new(0);
        assert_eq!(
            off.begin(0, 0, &[want("a", 0, 0)], &[], none),
            Plan::Full { session_id: 0 }
        );
    }

    #[test]
    fn only_changes_are_answered() {
        let cache = FetchSessions::new(1);
        let Plan::Full { session_id: id } = cache.begin(0, 0, &[want("a", 0, 0)], &[], none) else {
            panic!()
        };
        let key = ("a".to_string(), 0);
        assert_eq!(cache.observe(id, [(key.clone(), 10, 0, false)]), vec![true]);
        assert_eq!(
            cache.observe(id, [(key.clone(), 10, 0, false)]),
            vec![false]
        );
        assert_eq!(cache.observe(id, [(key.clone(), 11, 0, false)]), vec![true]);
        assert_eq!(cache.observe(id, [(key, 11, 0, true)]), vec![true]);
    }
}
