//! Writing dirty pages: `flush_page`, `flush_all` (coalesced runs), `sync`, `close`.

use std::rc::Rc;

use futures_util::{StreamExt, stream::FuturesUnordered};
use jdb_layout::PageId;

use crate::{BufferPool, Error, Result, Storage, TrackedBuf, lru::FrameId, pool::MAX_RUN};

/// Writes `flush_all` keeps in flight. Two let the next run be sealed and copied while the device
/// writes the previous one; at one, the device sat idle for that CPU time on every run.
pub const FLUSH_DEPTH: usize = 2;

impl<S: Storage> BufferPool<S> {
    /// Writes page `id` if it is in memory and dirty, and marks it clean. A page not in memory
    /// has nothing to write.
    ///
    /// # Errors
    /// [`crate::Error::PageNotFound`] for an id past the end; [`crate::Error::Storage`] when the
    /// write fails (the page stays dirty).
    pub async fn flush_page(&mut self, id: PageId) -> Result<()> {
        self.check_id(id)?;
        match self.table.get(&id) {
            Some(&frame) if self.pages[frame as usize].is_dirty() => {
                self.write_run(&[(id, frame)]).await
            }
            _ => Ok(()),
        }
    }

    /// Writes every dirty page and marks it clean: runs of contiguous page ids go out as one
    /// request each (at most `MAX_RUN` pages), in page order, [`FLUSH_DEPTH`] at a time. A page is
    /// marked clean only when its write completed.
    ///
    /// # Errors
    /// The first failed write ([`crate::Error::Storage`]), once the other write in flight has
    /// finished; the failed run's pages and every page not yet written stay dirty, so a later
    /// flush can finish the job.
    pub async fn flush_all(&mut self) -> Result<()> {
        self.check_poisoned()?;
        let mut dirty: Vec<(PageId, FrameId)> = self
            .table
            .iter()
            .filter(|&(_, &f)| self.pages[f as usize].is_dirty())
            .map(|(&id, &f)| (id, f))
            .collect();
        dirty.sort_unstable_by_key(|&(id, _)| id);
        // A write of a dropped earlier call may still be landing: let it finish first, so it
        // cannot overwrite a newer version of its pages.
        self.writes.drained().await;
        let mut runs = dirty
            .chunk_by(|a, b| b.0 == a.0 + 1)
            .flat_map(|r| r.chunks(MAX_RUN));
        let mut in_flight = FuturesUnordered::new();
        let mut first_error: Option<Error> = None;
        loop {
            while in_flight.len() < FLUSH_DEPTH && first_error.is_none() {
                let Some(run) = runs.next() else { break };
                match self.seal_into_buf(run) {
                    Ok(buf) => in_flight.push(write_io(Rc::clone(&self.storage), run, buf)),
                    Err(e) => first_error = Some(e),
                }
            }
            let Some((run, res, buf)) = in_flight.next().await else {
                break;
            };
            if let Err(e) = self.finish_write(run, res, buf) {
                first_error = first_error.or(Some(e));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Flushes every dirty page, then makes the file durable (`fdatasync`). When it returns
    /// `Ok`, a reopen (even after a crash) sees exactly the pages as they are now.
    ///
    /// # Errors
    /// As [`BufferPool::flush_all`], or the failed `fdatasync`. A failed `fdatasync` poisons the
    /// pool: on Linux it may already have dropped the data it could not write, so every later
    /// write and sync fails with [`crate::Error::Poisoned`] until the file is reopened. A failed
    /// page write does not poison: the page stays dirty in memory and a later sync writes it.
    pub async fn sync(&mut self) -> Result<()> {
        // flush_all waits for every write in flight, its own and those of dropped calls.
        self.flush_all().await?;
        debug_assert_eq!(self.writes.in_flight(), 0);
        if let Err(e) = self.storage.sync().await {
            self.poison(&e);
            return Err(e.into());
        }
        self.stats.syncs += 1;
        Ok(())
    }

    /// Syncs and closes the pool. On error the pool is handed back with the error, still usable,
    /// so nothing is lost.
    pub async fn close(mut self) -> Result<(), (crate::Error, Self)> {
        match self.sync().await {
            Ok(()) => Ok(()),
            Err(e) => Err((e, self)),
        }
    }

    /// Seals and writes the pages of `run` (contiguous ids, ascending, at most `MAX_RUN`) with one
    /// request; marks them clean only once the write completed.
    pub(crate) async fn write_run(&mut self, run: &[(PageId, FrameId)]) -> Result<()> {
        self.check_poisoned()?;
        self.writes.drained().await;
        let buf = self.seal_into_buf(run)?;
        let (res, buf) = self.storage.write_pages(run[0].0, buf).await;
        self.finish_write(run, res, buf)
    }

    /// Seals the pages of `run` and copies them into an I/O buffer, in order.
    fn seal_into_buf(&mut self, run: &[(PageId, FrameId)]) -> Result<TrackedBuf> {
        debug_assert!(!run.is_empty() && run.len() <= MAX_RUN);
        debug_assert!(run.windows(2).all(|w| w[1].0 == w[0].0 + 1));
        let mut buf = self.take_spare()?;
        buf.clear();
        for &(_, frame) in run {
            let page = &mut self.pages[frame as usize];
            page.seal();
            buf.extend(page.as_bytes())?;
        }
        Ok(self.writes.track(buf))
    }

    /// Accounts for a completed write of `run`; on success marks its pages clean.
    fn finish_write(
        &mut self,
        run: &[(PageId, FrameId)],
        res: jdb_fs::Result<()>,
        buf: TrackedBuf,
    ) -> Result<()> {
        self.put_spare(buf.into_inner());
        self.stats.write_ios += 1;
        if let Err(e) = res {
            self.stats.io_errors += 1;
            return Err(e.into());
        }
        for &(_, frame) in run {
            self.pages[frame as usize].set_clean();
        }
        self.stats.pages_written += run.len() as u64;
        Ok(())
    }
}

/// One write of a run, owning what it needs so several can be in flight without borrowing the
/// pool.
async fn write_io<S: Storage>(
    storage: Rc<S>,
    run: &[(PageId, FrameId)],
    buf: TrackedBuf,
) -> (&[(PageId, FrameId)], jdb_fs::Result<()>, TrackedBuf) {
    let (res, buf) = storage.write_pages(run[0].0, buf).await;
    (run, res, buf)
}
