//! `groups` (page groups): a cold sequential scan with `get_group(·, 16)` and `prefetch` of
//! 10 000 random pages, each against the device through our file layer doing the same requests.
//!
//! - `cold_scan/jdb_get_group_16`: `get_group(first, 16)` walking the 256 MiB file with a 4 MiB
//!   pool: every group is a miss, one 64 KiB read, 16 verified pages installed at the cold end;
//!   `cold_scan/file_read_at_64k`: 64 KiB `read_at`s at the same offsets (the limit). Bytes/s.
//! - `prefetch_10k/jdb_prefetch_fresh_pool`: `prefetch` of 10 000 distinct random pages into a
//!   pool opened (untimed) just before, so its arena is untouched: page faults are included.
//!   `prefetch_10k/jdb_prefetch_reused_pool`: the same into a pool reused across iterations and
//!   made cold (untimed) by holding 16 384 other pages (see `make_cold`); eviction of 10 000
//!   clean pages is included.
//!   `prefetch_10k/file_read_at_qd64`: the same runs (sorted, coalesced, at most 16 pages) read
//!   with `PREFETCH_DEPTH` requests in flight (the limit). Elements are pages: pages/s.

mod common;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use futures_util::{StreamExt, stream::FuturesUnordered};
use jdb_fs::{AlignedBuf, File, PAGE_SIZE};
use jdb_page::{BufferPool, MAX_RUN, PREFETCH_DEPTH};

/// Pages in the cold file: 65 536 = 256 MiB (shared with `miss_path`).
const FILE_PAGES: u32 = 65_536;
/// Pool for the scan: 1 024 frames = 4 MiB, so every pass over the file is cold.
const SCAN_CAP: usize = 1024;
/// Pool for prefetch: 16 384 frames = 64 MiB.
const PREFETCH_CAP: usize = 16_384;
/// Random pages per prefetch.
const PREFETCH_PAGES: usize = 10_000;
/// Random ids are drawn below this; pages from here to the end make the reused pool cold.
const RANDOM_SPAN: u32 = FILE_PAGES - PREFETCH_CAP as u32;
/// Distinct random sets, used in turn.
const SETS: u64 = 16;

fn cold_scan(c: &mut Criterion) {
    let path = common::ensure_file("cold.jdb", FILE_PAGES);
    let rt = compio::runtime::Runtime::new().expect("runtime");
    let (pool, file) = rt.block_on(async {
        let pool = BufferPool::open(File::open(&path).await.expect("open"), SCAN_CAP)
            .await
            .expect("pool");
        (pool, File::open(&path).await.expect("open"))
    });
    let mut buf = Some(AlignedBuf::with_cap(MAX_RUN * PAGE_SIZE).expect("buf"));
    // The first pass fills the free frames with the first `SCAN_CAP` pages, and cold insertion
    // then keeps them (each later group evicts the group before it); later passes skip them, so
    // every group is a miss.
    let groups = FILE_PAGES / MAX_RUN as u32;
    let kept = SCAN_CAP as u32 / MAX_RUN as u32;
    let group_at = |at: u32| {
        if at < groups {
            at
        } else {
            kept + (at - groups) % (groups - kept)
        }
    };

    let mut group = c.benchmark_group("groups");
    group
        .throughput(Throughput::Bytes((MAX_RUN * PAGE_SIZE) as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);

    let mut at = 0u32;
    group.bench_function(BenchmarkId::new("cold_scan", "jdb_get_group_16"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let first = group_at(at) * MAX_RUN as u32;
                    at += 1;
                    let pages = pool.get_group(first, MAX_RUN).await.expect("get_group");
                    let sum: u32 = pages.iter().map(|p| u32::from(p.data()[0])).sum();
                    std::hint::black_box(sum);
                }
                start.elapsed()
            })
        })
    });

    let mut at = 0u32;
    group.bench_function(BenchmarkId::new("cold_scan", "file_read_at_64k"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let first = group_at(at) * MAX_RUN as u32;
                    at += 1;
                    let (res, back) = file
                        .read_at(buf.take().expect("buf"), jdb_fs::page_offset(first))
                        .await;
                    res.expect("read");
                    std::hint::black_box(back[0]);
                    buf = Some(back);
                }
                start.elapsed()
            })
        })
    });
    group.finish();

    let stats = pool.stats();
    assert_eq!(stats.hits, 0, "the scan must be cold: {stats:?}");
}

