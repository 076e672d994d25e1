//! Page groups (after TreeLine, VLDB 2022): runs of contiguous pages read with one request each,
//! batched prefetch with many reads in flight, and scan-resistant placement.

use std::rc::Rc;

use futures_util::{StreamExt, stream::FuturesUnordered};
use jdb_alloc::{AlignedBuf, PAGE_SIZE};
use jdb_layout::PageId;

use crate::{BufferPool, Error, Page, Result, Storage, lru::FrameId, pool::MAX_RUN};

/// Reads `prefetch` keeps in flight at once. The device here saturates around queue depth 32;
/// twice that hides the time between a completion and the next submission.
pub const PREFETCH_DEPTH: usize = 64;

impl<S: Storage> BufferPool<S> {
    /// Allocates `n` (1..=[`MAX_RUN`]) new pages with contiguous ids and returns the first id.
    /// Each is an empty data page, dirty, most recently used; flushed together they go out as one
    /// write.
    ///
    /// # Errors
    /// [`Error::InvalidGroup`], [`Error::PoolFull`] when fewer than `n` frames can be freed,
    /// [`Error::TooManyPages`], or a failed write-back.
    pub async fn alloc_group(&mut self, n: usize) -> Result<PageId> {
        let first = self.page_count;
        if n == 0 || n > MAX_RUN {
            return Err(Error::InvalidGroup {
                first,
                n,
                max: MAX_RUN,
            });
        }
        if u64::from(first) + n as u64 >= u64::from(u32::MAX) {
            let path = self.storage.path().to_path_buf();
            return Err(Error::TooManyPages {
                path,
                pages: u64::from(first) + n as u64,
                max: u32::MAX - 1,
            });
        }
        // Free all frames first, then take them without awaiting: a cancelled call leaves only
        // free frames behind.
        self.make_room_for(n, &[]).await?;
        for id in first..first + n as PageId {
            let frame = self.take_free_frame()?;
            self.pages[frame as usize].format(id);
            self.table.insert(id, frame);
            self.lru.push_front(&mut *self.pages, frame);
        }
        self.page_count = first + n as PageId;
        Ok(first)
    }

    /// The `n` (1..=[`MAX_RUN`]) pages `first..first + n`, in order. Pages not in memory are read
    /// with one request per maximal run of missing pages, verified, and placed at the cold end of
    /// the LRU list (a scan does not push out the hot set; a later [`BufferPool::get`] of a page
    /// makes it hot). Pages already in memory are not read again and keep their place.
    ///
    /// The returned pages borrow the pool, like [`BufferPool::get_many`].
    ///
    /// # Errors
    /// [`Error::InvalidGroup`], [`Error::PageNotFound`] when the run passes the end of the file,
    /// [`Error::Corrupt`] for the first page that fails verification (pages before it stay
    /// cached), [`Error::PoolFull`], [`Error::Storage`].
    pub async fn get_group(&mut self, first: PageId, n: usize) -> Result<Vec<&mut Page>> {
        if n == 0 || n > MAX_RUN {
            return Err(Error::InvalidGroup {
                first,
                n,
                max: MAX_RUN,
            });
        }
        let end = u64::from(first) + n as u64;
        if end > u64::from(self.page_count) {
            let id = first.max(self.page_count);
            return Err(Error::PageNotFound {
                id,
                page_count: self.page_count,
            });
        }
        let mut frames: Vec<FrameId> = Vec::with_capacity(n);
        let mut i = 0;
        while i < n {
            let id = first + i as PageId;
            if let Some(&frame) = self.table.get(&id) {
                self.stats.hits += 1;
                frames.push(frame);
                i += 1;
                continue;
            }
            let mut run = 1;
            while i + run < n && !self.table.contains_key(&(id + run as PageId)) {
                run += 1;
            }
            self.make_room_for(run, &frames).await?;
            let buf = self.take_spare()?;
            let (res, buf) = self.storage.read_pages(id, run, buf).await;
            let loaded = self.install_run(id, run, res, &buf, &mut frames);
            self.put_spare(buf);
            loaded?;
            i += run;
        }
        Ok(disjoint_mut(&mut self.pages, &frames))
    }

