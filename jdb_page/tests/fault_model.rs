//! Model test under faults and crashes: thousands of random operations (alloc, get, write, pin,
//! unpin, flush_page, flush_all, sync, close-and-reopen, page groups and prefetch, futures
//! dropped mid-flight) on a small
//! pool over a `MemDisk` that fails reads, writes and syncs (`EIO`, `ENOSPC`, torn writes; once
//! or until cleared) and crashes (losing, keeping or tearing unsynced writes), checked after
//! every step against a model with two maps:
//!
//! - `live`: what the pool must return now (a fault changes nothing in it);
//! - `durable`: what must survive a crash (the state at the last successful sync), plus, per
//!   page, the versions it took since then (any of which the pool may have written back).
//!
//! Every operation must succeed unless a fault was injected into it, and then it must fail with
//! that error (nothing swallowed). After a crash every synced page reads back exactly; a page
//! changed since the last sync holds one of its versions or is `Corrupt` (checksum mismatch);
//! only a page never synced may be missing or never written. Opening and reading after a crash
//! never writes.
//!
//! Seeded and reproducible: `JDB_FAULT_SEED=<n>` runs one seed, `JDB_FAULT_SEEDS` /
//! `JDB_FAULT_OPS` scale the run (default 24 seeds x 500 operations). A failure prints the seed
//! and the last operations.

mod common;
mod fault_support;

use std::collections::HashMap;

use fault_support::*;
use jdb_page::{
    BufferPool, Error, Page, PageId, PageMut, PolicyKind, PoolOptions,
    testing::{Crash, EIO, ENOSPC, Fault, IoKind, MemDisk, Rng},
};

/// `jdb_page::FLUSH_DEPTH` as the fault counter's type.
const FLUSH_DEPTH: u64 = jdb_page::FLUSH_DEPTH as u64;

/// Most pages the model allocates.
const MAX_PAGES: usize = 40;

/// What a page holds in the model.
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    /// This payload.
    Known(Vec<u8>),
    /// A page a crash tore or left unwritten: reading it must fail with `Corrupt`.
    Broken,
}

#[derive(Default)]
struct Model {
    /// What the pool must return now, by page id.
    live: Vec<Slot>,
    /// The pages at the last successful sync (`durable.len()` pages were in the file).
    durable: Vec<Slot>,
    /// Per page of `live`: the payloads it took since the last successful sync.
    since_sync: Vec<Vec<Vec<u8>>>,
    pins: HashMap<PageId, u32>,
}

impl Model {
    fn pinned_pages(&self) -> usize {
        self.pins.values().filter(|&&c| c > 0).count()
    }

    fn pins_of(&self, id: PageId) -> u32 {
        self.pins.get(&id).copied().unwrap_or(0)
    }

    fn synced(&mut self) {
        self.durable = self.live.clone();
        self.since_sync.iter_mut().for_each(Vec::clear);
    }

    fn changed(&mut self, id: PageId, payload: Vec<u8>) {
        self.since_sync[id as usize].push(payload.clone());
        self.live[id as usize] = Slot::Known(payload);
    }
}

/// The last operations, printed with the seed when a check fails.
struct Trace {
    seed: u64,
    cap: usize,
    policy: PolicyKind,
    ops: Vec<String>,
}

impl Trace {
    fn push(&mut self, step: usize, op: String) {
        if self.ops.len() == 40 {
            self.ops.remove(0);
        }
        self.ops.push(format!("#{step} {op}"));
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "fault model failed: JDB_FAULT_SEED={} (cap {}, {}); last operations:\n  {}",
                self.seed,
                self.cap,
                self.policy,
                self.ops.join("\n  ")
            );
        }
    }
}

struct Sim {
    rng: Rng,
    disk: MemDisk,
    pool: Option<MemPool>,
    cap: usize,
    /// The pool's eviction policy (the seed's: every policy runs the same model).
    policy: PolicyKind,
    m: Model,
    fresh: Vec<u8>,
    /// `disk.faults().injected()` before the current operation.
    injected_before: u64,
    counts: Counts,
}

