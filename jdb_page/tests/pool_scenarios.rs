//! Classic buffer-pool scenarios: pinning, exact LRU victims, dirty eviction, reopen, corruption,
//! bad files.

mod common;

use common::*;
use jdb_fs::File;
use jdb_page::{BufferPool, Error};

/// Allocates `n` pages, writes `pattern(id, 0)` into each, syncs.
async fn fill(pool: &BufferPool, n: u32) {
    for _ in 0..n {
        let mut page = pool.alloc().await.unwrap();
        let id = page.id();
        page.data_mut()[..64].copy_from_slice(&pattern(id, 0));
    }
    pool.sync().await.unwrap();
}

/// A guard is two words (the pool's core and the frame), so a future that holds one across an
/// `.await` grows by 16 bytes; an `Option` of one costs nothing more.
#[test]
fn a_guard_is_two_words() {
    use jdb_page::{PageMut, PageRef};
    assert_eq!(size_of::<PageRef<'_>>(), 2 * size_of::<usize>());
    assert_eq!(size_of::<PageMut<'_>>(), 2 * size_of::<usize>());
    assert_eq!(size_of::<Option<PageMut<'_>>>(), 2 * size_of::<usize>());
}

#[test]
fn two_pinned_frames_make_the_pool_full_until_one_is_unpinned() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 2).await;
        fill(&pool, 3).await;

        // Pin pages 0 and 1 and change them.
        for id in 0..2 {
            let mut p = pool.get(id).await.unwrap();
            p.pin();
            p.data_mut()[..64].copy_from_slice(&pattern(id, 1));
        }
        match pool.get(2).await {
            Err(Error::PoolFull { cap: 2, pinned: 2 }) => {}
            other => panic!("expected PoolFull, got {other:?}"),
        }
        assert!(matches!(pool.alloc().await, Err(Error::PoolFull { .. })));
        // Nothing was lost and the pool still works.
        assert_eq!(pool.get(0).await.unwrap().data()[..64], pattern(0, 1)[..]);
        assert_eq!(pool.page_count(), 3);

        pool.get(1).await.unwrap().unpin();
        assert_eq!(pool.get(2).await.unwrap().data()[..64], pattern(2, 0)[..]);
        assert!(!pool.is_cached(1), "the only unpinned page was the victim");
        assert!(pool.is_cached(0));
        // The evicted page comes back with its latest bytes (written back when evicted).
        pool.get(0).await.unwrap().unpin();
        assert_eq!(pool.get(1).await.unwrap().data()[..64], pattern(1, 1)[..]);
        assert_eq!(pool.get(0).await.unwrap().data()[..64], pattern(0, 1)[..]);
        assert!(pool.stats().dirty_writebacks >= 1);
    });
}

#[test]
fn unpinning_five_of_ten_and_loading_four_evicts_the_four_least_recently_used() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 10).await;
        fill(&pool, 20).await;
        pool.close().await.unwrap();
        let pool = reopen_pool(&path, 10).await;

        // Load 0..10, pinning each.
        for id in 0..10 {
            pool.get(id).await.unwrap().pin();
        }
        // Unpin 5 of them, in an order unrelated to their recency: 8, 2, 6, 0, 4.
        for id in [8, 2, 6, 0, 4] {
            pool.get(id).await.unwrap().unpin();
        }
        // Recency among unpinned pages is now 8 (oldest) < 2 < 6 < 0 < 4 (touched by unpin's get).
        for id in 10..14 {
            pool.get(id).await.unwrap();
        }
        let cached: Vec<u32> = (0..10).filter(|&id| pool.is_cached(id)).collect();
        assert_eq!(cached, vec![1, 3, 4, 5, 7, 9], "victims must be 8, 2, 6, 0");
        assert_eq!(pool.stats().evictions, 4);
    });
}

#[test]
fn a_dirty_page_evicted_and_read_again_has_its_bytes() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 3).await;
        fill(&pool, 8).await;
        pool.get(5).await.unwrap().data_mut()[100..110].copy_from_slice(b"dirty byte");
        let before = pool.stats();
        for id in [0, 1, 2, 3] {
            pool.get(id).await.unwrap();
        }
        assert!(!pool.is_cached(5));
        let after = pool.stats();
        assert_eq!(after.dirty_writebacks - before.dirty_writebacks, 1);
        assert_eq!(after.write_ios - before.write_ios, 1);
        let p = pool.get(5).await.unwrap();
        assert_eq!(&p.data()[100..110], b"dirty byte");
        assert!(!p.is_dirty());
    });
}