    /// Brings the pages `ids` into memory without handing them out: missing pages are sorted,
    /// grouped into runs of contiguous ids (one request each) and read with up to
    /// [`PREFETCH_DEPTH`] requests in flight. They go in at the cold end of the LRU list, like
    /// [`BufferPool::get_group`]'s. Returns how many pages were read.
    ///
    /// When more pages are asked for than the pool can hold, they are read in batches that fit,
    /// and later batches evict earlier ones.
    ///
    /// # Errors
    /// [`Error::PageNotFound`] for an id past the end (before anything is read); otherwise the
    /// first error met ([`Error::Corrupt`], [`Error::Storage`]) after every other read finished
    /// and was installed.
    pub async fn prefetch(&mut self, ids: &[PageId]) -> Result<usize> {
        let mut missing: Vec<PageId> = Vec::with_capacity(ids.len());
        for &id in ids {
            self.check_id(id)?;
            if !self.table.contains_key(&id) {
                missing.push(id);
            }
        }
        missing.sort_unstable();
        missing.dedup();
        let runs: Vec<(PageId, usize)> = missing
            .chunk_by(|a, b| *b == *a + 1)
            .flat_map(|r| r.chunks(MAX_RUN))
            .map(|r| (r[0], r.len()))
            .collect();

        let usable = self.cap() - self.pinned_count();
        let mut loaded = 0;
        let mut first_error = None;
        let mut start = 0;
        while start < runs.len() {
            let mut end = start;
            let mut pages = 0;
            while end < runs.len() && pages + runs[end].1 <= usable {
                pages += runs[end].1;
                end += 1;
            }
            if end == start {
                return Err(Error::PoolFull {
                    cap: self.cap(),
                    pinned: self.pinned_count(),
                });
            }
            self.make_room_for(pages, &[]).await?;
            let (n, err) = self.read_runs(&runs[start..end]).await;
            loaded += n;
            first_error = first_error.or(err);
            start = end;
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(loaded),
        }
    }

    /// Reads `runs` with up to `PREFETCH_DEPTH` requests in flight, installing each as it
    /// completes (frames must already be free). Returns the pages installed and the first error.
    async fn read_runs(&mut self, runs: &[(PageId, usize)]) -> (usize, Option<Error>) {
        let mut in_flight = FuturesUnordered::new();
        let mut next = 0;
        let mut loaded = 0;
        let mut first_error = None;
        loop {
            while in_flight.len() < PREFETCH_DEPTH && next < runs.len() {
                let (first, n) = runs[next];
                next += 1;
                let buf = match self.take_io_buf(n) {
                    Ok(buf) => buf,
                    Err(e) => {
                        first_error = first_error.or(Some(e));
                        continue;
                    }
                };
                in_flight.push(read_run(Rc::clone(&self.storage), first, n, buf));
            }
            let Some((first, n, res, buf)) = in_flight.next().await else {
                break;
            };
            let mut frames = Vec::with_capacity(n);
            match self.install_run(first, n, res, &buf, &mut frames) {
                Ok(()) => loaded += n,
                Err(e) => {
                    loaded += frames.len();
                    first_error = first_error.or(Some(e));
                }
            }
            self.put_spare(buf);
        }
        (loaded, first_error)
    }

    /// Accounts for a completed read of `n` pages from `first` and installs them (cold), pushing
    /// their frames to `frames`; stops at the first page that fails verification.
    fn install_run(
        &mut self,
        first: PageId,
        n: usize,
        res: jdb_fs::Result<()>,
        buf: &AlignedBuf,
        frames: &mut Vec<FrameId>,
    ) -> Result<()> {
        self.stats.read_ios += 1;
        self.stats.misses += n as u64;
        if let Err(e) = res {
            self.stats.io_errors += 1;
            return Err(e.into());
        }
        for k in 0..n {
            let bytes = &buf[k * PAGE_SIZE..(k + 1) * PAGE_SIZE];
            frames.push(self.install_verified(first + k as PageId, bytes, true)?);
        }
        Ok(())
    }
}

/// One read of a run, owning everything it needs so it does not borrow the pool.
async fn read_run<S: Storage>(
    storage: Rc<S>,
    first: PageId,
    n: usize,
    buf: AlignedBuf,
) -> (PageId, usize, jdb_fs::Result<()>, AlignedBuf) {
    let (res, buf) = storage.read_pages(first, n, buf).await;
    (first, n, res, buf)
}

/// Mutable references to the pages of distinct `frames`, in the order of `frames`.
fn disjoint_mut<'a>(mut pages: &'a mut [Page], frames: &[FrameId]) -> Vec<&'a mut Page> {
    let mut order: Vec<usize> = (0..frames.len()).collect();
    order.sort_unstable_by_key(|&i| frames[i]);
    let mut slots: Vec<Option<&'a mut Page>> = (0..frames.len()).map(|_| None).collect();
    let mut base = 0usize;
    for i in order {
        let frame = frames[i] as usize;
        let rest = std::mem::take(&mut pages);
        // Frames are distinct, so each lies at or after `base`.
        let Some((page, tail)) = frame
            .checked_sub(base)
            .and_then(|offset| rest.get_mut(offset..))
            .and_then(|r| r.split_first_mut())
        else {
            break;
        };
        slots[i] = Some(page);
        pages = tail;
        base = frame + 1;
    }
    slots.into_iter().flatten().collect()
}
