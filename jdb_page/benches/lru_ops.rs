//! `lru_ops`: the pool's eviction list ([`jdb_page::LruList`]) on its own, at 1 Ki, 16 Ki and
//! 1 Mi frames, all frames in the list:
//!
//! - `touch_random`: `touch` of a frame from a seeded uniform trace (what every hit does);
//! - `victim_cycle`: `pop_back` then `push_front` of the same frame (what every miss does).
//!
//! Equal ns/op across sizes means O(1). `touch_random` at 1 Mi frames (8 MiB of links) also pays
//! cache misses that the smaller lists do not; `victim_cycle` only touches the two ends.

mod common;

use std::{hint::black_box, time::Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use jdb_page::LruList;

const TRACE_LEN: usize = 1 << 20;

fn full_list(frames: u32) -> LruList {
    let mut list = LruList::new(frames as usize);
    for frame in 0..frames {
        list.push_front(frame);
    }
    list
}

fn lru_ops(c: &mut Criterion) {
    let mut group = c.benchmark_group("lru_ops");
    group.throughput(Throughput::Elements(1));
    for (label, frames) in [("1Ki", 1u32 << 10), ("16Ki", 1 << 14), ("1Mi", 1 << 20)] {
        let trace = common::uniform_trace(frames, TRACE_LEN, 3);
        let mask = TRACE_LEN - 1;

        let mut list = full_list(frames);
        let mut at = 0usize;
        group.bench_function(BenchmarkId::new("touch_random", label), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    list.touch(trace[at & mask]);
                    at += 1;
                }
                start.elapsed()
            })
        });
        assert_eq!(list.len(), frames as usize);

        let mut list = full_list(frames);
        group.bench_function(BenchmarkId::new("victim_cycle", label), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let victim = list.pop_back().expect("full list");
                    list.push_front(black_box(victim));
                }
                start.elapsed()
            })
        });
        assert_eq!(list.len(), frames as usize);
    }
    group.finish();
}

fn main() {
    let mut c = common::criterion();
    lru_ops(&mut c);
    c.final_summary();
}
