//! `hit_path_16k`: the hit path on the setup issue #12 measured its "today's `get`" on (1.63 × the
//! bare map on Zipf, 2.16 × on uniform, before the shared pool): 16,384 resident pages (64 MiB),
//! seeded traces of 1 Mi ids (Zipf θ = 0.99 and uniform over the pages, `common::zipf_trace` /
//! `uniform_trace` with seeds 1 and 2), each lookup reading 8 payload bytes, one
//! `Runtime::block_on` per sample. Row and group names are the old bench's, so its binary (built
//! from the commit before the shared pool) and this one can run side by side in one session:
//!
//! ```sh
//! git worktree add /tmp/old 1556fa0 && (cd /tmp/old && CARGO_TARGET_DIR=/tmp/old-target \
//!     cargo bench -p jdb_page --bench hit_path -- 'jdb_get|hashmap_limit')
//! cargo bench -p jdb_page --bench hit_path_16k
//! ```
//!
//! - `jdb_get`: `get` + guard drop with exact LRU (the default, as before); `jdb_get_sieve`: with
//!   SIEVE;
//! - `hashmap_huge_limit` (not an old row): the bare map with its pages in one huge-page region
//!   at the pool's spacing, as the pool's frames are;
//! - `hashmap_limit`, `hashmap_aligned_limit`, `lru_crate`, `schnellru`: the old bench's rows,
//!   line for line (Fx hasher everywhere, over copies of the pool's pages, 8 bytes read), not
//!   `common::hits`' baselines (3,000 pages filled with `id as u8`, one byte read): the two
//!   binaries must run the same map code for their ratios to compare.

mod common;

use std::{
    collections::HashMap,
    hint::black_box,
    num::NonZeroUsize,
    time::{Duration, Instant},
};

use criterion::{BenchmarkId, Criterion, Throughput};
use jdb_fs::File;
use jdb_page::{BufferPool, PolicyKind, PoolOptions};
use rustc_hash::FxBuildHasher;

/// Frames in each pool, and pages every structure holds (64 MiB of pages).
const CAP: u32 = 16_384;
/// Trace length: 1 Mi ids, walked cyclically.
const TRACE_LEN: usize = 1 << 20;
/// The page header the payload follows.
const HEADER: usize = 32;

type Frame = Box<[u8; 4096]>;

/// A page-aligned 4 KiB frame.
#[repr(C, align(4096))]
struct AlignedFrame([u8; 4096]);

/// Bytes between the pages of `hashmap_huge_limit` (the pool's frame stride).
const HUGE_STRIDE: usize = 4104;

