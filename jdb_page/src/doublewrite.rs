//! The doublewrite area (opt-in, InnoDB's doublewrite buffer): every run of pages goes durably
//! to a side file first, then to its home, so a home page torn by a crash can be restored from
//! its copy when the pool is opened again.
//!
//! The area is a ring of [`SLOTS`] page slots in a file of its own. A run takes the next slots,
//! is written there and `fdatasync`ed, and only then written home. A slot is reused only after
//! the home write of the copy in it has completed and the home file has been `fdatasync`ed
//! since, so each home write that a crash can tear has a durable copy. Copies are sealed pages
//! (their own page id, LSN and checksum), so a torn copy is simply ignored.
//!
//! Cost: two writes per run instead of one, an `fdatasync` of the area per run, and one of the
//! home file per ring (`SLOTS / MAX_RUN` runs of 16 pages).
//!
//! Where the device and filesystem guarantee that a 4 KiB direct write is never torn (`statx`
//! reports an atomic write unit of at least 4096 bytes, and writes are submitted with
//! `RWF_ATOMIC`, Linux 6.11+), the area is not needed; see the crate docs.

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    future::poll_fn,
    rc::Rc,
    task::{Poll, Waker},
};

use jdb_alloc::{AlignedBuf, PAGE_SIZE};
use jdb_layout::PageId;

use crate::{BufferPool, Error, PoolOptions, Result, Storage, TrackedBuf};

/// Page slots in the doublewrite area (512 KiB).
pub const SLOTS: usize = 128;

/// The area and its ring.
pub(crate) struct Doublewrite<S> {
    area: Rc<S>,
    ring: Rc<Ring>,
}

