//! The write-ahead contract against a model, with a fake log: seeded runs of page updates (each
//! logged, the page's LSN set to its record's), reads, flushes, syncs, checkpoints, failing
//! writes and log flushes, and crashes, on a small pool (so pages are evicted all the time).
//!
//! After every step:
//! - no page in the file (what reads see, and what survives a crash) carries an LSN above the
//!   log's durable LSN: the write-ahead rule;
//! - `dirty_pages()` and `min_rec_lsn()` equal the model's, computed from the file itself: a page
//!   is dirty when it has updates newer than the version in the file, and its recLSN is the LSN
//!   of the oldest of those.
//!
//! Some crashes strike in the middle of a call (a write-back, `flush_all`, a checkpoint, `sync`
//! polled a few times and dropped with log flushes and page writes in flight).
//!
//! After every crash (which also loses the log's records past its durable LSN), recovery redoes
//! the durable log from the last checkpoint's redo point, and every page then holds exactly its
//! last durable update: the redo point plus the log replays to the model's state.
//!
//! `JDB_WAL_SEEDS` (default 40) runs of `JDB_WAL_OPS` (default 300) steps.

mod fault_support;

use std::{
    cell::{Cell, RefCell},
    collections::BTreeMap,
    future::Future,
    io,
    rc::Rc,
    task::Poll,
};

use fault_support::block_on;
use jdb_page::{
    BufferPool, Error, LogFuture, Page, PageId, WriteAheadLog,
    testing::{Crash, EIO, Fault, IoKind, MemDisk, MemStorage, Rng},
};

type Pool = BufferPool<MemStorage>;

const PAGES: u32 = 16;

/// A log record: page `page` becomes version `version` (a physical redo record).
#[derive(Debug, Clone, Copy)]
struct Record {
    lsn: u64,
    page: PageId,
    version: u64,
}

/// An in-memory log: records are durable once `flush_to` has covered them.
#[derive(Default)]
struct FakeLog {
    records: RefCell<Vec<Record>>,
    durable: Cell<u64>,
    /// The next `flush_to` fails.
    fail_next: Cell<bool>,
    flushes: Cell<u64>,
}

impl FakeLog {
    fn append(&self, page: PageId, version: u64) -> u64 {
        let mut records = self.records.borrow_mut();
        let lsn = records.len() as u64 + 1;
        records.push(Record { lsn, page, version });
        lsn
    }

    fn end(&self) -> u64 {
        self.records.borrow().len() as u64
    }

    /// A crash: records past the durable LSN are gone.
    fn crash(&self) {
        let durable = self.durable.get() as usize;
        self.records.borrow_mut().truncate(durable);
    }
}

impl WriteAheadLog for FakeLog {
    fn durable_lsn(&self) -> u64 {
        self.durable.get()
    }

    fn flush_to(&self, lsn: u64) -> LogFuture<'_> {
        Box::pin(async move {
            // Like a real log flush: the caller waits.
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if yielded {
                    Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            })
            .await;
            if self.fail_next.take() {
                return Err(io::Error::from_raw_os_error(EIO));
            }
            assert!(lsn <= self.end(), "flush_to({lsn}) past the end of the log");
            self.durable.set(self.durable.get().max(lsn));
            self.flushes.set(self.flushes.get() + 1);
            Ok(())
        })
    }
}

/// Page `id` at `version` with LSN `lsn`: every payload byte depends on the version.
fn fill(page: &mut Page, version: u64, lsn: u64) {
    let data = page.data_mut();
    data.fill(version as u8);
    data[..8].copy_from_slice(&version.to_le_bytes());
    page.set_lsn(lsn).unwrap();
}

fn version_of(page: &Page) -> u64 {
    u64::from_le_bytes(page.data()[..8].try_into().unwrap())
}

/// The LSN of each page in a disk image (`None` for a page that does not verify).
fn image_lsns(image: &[u8]) -> Vec<Option<u64>> {
    image
        .chunks_exact(4096)
        .enumerate()
        .map(|(id, p)| jdb_layout::verify(p, id as PageId).ok().map(|h| h.lsn))
        .collect()
}

struct Sim {
    disk: MemDisk,
    log: Rc<FakeLog>,
    pool: Option<Pool>,
    cap: usize,
    /// Every update since the start, per page: (lsn, version), oldest first. The pages' base
    /// version (0, LSN 0) is durable from the start.
    updates: BTreeMap<PageId, Vec<(u64, u64)>>,
    next_version: u64,
    /// The redo point of the last completed checkpoint.
    redo: u64,
    steps: usize,
    crashes: usize,
    checkpoints: usize,
    /// Crashes that dropped a call still in flight.
    mid_flight: usize,
}

impl Sim {
    fn pool(&self) -> &Pool {
        self.pool.as_ref().unwrap()
    }

    async fn open(&mut self) {
        let pool = BufferPool::open(self.disk.storage(), self.cap)
            .await
            .unwrap();
        pool.attach_log(self.log.clone()).unwrap();
        self.pool = Some(pool);
    }

