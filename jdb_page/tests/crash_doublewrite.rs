//! Torn pages are repaired, not only detected: with the doublewrite area, thousands of seeded
//! rounds of writes, flushes and syncs (some dropped mid-flight) ending in a crash that loses,
//! keeps or tears every unsynced write leave no page torn after the pool reopens, and every page
//! holds its synced version or a later one. Without the area the same rounds do leave torn pages
//! (so the rounds are hard enough to need it).
//!
//! `JDB_DW_ROUNDS` (default 2000) rounds.

mod fault_support;

use fault_support::{block_on, pattern};
use jdb_page::{
    BufferPool, Error, PageId, PoolOptions,
    testing::{Crash, MemDisk, MemStorage, Rng},
};

type Pool = BufferPool<MemStorage>;

const PAGES: u32 = 24;

/// Page `id` at version `v`: every byte of the payload depends on both, so a write torn at any
/// sector leaves a page that matches no version.
fn fill(page: &mut jdb_page::Page, v: u8) {
    let id = page.id();
    let data = page.data_mut();
    data.fill(v ^ 0x5a);
    data[..64].copy_from_slice(&pattern(id, v));
}

fn holds(page: &jdb_page::Page, v: u8) -> bool {
    page.data()[..64] == pattern(page.id(), v)[..]
        && page.data()[64..].iter().all(|&b| b == v ^ 0x5a)
}

/// Per page: its version as of the last completed sync (`None`: never synced) and every
/// version since.
#[derive(Default, Clone)]
struct Model {
    synced: Vec<Option<u8>>,
    since: Vec<Vec<u8>>,
}

async fn open(home: &MemDisk, area: &MemDisk, doublewrite: bool, cap: usize) -> Pool {
    let options = PoolOptions::new(cap);
    if doublewrite {
        BufferPool::open_with_doublewrite(home.storage(), area.storage(), options)
            .await
            .unwrap()
    } else {
        BufferPool::open_with(home.storage(), options)
            .await
            .unwrap()
    }
}

/// One round; returns the number of torn pages found after the crash (and repaired ones).
async fn round(seed: u64, doublewrite: bool) -> (usize, u64) {
    let mut rng = Rng::new(seed);
    let (home, area) = (MemDisk::new(), MemDisk::new());
    home.set_yield(true);
    area.set_yield(true);
    let cap = 4 + rng.below(8) as usize;
    let pool = open(&home, &area, doublewrite, cap).await;
    let mut m = Model::default();
    // A synced start: every page at version 0.
    for _ in 0..PAGES {
        let mut page = pool.alloc().await.unwrap();
        fill(&mut page, 0);
        m.synced.push(Some(0));
        m.since.push(Vec::new());
    }
    pool.sync().await.unwrap();
    let mut version = 0u8;
    for _ in 0..rng.below(40) {
        match rng.below(10) {
            0..=5 => {
                // A run of neighbours, so writes go out several pages at a time.
                let first = rng.below(u64::from(PAGES)) as PageId;
                version = version.wrapping_add(1).max(1);
                for id in first..(first + 1 + rng.below(4) as PageId).min(PAGES) {
                    fill(&mut pool.get(id).await.unwrap(), version);
                    m.since[id as usize].push(version);
                }
            }
            6 => pool.flush_all().await.unwrap(),
            7 => {
                pool.sync().await.unwrap();
                for id in 0..PAGES as usize {
                    if let Some(&last) = m.since[id].last() {
                        m.synced[id] = Some(last);
                    }
                    m.since[id].clear();
                }
            }
            _ => {
                // A flush dropped after a few polls: writes left half done.
                let polls = 1 + rng.below(6) as usize;
                fault_support::poll_then_drop(pool.flush_all(), polls);
            }
        }
    }
    drop(pool);
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
    (torn, repaired)
}

fn rounds() -> u64 {
    std::env::var("JDB_DW_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

#[test]
fn with_the_doublewrite_area_no_page_is_left_torn_after_a_crash() {
    let (mut torn, mut repaired) = (0, 0);
    for seed in 0..rounds() {
        let (t, r) = block_on(round(seed, true));
        torn += t;
        repaired += r;
    }
    eprintln!("doublewrite on: {torn} torn pages left, {repaired} repaired");
    assert_eq!(torn, 0, "pages left torn with the doublewrite area");
    assert!(
        repaired > 0,
        "no round tore a page: the test proves nothing"
    );
}

#[test]
fn without_it_the_same_rounds_leave_torn_pages() {
    let mut torn = 0;
    for seed in 0..rounds() / 4 {
        torn += block_on(round(seed, false)).0;
    }
    eprintln!("doublewrite off: {torn} torn pages left");
    assert!(
        torn > 0,
        "no torn page without the doublewrite area: the rounds are too easy"
    );
}
