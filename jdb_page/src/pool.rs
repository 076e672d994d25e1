//! [`BufferPool`]: the page cache over one file, shared by the tasks of one runtime. `get` reads
//! top-down: hit, else make room, read, install.

use std::{
    cell::{Cell, OnceCell, RefCell},
    future::{Future, poll_fn},
    marker::PhantomData,
    path::{Path, PathBuf},
    pin::Pin,
    ptr::NonNull,
    rc::Rc,
    sync::Arc,
    task::{Context, Poll},
};

use jdb_alloc::{AlignedBuf, PAGE_SIZE};
use jdb_fs::File;
use jdb_layout::PageId;

use crate::{
    Error, FrameId, Page, PageMut, PageRef, PolicyKind, Result, Stats, Storage,
    bgwriter::BgSignal,
    doublewrite::Doublewrite,
    frames::{Frames, Lost, Mode},
    guard::{Guard, LatchWait},
    hot::{Hit, Hot},
    page::{self, Arena},
    policy::AnyPolicy,
    wal::Wal,
    write::{Poison, WriteTracker},
};

/// Longest run of contiguous pages read or written with one request (16 pages = 64 KiB, the
/// largest TreeLine segment).
pub const MAX_RUN: usize = 16;

/// I/O buffers of `MAX_RUN` pages kept for reuse (for runs and groups). Reads in flight beyond
/// these get buffers of their own size, freed on completion.
const MAX_SPARES: usize = 4;

/// One-page I/O buffers kept for reuse: enough for a miss of each of many tasks in flight at once
/// (and for `prefetch`'s [`crate::PREFETCH_DEPTH`] reads), so a miss allocates no staging buffer
/// (an aligned allocation costs more than the rest of the miss's bookkeeping). With
/// [`MAX_SPARES`], an idle pool holds at most 512 KiB of spare buffers.
const MAX_PAGE_SPARES: usize = 64;

/// Largest pool capacity in frames (frame ids are `u32`, one value is reserved).
pub const MAX_CAP: usize = (u32::MAX - 1) as usize;

/// How to open a pool: its size, its eviction policy, and whether its frames ask for huge pages.
///
/// ```
/// use jdb_page::{PolicyKind, PoolOptions};
///
/// let options = PoolOptions::new(16_384).policy(PolicyKind::Sieve); // 64 MiB, SIEVE
/// assert_eq!(options.cap, 16_384);
/// assert!(options.huge_pages);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolOptions {
    /// Frames (pages of 4096 bytes) in the pool.
    pub cap: usize,
    /// Which page leaves when room is needed; exact LRU by default.
    pub policy: PolicyKind,
    /// Whether the frames ask for transparent huge pages (`MADV_HUGEPAGE`; on by default). A hit
    /// then needs no TLB entry per page: on the repo's 3,000-page traces a hit takes about
    /// 0.7–0.85 × the time (`BENCHMARKS.md`, sessions 8–9). The kernel may compact memory
    /// to find them, which makes `open` of a large pool slower (1 GiB: 0.9–3.0 s against
    /// 0.7–0.9 s here). Off, or with THP off system-wide, the frames are ordinary pages.
    pub huge_pages: bool,
}

impl PoolOptions {
    /// A pool of `cap` frames with exact LRU eviction.
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            policy: PolicyKind::Lru,
            huge_pages: true,
        }
    }

    /// The eviction policy.
    pub fn policy(mut self, policy: PolicyKind) -> Self {
        self.policy = policy;
        self
    }

    /// Whether the frames ask for transparent huge pages (see the field).
    pub fn huge_pages(mut self, huge_pages: bool) -> Self {
        self.huge_pages = huge_pages;
        self
    }
}

/// A buffer pool: up to `cap` pages of one file in memory, shared by the tasks of one runtime.
///
/// Every method takes `&self`: share the pool between tasks with `Rc<BufferPool>`. Pages are
/// handed out as guards, [`PageMut`] (exclusive) and [`PageRef`] (shared), which latch and pin
/// the page while they live. A miss lets go of the pool while its read is in flight, so many
/// tasks keep many reads in flight; tasks missing the same page share one read. The pool is
/// thread-per-core: it is `!Send`, and needs no atomics or locks; use one pool per core (each
/// over its own file) to use several cores. See the crate docs for the durability contract.
pub struct BufferPool<S: Storage = File> {
    /// Boxed, so that it never moves: `core.frames` points into `core.hot` (`Frames::attach`).
    pub(crate) core: Box<Core>,
    /// `None` once closed. In an `Rc` so that calls in flight keep it alive without borrowing
    /// this cell.
    pub(crate) storage: RefCell<Option<Rc<S>>>,
    pub(crate) path: PathBuf,
    /// The doublewrite area, when the pool was opened with one.
    pub(crate) doublewrite: Option<Doublewrite<S>>,
}

