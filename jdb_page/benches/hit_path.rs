//! `hit_path` (issue #13): what a hit costs, `get` + guard drop and `read` + guard drop of a
//! resident page, for every eviction policy, against a bare hash lookup and two LRU crates, all
//! replaying the same repo trace over the same 3 000 resident pages and reading one byte of
//! each page. The rows and their setup are in `common/hits.rs` (shared with
//! `examples/hit_profile.rs`):
//!
//! - `get_<policy>`, `read_<policy>` (lru, clock, sieve, s3fifo): the pool (`PAGES` frames, all
//!   pages resident and asked for once before timing; the pool's async calls are driven inside
//!   one `Runtime::block_on` per sample: a hit never awaits);
//! - `tryget_<policy>`: `try_get` + guard drop, the same hit with no future, in a plain loop as
//!   the maps' rows are: what the hit itself costs, apart from awaiting it;
//! - `hashmap` (the limit), `hashmap_huge` (its pages in huge pages, as the pool's are),
//!   `hashmap_aligned`, `lru_crate`, `schnellru`: Fx-hashed maps;
//! - `hashmap_await`: the `hashmap` lookup awaited as a ready future (`std::future::ready`) in
//!   the same async loop as the pool's `get` rows: what awaiting a lookup costs the map itself
//!   (session 12: 1.16-1.19 x `hashmap`, as much as the pool's whole `get` of a SIEVE hit).
//!
//! One iteration is one pass over the trace (20 000 lookups); throughput is in lookups, so
//! criterion's time per element is the time per hit. Ratios: `python3 bench/criterion_table.py`.
//!
//! The pool rows are timed around `block_on`, not inside the async block: a clock read inside it
//! (`start.elapsed()` takes `&start`, a field of the async block's state) lets that state's
//! address escape, and the compiler then keeps the whole loop's state (the trace iterator, the
//! sum, each `get`'s future) in memory, about 8 more instructions a hit (session 10). The
//! sample's one `block_on` entry is in the time: under 0.1 % of a pass.

mod common;

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use common::hits::{self, Baselines};
use criterion::{BenchmarkId, Criterion, Throughput};
use jdb_page::PolicyKind;

fn hit_path(c: &mut Criterion) {
    let rt = compio::runtime::Runtime::new().expect("runtime");
    let disk = rt.block_on(hits::make_disk(hits::PAGES));
    let pools: Vec<_> = PolicyKind::ALL
        .into_iter()
        .map(|kind| (kind, rt.block_on(hits::resident_pool(&disk, kind))))
        .collect();
    let mut base = Baselines::new();

    let mut group = c.benchmark_group("hit_path");
    for name in hits::TRACES {
        let trace = hits::read_trace(name);
        group.throughput(Throughput::Elements(trace.len() as u64));
        for (kind, pool) in &pools {
            group.bench_function(BenchmarkId::new(format!("get_{kind}"), name), |b| {
                b.iter_custom(|iters| {
                    async_passes(&rt, iters, || hits::pool_get_pass(pool, &trace))
                })
            });
            group.bench_function(BenchmarkId::new(format!("read_{kind}"), name), |b| {
                b.iter_custom(|iters| {
                    async_passes(&rt, iters, || hits::pool_read_pass(pool, &trace))
                })
            });
            group.bench_function(BenchmarkId::new(format!("tryget_{kind}"), name), |b| {
                b.iter(|| hits::pool_try_get_pass(pool, &trace))
            });
        }
        group.bench_function(BenchmarkId::new("hashmap_await", name), |b| {
            b.iter_custom(|iters| {
                async_passes(&rt, iters, || {
                    hits::hashmap_await_pass(&base.hashmap, &trace)
                })
            })
        });
        group.bench_function(BenchmarkId::new("hashmap", name), |b| {
            b.iter(|| hits::hashmap_pass(&base.hashmap, &trace))
        });
        group.bench_function(BenchmarkId::new("hashmap_huge", name), |b| {
            b.iter(|| hits::huge_pass(&base.huge, &trace))
        });
        group.bench_function(BenchmarkId::new("hashmap_aligned", name), |b| {
            b.iter(|| hits::aligned_pass(&base.aligned, &trace))
        });
        group.bench_function(BenchmarkId::new("lru_crate", name), |b| {
            b.iter(|| hits::lru_pass(&mut base.lru, &trace))
        });
        group.bench_function(BenchmarkId::new("schnellru", name), |b| {
            b.iter(|| hits::schnellru_pass(&mut base.schnellru, &trace))
        });
    }
    group.finish();

    for (kind, pool) in pools {
        let stats = pool.stats();
        assert_eq!(
            stats.misses, 0,
            "{kind}: the hit path must not miss: {stats:?}"
        );
        assert_eq!(
            stats.read_ios, 0,
            "{kind}: the hit path must not read: {stats:?}"
        );
        rt.block_on(pool.close()).expect("close");
    }
}

/// The time of `iters` passes of the async `pass`, all driven inside one `block_on` (a pass
/// never waits), summed into one value kept from the optimiser. Timed around `block_on`, not
/// inside it (see the module docs).
#[inline(always)]
fn async_passes<P, F>(rt: &compio::runtime::Runtime, iters: u64, pass: P) -> Duration
where
    P: Fn() -> F,
    F: Future<Output = u64>,
{
    let start = Instant::now();
    let sum = rt.block_on(async {
        let mut sum = 0u64;
        for _ in 0..iters {
            sum = sum.wrapping_add(pass().await);
        }
        sum
    });
    let elapsed = start.elapsed();
    black_box(sum);
    elapsed
}

fn main() {
    let mut c = common::criterion();
    hit_path(&mut c);
    c.final_summary();
}
