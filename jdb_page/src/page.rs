//! [`Page`]: one 4 KiB page in memory, with its id, pin count and dirty state, and the [`Arena`]
//! its bytes and flags live in.

use std::{
    ptr::NonNull,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

use jdb_alloc::{AlignedBuf, MappedRegion, PAGE_SIZE};
use jdb_layout::{DataPage, PAGE_HEADER_SIZE, PageHeader, PageId, PageType};

use crate::{Error, FrameId, Result};

/// Whether a page's bytes differ from what is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageState {
    /// Same as on disk (or never changed since it was written).
    Clean,
    /// Changed in memory; must be written before it is dropped.
    Dirty,
}

/// One page in memory: 4096 bytes (a 32-byte header the pool owns, then the payload), the page id,
/// a pin count and the dirty state.
///
/// Pages of a [`BufferPool`](crate::BufferPool) are reached through its guards
/// ([`PageMut`](crate::PageMut), [`PageRef`](crate::PageRef)); [`Page::new`] and
/// [`Page::from_buf`] make standalone pages. Either way a `Page` keeps its memory alive, so even a
/// page swapped out of the pool with `std::mem::swap` stays valid.
///
/// The header (id, type, LSN, checksum) belongs to the pool: [`Page::data`] and
/// [`Page::data_mut`] give the payload after it, [`Page::rows`] / [`Page::rows_mut`] view the
/// payload as a slotted [`DataPage`]. Every mutable access marks the page dirty.
///
/// Replacing a pool's page with another `Page` (`std::mem::swap` through a `PageMut`) is a logic
/// error: memory stays safe, but the pool's bookkeeping for that frame is then unspecified.
pub struct Page {
    /// The memory: frame `frame` of `arena`.
    arena: Arc<Arena>,
    frame: FrameId,
    id: PageId,
}

const _: () = assert!(
    std::mem::size_of::<Page>() == 16,
    "a page record is a quarter of a cache line"
);

/// Frames of 4096 bytes, each with one [`FrameFlags`] word. A pool's frames are one arena; a
/// standalone page is an arena of one frame.
///
/// The flags live beside the pages rather than in them so that the pool can see and update a
/// page's dirty state and pins while a guard holds the page (`&mut Page` covers only the record).
///
/// A pool's arena is one zeroed [`MappedRegion`], frame `f` at byte `f × STRIDE`. The region is
/// 2 MiB-aligned and in transparent huge pages when the pool's options ask, it is 2 MiB or more,
/// and the kernel allows; a hit then needs no TLB entry of its own:
///
/// ```text
/// byte  f×4104 .. f×4104+8     frame f's FrameFlags (8 bytes)
///       f×4104+8 .. (f+1)×4104 frame f's page (4096 bytes; its header first)
/// ```
///
/// Two reasons for the 8 bytes between pages. The flags share a cache line with the page's
/// header, so a write (which marks the page dirty) and the header it usually touches are one
/// line, not two. And the pages are not 4096 bytes apart: with frames at a multiple of 4 KiB, the
/// same offset of every page (a header field, a slot directory) falls into the same few cache
/// sets (one L1 set, 16 L2 sets on the machine of BENCHMARKS.md), so a hit on a random page of a
/// few thousand misses the L2 where a hash map's boxes would not; 8 bytes a frame spread them
/// over every set (`hit_path`, session 8). The pages need no 4 KiB alignment: reads and writes go
/// through staging buffers.
///
/// A standalone page ([`Arena::standalone`]) is the caller's 4096-byte buffer taken over as it is,
/// its flags in a box of their own.
pub(crate) struct Arena {
    /// Frame 0's page; frame `f`'s is [`frame_ptr`]`(base, f)`.
    base: NonNull<u8>,
    /// Frame 0's flags; frame `f`'s are `STRIDE × f` bytes further (a standalone arena has only
    /// frame 0).
    flags: NonNull<FrameFlags>,
    frames: usize,
    /// The memory `base` and `flags` point into, freed on drop.
    memory: Memory,
}

