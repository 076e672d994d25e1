//! The doublewrite area (opt-in, InnoDB's doublewrite buffer): every run of pages goes durably
//! to a side file first, then to its home, so a home page torn by a crash can be restored from
//! its copy when the pool is opened again.
//!
//! # The ring
//!
//! The area is a ring of [`SLOTS`] page slots in a file of its own. A run takes the next slots,
//! is written there and `fdatasync`ed, and only then written home. Runs staged concurrently
//! share the area's `fdatasync` (group commit): a run whose area write has completed waits for
//! a sync that *started* after that, joining the next one if one is already in flight. A slot is reused only after
//! the home write of the copy in it has completed and the home file has been `fdatasync`ed
//! since, so each home write that a crash can tear has a durable copy. Copies are sealed pages
//! (their own page id, LSN and checksum), so a torn copy is simply ignored.
//!
//! A home write that fails (or whose call is dropped, so nobody learns how it ended) may have
//! left its pages torn in the file, and the ring's home sync would make them durable: before
//! the ring starts again, the pages of every run staged since the last restart whose home write
//! is not known to have succeeded are written home again from their copies (which are still in
//! the area), and only then is the home file synced. Such a page is still dirty in memory, and a
//! later write replaces it with its newest version as usual.
//!
//! # Which copy is the newest: sequence numbers
//!
//! After the ring wraps, a slot's position says nothing about the age of its copy, and LSNs do
//! not order the copies of a page either: without a log every page has LSN 0, and an engine may
//! keep a page's LSN through several changes. So every copy carries a *sequence number*, a `u64`
//! in the header's reserved bytes 24..32 (little-endian), sealed with the copy so its checksum
//! covers it:
//!
//! ```text
//! slot n, at byte n * 4096 of the area:
//! 0..4     checksum  CRC32C of bytes 4..4096 of the copy (so it covers the sequence number)
//! 4..24    header    as written home: page id, LSN, type, flags, version, magic
//! 24..32   seq       u64  order of the copy: higher than every copy staged before it
//! 32..4096 payload   as written home
//! ```
//!
//! The pool numbers the copies it stages 1, 2, 3, ... (the pages of a run in page order), and a
//! pool opened on an area goes on above the highest number found there, so no copy is ever
//! written with a number lower than one already in the area. The page written home keeps bytes
//! 24..32 zero, as the format requires (the copy is stamped in the write buffer and the page's
//! original header put back before the home write), and a page restored home from a copy gets
//! them zeroed and is sealed again. Repair picks, for each page, the valid copy with the highest
//! sequence number; see [`repair`] for why the LSN does not come first.
//!
//! Cost: two writes per run instead of one, an `fdatasync` of the area per group of runs staged
//! together (`flush_all` keeps [`crate::DOUBLEWRITE_FLUSH_DEPTH`] runs in flight, so up to that
//! many share one), and one of the home file per ring (`SLOTS / MAX_RUN` = 64 runs of 16
//! pages), with the writes in flight drained for it.
//!
//! Where the device and filesystem guarantee that a 4 KiB direct write is never torn (`statx`
//! reports an atomic write unit of at least 4096 bytes, and writes are submitted with
//! `RWF_ATOMIC`, Linux 6.11+), the area is not needed; see the crate docs.

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    future::poll_fn,
    ops::Range,
    rc::Rc,
    task::{Poll, Waker},
};

use jdb_alloc::{AlignedBuf, PAGE_SIZE};
use jdb_layout::{PAGE_HEADER_SIZE, PageId};

use crate::{BufferPool, Error, FrameId, PoolOptions, Result, Storage, TrackedBuf};

/// Page slots in the doublewrite area (4 MiB): the home file is `fdatasync`ed, with the writes
/// in flight drained, once per `SLOTS` pages written.
pub const SLOTS: usize = 1024;

/// Where a page's id is in its header (docs/format.md).
const PAGE_ID: Range<usize> = 4..8;

/// Where a copy in the area keeps its sequence number: the header's reserved bytes, zero in
/// every page written home.
const SEQ: Range<usize> = 24..PAGE_HEADER_SIZE;

/// The area and its ring.
pub(crate) struct Doublewrite<S> {
    area: Rc<S>,
    ring: Rc<Ring>,
    /// The sequence number of the next copy staged.
    next_seq: Cell<u64>,
    /// Pages staged since the ring last started again whose home write is not known to have
    /// succeeded (it is in flight, failed, or its call was dropped), with the slot of the copy.
    unconfirmed: RefCell<HashMap<PageId, usize>>,
    /// The area's `fdatasync`s, shared by the runs staged meanwhile.
    syncs: Syncs,
}

