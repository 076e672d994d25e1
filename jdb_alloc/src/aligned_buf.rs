//! [`AlignedBuf`]: an owned, 4 KiB-aligned byte buffer.

use std::{
    alloc::{self, Layout},
    fmt,
    ops::{Deref, DerefMut},
    ptr::NonNull,
};

use compio_buf::{IoBuf, IoBufMut, SetBufInit};

use crate::{ALIGNMENT, Error, PAGE_SIZE, RawIoBuf, Result};

/// An owned byte buffer whose address and capacity are multiples of [`ALIGNMENT`] (4096), as
/// Direct I/O (`O_DIRECT`) requires.
///
/// Like a `Vec<u8>` of fixed capacity: `len` bytes are initialised and visible through `Deref`,
/// `cap` bytes are allocated. Capacity is always a whole number of pages, at least one page.
/// The memory is freed on drop.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
    cap: usize,
}

// SAFETY: `AlignedBuf` owns its allocation exclusively (like `Vec<u8>`); nothing in it is tied to
// a thread.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only reads through `&self`; mutation needs `&mut self`.
unsafe impl Sync for AlignedBuf {}

/// The layout of a buffer of (at least) `cap` bytes: rounded up to whole pages, at least one.
fn layout_for(cap: usize) -> Result<Layout> {
    // `usize::MAX` is not a valid size, so an overflowing round-up becomes a layout error below.
    let rounded = cap
        .max(1)
        .checked_next_multiple_of(PAGE_SIZE)
        .unwrap_or(usize::MAX);
    Ok(Layout::from_size_align(rounded, ALIGNMENT)?)
}

impl AlignedBuf {
    /// Allocates `layout` (zeroed or not) and returns a buffer of length `len`.
    ///
    /// `len` bytes must be initialised by the allocation, i.e. `len == 0` unless `zeroed`.
    fn alloc(layout: Layout, zeroed: bool, len: usize) -> Result<Self> {
        debug_assert!(len == 0 || zeroed);
        debug_assert!(layout.size() > 0 && len <= layout.size());
        // SAFETY: `layout` has a non-zero size (at least one page, see `layout_for`).
        let raw = unsafe {
            if zeroed {
                alloc::alloc_zeroed(layout)
            } else {
                alloc::alloc(layout)
            }
        };
        let ptr = NonNull::new(raw).ok_or(Error::AllocFailed)?;
        Ok(Self {
            ptr,
            len,
            cap: layout.size(),
        })
    }

    /// An empty buffer (`len == 0`) with room for `cap` bytes, rounded up to whole pages (at least
    /// one: `with_cap(0)` has capacity 4096). The memory is not initialised.
    ///
    /// # Errors
    /// [`Error::InvalidLayout`] when the rounded size exceeds `isize::MAX` (e.g. `usize::MAX`),
    /// [`Error::AllocFailed`] when the allocator has no memory for it.
    pub fn with_cap(cap: usize) -> Result<Self> {
        Self::alloc(layout_for(cap)?, false, 0)
    }

    /// A buffer of `size` zero bytes (`len == size`), capacity rounded up to whole pages.
    ///
    /// Uses the allocator's zeroed path, so a large buffer is zero-filled lazily by the OS.
    ///
    /// # Errors
    /// As [`AlignedBuf::with_cap`].
    pub fn zeroed(size: usize) -> Result<Self> {
        Self::alloc(layout_for(size)?, true, size)
    }

    /// One zeroed page: `len == cap == 4096`.
    ///
    /// # Errors
    /// [`Error::AllocFailed`] when out of memory.
    pub fn page() -> Result<Self> {
        Self::zeroed(PAGE_SIZE)
    }

    /// A [`RawIoBuf`] over this buffer: same pointer, length and capacity.
    ///
    /// # Safety
    /// The returned view (and every copy of it) must not be used after `self` is dropped, moved
    /// out of with [`AlignedBuf::into_raw_parts`] or reallocated, and must not be used to create
    /// a reference that aliases a live reference obtained from `self`.
    pub unsafe fn as_raw(&mut self) -> RawIoBuf {
        // SAFETY: `ptr` is valid for `cap` bytes of which `len` are initialised; the caller
        // upholds the lifetime and aliasing contract above.
        unsafe { RawIoBuf::new(self.ptr.as_ptr(), self.cap).with_len(self.len) }
    }

    /// Like [`AlignedBuf::as_raw`], from a shared reference.
    ///
    /// # Safety
    /// As [`AlignedBuf::as_raw`]; in addition, because `self` is only borrowed shared, the view
    /// must not be written through while any other reference to `self` is in use.
    pub unsafe fn as_raw_view(&self) -> RawIoBuf {
        // SAFETY: as in `as_raw`; the write restriction is the caller's.
        unsafe { RawIoBuf::new(self.ptr.as_ptr(), self.cap).with_len(self.len) }
    }