/// What an [`Arena`]'s pointers point into.
enum Memory {
    /// A pool's frames, flags and pages together.
    Mapped(#[expect(dead_code, reason = "held only to be unmapped on drop")] MappedRegion),
    /// A standalone page: the allocation of the caller's buffer (`AlignedBuf::into_raw_parts`,
    /// one page) and the flags' `Box` (leaked), both freed on drop.
    Standalone {
        page: NonNull<u8>,
        flags: NonNull<FrameFlags>,
    },
}

/// Bytes of a frame's flags, just before its page.
const FLAGS_BYTES: usize = std::mem::size_of::<FrameFlags>();

/// Bytes from one frame to the next (a constant, so that a page's address is a multiply-add).
const STRIDE: usize = FLAGS_BYTES + PAGE_SIZE;

const _: () = assert!(
    FLAGS_BYTES == 8 && STRIDE.is_multiple_of(std::mem::align_of::<FrameFlags>()),
    "each frame's flags are aligned (the region is 4 KiB-aligned)"
);

/// The address of frame `frame`'s page in an arena whose frame 0's page is at `base` (in bounds
/// when `frame` is a frame of that arena: see [`Arena`]).
#[inline(always)]
pub(crate) fn frame_ptr(base: NonNull<u8>, frame: FrameId) -> *mut u8 {
    base.as_ptr().wrapping_add(frame as usize * STRIDE)
}

// SAFETY: the arena's page bytes are reached only through `Page`s, one per frame (see
// `Page::bytes`), which follow the borrow rules; the flags are atomics. Nothing in `Arena` is tied
// to a thread.
unsafe impl Send for Arena {}
// SAFETY: as above: `&Arena` gives no access to the bytes by itself, and the flags are atomics.
unsafe impl Sync for Arena {}

impl Arena {
    /// An arena of `frames` zeroed frames, laid out as the type's docs say, in huge pages if
    /// `huge_pages` (see [`MappedRegion`]).
    pub(crate) fn new(frames: usize, huge_pages: bool) -> Result<Self> {
        let bytes = frames
            .checked_mul(STRIDE)
            .and_then(|b| b.checked_next_multiple_of(PAGE_SIZE))
            .filter(|_| frames > 0)
            .ok_or(Error::InvalidCapacity {
                cap: frames,
                max: crate::MAX_CAP,
            })?;
        let region = MappedRegion::zeroed(bytes, huge_pages)?;
        debug_assert!(region.len() >= bytes);
        let start = region.as_ptr();
        // SAFETY: `FLAGS_BYTES < frames × STRIDE <= len`: inside the region.
        let base = unsafe { start.add(FLAGS_BYTES) };
        Ok(Self {
            base,
            // Frame 0's flags are the region's first 8 bytes, zeroed (a valid `AtomicU64`) and
            // aligned (the region is 4 KiB-aligned, `STRIDE` a multiple of 8).
            flags: start.cast(),
            frames,
            memory: Memory::Mapped(region),
        })
    }

    /// Takes over `buf` (exactly one page, initialised) as an arena of one frame, its flags in a
    /// box (clean, unpinned).
    fn standalone(buf: AlignedBuf) -> Self {
        debug_assert!(buf.len() == PAGE_SIZE && buf.cap() == PAGE_SIZE);
        let (page, _, _) = buf.into_raw_parts();
        let flags = NonNull::from(Box::leak(Box::new(FrameFlags::default())));
        Self {
            base: page,
            flags,
            frames: 1,
            memory: Memory::Standalone { page, flags },
        }
    }

    /// The flags of `frame` (panics when `frame` is not a frame of the arena).
    #[inline]
    pub(crate) fn flags(&self, frame: FrameId) -> &FrameFlags {
        assert!(
            (frame as usize) < self.frames,
            "frame {frame} of an arena of {}",
            self.frames
        );
        // SAFETY: just checked.
        unsafe { self.flags_unchecked(frame) }
    }

    /// The flags of `frame`, with no bounds check.
    ///
    /// # Safety
    /// `frame` is a frame of the arena (`< frames`).
    #[inline(always)]
    pub(crate) unsafe fn flags_unchecked(&self, frame: FrameId) -> &FrameFlags {
        debug_assert!((frame as usize) < self.frames);
        // SAFETY: `frame < frames` (the caller's contract): in a pool's arena these are frame
        // `frame`'s 8 flag bytes, inside the region, aligned, initialised (zeroed, then only
        // ever written through this atomic), and no page slice covers them (a page's 4096 bytes
        // start right after its flags and end where the next frame's begin); in a standalone
        // arena `frame == 0`, the boxed flags. Both live as long as `self`.
        unsafe { &*self.flags.as_ptr().byte_add(frame as usize * STRIDE) }
    }

    /// Frame 0's page; frame `f`'s is [`frame_ptr`]`(base, f)`.
    #[inline]
    pub(crate) fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// Bytes of bookkeeping (the flags, 8 a frame, inside the arena's region or boxed; the
    /// pages themselves are not counted).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.frames * FLAGS_BYTES
    }

