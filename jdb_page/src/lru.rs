//! Exact LRU order over frame ids: an intrusive doubly-linked list stored in two arrays.
//!
//! The list knows nothing of pages or I/O. Every operation is O(1) and allocation-free after
//! [`LruList::new`]; memory is 8 bytes per frame. The front is the most recently used end, the back
//! the least recently used (the next victim).

/// Index of a frame in the pool's arena.
pub type FrameId = u32;

const NIL: FrameId = FrameId::MAX;

/// An intrusive LRU list over the frame ids `0..capacity`.
#[derive(Debug, Clone)]
pub struct LruList {
    prev: Box<[FrameId]>,
    next: Box<[FrameId]>,
    head: FrameId,
    tail: FrameId,
    len: usize,
}

impl LruList {
    /// An empty list for frames `0..capacity` (`capacity < u32::MAX`).
    pub fn new(capacity: usize) -> Self {
        assert!(
            capacity < NIL as usize,
            "LruList capacity {capacity} too large"
        );
        Self {
            prev: vec![NIL; capacity].into_boxed_slice(),
            next: vec![NIL; capacity].into_boxed_slice(),
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }

    /// Number of frames in the list.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `frame` is in the list.
    #[inline]
    pub fn contains(&self, frame: FrameId) -> bool {
        self.head == frame || self.prev[frame as usize] != NIL
    }

    /// The most recently used frame.
    pub fn front(&self) -> Option<FrameId> {
        (self.head != NIL).then_some(self.head)
    }

    /// The least recently used frame: the next victim.
    pub fn back(&self) -> Option<FrameId> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// The frame just more recent than `frame` (towards the front), to walk from the back.
    pub fn more_recent(&self, frame: FrameId) -> Option<FrameId> {
        let p = self.prev[frame as usize];
        (p != NIL).then_some(p)
    }

    /// Inserts `frame` (not in the list) at the most recently used end.
    #[inline]
    pub fn push_front(&mut self, frame: FrameId) {
        debug_assert!(!self.contains(frame));
        let f = frame as usize;
        self.prev[f] = NIL;
        self.next[f] = self.head;
        if self.head != NIL {
            self.prev[self.head as usize] = frame;
        } else {
            self.tail = frame;
        }
        self.head = frame;
        self.len += 1;
    }

    /// Inserts `frame` (not in the list) at the least recently used end: it is the next victim
    /// unless touched first.
    pub fn push_back(&mut self, frame: FrameId) {
        debug_assert!(!self.contains(frame));
        let f = frame as usize;
        self.next[f] = NIL;
        self.prev[f] = self.tail;
        if self.tail != NIL {
            self.next[self.tail as usize] = frame;
        } else {
            self.head = frame;
        }
        self.tail = frame;
        self.len += 1;
    }

    /// Removes `frame` if it is in the list; returns whether it was.
    #[inline]
    pub fn remove(&mut self, frame: FrameId) -> bool {
        if !self.contains(frame) {
            return false;
        }
        let f = frame as usize;
        let (p, n) = (self.prev[f], self.next[f]);
        if p != NIL {
            self.next[p as usize] = n;
        } else {
            self.head = n;
        }
        if n != NIL {
            self.prev[n as usize] = p;
        } else {
            self.tail = p;
        }
        self.prev[f] = NIL;
        self.next[f] = NIL;
        self.len -= 1;
        true
    }

    /// Marks `frame` as just used: moves it to the front, inserting it if absent.
    #[inline]
    pub fn touch(&mut self, frame: FrameId) {
        if self.head == frame {
            return;
        }
        self.remove(frame);
        self.push_front(frame);
    }

    /// Removes and returns the least recently used frame.
    pub fn pop_back(&mut self) -> Option<FrameId> {
        let victim = self.back()?;
        self.remove(victim);
        Some(victim)
    }

    /// The frames from most to least recently used (for tests and debugging; O(len)).
    pub fn order(&self) -> Vec<FrameId> {
        let mut out = Vec::with_capacity(self.len);
        let mut at = self.head;
        while at != NIL {
            out.push(at);
            at = self.next[at as usize];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn push_touch_pop_in_lru_order() {
        let mut l = LruList::new(4);
        assert_eq!(l.pop_back(), None);
        for f in 0..4 {
            l.push_front(f);
        }
        assert_eq!(l.order(), vec![3, 2, 1, 0]);
        l.touch(1);
        assert_eq!(l.order(), vec![1, 3, 2, 0]);
        l.touch(1);
        assert_eq!(l.order(), vec![1, 3, 2, 0]);
        assert_eq!(l.pop_back(), Some(0));
        assert!(l.remove(3));
        assert!(!l.remove(3));
        assert!(!l.contains(3) && !l.contains(0));
        assert_eq!(l.order(), vec![1, 2]);
        l.push_back(0);
        assert_eq!(l.order(), vec![1, 2, 0]);
        assert_eq!((l.front(), l.back(), l.len()), (Some(1), Some(0), 3));
        assert_eq!(l.more_recent(0), Some(2));
        assert_eq!(l.more_recent(1), None);
        while l.pop_back().is_some() {}
        assert!(l.is_empty());
        l.push_back(3);
        assert_eq!(l.order(), vec![3]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Touch(u32),
        PushBack(u32),
        Remove(u32),
        Pop,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..16u32).prop_map(Op::Touch),
            1 => (0..16u32).prop_map(Op::PushBack),
            1 => (0..16u32).prop_map(Op::Remove),
            2 => Just(Op::Pop),
        ]
    }

    proptest! {
        /// Every operation agrees with a `VecDeque` reference, front = most recent.
        #[test]
        fn matches_vecdeque_model(ops in proptest::collection::vec(op(), 1..300)) {
            let mut l = LruList::new(16);
            let mut model: VecDeque<u32> = VecDeque::new();
            for op in ops {
                match op {
                    Op::Touch(f) => {
                        model.retain(|&x| x != f);
                        model.push_front(f);
                        l.touch(f);
                    }
                    Op::PushBack(f) => {
                        if !model.contains(&f) {
                            model.push_back(f);
                            l.push_back(f);
                        }
                    }
                    Op::Remove(f) => {
                        let had = model.contains(&f);
                        model.retain(|&x| x != f);
                        prop_assert_eq!(l.remove(f), had);
                    }
                    Op::Pop => prop_assert_eq!(l.pop_back(), model.pop_back()),
                }
                prop_assert_eq!(l.order(), model.iter().copied().collect::<Vec<_>>());
                prop_assert_eq!(l.len(), model.len());
                for f in 0..16 {
                    prop_assert_eq!(l.contains(f), model.contains(&f));
                }
            }
        }
    }
}
