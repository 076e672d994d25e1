//! Page groups: one I/O per run, coalesced write-back, prefetch, scan resistance.

mod common;

use common::*;
use jdb_page::{BufferPool, Error, MAX_RUN};

/// A file of `n` pages, page `id` holding `pattern(id, 0)`, written in groups.
async fn make_file(path: &std::path::Path, n: u32) {
    let pool = create_pool(path, 1024).await;
    for _ in 0..n / MAX_RUN as u32 {
        let first = pool.alloc_group(MAX_RUN).await.unwrap();
        for (k, mut page) in pool
            .get_group(first, MAX_RUN)
            .await
            .unwrap()
            .into_iter()
            .enumerate()
        {
            let id = first + k as u32;
            assert_eq!(page.id(), id);
            page.data_mut()[..64].copy_from_slice(&pattern(id, 0));
        }
    }
    pool.close().await.unwrap();
}

#[test]
fn a_cold_scan_by_groups_of_16_costs_one_read_per_group() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        make_file(&path, 1024).await;
        let pool = reopen_pool(&path, 1100).await;
        assert_eq!(pool.stats().read_ios, 0, "a new pool starts at zero");
        for g in 0..64 {
            let first = g * 16;
            let pages = pool.get_group(first, 16).await.unwrap();
            assert_eq!(pages.len(), 16);
            for (k, page) in pages.into_iter().enumerate() {
                assert_eq!(page.id(), first + k as u32);
                assert_eq!(page.data()[..64], pattern(first + k as u32, 0)[..]);
            }
        }
        let s = pool.stats();
        assert_eq!((s.read_ios, s.pages_read, s.misses), (64, 1024, 1024));
        // A second scan is all hits.
        pool.reset_stats();
        for g in 0..64 {
            pool.get_group(g * 16, 16).await.unwrap();
        }
        assert_eq!((pool.stats().read_ios, pool.stats().hits), (0, 1024));
    });
}

#[test]
fn get_group_reads_only_the_missing_runs() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        make_file(&path, 64).await;
        let pool = reopen_pool(&path, 64).await;
        for id in [3, 4, 9] {
            pool.get(id).await.unwrap();
        }
        pool.reset_stats();
        // 0..16 with 3, 4, 9 cached: runs 0..3, 5..9, 10..16 -> three reads.
        let pages = pool.get_group(0, 16).await.unwrap();
        assert!(pages.iter().enumerate().all(|(k, p)| p.id() == k as u32));
        let s = pool.stats();
        assert_eq!((s.read_ios, s.pages_read, s.hits), (3, 13, 3));
        assert!(matches!(
            pool.get_group(60, 5).await,
            Err(Error::PageNotFound { id: 64, .. })
        ));
        assert!(matches!(
            pool.get_group(0, 0).await,
            Err(Error::InvalidGroup { .. })
        ));
        assert!(matches!(
            pool.get_group(0, 17).await,
            Err(Error::InvalidGroup { .. })
        ));
    });
}

#[test]
fn flush_all_of_1024_contiguous_dirty_pages_takes_64_writes_and_round_trips() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 1024).await;
        for _ in 0..1024 {
            let mut page = pool.alloc().await.unwrap();
            let id = page.id();
            page.data_mut()[..64].copy_from_slice(&pattern(id, 3));
        }
        assert_eq!(pool.dirty_count(), 1024);
        pool.flush_all().await.unwrap();
        let s = pool.stats();
        assert!(s.write_ios <= 1024 / 16, "{} write I/Os", s.write_ios);
        assert_eq!(s.pages_written, 1024);
        pool.sync().await.unwrap();
        assert_eq!(pool.stats().write_ios, s.write_ios, "nothing left to write");
        drop(pool);

        let pool = reopen_pool(&path, 64).await;
        for id in (0..1024).step_by(7) {
            assert_eq!(pool.get(id).await.unwrap().data()[..64], pattern(id, 3)[..]);
        }
    });
}

