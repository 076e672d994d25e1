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
