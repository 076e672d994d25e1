//! The background writer keeps the cold end clean: with it, misses on a pool full of dirty pages
//! rarely wait for a victim's write-back; it stops with its handle or with the pool, and it never
//! writes a page before the log is durable up to its LSN.

mod fault_support;

use std::{
    cell::{Cell, RefCell},
    future::poll_fn,
    io,
    path::Path,
    rc::Rc,
    task::{Poll, Waker},
    time::Duration,
};

use fault_support::{block_on, pattern, yield_now};
use jdb_alloc::AlignedBuf;
use jdb_fs::BufResult;
use jdb_page::{
    BackgroundWriter, BufferPool, LogFuture, PageId, PolicyKind, PoolOptions, Stats, Storage,
    TrackedBuf, WriteAheadLog,
    testing::{MemDisk, MemStorage, Rng},
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

/// Half writes, half reads of random pages, on a pool of `CAP` frames with eviction policy
/// `policy`; the writer's config, if any. Returns the pool's counters.
async fn run(disk: &MemDisk, policy: PolicyKind, writer: Option<BackgroundWriter>) -> Stats {
    let options = PoolOptions::new(CAP).policy(policy);
    let pool = Rc::new(
        BufferPool::open_with(disk.storage(), options)
            .await
            .unwrap(),
    );
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

/// Under every policy: the writer cleans what the policy will evict next (`Policy::coldest`,
/// exact for LRU, the queue's order with second chances still to come for the others).
#[test]
fn with_the_writer_misses_rarely_wait_for_a_write_back() {
    block_on(async {
        let disk = disk().await;
        for policy in PolicyKind::ALL {
            with_and_without_the_writer(&disk, policy).await;
        }
    });
}

async fn with_and_without_the_writer(disk: &MemDisk, policy: PolicyKind) {
    let without = run(disk, policy, None).await;
    let with = run(disk, policy, Some(config())).await;
    eprintln!(
        "{policy}: without: {} of {} misses waited; with: {} of {} ({} pages written by the \
             writer)",
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
}

/// A device that completes every request submitted during one pass of the runtime over its
/// tasks at the next pass, as a deep queue would: unlike `MemDisk::set_yield`, whose requests
/// wake themselves at once, a request here waits like an io_uring one, so a caller keeping many
/// writes in flight gets them all done in one pass.
#[derive(Default)]
struct Ticks {
    now: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
}

impl Ticks {
    /// Waits for the next tick.
    async fn next(&self) {
        let until = self.now.get() + 1;
        poll_fn(|cx| {
            if self.now.get() >= until {
                return Poll::Ready(());
            }
            self.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }

    /// Ticks once per pass of the runtime until `stop`.
    async fn run(&self, stop: &Cell<bool>) {
        while !stop.get() {
            yield_now().await;
            self.now.set(self.now.get() + 1);
            for waker in self.waiters.take() {
                waker.wake();
            }
        }
    }
}

/// A `MemDisk` storage whose requests complete at the next tick.
struct TickStorage {
    inner: MemStorage,
    ticks: Rc<Ticks>,
}

impl Storage for TickStorage {
    async fn read_pages(
        &self,
        first: PageId,
        count: usize,
        buf: AlignedBuf,
    ) -> BufResult<(), AlignedBuf> {
        let done = self.inner.read_pages(first, count, buf).await;
        self.ticks.next().await;
        done
    }

    async fn write_pages(&self, first: PageId, buf: TrackedBuf) -> BufResult<(), TrackedBuf> {
        let done = self.inner.write_pages(first, buf).await;
        self.ticks.next().await;
        done
    }

    async fn sync(&self) -> jdb_fs::Result<()> {
        let done = self.inner.sync().await;
        self.ticks.next().await;
        done
    }

    async fn size(&self) -> jdb_fs::Result<u64> {
        self.inner.size().await
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }
}

/// `TASKS` tasks at once, each doing `OPS` operations on random pages, half of them writes, on
/// a pool of `CAP` frames over a device of deep queues (`Ticks`): each task has a request in
/// flight most of the time. Returns the pool's counters.
async fn run_concurrent(disk: &MemDisk, writer: Option<BackgroundWriter>) -> Stats {
    const TASKS: u64 = 16;
    const OPS: u32 = 400;
    disk.set_yield(false);
    let ticks = Rc::new(Ticks::default());
    let stop = Rc::new(Cell::new(false));
    let ticker = compio::runtime::spawn({
        let (ticks, stop) = (Rc::clone(&ticks), Rc::clone(&stop));
        async move { ticks.run(&stop).await }
    });
    let storage = TickStorage {
        inner: disk.storage(),
        ticks,
    };
    let pool = Rc::new(BufferPool::open(storage, CAP).await.unwrap());
    let handle = writer.map(|w| pool.start_background_writer(w));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let pool = Rc::clone(&pool);
            compio::runtime::spawn(async move {
                let mut rng = Rng::new(100 + t);
                for i in 0..OPS {
                    let id = rng.below(u64::from(PAGES)) as PageId;
                    if i % 2 == 0 {
                        let mut page = pool.get(id).await.unwrap();
                        page.data_mut()[..64].copy_from_slice(&pattern(id, (i % 200) as u8 + 1));
                    } else {
                        drop(pool.read(id).await.unwrap());
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    if let Some(handle) = handle {
        handle.stop().await;
    }
    let stats = pool.stats();
    pool.close().await.unwrap();
    stop.set(true);
    ticker.await.unwrap();
    stats
}

#[test]
fn the_writer_keeps_up_with_many_tasks_dirtying_victims() {
    block_on(async {
        let disk = disk().await;
        let without = run_concurrent(&disk, None).await;
        // Woken only by misses that waited, never by the clock: the counts do not depend on
        // timing.
        let mut with = BackgroundWriter::for_cap(CAP);
        with.interval = Duration::from_secs(3600);
        // One write at a time: it cleans one run while the tasks dirty victims by the dozen.
        let mut one = with;
        one.max_in_flight = 1;
        let one = run_concurrent(&disk, Some(one)).await;
        let with = run_concurrent(&disk, Some(with)).await;
        for (name, s) in [
            ("without", &without),
            ("one at a time", &one),
            ("with", &with),
        ] {
            eprintln!(
                "{name}: {} of {} misses waited for a write-back ({} pages by the writer in {} \
                 rounds)",
                s.writeback_waits, s.misses, s.bg_pages_written, s.bg_rounds
            );
        }
        assert!(without.writeback_waits > without.misses / 8, "{without:?}");
        assert!(one.writeback_waits > one.misses / 20, "{one:?}");
        // Below 2 % of the misses (the tracker asks for 1 % on a real disk, with a larger pool).
        assert!(
            with.writeback_waits * 50 < with.misses,
            "the writer fell behind: {} of {} misses waited",
            with.writeback_waits,
            with.misses
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

/// A `MemDisk` storage whose reads wait while `Gate::reads` is closed, and whose writes stay in
/// flight for a few passes of the runtime while it counts them (most at once in `max_writing`).
struct GateStorage {
    inner: MemStorage,
    gate: Rc<Gate>,
}

#[derive(Default)]
struct Gate {
    reads: fault_support::Gate,
    writing: Cell<usize>,
    max_writing: Cell<usize>,
}

impl Storage for GateStorage {
    async fn read_pages(
        &self,
        first: PageId,
        count: usize,
        buf: AlignedBuf,
    ) -> BufResult<(), AlignedBuf> {
        self.gate.reads.pass().await;
        self.inner.read_pages(first, count, buf).await
    }

    async fn write_pages(&self, first: PageId, buf: TrackedBuf) -> BufResult<(), TrackedBuf> {
        let gate = &self.gate;
        gate.writing.set(gate.writing.get() + 1);
        gate.max_writing
            .set(gate.max_writing.get().max(gate.writing.get()));
        for _ in 0..4 {
            yield_now().await;
        }
        let done = self.inner.write_pages(first, buf).await;
        gate.writing.set(gate.writing.get() - 1);
        done
    }

    async fn sync(&self) -> jdb_fs::Result<()> {
        self.inner.sync().await
    }

    async fn size(&self) -> jdb_fs::Result<u64> {
        self.inner.size().await
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }
}

/// Dirties `n` pages that are not neighbours (one write each): ids 0, 2, 4, ...
async fn dirty_apart<S: Storage>(pool: &BufferPool<S>, n: u32, v: u8) {
    for k in 0..n {
        let id = 2 * k;
        pool.get(id).await.unwrap().data_mut()[..64].copy_from_slice(&pattern(id, v));
    }
}

#[test]
fn the_writer_yields_to_reads_in_flight() {
    block_on(async {
        const DIRTY: u32 = 16;
        const READERS: u32 = 12;
        let disk = disk().await;
        let gate = Rc::new(Gate::default());
        let storage = GateStorage {
            inner: disk.storage(),
            gate: Rc::clone(&gate),
        };
        // Room for the dirty pages and for the readers' pages without evicting anything.
        let pool = Rc::new(BufferPool::open(storage, 64).await.unwrap());
        dirty_apart(&pool, DIRTY, 1).await;
        // The readers' misses wait at the gate: READERS reads in flight, and they stay.
        gate.reads.close();
        let readers: Vec<_> = (0..READERS)
            .map(|k| {
                let pool = Rc::clone(&pool);
                compio::runtime::spawn(async move {
                    drop(pool.read(100 + k).await.unwrap());
                })
            })
            .collect();
        for _ in 0..4 {
            yield_now().await;
        }
        assert_eq!(pool.reads_in_flight(), READERS as usize);

        // A small backlog (16 dirty pages in a window of 4096 frames asks for one write at a
        // time) and the reads fill the I/O budget: the writer writes one page at a time.
        let mut config = BackgroundWriter::for_cap(64);
        config.clean_target = 4096;
        config.max_in_flight = 32;
        config.io_budget = READERS as usize;
        config.interval = Duration::from_micros(100);
        assert_eq!(config.max_pages, 256);
        let handle = pool.start_background_writer(config);
        while pool.dirty_count() > 0 {
            compio::time::sleep(Duration::from_micros(200)).await;
        }
        handle.stop().await;
        let busy = gate.max_writing.get();
        assert_eq!(pool.reads_in_flight(), READERS as usize);
        assert_eq!(pool.stats().bg_pages_written, u64::from(DIRTY));

        // The reads complete: with the device idle, the same backlog goes out as fast as the
        // I/O budget allows (READERS writes at once).
        gate.reads.open();
        for reader in readers {
            reader.await.unwrap();
        }
        assert_eq!(pool.reads_in_flight(), 0);
        dirty_apart(&pool, DIRTY, 2).await;
        gate.max_writing.set(0);
        let handle = pool.start_background_writer(config);
        while pool.dirty_count() > 0 {
            compio::time::sleep(Duration::from_micros(200)).await;
        }
        handle.stop().await;
        let idle = gate.max_writing.get();
        eprintln!("most writes in flight: {busy} while {READERS} reads were, {idle} with none");
        assert_eq!(busy, 1, "the writer did not yield to the reads in flight");
        assert_eq!(
            idle, READERS as usize,
            "with no reads, it fills the I/O budget"
        );
        pool.close().await.unwrap();
    });
}
