//! Intrusive queues over frame ids, shared by every policy: one pair of links and one state byte
//! per frame (9 bytes), and up to four lists ([`Queue`]) a frame can be linked in, one at a time.
//!
//! Each list has a head (the newest end, where frames are inserted) and a tail (the oldest end,
//! where the eviction search starts). Besides the policy's own queues ([`Queue::Main`],
//! [`Queue::Small`]) there are two shared ones:
//!
//! - [`Queue::Cold`]: frames inserted cold (by a scan or prefetch, not asked for), evicted first,
//!   oldest first, until they are hit;
//! - [`Queue::Parked`]: pinned frames the eviction search met and set aside, so that no search
//!   looks at them again until `unpin` (or a hit) puts them back into their home queue.
//!
//! The state byte also holds the frame's pin bit and a 2-bit counter (Clock's reference bit,
//! Sieve's visited bit, S3-FIFO's frequency).
//!
//! Debug builds count *list steps* ([`steps`]): frames an eviction search examines or a walk
//! passes, and frames linked, unlinked or moved. Every policy operation costs at most a constant
//! times its steps, so tests can show that operations stay O(1) however many frames are pinned
//! without timing anything. Release builds count nothing.

use crate::FrameId;

#[cfg(debug_assertions)]
thread_local! {
    static STEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts one list step (debug builds; nothing in release builds).
#[inline(always)]
fn step() {
    #[cfg(debug_assertions)]
    STEPS.with(|s| s.set(s.get() + 1));
}

/// List steps taken by every policy on this thread so far (debug builds only).
#[cfg(debug_assertions)]
pub(crate) fn steps() -> u64 {
    STEPS.with(std::cell::Cell::get)
}

/// The link value meaning "none".
pub(super) const NIL: FrameId = FrameId::MAX;

/// The lists a frame can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Queue {
    /// Inserted cold and not hit since: the first victims.
    Cold = 0,
    /// The policy's queue (LRU list, Clock ring, Sieve queue, S3-FIFO's main queue).
    Main = 1,
    /// S3-FIFO's small queue.
    Small = 2,
    /// Pinned frames set aside by the eviction search.
    Parked = 3,
}

impl Queue {
    const ALL: [Queue; 4] = [Queue::Cold, Queue::Main, Queue::Small, Queue::Parked];

    fn from_bits(bits: u8) -> Self {
        Self::ALL[usize::from(bits & 3)]
    }
}

// The state byte: bit 7 "in the policy", bits 0-1 the queue it is linked in, bits 2-3 its home
// queue (where a parked frame goes back to), bit 4 pinned, bits 5-6 the counter.
const PRESENT: u8 = 1 << 7;
const QUEUE_MASK: u8 = 0b11;
const HOME_SHIFT: u8 = 2;
const HOME_MASK: u8 = 0b11 << HOME_SHIFT;
const PINNED: u8 = 1 << 4;
const COUNT_SHIFT: u8 = 5;
const COUNT_MASK: u8 = 0b11 << COUNT_SHIFT;

/// The two ends and the length of one list.
#[derive(Debug, Clone, Copy)]
struct Ends {
    head: FrameId,
    tail: FrameId,
    len: u32,
}

const EMPTY: Ends = Ends {
    head: NIL,
    tail: NIL,
    len: 0,
};

/// Links (`[towards head, towards tail]`) and state of frames `0..cap`, and the ends of the lists.
#[derive(Debug, Clone)]
pub(super) struct Queues {
    links: Box<[[FrameId; 2]]>,
    state: Box<[u8]>,
    ends: [Ends; 4],
}

const NEWER: usize = 0;
const OLDER: usize = 1;

impl Queues {
    /// No frame in any list, for frames `0..cap` (1 <= cap < u32::MAX).
    pub(super) fn new(cap: usize) -> Self {
        assert!(
            (1..NIL as usize).contains(&cap),
            "policy capacity {cap} out of 1..{NIL}"
        );
        Self {
            links: vec![[NIL; 2]; cap].into(),
            state: vec![0; cap].into(),
            ends: [EMPTY; 4],
        }
    }

    /// Heap bytes of the links and states.
    pub(super) fn heap_bytes(&self) -> usize {
        size_of_val(&*self.links) + size_of_val(&*self.state)
    }

    fn st(&self, f: FrameId) -> u8 {
        self.state[f as usize]
    }

