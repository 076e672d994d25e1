//! Many tasks, one pool: guards latch and pin, misses overlap, tasks missing one page share one
//! read, waits are fair and cancel-safe, a full pool says so and recovers, and a dirty victim's
//! write-back does not stop other tasks.

mod fault_support;

use std::{
    cell::Cell,
    future::Future,
    path::Path,
    pin::pin,
    rc::Rc,
    task::{Context, Poll, Waker},
};

use fault_support::{Gate, block_on, pattern, yield_now};
use jdb_alloc::AlignedBuf;
use jdb_fs::BufResult;
use jdb_page::{
    BufferPool, Error, PageId, Storage, TrackedBuf,
    testing::{MemDisk, MemStorage},
};

/// A storage over a `MemDisk` that counts reads in flight and can hold writes until released.
struct Probe {
    inner: MemStorage,
    reads_now: Cell<usize>,
    reads_max: Cell<usize>,
    /// While closed, writes wait.
    writes: Gate,
    writes_held: Cell<usize>,
}

impl Probe {
    fn new(disk: &MemDisk) -> Self {
        Self {
            inner: disk.storage(),
            reads_now: Cell::new(0),
            reads_max: Cell::new(0),
            writes: Gate::default(),
            writes_held: Cell::new(0),
        }
    }
}

impl Storage for Probe {
    async fn read_pages(
        &self,
        first: PageId,
        count: usize,
        buf: AlignedBuf,
    ) -> BufResult<(), AlignedBuf> {
        self.reads_now.set(self.reads_now.get() + 1);
        self.reads_max
            .set(self.reads_max.get().max(self.reads_now.get()));
        // Two turns of the runtime, so every task gets to submit before any read completes.
        yield_now().await;
        yield_now().await;
        let res = self.inner.read_pages(first, count, buf).await;
        self.reads_now.set(self.reads_now.get() - 1);
        res
    }