#[test]
fn reopen_after_sync_returns_every_page() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 4).await;
        fill(&pool, 40).await;
        for id in (0..40).step_by(3) {
            pool.get(id).await.unwrap().data_mut()[..64].copy_from_slice(&pattern(id, 7));
        }
        pool.sync().await.unwrap();
        assert_eq!(pool.dirty_count(), 0);
        drop(pool);

        let pool = reopen_pool(&path, 4).await;
        assert_eq!(pool.page_count(), 40);
        for id in 0..40u32 {
            let v = if id.is_multiple_of(3) { 7 } else { 0 };
            assert_eq!(
                pool.get(id).await.unwrap().data()[..64],
                pattern(id, v)[..],
                "page {id}"
            );
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 40 * 4096);
    });
}

#[test]
fn lru_victims_match_a_reference_lru_on_a_fixed_trace() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 8).await;
        fill(&pool, 64).await;
        pool.close().await.unwrap();
        let pool = reopen_pool(&path, 8).await;

        let mut reference = lru::LruCache::new(std::num::NonZeroUsize::new(8).unwrap());
        let mut x = 12345u32;
        for step in 0..2000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // Skewed: half the accesses go to 12 hot pages.
            let id = if x.is_multiple_of(2) {
                x / 2 % 12
            } else {
                x / 2 % 64
            };
            let was_cached = pool.is_cached(id);
            assert_eq!(
                was_cached,
                reference.contains(&id),
                "step {step}, page {id}"
            );
            pool.get(id).await.unwrap();
            let evicted = reference
                .push(id, ())
                .filter(|(k, _)| *k != id)
                .map(|(k, _)| k);
            if let Some(victim) = evicted {
                assert!(
                    !pool.is_cached(victim),
                    "step {step}: {victim} should be the victim"
                );
            }
            for page in 0..64 {
                assert_eq!(
                    pool.is_cached(page),
                    reference.contains(&page),
                    "step {step}"
                );
            }
        }
        let s = pool.stats();
        assert_eq!(s.hits + s.misses, 2000);
    });
}

#[test]
fn a_flipped_byte_on_disk_is_a_checksum_error_and_other_pages_still_load() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 4).await;
        fill(&pool, 6).await;
        drop(pool);

        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3 * 4096 + 2000] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();

        let pool = reopen_pool(&path, 4).await;
        match pool.get(3).await {
            Err(Error::Corrupt {
                page: 3,
                source: jdb_layout::Error::ChecksumMismatch { .. },
                path: p,
            }) => {
                assert_eq!(p, path);
            }
            other => panic!("expected a checksum error, got {other:?}"),
        }
        assert!(!pool.is_cached(3), "a corrupt page is never cached");
        assert_eq!(pool.stats().checksum_failures, 1);
        for id in [0, 1, 2, 4, 5] {
            assert_eq!(pool.get(id).await.unwrap().data()[..64], pattern(id, 0)[..]);
        }
        // Asking again fails again: nothing bad was cached.
        assert!(matches!(
            pool.get(3).await,
            Err(Error::Corrupt { page: 3, .. })
        ));
        assert_eq!(pool.stats().checksum_failures, 2);
        let msg = pool.get(3).await.unwrap_err().to_string();
        assert!(msg.contains("page 3") && msg.contains("checksum"), "{msg}");
    });
}

#[test]
fn a_page_id_past_the_end_is_page_not_found() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 4).await;
        fill(&pool, 2).await;
        assert!(matches!(
            pool.get(2).await,
            Err(Error::PageNotFound {
                id: 2,
                page_count: 2
            })
        ));
        assert!(matches!(
            pool.get(u32::MAX).await,
            Err(Error::PageNotFound { .. })
        ));
        assert!(matches!(
            pool.flush_page(9).await,
            Err(Error::PageNotFound { .. })
        ));
        assert!(pool.get(1).await.is_ok());
    });
}

