//! I/O errors are returned, not hidden, and lose nothing: a failed read caches nothing; a failed
//! write-back (eviction, `flush_page`, `flush_all`, `sync`, `close`) leaves the page dirty and in
//! memory, and a later flush writes it once the fault clears. Faults come from a `MemDisk`
//! (and, at the end, from a real file wrapped in a `FaultyStorage`).

mod common;
mod fault_support;

use fault_support::*;
use jdb_page::{
    BufferPool,
    testing::{Crash, EIO, Fault, FaultyStorage, IoKind},
};

#[test]
fn a_failed_read_returns_eio_and_caches_nothing() {
    block_on(async {
        let (disk, pool) = synced_pool(4, 2).await;
        drop(pool);
        let pool = open(&disk, 2).await;
        expect(&pool, 0, 0).await;

        disk.faults().fail_nth(IoKind::Read, 1, Fault::Eio);
        assert_io_err(pool.get(3).await, "read", EIO);
        assert!(!pool.is_cached(3), "a failed read must not cache the page");
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.stats().io_errors, 1);
        assert_eq!(pool.stats().pages_read, 1);

        // The pool still works, and the page reads back once the disk does.
        expect(&pool, 3, 0).await;
        expect(&pool, 0, 0).await;
    });
}

#[test]
fn while_reads_fail_cached_pages_are_still_served_and_writable() {
    block_on(async {
        let (disk, pool) = synced_pool(4, 4).await;
        drop(pool);
        let pool = open(&disk, 4).await;
        expect(&pool, 1, 0).await;
        disk.faults().fail_always(IoKind::Read, Fault::Eio);
        for _ in 0..3 {
            assert_io_err(pool.get(2).await, "read", EIO);
        }
        write(&pool, 1, 1).await;
        expect(&pool, 1, 1).await;
        assert_eq!(pool.len(), 1);

        disk.faults().clear();
        expect(&pool, 2, 0).await;
        pool.sync().await.unwrap();
        drop(pool);
        disk.crash(Crash::LoseUnsynced);
        let pool = open(&disk, 4).await;
        expect(&pool, 1, 1).await;
    });
}

#[test]
fn a_failed_eviction_write_keeps_the_victim_dirty_and_in_memory() {
    block_on(async {
        let (disk, pool) = synced_pool(4, 2).await;
        write(&pool, 0, 1).await;
        write(&pool, 1, 1).await;
        let durable = disk.durable_image();
        pool.reset_stats();

        // get(2) needs a frame: the victim (page 0) must be written first, and that fails.
        disk.faults().fail_nth(IoKind::Write, 1, Fault::Eio);
        assert_io_err(pool.get(2).await, "write", EIO);
        assert!(pool.is_cached(0) && pool.is_cached(1) && !pool.is_cached(2));
        assert_eq!(pool.dirty_count(), 2);
        assert_eq!(pool.stats().evictions, 0);
        // So does alloc, which also needs a frame; the page count does not move.
        disk.faults().fail_nth(IoKind::Write, 1, Fault::NoSpace);
        assert_io_err(pool.alloc().await, "write", jdb_page::testing::ENOSPC);
        assert_eq!(pool.page_count(), 4);
        assert_eq!(pool.dirty_count(), 2);
        assert_eq!(disk.durable_image(), durable, "nothing became durable");

        // The disk recovers: the same requests succeed, the victims are written.
        expect(&pool, 2, 0).await;
        assert_eq!(pool.alloc().await.unwrap().id(), 4);
        expect(&pool, 0, 1).await;
        expect(&pool, 1, 1).await;
        pool.sync().await.unwrap();
        drop(pool);
        disk.crash(Crash::LoseUnsynced);
        let pool = open(&disk, 2).await;
        assert_eq!(pool.page_count(), 5);
        expect(&pool, 0, 1).await;
        expect(&pool, 1, 1).await;
        expect(&pool, 2, 0).await;
    });
}

#[test]
fn a_failed_flush_page_keeps_the_page_dirty_until_a_flush_succeeds() {
    block_on(async {
        let (disk, pool) = synced_pool(3, 4).await;
        write(&pool, 1, 1).await;
        let live = disk.live_image();

        disk.faults().fail_nth(IoKind::Write, 1, Fault::Eio);
        assert_io_err(pool.flush_page(1).await, "write", EIO);
        assert!(pool.get(1).await.unwrap().is_dirty());
        assert_eq!(disk.live_image(), live, "an EIO write changes nothing");

        pool.flush_page(1).await.unwrap();
        assert!(!pool.get(1).await.unwrap().is_dirty());
        assert_eq!(image_page(&disk.live_image(), 1)[32..96], pattern(1, 1)[..]);
        pool.sync().await.unwrap();
        drop(pool);
        disk.crash(Crash::LoseUnsynced);
        let pool = open(&disk, 4).await;
        expect(&pool, 1, 1).await;
    });
}