    /// One `Page` per frame, each with id 0: the only records that will ever point into this
    /// arena (see `Page::bytes`).
    pub(crate) fn into_pages(self: &Arc<Self>) -> Vec<Page> {
        (0..self.frames as FrameId)
            .map(|frame| Page {
                arena: Arc::clone(self),
                frame,
                id: 0,
            })
            .collect()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // A `Mapped` region unmaps itself when `memory` drops.
        if let Memory::Standalone { page, flags } = self.memory {
            // SAFETY: `page` came from `AlignedBuf::into_raw_parts` of a buffer of exactly one
            // page, length and capacity (`standalone`), and is rebuilt and freed once, here.
            drop(unsafe { AlignedBuf::from_raw_parts(page, PAGE_SIZE, PAGE_SIZE) });
            // SAFETY: `flags` came from `Box::leak` in `standalone` and is freed once, here;
            // nothing borrows `self` any more.
            drop(unsafe { Box::from_raw(flags.as_ptr()) });
        }
    }
}

/// A frame's dirty state, change counter and pin count, in one word:
/// bits 0..32 pin count, bit 32 dirty, bits 33..64 a change generation bumped by every change.
///
/// Relaxed atomics: every access is from the pool's thread (or, after a `std::mem::swap`, from a
/// thread the page was sent to), and no other memory is ordered by them. On x86 and ARM a relaxed
/// load or store is a plain move.
#[derive(Default)]
pub(crate) struct FrameFlags(AtomicU64);

const PINS: u64 = u32::MAX as u64;
const DIRTY: u64 = 1 << 32;
const GEN_ONE: u64 = 1 << 33;

impl FrameFlags {
    /// The word, to compare generations with [`FrameFlags::clean_if_unchanged`].
    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    #[inline]
    fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }

    #[inline]
    pub(crate) fn is_dirty(&self) -> bool {
        self.get() & DIRTY != 0
    }

    #[inline]
    pub(crate) fn pins(&self) -> u32 {
        (self.get() & PINS) as u32
    }

    /// Dirty, and a new generation.
    #[inline]
    pub(crate) fn mark_dirty(&self) {
        self.set((self.get() | DIRTY).wrapping_add(GEN_ONE));
    }

    /// Clean, if nothing changed since the word was `seen` (a write copied the page then).
    pub(crate) fn clean_if_unchanged(&self, seen: u64) {
        let now = self.get();
        if now >> 33 == seen >> 33 {
            self.set(now & !DIRTY);
        }
    }

    /// Clean and unpinned: a page just read from disk, or a frame about to be reused.
    pub(crate) fn reset(&self) {
        self.set(self.get() & !(DIRTY | PINS));
    }

    fn pin(&self) {
        let v = self.get();
        if v & PINS < PINS {
            self.set(v + 1);
        }
    }

    fn unpin(&self) {
        let v = self.get();
        if v & PINS > 0 {
            self.set(v - 1);
        }
    }
}

impl Page {
    /// A standalone empty data page `id` (header written, empty slot directory), clean.
    ///
    /// Like `Vec`, aborts only if the allocator has no memory for 4 KiB.
    pub fn new(id: PageId) -> Self {
        let mut page = Self::standalone(AlignedBuf::zeroed(PAGE_SIZE));
        page.format(id);
        page.flags().reset();
        page
    }

    /// A standalone page `id` holding the bytes of `buf` (e.g. read from disk), clean. A buffer
    /// of exactly one page is taken over without copying; any other is copied (cut or
    /// zero-padded to 4096 bytes). The header's page id is set to `id`.
    pub fn from_buf(id: PageId, buf: AlignedBuf) -> Self {
        let mut page = if buf.cap() == PAGE_SIZE && buf.len() == PAGE_SIZE {
            Self::standalone(Ok(buf))
        } else {
            let mut page = Self::standalone(AlignedBuf::zeroed(PAGE_SIZE));
            let n = buf.len().min(PAGE_SIZE);
            page.bytes_mut()[..n].copy_from_slice(&buf[..n]);
            page
        };
        page.id = id;
        page.stamp_id();
        page
    }

    fn standalone(buf: jdb_alloc::Result<AlignedBuf>) -> Self {
        let buf = buf.unwrap_or_else(|_| {
            std::alloc::handle_alloc_error(std::alloc::Layout::new::<[u8; PAGE_SIZE]>())
        });
        Self {
            arena: Arc::new(Arena::standalone(buf)),
            frame: 0,
            id: 0,
        }
    }

    /// The page id.
    pub fn id(&self) -> PageId {
        self.id
    }

    /// The decoded header (id, type, LSN, flags, version).
    pub fn header(&self) -> PageHeader {
        // A page in memory always has a well-formed header (the pool and the constructors
        // write one); fall back to a free-page header rather than panic if a user broke it.
        PageHeader::decode(self.bytes()).unwrap_or(PageHeader::new(self.id, PageType::Free))
    }

