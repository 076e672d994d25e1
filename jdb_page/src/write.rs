//! Writing pages: coalesced runs, the writes in flight, `flush_page`, `flush_all`, `sync`,
//! `close`, cleaning a victim, and poisoning.
//!
//! Two rules keep what is on disk right, however tasks interleave and whichever futures are
//! dropped:
//!
//! - **At most one write of a page is in flight.** A write's buffer carries a guard that marks
//!   its frames *writing* until the kernel is done with it (compio keeps a dropped call's buffer
//!   until then), and nothing writes, evicts or re-reads a page while it is writing. io_uring does
//!   not order independent requests, so two writes of one page in flight could land in either
//!   order.
//! - **A page is marked clean only by the write that copied it, and only if it did not change
//!   since the copy.** The copy records the page's change generation; a completed write cleans
//!   the page only if the generation is the same. So a page changed during its write, a failed
//!   write and a dropped write all leave the page dirty.
//!
//! Pages are copied into the write buffer (and sealed there) under no latch and without an
//! `.await` between checking that no guard holds the page exclusively and finishing the copy:
//! readers may keep reading while it is written, and a writer may change it as soon as it is
//! copied.

use std::{
    cell::RefCell,
    collections::VecDeque,
    future::{Future, poll_fn},
    ops::Deref,
    rc::Rc,
    task::{Poll, Waker},
};

use compio::buf::IoBuf;
use futures_util::{StreamExt, stream::FuturesUnordered};
use jdb_alloc::AlignedBuf;
use jdb_layout::PageId;

use crate::{
    BufferPool, Error, FrameId, PageRef, Result, Storage,
    doublewrite::SlotLease,
    frames::Mode,
    guard::LatchWait,
    pool::{Core, MAX_RUN},
};

/// Writes `flush_all` and `sync` keep in flight. Two let the next run be copied and sealed while
/// the device writes the previous one; at one, the device sat idle for that CPU time on every run.
pub const FLUSH_DEPTH: usize = 2;

/// Writes `flush_all` and `sync` keep in flight when the pool has a doublewrite area: each run
/// waits for an `fdatasync` of the area before its home write, and the runs staged meanwhile
/// share it, so more in flight means fewer syncs per page.
pub const DOUBLEWRITE_FLUSH_DEPTH: usize = 16;

