//! [`Simulator`]: a policy alone, as the pool drives it, for miss-ratio curves and "what if"
//! questions: no frames, no bytes, no I/O.

use jdb_layout::PageId;
use rustc_hash::FxHashMap;

use super::{AnyPolicy, Policy, PolicyKind};
use crate::FrameId;

/// Replays page requests through one eviction policy on a cache of `cap` pages exactly as a
/// [`BufferPool`](crate::BufferPool) with that policy would (one request at a time, each a
/// `read` and its guard's drop, from an empty pool), counting hits and misses. The pool runs the
/// same policy code: on the same trace and size, its `Stats::misses` equal [`Simulator::misses`].
///
/// ```
/// use jdb_page::{PolicyKind, Simulator};
///
/// let mut lru = Simulator::new(PolicyKind::Lru, 2);
/// for id in [1, 2, 1, 3, 2] {
///     lru.access(id);
/// }
/// assert_eq!((lru.hits(), lru.misses()), (1, 4));
/// ```
#[derive(Debug, Clone)]
pub struct Simulator {
    policy: AnyPolicy,
    /// Page id -> frame, for resident pages.
    frames: FxHashMap<PageId, FrameId>,
    /// Frame -> page id.
    pages: Vec<PageId>,
    cap: usize,
    hits: u64,
    misses: u64,
}

impl Simulator {
    /// An empty cache of `cap` pages (`1..u32::MAX`) under `kind`.
    ///
    /// # Panics
    /// If `cap` is 0 or does not fit a frame id.
    pub fn new(kind: PolicyKind, cap: usize) -> Self {
        assert!(
            cap > 0 && cap < FrameId::MAX as usize,
            "Simulator capacity {cap}"
        );
        Self {
            policy: AnyPolicy::with_kind(kind, cap),
            frames: FxHashMap::default(),
            pages: Vec::with_capacity(cap.min(1 << 20)),
            cap,
            hits: 0,
            misses: 0,
        }
    }

    /// One request for page `id`; returns whether it was a hit.
    pub fn access(&mut self, id: PageId) -> bool {
        if let Some(&frame) = self.frames.get(&id) {
            self.policy.hit(frame);
            self.hits += 1;
            return true;
        }
        self.misses += 1;
        let frame = if self.pages.len() < self.cap {
            self.pages.push(id);
            (self.pages.len() - 1) as FrameId
        } else {
            // Nothing is pinned or busy between requests: there is always a victim.
            let frame = self
                .policy
                .evict(&mut |_| false)
                .unwrap_or_else(|| unreachable!("a full cache has a victim"));
            self.frames.remove(&self.pages[frame as usize]);
            self.pages[frame as usize] = id;
            frame
        };
        self.frames.insert(id, frame);
        self.policy.insert(frame, id, false);
        false
    }

    /// Requests answered from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Requests that missed so far.
    pub fn misses(&self) -> u64 {
        self.misses
    }

    /// The cache's size in pages.
    pub fn cap(&self) -> usize {
        self.cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hits_and_misses_per_policy() {
        // LRU and FIFO-like policies differ on this sequence at size 3.
        let trace = [1, 2, 3, 1, 4, 1, 5, 1, 2, 3];
        let misses: Vec<u64> = PolicyKind::ALL
            .into_iter()
            .map(|kind| {
                let mut sim = Simulator::new(kind, 3);
                trace.iter().for_each(|&id| {
                    sim.access(id);
                });
                assert_eq!(sim.hits() + sim.misses(), trace.len() as u64);
                sim.misses()
            })
            .collect();
        assert_eq!(misses[0], 7, "lru");
        assert!(misses.iter().all(|&m| (5..=8).contains(&m)), "{misses:?}");
    }
}
