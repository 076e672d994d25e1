//! The model test for many tasks on one pool: rounds of tasks doing random gets, reads, writes,
//! allocations, groups, prefetches, flushes and syncs at once (I/O yields, so they interleave),
//! some holding guards across awaits and some dropped mid-flight, checked against a model at
//! every step; between rounds the pool is closed and reopened, or the disk crashes and the pool
//! reopens on what a sync made durable.
//!
//! The model is exact because a page changes only under a `PageMut`: a task that holds the guard
//! updates the model in the same synchronous step as the page, so while any guard of a page is
//! held the page must read as the model says.
//!
//! `JDB_CMODEL_SEEDS` (default 12) rounds of seeds, `JDB_CMODEL_OPS` (default 100) operations per
//! task per round; a failure prints the seed (`JDB_CMODEL_SEED` reruns one). The test counts the
//! operations that did something (a call that completed, or was dropped mid-flight), by kind,
//! prints them, and asserts that most operations did something and every kind happened.

mod fault_support;

use std::{cell::RefCell, future::Future, pin::pin, rc::Rc, task::Poll};

use fault_support::{block_on, policy_of, yield_now};
use jdb_page::{
    BufferPool, Error, Page, PageId, PoolOptions,
    testing::{Crash, MemDisk, MemStorage, Rng},
};

type Pool = BufferPool<MemStorage>;

/// Bytes 0..16 of a page's payload: its id and version; the rest of the first 64 bytes follow.
fn payload(id: PageId, version: u64) -> [u8; 64] {
    let mut p = [0u8; 64];
    p[..8].copy_from_slice(&version.to_le_bytes());
    p[8..12].copy_from_slice(&id.to_le_bytes());
    for (i, b) in p[12..].iter_mut().enumerate() {
        *b = (version as u8).wrapping_mul(31).wrapping_add(id as u8) ^ i as u8;
    }
    p
}

#[derive(Default)]
struct Model {
    /// Current version of each page (0: a fresh page, as `alloc` made it, not yet written).
    version: Vec<u64>,
    /// Versions each page had since `floor` (the durable state a completed sync proved).
    since: Vec<Vec<u64>>,
    /// Per page, the version as of the start of the last completed sync: at least this survives
    /// a crash (or a later version).
    floor: Vec<u64>,
    next_version: u64,
    /// Pages pinned with `Page::pin` by the model (at most a few).
    pinned: Vec<PageId>,
    done: Done,
}

/// Operations that did something (not those that found no page to act on), by kind.
#[derive(Debug, Default, Clone, Copy)]
struct Done {
    /// Operations drawn, whether or not they did something.
    drawn: usize,
    reads: usize,
    writes: usize,
    allocs: usize,
    /// A shared and an exclusive guard held at once.
    pairs: usize,
    read_groups: usize,
    write_groups: usize,
    prefetches: usize,
    page_flushes: usize,
    flush_alls: usize,
    syncs: usize,
    pins: usize,
    unpins: usize,
    /// Gets, reads and flushes under a deadline: finished in time, or dropped mid-flight.
    finished_in_time: usize,
    dropped_mid_flight: usize,
    /// Writes whose guard was held by a future then dropped.
    abandoned_writes: usize,
}

