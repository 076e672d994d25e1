//! [`Page`]: one 4 KiB page in memory, with its id, pin count and dirty state.

use std::{ptr::NonNull, sync::Arc};

use jdb_alloc::{AlignedBuf, PAGE_SIZE};
use jdb_layout::{DataPage, PAGE_HEADER_SIZE, PageHeader, PageId, PageType};

use crate::{
    Error, Result,
    lru::{FrameId, LruLinks, NIL},
};

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
/// Pages in a [`BufferPool`](crate::BufferPool) live in the pool's arena; [`Page::new`] and
/// [`Page::from_buf`] make standalone pages that own their memory. Either way a `Page` keeps its
/// memory alive, so even a page swapped out of the pool with `std::mem::swap` stays valid.
///
/// The header (id, type, LSN, checksum) belongs to the pool: [`Page::data`] and
/// [`Page::data_mut`] give the payload after it, [`Page::rows`] / [`Page::rows_mut`] view the
/// payload as a slotted [`DataPage`]. Every mutable access marks the page dirty.
///
/// Replacing a pool's page with another `Page` (`std::mem::swap` through the `&mut Page` the pool
/// hands out) is a logic error: memory stays safe, but the pool's bookkeeping for that frame is
/// then unspecified.
pub struct Page {
    /// Start of the 4096 bytes.
    ptr: NonNull<u8>,
    /// `Some(arena)` when the bytes are a frame of that arena; `None` when this page owns a
    /// 4096-byte `AlignedBuf` allocation (freed on drop).
    arena: Option<Arc<AlignedBuf>>,
    id: PageId,
    /// Bit 31: dirty; bits 0..31: pin count.
    pins_dirty: u32,
    /// LRU links of this frame (the pool's `LruOrder` keeps them here, next to the page's other
    /// fields, so a hit touches one record).
    pub(crate) lru_prev: FrameId,
    pub(crate) lru_next: FrameId,
}

/// Bit of `pins_dirty` that says the page is dirty.
const DIRTY: u32 = 1 << 31;
/// Largest pin count.
const MAX_PINS: u32 = DIRTY - 1;

const _: () = assert!(
    std::mem::size_of::<Page>() == 32,
    "a page record is half a cache line"
);

// SAFETY: a `Page` has exclusive use of its 4096 bytes (its own allocation, or one arena frame that
// no other `Page` points to); the arena handle is an `Arc` of a `Send + Sync` buffer.
unsafe impl Send for Page {}
// SAFETY: `&Page` only reads the bytes; writes need `&mut Page`.
unsafe impl Sync for Page {}

impl Page {
    /// A standalone empty data page `id` (header written, empty slot directory), clean.
    ///
    /// Like `Vec`, aborts only if the allocator has no memory for 4 KiB.
    pub fn new(id: PageId) -> Self {
        let buf = AlignedBuf::page().unwrap_or_else(|_| {
            std::alloc::handle_alloc_error(std::alloc::Layout::new::<[u8; PAGE_SIZE]>())
        });
        let mut page = Self::from_buf(id, buf);
        page.format(id);
        page.set_clean();
        page
    }

    /// A standalone page `id` holding the bytes of `buf` (e.g. read from disk), clean. A buffer
    /// of exactly one page is taken over without copying; any other is copied (cut or
    /// zero-padded to 4096 bytes). The header's page id is set to `id`.
    pub fn from_buf(id: PageId, buf: AlignedBuf) -> Self {
        let mut buf = if buf.cap() == PAGE_SIZE {
            buf
        } else {
            let mut page = AlignedBuf::with_cap(PAGE_SIZE).unwrap_or_else(|_| {
                std::alloc::handle_alloc_error(std::alloc::Layout::new::<[u8; PAGE_SIZE]>())
            });
            // Cannot overflow: at most PAGE_SIZE bytes into a one-page buffer.
            let _ = page.extend(&buf[..buf.len().min(PAGE_SIZE)]);
            page
        };
        let tail = PAGE_SIZE - buf.len();
        // Cannot overflow: `len + tail == PAGE_SIZE == cap`.
        let _ = buf.extend(&[0u8; PAGE_SIZE][..tail]);
        let (ptr, _, _) = buf.into_raw_parts();
        let mut page = Self::with_ptr(ptr, None);
        page.id = id;
        page.stamp_id();
        page
    }

