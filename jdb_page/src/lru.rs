//! Exact LRU order over frame ids: an intrusive doubly-linked list.
//!
//! The list knows nothing of pages or I/O. Every operation is O(1) and allocation-free. The front
//! is the most recently used end, the back the least recently used (the next victim).
//!
//! [`LruOrder`] holds the ends of the list; each frame's two links live in an [`LruLinks`]
//! store passed to every call. The pool keeps the links inside its page records, so a hit touches
//! one record instead of a record and two link arrays; [`LruList`] bundles an `LruOrder` with link
//! arrays of its own (8 bytes per frame) for standalone use.

/// Index of a frame in the pool's arena.
pub type FrameId = u32;

/// The link value meaning "none".
pub const NIL: FrameId = FrameId::MAX;

/// Where an [`LruOrder`] keeps each frame's links (`NIL` when absent). A frame not in the list has
/// `NIL` as its previous link.
pub trait LruLinks {
    /// The frame before `frame` (towards the front).
    fn prev(&self, frame: FrameId) -> FrameId;
    /// The frame after `frame` (towards the back).
    fn next(&self, frame: FrameId) -> FrameId;
    /// Sets the frame before `frame`.
    fn set_prev(&mut self, frame: FrameId, prev: FrameId);
    /// Sets the frame after `frame`.
    fn set_next(&mut self, frame: FrameId, next: FrameId);
}

/// The ends of an intrusive LRU list; the links are in an [`LruLinks`] store.
#[derive(Debug, Clone)]
pub struct LruOrder {
    head: FrameId,
    tail: FrameId,
    len: usize,
}

impl Default for LruOrder {
    fn default() -> Self {
        Self::new()
    }
}

