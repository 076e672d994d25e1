//! Intrusive queues over frame ids, shared by every policy: one pair of links and one state byte
//! per frame (9 bytes), and up to four lists ([`Queue`]) a frame can be linked in, one at a time.
//!
//! Each list has a head (the newest end, where frames are inserted) and a tail (the oldest end,
//! where the eviction search starts), and is a ring through a sentinel of its own (4 sentinels,
//! 32 bytes a pool), so that no link or unlink tests for an end. Besides the policy's own queues
//! ([`Queue::Main`], [`Queue::Small`]) there are two shared ones:
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

use std::{cell::Cell, ptr::NonNull, rc::Rc};

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
#[cfg(all(debug_assertions, any(test, feature = "testing")))]
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

/// A place in the lists: [`Queue`] `q`'s sentinel is node `q`, frame `f` is node `f + SENTINELS`.
type Node = u32;

/// Nodes before the frames' (one sentinel per [`Queue`]).
const SENTINELS: u32 = 4;

/// Frame `f`'s node.
#[inline(always)]
fn node(f: FrameId) -> Node {
    f + SENTINELS
}

/// The frame at `n`, or `None` for a sentinel.
#[inline(always)]
fn frame(n: Node) -> Option<FrameId> {
    n.checked_sub(SENTINELS)
}

/// Links (`[towards head, towards tail]`, as [`Node`]s) and state of frames `0..cap`, and the
/// lists' lengths.
///
/// Each list is a ring through its sentinel: the sentinel's link towards the tail is the head
/// (the newest frame), its link towards the head is the tail (the oldest), and the head's newer
/// and the tail's older neighbour is the sentinel; an empty list's sentinel links to itself. So
/// linking and unlinking never test for an end (exact LRU's move on a hit is two loads, one
/// compare and five stores).
///
/// Every field is a `Cell`, and every method takes `&self`: the policy owns its queues (in an
/// `Rc`), and the pool's hit path does a policy's common-case hit ([`FastHit`]) on the same
/// queues without borrowing the policy. No method calls out or hands out references into the
/// cells, so no two accesses overlap.
#[derive(Debug)]
pub(crate) struct Queues {
    /// Node `n`'s links: the sentinels' (`0..SENTINELS`), then the frames'.
    links: Box<[Cell<[Node; 2]>]>,
    state: Box<[Cell<u8>]>,
    lens: [Cell<u32>; 4],
    /// The pool's per-frame marks these queues clear on every state change ([`Marks`]).
    marks: Cell<Option<Marks>>,
}

/// One bit per frame that the pool keeps in its own frame records, meaning "the policy's fast
/// hit changes nothing in this frame's state byte" (the byte is where [`FastHit`] applies and is
/// its fixed point), so that the pool's hit path can skip the byte altogether. Only the pool sets
/// a mark, after a fast hit it did ([`FastHitTable::STABLE`]); [`Queues`] clears frame `f`'s
/// whenever it writes `f`'s state byte, so a mark never outlives the state it was set for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marks {
    /// Frame `f`'s mark is bit `bit` of the byte at `base + f × stride`.
    pub(crate) base: NonNull<u8>,
    pub(crate) stride: usize,
    pub(crate) bit: u8,
}

/// Where a [`Queues`]' links are ([`Queues::links_base`]): node `n`'s at `n` from here. Valid
/// while the queues are (the array never moves); used only while they are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Links(NonNull<Cell<[Node; 2]>>);

impl Links {
    /// Exact LRU's fast hit on a frame its state says is in [`Queue::Main`] (a marked frame of a
    /// [`FastHit::MoveToHead`] policy, see [`Marks`]): moves it to the head.
    ///
    /// # Safety
    /// These are the links of queues alive now, `f < cap` of them, and `f` is linked in
    /// [`Queue::Main`].
    #[inline(always)]
    pub(crate) unsafe fn move_to_main_head(self, f: FrameId) {
        // SAFETY: the caller's contract.
        unsafe { self.move_to_head(f, Queue::Main) }
    }

