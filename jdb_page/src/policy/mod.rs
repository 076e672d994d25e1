//! Eviction policies (issue #13): which frame a full pool gives up. Plain structs over frame ids,
//! knowing nothing of pages' bytes or I/O, each exactly the published algorithm as libCacheSim
//! 0.3.5 implements it (see each file for the semantics and `bench/traces/` for the miss counts
//! they are checked against):
//!
//! - [`lru::Lru`]: exact LRU, the default;
//! - [`clock::Clock`]: second chance, one reference bit;
//! - [`sieve::Sieve`]: SIEVE (NSDI'24);
//! - [`s3fifo::S3Fifo`]: S3-FIFO (SOSP'23), small + main FIFO queues and a ghost of page ids.
//!
//! The pool will pick one per pool at open. On top of the algorithm every policy does two things
//! the same way, through [`queues`]:
//!
//! - **Pins.** A pinned frame stays where it is (`pin`/`unpin` set a bit). When the eviction
//!   search meets one it parks it (out of the queues, O(1)) and goes on, so no later search meets
//!   it again; `unpin` (or a hit) puts it back where its policy says. Every operation is O(1)
//!   amortised however many frames are pinned, and `evict` on an all-pinned policy returns `None`
//!   after one pass.
//! - **Cold inserts** (scans, prefetches): a cold frame waits in a FIFO evicted before any other
//!   frame, so a scan can only evict pages of its own until one of them is asked for. That first
//!   hit is, to the algorithm, the page's first request: its insert on a miss.
//!
//! Bytes per frame: 9 for LRU, Clock and Sieve, 13 for S3-FIFO plus its ghost (about 25 bytes
//! per frame with 0.9 ids per frame).

// The pool does not use the policies yet (it is being rewritten to choose one at open).
#![allow(dead_code)]

mod clock;
mod lru;
mod queues;
mod s3fifo;
mod sieve;

use jdb_layout::PageId;

use crate::lru::FrameId;

/// An eviction policy over the frames `0..cap` of a pool.
pub(crate) trait Policy {
    /// An empty policy for frames `0..cap` (1 <= cap < u32::MAX).
    fn new(cap: usize) -> Self
    where
        Self: Sized;
    /// `frame` (not in the policy) now holds page `page`. `cold == true`: the page was brought in
    /// by a scan or prefetch and not asked for; it must be evicted before every page inserted hot
    /// or hit since (scan resistance), unless it is hit first. With cold == false this is
    /// exactly the algorithm's insert on a miss.
    fn insert(&mut self, frame: FrameId, page: PageId, cold: bool);
    /// The page in `frame` was asked for again: exactly the algorithm's hit.
    fn hit(&mut self, frame: FrameId);
    /// The frame's pin count went 0 -> 1: `evict` must not choose it until `unpin`.
    /// Must NOT change the eviction order (a page is pinned by every access for a moment).
    fn pin(&mut self, frame: FrameId);
    /// The frame's last pin is gone.
    fn unpin(&mut self, frame: FrameId);
    /// Chooses the victim exactly as the algorithm does, among unpinned frames, removes it from
    /// the policy and returns it; `None` when every frame in the policy is pinned or it is empty.
    fn evict(&mut self) -> Option<FrameId>;
    /// Removes `frame` (pinned or not) without evicting it (its page was dropped); no ghost entry.
    fn remove(&mut self, frame: FrameId);
    /// Frames in the policy, the next victim first (tests and debugging; O(len)).
    fn order(&self) -> Vec<FrameId>;
    /// Heap bytes of bookkeeping (to state the bytes per frame).
    fn heap_bytes(&self) -> usize;
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Replays `trace` through `policy` as a pool of `cap` frames would (a hit: `hit`, pin,
    /// unpin; a miss: a free frame or `evict`'s victim, `insert` hot, pin, unpin) and returns the
    /// misses.
    pub(crate) fn replay(policy: &mut impl Policy, cap: usize, trace: &[PageId]) -> u64 {
        let mut frame_of: HashMap<PageId, FrameId> = HashMap::new();
        let mut page_in: Vec<PageId> = Vec::with_capacity(cap);
        let mut misses = 0;
        for &page in trace {
            let frame = match frame_of.get(&page) {
                Some(&frame) => {
                    policy.hit(frame);
                    frame
                }
                None => {
                    misses += 1;
                    let frame = if page_in.len() < cap {
                        page_in.push(page);
                        (page_in.len() - 1) as FrameId
                    } else {
                        let frame = policy.evict().expect("nothing is pinned");
                        frame_of.remove(&page_in[frame as usize]);
                        page_in[frame as usize] = page;
                        frame
                    };
                    frame_of.insert(page, frame);
                    policy.insert(frame, page, false);
                    frame
                }
            };
            policy.pin(frame);
            policy.unpin(frame);
        }
        misses
    }
}
