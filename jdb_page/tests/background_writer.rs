//! The background writer keeps the cold end clean: with it, misses on a pool full of dirty pages
//! rarely wait for a victim's write-back; it stops with its handle or with the pool, and it never
//! writes a page before the log is durable up to its LSN.

mod fault_support;

use std::{cell::Cell, io, rc::Rc, time::Duration};

use fault_support::{block_on, pattern};
use jdb_page::{
    BackgroundWriter, BufferPool, LogFuture, PageId, Stats, WriteAheadLog,
    testing::{MemDisk, Rng},
};

const PAGES: u32 = 512;
const CAP: usize = 48;

/// A disk of `PAGES` synced pages.
async fn disk() -> MemDisk {
    let disk = MemDisk::new();
    let pool = BufferPool::open(disk.storage(), 64).await.unwrap();
    for _ in 0..PAGES {
        let mut page = pool.alloc().await.unwrap();
        let id = page.id();
        page.data_mut()[..64].copy_from_slice(&pattern(id, 0));
    }
    pool.close().await.unwrap();
    disk.set_yield(true);
    disk
}

/// Half writes, half reads of random pages, on a pool of `CAP` frames; the writer's config, if
/// any. Returns the pool's counters.
async fn run(disk: &MemDisk, writer: Option<BackgroundWriter>) -> Stats {
    let pool = Rc::new(BufferPool::open(disk.storage(), CAP).await.unwrap());
    let handle = writer.map(|w| pool.start_background_writer(w));
    let mut rng = Rng::new(3);
    for i in 0..4000u32 {
        let id = rng.below(u64::from(PAGES)) as PageId;
        if i % 2 == 0 {
            let mut page = pool.get(id).await.unwrap();
            page.data_mut()[..64].copy_from_slice(&pattern(id, (i % 200) as u8 + 1));
        } else {
            drop(pool.read(id).await.unwrap());
        }
        // Let the writer run now and then, as other tasks' awaits would.
        if i % 8 == 0 {
            compio::time::sleep(Duration::from_micros(50)).await;
        }
    }
    if let Some(handle) = handle {
        handle.stop().await;
    }
    let stats = pool.stats();
    pool.close().await.unwrap();
    stats
}

fn config() -> BackgroundWriter {
    let mut config = BackgroundWriter::for_cap(CAP);
    config.clean_target = 16;
    config.interval = Duration::from_micros(100);
    config
}

#[test]
fn with_the_writer_misses_rarely_wait_for_a_write_back() {
    block_on(async {
        let disk = disk().await;
        let without = run(&disk, None).await;
        let with = run(&disk, Some(config())).await;
        eprintln!(
            "without: {} of {} misses waited; with: {} of {} ({} pages written by the writer)",
            without.writeback_waits,
            without.misses,
            with.writeback_waits,
            with.misses,
            with.bg_pages_written
        );
        assert!(without.writeback_waits > without.misses / 4, "{without:?}");
        assert!(with.bg_pages_written > 0 && with.bg_rounds > 0, "{with:?}");
        assert!(
            with.writeback_waits * 4 < without.writeback_waits,
            "the writer did not help: {} vs {}",
            with.writeback_waits,
            without.writeback_waits
        );
    });
}

#[test]
fn the_writer_ends_with_its_pool() {
    block_on(async {
        let disk = disk().await;
        let pool = Rc::new(BufferPool::open(disk.storage(), CAP).await.unwrap());
        let handle = pool.start_background_writer(config());
        pool.get(1).await.unwrap().data_mut()[0] = 1;
        pool.sync().await.unwrap();
        drop(pool);
        // The writer holds the pool only weakly: it notices and returns.
        handle.stop().await;
        // And the file is free again.
        let pool = BufferPool::open(disk.storage(), CAP).await.unwrap();
        assert_eq!(pool.read(1).await.unwrap().data()[0], 1);
    });
}

/// A log that is never durable beyond what the test allows.
struct StuckLog {
    durable: Cell<u64>,
}

impl WriteAheadLog for StuckLog {
    fn durable_lsn(&self) -> u64 {
        self.durable.get()
    }

    fn flush_to(&self, _lsn: u64) -> LogFuture<'_> {
        Box::pin(async { Err(io::Error::other("the log is stuck")) })
    }
}

#[test]
fn the_writer_keeps_the_write_ahead_rule() {
    block_on(async {
        let disk = disk().await;
        let pool = Rc::new(BufferPool::open(disk.storage(), CAP).await.unwrap());
        pool.attach_log(Rc::new(StuckLog {
            durable: Cell::new(10),
        }))
        .unwrap();
        // Pages with LSNs the log covers (the first 16: one run), and above what it can make
        // durable (a run with one of them cannot be written).
        for id in 0..(CAP as PageId) {
            let mut page = pool.get(id).await.unwrap();
            page.data_mut()[0] = 7;
            page.set_lsn(if id < 16 { 5 } else { 100 }).unwrap();
        }
        let mut config = config();
        config.clean_target = CAP;
        let handle = pool.start_background_writer(config);
        for _ in 0..50 {
            compio::time::sleep(Duration::from_micros(200)).await;
        }
        handle.stop().await;
        // Only the pages whose LSN the log already covered reached the file.
        let image = disk.live_image();
        for id in 0..(CAP as PageId) {
            let page = &image[id as usize * 4096..(id as usize + 1) * 4096];
            let lsn = jdb_layout::stored_lsn(page).unwrap();
            assert!(
                lsn <= 10,
                "page {id} was written with LSN {lsn} before the log was durable"
            );
        }
        assert_eq!(pool.stats().bg_pages_written % 16, 0, "{:?}", pool.stats());
        assert!(pool.stats().bg_pages_written >= 16, "{:?}", pool.stats());
        assert_eq!(
            pool.dirty_count(),
            CAP - 16,
            "the covered pages are clean, the rest dirty"
        );
        drop(pool);
    });
}
