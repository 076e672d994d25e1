//! Running operations against a page cache: the [`PageCache`] interface every system in a
//! comparison implements, jdb's own implementation, and the timed run of N concurrent tasks.
//!
//! The tasks of a run are spawned on the current runtime and share one cache (`Rc`) and one
//! source of operations: each takes the next operation when it is done with its last, so the
//! operations are the seeded trace's whatever the number of tasks; only their interleaving
//! differs. Every operation's latency (from when its task took it to when it finished, waits for
//! latches and other tasks' reads included) goes into one histogram.

use std::{
    cell::{Cell, RefCell},
    path::Path,
    rc::Rc,
    time::{Duration, Instant},
};

use anyhow::Context;
use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use jdb_layout::PageId;
use jdb_page::{BackgroundWriter, BackgroundWriterHandle, BufferPool, PoolOptions, Stats};

use super::{
    load::{bump_counter, counter},
    progress_bar,
    report::Counters,
    threads::StartLine,
    workload::{Op, Ops},
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
/// its write counter, and for a write change that counter (8 bytes). Methods take `&self`: the
/// tasks of a run share one cache.
#[allow(async_fn_in_trait)]
pub trait PageCache {
    /// Reads page `id`; returns its write counter.
    async fn read(&self, id: PageId) -> anyhow::Result<u64>;
    /// Reads page `id` and adds one to its write counter.
    async fn write(&self, id: PageId) -> anyhow::Result<()>;
    /// Reads pages `first..first + n`; returns the sum of their counters.
    async fn scan(&self, first: PageId, n: u32) -> anyhow::Result<u64>;
    /// Writes every change back and makes it durable (`fdatasync`). No task runs any more.
    async fn finish(&self) -> anyhow::Result<()>;
    /// Counters since the cache was opened.
    fn counters(&self) -> Counters;
    /// Whether a request for page `id` made now would miss (`None`: the system cannot tell, as
    /// the OS page cache). Asked just before each request, with no `.await` in between.
    fn would_miss(&self, _id: PageId) -> Option<bool> {
        None
    }
}

/// How jdb's pool is opened and run, beyond its [`PoolOptions`].
#[derive(Debug, Clone, Copy, Default)]
pub struct JdbSetup {
    /// Open the pool with a doublewrite area `PATH.dw` (`--doublewrite`).
    pub doublewrite: bool,
    /// Run the background writer, `BackgroundWriter::for_cap(cap)` (`--bgwriter`).
    pub bgwriter: bool,
    /// Open the pool with `PoolOptions::huge_pages(false)` (`--no-huge-pages`).
    pub no_huge_pages: bool,
}

/// The doublewrite area of the data file at `path`: `PATH.dw`.
pub fn doublewrite_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".dw");
    name.into()
}

/// jdb's buffer pool as a [`PageCache`].
pub struct JdbCache {
    pool: Rc<BufferPool>,
    bgwriter: RefCell<Option<BackgroundWriterHandle>>,
}

impl JdbCache {
    /// Opens a pool over `path` as `options` and `setup` say (the doublewrite area `PATH.dw` is
    /// created if missing; the background writer starts at once). Also says whether the file got
    /// `O_DIRECT`.
    pub async fn open(
        path: &Path,
        options: PoolOptions,
        setup: JdbSetup,
    ) -> anyhow::Result<(Self, bool)> {
        let options = options.huge_pages(!setup.no_huge_pages);
        let file = super::open_existing(path).await?;
        let direct = file.is_direct();
        let describe = || {
            let cap = options.cap;
            let mib = crate::output::mib(cap as u64 * jdb_fs::PAGE_SIZE as u64);
            format!("opening a buffer pool of {cap} pages ({mib:.0} MiB)")
        };
        let pool = if setup.doublewrite {
            let area_path = doublewrite_path(path);
            let area = jdb_fs::File::options()
                .read(true)
                .write(true)
                .create(true)
                .direct(jdb_fs::Direct::Auto)
                .open(&area_path)
                .await
                .with_context(|| format!("opening the doublewrite area {}", area_path.display()))?;
            BufferPool::open_with_doublewrite(file, area, options)
                .await
                .with_context(describe)?
        } else {
            BufferPool::open_with(file, options)
                .await
                .with_context(describe)?
        };
        let pool = Rc::new(pool);
        let bgwriter = setup
            .bgwriter
            .then(|| pool.start_background_writer(BackgroundWriter::for_cap(options.cap)));
        Ok((
            Self {
                pool,
                bgwriter: RefCell::new(bgwriter),
            },
            direct,
        ))
    }

    /// The pool, for the batched workloads that use it directly (from tasks of their own).
    pub fn pool(&self) -> Rc<BufferPool> {
        Rc::clone(&self.pool)
    }

    /// Stops the background writer, if any, then syncs and closes the pool.
    pub async fn close(&self) -> anyhow::Result<()> {
        let bgwriter = self.bgwriter.borrow_mut().take();
        if let Some(bgwriter) = bgwriter {
            bgwriter.stop().await;
        }
        self.pool.close().await?;
        Ok(())
    }
}

