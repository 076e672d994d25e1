//! The crate's one error type.

use std::{
    io,
    path::{Path, PathBuf},
};

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A result that also hands back the buffer given to the operation, compio style: the buffer
/// is returned whether the operation succeeded or not, so it can be reused.
pub type BufResult<T, B> = (Result<T>, B);

/// Errors of `jdb_fs`. Every variant about a file carries its path.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused an operation; `op` names it (`"open"`, `"read"`, `"write"`,
    /// `"fsync"`, `"stat"`, `"fallocate"`, ...). [`Error::io_kind`] and [`Error::raw_os_error`]
    /// expose the cause, e.g. `EIO` or `ENOSPC`.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operation that failed.
        op: &'static str,
        /// What the OS said.
        #[source]
        source: io::Error,
    },

    /// A request whose file offset, length or buffer address is not a multiple of `align`.
    /// Checked before anything is submitted, on the Direct I/O and the buffered path alike.
    #[error(
        "{}: misaligned request: offset {offset}, len {len}, buffer address {addr:#x} \
         (all must be multiples of {align})",
        path.display()
    )]
    Misaligned {
        /// The file.
        path: PathBuf,
        /// File offset of the request (of the offending buffer, for a vectored request).
        offset: u64,
        /// Length of the request (of the offending buffer, for a vectored request).
        len: usize,
        /// Address of the (offending) buffer.
        addr: usize,
        /// The required alignment, [`ALIGN`](crate::ALIGN).
        align: usize,
    },

    /// A read reached the end of the file before filling its buffers: `page` (offset / 4096)
    /// is the first page that is not wholly in the file, which holds `pages_in_file` whole pages.
    #[error("{}: page {page} is past the end of the file ({pages_in_file} whole pages)", path.display())]
    PastEnd {
        /// The file.
        path: PathBuf,
        /// The first page that could not be read in full.
        page: u64,
        /// `file size / 4096` when the short read was seen.
        pages_in_file: u64,
    },

    /// A vectored request with more buffers than one `preadv`/`pwritev` accepts.
    #[error("{}: {count} buffers in one vectored request, at most {max}", path.display())]
    TooManyBuffers {
        /// The file.
        path: PathBuf,
        /// Buffers given.
        count: usize,
        /// The limit, [`IOV_MAX`](crate::IOV_MAX).
        max: usize,
    },

    /// A buffer passed as one page is not [`PAGE_SIZE`](crate::PAGE_SIZE) bytes (its capacity
    /// for a read, its length for a write).
    #[error("{}: buffer for page {page} is {len} bytes, not one page", path.display())]
    NotAPage {
        /// The file.
        path: PathBuf,
        /// The page the buffer was for.
        page: u32,
        /// The buffer's size.
        len: usize,
    },

    /// A write stopped part-way at a place where it cannot be resumed under Direct I/O (not on a
    /// page boundary), or wrote nothing at all.
    #[error(
        "{}: short write at offset {offset}: {written} of {len} bytes written",
        path.display()
    )]
    ShortWrite {
        /// The file.
        path: PathBuf,
        /// File offset of the whole request.
        offset: u64,
        /// Bytes requested.
        len: usize,
        /// Bytes written before it stopped.
        written: usize,
    },

    /// The file has more pages than a `u32` page id can name.
    #[error("{}: {size} bytes is more pages than a u32 page id can name", path.display())]
    TooManyPages {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },

    /// The file's advisory lock is held elsewhere: by another process, or by another open
    /// [`File`](crate::File) in this process (a pool, say). A writer needs the file to itself;
    /// readers share it with each other but not with a writer. Returned at once, without
    /// waiting, except for the reads and writes still in flight of a dropped handle of this
    /// process, and for a file this process released a moment ago, whose lock a child being
    /// spawned may still hold (see [`File`](crate::File)).
    #[error(
        "{} is in use by another jdb process or pool (it holds the file's lock)",
        path.display()
    )]
    Locked {
        /// The file.
        path: PathBuf,
        /// Whether this open asked for the exclusive (writer's) lock, `false` for a reader's
        /// shared one.
        write: bool,
    },

    /// The path is not a regular file on a disk filesystem, so it was not opened for I/O and
    /// nothing was written to it: a directory, a device, a FIFO, a socket, or a file on a
    /// pseudo-filesystem such as procfs or sysfs. `kind` says which, e.g. `"a block device"` or
    /// `"a file on procfs"`.
    #[error("{} is {kind}, not a regular file jdb can use", path.display())]
    NotRegularFile {
        /// The file.
        path: PathBuf,
        /// What it is instead, with its article: `"a FIFO"`, `"a directory"`, ...
        kind: &'static str,
    },

    /// Allocating an aligned buffer failed.
    #[error("allocating an aligned buffer: {0}")]
    Alloc(#[from] jdb_alloc::Error),
}

impl Error {
    /// The [`io::ErrorKind`] of an [`Error::Io`], `None` for the other variants.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }

    /// The OS error number (`libc::EIO`, `libc::ENOSPC`, ...) of an [`Error::Io`], if it has one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The file the error is about (`None` only for [`Error::Alloc`]).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. }
            | Error::Misaligned { path, .. }
            | Error::PastEnd { path, .. }
            | Error::TooManyBuffers { path, .. }
            | Error::NotAPage { path, .. }
            | Error::ShortWrite { path, .. }
            | Error::TooManyPages { path, .. }
            | Error::Locked { path, .. }
            | Error::NotRegularFile { path, .. } => Some(path),
            Error::Alloc(_) => None,
        }
    }

    pub(crate) fn io(path: &Path, op: &'static str, source: io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn io_error_keeps_source_kind_and_path() {
        let err = Error::io(
            Path::new("/x/y"),
            "write",
            io::Error::from_raw_os_error(libc::ENOSPC),
        );
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(err.io_kind(), Some(io::ErrorKind::StorageFull));
        assert_eq!(err.path(), Some(Path::new("/x/y")));
        let source = err.source().expect("source kept");
        let source = source.downcast_ref::<io::Error>().expect("an io::Error");
        assert_eq!(source.raw_os_error(), Some(libc::ENOSPC));
        let text = err.to_string();
        assert!(text.contains("write") && text.contains("/x/y"), "{text}");
    }

    #[test]
    fn misaligned_message_has_the_numbers() {
        let err = Error::Misaligned {
            path: "/f".into(),
            offset: 4097,
            len: 10,
            addr: 0x1001,
            align: 4096,
        };
        let text = err.to_string();
        for part in ["/f", "4097", "10", "0x1001", "4096"] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert_eq!(err.io_kind(), None);
    }
}
