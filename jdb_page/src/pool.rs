//! [`BufferPool`]: the page cache over one file.

use std::{collections::HashMap, path::Path, ptr::NonNull, rc::Rc, sync::Arc};

use jdb_alloc::{AlignedBuf, PAGE_SIZE};
use jdb_fs::File;
use jdb_layout::PageId;
use rustc_hash::FxBuildHasher;

use crate::{
    Error, Page, Result, Stats, Storage,
    lru::{FrameId, LruOrder},
};

/// Longest run of contiguous pages read or written with one request (16 pages = 64 KiB, the
/// largest TreeLine segment).
pub const MAX_RUN: usize = 16;

/// I/O buffers of `MAX_RUN` pages kept for reuse. Reads in flight beyond these (`prefetch`) get
/// buffers of their own size, freed on completion, so an idle pool holds at most 256 KiB of them.
const MAX_SPARES: usize = 4;

/// Largest pool capacity in frames (frame ids are `u32`, one value is reserved).
pub const MAX_CAP: usize = (u32::MAX - 1) as usize;

/// A buffer pool: up to `cap` pages of one file in memory, evicted in exact LRU order.
///
/// Single-threaded by design (one pool per thread, compio style): every method takes `&mut self`,
/// so there are no locks on the hit path. See the crate docs for the durability contract.
pub struct BufferPool<S: Storage = File> {
    /// Shared with in-flight reads of `prefetch`, so they do not borrow the pool.
    pub(crate) storage: Rc<S>,
    /// One `Page` per frame; frame `f` is `pages[f]`.
    pub(crate) pages: Box<[Page]>,
    /// Resident pages: page id -> frame.
    pub(crate) table: HashMap<PageId, FrameId, FxBuildHasher>,
    /// Resident, evictable-looking frames, most recently used first.
    pub(crate) lru: LruOrder,
    /// Resident frames found pinned when they reached the LRU end, oldest first. They leave the
    /// LRU list so victim search stays O(1); the next `get` or an unpin puts them back.
    pub(crate) parked: Vec<FrameId>,
    /// Frames holding no page.
    pub(crate) free: Vec<FrameId>,
    /// Pages in the file plus pages allocated since open: the next new page id.
    pub(crate) page_count: u32,
    /// Spare I/O buffers of `MAX_RUN` pages each (taken while an I/O runs; lost, and replaced, if
    /// that I/O's future is dropped).
    pub(crate) spares: Vec<AlignedBuf>,
    pub(crate) stats: Stats,
    /// Writes the kernel may still be doing (also those of dropped futures).
    pub(crate) writes: crate::inflight::WriteTracker,
    /// Set by the first failed `fdatasync`: every later write and sync fails (see
    /// [`Error::Poisoned`]).
    pub(crate) poisoned: Option<Poison>,
}

/// What poisoned a pool: the first failed `fdatasync`, as reported.
#[derive(Debug, Clone)]
pub(crate) struct Poison {
    first: String,
    os_error: Option<i32>,
}

