//! The jdb side of `bench/limits.sh`: one workload on one existing jdb file, time-bounded, printing
//! one JSON line `{"workload", "iops", "mib_s", "ios_per_s", "secs", ...}`.
//!
//! ```sh
//! cargo run --release -p jdb_page --example limits -- FILE WORKLOAD [--secs S] [--seed N]
//! ```
//!
//! Workloads (each matches one fio job on the same file):
//!
//! - `randread-qd1`: `get` of random pages through a 64-frame pool, so every `get` misses (a
//!   seeded permutation of the file's pages: no page repeats before all were read). iops = gets/s.
//! - `randread-qd32`: `prefetch` of 10 000 distinct random pages per call into a 16 384-frame pool
//!   (`PREFETCH_DEPTH` reads in flight; adjacent ids coalesce into one read). iops = pages read/s,
//!   `ios_per_s` = read requests/s.
//! - `seqread`: `get_group(first, 16)` walking the file in order with a 1 024-frame pool (cold).
//!   iops = groups (64 KiB) per second.
//! - `file-randread-qd1`, `file-seqread`: the same requests through `jdb_fs::File::read_at` alone
//!   (no pool), to tell the pool's cost from the file layer's.
//! - `file-randread-t32`: 32 tasks, each reading random pages with `File::read_at` in a loop (32
//!   reads in flight, as `jdb bench --workload randread --tasks 32` keeps them, without the pool).
//! - `seqwrite`: the file's pages (up to 65 536) held in a pool, all changed (untimed), then
//!   `flush_all` (timed; runs of 16 pages = 64 KiB, queue depth 1), repeated. The file is
//!   overwritten with valid pages. iops = write requests/s.

#[path = "../benches/common/mod.rs"]
mod common;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use jdb_fs::{File, PAGE_SIZE};
use jdb_page::{BufferPool, MAX_RUN};

const MIB: f64 = 1024.0 * 1024.0;

struct Args {
    path: PathBuf,
    workload: String,
    secs: f64,
    seed: u64,
}

/// What a workload did in the timed part.
struct Outcome {
    ops: u64,
    bytes: u64,
    ios: u64,
    elapsed: Duration,
}

fn parse() -> Option<Args> {
    let mut it = std::env::args().skip(1);
    let path = PathBuf::from(it.next()?);
    let workload = it.next()?;
    let (mut secs, mut seed) = (5.0, 1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--secs" => secs = it.next()?.parse().ok()?,
            "--seed" => seed = it.next()?.parse().ok()?,
            _ => return None,
        }
    }
    Some(Args {
        path,
        workload,
        secs,
        seed,
    })
}

