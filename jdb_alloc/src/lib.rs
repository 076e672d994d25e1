//! 4 KiB-aligned buffers for Direct I/O.
//!
//! Two buffer types, both usable with compio's owned-buffer I/O (`IoBuf`, `IoBufMut`, `SetBufInit`
//! from compio-buf 0.7):
//!
//! - [`AlignedBuf`] owns its memory: a `Vec<u8>`-like buffer whose start address and capacity are
//!   multiples of [`ALIGNMENT`], as `O_DIRECT` requires. It is freed on drop.
//! - [`RawIoBuf`] is a non-owning, `Copy` view (pointer, length, capacity) into memory someone else
//!   owns, e.g. one frame of a buffer-pool arena. Creating one is `unsafe`: the creator promises the
//!   memory outlives every copy.
//!
//! And [`MappedRegion`], zeroed anonymous memory for a pool's frames, 2 MiB-aligned and in
//! transparent huge pages when asked, when it is that large and when the kernel allows (one TLB
//! entry per 2 MiB of frames, not per frame).
//!
//! ```
//! use jdb_alloc::{AlignedBuf, ALIGNMENT, PAGE_SIZE};
//!
//! let mut buf = AlignedBuf::with_cap(100)?; // rounded up to one page
//! assert_eq!(buf.cap(), PAGE_SIZE);
//! assert_eq!(buf.as_ptr() as usize % ALIGNMENT, 0);
//! buf.extend(b"hello")?;
//! assert_eq!(&buf[..], b"hello");
//!
//! // An arena of 8 pages cut into 8 page-sized frames.
//! let arena = AlignedBuf::zeroed(8 * PAGE_SIZE)?;
//! // SAFETY: `arena` outlives `frames`, and the frames are only read here.
//! let frames: Vec<_> = unsafe { arena.slice_into_raws(PAGE_SIZE) }.collect();
//! assert_eq!(frames.len(), 8);
//! assert_eq!(frames[1].as_ptr() as usize - arena.as_ptr() as usize, PAGE_SIZE);
//! # Ok::<(), jdb_alloc::Error>(())
//! ```

mod aligned_buf;
mod error;
mod mapped_region;
mod raw_io_buf;

pub use aligned_buf::AlignedBuf;
pub use error::{Error, Result};
pub use mapped_region::{HUGE_PAGE_SIZE, MappedRegion};
pub use raw_io_buf::RawIoBuf;

/// Page size: 4 KiB. Capacities of [`AlignedBuf`] are whole multiples of it.
pub const PAGE_SIZE: usize = 4096;

/// Direct I/O alignment of every [`AlignedBuf`] allocation (a power of two).
pub const ALIGNMENT: usize = 4096;

const _: () = assert!(ALIGNMENT.is_power_of_two() && PAGE_SIZE.is_multiple_of(ALIGNMENT));
