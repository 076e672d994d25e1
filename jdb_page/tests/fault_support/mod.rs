//! Shared helpers for the fault and crash tests (pools on a `MemDisk`).
#![allow(dead_code)]

use std::{
    cell::{Cell, RefCell},
    future::Future,
    task::{Poll, Waker},
};

use jdb_alloc::PAGE_SIZE;
use jdb_page::{
    BufferPool, Error, PageId, PolicyKind, Result,
    testing::{MemDisk, MemStorage},
};

/// A pool on an in-memory disk.
pub type MemPool = BufferPool<MemStorage>;

/// The eviction policy of a model test's pool for seed `seed` after `reopens` reopens: a hash of
/// the seed (so that every policy meets every pool size over the seeds), then the next policy at
/// each reopen, as a user may (the policy is not part of the file).
pub fn policy_of(seed: u64, reopens: u64) -> PolicyKind {
    let first = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 62;
    PolicyKind::ALL[((first + reopens) % 4) as usize]
}

/// Returns `Pending` once (waking itself), then `Ready`: lets every other task run once.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

/// A gate test storages hold requests at: tasks that [`Gate::pass`] it while it is closed wait
/// until [`Gate::open`] lets them all through.
#[derive(Default)]
pub struct Gate {
    closed: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Gate {
    /// From now on, tasks that pass wait.
    pub fn close(&self) {
        self.closed.set(true);
    }

    /// Whether tasks that pass now wait.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Lets every waiting task through, and those that come later.
    pub fn open(&self) {
        self.closed.set(false);
        for waker in self.waiters.take() {
            waker.wake();
        }
    }

    /// Returns at once while the gate is open; otherwise once it opens.
    pub async fn pass(&self) {
        std::future::poll_fn(|cx| {
            if !self.closed.get() {
                return Poll::Ready(());
            }
            self.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
}

/// Runs an async test body on a fresh compio runtime.
pub fn block_on<F: Future>(f: F) -> F::Output {
    compio::runtime::Runtime::new().unwrap().block_on(f)
}

/// A recognisable 64-byte fill for page `id`, version `v`.
pub fn pattern(id: PageId, v: u8) -> Vec<u8> {
    (0..64u8)
        .map(|i| {
            (id as u8)
                .wrapping_mul(31)
                .wrapping_add(v.wrapping_mul(7))
                .wrapping_add(i)
        })
        .collect()
}

/// Opens a pool of `cap` frames on `disk`.
pub async fn open(disk: &MemDisk, cap: usize) -> MemPool {
    BufferPool::open(disk.storage(), cap).await.unwrap()
}

/// A synced disk of `n` pages, page `id` starting with `pattern(id, 0)`, and a pool of `cap`
/// frames on it (all pages clean).
pub async fn synced_pool(n: u32, cap: usize) -> (MemDisk, MemPool) {
    let disk = MemDisk::new();
    let pool = open(&disk, cap).await;
    for _ in 0..n {
        let mut page = pool.alloc().await.unwrap();
        let id = page.id();
        page.data_mut()[..64].copy_from_slice(&pattern(id, 0));
    }
    pool.sync().await.unwrap();
    assert_eq!(pool.dirty_count(), 0);
    (disk, pool)
}

/// Writes `pattern(id, v)` into page `id`.
pub async fn write(pool: &MemPool, id: PageId, v: u8) {
    pool.get(id).await.unwrap().data_mut()[..64].copy_from_slice(&pattern(id, v));
}

/// Asserts page `id` reads as `pattern(id, v)`.
pub async fn expect(pool: &MemPool, id: PageId, v: u8) {
    let page = pool.get(id).await.unwrap();
    assert_eq!(
        page.data()[..64],
        pattern(id, v)[..],
        "page {id} should be version {v}"
    );
}

/// Asserts `res` failed with an injected I/O error (`errno`, on operation `op`).
#[track_caller]
pub fn assert_io_err<T: std::fmt::Debug>(res: Result<T>, op: &str, errno: i32) {
    match res {
        Err(Error::Storage(e @ jdb_fs::Error::Io { .. })) => {
            assert_eq!(e.raw_os_error(), Some(errno), "{e}");
            assert!(
                matches!(e, jdb_fs::Error::Io { op: o, .. } if o == op),
                "{e}"
            );
        }
        other => panic!("expected an injected {op} error {errno}, got {other:?}"),
    }
}

/// Asserts `res` is `Corrupt` for page `id` because of a checksum mismatch.
#[track_caller]
pub fn assert_torn<T: std::fmt::Debug>(res: Result<T>, id: PageId) {
    match res {
        Err(Error::Corrupt {
            page,
            source: jdb_layout::Error::ChecksumMismatch { .. },
            ..
        }) if page == id => {}
        other => panic!("expected page {id} Corrupt(ChecksumMismatch), got {other:?}"),
    }
}

/// Page `id` of a disk image.
pub fn image_page(image: &[u8], id: PageId) -> &[u8] {
    &image[id as usize * PAGE_SIZE..(id as usize + 1) * PAGE_SIZE]
}

/// Polls `fut` `times` times (with a no-op waker), then drops it: what a `select!` or a timeout
/// does to a future mid-flight. Returns whether it finished.
pub fn poll_then_drop<F: Future>(fut: F, times: usize) -> bool {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..times {
        if fut.as_mut().poll(&mut cx).is_ready() {
            return true;
        }
    }
    false
}