/// How long a flush waits for a page held exclusively before it logs a warning.
const LONG_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl<S: Storage> BufferPool<S> {
    /// Writes page `id` if it is in memory and dirty, and marks it clean (unless it changed
    /// during the write). A page not in memory has nothing to write. Waits for a guard that
    /// holds the page exclusively to be dropped, and for a write of it already in flight.
    ///
    /// # Errors
    /// [`Error::PageNotFound`] for an id past the end; [`Error::Storage`] when the write fails
    /// (the page stays dirty); [`Error::Poisoned`], [`Error::Closed`].
    pub async fn flush_page(&self, id: PageId) -> Result<()> {
        self.check_open()?;
        self.check_id(id)?;
        let frame = self.core.frames.borrow().lookup(id);
        match frame {
            Some(frame) => self.flush_pages(vec![(id, frame)]).await,
            None => Ok(()),
        }
    }

    /// Writes every dirty page and marks it clean: runs of contiguous page ids go out as one
    /// request each (at most `MAX_RUN` pages), in page order, [`FLUSH_DEPTH`] at a time
    /// ([`DOUBLEWRITE_FLUSH_DEPTH`] with a doublewrite area). Covers
    /// every change made through a guard dropped before the call; waits for guards that hold a
    /// dirty page exclusively (so do not call it while holding a `PageMut` of a dirty page:
    /// it would wait for itself).
    ///
    /// # Errors
    /// The first failed write ([`Error::Storage`]), once the other write in flight has
    /// finished; the failed run's pages and every page not yet written stay dirty, so a later
    /// flush can finish the job. [`Error::Poisoned`], [`Error::Closed`].
    pub async fn flush_all(&self) -> Result<()> {
        self.check_open()?;
        self.check_poisoned()?;
        let targets = {
            let frames = self.core.frames.borrow();
            frames.unwritten(|f| self.core.writes.is_writing(f))
        };
        self.flush_pages(targets).await
    }

    /// Flushes every dirty page, then makes the file durable (`fdatasync`). When it returns
    /// `Ok`, a reopen (even after a crash) sees every change made through a guard dropped before
    /// the call (and perhaps later ones).
    ///
    /// # Errors
    /// As [`BufferPool::flush_all`], or the failed `fdatasync`. A failed `fdatasync` poisons the
    /// pool: on Linux it may already have dropped the data it could not write, so every later
    /// write and sync fails with [`Error::Poisoned`] until the file is reopened. A failed page
    /// write does not poison: the page stays dirty in memory and a later sync writes it.
    pub async fn sync(&self) -> Result<()> {
        // flush_all also waits for every write in flight, its own and those of dropped calls.
        self.flush_all().await?;
        self.sync_file().await
    }

    /// `fdatasync`, poisoning the pool if it fails.
    pub(crate) async fn sync_file(&self) -> Result<()> {
        let storage = self.storage_rc()?;
        if let Err(e) = storage.sync().await {
            self.poison(&e);
            return Err(e.into());
        }
        self.core.frames.borrow_mut().stats.syncs += 1;
        Ok(())
    }

    /// Syncs, then closes the pool: every later call fails with [`Error::Closed`] and the file
    /// is released (its lock too, once no guard or call holds the pool's storage). Changes made
    /// through guards still held, or after the call, are not covered. On error the pool stays
    /// open (and nothing is lost unless the error poisoned it).
    ///
    /// # Errors
    /// As [`BufferPool::sync`].
    pub async fn close(&self) -> Result<()> {
        self.sync().await?;
        self.core.closed.set(true);
        self.core.hot.table.close_hits();
        drop(self.storage.borrow_mut().take());
        Ok(())
    }

    /// Writes each of `targets` (resident pages, in page order) unless it is clean with no write
    /// in flight or no longer in memory, keeping [`FLUSH_DEPTH`] writes in flight
    /// ([`DOUBLEWRITE_FLUSH_DEPTH`] with a doublewrite area); returns the first error once the
    /// writes in flight are done.
    pub(crate) async fn flush_pages(&self, targets: Vec<(PageId, FrameId)>) -> Result<()> {
        let depth = if self.doublewrite.is_some() {
            DOUBLEWRITE_FLUSH_DEPTH
        } else {
            FLUSH_DEPTH
        };
        match self.write_pages_of(targets, true, || depth).await {
            (_, Some(e)) => Err(e),
            (_, None) => Ok(()),
        }
    }

    /// Writes `targets` as `flush_pages` does, in their order, keeping up to `depth()` writes
    /// (runs) in flight (asked again before each new write; at least one is always allowed);
    /// with `wait == false`, pages held exclusively or with a write in flight are skipped
    /// instead of waited for. Returns the pages written and the first error.
    pub(crate) async fn write_pages_of(
        &self,
        targets: Vec<(PageId, FrameId)>,
        wait: bool,
        depth: impl Fn() -> usize,
    ) -> (usize, Option<Error>) {
        let mut written = 0;
        let mut pending: VecDeque<(PageId, FrameId)> = targets.into();
        let mut in_flight = FuturesUnordered::new();
        let mut first_error = None;
        loop {
            while in_flight.len() < depth().max(1) && first_error.is_none() {
                match self.next_run(&mut pending) {
                    // Copied now, in the step that found the run writable: `FuturesUnordered`
                    // may yield before it first polls a pushed future, and by then another
                    // task could have latched or started writing these pages.
                    Some(run) => match self.copy_for_write(&run) {
                        Ok(copy) => in_flight.push(async move {
                            let n = run.len();
                            self.write_copy(&run, copy).await.map(|()| n)
                        }),
                        Err(e) => drop(first_error.get_or_insert(e)),
                    },
                    // Not waiting: skip a blocked page now rather than once the writes in
                    // flight have drained.
                    None if !wait && !pending.is_empty() => drop(pending.pop_front()),
                    None => break,
                }
            }
            if let Some(res) = in_flight.next().await {
                match res {
                    Ok(n) => written += n,
                    Err(e) => drop(first_error.get_or_insert(e)),
                }
                continue;
            }
            if first_error.is_some() {
                break;
            }
            let Some(&(id, frame)) = pending.front() else {
                break;
            };
            if wait {
                // Nothing in flight and the next page is blocked: wait for it.
                self.wait_writable(id, frame).await;
            } else {
                pending.pop_front();
            }
        }
        (written, first_error)
    }

    /// Takes the next run of pages that can be written now off the front of `pending` (dropping
    /// those with nothing to write). `None` when `pending` is empty or its front is blocked (held
    /// exclusively, or a write of it in flight).
    fn next_run(
        &self,
        pending: &mut VecDeque<(PageId, FrameId)>,
    ) -> Option<Vec<(PageId, FrameId)>> {
        let mut run: Vec<(PageId, FrameId)> = Vec::new();
        while let Some(&(id, frame)) = pending.front() {
            match self.status(id, frame) {
                Status::Done if run.is_empty() => {
                    pending.pop_front();
                }
                Status::Writable
                    if run.is_empty()
                        || (run.len() < MAX_RUN
                            && run[run.len() - 1].0.checked_add(1) == Some(id)) =>
                {
                    run.push((id, frame));
                    pending.pop_front();
                }
                _ => break,
            }
        }
        (!run.is_empty()).then_some(run)
    }

    fn status(&self, id: PageId, frame: FrameId) -> Status {
        let frames = self.core.frames.borrow();
        if !frames.holds(frame, id) {
            // Evicted (so written: only clean pages are evicted) or never read.
            return Status::Done;
        }
        if self.core.writes.is_writing(frame) {
            return Status::Blocked;
        }
        if !self.core.arena.flags(frame).is_dirty() {
            return Status::Done;
        }
        if frames.readable(frame, id) {
            Status::Writable
        } else {
            Status::Blocked
        }
    }

    /// Waits until page `id` in `frame` may be writable: its write in flight is done, or the
    /// guard holding it exclusively is dropped.
    async fn wait_writable(&self, id: PageId, frame: FrameId) {
        if self.core.writes.is_writing(frame) {
            self.core.writes.done(frame).await;
            return;
        }
        // Held exclusively: queue for a shared latch (fair: behind waiting writers) and let go.
        // A task that holds a `PageMut` of a dirty page and syncs waits for itself: say so if
        // the wait goes on.
        let mut wait = std::pin::pin!(LatchWait::new(&self.core, frame, id, Mode::Shared, false));
        let latched = match compio::time::timeout(LONG_WAIT, wait.as_mut()).await {
            Ok(latched) => latched,
            Err(_) => {
                log::warn!(
                    "{}: a flush or sync has waited {} s for page {id}, held by a PageMut; a task \
                     that holds a PageMut of a dirty page while it flushes or syncs waits forever",
                    self.path.display(),
                    LONG_WAIT.as_secs()
                );
                wait.await
            }
        };
        if latched.is_ok() {
            drop(PageRef::new(&self.core, frame));
        }
    }

    /// Seals and writes the pages of `run` (contiguous ids, ascending, at most `MAX_RUN`, each
    /// writable: resident, dirty, not held exclusively, no write in flight) with one request.
    pub(crate) async fn write_run(&self, run: &[(PageId, FrameId)]) -> Result<()> {
        let copy = self.copy_for_write(run)?;
        self.write_copy(run, copy).await
    }

    /// The first, synchronous half of [`BufferPool::write_run`]: seals the pages of `run` into
    /// a buffer and marks their frames writing. Call it in the same step (no `.await` between)
    /// as the check that the run is writable.
    fn copy_for_write(&self, run: &[(PageId, FrameId)]) -> Result<RunCopy<S>> {
        self.check_poisoned()?;
        let storage = self.storage_rc()?;
        let (buf, seen) = self.core.copy_run(run)?;
        Ok(RunCopy { storage, buf, seen })
    }

    /// The second half of [`BufferPool::write_run`]: makes the log (and the doublewrite copy)
    /// durable as needed, writes `copy` home and marks the pages clean. Dropping it before the
    /// write completes leaves the pages dirty.
    async fn write_copy(&self, run: &[(PageId, FrameId)], copy: RunCopy<S>) -> Result<()> {
        let RunCopy { storage, buf, seen } = copy;
        let mut buf = Some(buf);
        if let Err(e) = self.before_home_write(&mut buf).await {
            // Not written: the pages stay dirty (with their recLSNs).
            if let Some(wal) = self.core.wal.get() {
                for &(_, frame) in run {
                    wal.written(frame, false, self.core.arena.flags(frame));
                }
            }
            return Err(e);
        }
        let buf = buf.unwrap_or_else(|| unreachable!("staged runs come back"));
        self.core.frames.borrow_mut().stats.write_ios += 1;
        let (res, buf) = storage.write_pages(run[0].0, buf).await;
        if res.is_ok() {
            self.home_written(run);
        }
        let result = self.core.finish_write(run, &seen, res);
        // The frames stop being "writing" here, after they were marked clean.
        self.core.put_spare(buf.into_inner());
        result
    }

    /// What must be durable before a run's home write: the log up to the run's highest LSN (the
    /// write-ahead rule), then the run's copy in the doublewrite area, if the pool has them.
    async fn before_home_write(&self, buf: &mut Option<TrackedBuf>) -> Result<()> {
        if let (Some(wal), Some(pages)) = (self.core.wal.get(), buf.as_ref()) {
            wal.before_write(pages, &self.path).await?;
        }
        self.stage(buf).await
    }

    /// Makes victim `frame` clean: waits for its write in flight, or writes it back with the
    /// dirty pages around it (one request). Other tasks go on meanwhile. Either way the miss
    /// waited for a write-back (`writeback_waits`).
    pub(crate) async fn clean_victim(&self, frame: FrameId) -> Result<()> {
        if self.core.writes.is_writing(frame) {
            // The background writer's write (or another miss's) is not done yet: as long a
            // wait as writing it here, so it counts the same.
            self.core.frames.borrow_mut().stats.writeback_waits += 1;
            self.core.writes.done(frame).await;
            return Ok(());
        }
        let run = self.core.dirty_run_around(frame);
        if run.is_empty() {
            return Ok(());
        }
        // A miss waits for a write-back: the background writer, if any, is behind.
        if let Some(signal) = self.core.bg.borrow().as_ref() {
            signal.want();
        }
        self.core.frames.borrow_mut().stats.writeback_waits += 1;
        self.write_run(&run).await?;
        self.core.frames.borrow_mut().stats.dirty_writebacks += run.len() as u64;
        Ok(())
    }

    /// `Err(Poisoned)` once a sync has failed: checked before every write and sync.
    pub(crate) fn check_poisoned(&self) -> Result<()> {
        match &*self.core.poisoned.borrow() {
            None => Ok(()),
            Some(poison) => Err(Error::Poisoned {
                path: self.path.clone(),
                first: poison.first.clone(),
                os_error: poison.os_error,
            }),
        }
    }

    /// Records a failed `fdatasync`: the pool is poisoned from now on.
    fn poison(&self, failure: &jdb_fs::Error) {
        self.core
            .poisoned
            .borrow_mut()
            .get_or_insert_with(|| Poison {
                first: failure.to_string(),
                os_error: failure.raw_os_error(),
            });
    }

    /// Whether a failed sync has poisoned the pool ([`Error::Poisoned`]).
    pub fn is_poisoned(&self) -> bool {
        self.core.poisoned.borrow().is_some()
    }
}

