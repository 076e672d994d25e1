//! The narrow storage interface the pool reads and writes pages through.

use std::path::Path;

use jdb_alloc::{AlignedBuf, PAGE_SIZE};
use jdb_fs::{BufResult, File};
use jdb_layout::PageId;

use crate::TrackedBuf;

/// What the pool needs from a file: whole-page reads and writes at page offsets (one request per
/// call), `fdatasync`, and the size. [`jdb_fs::File`] is the real one; tests substitute
/// fault-injecting implementations.
///
/// Buffers are owned and handed back, compio style: if a call's future is dropped mid-flight, the
/// runtime keeps the buffer until the kernel is done with it, so the pool never reuses memory the
/// kernel may still write.
#[allow(async_fn_in_trait)]
pub trait Storage {
    /// Reads pages `first..first + count` into `buf[..count * PAGE_SIZE]` with one request
    /// (`buf.cap() >= count * PAGE_SIZE`). On success `buf.len() == count * PAGE_SIZE`.
    async fn read_pages(
        &self,
        first: PageId,
        count: usize,
        buf: AlignedBuf,
    ) -> BufResult<(), AlignedBuf>;

    /// Writes `buf[..buf.len()]` (whole pages) at page `first` with one request, and hands the
    /// buffer back. (If the call's future is dropped, the buffer must live until the request is
    /// finished, as compio's does: the pool waits for that before writing again.)
    async fn write_pages(&self, first: PageId, buf: TrackedBuf) -> BufResult<(), TrackedBuf>;

    /// Makes every completed write durable (`fdatasync`).
    async fn sync(&self) -> jdb_fs::Result<()>;

    /// The size of the file in bytes.
    async fn size(&self) -> jdb_fs::Result<u64>;

    /// The file's path, for error messages.
    fn path(&self) -> &Path;
}

impl Storage for File {
    async fn read_pages(
        &self,
        first: PageId,
        count: usize,
        mut buf: AlignedBuf,
    ) -> BufResult<(), AlignedBuf> {
        use compio::buf::{IntoInner, IoBuf};

        buf.clear();
        let (res, slice) = self
            .read_at(buf.slice(..count * PAGE_SIZE), jdb_fs::page_offset(first))
            .await;
        (res, slice.into_inner())
    }

    async fn write_pages(&self, first: PageId, buf: TrackedBuf) -> BufResult<(), TrackedBuf> {
        self.write_at(buf, jdb_fs::page_offset(first)).await
    }

    async fn sync(&self) -> jdb_fs::Result<()> {
        self.sync_data().await
    }

    async fn size(&self) -> jdb_fs::Result<u64> {
        File::size(self).await
    }

    fn path(&self) -> &Path {
        File::path(self)
    }
}