    /// Cuts the whole capacity into `cap / chunk` consecutive frames of `chunk` bytes (the arena
    /// pattern of a buffer pool). Frame `i` starts at `as_ptr() + i * chunk` and has capacity
    /// `chunk`; its length is the part of it inside this buffer's initialised `len` (so frames of
    /// a [`AlignedBuf::zeroed`] arena are full). When `chunk` is a multiple of [`ALIGNMENT`], every
    /// frame is aligned. `chunk == 0` yields nothing; a tail shorter than `chunk` is not yielded.
    ///
    /// # Safety
    /// As [`AlignedBuf::as_raw_view`] for every frame. Bytes past this buffer's `len` are not
    /// initialised: the caller must write them before reading them through a frame (e.g. after
    /// `with_len` or `set_len` on it).
    pub unsafe fn slice_into_raws(&self, chunk: usize) -> impl Iterator<Item = RawIoBuf> + '_ {
        let frames = self.cap.checked_div(chunk).unwrap_or(0);
        (0..frames).map(move |i| {
            let offset = i * chunk;
            let init = self.len.saturating_sub(offset).min(chunk);
            // SAFETY: `offset + chunk <= cap`, so the frame lies inside the allocation; the
            // first `init` bytes are inside the initialised prefix. Lifetime and aliasing are
            // the caller's contract.
            unsafe { RawIoBuf::new(self.ptr.as_ptr().add(offset), chunk).with_len(init) }
        })
    }

    /// Gives up ownership: returns `(ptr, len, cap)` without freeing. Rebuild the buffer with
    /// [`AlignedBuf::from_raw_parts`] to free it; otherwise the memory leaks.
    pub fn into_raw_parts(self) -> (NonNull<u8>, usize, usize) {
        let this = std::mem::ManuallyDrop::new(self);
        (this.ptr, this.len, this.cap)
    }

    /// Rebuilds a buffer from the parts returned by [`AlignedBuf::into_raw_parts`].
    ///
    /// # Safety
    /// `ptr`, `len` and `cap` must come from one call of `into_raw_parts` (or describe an
    /// allocation made by the global allocator with size `cap` and alignment [`ALIGNMENT`], whose
    /// first `len` bytes are initialised, `len <= cap`), and the parts must be used only once:
    /// the returned buffer frees the memory on drop.
    pub unsafe fn from_raw_parts(ptr: NonNull<u8>, len: usize, cap: usize) -> Self {
        debug_assert!(len <= cap && cap.is_multiple_of(PAGE_SIZE));
        debug_assert!((ptr.as_ptr() as usize).is_multiple_of(ALIGNMENT));
        Self { ptr, len, cap }
    }

    /// Number of initialised bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Allocated bytes (a multiple of 4096, at least 4096).
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Whether `len == 0`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Start of the buffer (aligned to 4096).
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// Start of the buffer (aligned to 4096), writable.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Sets `len` to 0; capacity and memory stay.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Shortens to `len` bytes; a `len` at or above the current length does nothing.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Sets the length without initialising anything.
    ///
    /// # Safety
    /// `len <= cap()`, and the first `len` bytes must be initialised (written, or from a zeroed
    /// allocation).
    pub unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.cap);
        self.len = len;
    }

    /// Appends `data`.
    ///
    /// # Errors
    /// [`Error::Overflow`]`(needed, cap)` when `len + data.len()` exceeds the capacity; the buffer
    /// is left unchanged.
    pub fn extend(&mut self, data: &[u8]) -> Result<()> {
        let needed = self.len.saturating_add(data.len());
        if needed > self.cap {
            return Err(Error::Overflow(needed, self.cap));
        }
        // SAFETY: `len + data.len() <= cap`, so the destination is inside the allocation, and a
        // `&[u8]` cannot overlap memory this `&mut self` owns exclusively.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.ptr.as_ptr().add(self.len),
                data.len(),
            );
        }
        self.len = needed;
        Ok(())
    }

    /// A new aligned buffer with a copy of the `len` initialised bytes (capacity: `len` rounded
    /// up to whole pages).
    ///
    /// # Errors
    /// [`Error::AllocFailed`] when out of memory.
    pub fn try_clone(&self) -> Result<Self> {
        let mut copy = Self::with_cap(self.len)?;
        copy.extend(self)?;
        Ok(copy)
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // `cap` was a valid page-multiple size when allocated, so the layout is rebuilt exactly.
        if let Ok(layout) = Layout::from_size_align(self.cap, ALIGNMENT) {
            // SAFETY: `ptr` was allocated by the global allocator with exactly this layout and is
            // freed only here (ownership is unique; `into_raw_parts` skips this drop).
            unsafe { alloc::dealloc(self.ptr.as_ptr(), layout) };
        }
    }
}

impl Clone for AlignedBuf {
    /// Like [`AlignedBuf::try_clone`]; like `Vec`, aborts only if the allocator fails.
    fn clone(&self) -> Self {
        self.try_clone().unwrap_or_else(|_| {
            let layout = layout_for(self.len).unwrap_or(Layout::new::<u8>());
            alloc::handle_alloc_error(layout)
        })
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("cap", &self.cap)
            .finish()
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the first `len` bytes are initialised and owned by `self` for the borrow.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for AlignedBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

// SAFETY: `as_buf_ptr` points to `buf_capacity()` allocated bytes of which `buf_len()` are
// initialised; the allocation does not move when the `AlignedBuf` value moves (it is on the heap),
// so the pointer stays valid while compio owns the buffer.
unsafe impl IoBuf for AlignedBuf {
    fn as_buf_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    fn buf_len(&self) -> usize {
        self.len
    }

    fn buf_capacity(&self) -> usize {
        self.cap
    }
}

// SAFETY: the mutable pointer is the same heap allocation as `as_buf_ptr`, valid for `cap` bytes.
unsafe impl IoBufMut for AlignedBuf {
    fn as_buf_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl SetBufInit for AlignedBuf {
    unsafe fn set_buf_init(&mut self, len: usize) {
        debug_assert!(len <= self.cap);
        if self.len < len {
            self.len = len;
        }
    }
}