/// A run sealed into its write buffer (its frames marked writing), not yet written.
struct RunCopy<S> {
    storage: Rc<S>,
    buf: TrackedBuf,
    /// Each page's flags as copied.
    seen: [u64; MAX_RUN],
}

/// Where a page stands for a flush.
enum Status {
    /// Nothing to write: clean with no write in flight, or no longer in memory.
    Done,
    /// Can be copied and written now.
    Writable,
    /// Held exclusively by a guard, or a write of it is in flight.
    Blocked,
}

/// What poisoned a pool: the first failed `fdatasync`, as reported.
#[derive(Debug, Clone)]
pub(crate) struct Poison {
    first: String,
    os_error: Option<i32>,
}

impl Core {
    /// Copies the pages of `run` into a spare buffer, sealed, and marks their frames writing.
    /// Returns the buffer and each page's flags as copied.
    fn copy_run(&self, run: &[(PageId, FrameId)]) -> Result<(TrackedBuf, [u64; MAX_RUN])> {
        debug_assert!(!run.is_empty() && run.len() <= MAX_RUN);
        debug_assert!(run.windows(2).all(|w| w[1].0 == w[0].0 + 1));
        let mut buf = self.take_io_buf(MAX_RUN)?;
        buf.clear();
        let mut seen = [0u64; MAX_RUN];
        let mut frames = [0 as FrameId; MAX_RUN];
        for (i, &(id, frame)) in run.iter().enumerate() {
            debug_assert!(self.frames.borrow().readable(frame, id));
            debug_assert!(!self.writes.is_writing(frame));
            seen[i] = self.arena.flags(frame).get();
            // SAFETY: the frame is not latched exclusively (`readable`, checked by the caller in
            // the same synchronous step), so no `PageMut` of it exists; this reference ends
            // before any await.
            let copied = unsafe { self.page(frame) }.copy_sealed_into(&mut buf);
            if let Err(e) = copied {
                self.put_spare(buf);
                return Err(e);
            }
            frames[i] = frame;
        }
        Ok((self.writes.track(buf, &frames[..run.len()]), seen))
    }

