//! Reads: one read per missing page however many tasks ask for it, page groups (after TreeLine,
//! VLDB 2022: runs of contiguous pages read with one request each), batched prefetch with many
//! reads in flight, and scan-resistant placement.
//!
//! A read reserves its frames first ([`BufferPool::make_room`]), maps the pages to them in state
//! *reading* (so other tasks asking for them wait instead of reading again), then lets go of the
//! pool while the request is in flight. A read whose future is dropped frees its frames and wakes
//! its waiters, one of which reads the page again.

use std::collections::VecDeque;

use futures_util::{StreamExt, stream::FuturesUnordered};
use jdb_alloc::{AlignedBuf, PAGE_SIZE};
use jdb_layout::PageId;

use crate::{
    BufferPool, Error, FrameId, PageMut, PageRef, Result, Storage,
    frames::Mode,
    guard::LatchWait,
    pool::{Core, MAX_RUN, Reservation},
};

/// Reads `prefetch` keeps in flight at once. The device here saturates around queue depth 32;
/// twice that hides the time between a completion and the next submission.
pub const PREFETCH_DEPTH: usize = 64;

impl<S: Storage> BufferPool<S> {
    /// Reads page `id` into the reserved frames of `room` (one) and installs it, latched for the
    /// caller in `mode` (hot: it was asked for). Counted as a miss.
    pub(crate) async fn read_into(
        &self,
        room: Reservation<'_>,
        id: PageId,
        mode: Mode,
    ) -> Result<FrameId> {
        let storage = self.storage_rc()?;
        let reading = Reading::begin(&self.core, vec![room], id);
        {
            let stats = &mut self.core.frames.borrow_mut().stats;
            stats.misses += 1;
            stats.read_ios += 1;
        }
        let buf = self.core.take_io_buf(1)?;
        let counted = ReadInFlight::new(&self.core);
        let (res, buf) = storage.read_pages(id, 1, buf).await;
        drop(counted);
        let installed = self
            .core
            .install_read(reading, res, &buf, false, Some(mode));
        self.core.put_spare(buf);
        installed.map(|frames| frames[0])
    }