impl<S: Storage> BufferPool<S> {
    /// Opens a pool of `cap` frames (`cap * 4096` bytes) over `storage`.
    ///
    /// Checks that the file is a whole number of pages and that it is a jdb file: its first page
    /// carries jdb's magic, or is damaged rather than foreign (torn, zeroed or with a broken
    /// magic, while the file is otherwise jdb's: see the crate docs). A damaged first page is
    /// reported by `get(0)` as [`Error::Corrupt`] and rebuilt by [`BufferPool::init_page`].
    /// Never writes, truncates or extends the file.
    ///
    /// # Errors
    /// [`Error::InvalidCapacity`], [`Error::NotPageMultiple`], [`Error::TooManyPages`],
    /// [`Error::NotJdbFile`], [`Error::Storage`] (naming the file), [`Error::Alloc`].
    pub async fn open(storage: S, cap: usize) -> Result<Self> {
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

        let arena = Arc::new(AlignedBuf::zeroed(cap * PAGE_SIZE)?);
        // SAFETY: every frame gets exactly one `Page`, which keeps `arena` alive through its own
        // `Arc`; the arena is zeroed, so every frame is initialised, and it is never accessed
        // other than through these pages.
        let frames: Vec<_> = unsafe { arena.slice_into_raws(PAGE_SIZE) }.collect();
        let pages: Box<[Page]> = frames
            .into_iter()
            .filter_map(|frame| NonNull::new(frame.as_mut_ptr()))
            .map(|ptr| Page::in_arena(Arc::clone(&arena), ptr))
            .collect();
        debug_assert_eq!(pages.len(), cap);
        Ok(Self {
            storage: Rc::new(storage),
            pages,
            table: HashMap::with_capacity_and_hasher(cap, FxBuildHasher),
            lru: LruOrder::new(),
            parked: Vec::new(),
            free: (0..cap as FrameId).rev().collect(),
            page_count,
            spares: vec![spare],
            // The format check above is not counted: a pool starts with all counters at zero.
            stats: Stats::default(),
            writes: Default::default(),
            poisoned: None,
        })
    }

    /// The page `id`, from memory or read (and verified) from the file. It becomes the most
    /// recently used page.
    ///
    /// # Errors
    /// [`Error::PageNotFound`] for an id at or past [`BufferPool::page_count`];
    /// [`Error::Corrupt`] when the page on disk fails verification (nothing is cached);
    /// [`Error::PoolFull`] when every frame is pinned; [`Error::Storage`] on I/O errors.
    /// After any error the pool is unchanged apart from clean pages it may have evicted.
    #[inline]
    pub async fn get(&mut self, id: PageId) -> Result<&mut Page> {
        // The hit is answered here, not through `fetch`'s future: ~10 instructions fewer a hit.
        let frame = match self.hit(id) {
            Some(frame) => frame,
            None => Box::pin(self.load(id, &[])).await?,
        };
        Ok(&mut self.pages[frame as usize])
    }