    /// Accounts for a completed write of `run`; on success marks its pages clean (those that did
    /// not change since they were copied).
    fn finish_write(
        &self,
        run: &[(PageId, FrameId)],
        seen: &[u64; MAX_RUN],
        res: jdb_fs::Result<()>,
    ) -> Result<()> {
        let mut frames = self.frames.borrow_mut();
        let wal = self.wal.get();
        if let Err(e) = res {
            frames.stats.io_errors += 1;
            for &(_, frame) in run {
                if let Some(wal) = wal {
                    wal.written(frame, false, self.arena.flags(frame));
                }
            }
            return Err(e.into());
        }
        for (i, &(id, frame)) in run.iter().enumerate() {
            if frames.page_of(frame) == Some(id) {
                let flags = self.arena.flags(frame);
                flags.clean_if_unchanged(seen[i]);
                if let Some(wal) = wal {
                    wal.written(frame, true, flags);
                }
            }
        }
        frames.stats.pages_written += run.len() as u64;
        Ok(())
    }

    /// The run of resident dirty pages that can be written now, with contiguous ids around
    /// `frame`'s page (at most `MAX_RUN`, the victim included), in page order; empty if the
    /// victim itself is clean.
    pub(crate) fn dirty_run_around(&self, frame: FrameId) -> Vec<(PageId, FrameId)> {
        let frames = self.frames.borrow();
        let Some(id) = frames.page_of(frame) else {
            return Vec::new();
        };
        let writable = |id: PageId| {
            frames.lookup(id).filter(|&f| {
                frames.readable(f, id)
                    && self.arena.flags(f).is_dirty()
                    && !self.writes.is_writing(f)
            })
        };
        if writable(id).is_none() {
            return Vec::new();
        }
        let mut first = id;
        while first > 0 && (id - first + 1) < MAX_RUN as PageId / 2 && writable(first - 1).is_some()
        {
            first -= 1;
        }
        let mut run = Vec::with_capacity(MAX_RUN);
        let mut next = first;
        while run.len() < MAX_RUN {
            match writable(next) {
                Some(f) => run.push((next, f)),
                None => break,
            }
            match next.checked_add(1) {
                Some(n) => next = n,
                None => break,
            }
        }
        run
    }
}