#[test]
fn a_failed_flush_all_leaves_the_failed_and_unwritten_runs_dirty() {
    block_on(async {
        let (disk, pool) = synced_pool(8, 8).await;
        // Three runs: 0..=1, 4, 6..=7, written in page order, one request each, up to
        // FLUSH_DEPTH (2) in flight: the run after the failed one may already be on its way.
        for id in [0, 1, 4, 6, 7] {
            write(&pool, id, 1).await;
        }
        let writes = disk.faults().calls(IoKind::Write);
        disk.faults().fail_nth(IoKind::Write, 2, Fault::Eio);
        assert_io_err(pool.flush_all().await, "write", EIO);
        let attempted = disk.faults().calls(IoKind::Write) - writes;
        assert!(
            (2..=1 + jdb_page::FLUSH_DEPTH as u64).contains(&attempted),
            "stops within one write of the failure ({attempted} writes)"
        );
        let mut dirty = Vec::new();
        for id in 0..8 {
            if pool.get(id).await.unwrap().is_dirty() {
                dirty.push(id);
            }
        }
        assert!(dirty.contains(&4), "the failed run stays dirty: {dirty:?}");
        assert!(
            !dirty.contains(&0) && !dirty.contains(&1),
            "the run before it was written"
        );
        for id in [0, 1, 6, 7] {
            if !dirty.contains(&id) {
                let live = disk.live_image();
                assert_eq!(
                    image_page(&live, id)[32..96],
                    pattern(id, 1)[..],
                    "page {id} is clean, so written"
                );
            }
        }

        pool.flush_all().await.unwrap();
        assert_eq!(pool.dirty_count(), 0);
        pool.sync().await.unwrap();
        drop(pool);
        disk.crash(Crash::LoseUnsynced);
        let pool = open(&disk, 8).await;
        for id in 0..8 {
            let v = u8::from([0, 1, 4, 6, 7].contains(&id));
            expect(&pool, id, v).await;
        }
    });
}

#[test]
fn a_failed_write_during_sync_is_an_error_and_nothing_new_is_durable() {
    block_on(async {
        let (disk, pool) = synced_pool(4, 4).await;
        for id in 0..4 {
            write(&pool, id, 1).await;
        }
        let durable = disk.durable_image();
        let syncs = disk.syncs();
        disk.faults().fail_nth(IoKind::Write, 1, Fault::Eio);
        assert_io_err(pool.sync().await, "write", EIO);
        assert_eq!(disk.syncs(), syncs, "no fdatasync after a failed write");
        assert_eq!(disk.durable_image(), durable);
        assert_eq!(pool.dirty_count(), 4);
        assert_eq!(pool.stats().syncs, 1, "only the first sync counted");

        // A crash now keeps the last synced state.
        drop(pool);
        disk.crash(Crash::LoseUnsynced);
        let pool = open(&disk, 4).await;
        for id in 0..4 {
            expect(&pool, id, 0).await;
        }
    });
}

#[test]
fn after_a_failed_sync_a_retry_makes_every_page_durable() {
    block_on(async {
        let (disk, pool) = synced_pool(4, 2).await;
        for id in 0..4 {
            write(&pool, id, 1).await; // cap 2: pages 0 and 1 are written back on eviction
        }
        disk.faults().fail_nth(IoKind::Write, 1, Fault::Eio);
        assert_io_err(pool.sync().await, "write", EIO);
        pool.sync().await.unwrap();
        assert_eq!(pool.dirty_count(), 0);
        drop(pool);
        disk.crash(Crash::LoseUnsynced);
        let pool = open(&disk, 2).await;
        for id in 0..4 {
            expect(&pool, id, 1).await;
        }
    });
}