    /// Several distinct pages at once, e.g. a parent and two children during a B-tree split.
    /// Each becomes most recently used, in order; loading one never evicts another of the set.
    ///
    /// # Errors
    /// [`Error::DuplicatePage`] when an id repeats; otherwise as [`BufferPool::get`]
    /// ([`Error::PoolFull`] also when `N` exceeds the free frames).
    pub async fn get_many<const N: usize>(&mut self, ids: [PageId; N]) -> Result<[&mut Page; N]> {
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                return Err(Error::DuplicatePage { id: *id });
            }
        }
        let mut frames = [0 as FrameId; N];
        for i in 0..N {
            frames[i] = self.fetch(ids[i], &frames[..i]).await?;
        }
        let (cap, pinned) = (self.cap(), self.pinned_count());
        // The ids are distinct, so the frames are: this cannot fail.
        self.pages
            .get_disjoint_mut(frames.map(|f| f as usize))
            .map_err(|_| Error::PoolFull { cap, pinned })
    }

    /// Allocates a new page with the next id (`page_count()`), formatted as an empty data page,
    /// dirty, most recently used. It reaches the file when flushed or evicted.
    ///
    /// `async` because making room may write a dirty page back.
    ///
    /// # Errors
    /// [`Error::PoolFull`], [`Error::TooManyPages`], or a failed write-back ([`Error::Storage`]).
    pub async fn alloc(&mut self) -> Result<&mut Page> {
        if self.page_count == u32::MAX - 1 {
            let path = self.storage.path().to_path_buf();
            return Err(Error::TooManyPages {
                path,
                pages: u64::from(u32::MAX),
                max: u32::MAX - 1,
            });
        }
        self.make_room(&[]).await?;
        let frame = self.take_free_frame()?;
        let id = self.page_count;
        self.page_count += 1;
        self.pages[frame as usize].format(id);
        self.table.insert(id, frame);
        self.lru.push_front(&mut *self.pages, frame);
        Ok(&mut self.pages[frame as usize])
    }

    /// Replaces page `id` (an existing id, `< page_count()`) with an empty data page, dirty and
    /// most recently used, without reading it: for recovery, where a page that fails
    /// verification (torn by a crash, never written) is rebuilt from a log. A cached copy is
    /// overwritten.
    ///
    /// # Errors
    /// [`Error::PageNotFound`], [`Error::PoolFull`], or a failed write-back.
    pub async fn init_page(&mut self, id: PageId) -> Result<&mut Page> {
        self.check_id(id)?;
        let frame = match self.table.get(&id) {
            Some(&frame) => {
                self.touch(frame);
                frame
            }
            None => {
                self.make_room(&[]).await?;
                let frame = self.take_free_frame()?;
                self.table.insert(id, frame);
                self.lru.push_front(&mut *self.pages, frame);
                frame
            }
        };
        let page = &mut self.pages[frame as usize];
        let pins = page.pin_count();
        page.format(id);
        for _ in 0..pins {
            page.pin();
        }
        Ok(page)
    }

    /// Makes `id` resident (reading it if needed), marks it used, returns its frame. `protect`
    /// lists frames that must not be evicted to make room.
    ///
    /// The hit path is inline; the miss path is a separate, boxed future. A future holding the
    /// miss path inline would be over a kilobyte, built and moved on every hit; boxed, a hit's
    /// future is a few words and only a miss (which waits for the device anyway) allocates.
    #[inline]
    pub(crate) async fn fetch(&mut self, id: PageId, protect: &[FrameId]) -> Result<FrameId> {
        match self.hit(id) {
            Some(frame) => Ok(frame),
            None => Box::pin(self.load(id, protect)).await,
        }
    }

    /// The frame of `id` if it is in memory, counted as a hit and marked just used.
    #[inline]
    fn hit(&mut self, id: PageId) -> Option<FrameId> {
        let frame = *self.table.get(&id)?;
        self.stats.hits += 1;
        self.touch(frame);
        Some(frame)
    }

    /// The miss path of [`BufferPool::fetch`]: reads, verifies and installs page `id`.
    async fn load(&mut self, id: PageId, protect: &[FrameId]) -> Result<FrameId> {
        self.check_id(id)?;
        self.stats.misses += 1;
        self.make_room(protect).await?;
        let buf = self.take_spare()?;
        let (res, buf) = self.storage.read_pages(id, 1, buf).await;
        self.stats.read_ios += 1;
        let installed = match res {
            Ok(()) => self.install_verified(id, &buf[..PAGE_SIZE], false),
            Err(e) => {
                self.stats.io_errors += 1;
                Err(e.into())
            }
        };
        self.put_spare(buf);
        installed
    }

    /// Verifies `bytes` as page `id` and puts it in a free frame, at the front of the LRU list
    /// (`cold == false`) or at the back (`cold == true`, for scans).
    pub(crate) fn install_verified(
        &mut self,
        id: PageId,
        bytes: &[u8],
        cold: bool,
    ) -> Result<FrameId> {
        if let Err(source) = jdb_layout::verify(bytes, id) {
            self.stats.checksum_failures += 1;
            return Err(Error::Corrupt {
                path: self.storage.path().to_path_buf(),
                page: id,
                source,
            });
        }
        let frame = self.take_free_frame()?;
        self.pages[frame as usize].install(id, bytes);
        self.table.insert(id, frame);
        if cold {
            self.lru.push_back(&mut *self.pages, frame);
        } else {
            self.lru.push_front(&mut *self.pages, frame);
        }
        self.stats.pages_read += 1;
        Ok(frame)
    }

    /// Marks a resident frame as just used.
    #[inline]
    pub(crate) fn touch(&mut self, frame: FrameId) {
        self.lru.touch(&mut *self.pages, frame);
        if !self.parked.is_empty() {
            self.parked.retain(|&f| f != frame);
        }
    }

    /// `Err(Poisoned)` once a sync has failed: called before every write and sync.
    pub(crate) fn check_poisoned(&self) -> Result<()> {
        match &self.poisoned {
            None => Ok(()),
            Some(poison) => Err(Error::Poisoned {
                path: self.storage.path().to_path_buf(),
                first: poison.first.clone(),
                os_error: poison.os_error,
            }),
        }
    }

    /// Records a failed `fdatasync`: the pool is poisoned from now on.
    pub(crate) fn poison(&mut self, failure: &jdb_fs::Error) {
        if self.poisoned.is_none() {
            self.poisoned = Some(Poison {
                first: failure.to_string(),
                os_error: failure.raw_os_error(),
            });
        }
    }

    /// Whether a failed sync has poisoned the pool ([`Error::Poisoned`]).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    pub(crate) fn check_id(&self, id: PageId) -> Result<()> {
        if id >= self.page_count {
            return Err(Error::PageNotFound {
                id,
                page_count: self.page_count,
            });
        }
        Ok(())
    }

    pub(crate) fn take_free_frame(&mut self) -> Result<FrameId> {
        match self.free.pop() {
            Some(frame) => Ok(frame),
            None => Err(Error::PoolFull {
                cap: self.cap(),
                pinned: self.pinned_count(),
            }),
        }
    }

    /// The spare I/O buffer of `MAX_RUN` pages, or a new one if an earlier I/O kept it.
    pub(crate) fn take_spare(&mut self) -> Result<AlignedBuf> {
        self.take_io_buf(MAX_RUN)
    }

    /// An I/O buffer for `n` pages: a spare if one is left (spares hold `MAX_RUN` pages), else a
    /// new one of exactly `n` pages.
    pub(crate) fn take_io_buf(&mut self, n: usize) -> Result<AlignedBuf> {
        match self.spares.pop() {
            Some(buf) => Ok(buf),
            None => Ok(AlignedBuf::with_cap(n * PAGE_SIZE)?),
        }
    }

    /// Returns an I/O buffer for reuse (keeping at most `MAX_SPARES`).
    pub(crate) fn put_spare(&mut self, buf: AlignedBuf) {
        if self.spares.len() < MAX_SPARES && buf.cap() >= MAX_RUN * PAGE_SIZE {
            self.spares.push(buf);
        }
    }

    pub(crate) fn pinned_count(&self) -> usize {
        self.table
            .values()
            .filter(|&&f| self.pages[f as usize].is_pinned())
            .count()
    }

    /// Whether page `id` is in memory (does not count as a use).
    pub fn is_cached(&self, id: PageId) -> bool {
        self.table.contains_key(&id)
    }

    /// Pages in memory.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no page is in memory.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Frames in the pool.
    pub fn cap(&self) -> usize {
        self.pages.len()
    }

    /// Pages in the file plus pages allocated since open; valid ids are `0..page_count()`.
    pub fn page_count(&self) -> u32 {
        self.page_count
    }

    /// Dirty pages in memory (O(len)).
    pub fn dirty_count(&self) -> usize {
        self.table
            .values()
            .filter(|&&f| self.pages[f as usize].is_dirty())
            .count()
    }

    /// The counters since open or the last [`BufferPool::reset_stats`].
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Sets every counter to zero.
    pub fn reset_stats(&mut self) {
        self.stats = Stats::default();
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.storage.path()
    }

    /// The storage the pool runs on.
    pub fn storage(&self) -> &S {
        &self.storage
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
        if dirty > 0 {
            log::warn!(
                "{}: buffer pool dropped with {dirty} dirty pages not written; call close() or sync() first",
                self.storage.path().display()
            );
        }
    }
}
