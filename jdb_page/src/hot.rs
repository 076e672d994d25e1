//! [`Hot`]: what a hit and a guard's release touch, reachable without borrowing the pool's
//! [`Frames`](crate::frames::Frames): the page table, each frame's record ([`Meta`]: page, latch,
//! state, flags) in one dense array, the page records ([`Page`], what a guard derefs to) in
//! another, the policy's queues for its common-case hit ([`FastHit`], as a table) and the hit
//! counter.
//!
//! Every field is a `Cell` (the page table's are behind `&self` methods that never call out), so
//! a hit is a few loads and stores with no `RefCell` flag to test and set, no dispatch and no
//! bounds checks: look the page up, check and latch its record (one 4-byte word, [`Word`], read
//! and written whole; the page table's entry, frame + 1 or 0, indexes the records directly, record
//! 0 being one no hit can latch), count. The same test of the word also asks for [`MARKED`]: the
//! policy's fast hit would change nothing in the frame's state byte (SIEVE's visited bit already
//! set, S3-FIFO's counter at 3, any frame in exact LRU's list), so the common hit never touches
//! the policy's bytes (exact LRU still moves the frame). An unmarked frame takes
//! [`Hot::try_hit_unmarked`]: the policy's fast hit looked up (its state byte through a pointer
//! kept here, one table entry whose sign says whether exact LRU must also move the frame), and
//! the mark set when the byte reaches its fixed point; the policy's queues clear it whenever they
//! change the byte. A guard then reaches the page's bytes from the frame number
//! (`Core::frame_bytes`), not through the page record, and releases through `core.hot`: this
//! struct lives inside the pool's boxed `Core`, so both are a fixed offset from the guard's
//! `core` (no load).
//! Whatever that does not cover (a frame being read, waited for, evicted, held in a conflicting
//! mode; a cold or parked frame the policy must see; a release someone waits for) goes to
//! `Frames`, which owns everything else and points to this struct (`Frames::attach`).

use std::{
    cell::{Cell, UnsafeCell},
    ptr::NonNull,
    rc::Rc,
};

use jdb_layout::PageId;

use crate::{
    FrameId, Page,
    policy::{FastHit, FastHitTable, Links, Marks, Queues, apply_fast_hit},
    table::PageTable,
};

/// How a guard holds a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Any number of readers ([`PageRef`](crate::PageRef)).
    Shared,
    /// One writer ([`PageMut`](crate::PageMut)).
    Exclusive,
}

/// What a frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum State {
    /// Nothing; on the free list.
    Free,
    /// Taken for a new page by a task that has not installed it yet.
    Reserved,
    /// A read of `page` is in flight into it; tasks asking for `page` wait.
    Reading,
    /// Holds `page`.
    Resident,
}

/// `latch` of a frame held by one writer.
pub(crate) const EXCLUSIVE: u16 = u16::MAX;

/// Tasks wait in the frame's queue.
pub(crate) const WAITERS: u8 = 1;
/// Chosen as a victim and being cleaned; out of the policy until evicted or rescued.
pub(crate) const EVICTING: u8 = 2;
/// The policy's eviction search met the frame busy and set it aside (parked); it is told
/// (`unpin`) when the frame stops being busy.
pub(crate) const PARKED: u8 = 4;
/// Kept from eviction by calls in flight (`Frames::keep`); how many in `Frames::kept`.
pub(crate) const KEPT: u8 = 8;
/// The policy's fast hit changes nothing in the frame's state byte (it is in the queue the fast
/// hit applies to, at the operation's fixed point: visited, counter saturated, in exact LRU's
/// list), so a hit skips the byte (exact LRU still moves the frame). Set only by the hit path,
/// after a fast hit; cleared by the policy's queues whenever the byte changes
/// ([`Marks`](crate::policy::Marks)), and by every rewrite of the flags.
pub(crate) const MARKED: u8 = 16;

/// Per frame: 8 bytes. `repr(C)`: `latch`, `state` and `flags` are bytes 4..8, the [`Word`] a hit
/// tests with one load and compare.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct Meta {
    /// The page held (Reading, Resident); the next free frame (Free).
    pub(crate) page: PageId,
    /// Readers, or `EXCLUSIVE`.
    pub(crate) latch: u16,
    pub(crate) state: State,
    pub(crate) flags: u8,
}

const _: () = assert!(
    std::mem::size_of::<Meta>() == 8
        && std::mem::offset_of!(Meta, latch) == 4
        && std::mem::offset_of!(Meta, state) == 6
        && std::mem::offset_of!(Meta, flags) == 7
);