#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    ops: usize,
    errors: usize,
    crashes: usize,
    torn_after_crash: usize,
    reopens: usize,
    poisonings: usize,
}

/// An injected I/O error (the only error a healthy page may give).
fn is_injected(e: &Error) -> bool {
    matches!(e, Error::Storage(io @ jdb_fs::Error::Io { .. })
        if matches!(io.raw_os_error(), Some(EIO | ENOSPC)))
}

impl Sim {
    fn pool(&mut self) -> &mut MemPool {
        self.pool.as_mut().unwrap()
    }

    /// Faults injected since the operation began.
    fn injected(&self) -> u64 {
        self.disk.faults().injected() - self.injected_before
    }

    /// Checks an operation's outcome against the faults injected into it: `Ok` means none was,
    /// an I/O error means exactly one was (and is that error). Returns whether it failed.
    #[track_caller]
    fn outcome<T>(&mut self, res: &Result<T, Error>) -> bool {
        self.outcome_upto(res, 1)
    }

    /// Like `outcome`, for calls with up to `max_faults` requests in flight (`flush_all` keeps
    /// `FLUSH_DEPTH` writes going, and a persistent fault fails each of them).
    fn outcome_upto<T>(&mut self, res: &Result<T, Error>, max_faults: u64) -> bool {
        match res {
            Ok(_) => {
                assert_eq!(self.injected(), 0, "an injected fault was swallowed");
                false
            }
            Err(e) if is_injected(e) => {
                assert!(
                    (1..=max_faults).contains(&self.injected()),
                    "error {e} with {} faults injected (1..={max_faults} expected)",
                    self.injected()
                );
                self.counts.errors += 1;
                true
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn pick(&mut self) -> Option<PageId> {
        let n = self.m.live.len() as u64;
        (n > 0).then(|| self.rng.below(n) as PageId)
    }

    /// `get(id)` with every check that does not depend on the caller: content, errors, and
    /// that a failure cached nothing and lost no dirty page. Returns the page on success.
    async fn get(&mut self, id: PageId) -> Option<PageMut<'_>> {
        let was_cached = self.pool().is_cached(id);
        let dirty = self.pool().dirty_count();
        let reads = self.disk.faults().calls(IoKind::Read);
        let slot = self.m.live[id as usize].clone();
        let res = self.pool.as_mut().unwrap().get(id).await.map(|_| ());
        match (&slot, &res) {
            (Slot::Broken, Err(Error::Corrupt { page, .. })) => {
                assert_eq!(*page, id);
                assert_eq!(self.injected(), 0);
            }
            (Slot::Broken, Ok(())) => panic!("broken page {id} returned as data"),
            _ => {
                if self.outcome(&res) {
                    assert!(!was_cached, "a hit on page {id} failed");
                }
            }
        }
        if res.is_err() {
            assert!(!self.pool().is_cached(id), "a failed get cached page {id}");
            // A write-back that failed leaves its pages dirty; one that succeeded before the read
            // failed may have cleaned (and evicted) its victim.
            if self.disk.faults().calls(IoKind::Read) == reads {
                assert_eq!(
                    self.pool().dirty_count(),
                    dirty,
                    "a failed get lost a dirty page"
                );
            }
            return None;
        }
        let page = self.pool.as_mut().unwrap().get(id).await.unwrap();
        match &slot {
            Slot::Known(data) => assert!(page.data() == &data[..], "page {id}: wrong payload"),
            Slot::Broken => unreachable!(),
        }
        Some(page)
    }

    /// The cached pages among `ids` hold what the model says (hits: no I/O).
    async fn check_cached(&mut self, ids: impl Iterator<Item = PageId>) {
        for id in ids {
            if self.pool().is_cached(id) {
                let page = self.pool.as_mut().unwrap().get(id).await.unwrap();
                assert!(
                    self.m.live[id as usize] == Slot::Known(page.data().to_vec()),
                    "page {id}"
                );
            }
        }
    }

    /// The options every pool of the run opens with.
    fn options(&self) -> PoolOptions {
        PoolOptions::new(self.cap).policy(self.policy)
    }

    /// Opens a new pool on the disk, retrying opens that an armed fault fails.
    async fn reopen(&mut self) {
        for attempt in 0.. {
            self.injected_before = self.disk.faults().injected();
            let res = BufferPool::open_with(self.disk.storage(), self.options()).await;
            match res {
                Ok(pool) => {
                    assert_eq!(self.injected(), 0);
                    self.pool = Some(pool);
                    break;
                }
                Err(e) => {
                    assert!(is_injected(&e) && self.injected() == 1, "open: {e}");
                    if attempt == 3 {
                        self.disk.faults().clear();
                    }
                }
            }
        }
        self.m.pins.clear();
        let pool = self.pool();
        assert!(pool.is_empty());
    }

    async fn crash(&mut self, crash: Crash) {
        self.counts.crashes += 1;
        drop(self.pool.take());
        self.disk.crash(crash);
        self.disk.faults().clear();
        let (live, durable) = (self.disk.live_image(), self.disk.durable_image());
        let writes = self.disk.faults().calls(IoKind::Write);
        self.reopen().await;

        let count = self.pool().page_count() as usize;
        let m = &self.m;
        assert!(
            (m.durable.len()..=m.live.len()).contains(&count),
            "{count} pages after a crash; {} were synced, {} allocated",
            m.durable.len(),
            m.live.len()
        );
        let mut slots = Vec::with_capacity(count);
        for id in 0..count {
            let synced = self.m.durable.get(id);
            let versions = &self.m.since_sync[id];
            let res = self.pool.as_mut().unwrap().get(id as PageId).await;
            let slot = match res {
                Ok(page) => {
                    let data = page.data();
                    let ok = matches!(synced, Some(Slot::Known(d)) if d[..] == *data)
                        || versions.iter().any(|v| v[..] == *data);
                    assert!(
                        ok,
                        "page {id} holds bytes it never had (synced: {})",
                        synced.is_some()
                    );
                    Slot::Known(data.to_vec())
                }
                Err(Error::Corrupt { page, source, .. }) => {
                    assert_eq!(page as usize, id);
                    let was_broken = synced == Some(&Slot::Broken);
                    match source {
                        _ if was_broken => {}
                        jdb_layout::Error::ChecksumMismatch { .. } => {
                            assert!(
                                !versions.is_empty(),
                                "page {id} torn but unchanged since sync"
                            );
                            self.counts.torn_after_crash += 1;
                        }
                        jdb_layout::Error::NeverWritten { .. } => {
                            assert!(synced.is_none(), "synced page {id} reads as never written");
                        }
                        other => panic!("page {id} after a crash: {other}"),
                    }
                    Slot::Broken
                }
                Err(e) => panic!("page {id} after a crash: {e}"),
            };
            slots.push(slot);
        }
        assert_eq!(self.pool().dirty_count(), 0);
        assert_eq!(
            self.disk.faults().calls(IoKind::Write),
            writes,
            "open after a crash wrote"
        );
        assert!(self.disk.live_image() == live && self.disk.durable_image() == durable);
        self.m.live = slots;
        self.m.since_sync = vec![Vec::new(); count];
        self.m.synced();
    }

    /// Every page reads back as the model says (faults cleared first).
    async fn sweep(&mut self) {
        self.disk.faults().clear();
        self.injected_before = self.disk.faults().injected();
        for id in 0..self.m.live.len() as PageId {
            if self.m.live[id as usize] == Slot::Broken {
                assert!(matches!(
                    self.pool().get(id).await,
                    Err(Error::Corrupt { .. })
                ));
            } else {
                assert!(self.get(id).await.is_some(), "sweep: page {id}");
            }
        }
    }

    /// A random operation on the current state.
    fn choose(&mut self) -> Op {
        let page = self.pick();
        match (self.rng.below(100), page) {
            (0..=6, _) if self.m.live.len() < MAX_PAGES => Op::Alloc,
            (0..=16, Some(id)) => Op::Get(id),
            (17..=18, _) => {
                let n = 1 + self.rng.below(4.min(self.cap) as u64) as usize;
                if self.m.live.len() + n <= MAX_PAGES {
                    Op::AllocGroup(n)
                } else {
                    Op::FlushAll
                }
            }
            (19..=20, Some(_)) => {
                let n = 1 + self
                    .rng
                    .below(4.min(self.cap as u64).min(self.m.live.len() as u64))
                    as usize;
                let first = self.rng.below((self.m.live.len() - n + 1) as u64) as PageId;
                Op::GetGroup(first, n)
            }
            (21..=22, Some(_)) => {
                let n = 1 + self.rng.below(6);
                Op::Prefetch((0..n).map(|_| self.pick().unwrap()).collect())
            }
            (23..=44, Some(id)) => {
                let offset = self.rng.below(4064) as usize;
                let end = (offset + 1 + self.rng.below(300) as usize).min(4064);
                Op::Write(id, offset..end, self.rng.next() as u8)
            }
            (45..=48, Some(id))
                if self.m.pins_of(id) > 0 || self.m.pinned_pages() + 2 <= self.cap =>
            {
                Op::Pin(id)
            }
            (49..=52, Some(id)) if self.m.pins_of(id) > 0 => Op::Unpin(id),
            (53..=57, Some(id)) => Op::FlushPage(id),
            (58..=61, _) => Op::FlushAll,
            (62..=67, _) => Op::Sync,
            (68..=69, _) => Op::CloseAndOpen,
            (70..=71, _) => Op::Crash(match self.rng.below(10) {
                0..=2 => Crash::LoseUnsynced,
                3 => Crash::KeepUnsynced,
                4..=5 => Crash::TearLast {
                    bytes: 24 + self.rng.below(3 * 4096) as usize,
                },
                _ => Crash::Random {
                    seed: self.rng.next(),
                },
            }),
            (72..=79, _) => {
                let kind = match self.rng.below(20) {
                    0..=6 => IoKind::Read,
                    7..=15 => IoKind::Write,
                    _ => IoKind::Sync,
                };
                // Tears fall at or after byte 24 of the page they stop in (after its magic), so
                // a torn page reads back as `ChecksumMismatch`, the one tear the crash check
                // expects; a tear inside a header is `Corrupt` too (as `Foreign`), shown in
                // crash_recovery.rs. (A tear at 24 + below(8192) could stop inside the second
                // page's header: seed 934 found that.)
                let fault = match self.rng.below(4) {
                    0 | 1 => Fault::Eio,
                    2 => Fault::NoSpace,
                    _ => Fault::Torn {
                        bytes: 4096 * self.rng.below(2) as usize
                            + 24
                            + self.rng.below(4096 - 24) as usize,
                    },
                };
                match self.rng.below(5) {
                    0 => Op::FailAlways(kind, fault),
                    n => Op::FailNth(kind, n.min(3), fault),
                }
            }
            (80..=85, _) => Op::ClearFaults,
            (86..=89, Some(id)) => Op::CancelGet(id, 1 + self.rng.below(3) as usize),
            (90..=92, _) => Op::CancelFlushAll(1 + self.rng.below(3) as usize),
            (93, _) => Op::Sweep,
            (_, Some(id)) => Op::Get(id),
            (_, None) => Op::Alloc,
        }
    }

    /// A pool poisoned by a failed `fdatasync` refuses every write and sync until reopened: do
    /// what an engine must, reopen (as after a crash: the kernel may have dropped any write
    /// since the last good sync) and go on from what the file holds.
    async fn recover_if_poisoned(&mut self) {
        if self.pool().is_poisoned() {
            self.counts.poisonings += 1;
            let seed = self.rng.next();
            self.crash(Crash::Random { seed }).await;
        }
    }

    /// Runs `op` and checks it against the model.
    async fn exec(&mut self, op: Op) {
        self.injected_before = self.disk.faults().injected();
        let syncs = self.disk.syncs();
        let (dirty, page_count) = (self.pool().dirty_count(), self.pool().page_count());
        match op.clone() {
            Op::Alloc => {
                let res = self
                    .pool()
                    .alloc()
                    .await
                    .map(|p| (p.id(), p.data().to_vec(), p.is_dirty()));
                if !self.outcome(&res) {
                    let (id, data, is_dirty) = res.unwrap();
                    assert_eq!((id as usize, is_dirty), (self.m.live.len(), true));
                    assert!(data == self.fresh);
                    self.m.live.push(Slot::Known(data.clone()));
                    self.m.since_sync.push(vec![data]);
                } else {
                    assert_eq!(self.pool().page_count(), page_count);
                    assert_eq!(
                        self.pool().dirty_count(),
                        dirty,
                        "a failed alloc lost a dirty page"
                    );
                }
            }
            Op::Get(id) => {
                self.get(id).await;
            }
            Op::AllocGroup(n) => {
                let res = self.pool().alloc_group(n).await;
                if matches!(res, Err(Error::PoolFull { .. })) {
                    assert!(n + self.m.pinned_pages() > self.cap, "PoolFull with room");
                    assert_eq!(self.pool().page_count(), page_count);
                } else if !self.outcome(&res) {
                    let first = res.unwrap();
                    assert_eq!(first as usize, self.m.live.len());
                    let fresh = self.fresh.clone();
                    for id in first..first + n as PageId {
                        let page = self.pool().get(id).await.unwrap();
                        assert!(page.is_dirty() && page.data() == &fresh[..]);
                        drop(page);
                        self.m.live.push(Slot::Known(fresh.clone()));
                        self.m.since_sync.push(vec![fresh.clone()]);
                    }
                } else {
                    assert_eq!(self.pool().page_count(), page_count);
                }
            }
            Op::GetGroup(first, n) => {
                let ids = first..first + n as PageId;
                let broken = ids
                    .clone()
                    .find(|&id| self.m.live[id as usize] == Slot::Broken);
                let pinned_outside = self
                    .m
                    .pins
                    .iter()
                    .filter(|&(id, &c)| c > 0 && !ids.contains(id))
                    .count();
                let res = self.pool().get_group(first, n).await.map(|pages| {
                    pages
                        .iter()
                        .map(|p| (p.id(), p.data().to_vec()))
                        .collect::<Vec<_>>()
                });
                match res {
                    Err(Error::PoolFull { .. }) => {
                        assert!(n + pinned_outside > self.cap, "PoolFull with room");
                    }
                    Err(Error::Corrupt { page, .. }) => {
                        assert_eq!(Some(page), broken, "get_group: page {page} corrupt");
                        assert_eq!(self.injected(), 0);
                        assert!(!self.pool().is_cached(page));
                    }
                    res => {
                        if !self.outcome(&res) {
                            assert_eq!(broken, None, "get_group returned a broken page");
                            for ((id, data), want) in res.unwrap().into_iter().zip(ids) {
                                assert_eq!(id, want);
                                assert!(self.m.live[id as usize] == Slot::Known(data));
                            }
                        }
                    }
                }
                self.check_cached(first..first + n as PageId).await;
            }
            Op::Prefetch(ids) => {
                let mut sorted = ids.clone();
                sorted.sort_unstable();
                sorted.dedup();
                let longest = sorted
                    .chunk_by(|a, b| *b == *a + 1)
                    .map(|r| r.len())
                    .max()
                    .unwrap_or(0);
                let broken = sorted
                    .iter()
                    .any(|&id| self.m.live[id as usize] == Slot::Broken);
                match self.pool().prefetch(&ids).await {
                    Ok(_) => {
                        assert_eq!(self.injected(), 0, "an injected fault was swallowed");
                        assert!(!broken, "prefetch read a broken page without error");
                    }
                    Err(Error::PoolFull { .. }) => {
                        assert!(
                            longest + self.m.pinned_pages() > self.cap,
                            "PoolFull with room"
                        );
                    }
                    Err(Error::Corrupt { page, .. }) => {
                        assert!(self.m.live[page as usize] == Slot::Broken);
                        assert!(!self.pool().is_cached(page));
                    }
                    Err(e) => {
                        assert!(is_injected(&e) && self.injected() >= 1, "prefetch: {e}");
                        self.counts.errors += 1;
                    }
                }
                self.check_cached(sorted.into_iter()).await;
            }
            Op::Write(id, range, byte) => {
                let payload = self.get(id).await.map(|mut page| {
                    page.data_mut()[range].fill(byte);
                    assert!(page.is_dirty());
                    page.data().to_vec()
                });
                if let Some(payload) = payload {
                    self.m.changed(id, payload);
                }
            }
            Op::Pin(id) => {
                let pinned = self.get(id).await.map(|mut page| page.pin()).is_some();
                if pinned {
                    *self.m.pins.entry(id).or_default() += 1;
                }
            }
            Op::Unpin(id) => {
                let mut page = self.get(id).await.expect("a pinned page is a hit");
                assert!(page.is_pinned());
                page.unpin();
                drop(page);
                *self.m.pins.get_mut(&id).unwrap() -= 1;
            }
            Op::FlushPage(id) => {
                let res = self.pool().flush_page(id).await;
                let failed = self.outcome(&res);
                if self.pool().is_cached(id) {
                    let page = self.pool().get(id).await.unwrap();
                    assert_eq!(page.is_dirty(), failed, "page {id} after flush_page");
                } else {
                    assert!(!failed);
                }
            }
            Op::FlushAll => {
                let res = self.pool().flush_all().await;
                let failed = self.outcome_upto(&res, FLUSH_DEPTH);
                assert_eq!(self.pool().dirty_count() > 0, failed);
            }
            Op::Sync => {
                let res = self.pool().sync().await;
                let fdatasync_failed = matches!(&res,
                    Err(Error::Storage(e @ jdb_fs::Error::Io { op: "fdatasync", .. }))
                        if e.raw_os_error().is_some());
                if !self.outcome_upto(&res, FLUSH_DEPTH) {
                    assert_eq!(self.pool().dirty_count(), 0);
                    assert_eq!(self.disk.syncs(), syncs + 1);
                    self.m.synced();
                }
                assert_eq!(self.pool().is_poisoned(), fdatasync_failed);
            }
            Op::CloseAndOpen => {
                self.counts.reopens += 1;
                match self.pool().close().await {
                    Ok(()) => {
                        self.outcome(&Ok::<(), Error>(()));
                        self.m.synced();
                        drop(self.pool.take());
                        self.reopen().await;
                    }
                    Err(e) => {
                        assert!(self.outcome_upto(&Err::<(), _>(e), FLUSH_DEPTH));
                    }
                }
            }
            Op::Crash(crash) => self.crash(crash).await,
            Op::FailNth(kind, n, fault) => self.disk.faults().fail_nth(kind, n, fault),
            Op::FailAlways(kind, fault) => self.disk.faults().fail_always(kind, fault),
            Op::ClearFaults => self.disk.faults().clear(),
            Op::CancelGet(id, polls) => {
                common::poll_then_drop(self.pool().get(id), polls);
            }
            Op::CancelFlushAll(polls) => {
                common::poll_then_drop(self.pool().flush_all(), polls);
            }
            Op::Sweep => self.sweep().await,
        }
        // Invariants after every step.
        let durable_may_change = matches!(op, Op::Sync | Op::CloseAndOpen | Op::Crash(_));
        if !durable_may_change || self.injected() > 0 {
            assert_eq!(self.disk.syncs(), syncs, "the durable image changed");
        }
        let pool = self.pool.as_ref().unwrap();
        assert_eq!(pool.page_count() as usize, self.m.live.len());
        assert!(pool.len() <= pool.cap());
        for (&id, &pins) in &self.m.pins {
            assert!(
                pins == 0 || pool.is_cached(id),
                "pinned page {id} was evicted"
            );
        }
        self.counts.ops += 1;
    }
}

/// One operation of the model test.
#[derive(Debug, Clone)]
enum Op {
    Alloc,
    Get(PageId),
    AllocGroup(usize),
    GetGroup(PageId, usize),
    Prefetch(Vec<PageId>),
    Write(PageId, std::ops::Range<usize>, u8),
    Pin(PageId),
    Unpin(PageId),
    FlushPage(PageId),
    FlushAll,
    Sync,
    CloseAndOpen,
    Crash(Crash),
    FailNth(IoKind, u64, Fault),
    FailAlways(IoKind, Fault),
    ClearFaults,
    /// Poll a `get` this many times, then drop it.
    CancelGet(PageId, usize),
    /// Poll a `flush_all` this many times, then drop it.
    CancelFlushAll(usize),
    /// Clear the faults and check every page.
    Sweep,
}

async fn run(seed: u64, ops: usize) -> Counts {
    let cap = 1 + (seed % 8) as usize;
    let policy = policy_of(seed, 0);
    let mut trace = Trace {
        seed,
        cap,
        policy,
        ops: Vec::new(),
    };
    let disk = MemDisk::new();
    disk.set_yield(true);
    let pool = BufferPool::open_with(disk.storage(), PoolOptions::new(cap).policy(policy))
        .await
        .unwrap();
    let mut sim = Sim {
        rng: Rng::new(seed),
        disk,
        pool: Some(pool),
        cap,
        policy,
        m: Model::default(),
        fresh: Page::new(0).data().to_vec(),
        injected_before: 0,
        counts: Counts::default(),
    };
    for step in 0..ops {
        if sim.pool().is_poisoned() {
            trace.push(step, "reopen the poisoned pool (as after a crash)".into());
            sim.recover_if_poisoned().await;
        }
        let op = sim.choose();
        trace.push(step, format!("{op:?}"));
        sim.exec(op).await;
    }

    // The disk recovers: everything reads back, a sync succeeds and survives a crash exactly.
    trace.push(ops, "final sweep, sync, crash, sweep".into());
    sim.recover_if_poisoned().await;
    sim.sweep().await;
    sim.pool().sync().await.unwrap();
    sim.m.synced();
    let live = sim.m.live.clone();
    sim.crash(Crash::Random { seed }).await;
    assert!(sim.m.live == live, "a synced page changed in a crash");
    sim.sweep().await;
    sim.counts
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn pool_under_faults_and_crashes_matches_the_model() {
    let ops = env_u64("JDB_FAULT_OPS").unwrap_or(500) as usize;
    let seeds: Vec<u64> = match env_u64("JDB_FAULT_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_u64("JDB_FAULT_SEEDS").unwrap_or(24)).collect(),
    };
    let mut total = Counts::default();
    for seed in seeds {
        let c = block_on(run(seed, ops));
        total.ops += c.ops;
        total.errors += c.errors;
        total.crashes += c.crashes;
        total.torn_after_crash += c.torn_after_crash;
        total.reopens += c.reopens;
        total.poisonings += c.poisonings;
    }
    eprintln!("fault model: {total:?}");
    assert!(
        total.errors > 0 && total.crashes > 0 && total.torn_after_crash > 0 && total.poisonings > 0,
        "{total:?}"
    );
}
