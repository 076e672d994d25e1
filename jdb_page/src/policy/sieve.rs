//! SIEVE (Zhang et al., NSDI'24; libCacheSim's `Sieve`).
//!
//! A FIFO queue and a hand. A miss inserts at the head with the visited bit clear; a hit sets the
//! bit (nothing moves). The eviction search starts at the hand (at the tail when the hand is
//! unset) and walks towards the head, wrapping to the tail: a visited frame has its bit cleared
//! and stays where it is, the first unvisited one is the victim and the hand stops at the frame
//! just newer than it (unset when the victim was the head).
//!
//! Pinned frames met by the search are parked, their bit kept. `unpin` puts a parked frame back
//! just behind the hand (on its tail side, where the hand has just been, as if it had passed the
//! frame in place; at the head when the hand is unset), and a hit on a parked frame does the same
//! with the bit set. Cold frames are evicted before any other, oldest first; a hit on one is its
//! first use, the algorithm's insert (head, bit clear).
//!
//! 9 bytes per frame ([`Queues`]).

use std::rc::Rc;

use super::Policy;
use super::queues::{FastHit, NIL, Queue, Queues, SharedQueues};
use crate::FrameId;
use jdb_layout::PageId;

/// SIEVE over frame ids.
#[derive(Debug, Clone)]
pub(crate) struct Sieve {
    q: SharedQueues,
    /// Where the next eviction search starts; `NIL`: at the tail.
    hand: FrameId,
}

impl Sieve {
    /// Links the unparked hot `frame` back just behind the hand.
    fn put_back(&mut self, frame: FrameId) {
        if self.hand == NIL {
            self.q.push_head(Queue::Main, frame);
        } else {
            self.q.push_older_than(self.hand, frame);
        }
    }

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
                    self.put_back(frame);
                } else {
                    self.q.push_head(Queue::Main, frame);
                }
            }
            Queue::Small => unreachable!("Sieve has no small queue"),
        }
    }
}

