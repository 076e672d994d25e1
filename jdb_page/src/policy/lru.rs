//! Exact LRU (libCacheSim's `LRU`): a hit moves the frame to the most recently used end, a miss
//! inserts there, the victim is the least recently used frame.
//!
//! Pinned frames met by the eviction search are parked; `unpin` puts a parked frame back at the
//! least recently used end (it is older than every frame in the list: the search reached it first),
//! so the order stays exact LRU over unpinned frames. A hit on a parked frame moves it to the most
//! recently used end like any hit. Cold frames are evicted before any other, oldest first; a hit
//! on one is its first use: it goes to the most recently used end.
//!
//! 9 bytes per frame ([`Queues`]).

use std::rc::Rc;

use super::Policy;
use super::queues::{FastHit, Queue, Queues, SharedQueues};
use crate::FrameId;
use jdb_layout::PageId;

/// Exact LRU over frame ids.
#[derive(Debug, Clone)]
pub(crate) struct Lru {
    q: SharedQueues,
}

impl Policy for Lru {
    fn new(cap: usize) -> Self {
        Self {
            q: SharedQueues::new(cap),
        }
    }

    fn fast_hit(&self) -> FastHit {
        FastHit::MoveToHead
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
        if self.q.hit(frame, FastHit::MoveToHead) {
            return;
        }
        match self.q.queue(frame) {
            Queue::Main => self.q.move_to_head(frame),
            Queue::Cold => {
                self.q.unlink(frame);
                self.q.push_head(Queue::Main, frame);
            }
            Queue::Parked => {
                self.q.unpark(frame);
                self.q.push_head(Queue::Main, frame);
            }
            Queue::Small => unreachable!("LRU has no small queue"),
        }
    }

    fn pin(&mut self, frame: FrameId) {
        self.q.set_pinned(frame, true);
    }

    fn unpin(&mut self, frame: FrameId) {
        if let Some(home) = self.q.unpin(frame) {
            self.q.push_tail(home, frame);
        }
    }