fn main() -> ExitCode {
    let Some(args) = parse() else {
        eprintln!(
            "usage: limits FILE randread-qd1|randread-qd32|seqread|seqwrite [--secs S] [--seed N]"
        );
        return ExitCode::from(2);
    };
    let budget = Duration::from_secs_f64(args.secs);
    let run = common::block_on(async {
        match args.workload.as_str() {
            "randread-qd1" => randread_qd1(&args.path, budget, args.seed).await,
            "randread-qd32" => randread_prefetch(&args.path, budget, args.seed).await,
            "seqread" => seqread(&args.path, budget).await,
            "seqwrite" => seqwrite(&args.path, budget).await,
            "file-randread-qd1" => file_randread_qd1(&args.path, budget, args.seed).await,
            "file-seqread" => file_seqread(&args.path, budget).await,
            "file-randread-t32" => file_randread_tasks(&args.path, budget, args.seed, 32).await,
            other => Err(format!("unknown workload {other}").into()),
        }
    });
    match run {
        Ok(o) => {
            let secs = o.elapsed.as_secs_f64();
            println!(
                "{{\"workload\":\"{}\",\"iops\":{:.1},\"mib_s\":{:.2},\"ios_per_s\":{:.1},\"secs\":{:.3},\"ops\":{},\"bytes\":{}}}",
                args.workload,
                o.ops as f64 / secs,
                o.bytes as f64 / MIB / secs,
                o.ios as f64 / secs,
                secs,
                o.ops,
                o.bytes
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", args.path.display());
            ExitCode::FAILURE
        }
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

async fn randread_qd1(path: &Path, budget: Duration, seed: u64) -> Res<Outcome> {
    let pool = BufferPool::open(File::open(path).await?, 64).await?;
    let trace = common::distinct_random(pool.page_count(), pool.page_count() as usize, seed);
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < budget {
        for _ in 0..256 {
            let id = trace[ops as usize % trace.len()];
            std::hint::black_box(pool.get(id).await?.data()[0]);
            ops += 1;
        }
    }
    let elapsed = start.elapsed();
    let stats = pool.stats();
    Ok(Outcome {
        ops,
        bytes: stats.pages_read * PAGE_SIZE as u64,
        ios: stats.read_ios,
        elapsed,
    })
}

async fn randread_prefetch(path: &Path, budget: Duration, seed: u64) -> Res<Outcome> {
    const PAGES: usize = 10_000;
    let pool = BufferPool::open(File::open(path).await?, 16_384).await?;
    let n = pool.page_count();
    let mut elapsed = Duration::ZERO;
    let mut round = 0;
    while elapsed < budget {
        let ids = common::distinct_random(n, PAGES, seed.wrapping_add(round));
        round += 1;
        let start = Instant::now();
        pool.prefetch(&ids).await?;
        elapsed += start.elapsed();
    }
    let stats = pool.stats();
    Ok(Outcome {
        ops: stats.pages_read,
        bytes: stats.pages_read * PAGE_SIZE as u64,
        ios: stats.read_ios,
        elapsed,
    })
}

async fn seqread(path: &Path, budget: Duration) -> Res<Outcome> {
    const CAP: u32 = 1024;
    let pool = BufferPool::open(File::open(path).await?, CAP as usize).await?;
    // The first pass fills the free frames with the first `CAP` pages, and the scan's cold
    // insertion then keeps them (each later group evicts the group before it): later passes start
    // after them, so every group is a miss.
    let groups = u64::from(pool.page_count() / MAX_RUN as u32);
    let kept = u64::from(CAP / MAX_RUN as u32);
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < budget {
        for _ in 0..64 {
            let group = if ops < groups {
                ops
            } else {
                kept + (ops - groups) % (groups - kept)
            };
            let first = group as u32 * MAX_RUN as u32;
            let pages = pool.get_group(first, MAX_RUN).await?;
            std::hint::black_box(pages[0].data()[0]);
            ops += 1;
        }
    }
    let elapsed = start.elapsed();
    let stats = pool.stats();
    Ok(Outcome {
        ops,
        bytes: stats.pages_read * PAGE_SIZE as u64,
        ios: stats.read_ios,
        elapsed,
    })
}

async fn seqwrite(path: &Path, budget: Duration) -> Res<Outcome> {
    let file = File::open_rw(path).await?;
    let pages = file.page_count().await?.min(65_536);
    let pool = BufferPool::open(file, pages as usize).await?;
    let ids: Vec<u32> = (0..pages).collect();
    pool.prefetch(&ids).await?;
    pool.reset_stats();
    let mut elapsed = Duration::ZERO;
    while elapsed < budget {
        for id in 0..pages {
            pool.get(id).await?.data_mut()[8] ^= 1;
        }
        let start = Instant::now();
        pool.flush_all().await?;
        elapsed += start.elapsed();
    }
    let stats = pool.stats();
    pool.close().await?;
    Ok(Outcome {
        ops: stats.write_ios,
        bytes: stats.pages_written * PAGE_SIZE as u64,
        ios: stats.write_ios,
        elapsed,
    })
}

async fn file_randread_qd1(path: &Path, budget: Duration, seed: u64) -> Res<Outcome> {
    let file = File::open(path).await?;
    let n = file.page_count().await?;
    let trace = common::distinct_random(n, n as usize, seed);
    let mut buf = jdb_fs::AlignedBuf::with_cap(PAGE_SIZE)?;
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < budget {
        for _ in 0..256 {
            let id = trace[ops as usize % trace.len()];
            let (res, back) = file.read_at(buf, jdb_fs::page_offset(id)).await;
            res?;
            buf = back;
            std::hint::black_box(buf[0]);
            ops += 1;
        }
    }
    let elapsed = start.elapsed();
    Ok(Outcome {
        ops,
        bytes: ops * PAGE_SIZE as u64,
        ios: ops,
        elapsed,
    })
}

async fn file_randread_tasks(path: &Path, budget: Duration, seed: u64, tasks: u64) -> Res<Outcome> {
    let file = std::rc::Rc::new(File::open(path).await?);
    let n = file.page_count().await?;
    let start = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|t| {
            let file = std::rc::Rc::clone(&file);
            let trace = common::distinct_random(n, n as usize, seed.wrapping_add(t));
            compio::runtime::spawn(async move {
                let mut buf = jdb_fs::AlignedBuf::with_cap(PAGE_SIZE)?;
                let mut ops = 0u64;
                while start.elapsed() < budget {
                    let id = trace[ops as usize % trace.len()];
                    let (res, back) = file.read_at(buf, jdb_fs::page_offset(id)).await;
                    res?;
                    buf = back;
                    std::hint::black_box(buf[0]);
                    ops += 1;
                }
                Ok::<u64, jdb_fs::Error>(ops)
            })
        })
        .collect();
    let mut ops = 0;
    for worker in workers {
        ops += worker.await.map_err(|_| "a reader task panicked")??;
    }
    let elapsed = start.elapsed();
    Ok(Outcome {
        ops,
        bytes: ops * PAGE_SIZE as u64,
        ios: ops,
        elapsed,
    })
}

async fn file_seqread(path: &Path, budget: Duration) -> Res<Outcome> {
    let file = File::open(path).await?;
    let groups = u64::from(file.page_count().await? / MAX_RUN as u32);
    let mut buf = jdb_fs::AlignedBuf::with_cap(MAX_RUN * PAGE_SIZE)?;
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < budget {
        for _ in 0..64 {
            let first = (ops % groups) as u32 * MAX_RUN as u32;
            let (res, back) = file.read_at(buf, jdb_fs::page_offset(first)).await;
            res?;
            buf = back;
            std::hint::black_box(buf[0]);
            ops += 1;
        }
    }
    let elapsed = start.elapsed();
    Ok(Outcome {
        ops,
        bytes: ops * (MAX_RUN * PAGE_SIZE) as u64,
        ios: ops,
        elapsed,
    })
}