/// Bytes 4..8 of a [`Meta`] (`latch`, `state`, `flags`) as one word, as the hit path and a
/// guard's release read and write them: `latch` in bits 0..16, `state` in 16..24, `flags` in
/// 24..32. Always read and written whole (4 bytes at offset 4), so that a hit right after a
/// release of the same frame reads what the release stored in one piece (a wider load over a
/// narrower store in flight waits for the store to land).
#[derive(Debug, Clone, Copy)]
struct Word(u32);

impl Word {
    const LATCH: u32 = 0xffff;
    const FLAGS_SHIFT: u32 = 24;

    fn of(m: Meta) -> Self {
        let [a, b] = m.latch.to_le_bytes();
        Self(u32::from_le_bytes([a, b, m.state as u8, m.flags]))
    }

    /// Whether a hit may latch the frame in `mode` now: resident, nobody waiting, not being
    /// evicted (parked is fine: the policy's hit puts it back), and for `Exclusive` unlatched,
    /// for `Shared` not held exclusively (and not at the reader limit).
    #[inline(always)]
    fn hit_latchable(self, mode: Mode) -> bool {
        self.test(mode, 0)
    }

    /// [`Word::hit_latchable`] with the flags of `also` required set.
    #[inline(always)]
    fn test(self, mode: Mode, also: u8) -> bool {
        let mask = u32::from_le_bytes([0xff, 0xff, 0xff, WAITERS | EVICTING | also]);
        let resident = u32::from_le_bytes([0, 0, State::Resident as u8, also]);
        match mode {
            Mode::Exclusive => self.0 & mask == resident,
            // Resident with neither flag: `latch` plus `resident`; `latch` compatible: at most
            // `EXCLUSIVE - 2`. Any other state or flag lands outside the range (below it wraps
            // around), so one subtraction and one compare test all three.
            Mode::Shared => (self.0 & mask).wrapping_sub(resident) <= u32::from(EXCLUSIVE - 2),
        }
    }

    /// The latch taken once more in `mode` (which `hit_latchable` allowed).
    #[inline(always)]
    fn latched(self, mode: Mode) -> Self {
        match mode {
            Mode::Shared => Self(self.0 + 1),
            Mode::Exclusive => Self(self.0 | Self::LATCH),
        }
    }

    /// One holder in `mode` let go (the word must hold such a latch).
    #[inline(always)]
    fn released(self, mode: Mode) -> Self {
        match mode {
            Mode::Shared => Self(self.0 - 1),
            Mode::Exclusive => Self(self.0 & !Self::LATCH),
        }
    }

    #[inline(always)]
    fn flags(self) -> u8 {
        (self.0 >> Self::FLAGS_SHIFT) as u8
    }

    /// The word with [`MARKED`] set.
    #[inline(always)]
    fn marked(self) -> Self {
        Self(self.0 | u32::from(MARKED) << Self::FLAGS_SHIFT)
    }
}

impl Meta {
    /// Whether a hit may latch the frame in `mode` now (see [`Word::hit_latchable`]).
    pub(crate) fn hit_latchable(self, mode: Mode) -> bool {
        Word::of(self).hit_latchable(mode)
    }

    /// The latch taken once more in `mode`.
    #[inline(always)]
    pub(crate) fn latch_taken(self, mode: Mode) -> u16 {
        match mode {
            Mode::Shared => self.latch + 1,
            Mode::Exclusive => EXCLUSIVE,
        }
    }
}

/// Whether a latch held as `latch` admits one more holder in `mode`.
pub(crate) fn compatible(latch: u16, mode: Mode) -> bool {
    match mode {
        Mode::Shared => latch < EXCLUSIVE - 1,
        Mode::Exclusive => latch == 0,
    }
}

/// [`Hot::slow`]: tasks wait for room (`Frames::room` is not empty): every release must wake
/// them.
const ROOM: u8 = 1;
/// [`Hot::slow`]: a log is attached: every exclusive release must tell it (the page's recLSN).
const LOG: u8 = 2;

/// Where a frame's [`Word`] is ([`Hot::word`]).
struct WordPtr(*mut u32);

impl WordPtr {
    /// # Safety
    /// The pointer is `Hot::word`'s of a frame `< cap` (a live record); the pool is one thread,
    /// and no reference into a record's `Cell` lives (`Cell` hands out none), so nothing
    /// overlaps the access.
    #[inline(always)]
    unsafe fn read(&self) -> Word {
        // SAFETY: the caller's contract.
        Word(u32::from_le(unsafe { self.0.read() }))
    }

    /// # Safety
    /// As [`WordPtr::read`].
    #[inline(always)]
    unsafe fn write(&self, w: Word) {
        // SAFETY: the caller's contract.
        unsafe { self.0.write(w.0.to_le()) }
    }
}

