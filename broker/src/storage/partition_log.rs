//! The writer's own view of one partition's log: the next offset to assign,
//! the partition's idempotent producers and its open transactions. Built
//! from the file at start-up (`load`) and after a failed commit, changed
//! only by the writer.

use std::collections::HashMap;

use super::producers::Producers;

#[derive(Debug, Clone, Default)]
pub struct PartitionLog {
    /// One past the last offset written (committed, or in the open transaction).
    pub next_offset: i64,
    pub producers: Producers,
    /// Producer id → first offset of its open transaction here.
    pub open_txns: HashMap<i64, i64>,
}

impl PartitionLog {
    /// The last stable offset: the first offset of the oldest open
    /// transaction, else the next offset.
    pub fn last_stable(&self) -> i64 {
        self.open_txns
            .values()
            .copied()
            .min()
            .unwrap_or(self.next_offset)
            .min(self.next_offset)
    }
}
