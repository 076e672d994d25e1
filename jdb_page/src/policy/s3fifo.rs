//! S3-FIFO (Yang et al., SOSP'23), as libCacheSim's `S3FIFO` with its defaults
//! (`small-size-ratio=0.10,ghost-size-ratio=0.90,move-to-main-threshold=2`).
//!
//! Three FIFO queues, small, main and a ghost of page ids only, sized as libCacheSim does:
//! `S = ⌊cap · 0.1⌋`, `M = cap − S`, `G = ⌊cap · 0.9⌋` (floating-point product, truncated; no
//! ghost when G = 0). Each frame has a frequency, counted up to 3 (libCacheSim's counter is wider
//! but only ever read through `≥ 1`, `≥ 2` and `min(f, 3)`).
//!
//! - Miss: the page goes to main's head with frequency 0 if it was in the ghost (and leaves it);
//!   otherwise to main's head if no eviction has happened yet and small holds S frames, else to
//!   small's head.
//! - Hit: frequency + 1 (in small or main); nothing moves.
//! - Evict: from main if it holds more than M frames or small is empty, else from small.
//!   From small: the tail frame moves to main's head with frequency 0 if its frequency is ≥ 2 (and
//!   the search goes on in small), otherwise it is the victim and its page enters the ghost (the
//!   ghost's oldest id leaves when it holds G). If small empties without a victim, the search
//!   goes on in main. From main: a tail frame with frequency f ≥ 1 moves to the head with
//!   `min(f, 3) − 1`, the first with 0 is the victim (no ghost entry).
//!
//! Differences, all outside what libCacheSim can run: libCacheSim refuses a cache with `S = 0`
//! (below 10 objects) and, as its small queue admits only objects smaller than itself, caches
//! nothing at all while `S = 1` (10..19 objects). A pool must keep every page it reads, so here
//! `S = max(1, ⌊cap · 0.1⌋)` and a small queue of one frame admits its frame; from 20 frames on the
//! behaviour is libCacheSim's exactly. The pool evicts before it inserts, while libCacheSim looks
//! the new page up in the ghost before it evicts; the ghost therefore keeps one id beyond `G`
//! from an eviction to the next insert, which then drops the ghost hit (if any) first and the
//! surplus after, giving libCacheSim's ghost.
//!
//! Pinned frames met by the search are parked, frequency kept. `unpin` puts a parked frame back
//! at small's tail (it is still the oldest there) or main's head (as if main's hand had passed it
//! without a decrement); a hit on a parked frame does the same after counting the hit. Cold frames
//! are evicted before any other, oldest first, and leave no ghost entry; a hit on one is its first
//! use, the algorithm's insert (ghost lookup included).
//!
//! 13 bytes per frame ([`Queues`] and the page id, for the ghost) plus the ghost (`Ghost`): 4 bytes
//! per ring slot (and a bit) and 4 per table slot, about 1.125 and 1.25 slots per ghost id, so 8.7
//! bytes per frame (G = 0.9 · cap).

use std::rc::Rc;

use super::Policy;
use super::queues::{FastHit, MAX_COUNT, Queue, Queues, SharedQueues};
use crate::FrameId;
use jdb_layout::PageId;

/// The frequency at and above which a frame leaves the small queue for the main one.
const MOVE_TO_MAIN: u8 = 2;
/// The largest frequency kept.
const MAX_FREQ: u8 = MAX_COUNT;

/// S3-FIFO over frame ids.
#[derive(Debug, Clone)]
pub(crate) struct S3Fifo {
    q: SharedQueues,
    /// The page in each frame, for the ghost.
    pages: Box<[PageId]>,
    /// Frames the small queue holds before eviction turns to the main one.
    small_cap: usize,
    /// Frames the main queue holds before eviction turns to it.
    main_cap: usize,
    ghost: Ghost,
    /// Whether `evict` has run once: until then a miss finding small full goes to main.
    has_evicted: bool,
}

impl S3Fifo {
    /// The algorithm's insert of `page` on a miss: takes it out of the ghost and returns the
    /// queue it enters (at the head, frequency 0).
    fn admit(&mut self, page: PageId) -> Queue {
        let was_ghost = self.ghost.remove(page);
        self.ghost.trim();
        if was_ghost || (!self.has_evicted && self.q.len(Queue::Small) >= self.small_cap) {
            Queue::Main
        } else {
            Queue::Small
        }
    }

