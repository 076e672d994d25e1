//! [`RawIoBuf`]: a non-owning, `Copy` view of memory someone else owns.

use std::fmt;

use compio_buf::{IoBuf, IoBufMut, SetBufInit};

/// A raw I/O buffer: pointer, length and capacity, without ownership. It is `Copy`, so one frame of
/// an arena can be handed to an asynchronous operation while the arena keeps the memory.
///
/// Every way to create one is `unsafe` (except from another `RawIoBuf`): the creator promises the
/// memory stays valid for every copy's use. Its safe accessors rely on that promise.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RawIoBuf {
    ptr: *mut u8,
    len: usize,
    cap: usize,
}

// SAFETY: a `RawIoBuf` is a plain pointer triple; whoever created it guarantees the memory is
// valid and that concurrent use is synchronised (see `RawIoBuf::new`).
unsafe impl Send for RawIoBuf {}
// SAFETY: as for `Send`; shared access only reads.
unsafe impl Sync for RawIoBuf {}

impl RawIoBuf {
    /// A view of `cap` bytes at `ptr`, with length 0.
    ///
    /// # Safety
    /// For as long as this value or any copy or sub-slice of it is used:
    /// - `ptr` is valid for reads and writes of `cap` bytes and is not freed or moved;
    /// - bytes are only read (through [`RawIoBuf::as_slice`], I/O writes, ...) once initialised:
    ///   the length set by [`RawIoBuf::with_len`] or [`RawIoBuf::set_len`] must cover initialised
    ///   bytes only;
    /// - no slice obtained from one copy is used while another copy writes the same bytes (the
    ///   usual aliasing rules, enforced by the caller instead of the borrow checker).
    pub const unsafe fn new(ptr: *mut u8, cap: usize) -> Self {
        Self { ptr, len: 0, cap }
    }

    /// The same view with length `len`, clamped to the capacity.
    ///
    /// The bytes up to `len` must be initialised (part of [`RawIoBuf::new`]'s contract).
    pub const fn with_len(self, len: usize) -> Self {
        let len = if len > self.cap { self.cap } else { len };
        Self { len, ..self }
    }

    /// A view of a whole slice: `len == cap == slice.len()`.
    ///
    /// # Safety
    /// The view has no lifetime, so the slice's memory must outlive every use of the returned
    /// value and its copies, with [`RawIoBuf::new`]'s aliasing rules. (This is `unsafe` although
    /// the design lists it as safe: a safe version would let safe code read freed memory.)
    pub unsafe fn from_slice(slice: &mut [u8]) -> Self {
        Self {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            cap: slice.len(),
        }
    }

    /// Checks that `offset..offset + len` lies inside the capacity.
    fn check_range(&self, offset: usize, len: usize) {
        let end = offset.checked_add(len);
        assert!(
            end.is_some_and(|end| end <= self.cap),
            "RawIoBuf::slice: {offset}+{len} out of capacity {}",
            self.cap
        );
    }

    /// An empty view (`len == 0`, `cap == len`) of `offset..offset + len`, to read into.
    ///
    /// # Safety
    /// As [`RawIoBuf::new`] for the sub-range.
    ///
    /// # Panics
    /// If `offset + len` exceeds this view's capacity.
    pub unsafe fn slice(self, offset: usize, len: usize) -> Self {
        self.check_range(offset, len);
        // SAFETY: the range was just checked to lie inside this view.
        unsafe { self.slice_unchecked(offset, len) }
    }

    /// A full view (`len == cap == len`) of `offset..offset + len`, to write from.
    ///
    /// # Safety
    /// As [`RawIoBuf::new`]; the bytes of the range must be initialised.
    ///
    /// # Panics
    /// If `offset + len` exceeds this view's capacity.
    pub unsafe fn slice_data(self, offset: usize, len: usize) -> Self {
        self.check_range(offset, len);
        // SAFETY: range checked above; initialisation is the caller's contract.
        unsafe { self.slice_unchecked(offset, len).with_len(len) }
    }

    /// Like [`RawIoBuf::slice`] without the bounds check.
    ///
    /// # Safety
    /// `offset + len <= self.cap()`, and [`RawIoBuf::new`]'s contract for the sub-range.
    pub unsafe fn slice_unchecked(self, offset: usize, len: usize) -> Self {
        debug_assert!(offset.checked_add(len).is_some_and(|end| end <= self.cap));
        // SAFETY: the caller guarantees `offset <= cap`, so the pointer stays in the allocation.
        unsafe { Self::new(self.ptr.add(offset), len) }
    }

    /// Number of initialised bytes in view.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Bytes in view.
    pub const fn cap(&self) -> usize {
        self.cap
    }

    /// Whether `len == 0`.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Start of the view.
    pub const fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// Start of the view, writable.
    pub const fn as_mut_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// The `len` initialised bytes.
    pub fn as_slice(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: by the constructor's contract the memory is valid and the first `len` bytes are
        // initialised and not being written by anyone else.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The `len` initialised bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: as in `as_slice`; exclusivity against other copies is the constructor's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// Sets the length.
    ///
    /// # Safety
    /// `len <= cap()` and the first `len` bytes are initialised.
    pub unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.cap);
        self.len = len;
    }
}

impl fmt::Debug for RawIoBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawIoBuf")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("cap", &self.cap)
            .finish()
    }
}

// SAFETY: by the constructor's contract `ptr` is valid for `cap` bytes (the first `len`
// initialised) for as long as the value is used, including while compio owns it.
unsafe impl IoBuf for RawIoBuf {
    fn as_buf_ptr(&self) -> *const u8 {
        self.ptr
    }

    fn buf_len(&self) -> usize {
        self.len
    }

    fn buf_capacity(&self) -> usize {
        self.cap
    }
}

// SAFETY: as for `IoBuf`; the memory is writable by the constructor's contract.
unsafe impl IoBufMut for RawIoBuf {
    fn as_buf_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }
}

impl SetBufInit for RawIoBuf {
    unsafe fn set_buf_init(&mut self, len: usize) {
        debug_assert!(len <= self.cap);
        if self.len < len {
            self.len = len;
        }
    }
}