/// Reads the pages of one scan group with `read_group`: the missing pages with one request,
/// placed at the cold end of the eviction order so a scan does not push out the hot set. A pool
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
    async fn read(&self, id: PageId) -> anyhow::Result<u64> {
        Ok(counter(self.pool.read(id).await?.as_bytes()))
    }

    async fn write(&self, id: PageId) -> anyhow::Result<()> {
        // The payload ends where the page ends, so the counter is its last 8 bytes too.
        bump_counter(self.pool.get(id).await?.data_mut());
        Ok(())
    }

    async fn scan(&self, first: PageId, n: u32) -> anyhow::Result<u64> {
        Ok(scan_group(&self.pool, first, n).await?)
    }

    async fn finish(&self) -> anyhow::Result<()> {
        Ok(self.pool.sync().await?)
    }

    fn counters(&self) -> Counters {
        Counters::from(self.pool.stats())
    }

    fn would_miss(&self, id: PageId) -> Option<bool> {
        Some(!self.pool.is_cached(id))
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
            shared_reads: Some(s.shared_reads),
            writeback_waits: Some(s.writeback_waits),
            bg_pages_written: Some(s.bg_pages_written),
            bg_rounds: Some(s.bg_rounds),
            device: None,
        }
    }
}

/// Operations of each kind in a run.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// All operations.
    pub ops: u64,
    /// Point reads.
    pub reads: u64,
    /// Point writes.
    pub writes: u64,
    /// Scan groups.
    pub scans: u64,
    /// Pages asked for (a scan asks for each page of its group).
    pub page_requests: u64,
}

impl Counts {
    /// `[ops, reads, writes, scans, page_requests]`.
    pub fn array(&self) -> [u64; 5] {
        [
            self.ops,
            self.reads,
            self.writes,
            self.scans,
            self.page_requests,
        ]
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &Counts) {
        self.ops += other.ops;
        self.reads += other.reads;
        self.writes += other.writes;
        self.scans += other.scans;
        self.page_requests += other.page_requests;
    }
}

/// What one thread's run of one system measured, before the threads are added up.
pub struct ShardRun {
    /// Operations done.
    pub counts: Counts,
    /// Length of the timed part.
    pub secs: f64,
    /// Latency of each operation, nanoseconds.
    pub histogram: Histogram<u64>,
    /// Latency of the operations that missed (a page not in memory when the operation began),
    /// nanoseconds; `None` for a system that cannot tell.
    pub miss_histogram: Option<Histogram<u64>>,
    /// Counters at the end of the timed part.
    pub during_run: Counters,
    /// Counters after the final flush + fdatasync.
    pub after_flush: Counters,
    /// How long the final flush + fdatasync took.
    pub flush_secs: f64,
    /// Tasks that ran the operations.
    pub tasks: u32,
}

/// A latency histogram: 1 ns to 1 hour, 3 significant digits.
pub fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 3_600_000_000_000, 3)?)
}

/// What the tasks of one run share: where operations come from, when to stop, what was done.
struct Feed {
    ops: RefCell<Ops>,
    max_ops: u64,
    taken: Cell<u64>,
    start: Instant,
    deadline: Option<Instant>,
    stop: Cell<bool>,
    counts: Cell<Counts>,
    checksum: Cell<u64>,
    histogram: RefCell<Histogram<u64>>,
    miss_histogram: RefCell<Histogram<u64>>,
    /// Whether the system said, for every operation, whether it missed.
    knows_misses: Cell<bool>,
    bar: ProgressBar,
}

impl Feed {
    /// A feed of `ops` that stops after `max_ops` operations or `duration` from now.
    fn new(
        ops: Ops,
        max_ops: Option<u64>,
        duration: Option<Duration>,
        bar: ProgressBar,
    ) -> anyhow::Result<Rc<Self>> {
        let start = Instant::now();
        Ok(Rc::new(Self {
            ops: RefCell::new(ops),
            max_ops: max_ops.unwrap_or(u64::MAX),
            taken: Cell::new(0),
            start,
            deadline: duration.map(|d| start + d),
            stop: Cell::new(false),
            counts: Cell::new(Counts::default()),
            checksum: Cell::new(0),
            histogram: RefCell::new(new_histogram()?),
            miss_histogram: RefCell::new(new_histogram()?),
            knows_misses: Cell::new(true),
            bar,
        }))
    }

    /// The next operation, or `None` when the run is over.
    fn next(&self) -> Option<Op> {
        if self.stop.get() || self.taken.get() >= self.max_ops {
            return None;
        }
        let op = self.ops.borrow_mut().next_op()?;
        let taken = self.taken.get() + 1;
        self.taken.set(taken);
        if taken.is_multiple_of(1024) {
            self.bar.set_position(match self.deadline {
                Some(_) => self.start.elapsed().as_millis() as u64,
                None => taken,
            });
        }
        Some(op)
    }

