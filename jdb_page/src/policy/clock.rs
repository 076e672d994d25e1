//! Clock, or second chance (libCacheSim's `Clock` with its defaults: a 1-bit counter, initial
//! value 0).
//!
//! A FIFO queue whose tail is the hand. A miss inserts at the head with the reference bit clear;
//! a hit sets the bit (nothing moves). The eviction search looks at the tail: a frame with the bit
//! set gets it cleared and moves to the head (its second chance), the first one without is the
//! victim.
//!
//! Pinned frames met by the search are parked, their bit kept; `unpin` puts a parked frame back at
//! the head, as if the hand had passed it, and a hit on a parked frame does the same with the bit
//! set. Cold frames are evicted before any other, oldest first; a hit on one is its first use, the
//! algorithm's insert (head, bit clear).
//!
//! 9 bytes per frame ([`Queues`]).

use std::rc::Rc;

use super::Policy;
use super::queues::{FastHit, Queue, Queues, SharedQueues};
use crate::FrameId;
use jdb_layout::PageId;

/// Clock (second chance) over frame ids.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    q: SharedQueues,
}

impl Clock {
    /// A hit on a frame not in the main queue: a cold one's first use, or a parked one.
    #[cold]
    fn hit_elsewhere(&mut self, frame: FrameId) {
        match self.q.queue(frame) {
            Queue::Main => self.q.set_count(frame, 1),
            Queue::Cold => {
                self.q.unlink(frame);
                self.q.push_head(Queue::Main, frame);
            }
            Queue::Parked => {
                if self.q.unpark(frame) == Queue::Main {
                    self.q.set_count(frame, 1);
                }
                self.q.push_head(Queue::Main, frame);
            }
            Queue::Small => unreachable!("Clock has no small queue"),
        }
    }
}

impl Policy for Clock {
    fn new(cap: usize) -> Self {
        Self {
            q: SharedQueues::new(cap),
        }
    }

    fn fast_hit(&self) -> FastHit {
        FastHit::Mark
    }

    fn queues(&self) -> &Rc<Queues> {
        self.q.rc()
    }

    fn insert(&mut self, frame: FrameId, _page: PageId, cold: bool) {
        self.q
            .insert(if cold { Queue::Cold } else { Queue::Main }, frame);
    }

    #[inline(always)]
    fn hit(&mut self, frame: FrameId) {
        if self.q.hit(frame, FastHit::Mark) {
            return;
        }
        self.hit_elsewhere(frame);
    }

    fn pin(&mut self, frame: FrameId) {
        self.q.set_pinned(frame, true);
    }

    fn unpin(&mut self, frame: FrameId) {
        if let Some(home) = self.q.unpin(frame) {
            self.q.push_head(home, frame);
        }
    }

    fn evict(&mut self, busy: &mut dyn FnMut(FrameId) -> bool) -> Option<FrameId> {
        if let Some(f) = self.q.pop_cold(busy) {
            return Some(f);
        }
        while let Some(f) = self.q.tail(Queue::Main) {
            if self.q.held(f, busy) {
                self.q.park(f);
            } else if self.q.count(f) > 0 {
                self.q.set_count(f, 0);
                self.q.move_to_head(f);
            } else {
                self.q.remove(f);
                return Some(f);
            }
        }
        None
    }

    fn remove(&mut self, frame: FrameId) {
        self.q.remove(frame);
    }

    /// Cold frames, then the queue from the hand (tail) on, then parked frames.
    fn order(&self) -> Vec<FrameId> {
        [Queue::Cold, Queue::Main, Queue::Parked]
            .into_iter()
            .flat_map(|q| self.q.oldest_first(q))
            .collect()
    }

    /// Cold frames, then the ring from the hand (its tail), unreferenced frames (the hand's next
    /// victims) before referenced ones.
    fn coldest(&self, limit: usize) -> Vec<FrameId> {
        self.q
            .coldest_second_chance(self.q.oldest_first(Queue::Main), limit)
    }