    /// The checks of every step: the write-ahead rule on the file, and the dirty page table.
    fn check(&self) {
        let durable = self.log.durable_lsn();
        for image in [self.disk.live_image(), self.disk.durable_image()] {
            for (id, lsn) in image_lsns(&image).into_iter().enumerate() {
                if let Some(lsn) = lsn {
                    assert!(
                        lsn <= durable,
                        "page {id} in the file has LSN {lsn} > durable {durable}"
                    );
                }
            }
        }
        let on_disk = image_lsns(&self.disk.live_image());
        let mut expected = Vec::new();
        for (&id, ups) in &self.updates {
            let disk = on_disk.get(id as usize).copied().flatten().unwrap_or(0);
            if let Some(&(rec, _)) = ups.iter().find(|&&(lsn, _)| lsn > disk) {
                expected.push((id, rec));
            }
        }
        let table = self.pool().dirty_pages().unwrap();
        assert_eq!(table, expected, "dirty page table (page, recLSN)");
        assert_eq!(
            self.pool().min_rec_lsn().unwrap(),
            expected.iter().map(|&(_, r)| r).min()
        );
    }

    async fn step(&mut self, rng: &mut Rng) {
        let id = rng.below(u64::from(PAGES)) as PageId;
        match rng.below(100) {
            0..=49 => {
                // Latch, change, log, set the LSN, release.
                self.next_version += 1;
                let version = self.next_version;
                let res = match self.pool().get(id).await {
                    Ok(mut page) => {
                        let lsn = self.log.append(id, version);
                        fill(&mut page, version, lsn);
                        Ok(lsn)
                    }
                    Err(e) => Err(e),
                };
                match res {
                    Ok(lsn) => self.updates.entry(id).or_default().push((lsn, version)),
                    Err(e) => self.expected_error(&e),
                }
            }
            50..=64 => {
                if let Ok(page) = self.pool().read(id).await {
                    let want = self
                        .updates
                        .get(&id)
                        .and_then(|u| u.last())
                        .map_or(0, |u| u.1);
                    assert_eq!(version_of(&page), want, "page {id}");
                }
            }
            65..=69 => {
                if let Err(e) = self.pool().flush_page(id).await {
                    self.expected_error(&e);
                }
            }
            70..=74 => {
                if let Err(e) = self.pool().flush_all().await {
                    self.expected_error(&e);
                }
            }
            75..=79 => {
                let upto = self.log.end();
                match self.pool().checkpoint(upto).await {
                    Ok(redo) => {
                        assert!(redo <= upto + 1);
                        // Every update older than the redo point is in the (durable) file.
                        let on_disk = image_lsns(&self.disk.durable_image());
                        for (&id, ups) in &self.updates {
                            let disk = on_disk.get(id as usize).copied().flatten().unwrap_or(0);
                            if let Some(&(lsn, _)) = ups.iter().rev().find(|&&(lsn, _)| lsn < redo)
                            {
                                assert!(
                                    disk >= lsn,
                                    "page {id}: update {lsn} < redo {redo} not durable"
                                );
                            }
                        }
                        self.redo = redo;
                        self.checkpoints += 1;
                    }
                    Err(e) => self.expected_error(&e),
                }
            }
            80..=82 => self
                .disk
                .faults()
                .fail_nth(IoKind::Write, 1 + rng.below(3), Fault::Eio),
            83..=85 => self.log.fail_next.set(true),
            86 => self.crash(rng).await,
            87..=89 => self.crash_mid_flight(rng).await,
            _ => {
                if let Err(e) = self.pool().sync().await {
                    self.expected_error(&e);
                }
                if self.pool().is_poisoned() {
                    self.crash(rng).await;
                }
            }
        }
        self.check();
        self.steps += 1;
    }

    /// The only errors allowed: the injected write failure, the failing log flush.
    #[track_caller]
    fn expected_error(&self, e: &Error) {
        match e {
            Error::Storage(io) if io.raw_os_error() == Some(EIO) => {}
            Error::Log { source, .. } if source.raw_os_error() == Some(EIO) => {}
            other => panic!("unexpected error: {other}"),
        }
    }

    /// Power loss in the middle of a call: a write-back (a miss evicting dirty pages), a
    /// `flush_all`, a checkpoint or a `sync` is polled a few times (log flushes and page writes
    /// in flight, some done, some not) and dropped where it stands, then the power goes.
    async fn crash_mid_flight(&mut self, rng: &mut Rng) {
        let polls = 1 + rng.below(6) as usize;
        let id = rng.below(u64::from(PAGES)) as PageId;
        let upto = self.log.end();
        let pool = self.pool();
        let done = match rng.below(4) {
            0 => poll_then_drop(async { pool.get(id).await.map(drop) }, polls).await,
            1 => poll_then_drop(pool.flush_all(), polls).await,
            2 => poll_then_drop(async { pool.checkpoint(upto).await.map(drop) }, polls).await,
            _ => poll_then_drop(pool.sync(), polls).await,
        };
        self.mid_flight += usize::from(!done);
        self.crash(rng).await;
    }

