//! `--threads N`: N compio runtimes on N OS threads, the way jdb's pool uses several cores
//! (thread-per-core: the pool is `!Send`). Each thread has its own part of the data, a
//! [`Shard`]: its own file of `pages / N` pages (a file has one writer), its own pool of
//! `cap / N` frames, its own seeded trace and `ops / N` operations, run with `--tasks` tasks.
//!
//! Every thread runs the same systems in the same order (jdb, then the baselines); each timed
//! run starts when every thread has opened its cache ([`StartLine`]), so the threads' timed
//! parts overlap. The threads' numbers are then added up ([`merge`]): operations and counters
//! summed, the run as long as the longest thread's, latency histograms merged.

use std::{
    path::PathBuf,
    rc::Rc,
    sync::{Arc, Condvar, Mutex, PoisonError},
};

use jdb_page::{PolicyKind, PoolOptions};

use super::{
    batched::run_batched,
    lru_cache::LruBaseline,
    os_cache::OsCache,
    report::{Counters, Latency, RunResult},
    run::{Counts, JdbCache, JdbSetup, Limits, ShardRun, TaskRun, run_tasks},
    workload::{Ops, Trace, WorkloadSpec},
};

/// One thread's part of the data and of the work.
#[derive(Debug, Clone)]
pub struct Shard {
    /// Its data file.
    pub path: PathBuf,
    /// Pages in the file.
    pub pages: u32,
    /// Frames of its pool (and of its `lru` baseline).
    pub cap: usize,
    /// Its workload: its pages, its seed.
    pub spec: WorkloadSpec,
    /// Its share of `--ops` (the same `--duration`).
    pub limits: Limits,
}

/// `total` split into `parts` nearly equal parts: part `index`'s share (the first ones get one
/// more when it does not divide).
pub fn share(total: u64, parts: u32, index: u32) -> u64 {
    total / u64::from(parts) + u64::from(u64::from(index) < total % u64::from(parts))
}

/// A system of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// jdb's buffer pool.
    Jdb,
    /// The `lru` crate baseline.
    Lru,
    /// The OS page cache baseline.
    Os,
}

/// What every thread runs on its shard.
#[derive(Debug, Clone)]
pub struct Work {
    /// The systems, in order.
    pub systems: Vec<System>,
    /// Tasks per thread.
    pub tasks: u32,
    /// jdb's eviction policy.
    pub policy: PolicyKind,
    /// Whether each system first reads the pages its cache can hold (`--warm`).
    pub warm: bool,
    /// Doublewrite area, background writer.
    pub setup: JdbSetup,
}

/// Each system's runs, one per thread (in thread order), and whether jdb's files got O_DIRECT.
pub struct Outcome {
    /// `runs[s][t]`: system `s` on thread `t`.
    pub runs: Vec<Vec<ShardRun>>,
    /// Whether every jdb pool's file was opened with O_DIRECT.
    pub direct_io: bool,
}

