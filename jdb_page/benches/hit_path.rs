//! `hit_path`: what a `get` of a resident page costs, against the limit and two peers, on the same
//! seeded traces (Zipf θ = 0.99 and uniform over the `CAP` resident pages), each lookup reading 8
//! bytes of the page:
//!
//! - `jdb_get`: `BufferPool::get` (hash lookup, LRU touch, hit counter), driven inside one
//!   `Runtime::block_on` per sample: a hit never awaits, so this is the per-op cost;
//! - `hashmap_limit`: a bare `HashMap<u32, Box<[u8; 4096]>, FxBuildHasher>` lookup, no recency;
//! - `hashmap_aligned_limit`: the same with 4096-aligned boxes, as Direct I/O frames must be (the
//!   8 bytes read then sit at the same offset of 4 KiB-aligned blocks, as in the pool's arena,
//!   which crowds them into few cache sets; malloc's 4 KiB boxes are 16 bytes apart and do not);
//! - `lru_crate`: `lru::LruCache::get` (updates recency), Fx hasher;
//! - `schnellru`: `schnellru::LruMap::get` with a `ByLength` limiter, Fx hasher.
//!
//! All four use the same hasher, so the comparison is of the structures, not of hash functions.

mod common;

use std::{
    collections::HashMap,
    hint::black_box,
    num::NonZeroUsize,
    time::{Duration, Instant},
};

use criterion::{BenchmarkId, Criterion, Throughput};
use jdb_fs::File;
use jdb_page::BufferPool;
use rustc_hash::FxBuildHasher;

/// Frames in the pool, and pages every structure holds (64 MiB of pages).
const CAP: u32 = 16_384;
/// Trace length: 1 Mi ids, walked cyclically.
const TRACE_LEN: usize = 1 << 20;

type Frame = Box<[u8; 4096]>;

/// A page-aligned 4 KiB frame.
#[repr(C, align(4096))]
struct AlignedFrame([u8; 4096]);

/// The 8 payload bytes each lookup reads (the pool's `data()` starts after the 32-byte header;
/// the others read the same offset of their copy of the page).
fn read8(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

const HEADER: usize = 32;

fn hit_path(c: &mut Criterion) {
    let path = common::ensure_file("hit.jdb", CAP);
    let rt = compio::runtime::Runtime::new().expect("runtime");
    let pool = rt.block_on(async {
        let pool = BufferPool::open(File::open(&path).await.expect("open"), CAP as usize)
            .await
            .expect("pool");
        let ids: Vec<u32> = (0..CAP).collect();
        pool.prefetch(&ids).await.expect("prefetch");
        pool
    });
    assert_eq!(pool.len(), CAP as usize, "every page resident");

    // The same pages, copied into each peer.
    let page_bytes = |pool: &mut BufferPool, id: u32| -> Frame {
        let page = rt.block_on(pool.get(id)).expect("get");
        let mut frame: Frame = Box::new([0; 4096]);
        frame.copy_from_slice(page.as_bytes());
        frame
    };
    let mut bare: HashMap<u32, Frame, FxBuildHasher> =
        HashMap::with_capacity_and_hasher(CAP as usize, FxBuildHasher);
    let mut aligned: HashMap<u32, Box<AlignedFrame>, FxBuildHasher> =
        HashMap::with_capacity_and_hasher(CAP as usize, FxBuildHasher);
    let cap = NonZeroUsize::new(CAP as usize).expect("cap > 0");
    let mut lru_cache: lru::LruCache<u32, Frame, FxBuildHasher> =
        lru::LruCache::with_hasher(cap, FxBuildHasher);
    let mut schnell: schnellru::LruMap<u32, Frame, schnellru::ByLength, FxBuildHasher> =
        schnellru::LruMap::with_hasher(schnellru::ByLength::new(CAP), FxBuildHasher);
    for id in 0..CAP {
        let frame = page_bytes(&mut pool, id);
        bare.insert(id, frame.clone());
        aligned.insert(id, Box::new(AlignedFrame(*frame)));
        lru_cache.put(id, frame.clone());
        schnell.insert(id, frame);
    }
    pool.reset_stats();

    let traces = [
        ("zipf", common::zipf_trace(CAP, TRACE_LEN, 0.99, 1)),
        ("uniform", common::uniform_trace(CAP, TRACE_LEN, 2)),
    ];

    let mut group = c.benchmark_group("hit_path");
    group.throughput(Throughput::Elements(1));
    for (name, trace) in &traces {
        let mask = trace.len() - 1;

        let mut at = 0usize;
        group.bench_function(BenchmarkId::new("jdb_get", name), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    let mut sum = 0u64;
                    for _ in 0..iters {
                        let id = trace[at & mask];
                        at += 1;
                        let page = pool.get(id).await.expect("hit");
                        sum = sum.wrapping_add(read8(page.data()));
                    }
                    black_box(sum);
                    start.elapsed()
                })
            })
        });

        let mut at = 0usize;
        group.bench_function(BenchmarkId::new("hashmap_limit", name), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let mut sum = 0u64;
                for _ in 0..iters {
                    let id = trace[at & mask];
                    at += 1;
                    let frame = bare.get(&id).expect("resident");
                    sum = sum.wrapping_add(read8(&frame[HEADER..]));
                }
                black_box(sum);
                start.elapsed()
            })
        });

        let mut at = 0usize;
        group.bench_function(BenchmarkId::new("hashmap_aligned_limit", name), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let mut sum = 0u64;
                for _ in 0..iters {
                    let id = trace[at & mask];
                    at += 1;
                    let frame = aligned.get(&id).expect("resident");
                    sum = sum.wrapping_add(read8(&frame.0[HEADER..]));
                }
                black_box(sum);
                start.elapsed()
            })
        });

        let mut at = 0usize;
        group.bench_function(BenchmarkId::new("lru_crate", name), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let mut sum = 0u64;
                for _ in 0..iters {
                    let id = trace[at & mask];
                    at += 1;
                    let frame = lru_cache.get(&id).expect("resident");
                    sum = sum.wrapping_add(read8(&frame[HEADER..]));
                }
                black_box(sum);
                start.elapsed()
            })
        });

        let mut at = 0usize;
        group.bench_function(BenchmarkId::new("schnellru", name), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let mut sum = 0u64;
                for _ in 0..iters {
                    let id = trace[at & mask];
                    at += 1;
                    let frame = schnell.get(&id).expect("resident");
                    sum = sum.wrapping_add(read8(&frame[HEADER..]));
                }
                black_box(sum);
                start.elapsed()
            })
        });
    }
    group.finish();

    let stats = pool.stats();
    assert_eq!(stats.misses, 0, "the hit path must not miss: {stats:?}");
    assert_eq!(stats.read_ios, 0, "the hit path must not read: {stats:?}");
}

fn config() -> Criterion {
    common::criterion().measurement_time(Duration::from_secs(3))
}

fn main() {
    let mut c = config();
    hit_path(&mut c);
    c.final_summary();
}