/// The part of a pool that does not depend on the storage type, which guards point to.
pub(crate) struct Core {
    /// Residency (no I/O). Declared before `hot`, which it points into, so dropped first.
    pub(crate) frames: RefCell<Frames>,
    /// The hit path's state (page table, frame records), which `frames` keeps too. In `Core`
    /// itself, so that a hit reaches it at a fixed offset from the pool and a guard from its
    /// `core`, with no load.
    pub(crate) hot: Hot,
    /// The frames' bytes and flags (dirty, change generation, pins).
    pub(crate) arena: Arc<Arena>,
    /// `arena`'s first frame (`Arena::base`), kept here so that a guard reaches its bytes with
    /// one load less ([`Core::frame_bytes`]).
    frame_base: NonNull<u8>,
    pub(crate) writes: Rc<WriteTracker>,
    /// Spare I/O buffers of `MAX_RUN` pages each.
    spares: RefCell<Vec<AlignedBuf>>,
    /// Spare I/O buffers of one page each.
    page_spares: RefCell<Vec<AlignedBuf>>,
    /// Pages in the file plus pages allocated since open: the next new page id.
    pub(crate) page_count: Cell<u32>,
    pub(crate) poisoned: RefCell<Option<Poison>>,
    pub(crate) closed: Cell<bool>,
    pub(crate) path: PathBuf,
    /// The engine's log and the dirty page table, once a log is attached.
    pub(crate) wal: OnceCell<Wal>,
    /// The background writer's wake-up, while one runs.
    pub(crate) bg: RefCell<Option<Rc<BgSignal>>>,
    /// Read requests of the pool's calls in flight (the background writer holds back its
    /// writes while many are).
    pub(crate) reads_in_flight: Cell<usize>,
}

impl<S: Storage> BufferPool<S> {
    /// Opens a pool of `cap` frames (`cap * 4096` bytes) over `storage`, with exact LRU eviction.
    ///
    /// # Errors
    /// As [`BufferPool::open_with`].
    pub async fn open(storage: S, cap: usize) -> Result<Self> {
        Self::open_with(storage, PoolOptions::new(cap)).await
    }

    /// Opens a pool over `storage` as `options` say.
    ///
    /// Checks that the file is a whole number of pages and that it is a jdb file: its first page
    /// carries jdb's magic, or is damaged rather than foreign (torn, zeroed or with a broken
    /// magic, while the file is otherwise jdb's: see the crate docs). A damaged first page is
    /// reported by `get(0)` as [`Error::Corrupt`] and rebuilt by [`BufferPool::init_page`].
    /// Never writes, truncates or extends the file.
    ///
    /// The frames are one anonymous mapping of `cap × 4104` bytes (each page with its 8 flag
    /// bytes), committed here rather than on first use. When it is 2 MiB or more and
    /// [`PoolOptions::huge_pages`] is on (the default), it is 2 MiB-aligned and asks for
    /// transparent huge pages (`MADV_HUGEPAGE`). With THP set to `madvise` or `always`, hits then
    /// need no TLB entry per page. With THP off, the frames are ordinary pages.
    ///
    /// # Errors
    /// [`Error::InvalidCapacity`], [`Error::NotPageMultiple`], [`Error::TooManyPages`],
    /// [`Error::NotJdbFile`], [`Error::Storage`] (naming the file), [`Error::Alloc`].
    pub async fn open_with(storage: S, options: PoolOptions) -> Result<Self> {
        let cap = options.cap;
        if cap == 0 || cap > MAX_CAP {
            return Err(Error::InvalidCapacity { cap, max: MAX_CAP });
        }
        let size = storage.size().await?;
        let path = storage.path().to_path_buf();
        if size % PAGE_SIZE as u64 != 0 {
            return Err(Error::NotPageMultiple {
                path,
                size,
                page_size: PAGE_SIZE,
            });
        }
        let pages_in_file = size / PAGE_SIZE as u64;
        let page_count = u32::try_from(pages_in_file)
            .ok()
            .filter(|&n| n < u32::MAX)
            .ok_or(Error::TooManyPages {
                path: path.clone(),
                pages: pages_in_file,
                max: u32::MAX - 1,
            })?;

        let mut spare = AlignedBuf::with_cap(MAX_RUN * PAGE_SIZE)?;
        if page_count > 0 {
            let probed = (page_count as usize).min(MAX_RUN);
            let (res, buf) = storage.read_pages(0, probed, spare).await;
            spare = buf;
            res?;
            if let Err(e @ jdb_layout::Error::Foreign { .. }) =
                jdb_layout::verify(&spare[..PAGE_SIZE], 0)
                && !is_jdb_file(&spare[..probed * PAGE_SIZE])
            {
                return Err(Error::NotJdbFile { path, source: e });
            }
        }

        let arena = Arc::new(Arena::new(cap, options.huge_pages)?);
        let policy = AnyPolicy::with_kind(options.policy, cap);
        let hot = Frames::new_hot(arena.into_pages(), &policy);
        let frames = Frames::new(cap, policy, Arc::clone(&arena));
        let mut core = Box::new(Core {
            hot,
            frames: RefCell::new(frames),
            frame_base: arena.base(),
            arena,
            writes: WriteTracker::new(cap),
            spares: RefCell::new(vec![spare]),
            page_spares: RefCell::new(Vec::with_capacity(MAX_PAGE_SPARES)),
            page_count: Cell::new(page_count),
            poisoned: RefCell::new(None),
            closed: Cell::new(false),
            path: path.clone(),
            wal: OnceCell::new(),
            bg: RefCell::new(None),
            reads_in_flight: Cell::new(0),
        });
        let core_ref = &mut *core;
        // SAFETY: `hot` is in the same box as `frames`, which the pool never moves out of it
        // (`BufferPool::core`); `Core` drops `frames` before `hot`; nothing borrows `hot`
        // mutably (its state is in `Cell`s).
        unsafe { core_ref.frames.get_mut().attach(&core_ref.hot) };
        Ok(Self {
            core,
            storage: RefCell::new(Some(Rc::new(storage))),
            path,
            doublewrite: None,
        })
    }

