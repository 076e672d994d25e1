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
//!
//! And at 8 Ki frames, `hit_pinned_0pct` and `hit_pinned_99pct`: `hit` of the same frames (a
//! seeded uniform trace over the 1% of frames never pinned) with no other frame pinned, and with
//! the other 99% pinned and parked by an eviction. The case: a hit while 8,000 pinned
//! frames are parked at the LRU end. Their ratio should be about 1.

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

/// Frames of the `hit_pinned_*` rows, and how many of them are pinned in the 99% row.
const PINNED_ROW_FRAMES: u32 = 1 << 13;
const PINNED_ROW_PINNED: u32 = PINNED_ROW_FRAMES - PINNED_ROW_FRAMES / 100;

fn hit_with_pins<P: EvictionPolicy>(group: &mut BenchmarkGroup<'_, WallTime>) {
    let frames = PINNED_ROW_FRAMES;
    // Hits go to the frames never pinned, in both rows.
    let trace: Vec<u32> = common::uniform_trace(frames - PINNED_ROW_PINNED, TRACE_LEN, 5)
        .into_iter()
        .map(|f| PINNED_ROW_PINNED + f)
        .collect();
    let mask = TRACE_LEN - 1;
    for (label, pinned) in [
        ("hit_pinned_0pct", 0),
        ("hit_pinned_99pct", PINNED_ROW_PINNED),
    ] {
        let mut p = full::<P>(frames);
        for f in 0..pinned {
            p.pin(f);
        }
        // One eviction parks every pinned frame (they are the oldest); the victim comes back.
        let victim = p.evict().expect("unpinned frames are left");
        p.insert(victim, frames, false);
        let mut at = 0usize;
        group.bench_function(BenchmarkId::new(label, format!("{}_8Ki", P::NAME)), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    p.hit(trace[at & mask]);
                    at += 1;
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
    hit_with_pins::<LruPolicy>(&mut group);
    hit_with_pins::<ClockPolicy>(&mut group);
    hit_with_pins::<SievePolicy>(&mut group);
    hit_with_pins::<S3FifoPolicy>(&mut group);
    group.finish();
}

fn main() {
    let mut c = common::criterion();
    policy_ops(&mut c);
    c.final_summary();
}
