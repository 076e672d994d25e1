//! `policy_ops`: each eviction policy of `src/policy/` on its own (through the hidden
//! `jdb_page::testing` wrappers, one direct call per operation), at 1 Ki, 16 Ki and 1 Mi frames,
//! every frame in the policy and none pinned:
//!
//! - `hit`: `hit` of a frame from a seeded uniform trace (what every hit of the pool does);
//! - `pin_unpin`: `pin` then `unpin` of a frame from the same trace (what every guard does: the
//!   pool pins a frame while a guard holds it);
//! - `evict_insert`: `evict` then `insert` of the victim for a page never seen before (what every
//!   miss does; S3-FIFO's ghost then fills up and trims, as in a long scan of new pages).
//!
//! Equal ns/op across sizes means O(1). At 1 Mi frames the links (8 MiB) no longer fit in the
//! caches, so random operations also wait for memory; `evict_insert` mostly touches the ends.

mod common;

use std::{hint::black_box, time::Instant};

use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime};
use jdb_page::testing::{ClockPolicy, EvictionPolicy, LruPolicy, S3FifoPolicy, SievePolicy};

const TRACE_LEN: usize = 1 << 20;
const SIZES: [(&str, u32); 3] = [("1Ki", 1 << 10), ("16Ki", 1 << 14), ("1Mi", 1 << 20)];

/// A policy holding frames `0..frames` (frame `f` holds page `f`), none pinned.
fn full<P: EvictionPolicy>(frames: u32) -> P {
    let mut p = P::new(frames as usize);
    for f in 0..frames {
        p.insert(f, f, false);
    }
    p
}

fn ops<P: EvictionPolicy>(group: &mut BenchmarkGroup<'_, WallTime>) {
    for (label, frames) in SIZES {
        let trace = common::uniform_trace(frames, TRACE_LEN, 3);
        let mask = TRACE_LEN - 1;
        let param = format!("{}_{label}", P::NAME);

        let mut p = full::<P>(frames);
        let mut at = 0usize;
        group.bench_function(BenchmarkId::new("hit", &param), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    p.hit(trace[at & mask]);
                    at += 1;
                }
                start.elapsed()
            })
        });

        let mut p = full::<P>(frames);
        let mut at = 0usize;
        group.bench_function(BenchmarkId::new("pin_unpin", &param), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let f = trace[at & mask];
                    at += 1;
                    p.pin(f);
                    p.unpin(f);
                }
                start.elapsed()
            })
        });

        let mut p = full::<P>(frames);
        let mut next_page = frames;
        group.bench_function(BenchmarkId::new("evict_insert", &param), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let victim = p.evict().expect("nothing is pinned");
                    p.insert(black_box(victim), next_page, false);
                    next_page = next_page.wrapping_add(1) % (u32::MAX - 1);
                }
                start.elapsed()
            })
        });
        black_box(&p);
    }
}

fn policy_ops(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy_ops");
    group.throughput(Throughput::Elements(1));
    ops::<LruPolicy>(&mut group);
    ops::<ClockPolicy>(&mut group);
    ops::<SievePolicy>(&mut group);
    ops::<S3FifoPolicy>(&mut group);
    group.finish();
}

fn main() {
    let mut c = common::criterion();
    policy_ops(&mut c);
    c.final_summary();
}
