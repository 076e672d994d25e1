//! [`Hot`]: what a hit and a guard's release touch, reachable without borrowing the pool's
//! [`Frames`](crate::frames::Frames): the page table, each frame's record ([`Meta`]: page, latch,
//! state, flags) beside its page record ([`Page`], what a guard derefs to), the policy's queues for
//! its common-case hit ([`FastHit`]) and the hit counter.
//!
//! Every field is a `Cell` (the page table's are behind `&self` methods that never call out), so
//! a hit is a few loads and stores with no `RefCell` flag to test and set, no dispatch and no
//! bounds checks: look the page up, check and latch its record, do the policy's fast hit, count.
//! Whatever that does not cover (a frame being read, waited for, evicted, held in a conflicting
//! mode; a cold or parked frame the policy must see; a release someone waits for) goes to
//! `Frames`, which owns everything else and shares this struct (`Rc`).

use std::{
    cell::{Cell, UnsafeCell},
    rc::Rc,
};

use jdb_layout::PageId;

use crate::{
    FrameId, Page,
    policy::{FastHit, Queues},
    table::{NO_FRAME, PageTable},
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

/// Per frame: 8 bytes. `repr(C)`: `latch`, `state` and `flags` are bytes 4..8, which a hit tests
/// with one load and compare.
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

impl Meta {
    /// Bytes 4..8 (`latch`, `state`, `flags`) as one word.
    #[inline(always)]
    fn word(&self) -> u32 {
        let [a, b] = self.latch.to_ne_bytes();
        u32::from_ne_bytes([a, b, self.state as u8, self.flags])
    }

    /// Whether a hit may latch the frame in `mode` now: resident, nobody waiting, not being
    /// evicted (parked is fine: the policy's hit puts it back), and for `Exclusive` unlatched,
    /// for `Shared` not held exclusively (and not at the reader limit).
    #[inline(always)]
    pub(crate) fn hit_latchable(&self, mode: Mode) -> bool {
        match mode {
            Mode::Exclusive => {
                let mask = u32::from_ne_bytes([0xff, 0xff, 0xff, WAITERS | EVICTING]);
                self.word() & mask == u32::from_ne_bytes([0, 0, State::Resident as u8, 0])
            }
            Mode::Shared => {
                let mask = u32::from_ne_bytes([0, 0, 0xff, WAITERS | EVICTING]);
                self.word() & mask == u32::from_ne_bytes([0, 0, State::Resident as u8, 0])
                    && compatible(self.latch, mode)
            }
        }
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

/// Frame `f`'s record and page record, side by side (24 bytes): a hit latches the one and its
/// guard reads through the other, mostly in one cache line.
struct Slot {
    meta: Cell<Meta>,
    /// Reached through [`Hot::page`] and [`Hot::page_mut`], whose callers prove exclusivity with
    /// the frame's latch or state.
    page: UnsafeCell<Page>,
}

/// The hit path's state: see the module docs.
pub(crate) struct Hot {
    /// Maps pages only to frames `< cap` (`slots.len()`): `Frames` reads `f`'s record before it
    /// inserts `f`. The hit path relies on it.
    pub(crate) table: PageTable,
    /// Frame `f` is `slots[f]`.
    slots: Box<[Slot]>,
    /// The policy's queues (the policy, in `Frames`, owns them too), made for `cap` frames.
    queues: Rc<Queues>,
    fast_hit: FastHit,
    /// Hits counted here (the rest of the counters are in `Frames::stats`).
    pub(crate) hits: Cell<u64>,
    /// Tasks wait for room (`Frames::room` is not empty): a release must wake them.
    pub(crate) room_waiting: Cell<bool>,
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
        Self {
            table: PageTable::default(),
            slots: (0..)
                .zip(pages)
                .map(|(f, page)| Slot {
                    meta: Cell::new(meta(f)),
                    page: UnsafeCell::new(page),
                })
                .collect(),
            queues,
            fast_hit,
            hits: Cell::new(0),
            room_waiting: Cell::new(false),
        }
    }

    /// Frames.
    #[inline]
    pub(crate) fn cap(&self) -> usize {
        self.slots.len()
    }

    /// The record of frame `f` (panics when `f >= cap`).
    #[inline]
    pub(crate) fn meta(&self, f: FrameId) -> Meta {
        self.slots[f as usize].meta.get()
    }

    /// Replaces the record of frame `f`.
    #[inline]
    pub(crate) fn set_meta(&self, f: FrameId, m: Meta) {
        self.slots[f as usize].meta.set(m);
    }

    /// Changes the record of frame `f` with `change`.
    #[inline]
    pub(crate) fn update(&self, f: FrameId, change: impl FnOnce(&mut Meta)) {
        let cell = &self.slots[f as usize].meta;
        let mut m = cell.get();
        change(&mut m);
        cell.set(m);
    }

    /// The hit: page `id`'s frame latched in `mode` and counted, if it is resident, latchable
    /// ([`Meta::hit_latchable`]) and the policy's common-case hit applies. Otherwise nothing is
    /// changed (see [`Hit`]).
    #[inline(always)]
    pub(crate) fn try_hit(&self, id: PageId, mode: Mode) -> Hit {
        let Some(f) = self.table.get(id) else {
            return Hit::No;
        };
        debug_assert!(f != NO_FRAME && (f as usize) < self.slots.len());
        // SAFETY: the table maps pages only to frames `< cap = slots.len()` (see `table`).
        let cell = unsafe { &self.slots.get_unchecked(f as usize).meta };
        let mut m = cell.get();
        if !m.hit_latchable(mode) {
            return Hit::No;
        }
        // SAFETY: `f < cap`, the number of frames the policy's queues were made for.
        if !unsafe { self.queues.fast_hit(f, self.fast_hit) } {
            return Hit::Policy(f);
        }
        m.latch = m.latch_taken(mode);
        cell.set(m);
        self.hits.set(self.hits.get() + 1);
        Hit::Latched(f)
    }

    /// Releases a latch on `f` taken in `mode`; `true` when someone must hear of it
    /// (`Frames::released_slow`): a waiter, the policy (a parked frame), a task waiting for room.
    ///
    /// # Safety
    /// `f < cap`: a frame the caller holds a latch on (every frame `Frames` hands out is).
    #[inline(always)]
    pub(crate) unsafe fn release(&self, f: FrameId, mode: Mode) -> bool {
        debug_assert!((f as usize) < self.slots.len());
        // SAFETY: `f < cap = slots.len()` (the caller's contract).
        let cell = unsafe { &self.slots.get_unchecked(f as usize).meta };
        let mut m = cell.get();
        debug_assert!(m.latch != 0, "release of an unlatched frame {f}");
        m.latch = match mode {
            // Not 0: the caller holds a shared latch.
            Mode::Shared => m.latch.wrapping_sub(1),
            Mode::Exclusive => 0,
        };
        cell.set(m);
        m.flags & (WAITERS | PARKED) != 0 || self.room_waiting.get()
    }

    /// The page in frame `f`.
    ///
    /// # Safety
    /// `f < cap`, and while the reference lives no `&mut Page` of it may exist (see
    /// `Core::page`).
    #[inline(always)]
    pub(crate) unsafe fn page(&self, f: FrameId) -> &Page {
        debug_assert!((f as usize) < self.slots.len());
        // SAFETY: `f < cap = slots.len()`, and the caller excludes `&mut` references to this
        // record; the record lives as long as `self`.
        unsafe { &*self.slots.get_unchecked(f as usize).page.get() }
    }

    /// The page in frame `f`, writable.
    ///
    /// # Safety
    /// `f < cap`, and while the reference lives no other reference to the page may exist (see
    /// `Core::page_mut`).
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn page_mut(&self, f: FrameId) -> &mut Page {
        debug_assert!((f as usize) < self.slots.len());
        // SAFETY: `f < cap = slots.len()`, and the caller makes this the only reference to the
        // record.
        unsafe { &mut *self.slots.get_unchecked(f as usize).page.get() }
    }

    /// Heap bytes of the frame records, the page records and the page table.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>() + self.table.heap_bytes()
    }
}
