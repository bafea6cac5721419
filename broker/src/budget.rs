//! The broker-wide budget of bytes in flight (`SKIFF_MAX_INFLIGHT_BYTES`):
//! large request frames as their bytes arrive, and large responses from
//! the moment they are built until they are written to the socket.
//!
//! Why one budget for both: a client that sends requests but never reads
//! its answers, or many clients each sending a little of a large frame, can
//! otherwise make the broker hold any amount of memory. With one budget the
//! broker's buffers stay bounded whatever clients do; a connection that
//! cannot get budget stops reading (back-pressure on its socket) instead of
//! buffering.
//!
//! Frames and responses up to `UNCOUNTED` bytes are not counted, so
//! heartbeats, metadata and small produces keep flowing while the budget is
//! spent on large ones. One holder is charged at most half the budget: a
//! larger frame or response is counted as half (so a few bytes held by
//! others, such as clients that sent a size prefix and stalled, can never
//! keep it waiting), and at most two such can be in flight at once.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Frames and responses up to this size are not counted.
pub const UNCOUNTED: usize = 64 * 1024;

/// The budget: `total` permits, one per byte.
#[derive(Debug, Clone)]
pub struct Budget {
    sem: Arc<Semaphore>,
    total: usize,
}

/// Bytes taken from the budget; given back when dropped.
#[derive(Debug, Default)]
pub struct Held(Option<OwnedSemaphorePermit>);

impl Budget {
    pub fn new(total: usize) -> Self {
        let total = total.clamp(1, u32::MAX as usize);
        Budget {
            sem: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// The budget's size.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Bytes not taken right now.
    pub fn available(&self) -> usize {
        self.sem.available_permits()
    }

    /// Waits until `bytes` (at most its share: half the budget) can be taken and adds
    /// them to `held`.
    pub async fn grow(&self, held: &mut Held, bytes: usize) {
        let wanted = self.room(held, bytes);
        if wanted == 0 {
            return;
        }
        let permit = self
            .sem
            .clone()
            .acquire_many_owned(wanted as u32)
            .await
            .expect("the budget's semaphore is never closed");
        held.add(permit);
    }

    /// Adds `bytes` to `held` if they are free now; false (nothing taken)
    /// if not.
    pub fn try_grow(&self, held: &mut Held, bytes: usize) -> bool {
        let wanted = self.room(held, bytes);
        if wanted == 0 {
            return true;
        }
        match self.sem.clone().try_acquire_many_owned(wanted as u32) {
            Ok(permit) => {
                held.add(permit);
                true
            }
            Err(_) => false,
        }
    }

    /// How many of `bytes` more `held` may take: never past half the budget.
    fn room(&self, held: &Held, bytes: usize) -> usize {
        bytes.min(self.share().saturating_sub(held.bytes()))
    }

    /// The most one holder is charged.
    pub fn share(&self) -> usize {
        (self.total / 2).max(1)
    }
}

impl Held {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |p| p.num_permits())
    }

    /// Gives back everything held above `bytes`.
    pub fn shrink_to(&mut self, bytes: usize) {
        let held = self.bytes();
        if held > bytes {
            if let Some(p) = self.0.as_mut() {
                drop(p.split(held - bytes));
            }
        }
        if bytes == 0 {
            self.0 = None;
        }
    }

    fn add(&mut self, permit: OwnedSemaphorePermit) {
        match self.0.as_mut() {
            Some(p) => p.merge(permit),
            None => self.0 = Some(permit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn grows_shrinks_and_charges_one_holder_at_most_half() {
        let budget = Budget::new(100);
        let mut a = Held::default();
        budget.grow(&mut a, 40).await;
        let mut c = Held::default();
        budget.grow(&mut c, 30).await;
        assert_eq!((a.bytes(), budget.available()), (40, 30));
        let mut b = Held::default();
        assert!(!budget.try_grow(&mut b, 35), "only 30 are free");
        assert_eq!(b.bytes(), 0);
        drop(c);
        a.shrink_to(10);
        assert_eq!((a.bytes(), budget.available()), (10, 90));
        // Asking for more than half the budget is charged half.
        budget.grow(&mut a, 1_000).await;
        assert_eq!((a.bytes(), budget.available()), (50, 50));
        drop(a);
        // So a holder of a few bytes never keeps a large one waiting.
        let mut small = Held::default();
        assert!(budget.try_grow(&mut small, 3));
        let mut large = Held::default();
        assert!(budget.try_grow(&mut large, 1_000));
        assert_eq!((large.bytes(), budget.available()), (50, 47));
        drop((small, large));
        assert_eq!(budget.available(), 100);
        assert!(budget.try_grow(&mut b, 50));
        b.shrink_to(0);
        assert_eq!(budget.available(), 100);
    }
}
