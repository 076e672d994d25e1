//! The async Direct I/O file of jdb, on compio (io_uring).
//!
//! A [`File`] is opened with `O_DIRECT` when the filesystem allows it, and falls back to
//! buffered I/O (logged once) when it refuses; [`Direct`] forces either. Every request is checked
//! for 4096-byte alignment of its file offset, length and buffer address before it is submitted,
//! on both paths, so a misaligned request is an [`Error::Misaligned`] rather than an `EINVAL`
//! from one filesystem and a success on another.
//!
//! I/O takes owned buffers (any compio-buf `IoBuf`/`IoBufMut`, typically
//! [`AlignedBuf`] or a pool frame [`RawIoBuf`]) and returns them with the result
//! ([`BufResult`]). Page `id: u32` lives at byte `id * 4096`; a run of contiguous pages is one
//! `preadv`/`pwritev` ([`File::read_pages_into`], [`File::write_pages`]). Short transfers are
//! resumed; a read past the end of the file is [`Error::PastEnd`], found from the short read
//! itself (the file is `stat`ed only then, never on the read path). Errors name the file.
//!
//! Each request goes to the kernel as soon as it is queued (one `io_uring_enter` that only
//! submits), not when compio's event loop next waits: under load compio waits only once no
//! completion is pending, which sent 32 tasks' reads to the device in waves (0.75–0.87 × fio's
//! 4 KiB QD32 IOPS, now 0.92–1.0 ×). `JDB_FS_SUBMIT=batched` in the environment restores
//! compio's own batching, to compare the two (`bench/submit_ab.sh`).
//!
//! One writer per file: a `File` holds the file's `flock` while it is open, exclusive for a
//! writer and shared for a reader, so a second writer (another process, or a second pool in this
//! one) gets [`Error::Locked`] at once instead of losing data, and [`File::create`] truncates only
//! once it holds the lock. The lock lasts until the kernel has finished every request of the
//! file, also after a `File` was dropped mid-write; a reopen in this process waits for such a
//! dropped handle's reads and writes (bounded, 10 s), and for a child being spawned that holds a
//! copy of a just-closed descriptor until its exec (bounded, 250 ms), instead of failing. Only
//! regular files on a filesystem that stores data are opened: a directory, a device, a FIFO, a
//! socket or a procfs or sysfs file is [`Error::NotRegularFile`], found before anything is
//! written to it.
//!
//! ```
//! use jdb_fs::{AlignedBuf, File, PAGE_SIZE};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("pages.jdb");
//! compio::runtime::Runtime::new().unwrap().block_on(async {
//!     let file = File::create(&path).await?; // O_DIRECT where the filesystem allows it
//!     // One writer per file, in this process too.
//!     assert!(matches!(File::open_rw(&path).await, Err(jdb_fs::Error::Locked { .. })));
//!
//!     let mut page = AlignedBuf::zeroed(PAGE_SIZE)?;
//!     page[..5].copy_from_slice(b"hello");
//!     let (res, page) = file.write_page(3, page).await; // the buffer comes back either way
//!     res?;
//!
//!     let back = file.read_page(3).await?;
//!     assert_eq!(&back[..], &page[..]);
//!     assert_eq!(file.page_count().await?, 4);
//!     assert!(matches!(file.read_page(4).await, Err(jdb_fs::Error::PastEnd { page: 4, .. })));
//!
//!     file.sync_data().await?;
//!     file.close().await
//! })?;
//! # Ok::<(), jdb_fs::Error>(())
//! ```
//!
//! Where things are:
//! - `file`: the [`File`] handle, size, sync, close, counters;
//! - `blocking`: compio's blocking pool, with a timer that keeps the event loop polling;
//! - `open`: [`OpenOptions`], the open sequence and the Direct I/O policy;
//! - `kind`: what is not a regular file jdb may use;
//! - `lock`: the file's `flock`, and the waits for a dropped handle's I/O and a fork's window;
//! - `in_flight`: the per-inode registry of live handles and requests in flight;
//! - `io`, `page`: byte- and page-granular reads and writes;
//! - `submit`: each read and write goes to the kernel as soon as it is queued;
//! - `error`: [`Error`].

mod blocking;
mod error;
mod file;
mod in_flight;
mod io;
mod kind;
mod lock;
mod open;
mod page;
mod submit;

pub use error::{BufResult, Error, Result};
pub use file::{File, IoStats};
pub use jdb_alloc::{AlignedBuf, PAGE_SIZE, RawIoBuf};
pub use open::{Direct, OpenOptions};
pub use page::page_offset;

/// Alignment of file offsets, lengths and buffer addresses: 4096 bytes.
pub const ALIGN: usize = jdb_alloc::ALIGNMENT;

/// Most buffers in one vectored request (Linux `IOV_MAX`/`UIO_MAXIOV`).
pub const IOV_MAX: usize = 1024;
