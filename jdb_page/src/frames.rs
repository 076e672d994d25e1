//! Residency, with no I/O: which page each frame holds and in what state, the page table, the
//! latches and their waiters, the free frames, and the eviction policy.
//!
//! Everything here is synchronous and O(1) per hit, latch, release and eviction (the policy's
//! own operations are O(1) amortised however many frames are pinned). The pool calls it inside
//! short borrows that never span an `.await`; the futures that wait (for a latch, for a read of
//! the same page, for room) keep a ticket here and poll [`Frames::poll_latch`]. The page table
//! and the frame records live in [`Hot`] (`hot.rs`), which the pool's `Core` holds beside
//! `Frames` and `Frames` points to ([`Frames::attach`]): a hit and a guard's release do not
//! borrow `Frames` unless they need more than those.
//!
//! A frame is in one of four states:
//!
//! ```text
//!            take_free                begin_read              install
//!   Free ───────────────► Reserved ───────────────► Reading ───────────► Resident
//!    ▲                      │  ▲   (alloc: install)                        │
//!    └── release_reserved ──┘  └──────────── evict (clean victim) ─────────┘
//!    ▲                                 end_read_failed                     
//!    └─────────────────────────────────── Reading ◄──  (read failed or cancelled)
//! ```
//!
//! Only `Resident` frames are in the policy, except those chosen as victims (`EVICTING`) while
//! the pool cleans them. A `Resident` frame is *busy* while a guard latches it, a task waits for
//! it, it is pinned ([`Page::pin`](crate::Page::pin)), or a call keeps it ([`Frames::keep`]: a
//! group call's pages in memory, while it makes room for the others). Latching and releasing do
//! not tell the policy (a hit is one `hit` call): the eviction search asks whether each frame it
//! meets is busy, and parks the busy ones (`PARKED`); such a frame is put back (`unpin`) when it
//! stops being busy. So the policy never chooses a busy frame, and each step stays O(1)
//! amortised.

use std::{
    collections::VecDeque,
    ptr::NonNull,
    rc::Rc,
    sync::Arc,
    task::{Poll, Waker},
};

use jdb_layout::PageId;
use rustc_hash::FxHashMap;

pub(crate) use crate::hot::Mode;
use crate::{
    Error, Page, Stats,
    hot::{EVICTING, EXCLUSIVE, Hot, KEPT, Meta, PARKED, State, WAITERS, compatible},
    page::Arena,
    policy::{AnyPolicy, Policy},
    table::NO_FRAME,
};

/// Index of a frame in the pool's arena.
pub(crate) type FrameId = u32;

/// Whether frame `f` (record `m`) must not be evicted now: latched, waited for, kept by a call,
/// or pinned. The one definition the eviction search, the victim check and the release use.
#[inline]
fn busy(m: &Meta, arena: &Arena, f: FrameId) -> bool {
    m.latch != 0 || m.flags & (WAITERS | KEPT) != 0 || arena.flags(f).pins() > 0
}

/// A task waiting for a frame's latch (or for the read into it to finish).
struct Waiter {
    ticket: u64,
    mode: Mode,
    waker: Waker,
}

/// The frame no longer holds the page a waiter asked for (its read failed, or it was evicted):
/// look the page up again.
#[derive(Debug)]
pub(crate) struct Lost;

/// Residency of a pool: see the module docs.
pub(crate) struct Frames {
    /// The page table, the frame records and the hit counter: the pool's (`Core::hot`), which
    /// the hit path reads at a fixed offset from the pool. The table maps pages only to frames
    /// `< cap`: `begin_read` and `install` read `f`'s record before they insert `f`. Set by
    /// [`Frames::attach`]; see [`Frames::hot`].
    hot: NonNull<Hot>,
    policy: AnyPolicy,
    /// The pool's arena, for each frame's dirty bit and pin count.
    arena: Arc<Arena>,
    /// Free frames, linked through `Meta::page`.
    free_head: FrameId,
    free: usize,
    /// Frames holding a page (`Resident`).
    resident: usize,
    /// Frames that will change state without any user action: reserved by a call that is about to
    /// fill them, being read, or victims being cleaned. A task that finds no free frame and no
    /// victim waits for them rather than failing.
    transient: usize,
    /// Waiters per frame, oldest first (only frames with waiters have an entry).
    waiters: FxHashMap<FrameId, VecDeque<Waiter>>,
    /// How many calls keep each kept frame (only kept frames have an entry).
    kept: FxHashMap<FrameId, u32>,
    next_ticket: u64,
    /// Tasks waiting for a frame to become free or evictable.
    room: Vec<Waker>,
    pub(crate) stats: Stats,
}

