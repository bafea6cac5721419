//! The in-memory view of committed offsets: loaded from the SQLite file at
//! start-up and updated after each write commits, so OffsetFetch never
//! touches the database. The file stays the source of truth.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::storage::OffsetRow;

/// A committed offset as OffsetFetch returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_ms: i64,
}

type GroupOffsets = BTreeMap<(String, i32), Committed>;

#[derive(Default)]
pub struct OffsetCache {
    groups: Mutex<HashMap<String, GroupOffsets>>,
}

impl OffsetCache {
    pub fn load(rows: Vec<(String, OffsetRow)>) -> Self {
        let cache = OffsetCache::default();
        for (group, row) in rows {
            cache.apply(&group, std::slice::from_ref(&row));
        }
        cache
    }

    /// Records committed rows (after the write committed).
    pub fn apply(&self, group: &str, rows: &[OffsetRow]) {
        let mut groups = self.groups.lock().expect("offset cache lock");
        let g = groups.entry(group.to_string()).or_default();
        for r in rows {
            g.insert(
                (r.topic.clone(), r.partition),
                Committed {
                    offset: r.offset,
                    leader_epoch: r.leader_epoch,
                    metadata: r.metadata.clone(),
                    commit_ms: r.commit_ms,
                },
            );
        }
    }

    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<Committed> {
        self.groups
            .lock()
            .expect("offset cache lock")
            .get(group)
            .and_then(|g| g.get(&(topic.to_string(), partition)).cloned())
    }

    /// All of a group's offsets, ordered by topic and partition.
    pub fn all(&self, group: &str) -> Vec<((String, i32), Committed)> {
        self.groups
            .lock()
            .expect("offset cache lock")
            .get(group)
            .map(|g| g.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    pub fn has_group(&self, group: &str) -> bool {
        self.groups
            .lock()
            .expect("offset cache lock")
            .get(group)
            .is_some_and(|g| !g.is_empty())
    }

    pub fn group_ids(&self) -> Vec<String> {
        self.groups
            .lock()
            .expect("offset cache lock")
            .iter()
            .filter(|(_, g)| !g.is_empty())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Groups with committed offsets.
    pub fn group_count(&self) -> usize {
        self.groups.lock().expect("offset cache lock").len()
    }

    /// Groups with committed offsets for which `keep` holds.
    pub fn count_groups_where(&self, mut keep: impl FnMut(&str) -> bool) -> usize {
        self.groups
            .lock()
            .expect("offset cache lock")
            .keys()
            .filter(|g| keep(g))
            .count()
    }

    /// Groups whose every offset was committed before `cutoff_ms`.
    pub fn groups_committed_before(&self, cutoff_ms: i64) -> Vec<String> {
        self.groups
            .lock()
            .expect("offset cache lock")
            .iter()
            .filter(|(_, g)| g.values().all(|c| c.commit_ms < cutoff_ms))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Removes a group's offsets if every one was committed before
    /// `cutoff_ms` (a later commit keeps the group); says whether it did.
    pub fn remove_group_if_committed_before(&self, group: &str, cutoff_ms: i64) -> bool {
        let mut groups = self.groups.lock().expect("offset cache lock");
        let idle = groups
            .get(group)
            .is_some_and(|g| g.values().all(|c| c.commit_ms < cutoff_ms));
        if idle {
            groups.remove(group);
        }
        idle
    }

    pub fn remove_group(&self, group: &str) {
        self.groups.lock().expect("offset cache lock").remove(group);
    }

    pub fn remove_partitions(&self, group: &str, partitions: &[(String, i32)]) {
        let mut groups = self.groups.lock().expect("offset cache lock");
        if let Some(g) = groups.get_mut(group) {
            for p in partitions {
                g.remove(p);
            }
            if g.is_empty() {
                groups.remove(group);
            }
        }
    }

    /// A deleted topic's offsets go from every group.
    pub fn remove_topic(&self, topic: &str) {
        let mut groups = self.groups.lock().expect("offset cache lock");
        for g in groups.values_mut() {
            g.retain(|(t, _), _| t != topic);
        }
        groups.retain(|_, g| !g.is_empty());
    }
}