    /// A page over frame `ptr` of `arena` (pool use).
    ///
    /// `ptr` must point to 4096 bytes inside `arena`, initialised, used by no other `Page`.
    pub(crate) fn in_arena(arena: Arc<AlignedBuf>, ptr: NonNull<u8>) -> Self {
        debug_assert!({
            let start = arena.as_ptr() as usize;
            let p = ptr.as_ptr() as usize;
            p >= start && p + PAGE_SIZE <= start + arena.len()
        });
        Self::with_ptr(ptr, Some(arena))
    }

    fn with_ptr(ptr: NonNull<u8>, arena: Option<Arc<AlignedBuf>>) -> Self {
        Self {
            ptr,
            arena,
            id: 0,
            pins_dirty: 0,
            lru_prev: NIL,
            lru_next: NIL,
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

    /// Marks the page changed: it will be written before it leaves memory.
    pub fn mark_dirty(&mut self) {
        self.pins_dirty |= DIRTY;
    }

    /// Whether the page has changes not yet written.
    #[inline]
    pub fn is_dirty(&self) -> bool {
        self.pins_dirty & DIRTY != 0
    }

    /// Clean or dirty.
    pub fn state(&self) -> PageState {
        if self.is_dirty() {
            PageState::Dirty
        } else {
            PageState::Clean
        }
    }

    /// Pins the page: the pool will not evict it until it is unpinned as often as pinned.
    /// (The count saturates at 2^31 - 1.)
    pub fn pin(&mut self) {
        if self.pin_count() < MAX_PINS {
            self.pins_dirty += 1;
        }
    }

    /// Undoes one [`Page::pin`]. Unpinning an unpinned page does nothing.
    pub fn unpin(&mut self) {
        debug_assert!(self.is_pinned(), "unpin of unpinned page {}", self.id);
        if self.is_pinned() {
            self.pins_dirty -= 1;
        }
    }

    /// Whether the page is pinned.
    #[inline]
    pub fn is_pinned(&self) -> bool {
        self.pin_count() > 0
    }

    /// How many times the page is pinned.
    #[inline]
    pub fn pin_count(&self) -> u32 {
        self.pins_dirty & MAX_PINS
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

    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` points to 4096 initialised bytes kept alive by `self` (own allocation or
        // an `Arc` of the arena) and used by no other `Page`; `&self` excludes writers.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), PAGE_SIZE) }
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), PAGE_SIZE) }
    }

    /// Turns this frame into page `id` holding `bytes` (verified), clean and unpinned.
    pub(crate) fn install(&mut self, id: PageId, bytes: &[u8]) {
        self.bytes_mut().copy_from_slice(bytes);
        self.id = id;
        self.pins_dirty = 0;
    }

    /// Turns this frame into a new, empty data page `id`: zeroed, header written, dirty.
    pub(crate) fn format(&mut self, id: PageId) {
        self.bytes_mut().fill(0);
        self.id = id;
        self.pins_dirty = 0;
        // A 4096-byte buffer and a `Data` type: neither can fail.
        let _ = PageHeader::new(id, PageType::Data).encode(self.bytes_mut());
        let _ = DataPage::init(self.bytes_mut());
        self.mark_dirty();
    }

    /// Stamps the page id and the checksum into the header, ready to be written.
    pub(crate) fn seal(&mut self) {
        self.stamp_id();
        // The buffer is exactly one page: sealing cannot fail.
        let _ = jdb_layout::seal(self.bytes_mut());
    }

    /// Writes this page's id into the header's page-id field (bytes 4..8, docs/format.md).
    fn stamp_id(&mut self) {
        let id = self.id;
        self.bytes_mut()[4..8].copy_from_slice(&id.to_le_bytes());
    }

    pub(crate) fn set_clean(&mut self) {
        self.pins_dirty &= !DIRTY;
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        if self.arena.is_none() {
            // SAFETY: a page without an arena owns a one-page `AlignedBuf` allocation, taken
            // apart with `into_raw_parts` in `from_buf` and rebuilt exactly once, here.
            drop(unsafe { AlignedBuf::from_raw_parts(self.ptr, PAGE_SIZE, PAGE_SIZE) });
        }
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

/// The pool's page records are the links of its LRU list.
impl LruLinks for [Page] {
    #[inline]
    fn prev(&self, frame: FrameId) -> FrameId {
        self[frame as usize].lru_prev
    }
    #[inline]
    fn next(&self, frame: FrameId) -> FrameId {
        self[frame as usize].lru_next
    }
    #[inline]
    fn set_prev(&mut self, frame: FrameId, prev: FrameId) {
        self[frame as usize].lru_prev = prev;
    }
    #[inline]
    fn set_next(&mut self, frame: FrameId, next: FrameId) {
        self[frame as usize].lru_next = next;
    }
}