    /// Power loss (pages and log lose what was not durable), then recovery: redo from the last
    /// checkpoint's redo point, and every page holds its last durable update.
    async fn crash(&mut self, rng: &mut Rng) {
        self.crashes += 1;
        drop(self.pool.take());
        let crash = match rng.below(3) {
            0 => Crash::LoseUnsynced,
            1 => Crash::KeepUnsynced,
            _ => Crash::Random { seed: rng.next() },
        };
        self.disk.crash(crash);
        self.disk.faults().clear();
        self.log.crash();
        self.log.fail_next.set(false);
        let durable = self.log.durable_lsn();
        for (id, lsn) in image_lsns(&self.disk.durable_image())
            .into_iter()
            .enumerate()
        {
            if let Some(lsn) = lsn {
                assert!(
                    lsn <= durable,
                    "after the crash page {id} has LSN {lsn} > {durable}"
                );
            }
        }
        self.open().await;

        // Redo: every durable record from the redo point, where the page is older.
        let records: Vec<Record> = self.log.records.borrow().clone();
        for r in records.iter().filter(|r| r.lsn >= self.redo) {
            let pool = self.pool();
            let mut page = match pool.get(r.page).await {
                Ok(page) => page,
                Err(Error::Corrupt { .. }) => pool.init_page(r.page).await.unwrap(),
                Err(e) => panic!("redo of {r:?}: {e}"),
            };
            if page.header().lsn < r.lsn {
                fill(&mut page, r.version, r.lsn);
            }
        }
        // The model forgets the updates the crash lost.
        for ups in self.updates.values_mut() {
            ups.retain(|&(lsn, _)| lsn <= durable);
        }
        for id in 0..PAGES {
            let want = self
                .updates
                .get(&id)
                .and_then(|u| u.last())
                .map_or(0, |u| u.1);
            let page = self
                .pool()
                .read(id)
                .await
                .unwrap_or_else(|e| panic!("page {id} after redo from {}: {e}", self.redo));
            assert_eq!(
                version_of(&page),
                want,
                "page {id} after redo from {}",
                self.redo
            );
        }
    }
}

/// Polls `call` up to `polls` times and drops it; whether it finished (with any result).
async fn poll_then_drop<F: Future>(call: F, polls: usize) -> bool {
    let mut call = std::pin::pin!(call);
    for _ in 0..polls {
        if std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx)))
            .await
            .is_ready()
        {
            return true;
        }
    }
    false
}

async fn run(seed: u64, steps: usize) -> (usize, usize, usize, u64, usize) {
    let mut rng = Rng::new(seed);
    let disk = MemDisk::new();
    disk.set_yield(true);
    // The base: every page at version 0, LSN 0, synced.
    {
        let pool = BufferPool::open(disk.storage(), 4).await.unwrap();
        for _ in 0..PAGES {
            let mut page = pool.alloc().await.unwrap();
            fill(&mut page, 0, 0);
        }
        pool.close().await.unwrap();
    }
    let mut sim = Sim {
        disk,
        log: Rc::new(FakeLog::default()),
        pool: None,
        cap: 2 + rng.below(5) as usize,
        updates: BTreeMap::new(),
        next_version: 0,
        redo: 0,
        steps: 0,
        crashes: 0,
        checkpoints: 0,
        mid_flight: 0,
    };
    sim.open().await;
    for _ in 0..steps {
        sim.step(&mut rng).await;
    }
    sim.crash(&mut rng).await;
    (
        sim.steps,
        sim.crashes,
        sim.checkpoints,
        sim.log.flushes.get(),
        sim.mid_flight,
    )
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn the_write_ahead_rule_the_dirty_page_table_and_redo_from_a_checkpoint_hold() {
    let steps = env_u64("JDB_WAL_OPS").unwrap_or(300) as usize;
    let seeds: Vec<u64> = match env_u64("JDB_WAL_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_u64("JDB_WAL_SEEDS").unwrap_or(40)).collect(),
    };
    let (mut total, mut crashes, mut checkpoints, mut flushes, mut mid_flight) = (0, 0, 0, 0, 0);
    for seed in seeds {
        let outcome = std::panic::catch_unwind(|| block_on(run(seed, steps)));
        match outcome {
            Ok((s, c, k, f, m)) => {
                mid_flight += m;
                total += s;
                crashes += c;
                checkpoints += k;
                flushes += f;
            }
            Err(panic) => {
                eprintln!("wal model failed: JDB_WAL_SEED={seed} JDB_WAL_OPS={steps}");
                std::panic::resume_unwind(panic);
            }
        }
    }
    eprintln!(
        "wal model: {total} steps, {crashes} crashes ({mid_flight} with a call dropped mid-flight), \
         {checkpoints} checkpoints, {flushes} log flushes by the pool"
    );
    assert!(crashes > 0 && checkpoints > 0 && flushes > 0);
    assert!(mid_flight > 0, "no crash hit a call in flight");
}
