//! The batched workloads, run on jdb's pool alone: each operation is many pages handled by one
//! call, the way a storage engine reads ahead or checkpoints, and only that call is timed.
//!
//! - prefetch: [`BufferPool::prefetch`] of `batch` distinct random pages, none of them in the
//!   pool, so every one is read (coalesced into runs, many reads in flight). Choosing them is
//!   untimed; evicting the clean pages they replace is part of the call and timed. With
//!   `--tasks N`, N tasks share the pool, each prefetching batches of its own (its own seed);
//!   a page is in one task's batch at a time, so every page of every batch is still read.
//! - seqwrite: the next `window` contiguous pages (wrapping around the file) are brought in and
//!   dirtied, untimed; [`BufferPool::flush_all`] then writes them in runs of 16 pages, timed. A
//!   page's change is its write counter (payload bytes), and the pool re-seals each page as it
//!   writes it, so the file stays a valid bench file. One task: a second would only flush the
//!   first one's pages.
//!
//! Throughput is `pages_per_sec`: all tasks' pages over the longest task's timed time (about
//! the sum of the tasks' rates, as their timed calls overlap); latency is per operation (one
//! whole batch).

use std::{
    cell::{Cell, RefCell},
    collections::HashSet,
    rc::Rc,
    time::Instant,
};

use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use jdb_layout::PageId;
use jdb_page::{BufferPool, Stats};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::{
    args::WorkloadKind,
    load::bump_counter,
    progress_bar,
    report::Counters,
    run::{Counts, Limits, ShardRun, new_histogram},
    threads::StartLine,
    workload::WorkloadSpec,
};

/// What the tasks of one batched run share.
struct Shared {
    spec: WorkloadSpec,
    max_ops: u64,
    /// The time limit, nanoseconds of a task's timed calls.
    max_nanos: Option<u128>,
    /// Operations begun, by all tasks.
    taken: Cell<u64>,
    /// Set by a task that failed: the others stop.
    stop: Cell<bool>,
    /// Pages in the batches being prefetched now: a page is in one task's batch at a time.
    claimed: RefCell<HashSet<PageId>>,
    histogram: RefCell<Histogram<u64>>,
    page_requests: Cell<u64>,
    /// The pool's counters over the timed calls (seqwrite; prefetch measures the whole run).
    timed: RefCell<Stats>,
    /// The longest task's timed time so far, nanoseconds.
    longest: Cell<u128>,
    bar: ProgressBar,
}

impl Shared {
    /// Whether a task with `nanos` of timed calls so far may begin another operation (and
    /// counts it as begun).
    fn take(&self, nanos: u128) -> bool {
        let go = !self.stop.get()
            && self.taken.get() < self.max_ops
            && self.max_nanos.is_none_or(|d| nanos < d);
        if go {
            self.taken.set(self.taken.get() + 1);
        }
        go
    }

    /// Records an operation of `pages` pages whose timed call took `took`, by a task that has
    /// now spent `nanos` in timed calls.
    fn done(&self, pages: usize, took: u128, nanos: u128) {
        self.histogram
            .borrow_mut()
            .saturating_record(took.try_into().unwrap_or(u64::MAX));
        self.page_requests
            .set(self.page_requests.get() + pages as u64);
        self.longest.set(self.longest.get().max(nanos));
        self.bar.set_position(match self.max_nanos {
            Some(_) => (self.longest.get() / 1_000_000) as u64,
            None => self.taken.get(),
        });
    }
}

/// Runs the batched workload `spec.kind` on `pool` with `tasks` tasks (1 for seqwrite) until
/// `limits` (counting timed time only: each task stops once its own timed calls reach
/// `--duration`), then syncs the pool (timed separately, as for the traces). With `start`,
/// begins when every thread is ready.
pub async fn run_batched(
    pool: Rc<BufferPool>,
    spec: WorkloadSpec,
    limits: Limits,
    tasks: u32,
    start: Option<&StartLine>,
) -> anyhow::Result<ShardRun> {
    anyhow::ensure!(
        spec.kind.is_batched(),
        "{:?} is not a batched workload",
        spec.kind
    );
    let tasks = if spec.kind == WorkloadKind::Seqwrite {
        1
    } else {
        tasks.max(1)
    };
    let bar = match (limits.duration, limits.ops) {
        (Some(d), _) => progress_bar("jdb", d.as_millis().try_into().unwrap_or(u64::MAX)),
        (None, Some(ops)) => progress_bar("jdb", ops),
        (None, None) => progress_bar("jdb", 0),
    };
    let shared = Rc::new(Shared {
        spec,
        max_ops: limits.ops.unwrap_or(u64::MAX),
        max_nanos: limits.duration.map(|d| d.as_nanos()),
        taken: Cell::new(0),
        stop: Cell::new(false),
        claimed: RefCell::new(HashSet::new()),
        histogram: RefCell::new(new_histogram()?),
        page_requests: Cell::new(0),
        timed: RefCell::new(Stats::default()),
        longest: Cell::new(0),
        bar: bar.clone(),
    });
    if let Some(start) = start {
        start.wait()?;
    }
    let before = pool.stats();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let (pool, shared) = (Rc::clone(&pool), Rc::clone(&shared));
            compio::runtime::spawn(async move {
                let result = batch_task(&pool, &shared, task_seed(spec.seed, task)).await;
                if result.is_err() {
                    shared.stop.set(true);
                }
                result
            })
        })
        .collect();
    let mut first_error = None;
    for handle in handles {
        let result = match handle.await {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!("a jdb bench task panicked")),
        };
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        bar.finish_and_clear();
        return Err(e);
    }
    let mut timed = shared.timed.take();
    if spec.kind == WorkloadKind::Prefetch {
        // Choosing pages changes no counter, so the whole run's are the timed calls' (which
        // overlap with several tasks: measured once, not per call).
        add_difference(&mut timed, before, pool.stats());
    }
    let mut run = Counters::from(timed);
    if spec.kind == WorkloadKind::Seqwrite {
        // Its timed part asks for no pages: it only writes.
        (run.hits, run.misses) = (None, None);
    }
    bar.set_message("flush + sync");
    let before = pool.stats();
    let flush_start = Instant::now();
    pool.sync().await?;
    let flush_secs = flush_start.elapsed().as_secs_f64();
    add_difference(&mut timed, before, pool.stats());
    bar.finish_and_clear();
    Ok(ShardRun {
        counts: Counts {
            ops: shared.taken.get(),
            page_requests: shared.page_requests.get(),
            ..Counts::default()
        },
        secs: shared.longest.get() as f64 / 1e9,
        histogram: shared.histogram.replace(new_histogram()?),
        miss_histogram: None,
        during_run: run,
        after_flush: Counters::from(timed),
        flush_secs,
        tasks,
    })
}