impl Frames {
    /// The hit path's state for a pool of one frame per page record of `pages`, all free, over
    /// `policy`'s queues: what the pool keeps beside the [`Frames`] made with the same `policy`.
    pub(crate) fn new_hot(pages: Vec<Page>, policy: &AnyPolicy) -> Hot {
        let cap = pages.len();
        let free_list = |f: FrameId| Meta {
            page: if f + 1 < cap as FrameId {
                f + 1
            } else {
                NO_FRAME
            },
            latch: 0,
            state: State::Free,
            flags: 0,
        };
        Hot::new(
            pages,
            free_list,
            Rc::clone(policy.queues()),
            policy.fast_hit(),
        )
    }

    /// Residency of `cap` free frames of `arena` under `policy`, to be attached to the [`Hot`]
    /// made for them ([`Frames::new_hot`]) before any other call.
    pub(crate) fn new(cap: usize, policy: AnyPolicy, arena: Arc<Arena>) -> Self {
        Self {
            hot: NonNull::dangling(),
            policy,
            arena,
            free_head: if cap > 0 { 0 } else { NO_FRAME },
            free: cap,
            resident: 0,
            transient: 0,
            waiters: FxHashMap::default(),
            kept: FxHashMap::default(),
            next_ticket: 0,
            room: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Makes `hot` these frames' hit path state (made by [`Frames::new_hot`] with the same
    /// policy).
    ///
    /// # Safety
    /// `hot` stays where it is, alive and never borrowed mutably, for as long as `self` is used:
    /// the pool keeps both in one boxed `Core` it never moves out of its box, and `Core` drops
    /// `frames` first.
    pub(crate) unsafe fn attach(&mut self, hot: &Hot) {
        self.hot = NonNull::from(hot);
    }

    /// The hit path's state (see [`Frames::attach`]).
    #[inline(always)]
    fn hot(&self) -> &Hot {
        // SAFETY: attached to the pool's `Hot`, alive and not borrowed mutably while `self` is
        // used (`attach`'s contract).
        unsafe { self.hot.as_ref() }
    }

    /// Frames in the pool.
    pub(crate) fn cap(&self) -> usize {
        self.hot().cap()
    }

    /// Pages held (`Resident` frames).
    pub(crate) fn resident(&self) -> usize {
        self.resident
    }

    /// The frame of page `id` (resident, or being read).
    #[inline(always)]
    pub(crate) fn lookup(&self, id: PageId) -> Option<FrameId> {
        self.hot().table.get(id)
    }

    /// Whether frame `f` holds (or is reading) page `id`.
    #[inline]
    pub(crate) fn holds(&self, f: FrameId, id: PageId) -> bool {
        let m = self.hot().meta(f);
        m.page == id && matches!(m.state, State::Reading | State::Resident)
    }

    /// Page `id` is resident in `f` and no guard holds it exclusively: its bytes can be copied
    /// for a write now.
    pub(crate) fn readable(&self, f: FrameId, id: PageId) -> bool {
        let m = self.hot().meta(f);
        m.page == id && m.state == State::Resident && m.latch != EXCLUSIVE
    }

    /// Whether `f` is resident and latched in `mode` (debug checks of the guards).
    pub(crate) fn is_latched(&self, f: FrameId, mode: Mode) -> bool {
        let m = self.hot().meta(f);
        m.state == State::Resident
            && match mode {
                Mode::Shared => m.latch != 0 && m.latch != EXCLUSIVE,
                Mode::Exclusive => m.latch == EXCLUSIVE,
            }
    }

    /// Whether frame `f` holds its page (rather than reading it, or nothing).
    pub(crate) fn is_resident(&self, f: FrameId) -> bool {
        self.hot().meta(f).state == State::Resident
    }

    /// The page in resident frame `f`.
    pub(crate) fn page_of(&self, f: FrameId) -> Option<PageId> {
        let m = self.hot().meta(f);
        (m.state == State::Resident).then_some(m.page)
    }

    // ---- latches -----------------------------------------------------------------------------

    /// The hit the policy must see itself ([`Hit::Policy`](crate::hot::Hit::Policy): a cold or
    /// parked frame `f`, latchable in `mode`, found just now): latches it and counts the hit,
    /// for the policy and the stats.
    pub(crate) fn policy_hit(&mut self, f: FrameId, mode: Mode) {
        debug_assert!(self.hot().meta(f).hit_latchable(mode));
        self.grant(f, mode, true);
        self.stats.hits += 1;
    }

    /// One poll of a task waiting to latch `f` for page `id`. `ticket` is its place in the
    /// frame's queue (`None` before it joined). Fair: a task joins behind every waiter, so a
    /// writer is never overtaken by later readers; readers at the front go in together.
    pub(crate) fn poll_latch(
        &mut self,
        f: FrameId,
        id: PageId,
        mode: Mode,
        touch: bool,
        ticket: &mut Option<u64>,
        waker: &Waker,
    ) -> Poll<Result<(), Lost>> {
        let queued = ticket.map(|t| self.position(f, t));
        if !self.holds(f, id) || queued == Some(None) {
            // The read failed (its queue was emptied) or the frame went on to another page.
            if let Some(t) = ticket.take() {
                self.leave(f, t);
            }
            return Poll::Ready(Err(Lost));
        }
        let at_front = match queued {
            Some(pos) => pos == Some(0),
            None => self.hot().meta(f).flags & WAITERS == 0,
        };
        let m = self.hot().meta(f);
        if at_front && m.state == State::Resident && compatible(m.latch, mode) {
            if let Some(t) = ticket.take() {
                self.remove_waiter(f, t);
            }
            self.grant(f, mode, touch);
            // Readers behind a reader can go in too.
            if mode == Mode::Shared && self.front_mode(f) == Some(Mode::Shared) {
                self.wake_front(f);
            }
            return Poll::Ready(Ok(()));
        }
        match ticket {
            Some(t) => {
                let t = *t;
                if let Some(w) = self
                    .waiters
                    .get_mut(&f)
                    .and_then(|q| q.iter_mut().find(|w| w.ticket == t))
                {
                    w.waker.clone_from(waker);
                }
            }
            None => {
                let t = self.next_ticket;
                self.next_ticket += 1;
                self.waiters.entry(f).or_default().push_back(Waiter {
                    ticket: t,
                    mode,
                    waker: waker.clone(),
                });
                self.hot().update(f, |m| m.flags |= WAITERS);
                *ticket = Some(t);
            }
        }
        Poll::Pending
    }

    /// A waiter gives up (its future was dropped): it leaves the queue, and the next one is
    /// woken if it was at the front.
    pub(crate) fn leave(&mut self, f: FrameId, ticket: u64) {
        if self.position(f, ticket) == Some(0) {
            self.remove_waiter(f, ticket);
            self.wake_front(f);
        } else {
            self.remove_waiter(f, ticket);
        }
    }

    /// Releases a latch taken in `mode`.
    pub(crate) fn release(&mut self, f: FrameId, mode: Mode) {
        assert!(
            f < self.cap() as FrameId,
            "release of frame {f} out of range"
        );
        // SAFETY: `f < cap`, checked just above.
        if unsafe { self.hot().release(f, mode) } {
            self.released_slow(f);
        }
    }

    /// The rest of a release ([`Hot::release`]) when someone may care: a waiter, the policy (a
    /// parked frame), a task waiting for room.
    pub(crate) fn released_slow(&mut self, f: FrameId) {
        if self.hot().meta(f).flags & WAITERS != 0 {
            self.wake_front(f);
        }
        self.unpark_if_idle(f);
        if !self.is_busy(f) {
            self.wake_room();
        }
    }

    fn grant(&mut self, f: FrameId, mode: Mode, touch: bool) {
        let mut m = self.hot().meta(f);
        m.latch = m.latch_taken(mode);
        let evicting = m.flags & EVICTING != 0;
        m.flags &= !EVICTING;
        self.hot().set_meta(f, m);
        if evicting {
            // Asked for while its victim's write-back ran: it stays.
            self.transient -= 1;
            self.policy.insert(f, m.page, false);
        } else if touch {
            self.policy.hit(f);
        }
    }

    /// Whether `f` must not be evicted now: latched, waited for, kept, or pinned.
    #[inline]
    fn is_busy(&self, f: FrameId) -> bool {
        busy(&self.hot().meta(f), &self.arena, f)
    }

    /// Keeps resident frame `f` from being chosen or evicted as a victim until as many
    /// [`Frames::unkeep`]s: what a pin does, but the pool's own and invisible to users. A call
    /// that needs several pages at once keeps those in memory while it makes room for the others,
    /// so that it does not evict one of its own pages to load another. It waits for nothing and
    /// stops nobody from latching the page. Returns `false`, keeping nothing, when `f` does not
    /// hold its page (being read, or free).
    pub(crate) fn keep(&mut self, f: FrameId) -> bool {
        if self.hot().meta(f).state != State::Resident {
            return false;
        }
        self.hot().update(f, |m| m.flags |= KEPT);
        *self.kept.entry(f).or_insert(0) += 1;
        true
    }

    /// Undoes one [`Frames::keep`] of `f`; once no call keeps it, it can be evicted again.
    pub(crate) fn unkeep(&mut self, f: FrameId) {
        let Some(n) = self.kept.get_mut(&f) else {
            debug_assert!(false, "unkeep of frame {f}, which is not kept");
            return;
        };
        *n -= 1;
        if *n > 0 {
            return;
        }
        self.kept.remove(&f);
        self.hot().update(f, |m| m.flags &= !KEPT);
        self.unpark_if_idle(f);
        if !self.is_busy(f) {
            self.wake_room();
        }
    }

    /// Puts a frame the eviction search parked back into the policy once it is not busy.
    fn unpark_if_idle(&mut self, f: FrameId) {
        let m = self.hot().meta(f);
        if m.flags & PARKED == 0 || m.state != State::Resident || self.is_busy(f) {
            return;
        }
        self.hot().update(f, |m| m.flags &= !PARKED);
        self.policy.unpin(f);
        self.wake_room();
    }

    fn position(&self, f: FrameId, ticket: u64) -> Option<usize> {
        self.waiters
            .get(&f)
            .and_then(|q| q.iter().position(|w| w.ticket == ticket))
    }

    fn front_mode(&self, f: FrameId) -> Option<Mode> {
        self.waiters.get(&f).and_then(|q| q.front()).map(|w| w.mode)
    }

    fn remove_waiter(&mut self, f: FrameId, ticket: u64) {
        let Some(q) = self.waiters.get_mut(&f) else {
            return;
        };
        q.retain(|w| w.ticket != ticket);
        if q.is_empty() {
            self.waiters.remove(&f);
            self.hot().update(f, |m| m.flags &= !WAITERS);
            self.unpark_if_idle(f);
        }
    }

    fn wake_front(&self, f: FrameId) {
        if let Some(w) = self.waiters.get(&f).and_then(|q| q.front()) {
            w.waker.wake_by_ref();
        }
    }

    /// Empties `f`'s queue and wakes everyone in it: they find their page gone and look again.
    fn wake_all(&mut self, f: FrameId) {
        if let Some(q) = self.waiters.remove(&f) {
            self.hot().update(f, |m| m.flags &= !WAITERS);
            for w in q {
                w.waker.wake();
            }
        }
    }

    // ---- room: free frames and victims ---------------------------------------------------------

    /// A free frame, now `Reserved` for the caller.
    pub(crate) fn take_free(&mut self) -> Option<FrameId> {
        let f = self.free_head;
        if f == NO_FRAME {
            return None;
        }
        let mut m = self.hot().meta(f);
        debug_assert_eq!(m.state, State::Free);
        self.free_head = m.page;
        m.state = State::Reserved;
        self.hot().set_meta(f, m);
        self.free -= 1;
        self.transient += 1;
        Some(f)
    }

    /// Gives a reserved frame back.
    pub(crate) fn release_reserved(&mut self, f: FrameId) {
        debug_assert_eq!(self.hot().meta(f).state, State::Reserved);
        self.transient -= 1;
        self.push_free(f);
        self.wake_room();
    }

    fn push_free(&mut self, f: FrameId) {
        self.hot().set_meta(
            f,
            Meta {
                page: self.free_head,
                latch: 0,
                state: State::Free,
                flags: 0,
            },
        );
        self.free_head = f;
        self.free += 1;
    }

    /// The policy's next victim, now `EVICTING` (out of the policy, still resident and readable,
    /// rescued if a task asks for it). `None` when every resident frame is busy.
    pub(crate) fn choose_victim(&mut self) -> Option<FrameId> {
        // SAFETY: as in `Frames::hot` (a reference not tied to `self`, so that the policy can be
        // borrowed mutably beside it).
        let (hot, arena) = (unsafe { self.hot.as_ref() }, &self.arena);
        // A busy frame the search meets is parked: the policy is told when it is idle again.
        let mut busy = |f: FrameId| {
            let busy = busy(&hot.meta(f), arena, f);
            if busy {
                hot.update(f, |m| m.flags |= PARKED);
            }
            busy
        };
        let v = self.policy.evict(&mut busy)?;
        let m = self.hot().meta(v);
        debug_assert!(m.state == State::Resident && m.flags & PARKED == 0);
        self.hot().update(v, |m| m.flags |= EVICTING);
        self.transient += 1;
        Some(v)
    }

    /// Whether victim `v` can go now: still a victim (not rescued), not kept, unpinned, clean,
    /// no write of it in flight (`writing`).
    pub(crate) fn evictable(&self, v: FrameId, writing: bool) -> bool {
        let m = self.hot().meta(v);
        let flags = self.arena.flags(v);
        m.flags & EVICTING != 0 && !busy(&m, &self.arena, v) && !flags.is_dirty() && !writing
    }

    /// Whether `v` is still a victim (no task asked for it since it was chosen).
    pub(crate) fn is_victim(&self, v: FrameId) -> bool {
        self.hot().meta(v).flags & EVICTING != 0
    }

    /// Evicts victim `v` (see [`Frames::evictable`]); the frame is now `Reserved` for the caller
    /// (still transient).
    pub(crate) fn evict(&mut self, v: FrameId) {
        let mut m = self.hot().meta(v);
        debug_assert!(m.flags & EVICTING != 0);
        m.flags = 0;
        m.state = State::Reserved;
        self.hot().set_meta(v, m);
        let page = m.page;
        self.hot().table.remove(page);
        self.resident -= 1;
        self.stats.evictions += 1;
    }

    /// Victim `v` stays after all (a failed write-back, a cancelled eviction, a page dirtied
    /// again): back into the policy, at the cold end when `cold`.
    pub(crate) fn unevict(&mut self, v: FrameId, cold: bool) {
        let m = self.hot().meta(v);
        if m.flags & EVICTING == 0 {
            return;
        }
        self.hot().update(v, |m| m.flags &= !EVICTING);
        let page = m.page;
        self.transient -= 1;
        self.policy.insert(v, page, cold);
        self.wake_room();
    }

    /// Whether a task that found no free frame and no victim should wait (frames will become
    /// free or evictable without user action) rather than fail with `PoolFull`.
    pub(crate) fn room_coming(&self) -> bool {
        self.transient > 0
    }

    /// Registers a task waiting for room; woken when a frame is freed or becomes evictable.
    pub(crate) fn wait_room(&mut self, waker: &Waker) {
        if !self.room.iter().any(|w| w.will_wake(waker)) {
            self.room.push(waker.clone());
        }
        self.hot().set_room_waiting(true);
    }

    fn wake_room(&mut self) {
        self.hot().set_room_waiting(false);
        for w in self.room.drain(..) {
            w.wake();
        }
    }

    /// `PoolFull`, with the number of busy frames.
    pub(crate) fn pool_full(&self) -> Error {
        let pinned = (0..self.cap() as FrameId)
            .filter(|&f| {
                let m = self.hot().meta(f);
                m.state == State::Resident
                    && (m.latch != 0 || m.flags & KEPT != 0 || self.arena.flags(f).pins() > 0)
            })
            .count();
        Error::PoolFull {
            cap: self.cap(),
            pinned,
        }
    }

    // ---- reads and installs --------------------------------------------------------------------

    /// Reserved frame `f` is about to be read into for page `id` (not mapped): tasks asking for
    /// `id` from now on wait for this read.
    pub(crate) fn begin_read(&mut self, f: FrameId, id: PageId) {
        self.hot().update(f, |m| {
            debug_assert_eq!(m.state, State::Reserved);
            m.state = State::Reading;
            m.page = id;
        });
        self.hot().table.insert(id, f);
    }

    /// The read into `f` failed or was cancelled: the frame is free again and its waiters look
    /// the page up again (one of them reads it).
    pub(crate) fn end_read_failed(&mut self, f: FrameId) {
        let m = self.hot().meta(f);
        debug_assert_eq!(m.state, State::Reading);
        let page = m.page;
        self.hot().table.remove(page);
        self.transient -= 1;
        self.wake_all(f);
        self.push_free(f);
        self.wake_room();
    }

    /// Frame `f` (`Reading` page `id`, or `Reserved`) now holds page `id`: into the policy, at the
    /// cold end when `cold` (prefetched or scanned, not asked for). Waiters are woken after the
    /// installer took its own latch, if any ([`Frames::latch_installed`]).
    pub(crate) fn install(&mut self, f: FrameId, id: PageId, cold: bool) {
        let mut m = self.hot().meta(f);
        match m.state {
            State::Reading => debug_assert_eq!(m.page, id),
            State::Reserved => {
                m.page = id;
                self.hot().set_meta(f, m);
                self.hot().table.insert(id, f);
            }
            other => unreachable!("install into a {other:?} frame"),
        }
        self.transient -= 1;
        m.state = State::Resident;
        m.latch = 0;
        m.flags &= WAITERS;
        self.hot().set_meta(f, m);
        self.resident += 1;
        self.policy.insert(f, id, cold);
        self.wake_room();
    }

    /// The task that installed `f` latches it ahead of the waiters (it did the read), then the
    /// first waiter is woken.
    pub(crate) fn latch_installed(&mut self, f: FrameId, mode: Mode) {
        self.grant(f, mode, false);
        if self.hot().meta(f).flags & WAITERS != 0 {
            self.wake_front(f);
        }
    }

    /// Wakes the first waiter of a freshly installed, unlatched frame.
    pub(crate) fn wake_installed(&mut self, f: FrameId) {
        if self.hot().meta(f).flags & WAITERS != 0 {
            self.wake_front(f);
        }
    }

    // ---- snapshots -----------------------------------------------------------------------------

    /// Resident pages that are dirty or have a write in flight, in page order: what a sync must
    /// see written.
    pub(crate) fn unwritten(&self, writing: impl Fn(FrameId) -> bool) -> Vec<(PageId, FrameId)> {
        let mut out: Vec<(PageId, FrameId)> = (0..self.cap() as FrameId)
            .filter(|&f| {
                self.hot().meta(f).state == State::Resident
                    && (self.arena.flags(f).is_dirty() || writing(f))
            })
            .map(|f| (self.hot().meta(f).page, f))
            .collect();
        out.sort_unstable();
        out
    }

    /// Dirty resident pages (O(cap)).
    pub(crate) fn dirty_count(&self) -> usize {
        (0..self.cap() as FrameId)
            .filter(|&f| {
                self.hot().meta(f).state == State::Resident && self.arena.flags(f).is_dirty()
            })
            .count()
    }

    /// Heap bytes of bookkeeping: per-frame records, the page table and the policy.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.hot().heap_bytes() + self.policy.heap_bytes()
    }

    /// The page table's heap bytes alone.
    pub(crate) fn table_bytes(&self) -> usize {
        self.hot().table.heap_bytes()
    }

    /// Up to `limit` unpinned frames at the cold end of the eviction order.
    pub(crate) fn coldest(&self, limit: usize) -> Vec<FrameId> {
        self.policy.coldest(limit)
    }

    /// Frames in eviction order, the next victim first (tests).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn policy_order(&self) -> Vec<FrameId> {
        self.policy.order()
    }
}