/// The runs `prefetch` reads for `ids`: sorted, contiguous ids coalesced, at most `MAX_RUN`.
fn runs_of(ids: &[u32]) -> Vec<(u32, usize)> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted
        .chunk_by(|a, b| *b == *a + 1)
        .flat_map(|r| r.chunks(MAX_RUN))
        .map(|r| (r[0], r.len()))
        .collect()
}

async fn read_runs_qd(file: &File, runs: &[(u32, usize)], depth: usize) -> usize {
    let mut in_flight = FuturesUnordered::new();
    let mut next = 0;
    let mut pages = 0;
    loop {
        while in_flight.len() < depth && next < runs.len() {
            let (first, n) = runs[next];
            next += 1;
            let buf = AlignedBuf::with_cap(n * PAGE_SIZE).expect("buf");
            in_flight.push(file.read_at(buf, jdb_fs::page_offset(first)));
        }
        let Some((res, buf)) = in_flight.next().await else {
            break;
        };
        res.expect("read");
        pages += buf.len() / PAGE_SIZE;
    }
    pages
}

/// Leaves `pool` (of `flush_out.len()` frames) holding exactly the pages `flush_out`, so that
/// the next random set is all misses. Prefetched pages are cold and evicted oldest first, and
/// the `flush_out` pages still resident from the last round are older than the random set
/// read since: a bare `prefetch(flush_out)` would evict them first and keep part of that set
/// (about 1 300 of the next set's pages were then still resident). A hit makes them hot, so the
/// prefetch evicts the random set, which is exactly as large as the pages it reads.
async fn make_cold(pool: &BufferPool, flush_out: &[u32]) {
    for &id in flush_out {
        if pool.is_cached(id) {
            drop(pool.read(id).await.expect("hit"));
        }
    }
    pool.prefetch(flush_out).await.expect("flush out");
    debug_assert!(flush_out.iter().all(|&id| pool.is_cached(id)));
}

fn prefetch(c: &mut Criterion) {
    let path = common::ensure_file("cold.jdb", FILE_PAGES);
    let sets: Vec<Vec<u32>> = (0..SETS)
        .map(|s| common::distinct_random(RANDOM_SPAN, PREFETCH_PAGES, 100 + s))
        .collect();
    let flush_out: Vec<u32> = (RANDOM_SPAN..FILE_PAGES).collect();
    let rt = compio::runtime::Runtime::new().expect("runtime");
    let (reused, file) = rt.block_on(async {
        let pool = BufferPool::open(File::open(&path).await.expect("open"), PREFETCH_CAP)
            .await
            .expect("pool");
        (pool, File::open(&path).await.expect("open"))
    });

    let mut group = c.benchmark_group("groups");
    group
        .throughput(Throughput::Elements(PREFETCH_PAGES as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);

    let mut set = 0usize;
    group.bench_function(
        BenchmarkId::new("prefetch_10k", "jdb_prefetch_fresh_pool"),
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        let ids = &sets[set % sets.len()];
                        set += 1;
                        let file = File::open(&path).await.expect("open");
                        let pool = BufferPool::open(file, PREFETCH_CAP).await.expect("pool");
                        let start = Instant::now();
                        let n = pool.prefetch(ids).await.expect("prefetch");
                        timed += start.elapsed();
                        assert_eq!(n, PREFETCH_PAGES);
                    }
                    timed
                })
            })
        },
    );

    let mut set = 0usize;
    group.bench_function(
        BenchmarkId::new("prefetch_10k", "jdb_prefetch_reused_pool"),
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        let ids = &sets[set % sets.len()];
                        set += 1;
                        make_cold(&reused, &flush_out).await;
                        let start = Instant::now();
                        let n = reused.prefetch(ids).await.expect("prefetch");
                        timed += start.elapsed();
                        assert_eq!(n, PREFETCH_PAGES);
                    }
                    timed
                })
            })
        },
    );

    let all_runs: Vec<Vec<(u32, usize)>> = sets.iter().map(|s| runs_of(s)).collect();
    let mut set = 0usize;
    group.bench_function(BenchmarkId::new("prefetch_10k", "file_read_at_qd64"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let runs = &all_runs[set % all_runs.len()];
                    set += 1;
                    let n = read_runs_qd(&file, runs, PREFETCH_DEPTH).await;
                    assert_eq!(n, PREFETCH_PAGES);
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn config() -> Criterion {
    common::criterion().measurement_time(Duration::from_secs(3))
}

fn main() {
    let mut c = config();
    cold_scan(&mut c);
    prefetch(&mut c);
    c.final_summary();
}
