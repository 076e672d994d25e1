//! [`FaultyStorage`]: faults injected into any storage, e.g. a real file.

use crate::TrackedBuf;
use std::path::Path;

use jdb_alloc::{AlignedBuf, PAGE_SIZE};
use jdb_fs::BufResult;
use jdb_layout::PageId;

use super::faults::{Fault, FaultController, IoKind, injected_error};
use crate::Storage;

/// Wraps a storage (typically a real [`jdb_fs::File`]) and makes the calls its
/// [`FaultController`] says fail. A call without a fault goes to the inner storage unchanged.
///
/// A [`Fault::Torn`] write stores the whole pages before the tear point, then the torn page
/// (its first bytes new, the rest as the file held it, zeros past the end), through the inner
/// storage, and fails with `EIO`; the pages after the torn one are not written.
#[derive(Debug)]
pub struct FaultyStorage<S> {
    inner: S,
    faults: FaultController,
}

impl<S: Storage> FaultyStorage<S> {
    /// Wraps `inner` with a new controller of its own.
    pub fn new(inner: S) -> Self {
        Self::with_controller(inner, FaultController::new())
    }

    /// Wraps `inner` with `faults` (a handle the test keeps, or shares between storages).
    pub fn with_controller(inner: S, faults: FaultController) -> Self {
        Self { inner, faults }
    }

    /// The fault rules.
    pub fn faults(&self) -> &FaultController {
        &self.faults
    }

    /// The wrapped storage.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the storage.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Writes the first `bytes` bytes of `buf` at page `first`, as described on the type.
    async fn write_torn(
        &self,
        first: PageId,
        buf: &AlignedBuf,
        bytes: usize,
    ) -> jdb_fs::Result<()> {
        let bytes = bytes.min(buf.len());
        let (whole, partial) = (bytes / PAGE_SIZE, bytes % PAGE_SIZE);
        if bytes == 0 {
            return Ok(());
        }
        let mut torn = AlignedBuf::with_cap((whole + 1) * PAGE_SIZE)?;
        torn.extend(&buf[..whole * PAGE_SIZE])?;
        if partial > 0 {
            let torn_page = first + whole as PageId;
            let (res, old) = self
                .inner
                .read_pages(torn_page, 1, AlignedBuf::with_cap(PAGE_SIZE)?)
                .await;
            let old_tail = match res {
                Ok(()) => old[partial..PAGE_SIZE].to_vec(),
                Err(jdb_fs::Error::PastEnd { .. }) => vec![0; PAGE_SIZE - partial],
                Err(e) => return Err(e),
            };
            torn.extend(&buf[whole * PAGE_SIZE..bytes])?;
            torn.extend(&old_tail)?;
        }
        self.inner.write_pages(first, TrackedBuf::new(torn)).await.0
    }
}

impl<S: Storage> Storage for FaultyStorage<S> {
    async fn read_pages(
        &self,
        first: PageId,
        count: usize,
        buf: AlignedBuf,
    ) -> BufResult<(), AlignedBuf> {
        match self.faults.on_call(IoKind::Read) {
            Some(fault) => (Err(injected_error(self.path(), IoKind::Read, fault)), buf),
            None => self.inner.read_pages(first, count, buf).await,
        }
    }

    async fn write_pages(&self, first: PageId, buf: TrackedBuf) -> BufResult<(), TrackedBuf> {
        let fault = match self.faults.on_call(IoKind::Write) {
            None => return self.inner.write_pages(first, buf).await,
            Some(fault) => fault,
        };
        if let Fault::Torn { bytes } = fault
            && let Err(e) = self.write_torn(first, &buf, bytes).await
        {
            return (Err(e), buf);
        }
        (Err(injected_error(self.path(), IoKind::Write, fault)), buf)
    }

    async fn sync(&self) -> jdb_fs::Result<()> {
        match self.faults.on_call(IoKind::Sync) {
            Some(fault) => Err(injected_error(self.path(), IoKind::Sync, fault)),
            None => self.inner.sync().await,
        }
    }

    async fn size(&self) -> jdb_fs::Result<u64> {
        self.inner.size().await
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }
}