    /// The `n` (1..=[`MAX_RUN`]) pages `first..first + n`, in order, held exclusively. Pages
    /// not in memory are read with one request per maximal run of missing pages, verified, and
    /// placed at the cold end of the eviction order (a scan does not push out the hot set; a
    /// later [`BufferPool::get`] of a page makes it hot). Pages already in memory are not read
    /// again and keep their place. Guards are taken in page order, so two tasks taking groups
    /// never deadlock on each other.
    ///
    /// # Errors
    /// [`Error::InvalidGroup`], [`Error::PageNotFound`] when the run passes the end of the file,
    /// [`Error::Corrupt`] for the first page that fails verification (pages before it stay
    /// cached), [`Error::PoolFull`], [`Error::Storage`], [`Error::Closed`].
    pub async fn get_group(&self, first: PageId, n: usize) -> Result<Vec<PageMut<'_>>> {
        let frames = self.group(first, n, Mode::Exclusive).await?;
        Ok(frames
            .into_iter()
            .map(|f| PageMut::new(&self.core, f))
            .collect())
    }

    /// [`BufferPool::get_group`] with shared guards: for scans, which other readers need not
    /// wait for.
    ///
    /// # Errors
    /// As [`BufferPool::get_group`].
    pub async fn read_group(&self, first: PageId, n: usize) -> Result<Vec<PageRef<'_>>> {
        let frames = self.group(first, n, Mode::Shared).await?;
        Ok(frames
            .into_iter()
            .map(|f| PageRef::new(&self.core, f))
            .collect())
    }

    /// The frames of pages `first..first + n`, latched in `mode`, in order.
    async fn group(&self, first: PageId, n: usize, mode: Mode) -> Result<Vec<FrameId>> {
        self.check_open()?;
        if n == 0 || n > MAX_RUN {
            return Err(Error::InvalidGroup {
                first,
                n,
                max: MAX_RUN,
            });
        }
        let page_count = self.page_count();
        if u64::from(first) + n as u64 > u64::from(page_count) {
            return Err(Error::PageNotFound {
                id: first.max(page_count),
                page_count,
            });
        }
        // Latched frames, released (by these guards) if a later page fails.
        let mut held = Held::new(&self.core, mode);
        // The group's pages in memory but not latched yet, kept from eviction while this call
        // makes room for the missing ones: it must not evict one of its own pages to load another
        // (and then read it again). Let go when the call returns, fails or is dropped.
        let mut kept = Kept::new(&self.core);
        let mut kept_pages = 0u32; // bit k: page `first + k` is kept
        while held.frames.len() < n {
            let id = first + held.frames.len() as PageId;
            let found = self.core.frames.borrow().lookup(id);
            if let Some(frame) = found {
                if LatchWait::new(&self.core, frame, id, mode, false)
                    .await
                    .is_ok()
                {
                    self.core.frames.borrow_mut().stats.hits += 1;
                    held.frames.push(frame);
                }
                continue;
            }
            // A run of missing pages: reserve its frames, then read what is still missing.
            let mut want = 1;
            {
                let frames = self.core.frames.borrow();
                while held.frames.len() + want < n && frames.lookup(id + want as PageId).is_none() {
                    want += 1;
                }
            }
            for k in held.frames.len() + want..n {
                if kept_pages & (1 << k) == 0 && kept.keep(first + k as PageId) {
                    kept_pages |= 1 << k;
                }
            }
            let mut rooms = self.make_room_for(want).await?;
            let missing = {
                let frames = self.core.frames.borrow();
                (0..want)
                    .take_while(|&k| frames.lookup(id + k as PageId).is_none())
                    .count()
            };
            if missing == 0 {
                continue;
            }
            rooms.truncate(missing);
            let reading = Reading::begin(&self.core, rooms, id);
            let loaded = self.read_run(reading, Some(mode)).await?;
            held.frames.extend(loaded);
        }
        Ok(held.take())
    }

    /// Reads the pages of `reading` with one request, installs them cold (latched in `latch`, if
    /// any) and returns their frames; stops at the first page that fails verification, keeping
    /// the ones before it.
    async fn read_run(&self, reading: Reading<'_>, latch: Option<Mode>) -> Result<Vec<FrameId>> {
        let storage = self.storage_rc()?;
        let (first, n) = (reading.first, reading.frames.len());
        {
            let stats = &mut self.core.frames.borrow_mut().stats;
            stats.misses += n as u64;
            stats.read_ios += 1;
        }
        let buf = self.core.take_io_buf(n)?;
        let counted = ReadInFlight::new(&self.core);
        let (res, buf) = storage.read_pages(first, n, buf).await;
        drop(counted);
        let installed = self.core.install_read(reading, res, &buf, true, latch);
        self.core.put_spare(buf);
        installed
    }

    /// Brings the pages `ids` into memory without handing them out: missing pages are sorted,
    /// grouped into runs of contiguous ids (one request each) and read with up to
    /// [`PREFETCH_DEPTH`] requests in flight. They go in at the cold end of the eviction order,
    /// like [`BufferPool::get_group`]'s. Returns how many pages were read.
    ///
    /// When the pages asked for fit in the pool, room is made by evicting other pages: those
    /// asked for that are in memory, and those read so far, stay until the call returns (unless
    /// pinned pages leave no other room). When more pages are asked for than the pool can hold,
    /// later runs evict earlier ones.
    ///
    /// # Errors
    /// [`Error::PageNotFound`] for an id past the end (before anything is read); otherwise the
    /// first error met ([`Error::Corrupt`], [`Error::Storage`], [`Error::PoolFull`]) after every
    /// other read in flight finished and was installed.
    pub async fn prefetch(&self, ids: &[PageId]) -> Result<usize> {
        self.check_open()?;
        let mut missing: Vec<PageId> = Vec::with_capacity(ids.len());
        let mut present: Vec<PageId> = Vec::new();
        {
            let frames = self.core.frames.borrow();
            for &id in ids {
                self.check_id(id)?;
                match frames.lookup(id) {
                    None => missing.push(id),
                    Some(_) => present.push(id),
                }
            }
        }
        missing.sort_unstable();
        missing.dedup();
        present.sort_unstable();
        present.dedup();
        // When everything asked for fits, the call's own pages are not victims of its reads.
        let mut kept = (present.len() + missing.len() <= self.cap()).then(|| {
            let mut kept = Kept::new(&self.core);
            for &id in &present {
                kept.keep(id);
            }
            kept
        });
        let mut runs: VecDeque<(PageId, usize)> = missing
            .chunk_by(|a, b| *b == *a + 1)
            .flat_map(|r| r.chunks(MAX_RUN))
            .map(|r| (r[0], r.len()))
            .collect();

        let mut in_flight = FuturesUnordered::new();
        let mut loaded = 0;
        let mut first_error: Option<Error> = None;
        loop {
            while in_flight.len() < PREFETCH_DEPTH && first_error.is_none() {
                let Some(&(first, n)) = runs.front() else {
                    break;
                };
                // With reads of its own in flight, the call must not wait for room (those
                // reads, which free it, are polled only by this loop).
                match self.reserve_run(first, n, in_flight.is_empty()).await {
                    Ok(Some((done, reading))) => {
                        match runs.front_mut() {
                            Some(run) if done < n => *run = (first + done as PageId, n - done),
                            _ => drop(runs.pop_front()),
                        }
                        if let Some(reading) = reading {
                            in_flight.push(self.read_run(reading, None));
                        }
                    }
                    Ok(None) => break,
                    // The pages kept take the room a read needs (the others are pinned): let
                    // them go, as when they do not all fit, and try again.
                    Err(Error::PoolFull { .. }) if kept.is_some() => kept = None,
                    Err(e) => first_error = Some(e),
                }
            }
            match in_flight.next().await {
                Some(Ok(frames)) => {
                    loaded += frames.len();
                    if let Some(kept) = &mut kept {
                        kept.keep_frames(&frames);
                    }
                }
                Some(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                None if runs.is_empty() || first_error.is_some() => break,
                None => {}
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(loaded),
        }
    }

    /// Reserves frames for the first stretch of still-missing pages of the run `first..first +
    /// n` (as many as are free or can be freed now; at least one when `may_wait`, waiting if it
    /// must) and maps those pages to them, being read: from now on other tasks asking for them
    /// wait for this read. Returns how many pages of the run are dealt with (read by this call
    /// or present) and the read to do, if any. `None` when no frame could be had without waiting
    /// and `!may_wait`.
    async fn reserve_run(
        &self,
        first: PageId,
        n: usize,
        may_wait: bool,
    ) -> Result<Option<(usize, Option<Reading<'_>>)>> {
        let missing = |k: usize| {
            self.core
                .frames
                .borrow()
                .lookup(first + k as PageId)
                .is_none()
        };
        let Some(start) = (0..n).find(|&k| missing(k)) else {
            return Ok(Some((n, None)));
        };
        let mut rooms = Vec::with_capacity(n - start);
        while start + rooms.len() < n && missing(start + rooms.len()) {
            match self.try_make_room(may_wait && rooms.is_empty()).await? {
                Some(room) => rooms.push(room),
                None => break,
            }
        }
        if rooms.is_empty() {
            return Ok(None);
        }
        // Pages read by other calls while this one made room are not read again.
        let still = (start..start + rooms.len())
            .take_while(|&k| missing(k))
            .count();
        rooms.truncate(still);
        if rooms.is_empty() {
            return Ok(Some((start, None)));
        }
        let reading = Reading::begin(&self.core, rooms, first + start as PageId);
        Ok(Some((start + still, Some(reading))))
    }

    /// Allocates `n` (1..=[`MAX_RUN`]) new pages with contiguous ids and returns the first id.
    /// Each is an empty data page, dirty; flushed together they go out as one write.
    ///
    /// # Errors
    /// [`Error::InvalidGroup`], [`Error::PoolFull`] when fewer than `n` frames can be freed,
    /// [`Error::TooManyPages`], a failed write-back, [`Error::Closed`].
    pub async fn alloc_group(&self, n: usize) -> Result<PageId> {
        self.check_open()?;
        if n == 0 || n > MAX_RUN {
            return Err(Error::InvalidGroup {
                first: self.page_count(),
                n,
                max: MAX_RUN,
            });
        }
        self.check_new_pages(n)?;
        // Reserve every frame first, then take the ids without awaiting: a cancelled call
        // leaves only free frames behind.
        let rooms = self.make_room_for(n).await?;
        self.check_new_pages(n)?;
        let first = self.page_count();
        self.core.page_count.set(first + n as PageId);
        for (k, room) in rooms.into_iter().enumerate() {
            let frame = self.core.install_new(room, first + k as PageId);
            self.core.frames.borrow_mut().wake_installed(frame);
        }
        Ok(first)
    }
}

/// Frames latched by a group call so far; released if the call fails or is dropped.
struct Held<'a> {
    core: &'a Core,
    mode: Mode,
    frames: Vec<FrameId>,
}

