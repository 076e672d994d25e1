//! The [`File`] handle: opening, size, sync, close, and the per-file operation counters.

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering::Relaxed},
};

use crate::{Error, OpenOptions, PAGE_SIZE, Result, in_flight::Handle};

/// An open file doing positional, alignment-checked I/O on compio (io_uring), with `O_DIRECT`
/// when the filesystem allows it.
///
/// Reads and writes take owned buffers and hand them back ([`BufResult`](crate::BufResult)).
/// The file offset, the length and the buffer address of every request must be multiples of
/// [`ALIGN`](crate::ALIGN) (4096); this is checked before anything is submitted, also when the
/// file fell back to buffered I/O. The file is closed by [`File::close`] or on drop.
///
/// # One writer per file
///
/// A `File` holds the file's advisory lock (`flock`) for as long as it is open: exclusive when
/// opened for writing, shared when read-only. A second writer, a reader while a writer has the
/// file, or a writer while readers have it gets [`Error::Locked`] at once, whether it is another
/// process or another `File` (a second pool) in this process. There is no way to open without
/// the lock.
///
/// The lock is on the file's own descriptor, which stays open until every request the kernel
/// still holds has completed, also when the `File` (or a future of it) was dropped mid-write;
/// only then can the next opener take it, so a write of a dropped handle cannot land over the
/// next one's. A reopen in this process that finds the lock held by such a dropped handle
/// (no live `File` on the file, but reads or writes of this process still in flight) waits for
/// them to finish and takes the lock then, for up to 10 s (then `Locked`); this works across
/// threads and runtimes, as long as the runtime that submitted the requests keeps running. Only
/// reads and writes are counted: a dropped `File` whose `fsync` or `stat` is still running makes
/// a reopen `Locked` until that call ends.
///
/// A child process spawned by any thread (`std::process::Command`, `posix_spawn`, `system`)
/// holds a copy of every descriptor from its fork to its exec, and so, for that moment, the lock
/// of a `File` dropped meanwhile. A refusal within 250 ms of this process releasing the file is
/// therefore tried again (with pauses from 50 µs up to 1 ms) until 250 ms after the release;
/// a file released earlier, or never held here, is `Locked` at once. A file deleted and
/// recreated at once may reuse the inode number and so get that wait before a genuine `Locked`.
#[derive(Debug)]
pub struct File {
    // Field order matters: `inner` is dropped (the descriptor closed, unless requests in
    // flight still hold it) before `handle` tells the registry this handle is gone.
    pub(crate) inner: compio::fs::File,
    pub(crate) handle: Handle,
    pub(crate) path: PathBuf,
    pub(crate) direct: bool,
    pub(crate) counters: Counters,
}

/// How many operations a [`File`] has submitted, from [`File::stats`].
///
/// Every io_uring submission and every blocking-pool call is counted, so a test can check that a
/// vectored run of pages is one read or write, and that reads do not `stat` the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IoStats {
    /// `read`/`readv` operations submitted (a short read that is resumed counts twice).
    pub read_ops: u64,
    /// `write`/`writev` operations submitted.
    pub write_ops: u64,
    /// Bytes the reads returned.
    pub bytes_read: u64,
    /// Bytes the writes accepted.
    pub bytes_written: u64,
    /// `fsync`/`fdatasync` operations.
    pub sync_ops: u64,
    /// `statx` operations ([`File::size`], [`File::page_count`], and end-of-file reports).
    pub stat_ops: u64,
    /// Calls run on the blocking thread pool ([`File::set_len`], [`File::preallocate`]).
    pub blocking_ops: u64,
}

/// The live counters behind [`IoStats`]; relaxed atomics, so `File` stays `Sync` if compio's
/// file is.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) read_ops: AtomicU64,
    pub(crate) write_ops: AtomicU64,
    pub(crate) bytes_read: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    pub(crate) sync_ops: AtomicU64,
    pub(crate) stat_ops: AtomicU64,
    pub(crate) blocking_ops: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
}

impl File {
    pub(crate) fn new(
        inner: compio::fs::File,
        path: PathBuf,
        direct: bool,
        handle: Handle,
    ) -> Self {
        Self {
            inner,
            handle,
            path,
            direct,
            counters: Counters::default(),
        }
    }

