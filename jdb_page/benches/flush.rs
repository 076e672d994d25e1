//! `flush`: `flush_all` of `PAGES` dirty contiguous pages (64 MiB), against raw sequential 64 KiB
//! writes of the same bytes to the same offsets of the same file.
//!
//! - `jdb_flush_all`: every page of a pool holding the whole file is changed (untimed), then
//!   `flush_all` is timed: it seals each page (CRC32C), copies runs of 16 pages into one buffer and
//!   writes them one request at a time (queue depth 1);
//! - `file_write_at_64k`: `jdb_fs::File::write_at` of 64 KiB buffers holding the file's sealed
//!   pages, in order, queue depth 1 (the limit).
//!
//! Both overwrite allocated blocks of the same file, which stays a valid jdb file. The baseline
//! writes through the pool's own `File` (`BufferPool::storage`): the pool holds the file's write
//! lock, so the file cannot be opened read-write a second time.

mod common;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use jdb_fs::{AlignedBuf, File, PAGE_SIZE};
use jdb_page::{BufferPool, MAX_RUN};

/// Dirty pages per flush: 16 384 = 64 MiB.
const PAGES: u32 = 16_384;
const RUN_BYTES: usize = MAX_RUN * PAGE_SIZE;

fn flush(c: &mut Criterion) {
    let path = common::ensure_file("flush.jdb", PAGES);
    let rt = compio::runtime::Runtime::new().expect("runtime");
    let (pool, file, mut image) = rt.block_on(async {
        let pool = BufferPool::open(File::open_rw(&path).await.expect("open"), PAGES as usize)
            .await
            .expect("pool");
        let ids: Vec<u32> = (0..PAGES).collect();
        pool.prefetch(&ids).await.expect("prefetch");
        // The pool holds the file's one write lock: the baseline writes through the pool's own
        // handle (a second read-write open would fail with `Locked`).
        let file = pool.storage().expect("open pool");
        let mut image = Vec::new();
        for first in (0..PAGES).step_by(MAX_RUN) {
            let buf = AlignedBuf::with_cap(RUN_BYTES).expect("buf");
            let (res, buf) = file.read_at(buf, jdb_fs::page_offset(first)).await;
            res.expect("read");
            image.push(Some(buf));
        }
        (pool, file, image)
    });
    assert_eq!(pool.len(), PAGES as usize);

    let mut group = c.benchmark_group("flush");
    group
        .throughput(Throughput::Bytes(u64::from(PAGES) * PAGE_SIZE as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);

    group.bench_function(BenchmarkId::new("jdb_flush_all", "64MiB"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    for id in 0..PAGES {
                        pool.get(id).await.expect("resident").data_mut()[8] ^= 1;
                    }
                    let start = Instant::now();
                    pool.flush_all().await.expect("flush_all");
                    timed += start.elapsed();
                }
                timed
            })
        })
    });

    group.bench_function(BenchmarkId::new("file_write_at_64k", "64MiB"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    for (k, slot) in image.iter_mut().enumerate() {
                        let buf = slot.take().expect("buf");
                        let offset = (k * RUN_BYTES) as u64;
                        let (res, buf) = file.write_at(buf, offset).await;
                        res.expect("write");
                        *slot = Some(buf);
                    }
                }
                start.elapsed()
            })
        })
    });
    group.finish();

    // Leave the file as the pool has it (sealed, valid) for the next run.
    rt.block_on(async {
        pool.close().await.expect("close");
    });
}

fn config() -> Criterion {
    common::criterion().measurement_time(Duration::from_secs(3))
}

fn main() {
    let mut c = config();
    flush(&mut c);
    c.final_summary();
}