/// What [`Hot::try_hit`] found.
pub(crate) enum Hit {
    /// The page's frame, now latched and counted.
    Latched(FrameId),
    /// The page's frame, free to latch now, but the policy must see the hit itself (a cold or
    /// parked frame): nothing changed yet (`Frames::policy_hit` latches it).
    Policy(FrameId),
    /// The page is not resident, or not latchable now (being read, evicted, waited for, held).
    No,
}

/// The hit path's state: see the module docs.
pub(crate) struct Hot {
    /// Maps pages only to frames `< cap`: `Frames` reads `f`'s record before it inserts `f`.
    /// The hit path relies on it.
    pub(crate) table: PageTable,
    /// Frame `f`'s record is `metas[f + 1]`: 8 bytes a frame, so the records a hit checks and
    /// latches are one dense array (24 KiB for 3,000 frames). `metas[0]` is no frame's: a free
    /// record no hit can latch, so that the hit path indexes the array by the page table's entry
    /// (frame + 1, 0 for none) and needs no test for "not in memory".
    metas: Box<[Cell<Meta>]>,
    /// Frame `f`'s page record is `pages[f]`, reached through [`Hot::page`] and
    /// [`Hot::page_mut`], whose callers prove exclusivity with the frame's latch or state. A hit
    /// does not touch it: guards reach the bytes from the frame number (`Core::frame_bytes`).
    pages: Box<[UnsafeCell<Page>]>,
    /// The policy's queues (the policy, in `Frames`, owns them too), made for `cap` frames.
    queues: Rc<Queues>,
    /// `queues`' state bytes (`Queues::state_base`), frame `f`'s at `states.add(f)`: kept here so
    /// the hit reaches them with one load fewer. Valid while `queues` is (the array never moves).
    states: NonNull<Cell<u8>>,
    /// `queues`' links (`Queues::links_base`), for exact LRU's move on a hit, kept here for the
    /// same reason. Valid while `queues` is.
    links: Links,
    /// The policy's common-case hit as a table over its state byte.
    fast_hit: FastHitTable,
    /// Exact LRU: a hit on a [`MARKED`] frame moves it to the head of the policy's list.
    moves: bool,
    /// Hits counted here (the rest of the counters are in `Frames::stats`).
    pub(crate) hits: Cell<u64>,
    /// What every release of some mode must hear of besides its frame's flags: [`ROOM`],
    /// [`LOG`]. One byte, so a release tests both with one instruction.
    slow: Cell<u8>,
}

impl Hot {
    /// A frame per page record of `pages`, frame `f` with record `meta(f)`, over the policy's
    /// `queues` (made for as many frames).
    pub(crate) fn new(
        pages: Vec<Page>,
        meta: impl Fn(FrameId) -> Meta,
        queues: Rc<Queues>,
        fast_hit: FastHit,
    ) -> Self {
        let none = Meta {
            page: 0,
            latch: 0,
            state: State::Free,
            flags: 0,
        };
        debug_assert!(!none.hit_latchable(Mode::Shared) && !none.hit_latchable(Mode::Exclusive));
        assert!(!pages.is_empty(), "a pool has frames");
        let hot = Self {
            table: PageTable::default(),
            metas: std::iter::once(Cell::new(none))
                .chain((0..pages.len() as FrameId).map(|f| Cell::new(meta(f))))
                .collect(),
            pages: pages.into_iter().map(UnsafeCell::new).collect(),
            states: queues.state_base(),
            links: queues.links_base(),
            queues,
            fast_hit: fast_hit.table(),
            moves: fast_hit == FastHit::MoveToHead,
            hits: Cell::new(0),
            slow: Cell::new(0),
        };
        let marks = Marks {
            // SAFETY: the flags byte of record 1 (frame 0; `pages` is not empty, so there is one),
            // through a pointer to the whole array.
            base: unsafe {
                NonNull::from(&*hot.metas)
                    .cast::<u8>()
                    .add(std::mem::size_of::<Meta>() + std::mem::offset_of!(Meta, flags))
            },
            stride: std::mem::size_of::<Meta>(),
            bit: MARKED,
        };
        // SAFETY: frame `f < cap`'s flags byte is `metas[f + 1]`'s, at `base + f × 8`; `metas`
        // lives (and never moves) until `Drop for Hot` detaches the marks; the pool reaches
        // records through `Cell`s only, which hand out no references.
        unsafe { hot.queues.attach_marks(marks) };
        hot
    }

    /// Frames.
    #[inline]
    pub(crate) fn cap(&self) -> usize {
        self.pages.len()
    }

