//! Torn pages are repaired, not only detected: with the doublewrite area, thousands of seeded
//! rounds of writes, flushes and syncs (some dropped mid-flight) ending in a crash that loses,
//! keeps or tears every unsynced write leave no page torn after the pool reopens, and every page
//! holds its synced version or a later one. One round in six is long enough for the area's
//! ring (of `RING` slots here) to wrap a few times, and one in three (long or short) also
//! tears one live write (home or area) with an I/O error, as a failing device does (half the
//! short rounds with a failed home write then write a few hot pages one at a time, so the ring
//! laps while the failed write's pages stay dirty). Without the area the same rounds do leave
//! torn pages (so the rounds are hard enough to need it).
//!
//! Three named regression tests pin down the bugs such rounds found: a stale copy from an
//! earlier lap of the ring restored over a newer synced page (all LSNs 0), a home write that
//! failed torn whose copy's slot was reused before the page was written again, and a write
//! dropped while it rewound the ring, after which every write waited forever.
//!
//! `JDB_DW_ROUNDS` (default 2000) rounds.

mod fault_support;

use fault_support::{assert_io_err, block_on, image_page, pattern};
use jdb_page::{
    BufferPool, DOUBLEWRITE_SLOTS, Error, PageId, PoolOptions, Result,
    testing::{Crash, EIO, Fault, IoKind, MemDisk, MemStorage, Rng},
};

type Pool = BufferPool<MemStorage>;

const PAGES: u32 = 24;

/// Slots in the area's ring here: fewer than the default [`DOUBLEWRITE_SLOTS`], so that rounds
/// of a few hundred page writes wrap it (the ring works the same at any size).
const RING: usize = 128;
const _: () = assert!(RING < DOUBLEWRITE_SLOTS);

/// Page `id` at version `v`: every byte of the payload depends on both, so a write torn at any
/// sector leaves a page that matches no version.
fn fill(page: &mut jdb_page::Page, v: u8) {
    let id = page.id();
    let data = page.data_mut();
    data.fill(v ^ 0x5a);
    data[..64].copy_from_slice(&pattern(id, v));
}

fn holds(page: &jdb_page::Page, v: u8) -> bool {
    payload_holds(page.data(), page.id(), v)
}

/// Whether a page's payload (bytes 32..4096) is page `id` at version `v`.
fn payload_holds(data: &[u8], id: PageId, v: u8) -> bool {
    data[..64] == pattern(id, v)[..] && data[64..].iter().all(|&b| b == v ^ 0x5a)
}

/// Whether slot `slot` of the area's live image holds a valid copy of page `id` at version `v`.
fn copy_holds(area: &MemDisk, slot: u32, id: PageId, v: u8) -> bool {
    let image = area.live_image();
    let copy = image_page(&image, slot);
    jdb_layout::verify(copy, id).is_ok() && payload_holds(&copy[32..], id, v)
}

/// Per page: its version as of the last completed sync (`None`: never synced), every version
/// since, and its latest version.
#[derive(Default, Clone)]
struct Model {
    synced: Vec<Option<u8>>,
    since: Vec<Vec<u8>>,
    latest: Vec<u8>,
}

impl Model {
    /// Changes `page` to its next version. Each page counts its own versions: a round gives no
    /// page more than 255.
    fn change(&mut self, page: &mut jdb_page::Page) {
        let id = page.id() as usize;
        self.latest[id] = self.latest[id].wrapping_add(1).max(1);
        fill(page, self.latest[id]);
        self.since[id].push(self.latest[id]);
    }
}

async fn open(home: &MemDisk, area: &MemDisk, doublewrite: bool, cap: usize) -> Pool {
    let options = PoolOptions::new(cap);
    if doublewrite {
        BufferPool::open_with_doublewrite_ring(home.storage(), area.storage(), options, RING)
            .await
            .unwrap()
    } else {
        BufferPool::open_with(home.storage(), options)
            .await
            .unwrap()
    }
}