    /// Whether `f` is in the policy (in some list, parked included).
    pub(super) fn contains(&self, f: FrameId) -> bool {
        self.st(f) & PRESENT != 0
    }

    /// The list `f` is linked in (`f` must be in the policy).
    pub(super) fn queue(&self, f: FrameId) -> Queue {
        debug_assert!(self.contains(f), "frame {f} is not in the policy");
        Queue::from_bits(self.st(f) & QUEUE_MASK)
    }

    /// Where `f` goes back to when unparked; the list it is in when not parked.
    pub(super) fn home(&self, f: FrameId) -> Queue {
        Queue::from_bits((self.st(f) & HOME_MASK) >> HOME_SHIFT)
    }

    pub(super) fn pinned(&self, f: FrameId) -> bool {
        self.st(f) & PINNED != 0
    }

    /// Whether the eviction search must step over `f`: pinned, or `busy` (the pool's say: held
    /// by a guard, waited for); a busy frame is marked pinned (until `unpin`), so the caller parks it.
    #[inline]
    pub(super) fn held(&mut self, f: FrameId, busy: &mut dyn FnMut(FrameId) -> bool) -> bool {
        step();
        if self.pinned(f) {
            return true;
        }
        let held = busy(f);
        if held {
            self.set_pinned(f, true);
        }
        held
    }

    pub(super) fn set_pinned(&mut self, f: FrameId, pinned: bool) {
        debug_assert!(self.contains(f), "frame {f} is not in the policy");
        let s = &mut self.state[f as usize];
        *s = if pinned { *s | PINNED } else { *s & !PINNED };
    }

    /// Whether `f` is in the policy and linked in `q` (the hit path's one check).
    #[inline(always)]
    pub(super) fn is_in(&self, f: FrameId, q: Queue) -> bool {
        self.state[f as usize] & (PRESENT | QUEUE_MASK) == PRESENT | q as u8
    }

    /// Sets the counter of `f` to `count` if `f` is linked in `q` (a hit's common case, one load
    /// and one store); `false`, and nothing changed, otherwise.
    #[inline(always)]
    pub(super) fn set_count_in(&mut self, f: FrameId, q: Queue, count: u8) -> bool {
        let s = &mut self.state[f as usize];
        if *s & (PRESENT | QUEUE_MASK) != PRESENT | q as u8 {
            return false;
        }
        *s = (*s & !COUNT_MASK) | (count << COUNT_SHIFT);
        true
    }

    /// Moves `f` to the head of `q` if it is linked there (an LRU hit: a few loads and stores,
    /// no state change); `false`, and nothing changed, otherwise.
    #[inline(always)]
    pub(super) fn move_to_head_in(&mut self, f: FrameId, q: Queue) -> bool {
        if !self.is_in(f, q) {
            return false;
        }
        let ends = &mut self.ends[q as usize];
        let head = ends.head;
        if head == f {
            return true;
        }
        step();
        // `f` is not the head, so it has a newer neighbour.
        let [newer, older] = self.links[f as usize];
        self.links[newer as usize][OLDER] = older;
        if older == NIL {
            ends.tail = newer;
        } else {
            self.links[older as usize][NEWER] = newer;
        }
        self.links[f as usize] = [NIL, head];
        self.links[head as usize][NEWER] = f;
        ends.head = f;
        true
    }

    /// Adds one to the counter of `f`, up to `max`, if `f` is linked in `q`; `false` otherwise.
    #[inline(always)]
    pub(super) fn bump_in(&mut self, f: FrameId, q: Queue, max: u8) -> bool {
        let s = &mut self.state[f as usize];
        if *s & (PRESENT | QUEUE_MASK) != PRESENT | q as u8 {
            return false;
        }
        let c = ((*s & COUNT_MASK) >> COUNT_SHIFT)
            .saturating_add(1)
            .min(max);
        *s = (*s & !COUNT_MASK) | (c << COUNT_SHIFT);
        true
    }

    /// The frame's 2-bit counter.
    pub(super) fn count(&self, f: FrameId) -> u8 {
        (self.st(f) & COUNT_MASK) >> COUNT_SHIFT
    }

    /// Sets the counter (`count <= 3`).
    pub(super) fn set_count(&mut self, f: FrameId, count: u8) {
        debug_assert!(count <= 3);
        let s = &mut self.state[f as usize];
        *s = (*s & !COUNT_MASK) | (count << COUNT_SHIFT);
    }