/// The area's `fdatasync`s, numbered in the order they start; one is in flight at a time.
#[derive(Default)]
struct Syncs {
    /// The number of the last one started.
    started: Cell<u64>,
    /// The number of the last one that succeeded (they run one at a time, so every write that
    /// completed before it started is durable).
    done: Cell<u64>,
    /// One is in flight.
    syncing: Cell<bool>,
}

/// One task's turn at something the others wait for (a rewind of the ring, the area's
/// `fdatasync`): sets `flag` while it lives and clears it, waking the ring's waiters, however the
/// task ends, also when its future is dropped mid-way (the others would otherwise wait forever;
/// they take their own turn instead).
struct Turn<'a> {
    flag: &'a Cell<bool>,
    ring: &'a Ring,
}

impl<'a> Turn<'a> {
    fn take(flag: &'a Cell<bool>, ring: &'a Ring) -> Self {
        flag.set(true);
        Self { flag, ring }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.flag.set(false);
        self.ring.wake_all();
    }
}

/// Which slots are free, and the runs whose home writes still rely on theirs.
pub(crate) struct Ring {
    /// The next free slot.
    cursor: Cell<usize>,
    /// Runs holding slots (from staging until their home write's buffer is dropped, i.e. the
    /// kernel is done with it).
    leased: Cell<usize>,
    /// A task is waiting for the leases to end to `fdatasync` home and rewind the ring.
    rewinding: Cell<bool>,
    /// Page slots in the ring: [`SLOTS`], fewer in tests.
    slots: usize,
    waiters: RefCell<Vec<Waker>>,
}

impl Ring {
    fn new(slots: usize) -> Self {
        Self {
            cursor: Cell::new(0),
            leased: Cell::new(0),
            rewinding: Cell::new(false),
            slots,
            waiters: RefCell::new(Vec::new()),
        }
    }

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
    /// detected. Before the pool opens, every home page that fails verification is restored
    /// from its newest valid copy in the area (if that copy's LSN is at least the one the torn
    /// page's header still shows), and the file is `fdatasync`ed;
    /// [`crate::Stats::torn_pages_repaired`] counts them.
    ///
    /// # Errors
    /// As [`BufferPool::open_with`], and I/O errors of the area.
    pub async fn open_with_doublewrite(storage: S, area: S, options: PoolOptions) -> Result<Self> {
        Self::open_with_doublewrite_ring(storage, area, options, SLOTS).await
    }

    /// [`BufferPool::open_with_doublewrite`] with a ring of `slots` slots (`MAX_RUN..=SLOTS`)
    /// instead of [`SLOTS`]: lets tests wrap the ring in fewer writes. Not part of the API.
    ///
    /// # Errors
    /// As [`BufferPool::open_with_doublewrite`].
    ///
    /// # Panics
    /// If `slots` is out of range.
    #[doc(hidden)]
    pub async fn open_with_doublewrite_ring(
        storage: S,
        area: S,
        options: PoolOptions,
        slots: usize,
    ) -> Result<Self> {
        assert!(
            (crate::pool::MAX_RUN..=SLOTS).contains(&slots),
            "a doublewrite ring of {slots} slots"
        );
        let found = repair(&storage, &area).await?;
        let mut pool = Self::open_with(storage, options).await?;
        pool.core.frames.borrow_mut().stats.torn_pages_repaired = found.repaired;
        pool.doublewrite = Some(Doublewrite {
            area: Rc::new(area),
            ring: Rc::new(Ring::new(slots)),
            next_seq: Cell::new(found.next_seq),
            unconfirmed: RefCell::new(HashMap::new()),
            syncs: Syncs::default(),
        });
        Ok(pool)
    }