/// Runs `work` on every shard: on the current runtime for one shard, else one thread each.
pub async fn run_all(shards: &[Shard], work: &Work) -> anyhow::Result<Outcome> {
    if let [shard] = shards {
        let (runs, direct_io) = run_shard(shard, work, None).await?;
        return Ok(Outcome {
            runs: runs.into_iter().map(|run| vec![run]).collect(),
            direct_io,
        });
    }
    let start = Arc::new(StartLine::new(shards.len()));
    let mut threads = Vec::with_capacity(shards.len());
    for (index, shard) in shards.iter().enumerate() {
        let (shard, work, line) = (shard.clone(), work.clone(), Arc::clone(&start));
        let thread = std::thread::Builder::new()
            .name(format!("jdb-bench-{index}"))
            .spawn(move || {
                super::show_progress(index == 0);
                let result = compio::runtime::Runtime::new()
                    .map_err(anyhow::Error::from)
                    .and_then(|rt| rt.block_on(run_shard(&shard, &work, Some(&line))));
                if result.is_err() {
                    line.abort();
                }
                result
            });
        match thread {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                start.abort();
                for thread in threads {
                    let _ = thread.join();
                }
                return Err(anyhow::Error::new(e).context("starting a bench thread"));
            }
        }
    }
    let mut per_thread = Vec::with_capacity(threads.len());
    let mut first_error: Option<anyhow::Error> = None;
    for thread in threads {
        match thread.join() {
            Ok(Ok(outcome)) => per_thread.push(outcome),
            Ok(Err(e)) => {
                // The error of the thread that failed, not the others' "another thread failed".
                if first_error.as_ref().is_none_or(|f| f.is::<Aborted>()) {
                    first_error = Some(e);
                }
            }
            Err(_) => {
                first_error.get_or_insert_with(|| anyhow::anyhow!("a bench thread panicked"));
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let direct_io = per_thread.iter().all(|(_, direct)| *direct);
    let mut runs: Vec<Vec<ShardRun>> = work.systems.iter().map(|_| Vec::new()).collect();
    for (thread_runs, _) in per_thread {
        for (system, run) in thread_runs.into_iter().enumerate() {
            runs[system].push(run);
        }
    }
    Ok(Outcome { runs, direct_io })
}

/// Runs every system of `work` on `shard`, one after the other.
async fn run_shard(
    shard: &Shard,
    work: &Work,
    start: Option<&StartLine>,
) -> anyhow::Result<(Vec<ShardRun>, bool)> {
    let mut runs = Vec::with_capacity(work.systems.len());
    let mut direct_io = true;
    let ops = || Ok::<_, anyhow::Error>(Ops::Generated(Box::new(Trace::new(shard.spec)?)));
    let warm = if work.warm {
        u32::try_from(shard.cap)
            .unwrap_or(u32::MAX)
            .min(shard.pages)
    } else {
        0
    };
    let how = |system| TaskRun {
        system,
        limits: shard.limits,
        tasks: work.tasks,
        warm,
        start,
    };
    for &system in &work.systems {
        let run = match system {
            System::Jdb => {
                let options = PoolOptions::new(shard.cap).policy(work.policy);
                let (jdb, direct) = JdbCache::open(&shard.path, options, work.setup).await?;
                direct_io &= direct;
                let jdb = Rc::new(jdb);
                let run = if shard.spec.kind.is_batched() {
                    run_batched(jdb.pool(), shard.spec, shard.limits, work.tasks, start).await?
                } else {
                    run_tasks(Rc::clone(&jdb), ops()?, how("jdb")).await?
                };
                jdb.close().await?;
                run
            }
            System::Lru => {
                let lru = Rc::new(LruBaseline::open(&shard.path, shard.cap).await?);
                run_tasks(lru, ops()?, how("lru")).await?
            }
            System::Os => {
                let os = Rc::new(OsCache::open(&shard.path).await?);
                run_tasks(os, ops()?, how("os")).await?
            }
        };
        runs.push(run);
    }
    Ok((runs, direct_io))
}

/// The threads' runs of one system as one result: operations and counters added up, the run as
/// long as the longest thread's, latency histograms merged; its tasks are those of a thread (the
/// most, should they differ), its threads the runs'.
pub fn merge(
    system: &'static str,
    policy: Option<&'static str>,
    description: String,
    runs: Vec<ShardRun>,
) -> anyhow::Result<RunResult> {
    let mut counts = Counts::default();
    let threads = u32::try_from(runs.len()).unwrap_or(u32::MAX);
    let tasks = runs.iter().map(|r| r.tasks).max().unwrap_or(0);
    let (mut secs, mut flush_secs) = (0f64, 0f64);
    let mut histogram = super::run::new_histogram()?;
    let mut miss_histogram = Some(super::run::new_histogram()?);
    let (mut during_run, mut after_flush) = (Vec::new(), Vec::new());
    for run in runs {
        counts.add(&run.counts);
        secs = secs.max(run.secs);
        flush_secs = flush_secs.max(run.flush_secs);
        histogram
            .add(&run.histogram)
            .map_err(|e| anyhow::anyhow!("merging latency histograms: {e:?}"))?;
        miss_histogram = match (miss_histogram, &run.miss_histogram) {
            (Some(mut total), Some(part)) => {
                total
                    .add(part)
                    .map_err(|e| anyhow::anyhow!("merging latency histograms: {e:?}"))?;
                Some(total)
            }
            _ => None,
        };
        during_run.push(run.during_run);
        after_flush.push(run.after_flush);
    }
    let mut result = RunResult::new(
        system,
        policy,
        description,
        counts.array(),
        secs,
        Counters::sum(&during_run),
        Counters::sum(&after_flush),
        flush_secs,
        Latency::from_nanos(&histogram),
        miss_histogram
            .as_ref()
            .map(|h| (h.len(), Latency::from_nanos(h))),
    );
    if system == "os" {
        // The kernel writes the dirty pages during fdatasync; /proc/self/io does not see that.
        result.flush.pages = None;
    }
    result.percentiles = super::report::percentile_curve(&histogram);
    (result.tasks, result.threads) = (tasks, threads);
    Ok(result)
}

/// A barrier the threads meet at before each timed run; broken for good when a thread fails, so
/// that the others stop instead of waiting for it forever.
pub struct StartLine {
    parties: usize,
    state: Mutex<StartState>,
    ready: Condvar,
}

struct StartState {
    arrived: usize,
    round: u64,
    broken: bool,
}

/// Why [`StartLine::wait`] failed: another thread failed first (its error is the one to report).
#[derive(Debug)]
pub struct Aborted;

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("another bench thread failed")
    }
}

impl std::error::Error for Aborted {}

impl StartLine {
    /// A start line for `parties` threads.
    pub fn new(parties: usize) -> Self {
        Self {
            parties,
            state: Mutex::new(StartState {
                arrived: 0,
                round: 0,
                broken: false,
            }),
            ready: Condvar::new(),
        }
    }

    /// Blocks until every thread has arrived (then all go at once), or fails with [`Aborted`].
    pub fn wait(&self) -> anyhow::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.broken {
            return Err(Aborted.into());
        }
        state.arrived += 1;
        if state.arrived == self.parties {
            state.arrived = 0;
            state.round += 1;
            self.ready.notify_all();
            return Ok(());
        }
        let round = state.round;
        while state.round == round && !state.broken {
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.round == round {
            return Err(Aborted.into());
        }
        Ok(())
    }

    /// Breaks the line: every thread waiting now or later fails with [`Aborted`].
    pub fn abort(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .broken = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for (total, parts) in [(10, 3), (65536, 2), (7, 7), (3, 4), (0, 2)] {
            let shares: Vec<u64> = (0..parts).map(|i| share(total, parts, i)).collect();
            assert_eq!(shares.iter().sum::<u64>(), total);
            assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn a_start_line_releases_everyone_or_nobody() {
        let line = Arc::new(StartLine::new(3));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let line = Arc::clone(&line);
                std::thread::spawn(move || (line.wait().is_ok(), line.wait().is_ok()))
            })
            .collect();
        for w in waiters {
            assert_eq!(w.join().unwrap(), (true, true), "two rounds");
        }
        let line = Arc::new(StartLine::new(2));
        let waiter = std::thread::spawn({
            let line = Arc::clone(&line);
            move || line.wait()
        });
        std::thread::sleep(std::time::Duration::from_millis(10));
        line.abort();
        assert!(waiter.join().unwrap().unwrap_err().is::<Aborted>());
        assert!(line.wait().is_err(), "broken for good");
    }
}