    /// Moves `f`, linked in `q`, to the head of `q`, with no bounds checks.
    ///
    /// # Safety
    /// These are the links of queues alive now, `f < cap` of them, and `f` is linked in `q`.
    #[inline(always)]
    unsafe fn move_to_head(self, f: FrameId, q: Queue) {
        // Every node looked up is one of the array's: `q`'s sentinel, `f`'s (`f < cap`, the
        // caller's contract) and the links of a linked node, which are nodes of its list. The
        // cells are reached through the array's pointer: the pool is one thread, and no
        // reference into a cell exists (`Cell` hands out none) while these accesses run.
        // SAFETY: see above.
        let link = |n: Node| unsafe { self.0.add(n as usize).as_ref() };
        // One link of `n` (`NEWER` or `OLDER`), as `Queues::set_link`.
        let set_link = |n: Node, which: usize, to: Node| {
            let mut l = link(n).get();
            l[which] = to;
            link(n).set(l);
        };
        let (s, f) = (q as Node, node(f));
        let head = link(s).get()[OLDER];
        if head == f {
            return;
        }
        step();
        // `f` is linked and not the head, so `newer` is a frame and `head` too; `older` is a
        // frame or the sentinel (when `f` is the tail): a ring has no ends to test.
        let [newer, older] = link(f).get();
        set_link(newer, OLDER, older);
        set_link(older, NEWER, newer);
        link(f).set([s, head]);
        set_link(head, NEWER, f);
        set_link(s, OLDER, f);
    }
}

/// A policy's hit in its common case, one operation on its [`Queues`]: the pool's hit path does
/// it directly, and only when it does not apply (a cold or parked frame) calls the policy's
/// `hit`, which starts with the same operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FastHit {
    /// Exact LRU: move the frame to the head of [`Queue::Main`].
    MoveToHead,
    /// Clock, SIEVE: set the frame's bit (counter 1) if it is in [`Queue::Main`].
    Mark,
    /// S3-FIFO: add one to the frame's counter, up to 3, if it is in [`Queue::Main`] or
    /// [`Queue::Small`].
    Bump,
}

impl FastHit {
    /// The state byte after this operation on a frame in state `s`, or `None` when it does not
    /// apply there (the policy's `hit` must run). `Some` states have `PRESENT` set, so never 0.
    #[inline(always)]
    fn next(self, s: u8) -> Option<u8> {
        let q = s & QUEUE_MASK;
        if s & PRESENT == 0 {
            return None;
        }
        match self {
            FastHit::MoveToHead => (q == Queue::Main as u8).then_some(s),
            FastHit::Mark => {
                (q == Queue::Main as u8).then_some((s & !COUNT_MASK) | (1 << COUNT_SHIFT))
            }
            FastHit::Bump => {
                let bumped = if s & COUNT_MASK == MAX_COUNT << COUNT_SHIFT {
                    s
                } else {
                    s + (1 << COUNT_SHIFT)
                };
                (q == Queue::Main as u8 || q == Queue::Small as u8).then_some(bumped)
            }
        }
    }

    /// This operation as a table the pool's hit path looks up (see [`FastHitTable`]).
    pub(crate) fn table(self) -> FastHitTable {
        let mut next = [0; 256];
        for (s, n) in (0..=u8::MAX).zip(next.iter_mut()) {
            *n = self.entry(s);
        }
        FastHitTable { next }
    }

    /// The operation on a frame in state `s` as one [`FastHitTable`] entry: the next state in
    /// the low byte, [`FastHitTable::MOVE`] for exact LRU's move to the head,
    /// [`FastHitTable::STABLE`] when the next state is the operation's fixed point; 0 when it
    /// does not apply.
    #[inline(always)]
    fn entry(self, s: u8) -> u16 {
        let Some(n) = self.next(s) else {
            return 0;
        };
        let stable = if self.next(n) == Some(n) {
            FastHitTable::STABLE
        } else {
            0
        };
        let moves = if self == FastHit::MoveToHead {
            FastHitTable::MOVE
        } else {
            0
        };
        moves | stable | u16::from(n)
    }
}