    async fn write_pages(&self, first: PageId, buf: TrackedBuf) -> BufResult<(), TrackedBuf> {
        if self.writes.is_closed() {
            self.writes_held.set(self.writes_held.get() + 1);
            self.writes.pass().await;
            self.writes_held.set(self.writes_held.get() - 1);
        }
        self.inner.write_pages(first, buf).await
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

type ProbePool = BufferPool<Probe>;

/// A synced disk of `n` pages (page `id` holds `pattern(id, 0)`) and a cold pool of `cap` frames
/// on it through a `Probe`.
async fn cold_pool(n: u32, cap: usize) -> (MemDisk, Rc<ProbePool>) {
    let disk = MemDisk::new();
    let pool = BufferPool::open(disk.storage(), cap.max(16)).await.unwrap();
    for _ in 0..n {
        let mut page = pool.alloc().await.unwrap();
        let id = page.id();
        page.data_mut()[..64].copy_from_slice(&pattern(id, 0));
        drop(page);
        if pool.len() == pool.cap() {
            pool.flush_all().await.unwrap();
        }
    }
    pool.close().await.unwrap();
    drop(pool);
    let pool = BufferPool::open(Probe::new(&disk), cap).await.unwrap();
    (disk, Rc::new(pool))
}

fn probe(pool: &ProbePool) -> Rc<Probe> {
    pool.storage().unwrap()
}

/// Polls `fut` once with a no-op waker; returns its output if it finished.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Option<F::Output> {
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

#[test]
fn k_tasks_missing_one_page_cause_exactly_one_read() {
    block_on(async {
        let (_disk, pool) = cold_pool(8, 8).await;
        let tasks: Vec<_> = (0..16)
            .map(|k| {
                let pool = Rc::clone(&pool);
                compio::runtime::spawn(async move {
                    if k % 2 == 0 {
                        pool.read(5).await.unwrap().data()[..64].to_vec()
                    } else {
                        pool.get(5).await.unwrap().data()[..64].to_vec()
                    }
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), pattern(5, 0));
        }
        let s = pool.stats();
        assert_eq!(s.read_ios, 1, "{s:?}");
        assert_eq!(s.pages_read, 1, "{s:?}");
        assert_eq!((s.misses, s.shared_reads), (16, 15), "{s:?}");
    });
}

#[test]
fn n_tasks_missing_distinct_pages_keep_n_reads_in_flight() {
    block_on(async {
        let (_disk, pool) = cold_pool(64, 64).await;
        let tasks: Vec<_> = (0..32)
            .map(|id| {
                let pool = Rc::clone(&pool);
                compio::runtime::spawn(async move {
                    let page = pool.read(id).await.unwrap();
                    assert_eq!(page.data()[..64], pattern(id, 0)[..]);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(probe(&pool).reads_max.get(), 32, "reads in flight at once");
        assert_eq!(pool.stats().read_ios, 32);
    });
}

#[test]
fn shared_guards_coexist_and_exclude_an_exclusive_one_and_writers_are_not_starved() {
    block_on(async {
        let (_disk, pool) = cold_pool(4, 4).await;
        let r1 = pool.read(1).await.unwrap();
        let r2 = pool.read(1).await.unwrap();
        assert_eq!(r1.data(), r2.data());

        let done = Rc::new(Cell::new(0));
        let writer = compio::runtime::spawn({
            let (pool, done) = (Rc::clone(&pool), Rc::clone(&done));
            async move {
                let mut page = pool.get(1).await.unwrap();
                page.data_mut()[0] = 9;
                done.set(1);
            }
        });
        for _ in 0..5 {
            yield_now().await;
        }
        assert_eq!(
            done.get(),
            0,
            "a writer went in while readers held the page"
        );

        // A reader arriving after the waiting writer waits behind it (no starvation).
        let late = compio::runtime::spawn({
            let (pool, done) = (Rc::clone(&pool), Rc::clone(&done));
            async move {
                let page = pool.read(1).await.unwrap();
                assert_eq!(done.get(), 1, "a later reader overtook the waiting writer");
                page.data()[0]
            }
        });
        for _ in 0..5 {
            yield_now().await;
        }
        drop(r1);
        for _ in 0..5 {
            yield_now().await;
        }
        assert_eq!(done.get(), 0, "one reader still holds the page");
        drop(r2);
        writer.await.unwrap();
        assert_eq!(late.await.unwrap(), 9);
    });
}

#[test]
fn a_waiter_whose_future_is_dropped_leaves_no_trace() {
    block_on(async {
        let (_disk, pool) = cold_pool(8, 4).await;
        let held = pool.get(2).await.unwrap();
        {
            let mut wait = pin!(pool.get(2));
            assert!(poll_once(wait.as_mut()).is_none(), "waits for the holder");
            let mut read = pin!(pool.read(2));
            assert!(poll_once(read.as_mut()).is_none());
        }
        drop(held);
        // No waiter left: the page is latched at once, and can be evicted once released.
        let mut again = pin!(pool.get(2));
        let page = poll_once(again.as_mut()).expect("a hit").unwrap();
        drop(page);
        for id in 4..8 {
            drop(pool.get(id).await.unwrap());
        }
        assert!(
            !pool.is_cached(2),
            "page 2 stayed pinned by a dropped waiter"
        );
    });
}

#[test]
fn a_guard_dropped_by_question_mark_or_by_a_dropped_future_unpins() {
    async fn fails_holding(pool: &ProbePool, id: PageId) -> jdb_page::Result<()> {
        let _page = pool.get(id).await?;
        pool.get(1000).await?; // PageNotFound: `?` returns with the guard held
        Ok(())
    }
    block_on(async {
        let (_disk, pool) = cold_pool(8, 4).await;
        for id in 0..4 {
            assert!(matches!(
                fails_holding(&pool, id).await,
                Err(Error::PageNotFound { id: 1000, .. })
            ));
        }
        // Futures that hold a guard across an await that never finishes, then are dropped.
        for id in 0..4 {
            let fut = async {
                let _page = pool.get(id).await.unwrap();
                std::future::pending::<()>().await;
            };
            let mut fut = pin!(fut);
            assert!(poll_once(fut.as_mut()).is_none());
        }
        // A panic that unwinds past a guard.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut fut = pin!(pool.get(3));
            let _page = poll_once(fut.as_mut()).unwrap().unwrap();
            panic!("while holding page 3");
        }));
        assert!(caught.is_err());
        // Nothing stayed pinned: four new pages fit in the four frames.
        for id in 4..8 {
            drop(pool.get(id).await.unwrap());
        }
        assert!((0..4).all(|id| !pool.is_cached(id)));
    });
}

#[test]
fn a_full_pool_is_pool_full_and_recovers_when_guards_drop() {
    block_on(async {
        let (_disk, pool) = cold_pool(8, 4).await;
        let mut held = Vec::new();
        for id in 0..4 {
            held.push(pool.get(id).await.unwrap());
        }
        assert!(matches!(
            pool.read(5).await,
            Err(Error::PoolFull { cap: 4, pinned: 4 })
        ));
        assert!(matches!(pool.alloc().await, Err(Error::PoolFull { .. })));
        let before = pool.stats();
        held.pop();
        let page = pool.read(5).await.unwrap();
        assert_eq!(page.data()[..64], pattern(5, 0)[..]);
        assert_eq!(pool.stats().evictions, before.evictions + 1);
    });
}

#[test]
fn a_dirty_victims_write_back_does_not_stop_other_tasks() {
    block_on(async {
        let (disk, pool) = cold_pool(8, 4).await;
        for id in 0..4 {
            pool.get(id).await.unwrap().data_mut()[..64].copy_from_slice(&pattern(id, 1));
        }
        let storage = probe(&pool);
        storage.writes.close();
        // This miss needs a write-back of a dirty victim, which is held.
        let miss = compio::runtime::spawn({
            let pool = Rc::clone(&pool);
            async move { pool.read(6).await.unwrap().data()[..64].to_vec() }
        });
        while storage.writes_held.get() == 0 {
            yield_now().await;
        }
        // Meanwhile hits on the other pages go on, readers and writers alike.
        let mut hits = 0;
        for id in 0..4 {
            if pool.is_cached(id) {
                let mut page = pool.get(id).await.unwrap();
                page.data_mut()[..64].copy_from_slice(&pattern(id, 2));
                hits += 1;
            }
        }
        assert!(hits >= 2, "{hits} hits while the write-back was held");
        assert_eq!(storage.writes_held.get(), 1);
        storage.writes.open();
        assert_eq!(miss.await.unwrap(), pattern(6, 0));
        pool.sync().await.unwrap();
        drop(disk);
    });
}

#[test]
fn a_read_whose_future_is_dropped_is_taken_over_by_a_waiter() {
    block_on(async {
        let (_disk, pool) = cold_pool(8, 4).await;
        let waiter;
        {
            let mut first = pin!(pool.read(3));
            assert!(poll_once(first.as_mut()).is_none(), "the read is in flight");
            waiter = compio::runtime::spawn({
                let pool = Rc::clone(&pool);
                async move { pool.read(3).await.unwrap().data()[..64].to_vec() }
            });
            for _ in 0..3 {
                yield_now().await;
            }
        }
        // The reader is gone; the waiter reads the page itself.
        assert_eq!(waiter.await.unwrap(), pattern(3, 0));
        assert!(pool.is_cached(3));
        assert_eq!(pool.stats().read_ios, 2);
    });
}

#[test]
fn a_task_holds_a_parent_and_a_child_and_allocates_a_sibling() {
    block_on(async {
        let (_disk, pool) = cold_pool(4, 8).await;
        let tasks: Vec<_> = (0..8u8)
            .map(|k| {
                let pool = Rc::clone(&pool);
                compio::runtime::spawn(async move {
                    // Crabbing: hold the parent (shared), the child (exclusive), allocate.
                    let parent = pool.read(0).await.unwrap();
                    let mut child = pool.get(1 + u32::from(k % 3)).await.unwrap();
                    yield_now().await;
                    let mut sibling = pool.alloc().await.unwrap();
                    sibling.data_mut()[0] = k;
                    child.data_mut()[1] = k;
                    let id = sibling.id();
                    drop((parent, child, sibling));
                    id
                })
            })
            .collect();
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap());
        }
        ids.sort_unstable();
        assert_eq!(
            ids,
            (4..12).collect::<Vec<_>>(),
            "each alloc got its own id"
        );
        pool.sync().await.unwrap();
    });
}
