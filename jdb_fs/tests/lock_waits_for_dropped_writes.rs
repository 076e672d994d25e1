//! A write whose future was dropped after it was submitted, from a `File` that was then dropped,
//! keeps the file locked until the kernel is done with it. A reopen in this process waits for it
//! (on the same thread, or on another thread with its own runtime) instead of failing, and a
//! newer write + sync after the reopen is what ends up on disk: the abandoned write cannot land
//! over it.

mod common;

use std::{
    future::Future,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    pin::pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use common::{disk_tempdir, fill_pattern};
use jdb_fs::{AlignedBuf, File, PAGE_SIZE};

const ROUNDS: usize = 50;
/// Pages of each write: large enough to still be in the kernel after one poll.
const PAGES: usize = 16;
/// Pattern seeds of the abandoned (old) and the newer write.
const OLD: u32 = 1000;
const NEW: u32 = 2000;

fn run(pages_from: u32) -> AlignedBuf {
    let mut buf = AlignedBuf::zeroed(PAGES * PAGE_SIZE).unwrap();
    fill_pattern(&mut buf, pages_from);
    buf
}

/// Opens `path`, submits a write of the old pattern, drops the write after one poll and then
/// the file. Returns whether the file's lock was still held afterwards (by the write in flight).
async fn abandon_a_write(path: &Path) -> bool {
    let file = File::create(path).await.unwrap();
    {
        let mut write = pin!(file.write_at(run(OLD), 0));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            matches!(write.as_mut().poll(&mut cx), Poll::Pending),
            "the write completed in its first poll"
        );
    } // the write's future is dropped here, the request stays in the kernel
    drop(file);
    lock_is_held(path)
}

/// Probes the lock from a separate open file description (and releases it at once).
fn lock_is_held(path: &Path) -> bool {
    let probe = std::fs::File::open(path).unwrap();
    // SAFETY: `flock` takes no pointers; `probe` owns an open descriptor for the call.
    let rc = unsafe { libc::flock(probe.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    rc != 0
}

/// Reopens `path`, writes the new pattern, syncs, closes.
async fn reopen_and_write_newer(path: &Path) {
    let file = File::open_rw(path)
        .await
        .expect("the reopen waits, then succeeds");
    let (res, _) = file.write_at(run(NEW), 0).await;
    res.unwrap();
    file.sync_data().await.unwrap();
    file.close().await.unwrap();
}

fn assert_newer_bytes_on_disk(path: &Path, round: usize) {
    let bytes = std::fs::read(path).unwrap();
    let mut want = vec![0u8; PAGES * PAGE_SIZE];
    fill_pattern(&mut want, NEW);
    assert!(
        bytes == want,
        "round {round}: the file does not hold the newer write"
    );
}

#[compio::test]
async fn a_reopen_on_the_same_thread_waits_for_a_dropped_write() {
    let dir = disk_tempdir();
    let mut held = 0;
    for round in 0..ROUNDS {
        let path = dir.path().join(format!("db{round}"));
        held += usize::from(abandon_a_write(&path).await);
        reopen_and_write_newer(&path).await;
        assert_newer_bytes_on_disk(&path, round);
    }
    // Nothing drove the runtime between the drop and the probe: the request was in flight.
    assert_eq!(held, ROUNDS, "the lock was not held by the dropped write");
}

#[compio::test]
async fn a_reopen_on_another_thread_waits_for_a_dropped_write() {
    let dir = disk_tempdir();
    let mut held = 0;
    for round in 0..ROUNDS {
        let path: PathBuf = dir.path().join(format!("db{round}"));
        held += usize::from(abandon_a_write(&path).await);
        let other = std::thread::spawn({
            let path = path.clone();
            move || {
                compio::runtime::Runtime::new()
                    .unwrap()
                    .block_on(reopen_and_write_newer(&path));
            }
        });
        // Let the other thread find the lock held: until this runtime runs again, it does not
        // reap the abandoned write's completion, so the descriptor stays open. (Blocking the
        // runtime on purpose.)
        std::thread::sleep(Duration::from_millis(20));
        // Then keep this runtime running: it must reap that completion for the reopen to go on.
        while !other.is_finished() {
            compio::time::sleep(Duration::from_millis(1)).await;
        }
        other.join().expect("the other thread's reopen failed");
        assert_newer_bytes_on_disk(&path, round);
    }
    assert_eq!(held, ROUNDS, "the lock was not held by the dropped write");
}
