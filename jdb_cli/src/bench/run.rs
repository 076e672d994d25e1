//! Running a trace against a page cache: the [`PageCache`] interface every system in a
//! comparison implements, jdb's own implementation, and the timed loop.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Context;
use hdrhistogram::Histogram;
use jdb_layout::PageId;
use jdb_page::{BufferPool, Stats};

use super::{
    load::{bump_counter, counter},
    progress_bar,
    report::{Counters, Latency, RunResult},
    workload::{Op, Trace, WorkloadSpec},
};

/// When a run stops: after `ops` operations or `duration`, whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Operation limit.
    pub ops: Option<u64>,
    /// Time limit.
    pub duration: Option<Duration>,
}

/// What a benchmarked system does for each operation. Every implementation does the same
/// work per operation: find the page (reading and verifying it when it is not cached), use
/// its write counter, and for a write change that counter (8 bytes).
#[allow(async_fn_in_trait)]
pub trait PageCache {
    /// Reads page `id`; returns its write counter.
    async fn read(&mut self, id: PageId) -> anyhow::Result<u64>;
    /// Reads page `id` and adds one to its write counter.
    async fn write(&mut self, id: PageId) -> anyhow::Result<()>;
    /// Reads pages `first..first + n`; returns the sum of their counters.
    async fn scan(&mut self, first: PageId, n: u32) -> anyhow::Result<u64>;
    /// Writes every change back and makes it durable (`fdatasync`).
    async fn finish(&mut self) -> anyhow::Result<()>;
    /// Counters since the cache was opened.
    fn counters(&self) -> Counters;
}

/// jdb's buffer pool as a [`PageCache`].
pub struct JdbCache {
    pool: BufferPool,
}

impl JdbCache {
    /// Opens a pool of `cap` frames over `path`. Also says whether the file got `O_DIRECT`.
    pub async fn open(path: &Path, cap: usize) -> anyhow::Result<(Self, bool)> {
        let file = super::open_existing(path).await?;
        let direct = file.is_direct();
        let pool = BufferPool::open(file, cap).await.with_context(|| {
            let mib = crate::output::mib(cap as u64 * jdb_fs::PAGE_SIZE as u64);
            format!("opening a buffer pool of {cap} pages ({mib:.0} MiB)")
        })?;
        Ok((Self { pool }, direct))
    }

    /// The pool, for the batched workloads that use it directly.
    pub fn pool(&self) -> &BufferPool {
        &self.pool
    }

    /// Syncs and closes the pool.
    pub async fn close(self) -> anyhow::Result<()> {
        self.pool.close().await?;
        Ok(())
    }
}

/// Reads the pages of one scan group with `get_group`: the missing pages with one request,
/// placed at the cold end of the LRU list so a scan does not push out the hot set. A pool
/// smaller than a group (`--cap` below 16) cannot hold one, so it reads page by page.
async fn scan_group(pool: &BufferPool, first: PageId, n: u32) -> jdb_page::Result<u64> {
    let mut sum = 0u64;
    if n as usize <= pool.cap() {
        for page in pool.read_group(first, n as usize).await? {
            sum = sum.wrapping_add(counter(page.as_bytes()));
        }
    } else {
        for id in first..first + n {
            sum = sum.wrapping_add(counter(pool.read(id).await?.as_bytes()));
        }
    }
    Ok(sum)
}

impl PageCache for JdbCache {
    async fn read(&mut self, id: PageId) -> anyhow::Result<u64> {
        Ok(counter(self.pool.read(id).await?.as_bytes()))
    }

    async fn write(&mut self, id: PageId) -> anyhow::Result<()> {
        // The payload ends where the page ends, so the counter is its last 8 bytes too.
        bump_counter(self.pool.get(id).await?.data_mut());
        Ok(())
    }

    async fn scan(&mut self, first: PageId, n: u32) -> anyhow::Result<u64> {
        Ok(scan_group(&self.pool, first, n).await?)
    }

    async fn finish(&mut self) -> anyhow::Result<()> {
        Ok(self.pool.sync().await?)
    }

    fn counters(&self) -> Counters {
        Counters::from(self.pool.stats())
    }
}

impl From<Stats> for Counters {
    fn from(s: Stats) -> Self {
        Self {
            hits: Some(s.hits),
            misses: Some(s.misses),
            read_ios: s.read_ios,
            write_ios: s.write_ios,
            pages_read: Some(s.pages_read),
            pages_written: Some(s.pages_written),
            evictions: Some(s.evictions),
            dirty_writebacks: Some(s.dirty_writebacks),
            checksum_failures: s.checksum_failures,
        }
    }
}

/// Runs `spec`'s trace on `cache` until `limits`, then `finish`es it (timed separately).
pub async fn run_trace<C: PageCache>(
    cache: &mut C,
    system: &'static str,
    description: String,
    spec: WorkloadSpec,
    limits: Limits,
) -> anyhow::Result<RunResult> {
    let mut trace = Trace::new(spec)?;
    // 1 ns to 1 hour, 3 significant digits.
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)?;
    let bar = match (limits.duration, limits.ops) {
        (Some(d), _) => progress_bar(system, d.as_millis().try_into().unwrap_or(u64::MAX)),
        (None, Some(ops)) => progress_bar(system, ops),
        (None, None) => progress_bar(system, 0),
    };
    let max_ops = limits.ops.unwrap_or(u64::MAX);
    let (mut ops, mut reads, mut writes, mut scans, mut page_requests) = (0u64, 0, 0, 0, 0);
    let mut checksum = 0u64;
    let start = Instant::now();
    let deadline = limits.duration.map(|d| start + d);
    while ops < max_ops {
        let op = trace.next_op();
        let began = Instant::now();
        match op {
            Op::Read(id) => {
                checksum = checksum.wrapping_add(cache.read(id).await?);
                reads += 1;
                page_requests += 1;
            }
            Op::Write(id) => {
                cache.write(id).await?;
                writes += 1;
                page_requests += 1;
            }
            Op::Scan { first, n } => {
                checksum = checksum.wrapping_add(cache.scan(first, n).await?);
                scans += 1;
                page_requests += u64::from(n);
            }
        }
        let ended = Instant::now();
        histogram.saturating_record(ended.duration_since(began).as_nanos() as u64);
        ops += 1;
        if ops.is_multiple_of(1024) {
            bar.set_position(match deadline {
                Some(_) => start.elapsed().as_millis() as u64,
                None => ops,
            });
        }
        if deadline.is_some_and(|d| ended >= d) {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(checksum);
    let during_run = cache.counters();
    bar.set_message("flush + sync");
    let flush_start = Instant::now();
    cache.finish().await?;
    let flush_secs = flush_start.elapsed().as_secs_f64();
    let after_flush = cache.counters();
    bar.finish_and_clear();
    Ok(RunResult::new(
        system,
        description,
        [ops, reads, writes, scans, page_requests],
        secs,
        during_run,
        after_flush,
        flush_secs,
        Latency::from_nanos(&histogram),
    ))
}