    /// Page `id`, held exclusively: from memory, or read (and verified) from the file. It counts
    /// as a use for the eviction policy. Waits while another task holds the page (in either
    /// mode) or is reading it (then the two share that one read).
    ///
    /// # Errors
    /// [`Error::PageNotFound`] for an id at or past [`BufferPool::page_count`];
    /// [`Error::Corrupt`] when the page on disk fails verification (nothing is cached);
    /// [`Error::PoolFull`] when every frame is held or pinned; [`Error::Storage`] on I/O errors
    /// (also of a dirty victim's write-back); [`Error::Closed`]. After any error the pool is
    /// unchanged apart from clean pages it may have evicted.
    #[inline]
    pub fn get(&self, id: PageId) -> impl Future<Output = Result<PageMut<'_>>> + '_ {
        Latching::new(self, id)
    }

    /// Page `id`, shared: any number of tasks may read it at once; waits while a task holds it
    /// exclusively (and behind a task waiting to). Otherwise as [`BufferPool::get`].
    ///
    /// # Errors
    /// As [`BufferPool::get`].
    #[inline]
    pub fn read(&self, id: PageId) -> impl Future<Output = Result<PageRef<'_>>> + '_ {
        Latching::new(self, id)
    }

    /// Page `id`, held exclusively, if it is in memory and no task holds it or waits for it:
    /// the hit of [`BufferPool::get`] without waiting (nothing is read, nothing waits).
    ///
    /// The quickest way to a resident page from code with no `.await` in its loop: the same hit
    /// as `get`'s, without a future to build, store and poll (criterion `hit_path`, session 12:
    /// 3.9 ns a hit under SIEVE, 0.96 x a bare `HashMap` lookup, against 5.4 ns for
    /// `get(id).await` in an async loop).
    #[inline]
    pub fn try_get(&self, id: PageId) -> Option<PageMut<'_>> {
        let core: &Core = &self.core;
        self.hit(core, id, Mode::Exclusive)
            .map(|frame| PageMut::latched(core, frame))
    }

    /// Page `id`, shared, if it is in memory and no task holds it exclusively or waits for it:
    /// the hit of [`BufferPool::read`] without waiting.
    #[inline]
    pub fn try_read(&self, id: PageId) -> Option<PageRef<'_>> {
        let core: &Core = &self.core;
        self.hit(core, id, Mode::Shared)
            .map(|frame| PageRef::latched(core, frame))
    }

    /// The frame of `id` if it is in memory and free to latch now, latched and counted as a hit.
    /// Never once the pool is closed (`close` empties the hit path's view of the page table).
    /// `core` is `self.core`, loaded once by the caller, who builds the guard from it.
    #[inline(always)]
    fn hit(&self, core: &Core, id: PageId, mode: Mode) -> Option<FrameId> {
        if let Some(frame) = core.hot.try_hit(id, mode) {
            return Some(frame);
        }
        self.hit_unmarked(id, mode)
    }

    /// [`BufferPool::hit`] of a frame the common hit did not take (see [`Hot::try_hit`]), out of
    /// line: its policy's state byte, or the policy itself.
    #[inline(never)]
    fn hit_unmarked(&self, id: PageId, mode: Mode) -> Option<FrameId> {
        match self.core.hot.try_hit_unmarked(id, mode) {
            Hit::Latched(frame) => Some(frame),
            Hit::Policy(frame) => {
                self.core.policy_hit(frame, mode);
                Some(frame)
            }
            Hit::No => None,
        }
    }

    /// The miss path: wait for the page's latch (or for another task's read of it), or make
    /// room, read and install.
    async fn fetch(&self, id: PageId, mode: Mode) -> Result<FrameId> {
        loop {
            self.check_open()?;
            let found = self.core.frames.borrow().lookup(id);
            if let Some(frame) = found {
                // In memory, held by another task, or being read by one: wait for it.
                let reading = !self.core.frames.borrow().is_resident(frame);
                match LatchWait::new(&self.core, frame, id, mode, true).await {
                    Ok(()) => {
                        let stats = &mut self.core.frames.borrow_mut().stats;
                        if reading {
                            stats.misses += 1;
                            stats.shared_reads += 1;
                        } else {
                            stats.hits += 1;
                        }
                        return Ok(frame);
                    }
                    Err(Lost) => continue,
                }
            }
            self.check_id(id)?;
            let room = self.make_room().await?;
            // Another task may have begun reading `id` while this one made room.
            if self.core.frames.borrow().lookup(id).is_some() {
                continue;
            }
            return self.read_into(room, id, mode).await;
        }
    }

    /// Allocates a new page with the next id (`page_count()`), formatted as an empty data page,
    /// dirty, held exclusively. It reaches the file when flushed or evicted.
    ///
    /// `async` because making room may write a dirty page back.
    ///
    /// # Errors
    /// [`Error::PoolFull`], [`Error::TooManyPages`], a failed write-back ([`Error::Storage`]),
    /// [`Error::Closed`].
    pub async fn alloc(&self) -> Result<PageMut<'_>> {
        self.check_open()?;
        self.check_new_pages(1)?;
        let room = self.make_room().await?;
        // Other tasks may have allocated while this one made room.
        self.check_new_pages(1)?;
        let id = self.page_count();
        self.core.page_count.set(id + 1);
        let frame = self.core.install_new(room, id);
        self.core
            .frames
            .borrow_mut()
            .latch_installed(frame, Mode::Exclusive);
        Ok(PageMut::new(&self.core, frame))
    }

    /// Replaces page `id` (an existing id, `< page_count()`) with an empty data page, dirty and
    /// held exclusively, without reading it: for recovery, where a page that fails verification
    /// (torn by a crash, never written) is rebuilt from a log. A cached copy is overwritten (its
    /// pins are kept).
    ///
    /// # Errors
    /// [`Error::PageNotFound`], [`Error::PoolFull`], a failed write-back, [`Error::Closed`].
    pub async fn init_page(&self, id: PageId) -> Result<PageMut<'_>> {
        loop {
            self.check_open()?;
            self.check_id(id)?;
            let found = self.core.frames.borrow().lookup(id);
            if let Some(frame) = found {
                if LatchWait::new(&self.core, frame, id, Mode::Exclusive, true)
                    .await
                    .is_ok()
                {
                    let mut page = PageMut::new(&self.core, frame);
                    page.format(id);
                    return Ok(page);
                }
                continue;
            }
            let room = self.make_room().await?;
            if self.core.frames.borrow().lookup(id).is_some() {
                continue;
            }
            let frame = self.core.install_new(room, id);
            self.core
                .frames
                .borrow_mut()
                .latch_installed(frame, Mode::Exclusive);
            return Ok(PageMut::new(&self.core, frame));
        }
    }

    /// Makes room for one page: a frame taken from the free list, or freed by evicting the
    /// policy's victim (written back first if dirty, while other tasks go on). Waits when no
    /// frame can be freed yet but some will be without user action (reads in flight, victims
    /// being written back); fails with [`Error::PoolFull`] when every frame is held or pinned.
    pub(crate) async fn make_room(&self) -> Result<Reservation<'_>> {
        loop {
            if let Some(room) = self.try_make_room(true).await? {
                return Ok(room);
            }
        }
    }

    /// [`BufferPool::make_room`], except that with `may_wait == false` it returns `None` instead
    /// of waiting for other calls' reads or write-backs: for a caller that has reads of its own
    /// in flight, which it must go on polling.
    pub(crate) async fn try_make_room(&self, may_wait: bool) -> Result<Option<Reservation<'_>>> {
        loop {
            let victim = {
                let mut frames = self.core.frames.borrow_mut();
                if let Some(frame) = frames.take_free() {
                    return Ok(Some(Reservation::new(&self.core, frame)));
                }
                match frames.choose_victim() {
                    Some(victim) => Some(victim),
                    None if !may_wait => return Ok(None),
                    None if frames.room_coming() => None,
                    None => return Err(frames.pool_full()),
                }
            };
            let Some(victim) = victim else {
                // No victim yet, but reads or write-backs in flight will free one.
                self.core.wait_room().await;
                continue;
            };
            let victim = Victim::new(&self.core, victim);
            if let Some(room) = victim.try_evict() {
                return Ok(Some(room));
            }
            // Boxed: the write-back's future is large and rarely needed (a dirty victim), and
            // inline it would grow every miss's future, which `Latching` allocates.
            Box::pin(self.clean_victim(victim.frame)).await?;
            if let Some(room) = victim.try_evict() {
                return Ok(Some(room));
            }
            // Asked for (or dirtied again) while it was written: try the next victim.
        }
    }

    /// Reserves `n` frames at once (for a group of pages held together). A call holding some
    /// reservations never waits for more (two such calls could wait for each other): it gives
    /// them back, waits for room, and tries again; `PoolFull` when no room is coming.
    pub(crate) async fn make_room_for(&self, n: usize) -> Result<Vec<Reservation<'_>>> {
        if n > self.cap() {
            return Err(self.core.frames.borrow().pool_full());
        }
        loop {
            let mut rooms = Vec::with_capacity(n);
            rooms.push(self.make_room().await?);
            while rooms.len() < n {
                match self.try_make_room(false).await? {
                    Some(room) => rooms.push(room),
                    None => break,
                }
            }
            if rooms.len() == n {
                return Ok(rooms);
            }
            drop(rooms);
            if !self.core.frames.borrow().room_coming() {
                return Err(self.core.frames.borrow().pool_full());
            }
            self.core.wait_room().await;
        }
    }

    pub(crate) fn check_id(&self, id: PageId) -> Result<()> {
        let page_count = self.page_count();
        if id >= page_count {
            return Err(Error::PageNotFound { id, page_count });
        }
        Ok(())
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.core.closed.get() {
            return Err(Error::Closed {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// `TooManyPages` unless `n` more pages fit in the page id space.
    pub(crate) fn check_new_pages(&self, n: usize) -> Result<()> {
        let pages = u64::from(self.page_count()) + n as u64;
        if pages >= u64::from(u32::MAX) {
            return Err(Error::TooManyPages {
                path: self.path.clone(),
                pages,
                max: u32::MAX - 1,
            });
        }
        Ok(())
    }

    /// The storage, for a call that is about to do I/O.
    pub(crate) fn storage_rc(&self) -> Result<Rc<S>> {
        self.storage.borrow().clone().ok_or_else(|| Error::Closed {
            path: self.path.clone(),
        })
    }

    /// Whether page `id` is in memory (does not count as a use).
    pub fn is_cached(&self, id: PageId) -> bool {
        let frames = self.core.frames.borrow();
        frames
            .lookup(id)
            .is_some_and(|frame| frames.is_resident(frame))
    }

    /// Pages in memory.
    pub fn len(&self) -> usize {
        self.core.frames.borrow().resident()
    }

    /// Whether no page is in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frames in the pool.
    pub fn cap(&self) -> usize {
        self.core.hot.cap()
    }

    /// Pages in the file plus pages allocated since open; valid ids are `0..page_count()`.
    pub fn page_count(&self) -> u32 {
        self.core.page_count.get()
    }

    /// Dirty pages in memory (O(cap)).
    pub fn dirty_count(&self) -> usize {
        self.core.frames.borrow().dirty_count()
    }

    /// The counters since open or the last [`BufferPool::reset_stats`].
    pub fn stats(&self) -> Stats {
        let mut stats = self.core.frames.borrow().stats;
        stats.hits += self.core.hot.hits.get();
        stats
    }

    /// Sets every counter to zero.
    pub fn reset_stats(&self) {
        self.core.frames.borrow_mut().stats = Stats::default();
        self.core.hot.hits.set(0);
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The storage the pool runs on (`None` once closed).
    pub fn storage(&self) -> Option<Rc<S>> {
        self.storage.borrow().clone()
    }

    /// Writes (or `fdatasync`s) the kernel may still be doing for this pool, also those of
    /// dropped calls.
    pub fn writes_in_flight(&self) -> usize {
        self.core.writes.in_flight()
    }

    /// Read requests the pool's calls are waiting for (misses, groups, prefetches); a request
    /// whose call was dropped is not counted, even if the kernel is still doing it.
    pub fn reads_in_flight(&self) -> usize {
        self.core.reads_in_flight.get()
    }

    /// Bytes of bookkeeping the pool keeps besides the pages' 4096 bytes each: page records,
    /// frame states, flags, the policy and the page table.
    pub fn bookkeeping_bytes(&self) -> usize {
        self.core.arena.heap_bytes() + self.core.frames.borrow().heap_bytes()
    }

    /// Of [`BufferPool::bookkeeping_bytes`], the page table's (which follows the part of the
    /// file the pool has touched, not the pool's size).
    pub fn page_table_bytes(&self) -> usize {
        self.core.frames.borrow().table_bytes()
    }

    /// Frames in eviction order, the next victim first (tests).
    #[cfg(any(test, feature = "testing"))]
    #[doc(hidden)]
    pub fn eviction_order(&self) -> Vec<PageId> {
        let frames = self.core.frames.borrow();
        frames
            .policy_order()
            .into_iter()
            .filter_map(|f| frames.page_of(f))
            .collect()
    }
}

impl Core {
    /// Formats reserved frame `room` as new page `id` (dirty) and installs it, hot.
    pub(crate) fn install_new(&self, room: Reservation<'_>, id: PageId) -> FrameId {
        let frame = room.into_frame();
        // SAFETY: a reserved frame has no guard (latches are granted only on resident frames)
        // and no other reference to its page.
        unsafe { self.page_mut(frame) }.format(id);
        if let Some(wal) = self.wal.get() {
            wal.reset(frame);
        }
        self.frames.borrow_mut().install(frame, id, false);
        frame
    }

    /// The page in `frame`.
    ///
    /// # Safety
    /// `frame` is a frame of this pool (`< cap`), and while the reference lives no `&mut Page` of
    /// it may exist: the caller holds a latch on the frame (a guard), or checked that no guard
    /// holds it exclusively and does not await before the reference is gone, or the frame is
    /// reserved or being read (no guard exists). (A latched, reserved or read-into frame is one
    /// `Frames` handed out, so `< cap`.)
    #[inline]
    pub(crate) unsafe fn page(&self, frame: FrameId) -> &Page {
        // SAFETY: the caller's contract, which is `Hot::page`'s.
        unsafe { self.hot.page(frame) }
    }

    /// The 4096 bytes of `frame`, from its number alone (an address computation: no page
    /// record, no `Arc`): what a guard's [`PageRef::data`](crate::PageRef::data) reads.
    ///
    /// # Safety
    /// As [`Core::page`]: `frame < cap`, and while the slice lives nothing writes the frame's
    /// bytes (no `&mut Page` of it, no [`Core::frame_bytes_mut`] slice).
    #[inline(always)]
    pub(crate) unsafe fn frame_bytes(&self, frame: FrameId) -> &[u8] {
        debug_assert!((frame as usize) < self.hot.cap());
        // SAFETY: `frame < cap`: 4096 initialised bytes of the arena, which `self.arena` keeps
        // alive; the caller excludes writers for the slice's life.
        unsafe { std::slice::from_raw_parts(page::frame_ptr(self.frame_base, frame), PAGE_SIZE) }
    }

    /// The 4096 bytes of `frame`, writable; marks the page dirty, as [`Page::data_mut`] does.
    ///
    /// # Safety
    /// As [`Core::page_mut`]: `frame < cap`, and while the slice lives no other reference to the
    /// frame's bytes or its page record exists (the caller is the `PageMut` holding the frame's
    /// exclusive latch, borrowed mutably).
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn frame_bytes_mut(&self, frame: FrameId) -> &mut [u8] {
        debug_assert!((frame as usize) < self.hot.cap());
        // SAFETY: `frame < cap`, a frame of the arena (the caller's contract).
        unsafe { self.arena.flags_unchecked(frame) }.mark_dirty();
        // SAFETY: as in `frame_bytes`, and the caller makes this the only reference to the bytes.
        unsafe {
            std::slice::from_raw_parts_mut(page::frame_ptr(self.frame_base, frame), PAGE_SIZE)
        }
    }

    /// The page in `frame`, writable.
    ///
    /// # Safety
    /// `frame` is a frame of this pool (`< cap`), and while the reference lives no other
    /// reference to the page may exist: the caller is the `PageMut` holding the frame's
    /// exclusive latch, or the frame is reserved or being read (no guard exists) and the caller
    /// keeps no other reference.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn page_mut(&self, frame: FrameId) -> &mut Page {
        // SAFETY: the caller's contract, which is `Hot::page_mut`'s.
        unsafe { self.hot.page_mut(frame) }
    }

    /// An I/O buffer for `n` pages: for one page a one-page spare if one is left, else a spare
    /// of `MAX_RUN` pages if one is left, else a new one of exactly `n` pages.
    pub(crate) fn take_io_buf(&self, n: usize) -> Result<AlignedBuf> {
        let page = if n == 1 {
            self.page_spares.borrow_mut().pop()
        } else {
            None
        };
        match page.or_else(|| self.spares.borrow_mut().pop()) {
            Some(buf) => Ok(buf),
            None => Ok(AlignedBuf::with_cap(n * PAGE_SIZE)?),
        }
    }

    /// Returns an I/O buffer for reuse (keeping at most `MAX_SPARES` of `MAX_RUN` pages and
    /// `MAX_PAGE_SPARES` of one page).
    pub(crate) fn put_spare(&self, buf: AlignedBuf) {
        if buf.cap() >= MAX_RUN * PAGE_SIZE {
            let mut spares = self.spares.borrow_mut();
            if spares.len() < MAX_SPARES {
                spares.push(buf);
            }
        } else if buf.cap() == PAGE_SIZE {
            let mut spares = self.page_spares.borrow_mut();
            if spares.len() < MAX_PAGE_SPARES {
                spares.push(buf);
            }
        }
    }

    /// A hit the policy must see itself ([`Hit::Policy`]), out of line.
    #[cold]
    #[inline(never)]
    fn policy_hit(&self, frame: FrameId, mode: Mode) {
        self.frames.borrow_mut().policy_hit(frame, mode);
    }

    /// The rest of a guard's release when someone must hear of it (see [`Hot::release`]), out
    /// of line.
    #[cold]
    #[inline(never)]
    pub(crate) fn released_slow(&self, frame: FrameId) {
        self.frames.borrow_mut().released_slow(frame);
    }

    /// Waits until a frame is freed or becomes evictable (or a transient state ends).
    async fn wait_room(&self) {
        let mut registered = false;
        poll_fn(|cx| {
            if registered {
                return Poll::Ready(());
            }
            registered = true;
            self.frames.borrow_mut().wait_room(cx.waker());
            Poll::Pending
        })
        .await;
    }
}

/// The future of `get` and `read`: the hit is answered in its first poll, with no state machine
/// around it; only a miss builds (and boxes) the miss path's future, which waits for the device
/// anyway. (A future holding the miss path inline would be over a kilobyte, built and moved on
/// every hit.)
struct Latching<'a, S: Storage, G> {
    pool: &'a BufferPool<S>,
    id: PageId,
    miss: Option<Pin<Box<dyn Future<Output = Result<FrameId>> + 'a>>>,
    guard: PhantomData<G>,
}

impl<'a, S: Storage, G: Guard<'a>> Latching<'a, S, G> {
    #[inline]
    fn new(pool: &'a BufferPool<S>, id: PageId) -> Self {
        Self {
            pool,
            id,
            miss: None,
            guard: PhantomData,
        }
    }
}

impl<'a, S: Storage, G: Guard<'a>> Future for Latching<'a, S, G> {
    type Output = Result<G>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<G>> {
        let this = self.get_mut();
        let pool = this.pool;
        let miss = match &mut this.miss {
            Some(miss) => miss,
            None => {
                // `BufferPool::hit`'s two steps, each returning on its own: through `hit`'s one
                // `Option` the compiler tests the common hit's result again (3 instructions a
                // hit more in session 10; 1 more in criterion's `hit_path` loop in session 11).
                let core: &Core = &pool.core;
                if let Some(frame) = core.hot.try_hit(this.id, G::MODE) {
                    return Poll::Ready(Ok(G::latched(core, frame)));
                }
                if let Some(frame) = pool.hit_unmarked(this.id, G::MODE) {
                    return Poll::Ready(Ok(G::latched(core, frame)));
                }
                this.miss.insert(miss_future(pool, this.id, G::MODE))
            }
        };
        miss.as_mut()
            .poll(cx)
            .map(|res| res.map(|frame| G::latched(&pool.core, frame)))
    }
}

