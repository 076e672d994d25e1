//! The error type of `jdb_page`.

use std::path::PathBuf;

use jdb_layout::PageId;

/// Errors of the buffer pool. Every variant carries the numbers (and file) a person needs.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// Room was needed for a page but every frame holds a page that is pinned or held by a
    /// guard (or is reserved by another call).
    #[error("buffer pool full: all {cap} frames in use, {pinned} pinned or held by guards")]
    PoolFull {
        /// Frames in the pool.
        cap: usize,
        /// Frames holding a page that is pinned or held by a guard.
        pinned: usize,
    },

    /// The page id is at or past the end of the file (and was never allocated).
    #[error("page {id} not found: the file has {page_count} pages")]
    PageNotFound {
        /// The id asked for.
        id: PageId,
        /// Pages in the file (and allocated since open).
        page_count: u32,
    },

    /// A page read from disk failed verification (checksum, page id, format); it was not cached.
    #[error("{}: page {page} is corrupt: {source}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The page that failed.
        page: PageId,
        /// What is wrong with it.
        #[source]
        source: jdb_layout::Error,
    },

    /// The file is not in jdb's page format (its first page is foreign).
    #[error("{} is not a jdb file: {source}", path.display())]
    NotJdbFile {
        /// The file.
        path: PathBuf,
        /// What the first page looks like.
        #[source]
        source: jdb_layout::Error,
    },

    /// The file size is not a whole number of 4096-byte pages.
    #[error("{}: size {size} is not a whole number of {page_size}-byte pages", path.display())]
    NotPageMultiple {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The page size.
        page_size: usize,
    },

    /// The file (or an allocation) would need more pages than a `u32` page id can name.
    #[error("{}: {pages} pages exceed the page id space ({max})", path.display())]
    TooManyPages {
        /// The file.
        path: PathBuf,
        /// Pages needed.
        pages: u64,
        /// The largest page count supported.
        max: u32,
    },

    /// `cap` is not a usable pool capacity.
    #[error("invalid pool capacity {cap}: must be 1..={max} frames")]
    InvalidCapacity {
        /// The capacity asked for.
        cap: usize,
        /// The largest capacity supported.
        max: usize,
    },

    /// The pool was closed ([`crate::BufferPool::close`]); open the file again to go on.
    #[error("{}: the buffer pool is closed", path.display())]
    Closed {
        /// The file.
        path: PathBuf,
    },

    /// A group is empty, longer than the largest run, or runs past the page id space.
    #[error("invalid page group: {n} pages from {first} (allowed 1..={max})")]
    InvalidGroup {
        /// First page id of the group.
        first: PageId,
        /// Pages asked for.
        n: usize,
        /// Largest group.
        max: usize,
    },

    /// A data-page operation on a page's rows failed (row too large, page full, bad slot, ...).
    #[error("page {page}: {source}")]
    Rows {
        /// The page.
        page: PageId,
        /// What the data page said.
        #[source]
        source: jdb_layout::Error,
    },

    /// An `fdatasync` of this pool failed earlier, so the kernel may have dropped pages it could
    /// not write, and no later sync can prove them durable: every write and sync of the pool
    /// fails with this error until the file is reopened (and the engine recovers from its log).
    /// Reads still work. After a reopen the file holds, for each page changed since the last
    /// successful sync, one of its versions (or a torn page, [`Error::Corrupt`]).
    #[error(
        "{}: the pool is poisoned by an earlier failed sync ({first}); changes since the last \
         successful sync may be lost: reopen the file before writing again",
        path.display()
    )]
    Poisoned {
        /// The file.
        path: PathBuf,
        /// The failure that poisoned the pool, as it was reported then.
        first: String,
        /// Its OS error number (`EIO`, `ENOSPC`, ...), if it had one.
        os_error: Option<i32>,
    },

    /// A slotted-page operation (insert, update, delete, get) failed: row too large, page full,
    /// bad slot. Lets `page.rows_mut()?.insert(row)?` propagate with `?` into this crate's
    /// `Result`; the page id is the one of the `rows`/`rows_mut` call.
    #[error("data page: {0}")]
    Layout(#[from] jdb_layout::Error),

    /// The engine's log could not be made durable up to a page's LSN, so the page was not
    /// written (the write-ahead rule); it stays dirty.
    #[error("{}: flushing the log to LSN {lsn} before writing a page: {source}", path.display())]
    Log {
        /// The pool's file.
        path: PathBuf,
        /// The LSN the log had to reach.
        lsn: u64,
        /// What the log said.
        #[source]
        source: std::io::Error,
    },

    /// [`crate::BufferPool::attach_log`] was called on a pool that has a log already.
    #[error("{}: a log is attached to this pool already", path.display())]
    LogAttached {
        /// The pool's file.
        path: PathBuf,
    },

    /// A write-ahead call (`min_rec_lsn`, `dirty_pages`, `checkpoint`) on a pool without a log
    /// ([`crate::BufferPool::attach_log`]).
    #[error("{}: no log is attached to this pool", path.display())]
    NoLog {
        /// The pool's file.
        path: PathBuf,
    },

    /// Reading, writing or syncing the file failed; the error names the file and operation.
    #[error(transparent)]
    Storage(#[from] jdb_fs::Error),

    /// Memory for the pool (or an I/O buffer) could not be allocated.
    #[error("allocating pool memory: {0}")]
    Alloc(#[from] jdb_alloc::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