    /// Records a finished operation that took from `began` to `ended`; `missed`: whether a page
    /// it asked for was not in memory when it began (`None`: unknown).
    fn done(&self, op: Op, began: Instant, ended: Instant, checksum: u64, missed: Option<bool>) {
        let mut counts = self.counts.get();
        counts.ops += 1;
        match op {
            Op::Read(_) => {
                counts.reads += 1;
                counts.page_requests += 1;
            }
            Op::Write(_) => {
                counts.writes += 1;
                counts.page_requests += 1;
            }
            Op::Scan { n, .. } => {
                counts.scans += 1;
                counts.page_requests += u64::from(n);
            }
        }
        self.counts.set(counts);
        self.checksum
            .set(self.checksum.get().wrapping_add(checksum));
        let nanos = ended.duration_since(began).as_nanos() as u64;
        self.histogram.borrow_mut().saturating_record(nanos);
        match missed {
            Some(true) => self.miss_histogram.borrow_mut().saturating_record(nanos),
            Some(false) => {}
            None => self.knows_misses.set(false),
        }
        if self.deadline.is_some_and(|d| ended >= d) {
            self.stop.set(true);
        }
    }
}

/// One task: takes operations until the run is over. An error stops the other tasks too.
async fn worker<C: PageCache>(cache: Rc<C>, feed: Rc<Feed>) -> anyhow::Result<()> {
    while let Some(op) = feed.next() {
        let began = Instant::now();
        let missed = match op {
            Op::Read(id) | Op::Write(id) => cache.would_miss(id),
            Op::Scan { first, n } => (first..first + n)
                .map(|id| cache.would_miss(id))
                .try_fold(false, |any, m| Some(any || m?)),
        };
        let result = match op {
            Op::Read(id) => cache.read(id).await,
            Op::Write(id) => cache.write(id).await.map(|()| 0),
            Op::Scan { first, n } => cache.scan(first, n).await,
        };
        match result {
            Ok(checksum) => feed.done(op, began, Instant::now(), checksum, missed),
            Err(e) => {
                feed.stop.set(true);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// How to run the tasks of one system's run.
#[derive(Clone, Copy)]
pub struct TaskRun<'a> {
    /// `jdb`, `lru` or `os` (the progress bar's name).
    pub system: &'static str,
    /// When the timed part stops (a replay also stops at its end).
    pub limits: Limits,
    /// Concurrent tasks.
    pub tasks: u32,
    /// Pages `0..warm` to read first, untimed and not counted (0: none).
    pub warm: u32,
    /// With several threads: begin the timed part when every thread is ready.
    pub start: Option<&'a StartLine>,
}

/// Spawns `tasks` workers on `feed` and waits for all; the first error, if any.
async fn run_workers<C: PageCache + 'static>(
    cache: &Rc<C>,
    feed: &Rc<Feed>,
    run: &TaskRun<'_>,
) -> anyhow::Result<()> {
    let handles: Vec<_> = (0..run.tasks)
        .map(|_| compio::runtime::spawn(worker(Rc::clone(cache), Rc::clone(feed))))
        .collect();
    let mut first_error = None;
    for handle in handles {
        let result = match handle.await {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!("a {} bench task panicked", run.system)),
        };
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Runs `ops` on `cache` with `run.tasks` concurrent tasks until `run.limits` (or the end of a
/// replay), then `finish`es it (timed separately). A warm-up, if any, comes first and is neither
/// timed nor counted.
pub async fn run_tasks<C: PageCache + 'static>(
    cache: Rc<C>,
    ops: Ops,
    run: TaskRun<'_>,
) -> anyhow::Result<ShardRun> {
    let limits = run.limits;
    let before = if run.warm > 0 {
        let ids = Ops::Replay {
            ids: (0..run.warm).collect(),
            next: 0,
        };
        let feed = Feed::new(ids, None, None, ProgressBar::hidden())?;
        run_workers(&cache, &feed, &run).await?;
        Some(cache.counters())
    } else {
        None
    };
    let bar = match (limits.duration, limits.ops) {
        (Some(d), _) => progress_bar(run.system, d.as_millis().try_into().unwrap_or(u64::MAX)),
        (None, Some(ops)) => progress_bar(run.system, ops),
        (None, None) => progress_bar(run.system, 0),
    };
    if let Some(start) = run.start {
        start.wait()?;
    }
    let feed = Feed::new(ops, limits.ops, limits.duration, bar.clone())?;
    let began = feed.start;
    let result = run_workers(&cache, &feed, &run).await;
    let secs = began.elapsed().as_secs_f64();
    if let Err(e) = result {
        bar.finish_and_clear();
        return Err(e);
    }
    std::hint::black_box(feed.checksum.get());
    let during_run = cache.counters().since(before);
    bar.set_message("flush + sync");
    let flush_start = Instant::now();
    cache.finish().await?;
    let flush_secs = flush_start.elapsed().as_secs_f64();
    let after_flush = cache.counters().since(before);
    bar.finish_and_clear();
    let histogram = feed.histogram.replace(new_histogram()?);
    let miss_histogram = feed.miss_histogram.replace(new_histogram()?);
    Ok(ShardRun {
        counts: feed.counts.get(),
        secs,
        histogram,
        miss_histogram: feed.knows_misses.get().then_some(miss_histogram),
        during_run,
        after_flush,
        flush_secs,
        tasks: run.tasks,
    })
}