#[test]
fn alloc_group_gives_contiguous_ids_written_with_one_request() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 32).await;
        pool.alloc().await.unwrap();
        assert_eq!(pool.alloc_group(16).await.unwrap(), 1);
        assert_eq!(pool.alloc_group(3).await.unwrap(), 17);
        assert_eq!(pool.page_count(), 20);
        assert!(matches!(
            pool.alloc_group(17).await,
            Err(Error::InvalidGroup { .. })
        ));
        pool.flush_all().await.unwrap();
        // Pages 0..20 are one contiguous dirty run: two writes of at most 16 pages.
        assert_eq!(pool.stats().write_ios, 2);
    });
}

#[test]
fn eviction_writes_contiguous_dirty_neighbours_with_the_victim() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let pool = create_pool(&path, 8).await;
        for _ in 0..8 {
            pool.alloc().await.unwrap();
        }
        // All 8 dirty and contiguous: the first eviction writes them all with one request.
        pool.alloc().await.unwrap();
        let s = pool.stats();
        assert_eq!((s.write_ios, s.dirty_writebacks, s.evictions), (1, 8, 1));
        assert_eq!(pool.dirty_count(), 1);
    });
}

#[test]
fn prefetch_reads_runs_concurrently_and_caches_everything() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        make_file(&path, 512).await;
        let pool = reopen_pool(&path, 512).await;
        let mut x = 7u32;
        let mut ids: Vec<u32> = (0..300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x % 512
            })
            .collect();
        ids.extend([10, 11, 12, 13, 10]);
        let mut distinct = ids.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let runs = distinct
            .chunk_by(|a, b| *b == *a + 1)
            .map(|r| r.len().div_ceil(16))
            .sum::<usize>();

        let n = pool.prefetch(&ids).await.unwrap();
        assert_eq!(n, distinct.len());
        let s = pool.stats();
        assert_eq!(
            (s.read_ios as usize, s.pages_read as usize),
            (runs, distinct.len())
        );
        for &id in &distinct {
            assert!(pool.is_cached(id));
        }
        pool.reset_stats();
        for &id in &distinct {
            assert_eq!(pool.get(id).await.unwrap().data()[..64], pattern(id, 0)[..]);
        }
        assert_eq!(pool.stats().misses, 0);
        // Already cached: nothing to read.
        assert_eq!(pool.prefetch(&ids).await.unwrap(), 0);
        assert!(matches!(
            pool.prefetch(&[1, 512]).await,
            Err(Error::PageNotFound { id: 512, .. })
        ));
    });
}

#[test]
fn prefetch_of_more_pages_than_fit_reads_in_batches() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        make_file(&path, 256).await;
        let pool = reopen_pool(&path, 40).await;
        let ids: Vec<u32> = (0..256).step_by(2).collect();
        assert_eq!(pool.prefetch(&ids).await.unwrap(), 128);
        assert_eq!(pool.len(), 40);
        assert!(pool.is_cached(254), "the last batch stays");
    });
}

/// Reads the hot set, a scan of `10 × cap` other pages runs (by groups or by plain `get`), with
/// hot reads in between; returns the fraction of the hot set still resident, measured by hits.
async fn hot_set_after_scan(by_groups: bool) -> f64 {
    const CAP: usize = 64;
    let dir = tempdir();
    let path = db_path(dir.path());
    make_file(&path, (CAP * 11) as u32).await;
    let pool = reopen_pool(&path, CAP).await;
    let hot: Vec<u32> = (0..CAP as u32 / 2).collect();
    for _ in 0..3 {
        for &id in &hot {
            pool.get(id).await.unwrap();
        }
    }
    let scan_first = CAP as u32;
    for g in 0..(10 * CAP / 16) as u32 {
        let first = scan_first + g * 16;
        if by_groups {
            pool.get_group(first, 16).await.unwrap();
        } else {
            for id in first..first + 16 {
                pool.get(id).await.unwrap();
            }
        }
        // The hot set keeps being read while the scan runs: one hot page per group.
        pool.get(hot[g as usize % hot.len()]).await.unwrap();
    }
    pool.reset_stats();
    for &id in &hot {
        pool.get(id).await.unwrap();
    }
    pool.stats().hits as f64 / hot.len() as f64
}

