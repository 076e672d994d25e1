//! Shared helpers for the pool's integration tests.
#![allow(dead_code)]

use std::{
    future::Future,
    path::{Path, PathBuf},
    pin::pin,
    task::{Context, Waker},
};

use jdb_fs::File;
use jdb_page::{BufferPool, PolicyKind, PoolOptions};

/// A temp dir on the work disk (ext4 here, so O_DIRECT is really used), not /tmp.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("pool.jdb")
}

/// Runs an async test body on a fresh compio runtime.
pub fn block_on<F: Future>(f: F) -> F::Output {
    compio::runtime::Runtime::new().unwrap().block_on(f)
}

/// A new file at `path` and a pool of `cap` frames over it (exact LRU, as `BufferPool::open`).
pub async fn create_pool(path: &Path, cap: usize) -> BufferPool {
    create_pool_with(path, cap, PolicyKind::default()).await
}

/// A new file at `path` and a pool of `cap` frames over it with eviction policy `policy`.
pub async fn create_pool_with(path: &Path, cap: usize, policy: PolicyKind) -> BufferPool {
    let options = PoolOptions::new(cap).policy(policy);
    BufferPool::open_with(File::create(path).await.unwrap(), options)
        .await
        .unwrap()
}

/// A pool of `cap` frames with eviction policy `policy` over the file at `path`.
pub async fn reopen_pool_with(path: &Path, cap: usize, policy: PolicyKind) -> BufferPool {
    let options = PoolOptions::new(cap).policy(policy);
    BufferPool::open_with(File::open_rw(path).await.unwrap(), options)
        .await
        .unwrap()
}

/// A pool of `cap` frames over the file at `path` (exact LRU, as `BufferPool::open`).
pub async fn reopen_pool(path: &Path, cap: usize) -> BufferPool {
    reopen_pool_with(path, cap, PolicyKind::default()).await
}

/// Polls `fut` `times` times (with a no-op waker), then drops it: what a `select!` or a timeout
/// does to a future mid-flight. Returns whether it finished.
pub fn poll_then_drop<F: Future>(fut: F, times: usize) -> bool {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..times {
        if fut.as_mut().poll(&mut cx).is_ready() {
            return true;
        }
    }
    false
}

/// A recognisable fill for page `id`, version `v`.
pub fn pattern(id: u32, v: u8) -> Vec<u8> {
    (0..64)
        .map(|i| (id as u8).wrapping_mul(31).wrapping_add(v).wrapping_add(i))
        .collect()
}

/// Polls `fut` once with a no-op waker; its output if it finished.
pub fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match fut.poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}