    fn heap_bytes(&self) -> usize {
        self.q.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;
    use crate::policy::tests::replay;

    fn clock(cap: usize, frames: &[FrameId]) -> Clock {
        let mut p = Clock::new(cap);
        for &f in frames {
            p.insert(f, 100 + f, false);
        }
        p
    }

    #[test]
    fn referenced_frames_get_a_second_chance() {
        let mut p = clock(4, &[0, 1, 2, 3]);
        p.hit(0);
        p.hit(2);
        p.hit(2);
        assert_eq!(p.evict(&mut |_| false), Some(1));
        // 0 moved to the head with its bit cleared, 2 is still referenced.
        assert_eq!(p.order(), vec![2, 3, 0]);
        assert_eq!(p.evict(&mut |_| false), Some(3));
        assert_eq!(p.order(), vec![0, 2]);
        assert_eq!(p.evict(&mut |_| false), Some(0));
        assert_eq!(p.evict(&mut |_| false), Some(2));
        assert_eq!(p.evict(&mut |_| false), None);
    }

    #[test]
    fn parked_frames_come_back_at_the_head_with_their_bit() {
        let mut p = clock(4, &[0, 1, 2, 3]);
        p.hit(0);
        p.pin(0);
        p.pin(1);
        assert_eq!(p.evict(&mut |_| false), Some(2));
        assert_eq!(p.order(), vec![3, 0, 1]);
        p.unpin(0);
        assert_eq!(p.order(), vec![3, 0, 1]);
        assert_eq!(p.evict(&mut |_| false), Some(3));
        // 0 kept its bit: second chance, then it is the victim.
        assert_eq!(p.evict(&mut |_| false), Some(0));
        // A hit on a parked frame brings it back with the bit set.
        p.hit(1);
        assert_eq!(p.order(), vec![1]);
        assert_eq!(p.evict(&mut |_| false), None);
        assert_eq!(p.order(), vec![1]);
        p.unpin(1);
        assert_eq!(p.evict(&mut |_| false), Some(1));
    }

    #[test]
    fn all_pinned_gives_none_after_one_pass_and_remove_works() {
        let mut p = clock(3, &[0, 1, 2]);
        for f in 0..3 {
            p.hit(f);
            p.pin(f);
        }
        assert_eq!(p.evict(&mut |_| false), None);
        assert_eq!(p.evict(&mut |_| false), None);
        p.remove(0);
        p.unpin(1);
        p.remove(1);
        p.insert(0, 9, false);
        assert_eq!(p.order(), vec![0, 2]);
        assert_eq!(p.evict(&mut |_| false), Some(0));
    }

    #[test]
    fn cold_frames_go_first_and_a_hit_is_their_first_use() {
        let mut p = clock(4, &[0]);
        p.insert(1, 11, true);
        p.insert(2, 12, true);
        p.insert(3, 13, false);
        assert_eq!(p.order(), vec![1, 2, 0, 3]);
        p.hit(2);
        assert_eq!(p.order(), vec![1, 0, 3, 2]);
        assert_eq!(p.evict(&mut |_| false), Some(1));
        assert_eq!(p.evict(&mut |_| false), Some(0));
    }

    /// Clock as libCacheSim describes it, on a `VecDeque` (front = hand) and a reference bit per
    /// page; returns the misses.
    fn reference(cap: usize, trace: &[u32]) -> u64 {
        let (mut q, mut bit) = (VecDeque::new(), std::collections::HashMap::new());
        let mut misses = 0;
        for &page in trace {
            if let Some(b) = bit.get_mut(&page) {
                *b = true;
                continue;
            }
            misses += 1;
            if q.len() == cap {
                while bit[q.front().unwrap()] {
                    let f = q.pop_front().unwrap();
                    bit.insert(f, false);
                    q.push_back(f);
                }
                bit.remove(&q.pop_front().unwrap());
            }
            q.push_back(page);
            bit.insert(page, false);
        }
        misses
    }

    proptest! {
        #[test]
        fn misses_match_the_reference(
            cap in 1..12usize,
            trace in proptest::collection::vec(0..24u32, 1..400),
        ) {
            prop_assert_eq!(replay(&mut Clock::new(cap), cap, &trace), reference(cap, &trace));
        }
    }
}