    fn evict(&mut self, busy: &mut dyn FnMut(FrameId) -> bool) -> Option<FrameId> {
        if let Some(f) = self.q.pop_cold(busy) {
            return Some(f);
        }
        while let Some(f) = self.q.tail(Queue::Main) {
            if self.q.held(f, busy) {
                self.q.park(f);
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

    fn order(&self) -> Vec<FrameId> {
        [Queue::Cold, Queue::Main, Queue::Parked]
            .into_iter()
            .flat_map(|q| self.q.oldest_first(q))
            .collect()
    }

    fn coldest(&self, limit: usize) -> Vec<FrameId> {
        self.q.coldest(&[Queue::Cold, Queue::Main], limit)
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

    fn lru(cap: usize, frames: &[FrameId]) -> Lru {
        let mut p = Lru::new(cap);
        for &f in frames {
            p.insert(f, 100 + f, false);
        }
        p
    }

    #[test]
    fn hits_move_to_the_front_and_the_back_is_evicted() {
        let mut p = lru(4, &[0, 1, 2, 3]);
        assert_eq!(p.order(), vec![0, 1, 2, 3]);
        p.hit(1);
        p.hit(0);
        assert_eq!(p.order(), vec![2, 3, 1, 0]);
        assert_eq!(p.evict(&mut |_| false), Some(2));
        assert_eq!(p.evict(&mut |_| false), Some(3));
        p.insert(2, 7, false);
        assert_eq!(p.order(), vec![1, 0, 2]);
        // Pin and unpin of a frame the search did not meet change nothing.
        p.pin(1);
        p.unpin(1);
        assert_eq!(p.order(), vec![1, 0, 2]);
    }

    #[test]
    fn pinned_frames_are_parked_and_come_back_at_the_lru_end() {
        let mut p = lru(4, &[0, 1, 2, 3]);
        p.pin(0);
        p.pin(1);
        assert_eq!(p.evict(&mut |_| false), Some(2));
        assert_eq!(p.order(), vec![3, 0, 1]);
        p.unpin(1);
        assert_eq!(p.order(), vec![1, 3, 0]);
        // A hit brings a parked frame back to the front, still pinned.
        p.hit(0);
        assert_eq!(p.order(), vec![1, 3, 0]);
        assert_eq!(p.evict(&mut |_| false), Some(1));
        assert_eq!(p.evict(&mut |_| false), Some(3));
        assert_eq!(p.evict(&mut |_| false), None);
        p.unpin(0);
        assert_eq!(p.evict(&mut |_| false), Some(0));
        assert_eq!(p.evict(&mut |_| false), None);
    }

    #[test]
    fn all_pinned_gives_none_and_remove_works_pinned_or_not() {
        let mut p = lru(3, &[0, 1, 2]);
        for f in 0..3 {
            p.pin(f);
        }
        assert_eq!(p.evict(&mut |_| false), None);
        assert_eq!(p.evict(&mut |_| false), None);
        p.remove(1);
        p.unpin(2);
        p.remove(2);
        assert_eq!(p.order(), vec![0]);
        p.insert(1, 5, false);
        assert_eq!(p.evict(&mut |_| false), Some(1));
        p.unpin(0);
        assert_eq!(p.evict(&mut |_| false), Some(0));
    }

    #[test]
    fn cold_frames_go_first_unless_hit() {
        let mut p = lru(5, &[0, 1]);
        p.insert(2, 12, true);
        p.insert(3, 13, true);
        p.insert(4, 14, false);
        assert_eq!(p.order(), vec![2, 3, 0, 1, 4]);
        p.hit(3);
        assert_eq!(p.order(), vec![2, 0, 1, 4, 3]);
        p.pin(2);
        assert_eq!(p.evict(&mut |_| false), Some(0));
        p.unpin(2);
        assert_eq!(p.evict(&mut |_| false), Some(2));
        assert_eq!(p.evict(&mut |_| false), Some(1));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32, bool),
        Hit(u32),
        Pin(u32),
        Unpin(u32),
        Remove(u32),
        Evict,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..CAP, any::<bool>()).prop_map(|(f, c)| Op::Insert(f, c)),
            4 => (0..CAP).prop_map(Op::Hit),
            2 => (0..CAP).prop_map(Op::Pin),
            2 => (0..CAP).prop_map(Op::Unpin),
            1 => (0..CAP).prop_map(Op::Remove),
            3 => Just(Op::Evict),
        ]
    }

    const CAP: u32 = 12;

    /// The reference: cold and LRU lists as `VecDeque`s (front = next victim), parked frames and
    /// pins as `Vec`s.
    #[derive(Default)]
    struct Model {
        cold: VecDeque<u32>,
        lru: VecDeque<u32>,
        parked: Vec<(u32, bool)>, // (frame, parked from the cold list)
        pinned: Vec<u32>,
    }

    impl Model {
        fn contains(&self, f: u32) -> bool {
            self.cold.contains(&f) || self.lru.contains(&f) || self.parked.iter().any(|p| p.0 == f)
        }
        fn take(&mut self, f: u32) -> Option<bool> {
            self.cold.retain(|&x| x != f);
            self.lru.retain(|&x| x != f);
            self.unpark(f)
        }
        fn unpark(&mut self, f: u32) -> Option<bool> {
            let at = self.parked.iter().position(|p| p.0 == f)?;
            Some(self.parked.remove(at).1)
        }
        fn evict(&mut self) -> Option<u32> {
            for cold in [true, false] {
                let list = if cold { &mut self.cold } else { &mut self.lru };
                while let Some(f) = list.pop_front() {
                    if !self.pinned.contains(&f) {
                        return Some(f);
                    }
                    self.parked.push((f, cold));
                }
            }
            None
        }
    }

    proptest! {
        /// Every step agrees with the `VecDeque` model, pins and parking included.
        #[test]
        fn matches_vecdeque_model(ops in proptest::collection::vec(op(), 1..400)) {
            let mut p = Lru::new(CAP as usize);
            let mut m = Model::default();
            for op in ops {
                match op {
                    Op::Insert(f, cold) if !m.contains(f) => {
                        p.insert(f, f + 1000, cold);
                        if cold { m.cold.push_back(f) } else { m.lru.push_back(f) }
                    }
                    Op::Hit(f) if m.contains(f) => {
                        p.hit(f);
                        m.take(f);
                        m.lru.push_back(f);
                    }
                    Op::Pin(f) if m.contains(f) && !m.pinned.contains(&f) => {
                        p.pin(f);
                        m.pinned.push(f);
                    }
                    Op::Unpin(f) if m.pinned.contains(&f) => {
                        p.unpin(f);
                        m.pinned.retain(|&x| x != f);
                        match m.unpark(f) {
                            Some(true) => m.cold.push_front(f),
                            Some(false) => m.lru.push_front(f),
                            None => {}
                        }
                    }
                    Op::Remove(f) if m.contains(f) => {
                        p.remove(f);
                        m.take(f);
                        m.pinned.retain(|&x| x != f);
                    }
                    Op::Evict => {
                        let got = p.evict(&mut |_| false);
                        prop_assert_eq!(got, m.evict());
                        if let Some(f) = got {
                            prop_assert!(!m.pinned.contains(&f));
                        }
                    }
                    _ => {}
                }
                let mut want: Vec<u32> = m.cold.iter().chain(&m.lru).copied().collect();
                let order = p.order();
                prop_assert_eq!(order.len(), want.len() + m.parked.len());
                let (listed, parked) = order.split_at(want.len());
                prop_assert_eq!(listed, &want[..]);
                want = m.parked.iter().map(|p| p.0).collect();
                let mut parked = parked.to_vec();
                want.sort_unstable();
                parked.sort_unstable();
                prop_assert_eq!(parked, want);
            }
        }
    }
}