/// A [`FastHit`] as data: for each state byte, the state after the operation in the low byte
/// (never 0: it has `PRESENT`), with [`FastHitTable::MOVE`] set when the frame then moves to the
/// head of [`Queue::Main`] (exact LRU) and [`FastHitTable::STABLE`] when that state is the
/// operation's fixed point; 0 when the operation does not apply. The hit path's one
/// table lookup and one sign test replace a dispatch on the operation and its tests: an entry is
/// positive exactly when the hit is a store of the next state.
#[derive(Debug, Clone)]
pub(crate) struct FastHitTable {
    next: [u16; 256],
}

impl FastHitTable {
    /// The entry's bit for "and move the frame to the head of [`Queue::Main`]" (its sign bit).
    const MOVE: u16 = 1 << 15;
    /// The entry's bit for "the state after this hit is the operation's fixed point": from then
    /// on the fast hit changes nothing but exact LRU's order (see [`Marks`]).
    pub(crate) const STABLE: u16 = 1 << 14;

    /// The table's entry for a frame whose state byte is `cell`.
    #[inline(always)]
    pub(crate) fn entry_for(&self, cell: &Cell<u8>) -> u16 {
        self.next[usize::from(cell.get())]
    }
}

/// A policy's [`Queues`], in an `Rc` the pool's hit path shares; a clone of the policy gets a
/// copy of them (not a second handle).
#[derive(Debug)]
pub(super) struct SharedQueues(Rc<Queues>);

impl SharedQueues {
    pub(super) fn new(cap: usize) -> Self {
        Self(Rc::new(Queues::new(cap)))
    }

    /// The handle the pool's hit path keeps.
    pub(super) fn rc(&self) -> &Rc<Queues> {
        &self.0
    }
}

impl Clone for SharedQueues {
    fn clone(&self) -> Self {
        let q = &*self.0;
        Self(Rc::new(Queues {
            links: q.links.clone(),
            state: q.state.clone(),
            lens: q.lens.clone(),
            // A copy is nobody's hit path's.
            marks: Cell::new(None),
        }))
    }
}

impl std::ops::Deref for SharedQueues {
    type Target = Queues;

    fn deref(&self) -> &Queues {
        &self.0
    }
}

/// The fast hit's step once its table entry is known (see [`FastHitTable`]): sets `f`'s state
/// byte (`cell`) and, for exact LRU, moves `f` to the head of [`Queue::Main`]; `false`, and
/// nothing changed, when the entry is 0 (the policy's `hit` must run). `queues` is only called
/// for the move, so the pool's hit path loads its `Rc<Queues>` only then.
///
/// # Safety
/// `f < cap` of `queues`, and `cell` is `f`'s state byte there.
#[inline(always)]
pub(crate) unsafe fn apply_fast_hit<'q>(
    queues: impl FnOnce() -> &'q Queues,
    f: FrameId,
    cell: &Cell<u8>,
    entry: u16,
) -> bool {
    // Positive: a store of the next state (Clock, SIEVE, S3-FIFO); 0: does not apply; negative:
    // the store and exact LRU's move.
    if (entry as i16) > 0 {
        cell.set(entry as u8);
        return true;
    }
    if entry == 0 {
        return false;
    }
    cell.set(entry as u8);
    // SAFETY: `links_base` is the array of these queues, alive now; `f < cap` (the caller's
    // contract), linked in `Main` (the table moves only exact LRU's frames there).
    unsafe { queues().links_base().move_to_main_head(f) };
    true
}

/// S3-FIFO's counter limit (its `freq` saturates at 3).
pub(super) const MAX_COUNT: u8 = 3;

const NEWER: usize = 0;
const OLDER: usize = 1;

/// How many frames per frame asked for [`Queues::coldest_second_chance`] looks at, at most.
const SECOND_CHANCE_WALK: usize = 4;

impl Queues {
    /// No frame in any list, for frames `0..cap` (1 <= cap < u32::MAX - 4).
    pub(super) fn new(cap: usize) -> Self {
        let max = (NIL - SENTINELS) as usize;
        assert!(
            (1..max).contains(&cap),
            "policy capacity {cap} out of 1..{max}"
        );
        // Empty lists: each sentinel links to itself; unlinked frames to `NIL`.
        let sentinels = (0..SENTINELS).map(|q| Cell::new([q, q]));
        Self {
            links: sentinels
                .chain((0..cap).map(|_| Cell::new([NIL; 2])))
                .collect(),
            state: (0..cap).map(|_| Cell::new(0)).collect(),
            lens: [const { Cell::new(0) }; 4],
            marks: Cell::new(None),
        }
    }