impl Policy for Sieve {
    fn new(cap: usize) -> Self {
        Self {
            q: SharedQueues::new(cap),
            hand: NIL,
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
        if self.q.unpin(frame).is_some() {
            self.put_back(frame);
        }
    }

    fn evict(&mut self, busy: &mut dyn FnMut(FrameId) -> bool) -> Option<FrameId> {
        if let Some(f) = self.q.pop_cold(busy) {
            return Some(f);
        }
        let mut at = if self.hand != NIL {
            self.hand
        } else {
            self.q.tail(Queue::Main)?
        };
        loop {
            let newer = self.q.newer(at);
            if self.q.held(at, busy) {
                self.q.park(at);
            } else if self.q.count(at) > 0 {
                self.q.set_count(at, 0);
            } else {
                self.hand = newer.unwrap_or(NIL);
                self.q.remove(at);
                return Some(at);
            }
            match newer.or_else(|| self.q.tail(Queue::Main)) {
                Some(next) => at = next,
                None => {
                    self.hand = NIL;
                    return None;
                }
            }
        }
    }

    fn remove(&mut self, frame: FrameId) {
        if frame == self.hand {
            self.hand = self.q.newer(frame).unwrap_or(NIL);
        }
        self.q.remove(frame);
    }

    /// Cold frames, then the queue in the order the hand will look at it, then parked frames.
    fn order(&self) -> Vec<FrameId> {
        let mut out: Vec<FrameId> = self.q.oldest_first(Queue::Cold).collect();
        let main: Vec<FrameId> = self.q.oldest_first(Queue::Main).collect();
        let at = main.iter().position(|&f| f == self.hand).unwrap_or(0);
        out.extend(&main[at..]);
        out.extend(&main[..at]);
        out.extend(self.q.oldest_first(Queue::Parked));
        out
    }

    fn coldest(&self, limit: usize) -> Vec<FrameId> {
        // Cold frames, then the main queue from the hand towards the head and on from the tail,
        // unvisited frames (the hand's next victims) before visited ones.
        let from_hand = (self.hand != NIL)
            .then(|| std::iter::successors(Some(self.hand), |&f| self.q.newer(f)))
            .into_iter()
            .flatten();
        let wrapped = self
            .q
            .oldest_first(Queue::Main)
            .take_while(|&f| f != self.hand);
        self.q
            .coldest_second_chance(from_hand.chain(wrapped), limit)
    }

    fn heap_bytes(&self) -> usize {
        self.q.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::policy::tests::replay;

    fn sieve(cap: usize, frames: &[FrameId]) -> Sieve {
        let mut p = Sieve::new(cap);
        for &f in frames {
            p.insert(f, 100 + f, false);
        }
        p
    }

    #[test]
    fn visited_frames_stay_in_place_and_the_hand_moves_on() {
        let mut p = sieve(5, &[0, 1, 2, 3, 4]);
        p.hit(0);
        p.hit(1);
        p.hit(3);
        // The hand clears 0 and 1, evicts 2 and stops at 3.
        assert_eq!(p.evict(&mut |_| false), Some(2));
        assert_eq!(p.order(), vec![3, 4, 0, 1]);
        p.insert(2, 7, false);
        assert_eq!(p.order(), vec![3, 4, 2, 0, 1]);
        // 3 is cleared, 4 evicted; the hand stops at 2.
        assert_eq!(p.evict(&mut |_| false), Some(4));
        assert_eq!(p.order(), vec![2, 0, 1, 3]);
        assert_eq!(p.evict(&mut |_| false), Some(2));
        // The victim was the head: the hand wraps to the tail.
        assert_eq!(p.order(), vec![0, 1, 3]);
        assert_eq!(p.evict(&mut |_| false), Some(0));
    }

    #[test]
    fn parked_frames_come_back_just_behind_the_hand() {
        let mut p = sieve(5, &[0, 1, 2, 3, 4]);
        p.pin(0);
        p.pin(1);
        p.hit(1);
        assert_eq!(p.evict(&mut |_| false), Some(2));
        assert_eq!(p.order(), vec![3, 4, 0, 1]);
        p.unpin(1);
        // Behind the hand (3): the last the hand will look at.
        assert_eq!(p.order(), vec![3, 4, 1, 0]);
        assert_eq!(p.evict(&mut |_| false), Some(3));
        assert_eq!(p.evict(&mut |_| false), Some(4));
        // The hand is unset (4 was the head): a hit on parked 0 puts it at the head.
        p.hit(0);
        assert_eq!(p.order(), vec![1, 0]);
        // 1 kept its visited bit; 0 is pinned.
        assert_eq!(p.evict(&mut |_| false), Some(1));
        assert_eq!(p.evict(&mut |_| false), None);
        p.unpin(0);
        assert_eq!(p.evict(&mut |_| false), Some(0));
    }

    #[test]
    fn all_pinned_gives_none_and_remove_moves_the_hand() {
        let mut p = sieve(4, &[0, 1, 2, 3]);
        assert_eq!(p.evict(&mut |_| false), Some(0));
        assert_eq!(p.order(), vec![1, 2, 3]);
        p.remove(1);
        assert_eq!(p.order(), vec![2, 3]);
        for f in [2, 3] {
            p.pin(f);
        }
        assert_eq!(p.evict(&mut |_| false), None);
        assert_eq!(p.evict(&mut |_| false), None);
        p.remove(2);
        p.insert(0, 5, false);
        assert_eq!(p.order(), vec![0, 3]);
        assert_eq!(p.evict(&mut |_| false), Some(0));
        p.unpin(3);
        assert_eq!(p.evict(&mut |_| false), Some(3));
        assert_eq!(p.evict(&mut |_| false), None);
    }

    #[test]
    fn cold_frames_go_first_and_a_hit_is_their_first_use() {
        let mut p = sieve(4, &[0]);
        p.insert(1, 11, true);
        p.insert(2, 12, true);
        p.insert(3, 13, false);
        p.hit(1);
        assert_eq!(p.order(), vec![2, 0, 3, 1]);
        p.pin(2);
        assert_eq!(p.evict(&mut |_| false), Some(0));
        p.unpin(2);
        assert_eq!(p.evict(&mut |_| false), Some(2));
    }

    /// SIEVE as the paper describes it, on a `Vec` (index 0 = tail) and a hand index; returns
    /// the misses.
    fn reference(cap: usize, trace: &[u32]) -> u64 {
        let (mut q, mut visited): (Vec<u32>, Vec<bool>) = (Vec::new(), Vec::new());
        let mut hand: Option<u32> = None;
        let mut misses = 0;
        for &page in trace {
            if let Some(i) = q.iter().position(|&x| x == page) {
                visited[i] = true;
                continue;
            }
            misses += 1;
            if q.len() == cap {
                let mut i = hand.map_or(0, |h| q.iter().position(|&x| x == h).unwrap());
                while visited[i] {
                    visited[i] = false;
                    i = (i + 1) % q.len();
                }
                hand = q.get(i + 1).copied();
                q.remove(i);
                visited.remove(i);
            }
            q.push(page);
            visited.push(false);
        }
        misses
    }

    proptest! {
        #[test]
        fn misses_match_the_reference(
            cap in 1..12usize,
            trace in proptest::collection::vec(0..24u32, 1..400),
        ) {
            prop_assert_eq!(replay(&mut Sieve::new(cap), cap, &trace), reference(cap, &trace));
        }
    }
}
