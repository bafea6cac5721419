//! The writer's own view of one partition's log: the next offset to assign
//! and the partition's idempotent producers. Built from the file at start-up
//! (`load`) and after a failed commit, changed only by the writer.

use super::producers::Producers;

#[derive(Debug, Clone, Default)]
pub struct PartitionLog {
    /// One past the last offset written (committed, or in the open transaction).
    pub next_offset: i64,
    pub producers: Producers,
}