    /// From now on every change of frame `f`'s state byte clears `f`'s mark in `marks`.
    ///
    /// # Safety
    /// Until [`Queues::detach_marks`], `marks.base + f × marks.stride` is a byte the pool's
    /// frame records own, for every `f < cap`, written by nothing that holds a reference to it
    /// while these queues run (the pool is one thread and reaches the records through `Cell`s
    /// and raw pointers only).
    pub(crate) unsafe fn attach_marks(&self, marks: Marks) {
        self.marks.set(Some(marks));
    }

    /// No more marks to clear (the records are going away).
    pub(crate) fn detach_marks(&self) {
        self.marks.set(None);
    }

    /// Heap bytes of the links and states (9 a frame, and 32 for the sentinels).
    pub(super) fn heap_bytes(&self) -> usize {
        size_of_val(&*self.links) + size_of_val(&*self.state)
    }

    fn st(&self, f: FrameId) -> u8 {
        self.state[f as usize].get()
    }

    fn set_st(&self, f: FrameId, s: u8) {
        self.state[f as usize].set(s);
        if let Some(m) = self.marks.get() {
            // SAFETY: `f < cap` (the index above would have panicked otherwise), and the byte
            // is the pool's record's, written by no one else now (`attach_marks`' contract).
            unsafe {
                let byte = m.base.as_ptr().add(f as usize * m.stride);
                byte.write(byte.read() & !m.bit);
            }
        }
    }

    fn links(&self, n: Node) -> [Node; 2] {
        self.links[n as usize].get()
    }

    fn set_links(&self, n: Node, links: [Node; 2]) {
        self.links[n as usize].set(links);
    }

    /// Sets one link of `n` (`NEWER` or `OLDER`).
    fn set_link(&self, n: Node, which: usize, to: Node) {
        let mut l = self.links(n);
        l[which] = to;
        self.set_links(n, l);
    }