#[test]
fn open_refuses_a_partial_page_file_and_a_foreign_file_without_touching_them() {
    block_on(async {
        let dir = tempdir();
        let partial = dir.path().join("partial.jdb");
        std::fs::write(&partial, vec![0u8; 4096 + 100]).unwrap();
        match BufferPool::open(File::open_rw(&partial).await.unwrap(), 4).await {
            Err(e @ Error::NotPageMultiple { size: 4196, .. }) => {
                assert!(e.to_string().contains("partial.jdb"), "{e}");
            }
            other => panic!("expected NotPageMultiple, got {:?}", other.map(|_| ())),
        }
        assert_eq!(std::fs::metadata(&partial).unwrap().len(), 4196);

        let foreign = dir.path().join("foreign.txt");
        let text: Vec<u8> = b"this is not a jdb file\n"
            .iter()
            .copied()
            .cycle()
            .take(8192)
            .collect();
        std::fs::write(&foreign, &text).unwrap();
        match BufferPool::open(File::open_rw(&foreign).await.unwrap(), 4).await {
            Err(e @ Error::NotJdbFile { .. }) => {
                assert!(e.to_string().contains("foreign.txt"), "{e}")
            }
            other => panic!("expected NotJdbFile, got {:?}", other.map(|_| ())),
        }
        assert_eq!(std::fs::read(&foreign).unwrap(), text);

        assert!(matches!(
            BufferPool::open(File::open_rw(&foreign).await.unwrap(), 0).await,
            Err(Error::InvalidCapacity { cap: 0, .. })
        ));
    });
}

#[test]
fn a_get_dropped_mid_read_leaves_the_pool_consistent() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 2).await;
        fill(&pool, 6).await;
        pool.get(0).await.unwrap().data_mut()[..5].copy_from_slice(b"dirty");
        pool.get(1).await.unwrap();
        // Page 5 is cold: the get must evict dirty page 0 (a write), then read. Drop it after
        // one poll, i.e. with the write-back in flight.
        assert!(!poll_then_drop(pool.get(5), 1));
        assert!(pool.len() <= 2);
        // Page 0's change is still there, from memory or from disk.
        assert_eq!(&pool.get(0).await.unwrap().data()[..5], b"dirty");
        for polls in 1..4 {
            assert!(!poll_then_drop(pool.get(4), polls) || pool.is_cached(4));
        }
        for id in 0..6 {
            let p = pool.get(id).await.unwrap();
            let expect = if id == 0 {
                b"dirty".to_vec()
            } else {
                pattern(id, 0)[..5].to_vec()
            };
            assert_eq!(&p.data()[..5], &expect[..], "page {id}");
        }
        pool.sync().await.unwrap();
        drop(pool);
        let pool = reopen_pool(&path, 2).await;
        assert_eq!(&pool.get(0).await.unwrap().data()[..5], b"dirty");
    });
}

#[test]
fn one_task_holds_several_guards_and_a_full_pool_says_so() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 3).await;
        fill(&pool, 10).await;
        let mut a = pool.get(7).await.unwrap();
        let mut b = pool.get(2).await.unwrap();
        let mut c = pool.get(9).await.unwrap();
        assert_eq!((a.id(), b.id(), c.id()), (7, 2, 9));
        a.data_mut()[0] = 1;
        b.data_mut()[0] = 2;
        c.data_mut()[0] = 3;
        // Every frame is held: a fourth page has no room, and nothing is lost.
        assert!(matches!(
            pool.get(4).await,
            Err(Error::PoolFull { cap: 3, pinned: 3 })
        ));
        assert!(matches!(
            pool.alloc().await,
            Err(Error::PoolFull { cap: 3, .. })
        ));
        drop((a, b, c));
        let x = pool.get(9).await.unwrap();
        let y = pool.read(7).await.unwrap();
        assert_eq!((x.data()[0], y.data()[0]), (3, 1));
        drop((x, y));
        assert_eq!(pool.get(4).await.unwrap().id(), 4);
    });
}

