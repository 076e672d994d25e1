//! [`Page`]: one 4 KiB page in memory, with its id, pin count and dirty state.

use std::{ptr::NonNull, sync::Arc};

use jdb_alloc::{AlignedBuf, PAGE_SIZE};
use jdb_layout::{DataPage, PAGE_HEADER_SIZE, PageHeader, PageId, PageType};

use crate::{Error, Result};

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
pub struct Page {
    /// Start of the 4096 bytes.
    ptr: NonNull<u8>,
    /// `Some(arena)` when the bytes are a frame of that arena; `None` when this page owns a
    /// 4096-byte `AlignedBuf` allocation (freed on drop).
    arena: Option<Arc<AlignedBuf>>,
    id: PageId,
    pin_count: u32,
    state: PageState,
}

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
        page.state = PageState::Clean;
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
        let mut page = Self {
            ptr,
            arena: None,
            id,
            pin_count: 0,
            state: PageState::Clean,
        };
        page.bytes_mut()[4..8].copy_from_slice(&id.to_le_bytes());
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
        Self {
            ptr,
            arena: Some(arena),
            id: 0,
            pin_count: 0,
            state: PageState::Clean,
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
        self.state = PageState::Dirty;
    }

    /// Whether the page has changes not yet written.
    pub fn is_dirty(&self) -> bool {
        self.state == PageState::Dirty
    }

    /// Clean or dirty.
    pub fn state(&self) -> PageState {
        self.state
    }

    /// Pins the page: the pool will not evict it until it is unpinned as often as pinned.
    pub fn pin(&mut self) {
        self.pin_count = self.pin_count.saturating_add(1);
    }

    /// Undoes one [`Page::pin`]. Unpinning an unpinned page does nothing.
    pub fn unpin(&mut self) {
        debug_assert!(self.pin_count > 0, "unpin of unpinned page {}", self.id);
        self.pin_count = self.pin_count.saturating_sub(1);
    }

    /// Whether the page is pinned.
    pub fn is_pinned(&self) -> bool {
        self.pin_count > 0
    }

    /// How many times the page is pinned.
    pub fn pin_count(&self) -> u32 {
        self.pin_count
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
        self.pin_count = 0;
        self.state = PageState::Clean;
    }

    /// Turns this frame into a new, empty data page `id`: zeroed, header written, dirty.
    pub(crate) fn format(&mut self, id: PageId) {
        self.bytes_mut().fill(0);
        self.id = id;
        self.pin_count = 0;
        // A 4096-byte buffer and a `Data` type: neither can fail.
        let _ = PageHeader::new(id, PageType::Data).encode(self.bytes_mut());
        let _ = DataPage::init(self.bytes_mut());
        self.state = PageState::Dirty;
    }

    /// Stamps the page id and the checksum into the header, ready to be written.
    pub(crate) fn seal(&mut self) {
        let id = self.id;
        let bytes = self.bytes_mut();
        bytes[4..8].copy_from_slice(&id.to_le_bytes());
        // The buffer is exactly one page: sealing cannot fail.
        let _ = jdb_layout::seal(bytes);
    }

    pub(crate) fn set_clean(&mut self) {
        self.state = PageState::Clean;
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
            .field("state", &self.state)
            .field("pin_count", &self.pin_count)
            .finish()
    }
}