impl Done {
    /// Each kind of operation: its name and how many were done.
    fn kinds(&self) -> [(&'static str, usize); 15] {
        [
            ("reads", self.reads),
            ("writes", self.writes),
            ("allocs", self.allocs),
            ("pairs", self.pairs),
            ("read_groups", self.read_groups),
            ("write_groups", self.write_groups),
            ("prefetches", self.prefetches),
            ("page_flushes", self.page_flushes),
            ("flush_alls", self.flush_alls),
            ("syncs", self.syncs),
            ("pins", self.pins),
            ("unpins", self.unpins),
            ("finished_in_time", self.finished_in_time),
            ("dropped_mid_flight", self.dropped_mid_flight),
            ("abandoned_writes", self.abandoned_writes),
        ]
    }

    /// Operations that did something.
    fn total(&self) -> usize {
        self.kinds().iter().map(|&(_, n)| n).sum()
    }

    fn add(&mut self, other: &Done) {
        let Done {
            drawn,
            reads,
            writes,
            allocs,
            pairs,
            read_groups,
            write_groups,
            prefetches,
            page_flushes,
            flush_alls,
            syncs,
            pins,
            unpins,
            finished_in_time,
            dropped_mid_flight,
            abandoned_writes,
        } = *other;
        self.drawn += drawn;
        self.reads += reads;
        self.writes += writes;
        self.allocs += allocs;
        self.pairs += pairs;
        self.read_groups += read_groups;
        self.write_groups += write_groups;
        self.prefetches += prefetches;
        self.page_flushes += page_flushes;
        self.flush_alls += flush_alls;
        self.syncs += syncs;
        self.pins += pins;
        self.unpins += unpins;
        self.finished_in_time += finished_in_time;
        self.dropped_mid_flight += dropped_mid_flight;
        self.abandoned_writes += abandoned_writes;
    }
}

/// Counts one operation done: `kind` picks its counter.
fn count(sh: &Shared, kind: impl FnOnce(&mut Done) -> &mut usize) {
    *kind(&mut sh.m.borrow_mut().done) += 1;
}

impl Model {
    fn write(&mut self, id: PageId) -> u64 {
        self.next_version += 1;
        let v = self.next_version;
        self.version[id as usize] = v;
        self.since[id as usize].push(v);
        v
    }