impl LruOrder {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
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
    pub fn contains(&self, links: &(impl LruLinks + ?Sized), frame: FrameId) -> bool {
        self.head == frame || links.prev(frame) != NIL
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
    pub fn more_recent(&self, links: &(impl LruLinks + ?Sized), frame: FrameId) -> Option<FrameId> {
        let p = links.prev(frame);
        (p != NIL).then_some(p)
    }

    /// Inserts `frame` (not in the list) at the most recently used end.
    #[inline]
    pub fn push_front(&mut self, links: &mut (impl LruLinks + ?Sized), frame: FrameId) {
        debug_assert!(!self.contains(links, frame));
        links.set_prev(frame, NIL);
        links.set_next(frame, self.head);
        if self.head != NIL {
            links.set_prev(self.head, frame);
        } else {
            self.tail = frame;
        }
        self.head = frame;
        self.len += 1;
    }

    /// Inserts `frame` (not in the list) at the least recently used end: it is the next victim
    /// unless touched first.
    pub fn push_back(&mut self, links: &mut (impl LruLinks + ?Sized), frame: FrameId) {
        debug_assert!(!self.contains(links, frame));
        links.set_next(frame, NIL);
        links.set_prev(frame, self.tail);
        if self.tail != NIL {
            links.set_next(self.tail, frame);
        } else {
            self.head = frame;
        }
        self.tail = frame;
        self.len += 1;
    }

    /// Removes `frame` if it is in the list; returns whether it was.
    #[inline]
    pub fn remove(&mut self, links: &mut (impl LruLinks + ?Sized), frame: FrameId) -> bool {
        if !self.contains(links, frame) {
            return false;
        }
        let (p, n) = (links.prev(frame), links.next(frame));
        if p != NIL {
            links.set_next(p, n);
        } else {
            self.head = n;
        }
        if n != NIL {
            links.set_prev(n, p);
        } else {
            self.tail = p;
        }
        links.set_prev(frame, NIL);
        links.set_next(frame, NIL);
        self.len -= 1;
        true
    }

    /// Marks `frame` as just used: moves it to the front, inserting it if absent.
    #[inline]
    pub fn touch(&mut self, links: &mut (impl LruLinks + ?Sized), frame: FrameId) {
        if self.head == frame {
            return;
        }
        let p = links.prev(frame);
        if p == NIL {
            // Not the head and no predecessor: not in the list.
            self.push_front(links, frame);
            return;
        }
        // Unlink (`p` exists, so `frame` is not the head) and relink at the front, reading the
        // frame's links once; the length does not change.
        let n = links.next(frame);
        links.set_next(p, n);
        if n != NIL {
            links.set_prev(n, p);
        } else {
            self.tail = p;
        }
        links.set_prev(frame, NIL);
        links.set_next(frame, self.head);
        links.set_prev(self.head, frame);
        self.head = frame;
    }

    /// Removes and returns the least recently used frame.
    pub fn pop_back(&mut self, links: &mut (impl LruLinks + ?Sized)) -> Option<FrameId> {
        let victim = self.back()?;
        self.remove(links, victim);
        Some(victim)
    }

    /// The frames from most to least recently used (for tests and debugging; O(len)).
    pub fn order(&self, links: &(impl LruLinks + ?Sized)) -> Vec<FrameId> {
        let mut out = Vec::with_capacity(self.len);
        let mut at = self.head;
        while at != NIL {
            out.push(at);
            at = links.next(at);
        }
        out
    }
}

/// Links in two arrays, 8 bytes per frame.
#[derive(Debug, Clone)]
pub struct VecLinks {
    prev: Box<[FrameId]>,
    next: Box<[FrameId]>,
}

impl VecLinks {
    /// Links for frames `0..capacity`, none in a list.
    pub fn new(capacity: usize) -> Self {
        Self {
            prev: vec![NIL; capacity].into(),
            next: vec![NIL; capacity].into(),
        }
    }
}

impl LruLinks for VecLinks {
    #[inline]
    fn prev(&self, frame: FrameId) -> FrameId {
        self.prev[frame as usize]
    }
    #[inline]
    fn next(&self, frame: FrameId) -> FrameId {
        self.next[frame as usize]
    }
    #[inline]
    fn set_prev(&mut self, frame: FrameId, prev: FrameId) {
        self.prev[frame as usize] = prev;
    }
    #[inline]
    fn set_next(&mut self, frame: FrameId, next: FrameId) {
        self.next[frame as usize] = next;
    }
}

/// A standalone LRU list over the frame ids `0..capacity`: an [`LruOrder`] with its own
/// [`VecLinks`].
#[derive(Debug, Clone)]
pub struct LruList {
    order: LruOrder,
    links: VecLinks,
}

impl LruList {
    /// An empty list for frames `0..capacity` (`capacity < u32::MAX`).
    pub fn new(capacity: usize) -> Self {
        assert!(
            capacity < NIL as usize,
            "LruList capacity {capacity} too large"
        );
        Self {
            order: LruOrder::new(),
            links: VecLinks::new(capacity),
        }
    }

    /// Number of frames in the list.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Whether `frame` is in the list.
    pub fn contains(&self, frame: FrameId) -> bool {
        self.order.contains(&self.links, frame)
    }

    /// The most recently used frame.
    pub fn front(&self) -> Option<FrameId> {
        self.order.front()
    }

    /// The least recently used frame.
    pub fn back(&self) -> Option<FrameId> {
        self.order.back()
    }

    /// The frame just more recent than `frame`.
    pub fn more_recent(&self, frame: FrameId) -> Option<FrameId> {
        self.order.more_recent(&self.links, frame)
    }

    /// Inserts `frame` at the most recently used end.
    #[inline]
    pub fn push_front(&mut self, frame: FrameId) {
        self.order.push_front(&mut self.links, frame);
    }

    /// Inserts `frame` at the least recently used end.
    pub fn push_back(&mut self, frame: FrameId) {
        self.order.push_back(&mut self.links, frame);
    }

    /// Removes `frame` if present; returns whether it was.
    #[inline]
    pub fn remove(&mut self, frame: FrameId) -> bool {
        self.order.remove(&mut self.links, frame)
    }

    /// Moves `frame` to the front, inserting it if absent.
    #[inline]
    pub fn touch(&mut self, frame: FrameId) {
        self.order.touch(&mut self.links, frame);
    }

    /// Removes and returns the least recently used frame.
    pub fn pop_back(&mut self) -> Option<FrameId> {
        self.order.pop_back(&mut self.links)
    }

    /// The frames from most to least recently used (O(len)).
    pub fn order(&self) -> Vec<FrameId> {
        self.order.order(&self.links)
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