/// Which frames have a write in flight, shared with the buffers of those writes (which may
/// outlive the pool, in the runtime, after their futures are dropped).
#[derive(Default)]
pub(crate) struct WriteTracker(RefCell<Writing>);

#[derive(Default)]
struct Writing {
    /// One bit per frame.
    bits: Vec<u64>,
    in_flight: usize,
    /// Tasks waiting for a write to complete; all are woken at every completion.
    waiters: Vec<Waker>,
}

impl WriteTracker {
    pub(crate) fn new(cap: usize) -> Rc<Self> {
        Rc::new(Self(RefCell::new(Writing {
            bits: vec![0; cap.div_ceil(64)],
            ..Writing::default()
        })))
    }

    /// Whether a write of `frame` is in flight.
    #[inline]
    pub(crate) fn is_writing(&self, frame: FrameId) -> bool {
        let w = self.0.borrow();
        w.bits[frame as usize / 64] & (1 << (frame % 64)) != 0
    }

    /// Writes whose buffer has not come back or been dropped.
    pub(crate) fn in_flight(&self) -> usize {
        self.0.borrow().in_flight
    }

    /// Marks `frames` writing until the returned buffer is unwrapped or dropped.
    fn track(self: &Rc<Self>, buf: AlignedBuf, frames: &[FrameId]) -> TrackedBuf {
        let mut w = self.0.borrow_mut();
        let mut list = [0 as FrameId; MAX_RUN];
        for (slot, &f) in list.iter_mut().zip(frames) {
            debug_assert_eq!(w.bits[f as usize / 64] & (1 << (f % 64)), 0);
            w.bits[f as usize / 64] |= 1 << (f % 64);
            *slot = f;
        }
        w.in_flight += 1;
        TrackedBuf {
            buf,
            _guard: Some(InFlight {
                tracker: Rc::clone(self),
                frames: list,
                len: frames.len() as u8,
            }),
            _lease: None,
        }
    }