    /// `q`'s newest node: its sentinel when it is empty.
    fn head(&self, q: Queue) -> Node {
        self.links(q as Node)[OLDER]
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
    pub(super) fn held(&self, f: FrameId, busy: &mut dyn FnMut(FrameId) -> bool) -> bool {
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

    pub(super) fn set_pinned(&self, f: FrameId, pinned: bool) {
        debug_assert!(self.contains(f), "frame {f} is not in the policy");
        let s = self.st(f);
        self.set_st(f, if pinned { s | PINNED } else { s & !PINNED });
    }

    /// The policy's common-case hit `op` on `f` (see [`FastHit`]), as the pool's hit path does
    /// it ([`apply_fast_hit`]), with `f` checked: the first step of every policy's `hit`.
    #[inline(always)]
    pub(super) fn hit(&self, f: FrameId, op: FastHit) -> bool {
        assert!((f as usize) < self.state.len(), "frame {f} out of range");
        // SAFETY: `f < cap = state.len()`, checked just above.
        let cell = unsafe { self.state.get_unchecked(f as usize) };
        let entry = op.entry(cell.get());
        // SAFETY: `f < cap`, and `cell` is `f`'s state byte.
        unsafe { apply_fast_hit(|| self, f, cell, entry) }
    }

    /// Where frame `f`'s state byte is, `f < cap`: `state_base().add(f)`. The pool's hit path
    /// keeps this pointer (the array never moves) and reads the byte with
    /// [`FastHitTable::entry_for`].
    pub(crate) fn state_base(&self) -> std::ptr::NonNull<Cell<u8>> {
        std::ptr::NonNull::from(&*self.state).cast()
    }

    /// The links' array, for exact LRU's fast hit ([`Links::move_to_main_head`]). The pool's hit
    /// path keeps it (the array never moves) and reaches the links with one load fewer.
    pub(crate) fn links_base(&self) -> Links {
        Links(NonNull::from(&*self.links).cast())
    }

    /// The frame's 2-bit counter.
    pub(super) fn count(&self, f: FrameId) -> u8 {
        (self.st(f) & COUNT_MASK) >> COUNT_SHIFT
    }

    /// Sets the counter (`count <= 3`).
    pub(super) fn set_count(&self, f: FrameId, count: u8) {
        debug_assert!(count <= 3);
        let s = self.st(f);
        self.set_st(f, (s & !COUNT_MASK) | (count << COUNT_SHIFT));
    }

    /// Number of frames in `q`.
    pub(super) fn len(&self, q: Queue) -> usize {
        self.lens[q as usize].get() as usize
    }

    pub(super) fn is_empty(&self, q: Queue) -> bool {
        self.len(q) == 0
    }

    /// The oldest frame of `q`.
    pub(super) fn tail(&self, q: Queue) -> Option<FrameId> {
        frame(self.links(q as Node)[NEWER])
    }

    /// The frame after `f` towards the head (newer) of its list.
    pub(super) fn newer(&self, f: FrameId) -> Option<FrameId> {
        step();
        frame(self.links(node(f))[NEWER])
    }

    /// Adds `f` (not in the policy) at the head of `q`, unpinned, counter 0.
    pub(super) fn insert(&self, q: Queue, f: FrameId) {
        debug_assert!(!self.contains(f), "frame {f} is already in the policy");
        debug_assert!(q != Queue::Parked);
        self.set_st(f, PRESENT);
        self.push_head(q, f);
    }

    /// Links `f` (in the policy, in no list) at the head of `q`.
    pub(super) fn push_head(&self, q: Queue, f: FrameId) {
        let head = self.head(q);
        self.link(q, f, q as Node, head);
    }

    /// Links `f` (in the policy, in no list) at the tail of `q`.
    pub(super) fn push_tail(&self, q: Queue, f: FrameId) {
        let tail = self.links(q as Node)[NEWER];
        self.link(q, f, tail, q as Node);
    }

    /// Links `f` (in the policy, in no list) just towards the tail from `at`, in `at`'s list.
    pub(super) fn push_older_than(&self, at: FrameId, f: FrameId) {
        let q = self.queue(at);
        let at = node(at);
        let older = self.links(at)[OLDER];
        self.link(q, f, at, older);
    }

    /// Links `f` between `newer` and `older` (neighbours in `q`, its sentinel at its ends).
    fn link(&self, q: Queue, f: FrameId, newer: Node, older: Node) {
        step();
        let n = node(f);
        self.set_links(n, [newer, older]);
        self.set_link(newer, OLDER, n);
        self.set_link(older, NEWER, n);
        let len = &self.lens[q as usize];
        len.set(len.get() + 1);
        let mut s = self.st(f);
        s = (s & !QUEUE_MASK) | q as u8;
        if q != Queue::Parked {
            s = (s & !HOME_MASK) | ((q as u8) << HOME_SHIFT);
        }
        self.set_st(f, s);
    }

    /// Takes `f` out of its list; it stays in the policy with its flags.
    pub(super) fn unlink(&self, f: FrameId) {
        step();
        let q = self.queue(f);
        let n = node(f);
        let [newer, older] = self.links(n);
        self.set_link(newer, OLDER, older);
        self.set_link(older, NEWER, newer);
        let len = &self.lens[q as usize];
        len.set(len.get() - 1);
        self.set_links(n, [NIL; 2]);
    }

    /// Moves `f` to the head of its list.
    pub(super) fn move_to_head(&self, f: FrameId) {
        let q = self.queue(f);
        if self.head(q) != node(f) {
            self.unlink(f);
            self.push_head(q, f);
        }
    }

    /// Takes `f` out of the policy.
    pub(super) fn remove(&self, f: FrameId) {
        self.unlink(f);
        self.set_st(f, 0);
    }

    /// Sets the pinned frame `f` aside: out of its list into [`Queue::Parked`], remembering its
    /// home.
    pub(super) fn park(&self, f: FrameId) {
        debug_assert!(self.pinned(f) && self.queue(f) != Queue::Parked);
        self.unlink(f);
        self.push_head(Queue::Parked, f);
    }

    /// Takes the parked `f` out of [`Queue::Parked`]; returns its home, where the caller links it.
    pub(super) fn unpark(&self, f: FrameId) -> Queue {
        debug_assert_eq!(self.queue(f), Queue::Parked);
        self.unlink(f);
        self.home(f)
    }

    /// Clears the pin bit of `f`. A parked `f` leaves [`Queue::Parked`]: a cold one goes back to
    /// the tail of [`Queue::Cold`] (still the next victim) and `None` is returned; for any other
    /// its home is returned and the caller links it there.
    pub(super) fn unpin(&self, f: FrameId) -> Option<Queue> {
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
    pub(super) fn pop_cold(&self, busy: &mut dyn FnMut(FrameId) -> bool) -> Option<FrameId> {
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

    /// Up to `limit` unpinned frames in the order a second-chance policy (Clock, SIEVE) evicts
    /// them: [`Queue::Cold`] oldest first, then of `frames` (the order its search walks its
    /// queue) those with their counter at 0 (the search evicts them as it meets them), then those
    /// with a second chance (evicted only after the search has cleared their counter and come
    /// round again), each group in walk order. At most [`SECOND_CHANCE_WALK`] × `limit` unpinned
    /// frames of `frames` are looked at, so the call stays O(limit) plus the pinned frames
    /// stepped over.
    pub(super) fn coldest_second_chance(
        &self,
        frames: impl Iterator<Item = FrameId>,
        limit: usize,
    ) -> Vec<FrameId> {
        let mut out = self.coldest(&[Queue::Cold], limit);
        let left = limit - out.len();
        let (mut first, mut then) = (Vec::new(), Vec::new());
        for f in frames
            .filter(|&f| !self.pinned(f))
            .take(left.saturating_mul(SECOND_CHANCE_WALK))
        {
            if self.count(f) == 0 {
                first.push(f);
                if first.len() == left {
                    break;
                }
            } else if then.len() < left {
                then.push(f);
            }
        }
        out.extend(first.into_iter().chain(then).take(left));
        out
    }

    /// The frames of `q` from tail (oldest) to head.
    pub(super) fn oldest_first(&self, q: Queue) -> impl Iterator<Item = FrameId> + '_ {
        std::iter::successors(self.tail(q), move |&f| self.newer(f))
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
        let q = Queues::new(6);
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
        assert_eq!(q.heap_bytes(), 6 * 9 + 32);
    }

    /// Every table entry is its operation: 0 exactly where the operation does not apply, else
    /// the next state in the low byte, negative (the move bit) exactly for exact LRU.
    #[test]
    fn fast_hit_table_entries_are_the_operation() {
        for op in [FastHit::MoveToHead, FastHit::Mark, FastHit::Bump] {
            let table = op.table();
            for s in 0..=u8::MAX {
                let entry = table.entry_for(&Cell::new(s));
                match op.next(s) {
                    None => assert_eq!(entry, 0, "{op:?} {s:#x}"),
                    Some(next) => {
                        assert_eq!(entry as u8, next, "{op:?} {s:#x}");
                        assert_eq!((entry as i16) < 0, op == FastHit::MoveToHead);
                        assert_ne!(entry as i16, 0);
                    }
                }
            }
        }
    }

    /// The fast hit on the list's ends and middle: exact LRU's move keeps both ends right (the
    /// oldest frame moved, the newest one left); a mark changes no order; a cold frame is left
    /// to the policy.
    #[test]
    fn the_fast_hit_moves_to_the_head_and_marks() {
        let q = Queues::new(5);
        for f in 0..4 {
            q.insert(Queue::Main, f);
        }
        q.insert(Queue::Cold, 4);
        for f in [0, 0, 2, 3] {
            assert!(q.hit(f, FastHit::MoveToHead));
        }
        assert_eq!(all(&q, Queue::Main), vec![1, 0, 2, 3]);
        assert_eq!((q.tail(Queue::Main), q.newer(3)), (Some(1), None));
        assert!(q.hit(1, FastHit::Mark) && q.hit(1, FastHit::Mark));
        assert_eq!(q.count(1), 1);
        assert!(q.hit(0, FastHit::Bump) && q.hit(0, FastHit::Bump));
        assert_eq!(q.count(0), 2);
        assert_eq!(all(&q, Queue::Main), vec![1, 0, 2, 3]);
        let cold = q.st(4);
        for op in [FastHit::MoveToHead, FastHit::Mark, FastHit::Bump] {
            assert!(!q.hit(4, op), "{op:?}");
        }
        assert_eq!(q.st(4), cold);
        assert_eq!(all(&q, Queue::Cold), vec![4]);
    }

    /// The rings against a model (one `VecDeque` per list, oldest first): random inserts at
    /// either end and beside a frame, unlinks, moves to the head (the fast hit's and the
    /// policy's), parks and unparks, on lists of every length from empty up; after every step
    /// each list, walked from both ends, is its model, and every length and end agrees.
    #[test]
    fn rings_are_lists() {
        use std::collections::VecDeque;
        let mut rng = crate::testing::Rng::new(5);
        for _ in 0..300 {
            let cap = 1 + rng.below(9) as FrameId;
            let q = Queues::new(cap as usize);
            let mut model: [VecDeque<FrameId>; 4] = Default::default();
            let lists = [Queue::Cold, Queue::Main, Queue::Small];
            for _ in 0..60 {
                let f = rng.below(u64::from(cap)) as FrameId;
                let which = lists[rng.below(3) as usize];
                let at = |m: &[VecDeque<FrameId>; 4], f| {
                    m.iter().position(|l| l.contains(&f)).map(|i| Queue::ALL[i])
                };
                match (at(&model, f), rng.below(4)) {
                    (None, 0) => {
                        q.insert(which, f);
                        model[which as usize].push_back(f);
                    }
                    (None, 1) => {
                        q.insert(which, f);
                        q.unlink(f);
                        q.push_tail(which, f);
                        model[which as usize].push_front(f);
                    }
                    (None, _) => {
                        // Beside a frame of `which`, if it has one.
                        let l = &model[which as usize];
                        if l.is_empty() {
                            continue;
                        }
                        let i = rng.below(l.len() as u64) as usize;
                        let beside = l[i];
                        q.insert(which, f);
                        q.unlink(f);
                        q.push_older_than(beside, f);
                        model[which as usize].insert(i, f);
                    }
                    (Some(Queue::Parked), _) => {
                        let home = q.unpark(f);
                        q.push_head(home, f);
                        model[Queue::Parked as usize].retain(|&g| g != f);
                        model[home as usize].push_back(f);
                    }
                    (Some(l), op) => {
                        model[l as usize].retain(|&g| g != f);
                        match op {
                            0 => {
                                q.remove(f);
                            }
                            1 => {
                                q.set_pinned(f, true);
                                q.park(f);
                                q.set_pinned(f, false);
                                model[Queue::Parked as usize].push_back(f);
                            }
                            2 => {
                                q.move_to_head(f);
                                model[l as usize].push_back(f);
                            }
                            _ => {
                                // SAFETY: `f < cap`, linked in `l`.
                                unsafe { q.links_base().move_to_head(f, l) };
                                model[l as usize].push_back(f);
                            }
                        }
                    }
                }
                for l in Queue::ALL {
                    let m: Vec<FrameId> = model[l as usize].iter().copied().collect();
                    assert_eq!(all(&q, l), m, "{l:?}, oldest first");
                    let mut newest_first = Vec::new();
                    let mut n = q.head(l);
                    while let Some(g) = frame(n) {
                        newest_first.push(g);
                        n = q.links(n)[OLDER];
                    }
                    newest_first.reverse();
                    assert_eq!(newest_first, m, "{l:?}, newest first");
                    assert_eq!(q.len(l), m.len());
                    assert_eq!(q.tail(l), m.first().copied());
                }
            }
        }
    }

    #[test]
    fn cold_frames_pop_oldest_first_and_pinned_ones_wait_at_the_tail() {
        let q = Queues::new(4);
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