    /// Creates `path` (or truncates it to 0 bytes, once its lock is held) and opens it
    /// read-write, with [`Direct::Auto`](crate::Direct::Auto).
    ///
    /// # Errors
    /// [`Error::Locked`] when the file is in use (it is then left as it was),
    /// [`Error::NotRegularFile`], [`Error::Io`] (`op == "open"`) naming the path.
    pub async fn create(path: impl AsRef<Path>) -> Result<Self> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Opens an existing `path` read-only with the shared lock, with
    /// [`Direct::Auto`](crate::Direct::Auto).
    ///
    /// # Errors
    /// [`Error::Locked`] while a writer has the file, [`Error::NotRegularFile`], [`Error::Io`]
    /// (`op == "open"`) naming the path, e.g. `NotFound`.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens `path` read-write, creating it if missing (an existing file is kept as is), with
    /// [`Direct::Auto`](crate::Direct::Auto).
    ///
    /// # Errors
    /// [`Error::Locked`] when the file is in use, [`Error::NotRegularFile`], [`Error::Io`]
    /// (`op == "open"`) naming the path.
    pub async fn open_rw(path: impl AsRef<Path>) -> Result<Self> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(path)
            .await
    }

    /// A builder for other modes or to force buffered I/O; see [`OpenOptions`].
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// The path the file was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file was opened with `O_DIRECT` (false after the buffered fallback or with
    /// [`Direct::Off`](crate::Direct::Off)).
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// The range of write sizes the device and filesystem can write untorn (atomically) with
    /// Direct I/O, as `statx` reports it (`STATX_WRITE_ATOMIC`, Linux 6.11+): `Some((min, max))`
    /// in bytes, or `None` when the kernel, the filesystem or the device offers none (or the
    /// file is not on the Direct I/O path).
    ///
    /// Such writes are only untorn when submitted with `RWF_ATOMIC`, which jdb does not do yet
    /// (compio 0.17's writes take no flags): a pool needs its doublewrite area to repair torn
    /// pages whatever this says. It tells whether the area could be dropped once writes are
    /// submitted that way.
    pub fn atomic_write_unit(&self) -> Option<(u32, u32)> {
        if !self.direct {
            return None;
        }
        // SAFETY: `statx` is all-integer plain data; zero is a valid value of every field.
        let mut stx: libc::statx = unsafe { std::mem::zeroed() };
        // SAFETY: the descriptor is open for the whole call, the path is a valid empty C string
        // (with `AT_EMPTY_PATH`, the descriptor itself is described), and `stx` is a writable
        // `statx` the kernel fills.
        let rc = unsafe {
            libc::statx(
                self.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_EMPTY_PATH,
                libc::STATX_WRITE_ATOMIC,
                &mut stx,
            )
        };
        let reported = rc == 0 && stx.stx_mask & libc::STATX_WRITE_ATOMIC != 0;
        (reported && stx.stx_atomic_write_unit_max > 0)
            .then_some((stx.stx_atomic_write_unit_min, stx.stx_atomic_write_unit_max))
    }

    /// A snapshot of the operations this handle has submitted so far.
    pub fn stats(&self) -> IoStats {
        let c = &self.counters;
        IoStats {
            read_ops: c.read_ops.load(Relaxed),
            write_ops: c.write_ops.load(Relaxed),
            bytes_read: c.bytes_read.load(Relaxed),
            bytes_written: c.bytes_written.load(Relaxed),
            sync_ops: c.sync_ops.load(Relaxed),
            stat_ops: c.stat_ops.load(Relaxed),
            blocking_ops: c.blocking_ops.load(Relaxed),
        }
    }

    /// The file size in bytes (one `statx`).
    ///
    /// # Errors
    /// [`Error::Io`] (`op == "stat"`).
    pub async fn size(&self) -> Result<u64> {
        Counters::add(&self.counters.stat_ops, 1);
        let meta = self
            .inner
            .metadata()
            .await
            .map_err(|e| self.err("stat", e))?;
        Ok(meta.len())
    }

    /// Whole pages in the file: `size / 4096`, rounded down. A partial last page (a size that
    /// is not a multiple of 4096) is not counted and is not reported; callers that care compare
    /// with [`File::size`].
    ///
    /// # Errors
    /// [`Error::Io`] from the `statx`; [`Error::TooManyPages`] if the count does not fit a `u32`.
    pub async fn page_count(&self) -> Result<u32> {
        let size = self.size().await?;
        u32::try_from(size / PAGE_SIZE as u64).map_err(|_| Error::TooManyPages {
            path: self.path.clone(),
            size,
        })
    }

    /// Sets the file size to `len` bytes (`ftruncate`: cuts, or extends with a hole). Any `len`
    /// is accepted; a size that is not a multiple of 4096 leaves a partial last page.
    ///
    /// Runs on compio's blocking pool: compio 0.17 has no truncate op.
    ///
    /// # Errors
    /// [`Error::Io`] (`op == "set_len"`), e.g. for a read-only file.
    pub async fn set_len(&self, len: u64) -> Result<()> {
        self.blocking("set_len", move |file| file.set_len(len))
            .await
    }

    /// Allocates disk blocks for the first `len` bytes (`fallocate(fd, 0, 0, len)`), growing the
    /// file size to `len` if it is smaller, so later writes there do not fail with `ENOSPC`.
    ///
    /// Runs on compio's blocking pool: compio 0.17 has no fallocate op.
    ///
    /// # Errors
    /// [`Error::Io`] (`op == "fallocate"`): `ENOSPC`, `EOPNOTSUPP` on filesystems without it,
    /// `InvalidInput` for `len == 0` or `len > i64::MAX`.
    pub async fn preallocate(&self, len: u64) -> Result<()> {
        self.blocking("fallocate", move |file| {
            let len = libc::off_t::try_from(len)
                .ok()
                .filter(|&len| len > 0)
                .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
            // SAFETY: `fallocate` takes no pointers; `file` owns a valid, open descriptor for the
            // whole call (it is a `dup` moved into this closure, see `File::blocking`).
            let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        })
        .await
    }

    /// Flushes the file's data (and the metadata needed to read it back, e.g. the size) to the
    /// device: `fdatasync`.
    ///
    /// # Errors
    /// [`Error::Io`] (`op == "fdatasync"`), e.g. `EIO`.
    pub async fn sync_data(&self) -> Result<()> {
        Counters::add(&self.counters.sync_ops, 1);
        self.inner
            .sync_data()
            .await
            .map_err(|e| self.err("fdatasync", e))
    }

    /// Flushes data and all metadata to the device: `fsync`.
    ///
    /// # Errors
    /// [`Error::Io`] (`op == "fsync"`).
    pub async fn sync_all(&self) -> Result<()> {
        Counters::add(&self.counters.sync_ops, 1);
        self.inner
            .sync_all()
            .await
            .map_err(|e| self.err("fsync", e))
    }

    /// Closes the file through io_uring and reports the `close` result; the lock is released
    /// with the descriptor. Dropping a `File` also closes it, synchronously and ignoring errors
    /// (once requests still in flight are done, see [`File`]).
    ///
    /// # Errors
    /// [`Error::Io`] (`op == "close"`).
    pub async fn close(self) -> Result<()> {
        let Self {
            inner,
            handle,
            path,
            ..
        } = self;
        let res = inner.close().await;
        drop(handle);
        res.map_err(|e| Error::io(&path, "close", e))
    }

    pub(crate) fn err(&self, op: &'static str, source: io::Error) -> Error {
        Error::io(&self.path, op, source)
    }

    /// Runs `f` on compio's blocking thread pool with its own `dup` of the descriptor.
    ///
    /// Why a `dup` rather than the raw fd: the pool thread may outlive this future. If the caller
    /// drops the future while `f` runs (a cancelled `select!`, a timeout) and then drops the
    /// `File`, a raw fd number would be closed and could be reused by an unrelated `open` while
    /// `f` still uses it: `fallocate` or `ftruncate` on somebody else's file. The duplicate is
    /// owned by the closure, so it stays open until `f` returns, whatever happens here; it refers
    /// to the same open file description (same inode, same flags). The `dup` is one cheap
    /// syscall; these calls are rare (file growth), never on the page I/O path.
    ///
    /// The duplicate also holds the file's lock (it is the same open file description), so the
    /// call counts as in flight until `f` has returned and the duplicate is closed.
    async fn blocking<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(std::fs::File) -> io::Result<T> + Send + 'static,
    ) -> Result<T> {
        let fd = self
            .inner
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| self.err("dup", e))?;
        let file = std::fs::File::from(fd);
        let in_flight = self.handle.in_flight();
        Counters::add(&self.counters.blocking_ops, 1);
        let call = move || {
            let res = f(file); // `f` owns the duplicate and closes it before it returns
            drop(in_flight);
            res
        };
        match crate::blocking::spawn_blocking(call).await {
            Ok(res) => res.map_err(|e| self.err(op, e)),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}