#[test]
fn init_page_rebuilds_a_corrupt_page_without_reading_it() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 4).await;
        fill(&pool, 4).await;
        drop(pool);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[2 * 4096 + 100] ^= 0xFF;
        std::fs::write(&path, &bytes).unwrap();

        let pool = reopen_pool(&path, 4).await;
        assert!(matches!(
            pool.get(2).await,
            Err(Error::Corrupt { page: 2, .. })
        ));
        let reads = pool.stats().read_ios;
        let mut page = pool.init_page(2).await.unwrap();
        assert_eq!((page.id(), page.is_dirty()), (2, true));
        assert_eq!(page.rows().unwrap().live_count(), 0, "an empty data page");
        page.rows_mut().unwrap().insert(b"redone").unwrap();
        drop(page);
        assert_eq!(pool.stats().read_ios, reads, "init_page does not read");
        assert!(matches!(
            pool.init_page(4).await,
            Err(Error::PageNotFound { id: 4, .. })
        ));
        pool.sync().await.unwrap();
        drop(pool);

        let pool = reopen_pool(&path, 4).await;
        assert_eq!(
            pool.get(2).await.unwrap().rows().unwrap().get(0).unwrap(),
            b"redone"
        );
        assert_eq!(pool.get(3).await.unwrap().data()[..64], pattern(3, 0)[..]);
    });
}

/// Regression (found by the model test in CI): a `flush_all` dropped right after it submitted a
/// write left that write in the kernel; io_uring does not order independent requests, so the
/// stale write could land after the next sync's newer write of the same page, losing it. The pool
/// now waits for writes of dropped calls before it writes again.
#[test]
fn a_write_of_a_dropped_flush_never_lands_after_a_newer_write() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 2).await;
        fill(&pool, 2).await;
        for round in 1..=100u8 {
            pool.get(1).await.unwrap().data_mut()[..64].copy_from_slice(&pattern(1, round));
            // Submit the write of version `round`, then drop the call.
            assert!(!poll_then_drop(pool.flush_all(), 1));
            let newer = round.wrapping_add(100);
            pool.get(1).await.unwrap().data_mut()[..64].copy_from_slice(&pattern(1, newer));
            pool.get(0).await.unwrap().data_mut()[..64].copy_from_slice(&pattern(0, newer));
            pool.sync().await.unwrap();
            let on_disk = std::fs::read(&path).unwrap();
            assert_eq!(
                on_disk[4096 + 32..4096 + 96],
                pattern(1, newer)[..],
                "round {round}: the dropped call's older write overwrote the synced version"
            );
        }
        drop(pool);
        let pool = reopen_pool(&path, 2).await;
        assert_eq!(pool.get(1).await.unwrap().data()[..64], pattern(1, 200)[..]);
    });
}

#[test]
fn a_guards_bytes_are_its_pages_and_a_closed_pool_hands_out_no_guard() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 4).await;
        fill(&pool, 3).await;

        // The guard's own `data`/`data_mut` (from the frame number) and the page record's
        // (through `Deref`) are the same bytes; the guard's `data_mut` marks the page dirty.
        let mut page = pool.get(1).await.unwrap();
        assert!(!page.is_dirty());
        assert_eq!(page.data().as_ptr(), (*page).data().as_ptr());
        assert_eq!(page.data().len(), (*page).data().len());
        page.data_mut()[..5].copy_from_slice(b"guard");
        assert!(page.is_dirty(), "the guard's data_mut marks the page dirty");
        assert_eq!(&(*page).data()[..5], b"guard");
        drop(page);
        let shared = pool.read(1).await.unwrap();
        assert_eq!(&shared.data()[..5], b"guard");
        assert_eq!(shared.data(), (*shared).data());
        drop(shared);

        pool.close().await.unwrap();
        assert!(pool.try_get(1).is_none(), "no hit once closed");
        assert!(pool.try_read(2).is_none(), "no hit once closed");
        assert!(matches!(pool.get(1).await, Err(Error::Closed { .. })));
        assert!(matches!(pool.read(2).await, Err(Error::Closed { .. })));
        drop(pool);

        let pool = reopen_pool(&path, 4).await;
        assert_eq!(&pool.read(1).await.unwrap().data()[..5], b"guard");
        assert_eq!(
            pool.read(2).await.unwrap().data()[..64],
            pattern(2, 0)[..],
            "untouched pages read back as written"
        );
    });
}