    fn allocated(&mut self, id: PageId) {
        assert_eq!(
            id as usize,
            self.version.len(),
            "alloc ids are dense and in order"
        );
        self.version.push(0);
        self.since.push(vec![0]);
        self.floor.push(u64::MAX); // never synced: may be missing after a crash
    }
}

/// Checks that `page` holds what the model says.
#[track_caller]
fn check(page: &Page, m: &Model, fresh: &[u8]) {
    let id = page.id();
    let v = m.version[id as usize];
    let want: &[u8] = if v == 0 {
        &fresh[..64]
    } else {
        &payload(id, v)
    };
    assert_eq!(&page.data()[..64], want, "page {id} should be version {v}");
}

/// Yields to the other tasks `n` times.
async fn yields(n: u64) {
    for _ in 0..n {
        yield_now().await;
    }
}

/// Polls `fut` until it is done or `polls` polls (each a turn of the runtime) have passed, then
/// drops it: a timeout or `select!` around a call. Returns whether it finished.
async fn cancel_after<F: Future>(fut: F, polls: u64) -> bool {
    let mut fut = pin!(fut);
    let mut left = polls;
    std::future::poll_fn(|cx| {
        if fut.as_mut().poll(cx).is_ready() {
            return Poll::Ready(true);
        }
        if left == 0 {
            return Poll::Ready(false);
        }
        left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

struct Shared {
    pool: Pool,
    m: RefCell<Model>,
    fresh: Vec<u8>,
    cap: usize,
}

/// One task's random operations.
async fn task(sh: Rc<Shared>, seed: u64, ops: usize) {
    let mut rng = Rng::new(seed);
    for _ in 0..ops {
        let pages = sh.m.borrow().version.len() as u64;
        let pick = |rng: &mut Rng| (pages > 0).then(|| rng.below(pages) as PageId);
        sh.m.borrow_mut().done.drawn += 1;
        match rng.below(100) {
            0..=24 => {
                if let Some(id) = pick(&mut rng) {
                    let page = sh.pool.read(id).await.unwrap();
                    check(&page, &sh.m.borrow(), &sh.fresh);
                    let hold = rng.below(3);
                    yields(hold).await;
                    check(&page, &sh.m.borrow(), &sh.fresh);
                    count(&sh, |d| &mut d.reads);
                }
            }
            25..=49 => {
                if let Some(id) = pick(&mut rng) {
                    let mut page = sh.pool.get(id).await.unwrap();
                    check(&page, &sh.m.borrow(), &sh.fresh);
                    let v = sh.m.borrow_mut().write(id);
                    page.data_mut()[..64].copy_from_slice(&payload(id, v));
                    let hold = rng.below(3);
                    yields(hold).await;
                    check(&page, &sh.m.borrow(), &sh.fresh);
                    count(&sh, |d| &mut d.writes);
                }
            }
            50..=57 => {
                if pages < 48 {
                    let mut page = sh.pool.alloc().await.unwrap();
                    let id = page.id();
                    let mut m = sh.m.borrow_mut();
                    m.allocated(id);
                    if rng.below(2) == 0 {
                        let v = m.write(id);
                        page.data_mut()[..64].copy_from_slice(&payload(id, v));
                    }
                    check(&page, &m, &sh.fresh);
                    m.done.allocs += 1;
                }
            }
            58..=63 => {
                // Two guards at once, in id order (as a B-tree holds a parent and a child).
                if let (Some(a), Some(b)) = (pick(&mut rng), pick(&mut rng))
                    && a != b
                {
                    let (a, b) = (a.min(b), a.max(b));
                    let pa = sh.pool.read(a).await.unwrap();
                    let mut pb = sh.pool.get(b).await.unwrap();
                    let v = sh.m.borrow_mut().write(b);
                    pb.data_mut()[..64].copy_from_slice(&payload(b, v));
                    yields(1).await;
                    check(&pa, &sh.m.borrow(), &sh.fresh);
                    check(&pb, &sh.m.borrow(), &sh.fresh);
                    count(&sh, |d| &mut d.pairs);
                }
            }
            64..=69 => {
                if let Some(first) = pick(&mut rng) {
                    let n = (1 + rng.below(4) as usize).min((pages - u64::from(first)) as usize);
                    if rng.below(2) == 0 {
                        let group = sh.pool.read_group(first, n).await.unwrap();
                        for (k, page) in group.iter().enumerate() {
                            assert_eq!(page.id(), first + k as PageId);
                            check(page, &sh.m.borrow(), &sh.fresh);
                        }
                        count(&sh, |d| &mut d.read_groups);
                    } else {
                        let mut group = sh.pool.get_group(first, n).await.unwrap();
                        for page in &mut group {
                            let id = page.id();
                            check(page, &sh.m.borrow(), &sh.fresh);
                            let v = sh.m.borrow_mut().write(id);
                            page.data_mut()[..64].copy_from_slice(&payload(id, v));
                        }
                        count(&sh, |d| &mut d.write_groups);
                    }
                }
            }
            70..=74 => {
                let ids: Vec<PageId> = (0..rng.below(12)).filter_map(|_| pick(&mut rng)).collect();
                sh.pool.prefetch(&ids).await.unwrap();
                if !ids.is_empty() {
                    count(&sh, |d| &mut d.prefetches);
                }
            }
            75..=79 => {
                if let Some(id) = pick(&mut rng) {
                    sh.pool.flush_page(id).await.unwrap();
                    count(&sh, |d| &mut d.page_flushes);
                }
            }
            80..=83 => {
                sh.pool.flush_all().await.unwrap();
                count(&sh, |d| &mut d.flush_alls);
            }
            84..=87 => {
                // Every change made under a guard dropped before the call is covered.
                let at_call: Vec<u64> = sh.m.borrow().version.clone();
                sh.pool.sync().await.unwrap();
                let mut m = sh.m.borrow_mut();
                for (id, v) in at_call.into_iter().enumerate() {
                    // The floor only moves forward (syncs may complete out of order).
                    let floor = &mut m.floor[id];
                    if *floor == u64::MAX || v > *floor {
                        *floor = v;
                    }
                }
                m.done.syncs += 1;
            }
            88..=90 => {
                // Pin a page for a while (a long-lived pin), at most two at once.
                if let Some(id) = pick(&mut rng)
                    && sh.m.borrow().pinned.len() < 2
                {
                    sh.pool.get(id).await.unwrap().pin();
                    sh.m.borrow_mut().pinned.push(id);
                    count(&sh, |d| &mut d.pins);
                }
            }
            91..=93 => {
                let unpin = sh.m.borrow_mut().pinned.pop();
                if let Some(id) = unpin {
                    let mut page = sh.pool.get(id).await.unwrap();
                    assert!(page.is_pinned(), "page {id} lost its pin");
                    page.unpin();
                    count(&sh, |d| &mut d.unpins);
                }
            }
            94..=96 => {
                // A get, read or flush dropped mid-flight.
                let polls = rng.below(4);
                if let Some(id) = pick(&mut rng) {
                    let finished = match rng.below(3) {
                        0 => cancel_after(sh.pool.get(id), polls).await,
                        1 => cancel_after(sh.pool.read(id), polls).await,
                        _ => cancel_after(sh.pool.flush_all(), polls).await,
                    };
                    if finished {
                        count(&sh, |d| &mut d.finished_in_time);
                    } else {
                        count(&sh, |d| &mut d.dropped_mid_flight);
                    }
                }
            }
            _ => {
                // A write whose guard is held by a future that is then dropped.
                if let Some(id) = pick(&mut rng) {
                    let fut = async {
                        let mut page = sh.pool.get(id).await.unwrap();
                        let v = sh.m.borrow_mut().write(id);
                        page.data_mut()[..64].copy_from_slice(&payload(id, v));
                        std::future::pending::<()>().await;
                    };
                    cancel_after(fut, 3).await;
                    count(&sh, |d| &mut d.abandoned_writes);
                }
            }
        }
        // Pinned pages are never evicted.
        for &id in &sh.m.borrow().pinned {
            assert!(sh.pool.is_cached(id), "pinned page {id} was evicted");
        }
        assert!(sh.pool.len() <= sh.cap);
    }
}

/// After a crash, every page holds its floor version or a later one it had (never older, never
/// other data); a page changed since the floor may also be torn. Returns the new model.
async fn check_after_crash(pool: &Pool, m: &Model, fresh: &[u8]) -> Model {
    let count = pool.page_count() as usize;
    let synced = m.floor.iter().take_while(|&&f| f != u64::MAX).count();
    assert!(
        count >= synced.min(m.version.len()),
        "{count} pages after a crash"
    );
    let mut next = Model {
        next_version: m.next_version,
        ..Model::default()
    };
    for id in 0..count {
        let (floor, since) = (m.floor[id], &m.since[id]);
        let version = match pool.read(id as PageId).await {
            Ok(page) => {
                let found = since.iter().copied().find(|&v| {
                    let want: &[u8] = if v == 0 {
                        &fresh[..64]
                    } else {
                        &payload(id as PageId, v)
                    };
                    &page.data()[..64] == want
                });
                let Some(v) = found else {
                    panic!("page {id} holds bytes it never had");
                };
                assert!(
                    floor == u64::MAX || v >= floor,
                    "page {id} went back to version {v}, before the synced {floor}"
                );
                v
            }
            Err(Error::Corrupt { .. }) => {
                assert!(
                    floor == u64::MAX || since.iter().any(|&v| v > floor),
                    "page {id}, unchanged since it was synced, is corrupt"
                );
                // Rebuild it, as recovery would.
                let mut page = pool.init_page(id as PageId).await.unwrap();
                page.data_mut()[..64].copy_from_slice(&payload(id as PageId, 0));
                drop(page);
                next.next_version += 1;
                let v = next.next_version;
                pool.get(id as PageId).await.unwrap().data_mut()[..64]
                    .copy_from_slice(&payload(id as PageId, v));
                v
            }
            Err(e) => panic!("page {id} after a crash: {e}"),
        };
        next.version.push(version);
        next.since.push(vec![version]);
        next.floor.push(u64::MAX);
    }
    pool.sync().await.unwrap();
    next.floor = next.version.clone();
    next
}

/// Runs four rounds of seed `seed`; returns what was done.
async fn run(seed: u64, ops: usize) -> Done {
    let mut rng = Rng::new(seed);
    let disk = MemDisk::new();
    disk.set_yield(true);
    let tasks = 2 + rng.below(7) as usize;
    // Room for every task's guards (up to four each) and a long pin or two, so no PoolFull;
    // small enough that pages are evicted all the time.
    let cap = 4 * tasks + 2 + rng.below(8) as usize;
    let fresh = Page::new(0).data().to_vec();
    let mut reopens = 0;
    let open = |reopens| {
        let options = PoolOptions::new(cap).policy(policy_of(seed, reopens));
        BufferPool::open_with(disk.storage(), options)
    };
    let mut pool = open(reopens).await.unwrap();
    let mut m = Model::default();
    let mut done = Done::default();
    for round in 0..4 {
        let sh = Rc::new(Shared {
            pool,
            m: RefCell::new(m),
            fresh: fresh.clone(),
            cap,
        });
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let sh = Rc::clone(&sh);
                compio::runtime::spawn(task(sh, seed ^ (round * 1000 + t as u64 + 1), ops))
            })
            .collect();
        for h in handles {
            if let Err(panic) = h.await {
                std::panic::resume_unwind(panic);
            }
        }
        let sh = Rc::try_unwrap(sh).unwrap_or_else(|_| unreachable!("tasks are done"));
        pool = sh.pool;
        m = sh.m.into_inner();
        done.add(&m.done);
        // Every page reads as the model says.
        for id in 0..m.version.len() as PageId {
            check(&pool.read(id).await.unwrap(), &m, &fresh);
        }
        for id in std::mem::take(&mut m.pinned) {
            pool.get(id).await.unwrap().unpin();
        }
        match rng.below(3) {
            0 => {
                pool.close().await.unwrap();
                drop(pool);
                reopens += 1;
                pool = open(reopens).await.unwrap();
                m.floor = m.version.clone();
                for id in 0..m.version.len() as PageId {
                    check(&pool.read(id).await.unwrap(), &m, &fresh);
                }
            }
            1 => {
                drop(pool);
                let crash = match rng.below(3) {
                    0 => Crash::LoseUnsynced,
                    1 => Crash::KeepUnsynced,
                    _ => Crash::Random { seed: rng.next() },
                };
                disk.crash(crash);
                reopens += 1;
                pool = open(reopens).await.unwrap();
                m = check_after_crash(&pool, &m, &fresh).await;
            }
            _ => {}
        }
        m.done = Done::default();
    }
    pool.close().await.unwrap();
    done
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn many_tasks_on_one_pool_match_the_model() {
    let ops = env_u64("JDB_CMODEL_OPS");
    let one_seed = env_u64("JDB_CMODEL_SEED");
    let seed_count = env_u64("JDB_CMODEL_SEEDS");
    let default_config = ops.is_none() && one_seed.is_none() && seed_count.is_none();
    let ops = ops.unwrap_or(100) as usize;
    let seeds: Vec<u64> = match one_seed {
        Some(seed) => vec![seed],
        None => (0..seed_count.unwrap_or(12)).collect(),
    };
    let mut done = Done::default();
    for seed in seeds {
        let result = std::panic::catch_unwind(|| block_on(run(seed, ops)));
        match result {
            Ok(d) => done.add(&d),
            Err(panic) => {
                eprintln!(
                    "concurrent model failed: JDB_CMODEL_SEED={seed} JDB_CMODEL_OPS={ops} \
                     (first policy {})",
                    policy_of(seed, 0)
                );
                std::panic::resume_unwind(panic);
            }
        }
    }
    let total = done.total();
    eprintln!(
        "concurrent model: {total} of {} operations drawn did something: {done:?}",
        done.drawn
    );
    // An operation does nothing only when it finds no page (before the first alloc of a run),
    // no pin to undo, a third pin, or no room for another page. (A run of one seed or of a few
    // operations, to reproduce a failure, is only checked against the model.)
    if default_config {
        assert!(
            total * 10 >= done.drawn * 8,
            "only {total} of {} operations did something",
            done.drawn
        );
        assert!(total >= 15_000, "only {total} operations did something");
        for (kind, n) in done.kinds() {
            assert!(n > 0, "no {kind}: {done:?}");
        }
    }
}