/// Panics unless `res` is `Ok` or the injected torn write's error (`EIO`).
#[track_caller]
fn ok_or_injected<T>(seed: u64, res: Result<T>) -> Option<T> {
    match res {
        Ok(value) => Some(value),
        Err(Error::Storage(e)) if e.raw_os_error() == Some(EIO) => None,
        Err(e) => panic!("seed {seed}: unexpected error {e}"),
    }
}

/// What a round did and found.
#[derive(Default, Debug, Clone, Copy)]
struct Outcome {
    /// Pages left torn after the reopen.
    torn: usize,
    /// Pages the reopen restored from the area.
    repaired: u64,
    /// Pages written home before the crash (each staged in the area first, with the area on).
    written: u64,
    /// Whether the armed torn write fired.
    faulted: bool,
}

/// One seeded round: a synced start, random writes, flushes and syncs (some dropped), perhaps a
/// torn write with an error, a crash, a reopen, and every page checked against the model.
async fn round(seed: u64, doublewrite: bool) -> Outcome {
    // `Rng::new` ignores bit 0 of its seed: shifted, every round index gives its own round.
    let mut rng = Rng::new(seed << 1);
    let (home, area) = (MemDisk::new(), MemDisk::new());
    home.set_yield(true);
    area.set_yield(true);
    let cap = 4 + rng.below(8) as usize;
    // One round in six is long: a few hundred pages written, so the ring wraps a few times.
    let long = rng.below(6) == 0;
    let (ops, width) = if long {
        (70 + rng.below(70), 8)
    } else {
        (rng.below(40), 4)
    };
    let pool = open(&home, &area, doublewrite, cap).await;
    let mut m = Model::default();
    // A synced start: every page at version 0.
    for _ in 0..PAGES {
        let mut page = pool.alloc().await.unwrap();
        fill(&mut page, 0);
        m.synced.push(Some(0));
        m.since.push(Vec::new());
        m.latest.push(0);
    }
    pool.sync().await.unwrap();
    let faulty = rng.below(3) == 0;
    if faulty {
        // One write of the round reaches the file torn (perhaps not at all, perhaps whole) and
        // fails with EIO; the home file's writes are the ones that matter most.
        let disk = if rng.below(3) == 0 { &area } else { &home };
        let nth = 1 + rng.below(if long { 70 } else { 15 });
        let bytes = 512 * rng.below(33) as usize;
        disk.faults()
            .fail_nth(IoKind::Write, nth, Fault::Torn { bytes });
    }
    // Half the short rounds whose home write failed end with a stretch of one-page writes.
    let hot_stretch = !long && rng.below(2) == 0;
    for _ in 0..ops {
        match rng.below(10) {
            0..=5 => {
                // A run of neighbours, so writes go out several pages at a time.
                let first = rng.below(u64::from(PAGES)) as PageId;
                for id in first..(first + 1 + rng.below(width) as PageId).min(PAGES) {
                    // Making room may write a dirty victim, which may be the failing write.
                    if let Some(mut page) = ok_or_injected(seed, pool.get(id).await) {
                        m.change(&mut page);
                    }
                }
            }
            6 => {
                ok_or_injected(seed, pool.flush_all().await);
            }
            7 => {
                if ok_or_injected(seed, pool.sync().await).is_some() {
                    for id in 0..PAGES as usize {
                        if let Some(&last) = m.since[id].last() {
                            m.synced[id] = Some(last);
                        }
                        m.since[id].clear();
                    }
                }
            }
            _ => {
                // A flush dropped after a few polls: writes left half done.
                let polls = 1 + rng.below(6) as usize;
                fault_support::poll_then_drop(pool.flush_all(), polls);
            }
        }
    }
    if hot_stretch && home.faults().injected() > 0 {
        // A few hot pages written one at a time and nothing else flushed: the ring laps once
        // or twice (its slots reused) while the pages of the failed write stay dirty.
        let hot = rng.below(u64::from(PAGES)) as PageId;
        for _ in 0..RING as u64 + rng.below(RING as u64) {
            let id = (hot + rng.below(3) as PageId) % PAGES;
            if let Some(mut page) = ok_or_injected(seed, pool.get(id).await) {
                m.change(&mut page);
            }
            ok_or_injected(seed, pool.flush_page(id).await);
        }
    }
    let written = pool.stats().pages_written;
    let faulted = home.faults().injected() + area.faults().injected() > 0;
    drop(pool);
    home.faults().clear();
    area.faults().clear();
    home.crash(Crash::Random { seed: rng.next() });
    area.crash(Crash::Random { seed: rng.next() });

    let pool = open(&home, &area, doublewrite, cap).await;
    let repaired = pool.stats().torn_pages_repaired;
    let mut torn = 0;
    for id in 0..PAGES {
        let (synced, since) = (m.synced[id as usize], &m.since[id as usize]);
        match pool.read(id).await {
            Ok(page) => {
                let ok = synced.iter().chain(since).any(|&v| holds(&page, v));
                assert!(ok, "seed {seed}: page {id} holds bytes it never had");
                let is_synced = synced.is_some_and(|v| holds(&page, v));
                assert!(
                    is_synced || !since.is_empty(),
                    "seed {seed}: page {id}, unchanged since its sync, lost that version"
                );
            }
            Err(Error::Corrupt { .. }) => {
                assert!(
                    !since.is_empty(),
                    "seed {seed}: page {id} torn though unchanged since sync"
                );
                torn += 1;
            }
            Err(e) => panic!("seed {seed}: page {id}: {e}"),
        }
    }
    Outcome {
        torn,
        repaired,
        written,
        faulted,
    }
}