    /// Sets the page type in the header; marks the page dirty.
    pub fn set_page_type(&mut self, page_type: PageType) -> Result<()> {
        let header = PageHeader {
            page_type,
            ..self.header()
        };
        self.write_header(header)
    }

    /// Sets the LSN in the header; marks the page dirty.
    pub fn set_lsn(&mut self, lsn: u64) -> Result<()> {
        let header = PageHeader {
            lsn,
            ..self.header()
        };
        self.write_header(header)
    }

    fn write_header(&mut self, header: PageHeader) -> Result<()> {
        let id = self.id;
        header
            .encode(self.bytes_mut())
            .map_err(|source| Error::Rows { page: id, source })?;
        self.mark_dirty();
        Ok(())
    }

    #[inline]
    fn flags(&self) -> &FrameFlags {
        self.arena.flags(self.frame)
    }

    /// Marks the page changed: it will be written before it leaves memory.
    #[inline]
    pub fn mark_dirty(&mut self) {
        self.flags().mark_dirty();
    }

    /// Whether the page has changes not yet written.
    #[inline]
    pub fn is_dirty(&self) -> bool {
        self.flags().is_dirty()
    }

    /// Clean or dirty.
    pub fn state(&self) -> PageState {
        if self.is_dirty() {
            PageState::Dirty
        } else {
            PageState::Clean
        }
    }

    /// Pins the page: the pool will not evict it until it is unpinned as often as pinned, even
    /// when no guard holds it. (The count saturates at 2^32 - 1.)
    pub fn pin(&mut self) {
        self.flags().pin();
    }

    /// Undoes one [`Page::pin`]. Unpinning an unpinned page does nothing.
    pub fn unpin(&mut self) {
        debug_assert!(self.is_pinned(), "unpin of unpinned page {}", self.id);
        self.flags().unpin();
    }

    /// Whether the page is pinned.
    #[inline]
    pub fn is_pinned(&self) -> bool {
        self.pin_count() > 0
    }

    /// How many times the page is pinned.
    #[inline]
    pub fn pin_count(&self) -> u32 {
        self.flags().pins()
    }

    /// The payload: bytes 32..4096, after the header.
    pub fn data(&self) -> &[u8] {
        &self.bytes()[PAGE_HEADER_SIZE..]
    }