#[test]
fn a_failed_fdatasync_is_an_error_and_durability_waits_for_a_successful_one() {
    block_on(async {
        let (disk, pool) = synced_pool(4, 4).await;
        for id in 0..4 {
            write(&pool, id, 1).await;
        }
        let durable = disk.durable_image();
        disk.faults().fail_nth(IoKind::Sync, 1, Fault::Eio);
        assert_io_err(pool.sync().await, "fdatasync", EIO);
        assert_eq!(disk.durable_image(), durable);
        assert_eq!(pool.stats().syncs, 1);

        // Crash before a retry: the last synced state, exactly.
        drop(pool);
        disk.crash(Crash::LoseUnsynced);
        let pool = open(&disk, 4).await;
        for id in 0..4 {
            expect(&pool, id, 0).await;
        }

        // The same again, but a retry would succeed: the pool is poisoned, so it fails, and
        // only a reopen writes again.
        for id in 0..4 {
            write(&pool, id, 2).await;
        }
        let syncs = disk.syncs();
        disk.faults().fail_nth(IoKind::Sync, 1, Fault::Eio);
        assert_io_err(pool.sync().await, "fdatasync", EIO);
        assert_poisoned(pool.sync().await);
        assert_eq!(disk.syncs(), syncs, "no fdatasync once poisoned");
        drop(pool);
        disk.crash(Crash::LoseUnsynced);
        let pool = open(&disk, 4).await;
        for id in 0..4 {
            expect(&pool, id, 0).await;
        }
    });
}

/// Asserts `res` is `Err(Poisoned)` naming the injected `fdatasync` failure.
#[track_caller]
fn assert_poisoned<T: std::fmt::Debug>(res: jdb_page::Result<T>) {
    match res {
        Err(jdb_page::Error::Poisoned {
            first, os_error, ..
        }) => {
            assert!(first.contains("fdatasync"), "{first}");
            assert_eq!(os_error, Some(EIO));
        }
        other => panic!("expected Poisoned, got {other:?}"),
    }
}

#[test]
fn after_a_failed_fdatasync_every_write_and_sync_fails_until_reopen() {
    block_on(async {
        let (disk, pool) = synced_pool(4, 2).await;
        write(&pool, 0, 1).await;
        disk.faults().fail_nth(IoKind::Sync, 1, Fault::Eio);
        assert_io_err(pool.sync().await, "fdatasync", EIO);
        assert!(pool.is_poisoned());
        let writes = disk.unsynced_writes();
        // Each way the pool writes: all refused, the sync that would now succeed too. Both
        // cached pages dirty, so `get(2)` needs a write-back.
        write(&pool, 1, 1).await;
        write(&pool, 0, 2).await;
        assert_poisoned(pool.flush_page(1).await);
        assert_poisoned(pool.flush_all().await);
        assert_poisoned(pool.get(2).await.map(|_| ()));
        assert_poisoned(pool.sync().await);
        let err = pool.close().await.expect_err("close of a poisoned pool");
        assert_poisoned::<()>(Err(err));
        assert_eq!(
            disk.unsynced_writes(),
            writes,
            "nothing written once poisoned"
        );
        // Reads of cached pages still work.
        expect(&pool, 0, 2).await;
        let text = pool.sync().await.unwrap_err().to_string();
        assert!(
            text.contains("poisoned") && text.contains("reopen"),
            "{text}"
        );

        // Reopened, the pool writes again.
        drop(pool);
        let pool = open(&disk, 2).await;
        write(&pool, 3, 9).await;
        pool.sync().await.unwrap();
        assert!(!pool.is_poisoned());
    });
}

#[test]
fn close_that_fails_hands_the_pool_back_with_its_dirty_pages() {
    block_on(async {
        let (disk, pool) = synced_pool(3, 3).await;
        write(&pool, 2, 1).await;
        disk.faults().fail_nth(IoKind::Write, 1, Fault::Eio);
        let err = pool.close().await.expect_err("close must fail");
        assert_io_err::<()>(Err(err), "write", EIO);
        assert_eq!(pool.dirty_count(), 1);
        expect(&pool, 2, 1).await;

        pool.close().await.unwrap();
        disk.crash(Crash::LoseUnsynced);
        let pool = open(&disk, 3).await;
        expect(&pool, 2, 1).await;

        // A failed fdatasync in close: the pool comes back, poisoned.
        write(&pool, 2, 2).await;
        disk.faults().fail_nth(IoKind::Sync, 1, Fault::Eio);
        let err = pool.close().await.expect_err("close must fail");
        assert_io_err::<()>(Err(err), "fdatasync", EIO);
        let err = pool.close().await.expect_err("poisoned");
        assert_poisoned::<()>(Err(err));
    });
}

#[test]
fn a_failed_read_while_holding_another_page_leaves_that_page_held_and_usable() {
    block_on(async {
        let (disk, pool) = synced_pool(4, 4).await;
        drop(pool);
        let pool = open(&disk, 4).await;
        let a = pool.get(1).await.unwrap();
        disk.faults().fail_nth(IoKind::Read, 1, Fault::Eio);
        assert_io_err(pool.get(3).await.map(|_| ()), "read", EIO);
        assert!(pool.is_cached(1) && !pool.is_cached(3));
        let b = pool.get(3).await.unwrap();
        assert_eq!(
            (a.data()[..64].to_vec(), b.data()[..64].to_vec()),
            (pattern(1, 0), pattern(3, 0))
        );
    });
}

