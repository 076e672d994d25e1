//! Making room: victim choice in exact LRU order over unpinned pages, and dirty write-back.

use jdb_layout::PageId;

use crate::{BufferPool, Error, Result, Storage, lru::FrameId, pool::MAX_RUN};

impl<S: Storage> BufferPool<S> {
    /// Frees frames until at least one is free; see [`BufferPool::make_room_for`].
    pub(crate) async fn make_room(&mut self, protect: &[FrameId]) -> Result<()> {
        self.make_room_for(1, protect).await
    }

    /// Frees frames until at least `needed` are free, never evicting a pinned page or a frame in
    /// `protect`. A dirty victim is written back (with its contiguous dirty neighbours, one
    /// request) before its frame is reused; if that write fails, the victim stays dirty and
    /// resident and the error is returned.
    ///
    /// Cancel-safe: each step leaves the pool consistent, and a victim is only marked clean and
    /// dropped after its write completed.
    pub(crate) async fn make_room_for(&mut self, needed: usize, protect: &[FrameId]) -> Result<()> {
        while self.free.len() < needed {
            let victim = self.pick_victim(protect)?;
            if self.pages[victim as usize].is_dirty() {
                let run = self.dirty_run_around(victim);
                let written = run.len() as u64;
                self.write_run(&run).await?;
                self.stats.dirty_writebacks += written;
            }
            self.evict(victim);
        }
        Ok(())
    }

    /// The least recently used unpinned frame not in `protect`.
    ///
    /// Pages found pinned at the LRU end are moved to `parked` (they are older than every page in
    /// the LRU list), so each pinned page is stepped over once, not on every eviction.
    fn pick_victim(&mut self, protect: &[FrameId]) -> Result<FrameId> {
        let pages = &self.pages;
        if let Some(&frame) = self
            .parked
            .iter()
            .find(|&&f| !pages[f as usize].is_pinned() && !protect.contains(&f))
        {
            return Ok(frame);
        }
        let mut at = self.lru.back();
        while let Some(frame) = at {
            at = self.lru.more_recent(&*self.pages, frame);
            if self.pages[frame as usize].is_pinned() {
                self.lru.remove(&mut *self.pages, frame);
                self.parked.push(frame);
            } else if !protect.contains(&frame) {
                return Ok(frame);
            }
        }
        Err(Error::PoolFull {
            cap: self.cap(),
            pinned: self.pinned_count(),
        })
    }

    /// Drops the (clean, unpinned) page in `frame` from memory.
    fn evict(&mut self, frame: FrameId) {
        let id = self.pages[frame as usize].id();
        debug_assert!(!self.pages[frame as usize].is_dirty());
        debug_assert_eq!(self.table.get(&id), Some(&frame));
        self.table.remove(&id);
        if !self.lru.remove(&mut *self.pages, frame) {
            self.parked.retain(|&f| f != frame);
        }
        self.free.push(frame);
        self.stats.evictions += 1;
    }

    /// The run of resident dirty pages with contiguous ids around `frame`'s page (at most
    /// `MAX_RUN`), in page order.
    fn dirty_run_around(&self, frame: FrameId) -> Vec<(PageId, FrameId)> {
        let id = self.pages[frame as usize].id();
        let dirty_frame = |id: PageId| {
            self.table
                .get(&id)
                .copied()
                .filter(|&f| self.pages[f as usize].is_dirty())
        };
        let mut first = id;
        while first > 0 && (id - first + 1) < MAX_RUN as PageId / 2 {
            match dirty_frame(first - 1) {
                Some(_) => first -= 1,
                None => break,
            }
        }
        let mut run = Vec::with_capacity(MAX_RUN);
        let mut next = first;
        while run.len() < MAX_RUN {
            match dirty_frame(next) {
                Some(f) => run.push((next, f)),
                None => break,
            }
            match next.checked_add(1) {
                Some(n) => next = n,
                None => break,
            }
        }
        debug_assert!(run.iter().any(|&(_, f)| f == frame));
        run
    }
}