    /// The record of frame `f` (panics when `f >= cap`).
    #[inline]
    pub(crate) fn meta(&self, f: FrameId) -> Meta {
        self.record(f).get()
    }

    /// Replaces the record of frame `f`.
    #[inline]
    pub(crate) fn set_meta(&self, f: FrameId, m: Meta) {
        self.record(f).set(m);
    }

    /// Changes the record of frame `f` with `change`.
    #[inline]
    pub(crate) fn update(&self, f: FrameId, change: impl FnOnce(&mut Meta)) {
        let cell = self.record(f);
        let mut m = cell.get();
        change(&mut m);
        cell.set(m);
    }

    /// Frame `f`'s record (panics when `f >= cap`).
    #[inline]
    fn record(&self, f: FrameId) -> &Cell<Meta> {
        assert!((f as usize) < self.cap(), "frame {f} out of range");
        &self.metas[f as usize + 1]
    }

    /// The common hit: page `id`'s frame latched in `mode` and counted, if it is resident,
    /// latchable ([`Meta::hit_latchable`]) and [`MARKED`] (the policy's fast hit changes nothing
    /// in its state byte; exact LRU still moves it). `None`, and nothing changed, otherwise:
    /// then [`Hot::try_hit_unmarked`] says what to do.
    #[inline(always)]
    pub(crate) fn try_hit(&self, id: PageId, mode: Mode) -> Option<FrameId> {
        let (f, word, w) = self.find(id, mode, MARKED)?;
        if self.moves {
            // SAFETY: `links` are `queues`', alive while `self` is; `f < cap`; marked, so its
            // state byte says it is in exact LRU's list (`MARKED`), where it is linked.
            unsafe { self.links.move_to_main_head(f) };
        }
        // SAFETY: `word` is frame `f`'s (`find`).
        unsafe { self.latch(word, w, mode) };
        Some(f)
    }

    /// The hit of a frame [`Hot::try_hit`] did not take: latched and counted if it is resident,
    /// latchable and the policy's fast hit applies (done here, on its state byte; the frame is
    /// marked when that reaches its fixed point). Otherwise nothing is changed (see [`Hit`]).
    #[inline]
    pub(crate) fn try_hit_unmarked(&self, id: PageId, mode: Mode) -> Hit {
        let Some((f, word, w)) = self.find(id, mode, 0) else {
            return Hit::No;
        };
        // SAFETY: `f < cap = queues`' frames, so this is `f`'s state byte, alive while `queues`
        // is; `Cell` hands out no reference, so nothing overlaps the access.
        let state = unsafe { &*self.states.as_ptr().add(f as usize) };
        let entry = self.fast_hit.entry_for(state);
        // SAFETY: `f < cap`, and `state` is its state byte in `queues`.
        if !unsafe { apply_fast_hit(|| &self.queues, f, state, entry) } {
            return Hit::Policy(f);
        }
        let w = if entry & FastHitTable::STABLE != 0 {
            w.marked()
        } else {
            w
        };
        // SAFETY: `word` is frame `f`'s (`find`).
        unsafe { self.latch(word, w, mode) };
        Hit::Latched(f)
    }

    /// Page `id`'s frame, its word's place and its word, if the frame is latchable in `mode`
    /// with the flags of `also` set ([`Word::test`]); nothing is changed.
    #[inline(always)]
    fn find(&self, id: PageId, mode: Mode, also: u8) -> Option<(FrameId, WordPtr, Word)> {
        // Frame + 1, or 0 (not in memory, or the pool is closed): record 0 is never latchable.
        let e = self.table.hit_entry(id);
        // SAFETY: the table maps pages only to frames `< cap`, so `e <= cap` (see `table`).
        let word = unsafe { self.word_at(e as usize) };
        // SAFETY: as above.
        let w = unsafe { word.read() };
        if !w.test(mode, also) {
            return None;
        }
        debug_assert!(e >= 1);
        // SAFETY: a latchable record is a frame's, so `e >= 1` (stated as such, the address
        // computations below fold the `- 1` in).
        let f = unsafe { e.unchecked_sub(1) };
        debug_assert!((f as usize) < self.cap());
        Some((f, word, w))
    }

    /// Stores `w` latched once more in `mode` at `word` and counts the hit.
    ///
    /// # Safety
    /// `word` is a frame's (from [`Hot::find`]).
    #[inline(always)]
    unsafe fn latch(&self, word: WordPtr, w: Word, mode: Mode) {
        // SAFETY: the caller's contract.
        unsafe { word.write(w.latched(mode)) };
        self.hits.set(self.hits.get() + 1);
    }