    /// The payload, writable; marks the page dirty.
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.mark_dirty();
        &mut self.bytes_mut()[PAGE_HEADER_SIZE..]
    }

    /// All 4096 bytes, header included (as they will be written, before sealing).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes()
    }

    /// The page as a slotted data page, read-only.
    ///
    /// # Errors
    /// [`Error::Rows`] when the payload is not a valid data page.
    pub fn rows(&self) -> Result<DataPage<&[u8]>> {
        DataPage::open(self.bytes()).map_err(|source| Error::Rows {
            page: self.id,
            source,
        })
    }

    /// The page as a slotted data page, writable; marks the page dirty.
    ///
    /// # Errors
    /// [`Error::Rows`] when the payload is not a valid data page (format it with
    /// [`Page::init_rows`]).
    pub fn rows_mut(&mut self) -> Result<DataPage<&mut [u8]>> {
        let id = self.id;
        self.mark_dirty();
        DataPage::open(self.bytes_mut()).map_err(|source| Error::Rows { page: id, source })
    }

    /// Formats the payload as an empty slotted data page (type `Data`); marks the page dirty.
    pub fn init_rows(&mut self) -> Result<DataPage<&mut [u8]>> {
        let id = self.id;
        self.mark_dirty();
        DataPage::init(self.bytes_mut()).map_err(|source| Error::Rows { page: id, source })
    }

    fn ptr(&self) -> *mut u8 {
        debug_assert!((self.frame as usize) < self.arena.frames);
        // In bounds: `frame < arena.frames` (see `frame_ptr`).
        frame_ptr(self.arena.base, self.frame)
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` points to the 4096 initialised bytes of frame `frame` of `arena`, which
        // `self.arena` keeps alive. Exactly one `Page` record exists per frame (`Arena::into_pages`
        // and `Page::standalone` make one each; `Page` is not `Clone`), so every access to these
        // bytes goes through this record, and `&self` excludes writers.
        unsafe { std::slice::from_raw_parts(self.ptr(), PAGE_SIZE) }
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr(), PAGE_SIZE) }
    }

    /// Turns this frame into page `id` holding `bytes` (verified), clean and unpinned.
    pub(crate) fn install(&mut self, id: PageId, bytes: &[u8]) {
        self.bytes_mut().copy_from_slice(bytes);
        self.id = id;
        self.flags().reset();
    }

    /// Turns this frame into a new, empty data page `id`: zeroed, header written, dirty and
    /// unpinned.
    pub(crate) fn format(&mut self, id: PageId) {
        self.bytes_mut().fill(0);
        self.id = id;
        self.flags().reset();
        // A 4096-byte buffer and a `Data` type: neither can fail.
        let _ = PageHeader::new(id, PageType::Data).encode(self.bytes_mut());
        let _ = DataPage::init(self.bytes_mut());
        self.mark_dirty();
    }

    /// Appends this page to `buf` as it will be written: its page id stamped into the header and
    /// sealed with its checksum (the copy, not the page in memory, is sealed).
    pub(crate) fn copy_sealed_into(&self, buf: &mut AlignedBuf) -> Result<()> {
        let start = buf.len();
        buf.extend(self.bytes())?;
        let copy = &mut buf[start..start + PAGE_SIZE];
        copy[4..8].copy_from_slice(&self.id.to_le_bytes());
        // One whole page: sealing cannot fail.
        let _ = jdb_layout::seal(copy);
        Ok(())
    }

    /// Writes this page's id into the header's page-id field (bytes 4..8, docs/format.md).
    fn stamp_id(&mut self) {
        let id = self.id;
        self.bytes_mut()[4..8].copy_from_slice(&id.to_le_bytes());
    }
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("id", &self.id)
            .field("state", &self.state())
            .field("pin_count", &self.pin_count())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool's arena: frames `STRIDE` apart, each page just after its flags, zeroed; one of
    /// 2 MiB or more starts on a huge-page boundary (so that the kernel can back it with 2 MiB
    /// pages); pages do not overlap their neighbours' flags.
    #[test]
    fn arena_layout_is_the_byte_map() {
        for frames in [1, 3, 1024] {
            let arena = Arc::new(Arena::new(frames, frames != 3).unwrap());
            let base = arena.base().as_ptr() as usize;
            let start = base - FLAGS_BYTES;
            if frames != 3 && frames * STRIDE >= jdb_alloc::HUGE_PAGE_SIZE {
                assert_eq!(start % jdb_alloc::HUGE_PAGE_SIZE, 0, "{frames} frames");
            }
            let mut pages = arena.into_pages();
            assert_eq!(pages.len(), frames);
            for (f, page) in pages.iter_mut().enumerate() {
                let flags = arena.flags(f as FrameId) as *const FrameFlags as usize;
                assert_eq!(flags, start + f * STRIDE);
                assert_eq!(page.bytes().as_ptr() as usize, flags + FLAGS_BYTES);
                assert!(page.bytes().iter().all(|&b| b == 0));
                page.bytes_mut().fill(0xff);
            }
            // Every page filled with 0xff left every frame's flags clean and unpinned.
            for f in 0..frames as FrameId {
                assert!(!arena.flags(f).is_dirty() && arena.flags(f).pins() == 0);
            }
        }
    }

    #[test]
    fn flags_track_dirty_generations_and_pins() {
        let f = FrameFlags::default();
        assert!(!f.is_dirty() && f.pins() == 0);
        f.mark_dirty();
        let seen = f.get();
        f.pin();
        f.pin();
        assert_eq!(f.pins(), 2);
        f.clean_if_unchanged(seen);
        assert!(!f.is_dirty(), "a pin is not a change");
        f.mark_dirty();
        let seen = f.get();
        f.mark_dirty();
        f.clean_if_unchanged(seen);
        assert!(f.is_dirty(), "changed after the copy: stays dirty");
        f.unpin();
        f.unpin();
        f.unpin();
        assert_eq!(f.pins(), 0);
        f.reset();
        assert!(!f.is_dirty());
    }

    #[test]
    fn standalone_pages_format_copy_and_seal() {
        let mut page = Page::new(7);
        assert_eq!((page.id(), page.state()), (7, PageState::Clean));
        page.rows_mut().unwrap().insert(b"row").unwrap();
        assert!(page.is_dirty());
        let mut buf = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
        page.copy_sealed_into(&mut buf).unwrap();
        jdb_layout::verify(&buf, 7).unwrap();

        let copy = Page::from_buf(9, buf);
        assert_eq!(copy.id(), 9);
        assert_eq!(copy.rows().unwrap().get(0).unwrap(), b"row");
        assert_eq!(copy.header().page_id, 9);
        let short = Page::from_buf(3, AlignedBuf::with_cap(100).unwrap());
        assert!(short.data().iter().all(|&b| b == 0));
    }
}