/// The same promises on a real file (io_uring, O_DIRECT), faults injected by a wrapper.
#[test]
fn on_a_real_file_failed_writes_lose_nothing_and_a_torn_one_reads_as_corrupt() {
    common::block_on(async {
        let dir = common::tempdir();
        let path = common::db_path(dir.path());
        let file = FaultyStorage::new(jdb_fs::File::create(&path).await.unwrap());
        let faults = file.faults().clone();
        let pool = BufferPool::open(file, 2).await.unwrap();
        for v in 0..3u8 {
            let mut page = pool.alloc().await.unwrap();
            let id = page.id();
            page.data_mut()[..64].copy_from_slice(&pattern(id, v));
        }
        pool.sync().await.unwrap();

        // An eviction write fails: the dirty victim stays.
        pool.get(0).await.unwrap().data_mut()[..64].copy_from_slice(&pattern(0, 9));
        pool.get(1).await.unwrap().data_mut()[..64].copy_from_slice(&pattern(1, 9));
        faults.fail_nth(IoKind::Write, 1, Fault::Eio);
        assert_io_err(pool.get(2).await, "write", EIO);
        assert_eq!(pool.dirty_count(), 2);

        // A torn flush of page 1 (header and 8 payload bytes new, the rest old): the file holds
        // a torn page, which another reader sees as corrupt, never as data; the pool keeps the
        // page dirty.
        faults.fail_nth(IoKind::Write, 1, Fault::Torn { bytes: 40 });
        assert_io_err(pool.flush_page(1).await, "write", EIO);
        assert!(pool.is_cached(1));
        {
            // The reader reads the bytes: a second pool cannot open the file while this one
            // holds its lock.
            let image = std::fs::read(&path).unwrap();
            let torn = jdb_layout::verify(image_page(&image, 1), 1);
            assert!(
                matches!(torn, Err(jdb_layout::Error::ChecksumMismatch { .. })),
                "{torn:?}"
            );
            jdb_layout::verify(image_page(&image, 0), 0).unwrap();
            let payload = &image_page(&image, 0)[jdb_layout::PAGE_HEADER_SIZE..];
            assert_eq!(payload[..64], pattern(0, 0)[..]);
        }

        // The disk recovers: closing writes everything.
        pool.close().await.unwrap();
        let pool = common::reopen_pool(&path, 2).await;
        for (id, v) in [(0, 9), (1, 9), (2, 2)] {
            assert_eq!(pool.get(id).await.unwrap().data()[..64], pattern(id, v)[..]);
        }
        assert_eq!(pool.stats().checksum_failures, 0);
    });
}

#[test]
fn a_failed_multi_page_read_caches_none_of_its_pages() {
    block_on(async {
        let (disk, pool) = synced_pool(12, 16).await;
        drop(pool);
        let pool = open(&disk, 16).await;
        expect(&pool, 2, 0).await;

        // get_group(0, 6): page 2 is cached, so runs 0..=1 and 3..=5; the second read fails.
        disk.faults().fail_nth(IoKind::Read, 2, Fault::Eio);
        assert_io_err(pool.get_group(0, 6).await, "read", EIO);
        assert!(pool.is_cached(0) && pool.is_cached(1) && pool.is_cached(2));
        assert!(
            (3..6).all(|id| !pool.is_cached(id)),
            "the failed run left pages behind"
        );

        // prefetch: three runs in flight, one fails; the others are installed, the error
        // is returned.
        let reads = disk.faults().calls(IoKind::Read);
        disk.faults().fail_nth(IoKind::Read, 2, Fault::Eio);
        assert_io_err(pool.prefetch(&[3, 4, 7, 8, 10, 11]).await, "read", EIO);
        assert_eq!(disk.faults().calls(IoKind::Read) - reads, 3);
        let cached: Vec<_> = [3, 4, 7, 8, 10, 11]
            .into_iter()
            .filter(|&id| pool.is_cached(id))
            .collect();
        assert_eq!(
            cached.len(),
            4,
            "two runs installed, the failed one not: {cached:?}"
        );

        // Once the disk recovers every page reads back.
        for (id, page) in pool.get_group(0, 12).await.unwrap().into_iter().enumerate() {
            assert_eq!(page.data()[..64], pattern(id as u32, 0)[..]);
        }
    });
}
