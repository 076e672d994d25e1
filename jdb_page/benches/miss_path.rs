//! `miss_path`: `get` of pages not in memory at queue depth 1, against the device through our
//! file layer, at the same offsets of the same file.
//!
//! The file has `FILE_PAGES` pages (256 MiB), the pool `CAP` frames; the trace is a seeded random
//! permutation of all pages, walked cyclically, so a page comes back only after every other page
//! was read: every `get` misses (checked). Each miss evicts a clean victim, reads one page
//! (`O_DIRECT`, io_uring), verifies its CRC32C and installs it.
//!
//! - `jdb_get`: `BufferPool::get`;
//! - `file_read_at`: `jdb_fs::File::read_at` of 4 KiB into one reused `AlignedBuf` (the limit).
//!
//! Throughput is in elements: requests per second = IOPS.

mod common;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use jdb_fs::{AlignedBuf, File, PAGE_SIZE};
use jdb_page::BufferPool;

/// Pages in the cold file: 65 536 = 256 MiB.
pub const FILE_PAGES: u32 = 65_536;
/// Frames in the pool: 1 024 = 4 MiB, 1/64 of the file.
const CAP: usize = 1024;

fn miss_path(c: &mut Criterion) {
    let path = common::ensure_file("cold.jdb", FILE_PAGES);
    let trace = common::distinct_random(FILE_PAGES, FILE_PAGES as usize, 4);
    let rt = compio::runtime::Runtime::new().expect("runtime");
    let (pool, file) = rt.block_on(async {
        let pool = BufferPool::open(File::open(&path).await.expect("open"), CAP)
            .await
            .expect("pool");
        (pool, File::open(&path).await.expect("open"))
    });
    let mut buf = Some(AlignedBuf::with_cap(PAGE_SIZE).expect("buf"));

    let mut group = c.benchmark_group("miss_path");
    group
        .throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);

    let mut at = 0usize;
    group.bench_function(BenchmarkId::new("jdb_get", "qd1"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let id = trace[at % trace.len()];
                    at += 1;
                    let page = pool.get(id).await.expect("get");
                    std::hint::black_box(page.data()[0]);
                }
                start.elapsed()
            })
        })
    });

    let mut at = 0usize;
    group.bench_function(BenchmarkId::new("file_read_at", "qd1"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let id = trace[at % trace.len()];
                    at += 1;
                    let (res, back) = file
                        .read_at(buf.take().expect("buf"), jdb_fs::page_offset(id))
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
    assert_eq!(stats.hits, 0, "every get must miss: {stats:?}");
}

fn config() -> Criterion {
    common::criterion().measurement_time(Duration::from_secs(3))
}

fn main() {
    let mut c = config();
    miss_path(&mut c);
    c.final_summary();
}