impl<'a> Held<'a> {
    fn new(core: &'a Core, mode: Mode) -> Self {
        Self {
            core,
            mode,
            frames: Vec::new(),
        }
    }

    fn take(mut self) -> Vec<FrameId> {
        std::mem::take(&mut self.frames)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut frames = self.core.frames.borrow_mut();
        for &f in &self.frames {
            frames.release(f, self.mode);
        }
    }
}

/// Frames kept from eviction by a call ([`Frames::keep`](crate::frames::Frames::keep)) until it
/// returns, fails or is dropped.
struct Kept<'a> {
    core: &'a Core,
    frames: Vec<FrameId>,
}

impl<'a> Kept<'a> {
    fn new(core: &'a Core) -> Self {
        Self {
            core,
            frames: Vec::new(),
        }
    }

    /// Keeps page `id` if it is in memory; whether it did. The caller keeps each page once.
    fn keep(&mut self, id: PageId) -> bool {
        let mut frames = self.core.frames.borrow_mut();
        match frames.lookup(id) {
            Some(f) if frames.keep(f) => {
                self.frames.push(f);
                true
            }
            _ => false,
        }
    }

    /// Keeps `installed`, frames this call has just installed (resident, not kept by it yet).
    fn keep_frames(&mut self, installed: &[FrameId]) {
        let mut frames = self.core.frames.borrow_mut();
        for &f in installed {
            if frames.keep(f) {
                self.frames.push(f);
            }
        }
    }
}