fn rounds() -> u64 {
    std::env::var("JDB_DW_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

#[test]
fn with_the_doublewrite_area_no_page_is_left_torn_after_a_crash() {
    let rounds = rounds();
    let (mut torn, mut repaired, mut faulted) = (0, 0, 0);
    // Rounds that wrote more than one ring of pages, and more than two.
    let (mut wrapped, mut wrapped_twice) = (0, 0);
    let mut torn_seeds = Vec::new();
    block_on(async {
        for seed in 0..rounds {
            let outcome = round(seed, true).await;
            if outcome.torn > 0 {
                torn_seeds.push(seed);
            }
            torn += outcome.torn;
            repaired += outcome.repaired;
            wrapped += u64::from(outcome.written > RING as u64);
            wrapped_twice += u64::from(outcome.written > 2 * RING as u64);
            faulted += u64::from(outcome.faulted);
        }
    });
    eprintln!(
        "doublewrite on, {rounds} rounds: {torn} torn pages left, {repaired} repaired; \
         the ring wrapped in {wrapped} rounds, twice or more in {wrapped_twice}; a torn write \
         failed in {faulted}"
    );
    assert_eq!(
        torn, 0,
        "pages left torn with the doublewrite area, seeds {torn_seeds:?}"
    );
    assert!(
        repaired > 0,
        "no round tore a page: the test proves nothing"
    );
    assert!(
        wrapped >= rounds / 10 && wrapped_twice >= rounds / 20,
        "only {wrapped} of {rounds} rounds wrapped the ring ({wrapped_twice} twice): the rounds \
         are too short"
    );
    assert!(
        faulted >= rounds / 10,
        "only {faulted} of {rounds} rounds had a failed torn write"
    );
}

#[test]
fn without_it_the_same_rounds_leave_torn_pages() {
    let mut torn = 0;
    block_on(async {
        for seed in 0..rounds() / 4 {
            torn += round(seed, false).await.torn;
        }
    });
    eprintln!("doublewrite off: {torn} torn pages left");
    assert!(
        torn > 0,
        "no torn page without the doublewrite area: the rounds are too easy"
    );
}

/// Page 0 is the page under test, page 2 the filler whose one-page writes move the ring's
/// cursor one slot each (page 1 stays clean, so the two never go out in one run).
const FILLER: PageId = 2;

/// A pool with the area on, pages 0..3 at version 0, synced: their run took slots 0..3.
async fn three_synced_pages(home: &MemDisk, area: &MemDisk) -> Pool {
    let pool = open(home, area, true, 8).await;
    for _ in 0..3 {
        fill(&mut pool.alloc().await.unwrap(), 0);
    }
    pool.sync().await.unwrap();
    assert!(
        copy_holds(area, 2, FILLER, 0),
        "the first run took slots 0..3"
    );
    pool
}

/// Writes page `id` at version `v` alone (one slot).
async fn write_page(pool: &Pool, id: PageId, v: u8) -> Result<()> {
    fill(&mut pool.get(id).await.unwrap(), v);
    pool.flush_page(id).await
}

/// Writes the filler `n` times, one slot each.
async fn write_filler(pool: &Pool, n: usize, version: &mut u8) {
    for _ in 0..n {
        *version = version.wrapping_add(1).max(1);
        write_page(pool, FILLER, *version).await.unwrap();
    }
}

#[test]
fn after_the_ring_wraps_a_torn_page_gets_its_newest_copy_not_the_one_in_the_highest_slot() {
    block_on(async {
        let (home, area) = (MemDisk::new(), MemDisk::new());
        let pool = three_synced_pages(&home, &area).await;
        let mut filler = 0;
        // Page 0 version 1 goes through slot 100, and home is synced.
        write_filler(&pool, 97, &mut filler).await;
        write_page(&pool, 0, 1).await.unwrap();
        assert!(copy_holds(&area, 100, 0, 1));
        pool.sync().await.unwrap();
        // The ring wraps: slots 101..128, then (after the ring's home sync) 0..5.
        write_filler(&pool, 27 + 5, &mut filler).await;
        assert!(copy_holds(&area, 4, FILLER, filler));
        // Version 2 through slot 5, synced home; version 3 through slot 6, its home write torn.
        write_page(&pool, 0, 2).await.unwrap();
        pool.sync().await.unwrap();
        write_page(&pool, 0, 3).await.unwrap();
        assert!(copy_holds(&area, 5, 0, 2) && copy_holds(&area, 6, 0, 3));
        assert!(
            copy_holds(&area, 100, 0, 1),
            "the stale copy is still there"
        );
        drop(pool);
        home.crash(Crash::TearLast {
            bytes: jdb_alloc::PAGE_SIZE / 2,
        });
        area.crash(Crash::KeepUnsynced);
        let torn = image_page(&home.durable_image(), 0).to_vec();
        assert!(jdb_layout::verify(&torn, 0).is_err(), "page 0 is torn");
        // Without a log every copy has LSN 0: only the copies' order tells them apart.
        assert_eq!(jdb_layout::stored_lsn(&torn), Ok(0));

        let pool = open(&home, &area, true, 8).await;
        assert_eq!(pool.stats().torn_pages_repaired, 1);
        let page = pool.read(0).await.unwrap();
        assert!(
            holds(&page, 3),
            "page 0 restored from a copy older than its newest (v1 would lose the synced v2)"
        );
        drop(page);
        assert!(holds(&pool.read(FILLER).await.unwrap(), filler));
    });
}

#[test]
fn a_home_write_that_failed_torn_is_redone_from_its_copy_before_the_ring_reuses_its_slot() {
    block_on(async {
        let (home, area) = (MemDisk::new(), MemDisk::new());
        let pool = three_synced_pages(&home, &area).await;
        // Page 0 version 1 goes through slot 3; its home write reaches the file torn and fails.
        home.faults().fail_nth(
            IoKind::Write,
            1,
            Fault::Torn {
                bytes: jdb_alloc::PAGE_SIZE / 2,
            },
        );
        assert_io_err(write_page(&pool, 0, 1).await, "write", EIO);
        assert!(copy_holds(&area, 3, 0, 1));
        let live = home.live_image();
        assert!(jdb_layout::verify(image_page(&live, 0), 0).is_err(), "torn");
        // The filler fills the ring (slots 4..128, 124 writes), wraps it (a home sync) and takes
        // slots 0..4 (4 more).
        let mut filler = 0;
        write_filler(&pool, RING, &mut filler).await;
        assert!(copy_holds(&area, 3, FILLER, filler), "slot 3 reused");
        drop(pool); // page 0 is still dirty: version 1 need not survive, version 0 must
        home.crash(Crash::LoseUnsynced);
        area.crash(Crash::KeepUnsynced);

        let pool = open(&home, &area, true, 8).await;
        match pool.read(0).await {
            Ok(page) => assert!(
                holds(&page, 0) || holds(&page, 1),
                "page 0 holds neither its synced version nor a later one"
            ),
            Err(e) => panic!("page 0 left torn with its copy gone: {e}"),
        }
    });
}

#[test]
fn a_write_dropped_while_it_rewinds_the_ring_does_not_stall_later_writes() {
    block_on(async {
        let (home, area) = (MemDisk::new(), MemDisk::new());
        let pool = three_synced_pages(&home, &area).await;
        let mut filler = 0;
        write_filler(&pool, RING - 3, &mut filler).await;
        assert!(copy_holds(&area, 127, FILLER, filler), "the ring is full");
        // The next write rewinds the ring (syncs home first): drop it in that sync.
        home.set_yield(true);
        fill(&mut pool.get(FILLER).await.unwrap(), filler + 1);
        let syncs = home.syncs();
        assert!(!fault_support::poll_then_drop(pool.flush_page(FILLER), 1));
        assert_eq!(home.syncs(), syncs + 1, "dropped in the ring's home sync");
        let write = write_page(&pool, FILLER, filler + 2);
        match compio::time::timeout(std::time::Duration::from_secs(5), write).await {
            Ok(res) => res.unwrap(),
            Err(_) => panic!("a write after the dropped rewind waits forever"),
        }
        assert!(
            copy_holds(&area, 0, FILLER, filler + 2),
            "the ring started again"
        );
    });
}

/// A pool with the area on and 128 dirty pages (8 runs), every I/O pending once.
async fn eight_dirty_runs(home: &MemDisk, area: &MemDisk) -> Pool {
    let pool = open(home, area, true, 256).await;
    for _ in 0..128 {
        fill(&mut pool.alloc().await.unwrap(), 1);
    }
    home.set_yield(true);
    area.set_yield(true);
    pool
}

#[test]
fn runs_in_flight_together_share_the_areas_fdatasync() {
    block_on(async {
        let (home, area) = (MemDisk::new(), MemDisk::new());
        let pool = eight_dirty_runs(&home, &area).await;
        pool.flush_all().await.unwrap();
        let syncs = area.syncs();
        assert!(
            (1..=3).contains(&syncs),
            "{syncs} fdatasyncs of the area for 8 runs in flight together"
        );
        drop(pool);
        let pool = open(&home, &area, true, 256).await;
        for id in 0..128 {
            assert!(holds(&pool.get(id).await.unwrap(), 1), "page {id}");
        }
    });
}

#[test]
fn a_flush_dropped_in_the_areas_fdatasync_does_not_stall_later_writes() {
    block_on(async {
        let (home, area) = (MemDisk::new(), MemDisk::new());
        let pool = eight_dirty_runs(&home, &area).await;
        let mut dropped_in_sync = false;
        for polls in 1..20 {
            let syncs = area.syncs();
            assert!(!fault_support::poll_then_drop(pool.flush_all(), polls));
            if area.syncs() > syncs {
                // The area's sync was the last I/O started: the flush was dropped in it.
                dropped_in_sync = true;
                break;
            }
        }
        assert!(dropped_in_sync, "no flush reached the area's fdatasync");
        let flush = pool.flush_all();
        match compio::time::timeout(std::time::Duration::from_secs(5), flush).await {
            Ok(res) => res.unwrap(),
            Err(_) => panic!("a flush after the dropped area sync waits forever"),
        }
        pool.sync().await.unwrap();
        drop(pool);
        let pool = open(&home, &area, true, 256).await;
        for id in 0..128 {
            assert!(holds(&pool.get(id).await.unwrap(), 1), "page {id}");
        }
    });
}