    /// Writes `buf` (the sealed pages of a run) to the next slots of the area, each copy
    /// stamped with its sequence number, and makes it durable; the home write may follow. The
    /// run holds its slots until `buf` is dropped. `buf` comes back as it was (sealed for home).
    pub(crate) async fn stage(&self, buf: &mut Option<TrackedBuf>) -> Result<()> {
        let Some(dw) = &self.doublewrite else {
            return Ok(());
        };
        let pages = buf.as_ref().map_or(0, |b| b.len() / PAGE_SIZE);
        let slot = self.take_slots(dw, pages).await?;
        let lease = SlotLease(Rc::clone(&dw.ring));
        let mut taken = buf.take().unwrap_or_else(|| unreachable!("a run to stage"));
        // Numbered in the same synchronous step as the slots were taken: in staging order.
        let first_seq = dw.next_seq.get();
        dw.next_seq.set(first_seq.saturating_add(pages as u64));
        let headers = stamp_seq(taken.bytes_mut(), first_seq);
        let (res, mut back) = dw.area.write_pages(slot as PageId, taken).await;
        restore_headers(back.bytes_mut(), &headers);
        let ids: Vec<PageId> = back.chunks_exact(PAGE_SIZE).map(page_id_of).collect();
        *buf = Some(back);
        res?;
        self.sync_area(dw).await?;
        // From here on the home write may start (and tear its pages): until it is known to
        // have succeeded, the ring must not reuse these slots without writing the pages home.
        dw.unconfirmed
            .borrow_mut()
            .extend(ids.into_iter().zip(slot..slot + pages));
        if let Some(buf) = buf {
            buf.hold(lease);
        }
        Ok(())
    }

    /// Records that the home write of `run` succeeded: its copies are no longer needed once
    /// the home file is synced.
    pub(crate) fn home_written(&self, run: &[(PageId, FrameId)]) {
        if let Some(dw) = &self.doublewrite {
            let mut unconfirmed = dw.unconfirmed.borrow_mut();
            for (id, _) in run {
                // One write of a page is in flight at a time, and a page is copied again only
                // after it: the entry is this write's.
                unconfirmed.remove(id);
            }
        }
    }

    /// `n` contiguous free slots; when the ring is full, waits for the home writes of its copies,
    /// writes home again the pages whose home write is not known to have succeeded,
    /// `fdatasync`s the home file and starts the ring again.
    async fn take_slots(&self, dw: &Doublewrite<S>, n: usize) -> Result<usize> {
        let ring = &dw.ring;
        loop {
            let at = ring.cursor.get();
            if !ring.rewinding.get() && at + n <= ring.slots {
                ring.cursor.set(at + n);
                ring.leased.set(ring.leased.get() + 1);
                return Ok(at);
            }
            if ring.rewinding.get() {
                // Another task is rewinding: wait for it.
                wait(ring, || !ring.rewinding.get()).await;
                continue;
            }
            let rewind = Turn::take(&ring.rewinding, ring);
            wait(ring, || ring.leased.get() == 0).await;
            let synced = match self.rewrite_unconfirmed(dw).await {
                Ok(()) => self.sync_file().await,
                Err(e) => Err(e),
            };
            if synced.is_ok() {
                // Nothing was staged meanwhile (the ring was rewinding).
                dw.unconfirmed.borrow_mut().clear();
                ring.cursor.set(0);
            }
            drop(rewind);
            synced?;
        }
    }

    /// Makes durable every area write that has completed: waits for an `fdatasync` of the area
    /// that starts after this call, joining the next one if one is in flight (it may have
    /// started before the caller's write completed), so runs staged together share one.
    /// A failed one fails its own task; the runs that waited for it try again with another.
    async fn sync_area(&self, dw: &Doublewrite<S>) -> Result<()> {
        let (syncs, ring) = (&dw.syncs, &*dw.ring);
        let mut need = syncs.started.get() + 1;
        loop {
            if syncs.done.get() >= need {
                return Ok(());
            }
            if syncs.syncing.get() {
                wait(ring, || !syncs.syncing.get()).await;
                continue;
            }
            if syncs.started.get() >= need {
                // The sync this run waited for failed (or its task was dropped): another.
                need = syncs.started.get() + 1;
            }
            let n = syncs.started.get() + 1;
            syncs.started.set(n);
            let syncing = Turn::take(&syncs.syncing, ring);
            let res = dw.area.sync().await;
            if res.is_ok() {
                syncs.done.set(n);
            }
            drop(syncing);
            res?;
        }
    }