    /// Bytes 4..8 of frame `f`'s record, as a [`Word`] read and written whole by the hit path.
    ///
    /// # Safety
    /// `f < cap`.
    #[inline(always)]
    unsafe fn word(&self, f: FrameId) -> WordPtr {
        debug_assert!((f as usize) < self.cap());
        // SAFETY: `f + 1 <= cap` (the caller's contract).
        unsafe { self.word_at(f as usize + 1) }
    }

    /// Bytes 4..8 of `metas[e]`: frame `e - 1`'s record, or for `e = 0` the record no hit latches.
    ///
    /// # Safety
    /// `e <= cap`.
    #[inline(always)]
    unsafe fn word_at(&self, e: usize) -> WordPtr {
        debug_assert!(e < self.metas.len());
        // SAFETY: `e <= cap < metas.len()` (the caller's contract).
        let cell = unsafe { self.metas.get_unchecked(e) };
        // In bounds and 4-aligned: `Meta` is 8 bytes, aligned to 4, with `latch` at 4 (asserted
        // above) and `state`, `flags` after it.
        WordPtr(cell.as_ptr().cast::<u8>().wrapping_add(4).cast::<u32>())
    }

    /// Whether tasks wait for room (a release must wake them).
    pub(crate) fn set_room_waiting(&self, waiting: bool) {
        let s = self.slow.get() & !ROOM;
        self.slow.set(if waiting { s | ROOM } else { s });
    }

    /// From now on every exclusive release is reported (`release` returns `true`): a log is
    /// attached.
    pub(crate) fn set_log_attached(&self) {
        self.slow.set(self.slow.get() | LOG);
    }

    /// Releases a latch on `f` taken in `mode`; `true` when someone must hear of it
    /// (`Core::released_slow`): a waiter, the policy (a parked frame), a task waiting for room,
    /// and for an exclusive release the attached log.
    ///
    /// # Safety
    /// `f < cap`: a frame the caller holds a latch on (every frame `Frames` hands out is).
    #[inline(always)]
    pub(crate) unsafe fn release(&self, f: FrameId, mode: Mode) -> bool {
        debug_assert!((f as usize) < self.cap());
        debug_assert!(self.meta(f).latch != 0, "release of an unlatched frame {f}");
        // SAFETY: `f < cap` (the caller's contract).
        let word = unsafe { self.word(f) };
        // SAFETY: as above.
        let w = unsafe { word.read() };
        // SAFETY: as above; the caller holds a latch in `mode`, which `released` lets go.
        unsafe { word.write(w.released(mode)) };
        let also = match mode {
            Mode::Shared => ROOM,
            Mode::Exclusive => ROOM | LOG,
        };
        w.flags() & (WAITERS | PARKED) != 0 || self.slow.get() & also != 0
    }

    /// The page in frame `f`.
    ///
    /// # Safety
    /// `f < cap`, and while the reference lives no `&mut Page` of it may exist (see
    /// `Core::page`).
    #[inline(always)]
    pub(crate) unsafe fn page(&self, f: FrameId) -> &Page {
        debug_assert!((f as usize) < self.cap());
        // SAFETY: `f < cap = pages.len()`, and the caller excludes `&mut` references to this
        // record; the record lives as long as `self`.
        unsafe { &*self.pages.get_unchecked(f as usize).get() }
    }

    /// The page in frame `f`, writable.
    ///
    /// # Safety
    /// `f < cap`, and while the reference lives no other reference to the page may exist (see
    /// `Core::page_mut`).
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn page_mut(&self, f: FrameId) -> &mut Page {
        debug_assert!((f as usize) < self.cap());
        // SAFETY: `f < cap = pages.len()`, and the caller makes this the only reference to the
        // record.
        unsafe { &mut *self.pages.get_unchecked(f as usize).get() }
    }

    /// Heap bytes of the frame records, the page records and the page table.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.metas.len() * std::mem::size_of::<Meta>()
            + self.pages.len() * std::mem::size_of::<Page>()
            + self.table.heap_bytes()
    }
}