/// The 8 payload bytes each lookup reads.
fn read8(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

/// A pool of `CAP` frames over `path` with every page resident.
async fn resident(path: &std::path::Path, policy: PolicyKind) -> BufferPool {
    let pool = BufferPool::open_with(
        File::open(path).await.expect("open"),
        PoolOptions::new(CAP as usize).policy(policy),
    )
    .await
    .expect("pool");
    let ids: Vec<u32> = (0..CAP).collect();
    pool.prefetch(&ids).await.expect("prefetch");
    pool.reset_stats();
    pool
}

fn hit_path_16k(c: &mut Criterion) {
    let path = common::ensure_file("hit.jdb", CAP);
    let rt = compio::runtime::Runtime::new().expect("runtime");
    let pools = [
        ("jdb_get", rt.block_on(resident(&path, PolicyKind::Lru))),
        (
            "jdb_get_sieve",
            rt.block_on(resident(&path, PolicyKind::Sieve)),
        ),
    ];

    // The same pages, copied into each peer.
    let mut bare: HashMap<u32, Frame, FxBuildHasher> =
        HashMap::with_capacity_and_hasher(CAP as usize, FxBuildHasher);
    let mut aligned: HashMap<u32, Box<AlignedFrame>, FxBuildHasher> =
        HashMap::with_capacity_and_hasher(CAP as usize, FxBuildHasher);
    let cap = NonZeroUsize::new(CAP as usize).expect("cap > 0");
    let mut lru_cache: lru::LruCache<u32, Frame, FxBuildHasher> =
        lru::LruCache::with_hasher(cap, FxBuildHasher);
    let mut schnell: schnellru::LruMap<u32, Frame, schnellru::ByLength, FxBuildHasher> =
        schnellru::LruMap::with_hasher(schnellru::ByLength::new(CAP), FxBuildHasher);
    // `hashmap_huge_limit`: the bare map over copies in one huge-page region at the pool's
    // frame spacing (what huge pages give a map; not a row of the old bench).
    let region = jdb_alloc::MappedRegion::zeroed(CAP as usize * HUGE_STRIDE, true).expect("region");
    let mut huge: HashMap<u32, usize, FxBuildHasher> =
        HashMap::with_capacity_and_hasher(CAP as usize, FxBuildHasher);
    for id in 0..CAP {
        let mut frame: Frame = Box::new([0; 4096]);
        frame.copy_from_slice(rt.block_on(pools[0].1.read(id)).expect("read").as_bytes());
        bare.insert(id, frame.clone());
        let at = id as usize * HUGE_STRIDE;
        // SAFETY: `at + 4096 <= CAP × HUGE_STRIDE <= len`: inside the region, which outlives
        // every use below; only this loop writes it.
        unsafe {
            std::ptr::copy_nonoverlapping(frame.as_ptr(), region.as_ptr().as_ptr().add(at), 4096);
        }
        huge.insert(id, at);
        aligned.insert(id, Box::new(AlignedFrame(*frame)));
        lru_cache.put(id, frame.clone());
        schnell.insert(id, frame);
    }
    for (_, pool) in &pools {
        pool.reset_stats();
    }

    let traces = [
        ("zipf", common::zipf_trace(CAP, TRACE_LEN, 0.99, 1)),
        ("uniform", common::uniform_trace(CAP, TRACE_LEN, 2)),
    ];
    let mut group = c.benchmark_group("hit_path");
    group.throughput(Throughput::Elements(1));
    for (name, trace) in &traces {
        let mask = trace.len() - 1;
        for (row, pool) in &pools {
            let mut at = 0usize;
            group.bench_function(BenchmarkId::new(*row, name), |b| {
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
        }
        // The peers: each a lookup of `id` giving the page's bytes.
        let mut peer = |row: &str, lookup: &mut dyn FnMut(u32) -> u64| {
            let mut at = 0usize;
            group.bench_function(BenchmarkId::new(row, name), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    let mut sum = 0u64;
                    for _ in 0..iters {
                        let id = trace[at & mask];
                        at += 1;
                        sum = sum.wrapping_add(lookup(id));
                    }
                    black_box(sum);
                    start.elapsed()
                })
            });
        };
        peer("hashmap_limit", &mut |id| {
            read8(&bare.get(&id).expect("resident")[HEADER..])
        });
        let huge_base = region.as_ptr().as_ptr();
        peer("hashmap_huge_limit", &mut |id| {
            let at = *huge.get(&id).expect("resident");
            // SAFETY: `at` is the offset of a page written above, inside the live region.
            let page = unsafe { std::slice::from_raw_parts(huge_base.add(at), 4096) };
            read8(&page[HEADER..])
        });
        peer("hashmap_aligned_limit", &mut |id| {
            read8(&aligned.get(&id).expect("resident").0[HEADER..])
        });
        peer("lru_crate", &mut |id| {
            read8(&lru_cache.get(&id).expect("resident")[HEADER..])
        });
        peer("schnellru", &mut |id| {
            read8(&schnell.get(&id).expect("resident")[HEADER..])
        });
    }
    group.finish();

    for (row, pool) in &pools {
        let stats = pool.stats();
        assert_eq!(
            stats.misses, 0,
            "{row}: the hit path must not miss: {stats:?}"
        );
        assert_eq!(
            stats.read_ios, 0,
            "{row}: the hit path must not read: {stats:?}"
        );
    }
}

fn config() -> Criterion {
    common::criterion().measurement_time(Duration::from_secs(3))
}

fn main() {
    let mut c = config();
    hit_path_16k(&mut c);
    c.final_summary();
}