#[test]
fn a_scan_through_get_group_leaves_the_hot_set_resident() {
    let by_groups = block_on(hot_set_after_scan(true));
    let by_get = block_on(hot_set_after_scan(false));
    eprintln!(
        "hot set resident after a 10 x cap scan: {:.0}% by get_group, {:.0}% by get",
        by_groups * 100.0,
        by_get * 100.0
    );
    assert!(
        by_groups >= 0.95,
        "hot set {:.0}% resident after a grouped scan",
        by_groups * 100.0
    );
    assert!(
        by_get < 0.5,
        "baseline: a plain-get scan should evict the hot set ({:.0}%)",
        by_get * 100.0
    );
}

#[test]
fn a_group_page_asked_for_by_get_becomes_hot() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        make_file(&path, 64).await;
        let pool = reopen_pool(&path, 20).await;
        pool.get_group(0, 16).await.unwrap();
        pool.get(5).await.unwrap();
        // Next group needs 16 frames: 4 free, then 12 cold group pages go; page 5 stays.
        pool.get_group(16, 16).await.unwrap();
        assert!(pool.is_cached(5));
        let _: &BufferPool = &pool;
    });
}

/// Fills a pool of `cap` frames so that the pages of `group_resident` are in memory and cold
/// (brought in by a prefetch, as a scan leaves them) and the rest of the pool holds other pages,
/// hot and unpinned (`others`, read with `get`). Then resets the counters.
async fn fill_with_cold_group_pages(pool: &BufferPool, others: &[u32], group_resident: &[u32]) {
    for &id in others {
        pool.get(id).await.unwrap();
    }
    assert_eq!(
        pool.prefetch(group_resident).await.unwrap(),
        group_resident.len()
    );
    assert_eq!(pool.len(), pool.cap(), "the pool is full");
    for &id in group_resident.iter().chain(others) {
        assert!(pool.is_cached(id));
    }
    pool.reset_stats();
}

/// Checks that a group call's pages are `first..first + n` with their bytes, and that the
/// counters show exactly `resident` hits and `n - resident` pages read, one request each (the
/// missing pages alternate with resident ones), every one of them evicting another page.
fn check_group(pool: &BufferPool, ids_and_bytes: &[(u32, Vec<u8>)], first: u32, resident: usize) {
    let n = ids_and_bytes.len();
    for (k, (id, bytes)) in ids_and_bytes.iter().enumerate() {
        assert_eq!(*id, first + k as u32, "guard {k} holds the wrong page");
        assert_eq!(bytes[..], pattern(*id, 0)[..], "page {id}");
    }
    let s = pool.stats();
    let missing = (n - resident) as u64;
    assert_eq!(
        (s.pages_read, s.read_ios, s.misses, s.hits, s.evictions),
        (missing, missing, missing, resident as u64, missing),
        "only the missing pages are read, and only other pages are evicted: {s:?}"
    );
}

#[test]
fn a_group_never_evicts_its_own_cold_pages_to_read_the_missing_ones() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        make_file(&path, 64).await;
        for shared in [false, true] {
            // 24 frames: the odd pages of group 0..16, cold, and 16 hot pages 32..48.
            let pool = reopen_pool(&path, 24).await;
            let odd: Vec<u32> = (1..16).step_by(2).collect();
            let others: Vec<u32> = (32..48).collect();
            fill_with_cold_group_pages(&pool, &others, &odd).await;
            let got: Vec<(u32, Vec<u8>)> = if shared {
                let pages = pool.read_group(0, 16).await.unwrap();
                pages
                    .iter()
                    .map(|p| (p.id(), p.data()[..64].to_vec()))
                    .collect()
            } else {
                let pages = pool.get_group(0, 16).await.unwrap();
                pages
                    .iter()
                    .map(|p| (p.id(), p.data()[..64].to_vec()))
                    .collect()
            };
            check_group(&pool, &got, 0, odd.len());
            assert_eq!(
                others.iter().filter(|&&id| pool.is_cached(id)).count(),
                8,
                "the 8 missing pages took the room of 8 other pages"
            );
        }
    });
}