impl Drop for Kept<'_> {
    fn drop(&mut self) {
        let mut frames = self.core.frames.borrow_mut();
        for &f in &self.frames {
            frames.unkeep(f);
        }
    }
}

/// Frames mapped to pages `first..` and being read into; if the read is dropped or fails before
/// they are installed, they are freed and their waiters look again.
pub(crate) struct Reading<'a> {
    core: &'a Core,
    first: PageId,
    frames: Vec<FrameId>,
    /// Frames `..installed` were installed (or freed): not this guard's any more.
    installed: usize,
}

impl<'a> Reading<'a> {
    fn begin(core: &'a Core, rooms: Vec<Reservation<'a>>, first: PageId) -> Self {
        let mut frames = core.frames.borrow_mut();
        let list: Vec<FrameId> = rooms
            .into_iter()
            .enumerate()
            .map(|(k, room)| {
                let f = room.into_frame();
                frames.begin_read(f, first + k as PageId);
                f
            })
            .collect();
        Self {
            core,
            first,
            frames: list,
            installed: 0,
        }
    }
}

/// Counts one read request in [`Core::reads_in_flight`] while it lives (from just before the
/// request is submitted until it completes or its call is dropped).
struct ReadInFlight<'a>(&'a Core);

impl<'a> ReadInFlight<'a> {
    fn new(core: &'a Core) -> Self {
        core.reads_in_flight.set(core.reads_in_flight.get() + 1);
        Self(core)
    }
}

impl Drop for ReadInFlight<'_> {
    fn drop(&mut self) {
        self.0.reads_in_flight.set(self.0.reads_in_flight.get() - 1);
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        let mut frames = self.core.frames.borrow_mut();
        for &f in &self.frames[self.installed..] {
            frames.end_read_failed(f);
        }
    }
}

impl Core {
    /// Accounts for a completed read into `reading`'s frames and installs its pages in order
    /// (at the cold end when `cold`; latched in `latch`), stopping at the first page that fails
    /// verification: the pages before it stay cached (unlatched), the rest are freed. Returns
    /// the installed frames.
    fn install_read(
        &self,
        mut reading: Reading<'_>,
        res: jdb_fs::Result<()>,
        buf: &AlignedBuf,
        cold: bool,
        latch: Option<Mode>,
    ) -> Result<Vec<FrameId>> {
        {
            let mut frames = self.frames.borrow_mut();
            if let Err(e) = res {
                frames.stats.io_errors += 1;
                return Err(e.into());
            }
        }
        let mut installed = Vec::with_capacity(reading.frames.len());
        for (k, &frame) in reading.frames.iter().enumerate() {
            let id = reading.first + k as PageId;
            let bytes = &buf[k * PAGE_SIZE..(k + 1) * PAGE_SIZE];
            if let Err(source) = jdb_layout::verify(bytes, id) {
                let mut frames = self.frames.borrow_mut();
                frames.stats.checksum_failures += 1;
                if let Some(mode) = latch {
                    for &f in &installed {
                        frames.release(f, mode);
                    }
                }
                return Err(Error::Corrupt {
                    path: self.path.clone(),
                    page: id,
                    source,
                });
            }
            // SAFETY: a frame being read has no guard (latches are granted only on resident
            // frames) and no other reference to its page.
            unsafe { self.page_mut(frame) }.install(id, bytes);
            if let Some(wal) = self.wal.get() {
                wal.reset(frame);
            }
            let mut frames = self.frames.borrow_mut();
            frames.install(frame, id, cold);
            frames.stats.pages_read += 1;
            match latch {
                Some(mode) => frames.latch_installed(frame, mode),
                None => frames.wake_installed(frame),
            }
            reading.installed = k + 1;
            installed.push(frame);
        }
        Ok(installed)
    }
}