/// The boxed miss path of `Latching` (out of line and cold, so that the hit's loop keeps its
/// registers).
#[cold]
#[inline(never)]
fn miss_future<S: Storage>(
    pool: &BufferPool<S>,
    id: PageId,
    mode: Mode,
) -> Pin<Box<dyn Future<Output = Result<FrameId>> + '_>> {
    Box::pin(pool.fetch(id, mode))
}

// `Latching` holds no self-references (the miss path is boxed).
impl<S: Storage, G> Unpin for Latching<'_, S, G> {}

/// A frame taken for a new page; given back to the free list unless installed.
pub(crate) struct Reservation<'a> {
    core: &'a Core,
    frame: Option<FrameId>,
}

impl<'a> Reservation<'a> {
    fn new(core: &'a Core, frame: FrameId) -> Self {
        Self {
            core,
            frame: Some(frame),
        }
    }

    /// The frame, now the caller's to install or read into.
    pub(crate) fn into_frame(mut self) -> FrameId {
        // `frame` is `None` only after this call, which consumes `self`.
        self.frame.take().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Some(frame) = self.frame.take() {
            self.core.frames.borrow_mut().release_reserved(frame);
        }
    }
}

/// A victim being cleaned; put back into the policy (at the cold end) unless evicted or rescued.
struct Victim<'a> {
    core: &'a Core,
    frame: FrameId,
}