    /// Number of frames in `q`.
    pub(super) fn len(&self, q: Queue) -> usize {
        self.ends[q as usize].len as usize
    }

    pub(super) fn is_empty(&self, q: Queue) -> bool {
        self.len(q) == 0
    }

    /// The oldest frame of `q`.
    pub(super) fn tail(&self, q: Queue) -> Option<FrameId> {
        let t = self.ends[q as usize].tail;
        (t != NIL).then_some(t)
    }

    /// The frame after `f` towards the head (newer) of its list.
    pub(super) fn newer(&self, f: FrameId) -> Option<FrameId> {
        step();
        let n = self.links[f as usize][NEWER];
        (n != NIL).then_some(n)
    }

    /// Adds `f` (not in the policy) at the head of `q`, unpinned, counter 0.
    pub(super) fn insert(&mut self, q: Queue, f: FrameId) {
        debug_assert!(!self.contains(f), "frame {f} is already in the policy");
        debug_assert!(q != Queue::Parked);
        self.state[f as usize] = PRESENT;
        self.push_head(q, f);
    }

    /// Links `f` (in the policy, in no list) at the head of `q`.
    pub(super) fn push_head(&mut self, q: Queue, f: FrameId) {
        let head = self.ends[q as usize].head;
        self.link(q, f, NIL, head);
    }

    /// Links `f` (in the policy, in no list) at the tail of `q`.
    pub(super) fn push_tail(&mut self, q: Queue, f: FrameId) {
        let tail = self.ends[q as usize].tail;
        self.link(q, f, tail, NIL);
    }

    /// Links `f` (in the policy, in no list) just towards the tail from `at`, in `at`'s list.
    pub(super) fn push_older_than(&mut self, at: FrameId, f: FrameId) {
        let q = self.queue(at);
        let older = self.links[at as usize][OLDER];
        self.link(q, f, at, older);
    }

    /// Links `f` between `newer` and `older` (neighbours in `q`, or NIL at its ends).
    fn link(&mut self, q: Queue, f: FrameId, newer: FrameId, older: FrameId) {
        step();
        self.links[f as usize] = [newer, older];
        let ends = &mut self.ends[q as usize];
        if newer == NIL {
            ends.head = f;
        } else {
            self.links[newer as usize][OLDER] = f;
        }
        if older == NIL {
            ends.tail = f;
        } else {
            self.links[older as usize][NEWER] = f;
        }
        ends.len += 1;
        let s = &mut self.state[f as usize];
        *s = (*s & !QUEUE_MASK) | q as u8;
        if q != Queue::Parked {
            *s = (*s & !HOME_MASK) | ((q as u8) << HOME_SHIFT);
        }
    }

    /// Takes `f` out of its list; it stays in the policy with its flags.
    pub(super) fn unlink(&mut self, f: FrameId) {
        step();
        let q = self.queue(f);
        let [newer, older] = self.links[f as usize];
        let ends = &mut self.ends[q as usize];
        if newer == NIL {
            ends.head = older;
        } else {
            self.links[newer as usize][OLDER] = older;
        }
        if older == NIL {
            ends.tail = newer;
        } else {
            self.links[older as usize][NEWER] = newer;
        }
        ends.len -= 1;
        self.links[f as usize] = [NIL; 2];
    }

    /// Moves `f` to the head of its list.
    pub(super) fn move_to_head(&mut self, f: FrameId) {
        let q = self.queue(f);
        if self.ends[q as usize].head != f {
            self.unlink(f);
            self.push_head(q, f);
        }
    }

    /// Takes `f` out of the policy.
    pub(super) fn remove(&mut self, f: FrameId) {
        self.unlink(f);
        self.state[f as usize] = 0;
    }

    /// Sets the pinned frame `f` aside: out of its list into [`Queue::Parked`], remembering its
    /// home.
    pub(super) fn park(&mut self, f: FrameId) {
        debug_assert!(self.pinned(f) && self.queue(f) != Queue::Parked);
        self.unlink(f);
        self.push_head(Queue::Parked, f);
    }

    /// Takes the parked `f` out of [`Queue::Parked`]; returns its home, where the caller links it.
    pub(super) fn unpark(&mut self, f: FrameId) -> Queue {
        debug_assert_eq!(self.queue(f), Queue::Parked);
        self.unlink(f);
        self.home(f)
    }