    /// Writes home, from its copy in the area, each page whose home write is not known to have
    /// succeeded: a failed write may have torn it, and the ring is about to sync the home file
    /// and reuse the slot of its copy. Called with no home write in flight (no leases).
    async fn rewrite_unconfirmed(&self, dw: &Doublewrite<S>) -> Result<()> {
        let mut pages: Vec<(PageId, usize)> = dw
            .unconfirmed
            .borrow()
            .iter()
            .map(|(&id, &slot)| (id, slot))
            .collect();
        if pages.is_empty() {
            return Ok(());
        }
        pages.sort_unstable();
        let storage = self.storage_rc()?;
        let mut page = AlignedBuf::with_cap(PAGE_SIZE)?;
        for &(id, slot) in &pages {
            let (res, back) = dw.area.read_pages(slot as PageId, 1, page).await;
            page = back;
            res?;
            // The copy was synced before its home write began: only a damaged area fails here.
            jdb_layout::verify(&page, id).map_err(|source| Error::Corrupt {
                path: dw.area.path().to_path_buf(),
                page: id,
                source,
            })?;
            as_home_page(&mut page);
            let (res, back) = storage.write_pages(id, TrackedBuf::new(page)).await;
            page = back.into_inner();
            res?;
        }
        log::warn!(
            "{}: wrote {} pages home again from the doublewrite area {}: their last home write \
             failed or was abandoned",
            self.path.display(),
            pages.len(),
            dw.area.path().display()
        );
        Ok(())
    }
}

/// Stamps sequence numbers `first_seq, first_seq + 1, ...` into the pages of `run` (sealed
/// pages, back to back) and seals them again. Returns each page's header as it was, for
/// [`restore_headers`].
fn stamp_seq(run: &mut [u8], first_seq: u64) -> Vec<[u8; PAGE_HEADER_SIZE]> {
    run.chunks_exact_mut(PAGE_SIZE)
        .zip(0u64..)
        .map(|(page, i)| {
            let seq = first_seq.saturating_add(i);
            let header = std::array::from_fn(|i| page[i]);
            page[SEQ].copy_from_slice(&seq.to_le_bytes());
            // A whole page: sealing cannot fail.
            let _ = jdb_layout::seal(page);
            header
        })
        .collect()
}

/// Puts back the headers [`stamp_seq`] saved: the pages are again exactly as sealed for home.
fn restore_headers(run: &mut [u8], headers: &[[u8; PAGE_HEADER_SIZE]]) {
    for (page, header) in run.chunks_exact_mut(PAGE_SIZE).zip(headers) {
        page[..PAGE_HEADER_SIZE].copy_from_slice(header);
    }
}

/// Turns a copy from the area into the page to write home: sequence number zeroed, sealed again.
fn as_home_page(copy: &mut [u8]) {
    copy[SEQ].fill(0);
    // A whole page: sealing cannot fail.
    let _ = jdb_layout::seal(copy);
}

/// The sequence number stored in a copy (0 in copies written before there were any).
fn seq_of(copy: &[u8]) -> u64 {
    u64::from_le_bytes(std::array::from_fn(|i| copy[SEQ.start + i]))
}