/// Which slots are free, and the runs whose home writes still rely on theirs.
#[derive(Default)]
pub(crate) struct Ring {
    /// The next free slot.
    cursor: Cell<usize>,
    /// Runs holding slots (from staging until their home write's buffer is dropped, i.e. the
    /// kernel is done with it).
    leased: Cell<usize>,
    /// A task is waiting for the leases to end to `fdatasync` home and rewind the ring.
    rewinding: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Ring {
    fn wake_all(&self) {
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

/// A run's hold on its slots: released when the home write's buffer goes (after the kernel is
/// done with it, also for a dropped call).
pub(crate) struct SlotLease(Rc<Ring>);

impl Drop for SlotLease {
    fn drop(&mut self) {
        self.0.leased.set(self.0.leased.get() - 1);
        self.0.wake_all();
    }
}

impl<S: Storage> BufferPool<S> {
    /// Opens a pool whose writes go through a doublewrite area in `area` (a file of its own,
    /// e.g. `data.jdb.dw`, created empty the first time): torn pages are repaired, not only
    /// detected. Before the pool opens, every home page that fails verification and has a valid
    /// copy in the area with the same or a newer LSN is restored from it (and `fdatasync`ed);
    /// [`crate::Stats::torn_pages_repaired`] counts them.
    ///
    /// # Errors
    /// As [`BufferPool::open_with`], and I/O errors of the area.
    pub async fn open_with_doublewrite(storage: S, area: S, options: PoolOptions) -> Result<Self> {
        let repaired = repair(&storage, &area).await?;
        let mut pool = Self::open_with(storage, options).await?;
        pool.core.frames.borrow_mut().stats.torn_pages_repaired = repaired;
        pool.doublewrite = Some(Doublewrite {
            area: Rc::new(area),
            ring: Rc::new(Ring::default()),
        });
        Ok(pool)
    }

    /// Writes `buf` (the sealed pages of a run) to the next slots of the area and makes it
    /// durable; the home write may follow. The run holds its slots until `buf` is dropped.
    pub(crate) async fn stage(&self, buf: &mut Option<TrackedBuf>) -> Result<()> {
        let Some(dw) = &self.doublewrite else {
            return Ok(());
        };
        let pages = buf.as_ref().map_or(0, |b| b.len() / PAGE_SIZE);
        let slot = self.take_slots(dw, pages).await?;
        let lease = SlotLease(Rc::clone(&dw.ring));
        let taken = buf.take().unwrap_or_else(|| unreachable!("a run to stage"));
        let (res, back) = dw.area.write_pages(slot as PageId, taken).await;
        *buf = Some(back);
        res?;
        dw.area.sync().await?;
        if let Some(buf) = buf {
            buf.hold(lease);
        }
        Ok(())
    }

    /// `n` contiguous free slots; when the ring is full, waits for the home writes of its copies,
    /// `fdatasync`s the home file and starts the ring again.
    async fn take_slots(&self, dw: &Doublewrite<S>, n: usize) -> Result<usize> {
        let ring = &dw.ring;
        loop {
            let at = ring.cursor.get();
            if !ring.rewinding.get() && at + n <= SLOTS {
                ring.cursor.set(at + n);
                ring.leased.set(ring.leased.get() + 1);
                return Ok(at);
            }
            if ring.rewinding.get() {
                // Another task is rewinding: wait for it.
                wait(ring, || !ring.rewinding.get()).await;
                continue;
            }
            ring.rewinding.set(true);
            wait(ring, || ring.leased.get() == 0).await;
            let synced = self.sync_file().await;
            if synced.is_ok() {
                ring.cursor.set(0);
            }
            ring.rewinding.set(false);
            ring.wake_all();
            synced?;
        }
    }
}

/// Waits until `ready()`, woken by the ring.
async fn wait(ring: &Ring, ready: impl Fn() -> bool) {
    poll_fn(|cx| {
        if ready() {
            return Poll::Ready(());
        }
        ring.waiters.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    })
    .await;
}

/// Restores home pages that fail verification from their newest valid copy in `area`, if the
/// copy's LSN is at least the torn page's (when its header still tells). Returns how many.
async fn repair<S: Storage>(storage: &S, area: &S) -> Result<u64> {
    let slots = (area.size().await? / PAGE_SIZE as u64).min(SLOTS as u64) as usize;
    if slots == 0 {
        return Ok(0);
    }
    let buf = AlignedBuf::with_cap(slots * PAGE_SIZE)?;
    let (res, buf) = area.read_pages(0, slots, buf).await;
    res?;
    // The newest valid copy of each page.
    let mut copies: HashMap<PageId, (u64, usize)> = HashMap::new();
    for slot in 0..slots {
        let copy = &buf[slot * PAGE_SIZE..(slot + 1) * PAGE_SIZE];
        let Ok(header) = jdb_layout::PageHeader::decode(copy) else {
            continue;
        };
        if jdb_layout::verify(copy, header.page_id).is_err() {
            continue; // torn while being staged: its home write never started
        }
        let newest = copies.entry(header.page_id).or_insert((header.lsn, slot));
        if header.lsn >= newest.0 {
            *newest = (header.lsn, slot);
        }
    }
    let pages_in_file = storage.size().await? / PAGE_SIZE as u64;
    let mut repaired = 0;
    let mut home = AlignedBuf::with_cap(PAGE_SIZE)?;
    let mut ids: Vec<_> = copies.into_iter().collect();
    ids.sort_unstable();
    for (id, (lsn, slot)) in ids {
        let damaged = if u64::from(id) < pages_in_file {
            let (res, back) = storage.read_pages(id, 1, home).await;
            home = back;
            res?;
            // A torn page whose header survived says how new it was meant to be.
            jdb_layout::verify(&home[..PAGE_SIZE], id).is_err()
                && jdb_layout::stored_lsn(&home[..PAGE_SIZE]).map_or(true, |torn| lsn >= torn)
        } else {
            // Past the end: the home write never reached the file.
            true
        };
        if !damaged {
            continue;
        }
        let mut copy = AlignedBuf::with_cap(PAGE_SIZE)?;
        copy.extend(&buf[slot * PAGE_SIZE..(slot + 1) * PAGE_SIZE])?;
        let (res, _) = storage.write_pages(id, TrackedBuf::new(copy)).await;
        res?;
        repaired += 1;
    }
    if repaired > 0 {
        storage.sync().await.map_err(Error::from)?;
        log::warn!(
            "{}: restored {repaired} torn pages from the doublewrite area {}",
            storage.path().display(),
            area.path().display()
        );
    }
    Ok(repaired)
}
