//! A disk that stays full (every write fails with `ENOSPC` until cleared) and writes that tear
//! (only the first bytes of a page reach the file, the call fails): the pool reports each failure,
//! keeps serving what it has in memory, loses no dirty page, and catches up once the disk does.

mod fault_support;

use fault_support::*;
use jdb_page::{
    BufferPool,
    testing::{Crash, EIO, ENOSPC, Fault, IoKind, MemDisk},
};

#[test]
fn a_full_disk_fails_every_write_until_cleared_and_loses_nothing() {
    block_on(async {
        let disk = MemDisk::new();
        let pool = open(&disk, 4).await;
        disk.faults().fail_always(IoKind::Write, Fault::NoSpace);

        // Four pages fit in free frames; the fifth needs a write-back, which fails.
        for id in 0..4 {
            let mut page = pool.alloc().await.unwrap();
            assert_eq!(page.id(), id);
            page.data_mut()[..64].copy_from_slice(&pattern(id, 1));
        }
        for _ in 0..3 {
            assert_io_err(pool.alloc().await, "write", ENOSPC);
        }
        assert_io_err(pool.flush_page(2).await, "write", ENOSPC);
        assert_io_err(pool.flush_all().await, "write", ENOSPC);
        assert_io_err(pool.sync().await, "write", ENOSPC);
        let err = pool.close().await.expect_err("close must fail");
        assert_io_err::<()>(Err(err), "write", ENOSPC);
        assert_eq!(disk.faults().calls(IoKind::Sync), 0, "never synced");
        assert!(disk.live_image().is_empty(), "nothing reached the file");

        // Memory still works: every page is there, dirty, and can change.
        assert_eq!(
            (pool.page_count(), pool.len(), pool.dirty_count()),
            (4, 4, 4)
        );
        for id in 0..4 {
            expect(&pool, id, 1).await;
        }
        write(&pool, 3, 2).await;

        // Space is freed: one sync writes everything.
        disk.faults().clear();
        pool.sync().await.unwrap();
        assert_eq!(pool.alloc().await.unwrap().id(), 4);
        drop(pool);
        disk.crash(Crash::LoseUnsynced);
        let pool = open(&disk, 4).await;
        assert_eq!(pool.page_count(), 4, "page 4 was never synced");
        for (id, v) in [(0, 1), (1, 1), (2, 1), (3, 2)] {
            expect(&pool, id, v).await;
        }
    });
}

#[test]
fn a_torn_write_is_an_error_and_the_next_flush_repairs_the_page() {
    block_on(async {
        let (disk, pool) = synced_pool(4, 4).await;
        write(&pool, 2, 1).await;

        // Header and 8 bytes of payload reach the file, the rest of the page stays old.
        disk.faults()
            .fail_nth(IoKind::Write, 1, Fault::Torn { bytes: 40 });
        assert_io_err(pool.flush_page(2).await, "write", EIO);
        assert!(
            pool.get(2).await.unwrap().is_dirty(),
            "a torn write is not a write"
        );
        let live = disk.live_image();
        assert!(matches!(
            jdb_layout::verify(image_page(&live, 2), 2),
            Err(jdb_layout::Error::ChecksumMismatch { page: 2, .. })
        ));

        // Anyone reading the file now sees a corrupt page, never its bytes.
        {
            let copy = MemDisk::with_image(live);
            let reader = BufferPool::open(copy.storage(), 4).await.unwrap();
            assert_torn(reader.get(2).await, 2);
            assert!(!reader.is_cached(2));
            assert_eq!(reader.stats().checksum_failures, 1);
            assert_torn(reader.get(2).await, 2);
            expect(&reader, 1, 0).await;
        }

        // The owner still has the page and writes it whole.
        expect(&pool, 2, 1).await;
        pool.flush_page(2).await.unwrap();
        assert!(jdb_layout::verify(image_page(&disk.live_image(), 2), 2).is_ok());
        pool.sync().await.unwrap();
        drop(pool);
        disk.crash(Crash::LoseUnsynced);
        let pool = open(&disk, 4).await;
        expect(&pool, 2, 1).await;
    });
}

#[test]
fn a_torn_multi_page_write_keeps_the_whole_run_dirty() {
    block_on(async {
        let (disk, pool) = synced_pool(6, 8).await;
        for id in 1..5 {
            write(&pool, id, 1).await;
        }
        // One request for pages 1..=4; it stops in the middle of page 3.
        disk.faults().fail_nth(
            IoKind::Write,
            1,
            Fault::Torn {
                bytes: 2 * 4096 + 40,
            },
        );
        assert_io_err(pool.flush_all().await, "write", EIO);
        assert_eq!(pool.dirty_count(), 4);
        let live = disk.live_image();
        for id in 1..3 {
            assert!(jdb_layout::verify(image_page(&live, id), id).is_ok());
        }
        assert!(jdb_layout::verify(image_page(&live, 3), 3).is_err());

        // A crash before the retry: the torn write was never synced, the old pages come back.
        drop(pool);
        disk.crash(Crash::LoseUnsynced);
        let pool = open(&disk, 8).await;
        for id in 0..6 {
            expect(&pool, id, 0).await;
        }
    });
}