    /// Links the unparked `frame` back into its home queue (small or main).
    fn put_back(&mut self, home: Queue, frame: FrameId) {
        match home {
            Queue::Small => self.q.push_tail(Queue::Small, frame),
            _ => self.q.push_head(Queue::Main, frame),
        }
    }

    /// Whether eviction takes from main (rather than small) now.
    fn evicts_main(&self) -> bool {
        self.q.len(Queue::Main) > self.main_cap || self.q.is_empty(Queue::Small)
    }

    /// The victim from small, moving frequent frames to main and parking pinned ones; `None` if
    /// small empties first.
    fn evict_small(&mut self, busy: &mut dyn FnMut(FrameId) -> bool) -> Option<FrameId> {
        while let Some(f) = self.q.tail(Queue::Small) {
            if self.q.held(f, busy) {
                self.q.park(f);
            } else if self.q.count(f) >= MOVE_TO_MAIN {
                self.q.unlink(f);
                self.q.set_count(f, 0);
                self.q.push_head(Queue::Main, f);
            } else {
                self.ghost.push(self.pages[f as usize]);
                self.q.remove(f);
                return Some(f);
            }
        }
        None
    }

    /// The victim from main, reinserting used frames and parking pinned ones; `None` if main
    /// empties first (all parked).
    fn evict_main(&mut self, busy: &mut dyn FnMut(FrameId) -> bool) -> Option<FrameId> {
        while let Some(f) = self.q.tail(Queue::Main) {
            if self.q.held(f, busy) {
                self.q.park(f);
            } else if self.q.count(f) > 0 {
                self.q.set_count(f, self.q.count(f) - 1);
                self.q.move_to_head(f);
            } else {
                self.q.remove(f);
                return Some(f);
            }
        }
        None
    }

    /// Heap bytes of the ghost alone.
    #[cfg(test)]
    fn ghost_heap_bytes(&self) -> usize {
        self.ghost.heap_bytes()
    }

    /// A hit on a frame not linked in small or main: a cold one's first use, or a parked one.
    #[cold]
    fn hit_elsewhere(&mut self, frame: FrameId) {
        let parked = self.q.queue(frame) == Queue::Parked;
        let home = if parked {
            self.q.unpark(frame)
        } else {
            self.q.queue(frame)
        };
        if home == Queue::Cold {
            // Its first use: the algorithm's insert (its counter is still 0).
            if !parked {
                self.q.unlink(frame);
            }
            let queue = self.admit(self.pages[frame as usize]);
            self.q.push_head(queue, frame);
            return;
        }
        let c = self.q.count(frame);
        self.q.set_count(frame, (c + 1).min(MAX_FREQ));
        if parked {
            self.put_back(home, frame);
        }
    }
}

impl Policy for S3Fifo {
    fn new(cap: usize) -> Self {
        // libCacheSim: `(int64_t)(cache_size * ratio)`, a double product truncated.
        let small_cap = ((cap as f64 * 0.1) as usize).max(1);
        Self {
            q: SharedQueues::new(cap),
            pages: vec![0; cap].into(),
            small_cap,
            main_cap: cap - small_cap,
            ghost: Ghost::new((cap as f64 * 0.9) as usize),
            has_evicted: false,
        }
    }

    fn fast_hit(&self) -> FastHit {
        FastHit::Bump
    }

    fn queues(&self) -> &Rc<Queues> {
        self.q.rc()
    }

    fn insert(&mut self, frame: FrameId, page: PageId, cold: bool) {
        self.pages[frame as usize] = page;
        let queue = if cold { Queue::Cold } else { self.admit(page) };
        self.q.insert(queue, frame);
    }

    #[inline(always)]
    fn hit(&mut self, frame: FrameId) {
        if self.q.hit(frame, FastHit::Bump) {
            return;
        }
        self.hit_elsewhere(frame);
    }

    fn pin(&mut self, frame: FrameId) {
        self.q.set_pinned(frame, true);
    }

    fn unpin(&mut self, frame: FrameId) {
        if let Some(home) = self.q.unpin(frame) {
            self.put_back(home, frame);
        }
    }