#[test]
fn a_group_as_large_as_the_pool_with_some_pages_resident_reads_only_the_others() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        make_file(&path, 64).await;
        // 16 frames: the even pages of group 16..32 (the first one included), cold, and 8 hot
        // pages 48..56. The group needs every frame.
        let pool = reopen_pool(&path, 16).await;
        let even: Vec<u32> = (16..32).step_by(2).collect();
        let others: Vec<u32> = (48..56).collect();
        fill_with_cold_group_pages(&pool, &others, &even).await;
        let pages = pool.get_group(16, 16).await.unwrap();
        let got: Vec<(u32, Vec<u8>)> = pages
            .iter()
            .map(|p| (p.id(), p.data()[..64].to_vec()))
            .collect();
        check_group(&pool, &got, 16, even.len());
        assert!(others.iter().all(|&id| !pool.is_cached(id)));
        // With every frame held by the group, there is no room for anything else.
        assert!(matches!(
            pool.get(0).await,
            Err(Error::PoolFull { cap: 16, .. })
        ));
        drop(pages);
        assert_eq!(pool.get(0).await.unwrap().id(), 0);
    });
}

#[test]
fn a_group_call_dropped_mid_read_keeps_none_of_its_pages_from_eviction() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        make_file(&path, 64).await;
        let pool = reopen_pool(&path, 16).await;
        let even: Vec<u32> = (0..16).step_by(2).collect();
        let others: Vec<u32> = (32..40).collect();
        fill_with_cold_group_pages(&pool, &others, &even).await;
        // Page 0 is latched, 2..16 are kept while page 1 is read; the call is dropped then.
        assert!(
            !poll_then_drop(pool.get_group(0, 16), 1),
            "the read of page 1 is in flight"
        );
        assert_eq!(pool.stats().read_ios, 1);
        // Every frame can be evicted again: 16 other pages fit, and no group page is left.
        for id in 48..64 {
            assert_eq!(pool.get(id).await.unwrap().id(), id);
        }
        assert_eq!(pool.len(), 16);
        assert!((0..16).all(|id| !pool.is_cached(id)));
    });
}

#[test]
fn prefetch_of_pages_that_fit_evicts_other_pages_not_its_own() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        make_file(&path, 512).await;
        let pool = reopen_pool(&path, 128).await;
        // 8 of the pages asked for are in memory and cold; the other 120 frames are hot.
        let resident: Vec<u32> = (200..216).step_by(2).collect();
        let others: Vec<u32> = (0..120).collect();
        fill_with_cold_group_pages(&pool, &others, &resident).await;
        // 92 missing pages, none adjacent: 92 reads, more than PREFETCH_DEPTH in flight at once,
        // so later reads need room while earlier ones are installed (cold).
        let missing: Vec<u32> = (300..484).step_by(2).collect();
        let ids: Vec<u32> = resident.iter().chain(&missing).copied().collect();
        assert!(missing.len() > jdb_page::PREFETCH_DEPTH && ids.len() <= pool.cap());
        assert_eq!(pool.prefetch(&ids).await.unwrap(), missing.len());
        let s = pool.stats();
        assert_eq!((s.pages_read, s.read_ios), (92, 92));
        let gone: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|&id| !pool.is_cached(id))
            .collect();
        assert!(gone.is_empty(), "pages asked for but evicted: {gone:?}");
        assert_eq!(
            others.iter().filter(|&&id| pool.is_cached(id)).count(),
            128 - ids.len()
        );
    });
}