    /// Clears the pin bit of `f`. A parked `f` leaves [`Queue::Parked`]: a cold one goes back to
    /// the tail of [`Queue::Cold`] (still the next victim) and `None` is returned; for any other
    /// its home is returned and the caller links it there.
    pub(super) fn unpin(&mut self, f: FrameId) -> Option<Queue> {
        if !self.contains(f) || !self.pinned(f) {
            return None; // a hit unparked it already
        }
        self.set_pinned(f, false);
        if self.queue(f) != Queue::Parked {
            return None;
        }
        match self.unpark(f) {
            Queue::Cold => {
                self.push_tail(Queue::Cold, f);
                None
            }
            home => Some(home),
        }
    }

    /// Removes and returns the oldest unpinned cold frame, parking the pinned ones met first.
    pub(super) fn pop_cold(&mut self, busy: &mut dyn FnMut(FrameId) -> bool) -> Option<FrameId> {
        while let Some(f) = self.tail(Queue::Cold) {
            if self.held(f, busy) {
                self.park(f);
            } else {
                self.remove(f);
                return Some(f);
            }
        }
        None
    }

    /// Up to `limit` unpinned frames of the lists `order`, each from tail to head.
    pub(super) fn coldest(&self, order: &[Queue], limit: usize) -> Vec<FrameId> {
        order
            .iter()
            .flat_map(|&q| self.oldest_first(q))
            .filter(|&f| !self.pinned(f))
            .take(limit)
            .collect()
    }

    /// The frames of `q` from tail (oldest) to head.
    pub(super) fn oldest_first(&self, q: Queue) -> impl Iterator<Item = FrameId> + '_ {
        let start = self.ends[q as usize].tail;
        std::iter::successors((start != NIL).then_some(start), move |&f| self.newer(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(q: &Queues, which: Queue) -> Vec<FrameId> {
        q.oldest_first(which).collect()
    }

    #[test]
    fn lists_link_unlink_and_keep_flags() {
        let mut q = Queues::new(6);
        for f in 0..4 {
            q.insert(Queue::Main, f);
        }
        q.insert(Queue::Small, 4);
        assert_eq!(all(&q, Queue::Main), vec![0, 1, 2, 3]);
        assert_eq!((q.len(Queue::Main), q.len(Queue::Small)), (4, 1));
        q.move_to_head(1);
        q.move_to_head(1);
        assert_eq!(all(&q, Queue::Main), vec![0, 2, 3, 1]);
        q.insert(Queue::Main, 5);
        q.unlink(5);
        q.push_older_than(2, 5);
        assert_eq!(all(&q, Queue::Main), vec![0, 5, 2, 3, 1]);
        q.unlink(5);
        q.push_tail(Queue::Main, 5);
        assert_eq!(all(&q, Queue::Main), vec![5, 0, 2, 3, 1]);
        q.set_count(2, 3);
        q.set_pinned(2, true);
        q.park(2);
        assert_eq!(
            (q.queue(2), q.home(2), q.count(2)),
            (Queue::Parked, Queue::Main, 3)
        );
        assert_eq!(all(&q, Queue::Main), vec![5, 0, 3, 1]);
        assert_eq!(q.unpin(2), Some(Queue::Main));
        assert!(!q.pinned(2) && q.count(2) == 3);
        q.push_head(Queue::Main, 2);
        assert_eq!(all(&q, Queue::Main), vec![5, 0, 3, 1, 2]);
        q.remove(0);
        q.remove(2);
        assert!(!q.contains(0) && !q.contains(2));
        assert_eq!(all(&q, Queue::Main), vec![5, 3, 1]);
        assert_eq!((q.tail(Queue::Main), q.newer(1)), (Some(5), None));
        assert_eq!(q.heap_bytes(), 6 * 9);
    }

    #[test]
    fn cold_frames_pop_oldest_first_and_pinned_ones_wait_at_the_tail() {
        let mut q = Queues::new(4);
        for f in 0..3 {
            q.insert(Queue::Cold, f);
        }
        q.set_pinned(0, true);
        assert_eq!(q.pop_cold(&mut |_| false), Some(1));
        assert_eq!(q.queue(0), Queue::Parked);
        assert_eq!(q.unpin(0), None);
        assert_eq!(all(&q, Queue::Cold), vec![0, 2]);
        q.set_pinned(0, true);
        q.set_pinned(2, true);
        assert_eq!(q.pop_cold(&mut |_| false), None);
        assert!(q.is_empty(Queue::Cold));
        assert_eq!(all(&q, Queue::Parked), vec![0, 2]);
    }
}