    fn evict(&mut self, busy: &mut dyn FnMut(FrameId) -> bool) -> Option<FrameId> {
        self.has_evicted = true;
        if let Some(f) = self.q.pop_cold(busy) {
            return Some(f);
        }
        loop {
            if self.evicts_main() {
                if self.q.is_empty(Queue::Main) {
                    return None; // S is empty too.
                }
                if let Some(f) = self.evict_main(busy) {
                    return Some(f);
                }
            } else if let Some(f) = self.evict_small(busy) {
                return Some(f);
            }
        }
    }

    fn remove(&mut self, frame: FrameId) {
        self.q.remove(frame);
    }

    /// Cold frames, then the queue eviction turns to now (tail first), then the other one, then
    /// parked frames.
    fn order(&self) -> Vec<FrameId> {
        let (first, second) = if self.evicts_main() {
            (Queue::Main, Queue::Small)
        } else {
            (Queue::Small, Queue::Main)
        };
        [Queue::Cold, first, second, Queue::Parked]
            .into_iter()
            .flat_map(|q| self.q.oldest_first(q))
            .collect()
    }

    fn coldest(&self, limit: usize) -> Vec<FrameId> {
        self.q
            .coldest(&[Queue::Cold, Queue::Small, Queue::Main], limit)
    }

    fn heap_bytes(&self) -> usize {
        self.q.heap_bytes() + size_of_val(&*self.pages) + self.ghost.heap_bytes()
    }
}

/// A FIFO of at most `cap` page ids (one more between an eviction and the next insert), with O(1)
/// push, lookup-and-remove and trim (amortised), in 4 bytes per ring slot and 4 per table slot.
///
/// `ring` is a circular buffer holding ids in push order: `span` slots from `head` (the oldest).
/// `table` is an open-addressing hash table (linear probing, Robin Hood order, deletion by
/// backward shift, so no tombstones) of ring slots: it holds the slot of every live id, and an id
/// is found through the ring (`ring[slot]`), so its entries are 4 bytes. A slot the table does not
/// point at is stale (its id was removed, or pushed again later); `live` marks the others, one bit
/// a slot. Trimming pops from the front, skipping stale slots. When the span reaches the ring's
/// `cap + 1 + slack` slots, the live ids are moved together (compaction): two sequential passes,
/// over the ring and over the table, once per at least `slack` pushes.
#[derive(Debug, Clone)]
struct Ghost {
    cap: usize,
    /// Live ids.
    len: usize,
    ring: Box<[PageId]>,
    /// The oldest slot in use.
    head: usize,
    /// Slots in use from `head` on, live or stale.
    span: usize,
    /// One bit per ring slot: whether a live id is there.
    live: Box<[u64]>,
    /// Entries (0 when empty), placed by their id's hash; see [`Ghost::entry`].
    table: Box<[u32]>,
    /// The low bits of an entry holding its ring slot plus one.
    slot_bits: u32,
}