/// Task `task`'s seed: task 0 keeps the run's, so one task runs what it always ran.
fn task_seed(seed: u64, task: u32) -> u64 {
    seed ^ u64::from(task).wrapping_mul(0xd1b5_4a32_d192_ed03)
}

/// One task of a batched run: operations until the run is over.
async fn batch_task(pool: &BufferPool, shared: &Shared, seed: u64) -> anyhow::Result<()> {
    let spec = shared.spec;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut nanos = 0u128;
    let mut seqwrite_cursor: PageId = 0;
    while shared.take(nanos) {
        let (ids, took) = match spec.kind {
            WorkloadKind::Prefetch => {
                let ids = random_uncached(pool, spec.batch, &mut rng, &shared.claimed);
                let began = Instant::now();
                let result = pool.prefetch(&ids).await;
                let took = began.elapsed().as_nanos();
                let mut claimed = shared.claimed.borrow_mut();
                for id in &ids {
                    claimed.remove(id);
                }
                result?;
                (ids, took)
            }
            WorkloadKind::Seqwrite => {
                let ids = window(spec.pages, seqwrite_cursor, spec.window);
                seqwrite_cursor = ((u64::from(seqwrite_cursor) + u64::from(spec.window))
                    % u64::from(spec.pages)) as PageId;
                pool.prefetch(&ids).await?;
                for &id in &ids {
                    bump_counter(pool.get(id).await?.data_mut());
                }
                let before = pool.stats();
                let began = Instant::now();
                pool.flush_all().await?;
                let took = began.elapsed().as_nanos();
                add_difference(&mut shared.timed.borrow_mut(), before, pool.stats());
                (ids, took)
            }
            other => anyhow::bail!("{other:?} is not a batched workload"),
        };
        nanos += took;
        shared.done(ids.len(), took, nanos);
    }
    Ok(())
}

/// `n` distinct random pages that are neither in `pool` nor in `claimed` (other tasks'
/// batches), now added to `claimed`. The caller makes sure there are enough: `n` at most
/// `(page_count - cap) / tasks`, so that the pool's pages and the other tasks' batches leave
/// `n` at least.
fn random_uncached(
    pool: &BufferPool,
    n: u32,
    rng: &mut StdRng,
    claimed: &RefCell<HashSet<PageId>>,
) -> Vec<PageId> {
    let pages = pool.page_count();
    let mut claimed = claimed.borrow_mut();
    let mut ids = Vec::with_capacity(n as usize);
    while ids.len() < n as usize {
        let id = rng.random_range(0..pages);
        if !pool.is_cached(id) && claimed.insert(id) {
            ids.push(id);
        }
    }
    ids
}

/// `n` contiguous page ids from `first`, wrapping at `pages`.
fn window(pages: u32, first: PageId, n: u32) -> Vec<PageId> {
    (0..u64::from(n))
        .map(|k| ((u64::from(first) + k) % u64::from(pages)) as PageId)
        .collect()
}

/// Adds `after - before` to `total`, counter by counter.
fn add_difference(total: &mut Stats, before: Stats, after: Stats) {
    let pairs = [
        (&mut total.hits, before.hits, after.hits),
        (&mut total.misses, before.misses, after.misses),
        (
            &mut total.shared_reads,
            before.shared_reads,
            after.shared_reads,
        ),
        (&mut total.pages_read, before.pages_read, after.pages_read),
        (
            &mut total.pages_written,
            before.pages_written,
            after.pages_written,
        ),
        (&mut total.read_ios, before.read_ios, after.read_ios),
        (&mut total.write_ios, before.write_ios, after.write_ios),
        (&mut total.evictions, before.evictions, after.evictions),
        (
            &mut total.dirty_writebacks,
            before.dirty_writebacks,
            after.dirty_writebacks,
        ),
        (
            &mut total.checksum_failures,
            before.checksum_failures,
            after.checksum_failures,
        ),
        (&mut total.io_errors, before.io_errors, after.io_errors),
        (
            &mut total.writeback_waits,
            before.writeback_waits,
            after.writeback_waits,
        ),
        (
            &mut total.bg_pages_written,
            before.bg_pages_written,
            after.bg_pages_written,
        ),
        (&mut total.bg_rounds, before.bg_rounds, after.bg_rounds),
        (&mut total.syncs, before.syncs, after.syncs),
    ];
    for (sum, b, a) in pairs {
        *sum += a.saturating_sub(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_wrap_around_the_file() {
        assert_eq!(window(10, 8, 4), [8, 9, 0, 1]);
        assert_eq!(window(10, 0, 3), [0, 1, 2]);
        assert_eq!(window(3, 1, 3), [1, 2, 0]);
    }
}