impl<'a> Victim<'a> {
    fn new(core: &'a Core, frame: FrameId) -> Self {
        Self { core, frame }
    }

    /// Evicts the victim if it can go now (clean, unpinned, no write in flight, not rescued).
    fn try_evict(&self) -> Option<Reservation<'a>> {
        let writing = self.core.writes.is_writing(self.frame);
        let mut frames = self.core.frames.borrow_mut();
        if !frames.evictable(self.frame, writing) {
            return None;
        }
        frames.evict(self.frame);
        Some(Reservation::new(self.core, self.frame))
    }
}

impl Drop for Victim<'_> {
    fn drop(&mut self) {
        let mut frames = self.core.frames.borrow_mut();
        if frames.is_victim(self.frame) {
            frames.unevict(self.frame, true);
        }
    }
}

/// Whether a file whose first page has no jdb magic is still jdb's, judged from its first pages
/// (`pages`, at most `MAX_RUN` of them): page 0 is damaged, not foreign, when
///
/// - its first write was torn before the magic was complete: the magic is a prefix of jdb's
///   followed by zeros and everything after the header is zero;
/// - or only its magic is damaged (a flipped bit): with jdb's magic put back, its checksum holds;
/// - or another of the first pages carries jdb's magic (page 0 zeroed, torn or overwritten).
///
/// Then `open` accepts the file, `get(0)` reports the page as corrupt and `init_page(0)` rebuilds
/// it. Random bytes or another format pass none of these (the last two by chance 2^-32 each).
fn is_jdb_file(pages: &[u8]) -> bool {
    let (page0, others) = pages.split_at(PAGE_SIZE);
    torn_in_header(page0)
        || jdb_layout::magic_damaged(page0)
        || others
            .chunks_exact(PAGE_SIZE)
            .any(|page| jdb_layout::stored_magic(page) == Ok(jdb_layout::PAGE_MAGIC))
}

/// Whether `page` is a jdb page whose first write was torn before its magic was complete.
fn torn_in_header(page: &[u8]) -> bool {
    let Ok(magic) = jdb_layout::stored_magic(page) else {
        return false;
    };
    let written = magic.iter().take_while(|&&b| b != 0).count();
    magic[..written] == jdb_layout::PAGE_MAGIC[..written]
        && magic[written..].iter().all(|&b| b == 0)
        && jdb_layout::is_all_zero(&page[jdb_layout::PAGE_HEADER_SIZE..])
}

impl<S: Storage> Drop for BufferPool<S> {
    fn drop(&mut self) {
        let dirty = self.dirty_count();
        if dirty > 0 && !self.core.closed.get() {
            log::warn!(
                "{}: buffer pool dropped with {dirty} dirty pages not written; call close() or sync() first",
                self.path.display()
            );
        }
    }
}