impl Ghost {
    fn new(cap: usize) -> Self {
        let (ring, table) = if cap == 0 {
            (0, 0)
        } else {
            // At most `cap + 1` live ids: the ring's slack bounds how often it is compacted, the
            // table's its load (≤ 0.8) and so its probe lengths.
            let n = cap + 1;
            (n + (n / 8).max(1), n + (n / 4).max(1))
        };
        assert!(ring < 1 << 31, "ghost of {cap} ids");
        Self {
            cap,
            len: 0,
            // Both allocated zeroed (an empty entry is 0): their pages become resident as the
            // ghost fills.
            ring: vec![0; ring].into(),
            head: 0,
            span: 0,
            live: vec![0; ring.div_ceil(64)].into(),
            table: vec![0; table].into(),
            slot_bits: u32::BITS - (ring as u32).leading_zeros(),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    fn contains(&self, page: PageId) -> bool {
        self.find(page).is_some()
    }

    /// The table slot where `page`'s hash places it (Fibonacci hashing, then a multiply-shift
    /// onto `0..table.len()`).
    fn home(&self, page: PageId) -> usize {
        let hash = u64::from(page).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        ((hash * self.table.len() as u64) >> 32) as usize
    }

    fn next(&self, at: usize) -> usize {
        if at + 1 == self.table.len() {
            0
        } else {
            at + 1
        }
    }

    /// The largest distance an entry's high bits hold; from it on, the distance is computed.
    fn max_dist(&self) -> usize {
        (u32::MAX >> self.slot_bits) as usize
    }

    /// The entry of ring slot `slot` placed `dist` table slots after its id's home: the slot plus
    /// one in the low `slot_bits` bits, the distance (at most [`Ghost::max_dist`]) in the high
    /// ones, so probes compare distances and read the ring only for ids of the same home.
    fn entry(&self, slot: usize, dist: usize) -> u32 {
        debug_assert!(slot < self.ring.len());
        ((dist.min(self.max_dist()) as u32) << self.slot_bits) | (slot as u32 + 1)
    }

    /// The ring slot of a (non-empty) entry.
    fn slot(&self, entry: u32) -> usize {
        (entry & (u32::MAX >> (u32::BITS - self.slot_bits))) as usize - 1
    }

    /// How far the (non-empty) entry at table slot `at` is from its id's home.
    fn dist(&self, at: usize, entry: u32) -> usize {
        let dist = (entry >> self.slot_bits) as usize;
        if dist < self.max_dist() {
            return dist;
        }
        let home = self.home(self.ring[self.slot(entry)]);
        if at >= home {
            at - home
        } else {
            at + self.table.len() - home
        }
    }

    /// The table slot holding `page`'s entry, if `page` is live.
    fn find(&self, page: PageId) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let mut at = self.home(page);
        let mut dist = 0;
        loop {
            let entry = self.table[at];
            if entry == 0 {
                return None;
            }
            let theirs = self.dist(at, entry);
            // Robin Hood order: `page` would sit before any id nearer its home than `page` is.
            if theirs < dist {
                return None;
            }
            if theirs == dist && self.ring[self.slot(entry)] == page {
                return Some(at);
            }
            at = self.next(at);
            dist += 1;
        }
    }

    /// Enters ring slot `slot`, whose id is not in the table.
    fn table_insert(&mut self, mut slot: usize) {
        let mut at = self.home(self.ring[slot]);
        let mut dist = 0;
        loop {
            let there = self.table[at];
            if there == 0 {
                self.table[at] = self.entry(slot, dist);
                return;
            }
            let theirs = self.dist(at, there);
            if theirs < dist {
                self.table[at] = self.entry(slot, dist);
                slot = self.slot(there);
                dist = theirs;
            }
            at = self.next(at);
            dist += 1;
        }
    }

    /// Empties table slot `at`, shifting the following entries of its run back by one.
    fn table_remove(&mut self, mut at: usize) {
        loop {
            let next = self.next(at);
            let entry = self.table[next];
            let dist = if entry == 0 {
                0
            } else {
                self.dist(next, entry)
            };
            if dist == 0 {
                self.table[at] = 0;
                return;
            }
            self.table[at] = self.entry(self.slot(entry), dist - 1);
            at = next;
        }
    }

    fn is_live(&self, slot: usize) -> bool {
        self.live[slot / 64] & (1 << (slot % 64)) != 0
    }

    fn set_live(&mut self, slot: usize, live: bool) {
        let bit = 1 << (slot % 64);
        if live {
            self.live[slot / 64] |= bit;
        } else {
            self.live[slot / 64] &= !bit;
        }
    }

    /// Removes the entry at table slot `at`, whose id is live.
    fn drop_entry(&mut self, at: usize) {
        let slot = self.slot(self.table[at]);
        self.table_remove(at);
        self.set_live(slot, false);
        self.len -= 1;
    }

    /// The ring slot `i` places after `head`.
    fn ring_slot(&self, i: usize) -> usize {
        let slot = self.head + i;
        if slot >= self.ring.len() {
            slot - self.ring.len()
        } else {
            slot
        }
    }

    /// Adds `page` as the newest id, first trimming to `cap` (so the ghost may hold `cap + 1`
    /// until the next [`Ghost::trim`]). An id already there stays where it is (libCacheSim's FIFO
    /// treats it as a hit).
    fn push(&mut self, page: PageId) {
        if self.cap == 0 || self.contains(page) {
            return;
        }
        self.trim();
        if self.span == self.ring.len() {
            self.compact();
        }
        let slot = self.ring_slot(self.span);
        self.ring[slot] = page;
        self.span += 1;
        self.len += 1;
        self.set_live(slot, true);
        self.table_insert(slot);
    }

    /// Removes `page`; returns whether it was there. Its ring slot becomes stale.
    fn remove(&mut self, page: PageId) -> bool {
        let Some(at) = self.find(page) else {
            return false;
        };
        self.drop_entry(at);
        true
    }

    /// Drops the oldest ids until at most `cap` are left.
    fn trim(&mut self) {
        while self.len > self.cap {
            debug_assert!(self.span > 0, "a live id has a slot");
            let slot = self.head;
            if self.is_live(slot) {
                let at = self
                    .find(self.ring[slot])
                    .expect("a live slot has an entry");
                debug_assert_eq!(self.slot(self.table[at]), slot);
                self.drop_entry(at);
            }
            self.head = self.ring_slot(1);
            self.span -= 1;
        }
    }

    /// Moves the live ids to the first `len` slots from `head`, in order, dropping stale slots:
    /// each entry of the table is renumbered by the live slots before its own (counted from the
    /// bitmap, with a per-word prefix sum built here), then the ids move down the ring.
    fn compact(&mut self) {
        let mut before = Vec::with_capacity(self.live.len());
        let mut count = 0u32;
        for word in &self.live {
            before.push(count);
            count += word.count_ones();
        }
        debug_assert_eq!(count as usize, self.len);
        // Live slots before `slot`, and before it counting from `head` (wrapping around).
        let rank = |slot: usize| {
            let below = self.live[slot / 64] & ((1u64 << (slot % 64)) - 1);
            before[slot / 64] as usize + below.count_ones() as usize
        };
        let head_rank = rank(self.head);
        for at in 0..self.table.len() {
            let entry = self.table[at];
            if entry == 0 {
                continue;
            }
            let slot = self.slot(entry);
            let k = if slot >= self.head {
                rank(slot) - head_rank
            } else {
                self.len - head_rank + rank(slot)
            };
            self.table[at] = self.entry(self.ring_slot(k), self.dist(at, entry));
        }
        drop(before);
        let mut kept = 0;
        for i in 0..self.span {
            let from = self.ring_slot(i);
            if self.is_live(from) {
                self.ring[self.ring_slot(kept)] = self.ring[from];
                kept += 1;
            }
        }
        self.live.fill(0);
        for i in 0..kept {
            self.set_live(self.ring_slot(i), true);
        }
        self.span = kept;
    }

    /// Heap bytes: the ring, its bitmap and the table (compaction's prefix sums, one `u32` per
    /// 64 slots, live only while it runs).
    fn heap_bytes(&self) -> usize {
        size_of_val(&*self.ring) + size_of_val(&*self.live) + size_of_val(&*self.table)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet, VecDeque};

    use proptest::prelude::*;

    use super::*;
    use crate::policy::tests::replay;

    #[test]
    fn queue_sizes_round_as_libcachesim_with_a_small_queue_of_at_least_one() {
        let sizes = |cap| {
            let p = S3Fifo::new(cap);
            (p.small_cap, p.main_cap, p.ghost.cap)
        };
        assert_eq!(sizes(1), (1, 0, 0));
        assert_eq!(sizes(2), (1, 1, 1));
        assert_eq!(sizes(4), (1, 3, 3));
        assert_eq!(sizes(9), (1, 8, 8));
        assert_eq!(sizes(10), (1, 9, 9));
        assert_eq!(sizes(20), (2, 18, 18));
        assert_eq!(sizes(64), (6, 58, 57));
        assert_eq!(sizes(256), (25, 231, 230));
        assert_eq!(sizes(16384), (1638, 14746, 14745));
    }

    #[test]
    fn new_pages_enter_small_then_main_once_small_is_full_before_any_eviction() {
        let mut p = S3Fifo::new(20); // S = 2, M = 18
        for f in 0..4 {
            p.insert(f, 100 + f, false);
        }
        assert_eq!(p.q.oldest_first(Queue::Small).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(p.q.oldest_first(Queue::Main).collect::<Vec<_>>(), [2, 3]);
        for f in 4..20 {
            p.insert(f, 100 + f, false);
        }
        // The first eviction takes S's tail (0) and puts page 100 in the ghost.
        p.hit(1);
        p.hit(1);
        assert_eq!(p.evict(&mut |_| false), Some(0));
        assert!(p.ghost.contains(100));
        // From now on misses go to S; page 100 comes back from the ghost into M.
        p.insert(0, 100, false);
        assert_eq!(p.q.queue(0), Queue::Main);
        assert!(!p.ghost.contains(100));
    }

    #[test]
    fn small_promotes_at_two_hits_and_main_reinserts_with_a_capped_count() {
        let mut p = S3Fifo::new(10); // S = 1, M = 9, G = 9
        p.insert(0, 50, false);
        p.hit(0);
        p.hit(0);
        for f in 1..10 {
            p.insert(f, 50 + f, false); // S is full before any eviction: to M
        }
        for _ in 0..5 {
            p.hit(1);
        }
        // M holds 9 = M: evict from S: 0 (count 2) moves to M, S is empty, evict from M: 1 has
        // count 3 (capped) and is reinserted with 2; 2 is the victim.
        assert_eq!(p.evict(&mut |_| false), Some(2));
        assert_eq!(p.q.count(1), 2);
        assert_eq!(p.q.count(0), 0);
        assert_eq!(p.order(), vec![3, 4, 5, 6, 7, 8, 9, 0, 1]);
        // M's victims leave no ghost entry.
        assert_eq!(p.ghost.len(), 0);
    }

    #[test]
    fn pinned_frames_are_parked_and_come_back_home() {
        let mut p = S3Fifo::new(20); // S = 2, M = 18
        for f in 0..20 {
            p.insert(f, f, false); // S = [0, 1], M = [2, .., 19]
        }
        for f in [0, 1, 2] {
            p.pin(f);
        }
        p.hit(2);
        // S's frames are parked, S is then empty: M's tail 2 is parked too, 3 is the victim.
        assert_eq!(p.evict(&mut |_| false), Some(3));
        assert_eq!(p.q.len(Queue::Parked), 3);
        assert_eq!(p.ghost.len(), 0);
        // A parked main frame comes back at M's head, its count kept.
        p.unpin(2);
        let main_head = p.q.oldest_first(Queue::Main).last();
        assert_eq!((main_head, p.q.count(2)), (Some(2), 1));
        // A parked small frame comes back at S's tail; a hit on one counts and does the same.
        p.insert(3, 103, false); // S = [3]
        p.unpin(1); // S = [1, 3]
        p.hit(0); // S = [0, 1, 3], 0 still pinned
        assert_eq!(
            p.q.oldest_first(Queue::Small).collect::<Vec<_>>(),
            [0, 1, 3]
        );
        assert_eq!((p.q.count(0), p.q.pinned(0)), (1, true));
        // 0 is parked again, 1 is the victim and its page enters the ghost.
        assert_eq!(p.evict(&mut |_| false), Some(1));
        assert!(p.ghost.contains(1));
        assert_eq!(p.order().len(), 19);
    }

    #[test]
    fn all_pinned_gives_none_and_remove_leaves_no_ghost_entry() {
        let mut p = S3Fifo::new(4);
        for f in 0..4 {
            p.insert(f, 10 + f, false);
            p.pin(f);
        }
        assert_eq!(p.evict(&mut |_| false), None);
        assert_eq!(p.evict(&mut |_| false), None);
        p.remove(0);
        p.unpin(1);
        p.remove(1);
        assert_eq!(p.ghost.len(), 0);
        p.insert(0, 10, false);
        assert_eq!(p.evict(&mut |_| false), Some(0));
        assert!(p.ghost.contains(10));
    }

    #[test]
    fn cold_frames_go_first_leave_no_ghost_and_a_hit_admits_them() {
        let mut p = S3Fifo::new(20);
        for f in 0..18 {
            p.insert(f, f, false);
        }
        p.insert(18, 18, true);
        p.insert(19, 19, true);
        assert_eq!(&p.order()[..2], [18, 19]);
        assert_eq!(p.evict(&mut |_| false), Some(18));
        assert_eq!(p.ghost.len(), 0);
        p.hit(19);
        assert_eq!(p.q.queue(19), Queue::Small);
        p.insert(18, 18, true);
        assert_eq!(p.evict(&mut |_| false), Some(18));
    }

    #[test]
    fn ghost_is_a_bounded_fifo_that_compacts() {
        let mut g = Ghost::new(3);
        for page in 0..5 {
            g.push(page);
            g.trim();
        }
        assert_eq!(g.len(), 3);
        assert!(!g.contains(1) && g.contains(2) && g.contains(4));
        // Stale slots from removals are skipped and compacted; the ring never grows.
        let slots = g.ring.len();
        for page in 5..1000 {
            g.push(page);
            assert!(g.remove(page - 1));
        }
        assert_eq!(g.ring.len(), slots);
        assert!(g.contains(999) && g.contains(2) && g.contains(3));
        g.push(1000);
        g.push(1001);
        g.trim();
        assert!(!g.contains(2) && !g.contains(3) && g.contains(999) && g.contains(1001));
        // One more than `cap` between a push and the next trim.
        g.push(1002);
        assert_eq!(g.len(), 4);
        g.trim();
        assert_eq!(g.len(), 3);
        assert!(!g.contains(999));
        let mut none = Ghost::new(0);
        none.push(1);
        assert!(!none.remove(1));
    }

    /// S3-FIFO as libCacheSim's code reads, on `VecDeque`s (front = tail), with this module's
    /// small-queue size for small caches; returns the misses.
    fn reference(cap: usize, trace: &[u32]) -> u64 {
        let s = ((cap as f64 * 0.1) as usize).max(1);
        let (m, g) = (cap - s, (cap as f64 * 0.9) as usize);
        let (mut small, mut main, mut ghost) = (VecDeque::new(), VecDeque::new(), VecDeque::new());
        let mut freq: HashMap<u32, u8> = HashMap::new();
        let (mut misses, mut has_evicted) = (0, false);
        for &page in trace {
            if let Some(f) = freq.get_mut(&page) {
                *f = (*f + 1).min(3);
                continue;
            }
            misses += 1;
            let from_ghost = ghost.contains(&page);
            ghost.retain(|&x| x != page);
            if freq.len() == cap {
                has_evicted = true;
                'evict: loop {
                    if main.len() > m || small.is_empty() {
                        while let Some(x) = main.pop_front() {
                            if freq[&x] >= 1 {
                                *freq.get_mut(&x).unwrap() -= 1;
                                main.push_back(x);
                            } else {
                                freq.remove(&x);
                                break 'evict;
                            }
                        }
                    } else {
                        while let Some(x) = small.pop_front() {
                            if freq[&x] >= 2 {
                                freq.insert(x, 0);
                                main.push_back(x);
                            } else {
                                freq.remove(&x);
                                if g > 0 {
                                    if ghost.len() == g {
                                        ghost.pop_front();
                                    }
                                    ghost.push_back(x);
                                }
                                break 'evict;
                            }
                        }
                    }
                }
            }
            if from_ghost || (!has_evicted && small.len() >= s) {
                main.push_back(page);
            } else {
                small.push_back(page);
            }
            freq.insert(page, 0);
        }
        misses
    }

    proptest! {
        #[test]
        fn misses_match_the_reference(
            cap in 1..30usize,
            trace in proptest::collection::vec(0..40u32, 1..500),
        ) {
            prop_assert_eq!(replay(&mut S3Fifo::new(cap), cap, &trace), reference(cap, &trace));
        }
    }

    #[test]
    fn ghost_memory_is_proportional_to_cap() {
        for cap in [1000, 16384, 65536, 262_144] {
            let p = S3Fifo::new(cap);
            let per_frame = p.ghost_heap_bytes() as f64 / cap as f64;
            assert!(
                per_frame < 9.0,
                "{per_frame} ghost bytes per frame at {cap}"
            );
        }
    }

    impl Ghost {
        /// The live ids, oldest first, checking the ring and table against each other.
        fn live(&self) -> Vec<PageId> {
            let entries: Vec<usize> = (0..self.table.len())
                .filter(|&at| self.table[at] != 0)
                .map(|at| {
                    // The stored distance is the true one (or saturated).
                    let entry = self.table[at];
                    let home = self.home(self.ring[self.slot(entry)]);
                    let dist = (at + self.table.len() - home) % self.table.len();
                    let stored = (entry >> self.slot_bits) as usize;
                    assert_eq!(stored, dist.min(self.max_dist()));
                    self.slot(entry)
                })
                .collect();
            assert_eq!(entries.len(), self.len);
            assert!(self.span <= self.ring.len());
            let live: Vec<PageId> = (0..self.span)
                .map(|i| self.ring_slot(i))
                .filter(|slot| entries.contains(slot))
                .map(|slot| self.ring[slot])
                .collect();
            assert_eq!(live.len(), self.len, "every entry points into the span");
            for slot in 0..self.ring.len() {
                assert_eq!(
                    self.is_live(slot),
                    entries.contains(&slot),
                    "bit of slot {slot}"
                );
            }
            for &page in &live {
                let at = self.find(page).expect("a live id is found");
                assert_eq!(self.ring[self.slot(self.table[at])], page);
            }
            live
        }
    }

    #[derive(Debug, Clone)]
    enum GhostOp {
        Push(PageId),
        Remove(PageId),
        Trim,
    }

    fn ghost_op() -> impl Strategy<Value = GhostOp> {
        prop_oneof![
            3 => (0..24u32).prop_map(GhostOp::Push),
            2 => (0..24u32).prop_map(GhostOp::Remove),
            1 => Just(GhostOp::Trim),
        ]
    }

    proptest! {
        /// The ghost against a `VecDeque` (oldest first) and a `HashSet`, after every operation;
        /// with `saturate`, as if its ring were so large that entries had a single distance bit.
        #[test]
        fn ghost_matches_a_fifo_model(
            cap in 0..12usize,
            saturate in any::<bool>(),
            ops in proptest::collection::vec(ghost_op(), 1..400),
        ) {
            let mut g = Ghost::new(cap);
            if saturate {
                g.slot_bits = 31; // distances from 1 on are computed through the ring
            }
            let bytes = g.heap_bytes();
            let (mut fifo, mut set) = (VecDeque::new(), HashSet::new());
            let trim = |fifo: &mut VecDeque<PageId>, set: &mut HashSet<PageId>| {
                while fifo.len() > cap {
                    set.remove(&fifo.pop_front().unwrap());
                }
            };
            for op in ops {
                match op {
                    GhostOp::Push(page) => {
                        g.push(page);
                        if cap > 0 && !set.contains(&page) {
                            trim(&mut fifo, &mut set);
                            fifo.push_back(page);
                            set.insert(page);
                        }
                    }
                    GhostOp::Remove(page) => {
                        let was = set.remove(&page);
                        if was {
                            fifo.retain(|&p| p != page);
                        }
                        prop_assert_eq!(g.remove(page), was);
                    }
                    GhostOp::Trim => {
                        g.trim();
                        trim(&mut fifo, &mut set);
                    }
                }
                prop_assert_eq!(g.live(), fifo.iter().copied().collect::<Vec<_>>());
                prop_assert_eq!(g.len(), set.len());
                for page in 0..24 {
                    prop_assert_eq!(g.contains(page), set.contains(&page));
                }
                prop_assert_eq!(g.heap_bytes(), bytes);
            }
        }
    }

    #[test]
    fn ghost_stays_exact_through_many_compactions_at_size() {
        // A large ghost with a high turnover of ghost hits: many stale slots, many compactions,
        // long probe runs; checked against the model at the end of every round.
        let cap = 5000;
        let mut g = Ghost::new(cap);
        g.slot_bits = 30; // distances from 3 on are computed through the ring
        let mut fifo: VecDeque<PageId> = VecDeque::new();
        let mut x = 12345u64;
        let mut rand = |n: u32| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % u64::from(n)) as u32
        };
        for round in 0..20 {
            for _ in 0..5000 {
                let page = rand(3 * cap as u32);
                if rand(2) == 0 {
                    g.push(page);
                    if !fifo.contains(&page) {
                        while fifo.len() > cap {
                            fifo.pop_front();
                        }
                        fifo.push_back(page);
                    }
                } else {
                    let was = fifo.iter().position(|&p| p == page);
                    if let Some(i) = was {
                        fifo.remove(i);
                    }
                    assert_eq!(g.remove(page), was.is_some());
                }
            }
            g.trim();
            while fifo.len() > cap {
                fifo.pop_front();
            }
            assert_eq!(
                g.live(),
                fifo.iter().copied().collect::<Vec<_>>(),
                "round {round}"
            );
        }
    }
}