/// The page id stored in a page's header.
fn page_id_of(page: &[u8]) -> PageId {
    PageId::from_le_bytes(std::array::from_fn(|i| page[PAGE_ID.start + i]))
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

/// What [`repair`] did and found.
struct Repair {
    /// Home pages restored from the area.
    repaired: u64,
    /// The sequence number the pool's next copy gets: above every copy in the area.
    next_seq: u64,
}

/// The newest valid copy of a page found in the area.
#[derive(Clone, Copy)]
struct Newest {
    seq: u64,
    lsn: u64,
    slot: usize,
}

/// Restores home pages that fail verification from their newest valid copy in `area`, if the
/// copy's LSN is at least the torn page's (when its header still tells).
///
/// The newest copy of a page is the one with the highest sequence number, whatever the LSNs say:
/// the pool never has two writes of a page in flight and copies a page again only after its
/// previous write is done, so the copies of a page are staged in the order of its versions, and
/// sequence numbers are handed out in staging order (above every number in the area, after a
/// reopen). LSNs tie (always 0 without a log; an engine may change a page without a new LSN)
/// and may even go back (a page formatted again starts at LSN 0), so ordering by LSN first
/// could restore an older version over a newer synced one. The LSN only breaks ties between
/// copies without a sequence number (0, written before there were any), as the slot does last.
async fn repair<S: Storage>(storage: &S, area: &S) -> Result<Repair> {
    // A ring never goes past `SLOTS`; slots past a smaller ring's end are older copies, still
    // ordered by their sequence numbers.
    let slots = (area.size().await? / PAGE_SIZE as u64).min(SLOTS as u64) as usize;
    if slots == 0 {
        return Ok(Repair {
            repaired: 0,
            next_seq: 1,
        });
    }
    let buf = AlignedBuf::with_cap(slots * PAGE_SIZE)?;
    let (res, buf) = area.read_pages(0, slots, buf).await;
    res?;
    let mut copies: HashMap<PageId, Newest> = HashMap::new();
    let mut highest_seq = 0;
    for slot in 0..slots {
        let copy = &buf[slot * PAGE_SIZE..(slot + 1) * PAGE_SIZE];
        let Ok(header) = jdb_layout::PageHeader::decode(copy) else {
            continue;
        };
        if jdb_layout::verify(copy, header.page_id).is_err() {
            continue; // torn while being staged: its home write never started
        }
        let found = Newest {
            seq: seq_of(copy),
            lsn: header.lsn,
            slot,
        };
        highest_seq = highest_seq.max(found.seq);
        let newest = copies.entry(header.page_id).or_insert(found);
        if (found.seq, found.lsn) >= (newest.seq, newest.lsn) {
            *newest = found;
        }
    }
    let pages_in_file = storage.size().await? / PAGE_SIZE as u64;
    let mut repaired = 0;
    let mut home = AlignedBuf::with_cap(PAGE_SIZE)?;
    let mut ids: Vec<_> = copies.into_iter().collect();
    ids.sort_unstable_by_key(|&(id, _)| id);
    for (id, newest) in ids {
        let damaged = if u64::from(id) < pages_in_file {
            let (res, back) = storage.read_pages(id, 1, home).await;
            home = back;
            res?;
            // A torn page whose header survived says how new it was meant to be.
            jdb_layout::verify(&home[..PAGE_SIZE], id).is_err()
                && jdb_layout::stored_lsn(&home[..PAGE_SIZE])
                    .map_or(true, |torn| newest.lsn >= torn)
        } else {
            // Past the end: the home write never reached the file.
            true
        };
        if !damaged {
            continue;
        }
        let mut copy = AlignedBuf::with_cap(PAGE_SIZE)?;
        copy.extend(&buf[newest.slot * PAGE_SIZE..(newest.slot + 1) * PAGE_SIZE])?;
        as_home_page(&mut copy);
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
    Ok(Repair {
        repaired,
        next_seq: highest_seq.saturating_add(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jdb_layout::{PageHeader, PageType, verify};

    /// Two sealed pages, ids 7 and 8, back to back.
    fn run() -> Vec<u8> {
        let mut run = vec![0u8; 2 * PAGE_SIZE];
        for (i, page) in run.chunks_exact_mut(PAGE_SIZE).enumerate() {
            PageHeader::new(7 + i as PageId, PageType::Data)
                .encode(page)
                .unwrap();
            page[100] = 0xC3;
            jdb_layout::seal(page).unwrap();
        }
        run
    }

    #[test]
    fn stamped_copies_verify_and_carry_their_sequence_numbers() {
        let mut copies = run();
        stamp_seq(&mut copies, 41);
        for (i, copy) in copies.chunks_exact(PAGE_SIZE).enumerate() {
            let id = 7 + i as PageId;
            assert_eq!(verify(copy, id).unwrap().page_id, id);
            assert_eq!(page_id_of(copy), id);
            assert_eq!(seq_of(copy), 41 + i as u64);
        }
    }

    #[test]
    fn restoring_the_headers_gives_back_the_pages_exactly() {
        let original = run();
        let mut pages = original.clone();
        let headers = stamp_seq(&mut pages, u64::MAX - 5);
        assert_ne!(pages, original);
        restore_headers(&mut pages, &headers);
        assert_eq!(pages, original);
    }

    #[test]
    fn a_copy_made_a_home_page_has_zero_reserved_bytes_and_verifies() {
        let original = run();
        let mut copy = original[..PAGE_SIZE].to_vec();
        stamp_seq(&mut copy, 9);
        as_home_page(&mut copy);
        assert_eq!(copy, original[..PAGE_SIZE], "the page as first sealed");
        assert_eq!(seq_of(&copy), 0);
        verify(&copy, 7).unwrap();
    }

    #[test]
    fn the_sequence_number_is_covered_by_the_checksum() {
        let mut copy = run()[..PAGE_SIZE].to_vec();
        stamp_seq(&mut copy, 3);
        copy[SEQ.start] ^= 1;
        assert!(matches!(
            verify(&copy, 7),
            Err(jdb_layout::Error::ChecksumMismatch { .. })
        ));
    }
}