impl Drop for Hot {
    fn drop(&mut self) {
        // The queues may outlive the records (the policy holds them too).
        self.queues.detach_marks();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-compare latch test against the plain rule, for every state and flag byte and
    /// the latch values at its edges; taking and releasing round-trips.
    #[test]
    fn the_word_test_is_the_plain_rule() {
        let states = [
            State::Free,
            State::Reserved,
            State::Reading,
            State::Resident,
        ];
        let latches = [0, 1, 2, 100, EXCLUSIVE - 2, EXCLUSIVE - 1, EXCLUSIVE];
        for state in states {
            for flags in 0..=u8::MAX {
                for latch in latches {
                    let m = Meta {
                        page: 7,
                        latch,
                        state,
                        flags,
                    };
                    for mode in [Mode::Shared, Mode::Exclusive] {
                        let plain = state == State::Resident
                            && flags & (WAITERS | EVICTING) == 0
                            && compatible(latch, mode);
                        let w = Word::of(m);
                        assert_eq!(w.hit_latchable(mode), plain, "{m:?} {mode:?}");
                        assert_eq!(
                            w.test(mode, MARKED),
                            plain && flags & MARKED != 0,
                            "{m:?} {mode:?}"
                        );
                        assert_eq!(w.flags(), flags);
                        if plain {
                            let taken = w.latched(mode);
                            assert_eq!(taken.0 & Word::LATCH, u32::from(m.latch_taken(mode)));
                            assert_eq!(taken.0 >> 16, w.0 >> 16, "only the latch changes");
                            assert_eq!(taken.released(mode).0, w.0);
                        }
                    }
                }
            }
        }
    }

    /// The pool's hit (`BufferPool::hit` without the policy's own call): the common hit, then
    /// the unmarked one.
    fn hit(hot: &Hot, id: PageId, mode: Mode) -> Hit {
        match hot.try_hit(id, mode) {
            Some(f) => Hit::Latched(f),
            None => hot.try_hit_unmarked(id, mode),
        }
    }

    /// `policy` over `cap` frames, frame `f` holding page `10 + f`, the first `resident` frames
    /// resident, mapped and in the policy (hot, or cold when `cold(f)`).
    fn hot_over(
        mut policy: crate::policy::AnyPolicy,
        cap: FrameId,
        resident: FrameId,
        cold: impl Fn(FrameId) -> bool,
    ) -> (Hot, crate::policy::AnyPolicy) {
        use crate::policy::Policy;
        for f in 0..resident {
            policy.insert(f, 10 + f, cold(f));
        }
        let queues = Rc::clone(policy.queues());
        let hot = Hot::new(
            (0..cap).map(crate::Page::new).collect(),
            |f| Meta {
                page: 10 + f,
                latch: 0,
                state: if f < resident {
                    State::Resident
                } else {
                    State::Free
                },
                flags: 0,
            },
            queues,
            policy.fast_hit(),
        );
        for f in 0..resident {
            hot.table.insert(10 + f, f);
        }
        (hot, policy)
    }

    /// The hit through the page table's entry: an unmapped page (entry 0, record 0) and a page
    /// past the table are no hit; a mapped resident frame is latched and counted; a frame the
    /// policy must see (cold) is `Policy`, unchanged; a frame held exclusively is no hit; and
    /// once the hits are closed, no page is found.
    #[test]
    fn a_hit_latches_only_a_mapped_resident_frame() {
        let policy = crate::policy::AnyPolicy::with_kind(crate::PolicyKind::Sieve, 3);
        let (hot, _policy) = hot_over(policy, 3, 2, |f| f == 1);
        assert!(matches!(hit(&hot, 12, Mode::Shared), Hit::No), "not mapped");
        assert!(matches!(hit(&hot, u32::MAX - 1, Mode::Shared), Hit::No));
        assert!(matches!(hit(&hot, 10, Mode::Exclusive), Hit::Latched(0)));
        assert_eq!((hot.meta(0).latch, hot.hits.get()), (EXCLUSIVE, 1));
        assert!(matches!(hit(&hot, 10, Mode::Shared), Hit::No), "held");
        // SAFETY: frame 0 < cap, latched exclusively just above.
        assert!(!unsafe { hot.release(0, Mode::Exclusive) });
        assert!(
            matches!(hit(&hot, 11, Mode::Shared), Hit::Policy(1)),
            "cold"
        );
        assert_eq!((hot.meta(1).latch, hot.hits.get()), (0, 1));
        assert!(matches!(hit(&hot, 10, Mode::Shared), Hit::Latched(0)));
        // SAFETY: as above, latched shared just above.
        assert!(!unsafe { hot.release(0, Mode::Shared) });
        hot.table.close_hits();
        assert!(matches!(hit(&hot, 10, Mode::Shared), Hit::No), "closed");
        assert_eq!(hot.meta(0).latch, 0);
    }

    fn marked(hot: &Hot, f: FrameId) -> bool {
        hot.meta(f).flags & MARKED != 0
    }

    /// A hit marks a frame once the policy's fast hit reaches its fixed point (SIEVE: visited
    /// after one hit; S3-FIFO: the counter at 3 after three), and the common hit then takes it
    /// without its state byte; any change of the byte by the policy (SIEVE's hand clearing the
    /// bit, an eviction) clears the mark, and a copy of the policy clears nothing of the pool's.
    #[test]
    fn a_mark_lasts_exactly_as_long_as_the_policy_state_it_was_set_for() {
        use crate::policy::Policy;
        let sieve = crate::policy::AnyPolicy::with_kind(crate::PolicyKind::Sieve, 3);
        let (hot, mut policy) = hot_over(sieve, 3, 3, |_| false);
        let take = |id: PageId| {
            let f = id - 10;
            let hit = hit(&hot, id, Mode::Shared);
            assert!(matches!(hit, Hit::Latched(g) if g == f));
            // SAFETY: `f` < cap, latched shared just above.
            assert!(!unsafe { hot.release(f, Mode::Shared) });
        };
        assert!(!marked(&hot, 0));
        assert_eq!(hot.try_hit(10, Mode::Shared), None, "not marked yet");
        take(10);
        assert!(marked(&hot, 0), "visited: SIEVE's fixed point");
        assert_eq!(hot.try_hit(10, Mode::Shared), Some(0), "the common hit");
        // SAFETY: as above.
        assert!(!unsafe { hot.release(0, Mode::Shared) });
        take(11);
        // A copy of the policy evicting clears none of the pool's marks.
        let mut copy = policy.clone();
        assert_eq!(copy.evict(&mut |_| false), Some(2));
        assert!(marked(&hot, 0) && marked(&hot, 1));
        // SIEVE's hand passes 0 and 1 (clearing their bits) and evicts 2, the unvisited one...
        assert_eq!(policy.evict(&mut |_| false), Some(2));
        // ...so 0 and 1 are no longer at the fixed point, and their marks went with the bits.
        assert!(!marked(&hot, 0) && !marked(&hot, 1));
        assert_eq!(hot.try_hit(10, Mode::Shared), None);
        take(10);
        assert!(marked(&hot, 0));
        // Removing a frame from the policy clears its mark.
        policy.remove(0);
        assert!(!marked(&hot, 0));

        let s3fifo = crate::policy::AnyPolicy::with_kind(crate::PolicyKind::S3Fifo, 3);
        let (hot, _policy) = hot_over(s3fifo, 3, 1, |_| false);
        for hits in 1..=3 {
            assert!(!marked(&hot, 0), "counter below 3 after {} hits", hits - 1);
            let h = hit(&hot, 10, Mode::Exclusive);
            assert!(matches!(h, Hit::Latched(0)));
            // SAFETY: frame 0 < cap, latched exclusively just above.
            assert!(!unsafe { hot.release(0, Mode::Exclusive) });
        }
        assert!(marked(&hot, 0), "counter at 3");
    }

    /// For every policy, random hits through the hit path (marked or not, either mode),
    /// evictions with some frames busy (so parked), removals, insertions hot or cold, pins and
    /// unpins: the policy stays in the same order as a twin that saw every hit through
    /// `Policy::hit`, and after every step each marked frame's state byte is one the fast hit
    /// applies to and leaves unchanged.
    #[test]
    fn marked_hits_are_the_policys_hits_and_marks_never_outlive_their_state() {
        use crate::policy::{AnyPolicy, Policy};
        let mut rng = crate::testing::Rng::new(11);
        for kind in crate::PolicyKind::ALL {
            for round in 0..300 {
                let cap = 1 + rng.below(12) as FrameId;
                let cold: Vec<bool> = (0..cap).map(|_| rng.below(4) == 0).collect();
                let mut twin = AnyPolicy::with_kind(kind, cap as usize);
                for f in 0..cap {
                    twin.insert(f, 10 + f, cold[f as usize]);
                }
                let policy = AnyPolicy::with_kind(kind, cap as usize);
                let (hot, mut policy) = hot_over(policy, cap, cap, |f| cold[f as usize]);
                let mut present = vec![true; cap as usize];
                for step in 0..200 {
                    let f = rng.below(u64::from(cap)) as FrameId;
                    match rng.below(10) {
                        0..=5 if present[f as usize] => {
                            let mode = if rng.below(2) == 0 {
                                Mode::Shared
                            } else {
                                Mode::Exclusive
                            };
                            match hit(&hot, 10 + f, mode) {
                                // SAFETY: `f < cap`, latched in `mode` just now.
                                Hit::Latched(g) if g == f => unsafe {
                                    hot.release(f, mode);
                                },
                                // What `Frames::policy_hit` tells the policy.
                                Hit::Policy(g) if g == f => policy.hit(f),
                                _ => panic!("{kind} round {round} step {step}: no hit on {f}"),
                            }
                            twin.hit(f);
                        }
                        6 => {
                            let busy: Vec<bool> = (0..cap).map(|_| rng.below(3) == 0).collect();
                            let v = policy.evict(&mut |g| busy[g as usize]);
                            assert_eq!(v, twin.evict(&mut |g| busy[g as usize]), "{kind} {round}");
                            if let Some(v) = v {
                                present[v as usize] = false;
                            }
                        }
                        7 if !present[f as usize] => {
                            let cold = rng.below(3) == 0;
                            policy.insert(f, 10 + f, cold);
                            twin.insert(f, 10 + f, cold);
                            present[f as usize] = true;
                        }
                        7 if present[f as usize] => {
                            policy.remove(f);
                            twin.remove(f);
                            present[f as usize] = false;
                        }
                        8 if present[f as usize] => {
                            policy.pin(f);
                            twin.pin(f);
                        }
                        9 if present[f as usize] => {
                            policy.unpin(f);
                            twin.unpin(f);
                        }
                        _ => {}
                    }
                    assert_eq!(
                        policy.order(),
                        twin.order(),
                        "{kind} round {round} step {step}"
                    );
                    for g in 0..cap {
                        if marked(&hot, g) {
                            // SAFETY: `g < cap`: its state byte in the policy's queues.
                            let state = unsafe { &*hot.states.as_ptr().add(g as usize) };
                            let entry = hot.fast_hit.entry_for(state);
                            assert!(
                                entry & FastHitTable::STABLE != 0 && entry as u8 == state.get(),
                                "{kind} round {round} step {step}: {g} marked in state {:#x}",
                                state.get()
                            );
                        }
                    }
                }
            }
        }
    }

    /// Exact LRU: every frame in its list is marked after a hit, and the common hit of a marked
    /// frame still moves it to the most recently used end; a frame the search parks loses its
    /// mark (its state byte changed), so its next hit is the policy's.
    #[test]
    fn a_marked_lru_hit_still_moves_the_frame() {
        use crate::policy::Policy;
        let lru = crate::policy::AnyPolicy::with_kind(crate::PolicyKind::Lru, 3);
        let (hot, mut policy) = hot_over(lru, 3, 3, |_| false);
        for id in [10, 11, 12] {
            let f = id - 10;
            assert!(matches!(hit(&hot, id, Mode::Shared), Hit::Latched(g) if g == f));
            assert!(marked(&hot, f));
            // SAFETY: `f` < cap, latched shared just above.
            assert!(!unsafe { hot.release(f, Mode::Shared) });
        }
        assert_eq!(policy.order(), vec![0, 1, 2]);
        assert_eq!(hot.try_hit(11, Mode::Shared), Some(1));
        assert_eq!(policy.order(), vec![0, 2, 1], "moved by the common hit");
        assert_eq!(hot.try_hit(10, Mode::Shared), Some(0));
        assert_eq!(policy.order(), vec![2, 1, 0]);
        // 2 is the oldest; held (frame 2 "busy"), it is parked and 1 is evicted.
        assert_eq!(policy.evict(&mut |f| f == 2), Some(1));
        assert!(!marked(&hot, 1) && !marked(&hot, 2) && marked(&hot, 0));
        assert!(
            matches!(hit(&hot, 12, Mode::Shared), Hit::Policy(2)),
            "parked"
        );
        // SAFETY: frames 0 and 1 < cap, latched shared above.
        unsafe {
            assert!(!hot.release(1, Mode::Shared));
            assert!(!hot.release(0, Mode::Shared));
        }
    }

    #[test]
    fn a_word_is_read_and_written_in_place() {
        let policy = crate::policy::AnyPolicy::with_kind(crate::PolicyKind::Sieve, 2);
        let queues = Rc::clone(crate::policy::Policy::queues(&policy));
        let hot = Hot::new(
            vec![crate::Page::new(0), crate::Page::new(1)],
            |f| Meta {
                page: f,
                latch: 0,
                state: State::Resident,
                flags: WAITERS,
            },
            queues,
            FastHit::Mark,
        );
        // SAFETY: frame 1 < cap 2.
        let word = unsafe { hot.word(1) };
        // SAFETY: as above.
        let w = unsafe { word.read() };
        assert_eq!(w.0, Word::of(hot.meta(1)).0);
        // SAFETY: as above.
        unsafe { word.write(w.latched(Mode::Shared).latched(Mode::Shared)) };
        let m = hot.meta(1);
        assert_eq!(
            (m.page, m.latch, m.state, m.flags),
            (1, 2, State::Resident, WAITERS)
        );
        assert_eq!(hot.meta(0).latch, 0, "the neighbour is untouched");
    }
}
