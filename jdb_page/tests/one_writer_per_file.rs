//! One writer per file, and no stale write across pools: a second pool (or any second opener for
//! writing) of a file in use gets `Locked` at once and changes nothing; a write that a dropped
//! pool's dropped flush left in the kernel can never land after a newer pool's synced write, on
//! the same thread or another.

mod common;

use std::{
    path::{Path, PathBuf},
    pin::pin,
    time::Duration,
};

use common::{block_on, create_pool, db_path, pattern, poll_then_drop, reopen_pool, tempdir};
use jdb_fs::{File, PAGE_SIZE};
use jdb_page::{BufferPool, PageId};

#[track_caller]
fn assert_locked<T>(res: Result<T, jdb_fs::Error>) {
    match res {
        Err(e @ jdb_fs::Error::Locked { .. }) => {
            assert!(e.to_string().contains("in use"), "{e}")
        }
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("expected Locked, the file opened"),
    }
}

#[test]
fn a_second_pool_on_a_file_in_use_gets_locked_and_nothing_is_lost() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 8).await;
        for _ in 0..4 {
            let mut page = pool.alloc().await.unwrap();
            let id = page.id();
            page.data_mut()[..64].copy_from_slice(&pattern(id, 1));
        }
        pool.sync().await.unwrap();
        let synced = std::fs::read(&path).unwrap();

        // Every way to open it again for writing is refused at once, also a truncating create,
        // and a reader too while the writer holds it.
        assert_locked(File::open_rw(&path).await);
        assert_locked(File::create(&path).await);
        assert_locked(File::open(&path).await);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            synced,
            "a refused open changed the file"
        );

        // The first pool goes on: page ids stay its own (a second pool would have handed out
        // id 4 too).
        let page = pool.alloc().await.unwrap();
        assert_eq!(page.id(), 4);
        drop(page);
        pool.close().await.unwrap();
        drop(pool);

        let pool = reopen_pool(&path, 8).await;
        assert_eq!(pool.page_count(), 5);
        for id in 0..4 {
            assert_eq!(
                pool.read(id).await.unwrap().data()[..64],
                pattern(id, 1)[..]
            );
        }
    });
}

/// A synced file of pages `0..16` at version 0.
async fn make_file(path: &Path) {
    let pool = BufferPool::open(File::create(path).await.unwrap(), 32)
        .await
        .unwrap();
    for id in 0..16 {
        let mut page = pool.alloc().await.unwrap();
        page.data_mut()[..64].copy_from_slice(&pattern(id, 0));
    }
    pool.close().await.unwrap();
}

/// Makes pages `0..16` dirty (version `v`, one contiguous run), submits their write with a
/// `flush_all` polled once, then drops the flush and the pool: the write stays in the kernel
/// (or is cancelled before it started: compio cancels a dropped request, which may or may not
/// win).
async fn drop_pool_with_a_write_in_flight(path: &Path, v: u8) {
    make_file(path).await;
    let pool = BufferPool::open(File::open_rw(path).await.unwrap(), 32)
        .await
        .unwrap();
    for id in 0..16 {
        let mut page = pool.get(id).await.unwrap();
        page.data_mut()[..64].copy_from_slice(&pattern(id, v));
    }
    assert!(
        !poll_then_drop(pool.flush_all(), 1),
        "the write is in flight"
    );
    assert_eq!(pool.writes_in_flight(), 1);
    drop(pool);
}

/// Opens a new pool, writes page 5 (version `v`), syncs and closes.
async fn write_newer(path: &Path, v: u8) {
    let pool = reopen_pool(path, 32).await;
    pool.get(5).await.unwrap().data_mut()[..64].copy_from_slice(&pattern(5, v));
    pool.sync().await.unwrap();
    pool.close().await.unwrap();
}

fn page_on_disk(path: &Path, id: PageId) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let at = id as usize * PAGE_SIZE + jdb_layout::PAGE_HEADER_SIZE;
    bytes[at..at + 64].to_vec()
}

#[test]
fn a_dropped_pools_write_never_lands_over_a_newer_pools_synced_write_on_one_thread() {
    block_on(async {
        let dir = tempdir();
        for round in 0..100u8 {
            let path = dir.path().join(format!("db{round}"));
            drop_pool_with_a_write_in_flight(&path, 1).await;
            write_newer(&path, 2).await;
            assert_eq!(
                page_on_disk(&path, 5),
                pattern(5, 2),
                "round {round}: the dropped pool's older write overwrote the synced version"
            );
            // The other pages hold the version before, or the dropped pool's.
            let other = page_on_disk(&path, 6);
            assert!(
                other == pattern(6, 0) || other == pattern(6, 1),
                "round {round}"
            );
        }
    });
}

#[test]
fn a_dropped_pools_write_never_lands_over_a_newer_pools_synced_write_on_another_thread() {
    block_on(async {
        let dir = tempdir();
        for round in 0..50u8 {
            let path: PathBuf = dir.path().join(format!("db{round}"));
            drop_pool_with_a_write_in_flight(&path, 1).await;
            let other = std::thread::spawn({
                let path = path.clone();
                move || {
                    compio::runtime::Runtime::new()
                        .unwrap()
                        .block_on(write_newer(&path, 2));
                }
            });
            // This runtime must keep running: it reaps the dropped write's completion.
            while !other.is_finished() {
                compio::time::sleep(Duration::from_millis(1)).await;
            }
            other.join().expect("the other thread's pool failed");
            assert_eq!(
                page_on_disk(&path, 5),
                pattern(5, 2),
                "round {round}: the dropped pool's older write overwrote the synced version"
            );
        }
    });
}

#[test]
fn a_dropped_flush_in_a_live_pool_never_lands_after_its_newer_write() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 4).await;
        drop(pool.alloc().await.unwrap());
        for round in 0..100u8 {
            pool.get(0).await.unwrap().data_mut()[..64].copy_from_slice(&pattern(0, round));
            {
                let mut flush = pin!(pool.flush_all());
                assert!(common::poll_once(flush.as_mut()).is_none());
            }
            let newer = round.wrapping_add(100);
            pool.get(0).await.unwrap().data_mut()[..64].copy_from_slice(&pattern(0, newer));
            pool.sync().await.unwrap();
            assert_eq!(page_on_disk(&path, 0), pattern(0, newer), "round {round}");
        }
    });
}