    /// Waits until no write of `frame` is in flight.
    pub(crate) fn done(&self, frame: FrameId) -> impl Future<Output = ()> + '_ {
        poll_fn(move |cx| {
            if !self.is_writing(frame) {
                return Poll::Ready(());
            }
            let mut w = self.0.borrow_mut();
            if !w.waiters.iter().any(|x| x.will_wake(cx.waker())) {
                w.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
    }
}

/// Travels with a write's buffer; clears its frames' writing bits when dropped.
struct InFlight {
    tracker: Rc<WriteTracker>,
    frames: [FrameId; MAX_RUN],
    len: u8,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let waiters = {
            let mut w = self.tracker.0.borrow_mut();
            for &f in &self.frames[..self.len as usize] {
                w.bits[f as usize / 64] &= !(1 << (f % 64));
            }
            w.in_flight -= 1;
            std::mem::take(&mut w.waiters)
        };
        for waker in waiters {
            waker.wake();
        }
    }
}

/// A write buffer the pool tracks until the kernel is done with it: an [`AlignedBuf`] (reachable
/// through `Deref`) and a guard. [`crate::Storage`] implementations write its bytes and hand it
/// back.
pub struct TrackedBuf {
    buf: AlignedBuf,
    _guard: Option<InFlight>,
    /// The doublewrite slots holding this run's copy, kept until the kernel is done with it.
    _lease: Option<SlotLease>,
}

impl TrackedBuf {
    /// A buffer no pool counts: for storages that wrap others and write buffers of their own.
    pub fn new(buf: AlignedBuf) -> Self {
        Self {
            buf,
            _guard: None,
            _lease: None,
        }
    }

    /// Keeps `lease` (the run's doublewrite slots) until this buffer is dropped.
    pub(crate) fn hold(&mut self, lease: SlotLease) {
        self._lease = Some(lease);
    }

    /// The bytes, writable: the doublewrite area stamps its copies' sequence numbers here.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// The buffer, no longer counted in flight.
    pub fn into_inner(self) -> AlignedBuf {
        let Self { buf, .. } = self;
        buf
    }
}

impl Deref for TrackedBuf {
    type Target = AlignedBuf;

    fn deref(&self) -> &AlignedBuf {
        &self.buf
    }
}

impl std::fmt::Debug for TrackedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackedBuf")
            .field("len", &self.buf.len())
            .field("tracked", &self._guard.is_some())
            .finish()
    }
}

// SAFETY: every method forwards to the inner `AlignedBuf`, whose heap memory (valid for
// `buf_capacity()` bytes, `buf_len()` of them initialised) does not move when the `TrackedBuf`
// moves, and is freed only when the `TrackedBuf` is dropped.
unsafe impl IoBuf for TrackedBuf {
    fn as_buf_ptr(&self) -> *const u8 {
        self.buf.as_buf_ptr()
    }

    fn buf_len(&self) -> usize {
        self.buf.buf_len()
    }

    fn buf_capacity(&self) -> usize {
        self.buf.buf_capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_writing_until_the_buffer_comes_back_or_is_dropped() {
        let writes = WriteTracker::new(130);
        let a = writes.track(AlignedBuf::page().unwrap(), &[3, 129]);
        let b = writes.track(AlignedBuf::page().unwrap(), &[64]);
        assert!(writes.is_writing(3) && writes.is_writing(129) && writes.is_writing(64));
        assert!(!writes.is_writing(4));
        assert_eq!(writes.in_flight(), 2);
        let page = a.into_inner();
        assert_eq!(page.len(), 4096);
        assert!(!writes.is_writing(3) && !writes.is_writing(129));
        drop(b);
        assert!(!writes.is_writing(64));
        assert_eq!(writes.in_flight(), 0);
    }
}
